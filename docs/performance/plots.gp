# Drawn by tt-shm-bench; run: gnuplot plots.gp (from this directory)
set terminal png size 900,560 font ',10' noenhanced
set grid
set key top left
set output 'designs.png'
set title 'ns per event, same stream, one thread (AMD EPYC, 2 CPUs)'
set logscale y
set ylabel 'ns per event (log)'
set style fill solid 0.6
set xtics rotate by 30 right
set key top left
plot 'designs.dat' using ($0-0.2):2:(0.4):xtic(1) with boxes lc rgb '#4477aa' title 'wall, timed thread', '' using ($0+0.2):4:(0.4) with boxes lc rgb '#cc6677' title 'process CPU', '' using ($0+0.2):4:(sprintf('%.0f', $4)) with labels offset 0,1 notitle
unset logscale y
set key top left
set output 'scaling.png'
set title 'ttshm writer threads (AMD EPYC, 2 CPUs)'
set logscale x 2
set xlabel 'writer threads'
set ylabel 'Mevents/s, all threads'
set yrange [0:*]
plot 'scaling.dat' using 1:2 with linespoints lw 2 title 'one device per thread', '' using 1:3 with linespoints lw 2 title 'all threads on device 0'
unset logscale x
set autoscale y
unset xlabel
set output 'growth.png'
set title 'ttshm alloc latency while the table grows 1000 -> 1000000 (AMD EPYC)'
set logscale x
set logscale y
set xlabel 'live entries'
set ylabel 'ns per alloc (log)'
set y2label 'table slots (log)'
set logscale y2
set y2tics
set datafile missing '?'
plot 'growth.dat' using 1:2 with lines lw 1 lc rgb '#bbbbdd' title 'worst op in bin', '' using 1:5 with lines lw 2 lc rgb '#6633aa' title 'worst op in bin, not preempted', '' using 1:3 with lines lw 2 title 'median op in bin', 1e6 with lines dt 2 lc rgb 'red' title '1 ms target', '' using 1:4 axes x1y2 with steps lc rgb 'gray' title 'table slots'
