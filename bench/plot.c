/* SPDX-License-Identifier: Apache-2.0 */
/*
 * --plot DIR: PNG charts drawn by gnuplot (Debian: gnuplot-nox). The data
 * files and the script are left beside the PNGs so a chart can be redrawn or
 * restyled by hand. gnuplot is optional: without it we say so and go on.
 */
#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report.h"

extern char **environ;

static int find_in_path(const char *prog, char *out, size_t len)
{
    const char *path = getenv("PATH");
    if (path == NULL)
        path = "/usr/bin:/bin";
    while (*path) {
        size_t n = strcspn(path, ":");
        snprintf(out, len, "%.*s/%s", (int)n, path, prog);
        if (n > 0 && access(out, X_OK) == 0)
            return 0;
        path += n;
        if (*path == ':')
            path++;
    }
    return -1;
}

static FILE *open_in(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        fprintf(stderr, "tt-shm-bench: %s: %s\n", path, strerror(errno));
    return f;
}

int plot_write(const char *dir, const struct bench_results *res)
{
    if (strchr(dir, '\'') != NULL) {
        fprintf(stderr, "tt-shm-bench: --plot: the directory name may not contain a quote\n");
        return -1;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "tt-shm-bench: --plot: mkdir %s: %s\n", dir, strerror(errno));
        return -1;
    }
    FILE *f;
    if ((f = open_in(dir, "designs.dat")) == NULL)
        return -1;
    fprintf(f, "# design(+rN: N%% address reuse) median_ns_per_event p99_ns_per_event "
               "median_process_cpu_ns_per_event\n");
    for (unsigned i = 0; i < res->ndesigns; i++) {
        const struct design_result *r = &res->designs[i];
        if (!r->ran)
            continue;
        char name[48];
        if (r->reuse_pct)
            snprintf(name, sizeof name, "%s+r%u", r->name, r->reuse_pct);
        else
            snprintf(name, sizeof name, "%s", r->name);
        fprintf(f, "%s %.4f %.4f %.4f\n", name, r->ns_event.median, r->ns_event.p99,
                r->cpu_ns_event.median);
    }
    fclose(f);

    if ((f = open_in(dir, "scaling.dat")) == NULL)
        return -1;
    fprintf(f, "# threads mevents_per_s_distinct_devices mevents_per_s_one_device\n");
    for (unsigned i = 0; i < res->nscaling; i++) {
        if (res->scaling[i].one_device)
            continue;
        double one = NAN;
        for (unsigned k = 0; k < res->nscaling; k++)
            if (res->scaling[k].one_device && res->scaling[k].threads == res->scaling[i].threads)
                one = res->scaling[k].mev_s;
        fprintf(f, "%u %.4f %.4f\n", res->scaling[i].threads, res->scaling[i].mev_s, one);
    }
    fclose(f);

    if ((f = open_in(dir, "growth.dat")) == NULL)
        return -1;
    fprintf(f, "# live_entries max_ns_in_bin median_ns_in_bin table_slots "
               "max_ns_in_bin_unpreempted (? when preempted in every repetition)\n");
    for (unsigned b = 0; b < res->growth.bins; b++) {
        char clean[32] = "?";
        if (res->growth.bin_max_clean_ns[b] > 0)
            snprintf(clean, sizeof clean, "%.1f", res->growth.bin_max_clean_ns[b]);
        fprintf(f, "%llu %.1f %.1f %llu %s\n", (unsigned long long)res->growth.bin_live[b],
                res->growth.bin_max_ns[b], res->growth.bin_p50_ns[b],
                (unsigned long long)res->growth.bin_table_slots[b], clean);
    }
    fclose(f);

    if ((f = open_in(dir, "plots.gp")) == NULL)
        return -1;
    const char *m = res->machine.cpu_model;
    fprintf(f, "# Drawn by tt-shm-bench; run: gnuplot plots.gp (from this directory)\n");
    /* noenhanced: "cds_lfht" is a name, not c-d-s with a subscript. */
    fprintf(f, "set terminal png size 900,560 font ',10' noenhanced\n");
    fprintf(f, "set grid\nset key top left\n");
    if (res->ndesigns) {
        fprintf(f, "set output 'designs.png'\n");
        fprintf(f, "set title 'ns per event, same stream, one thread (%s, %u CPUs)'\n", m,
                res->machine.cores_allowed);
        fprintf(f, "set logscale y\nset ylabel 'ns per event (log)'\nset style fill solid 0.6\n");
        fprintf(f, "set xtics rotate by 30 right\nset key top left\n");
        fprintf(f, "plot 'designs.dat' using ($0-0.2):2:(0.4):xtic(1) with boxes lc rgb '#4477aa' "
                   "title 'wall, timed thread', "
                   "'' using ($0+0.2):4:(0.4) with boxes lc rgb '#cc6677' title 'process CPU', "
                   "'' using ($0+0.2):4:(sprintf('%%.0f', $4)) with labels offset 0,1 notitle\n");
        fprintf(f, "unset logscale y\nset key top left\n");
    }
    if (res->scaling_ran) {
        fprintf(f, "set output 'scaling.png'\n");
        fprintf(f, "set title 'ttshm writer threads (%s, %u CPUs)'\n", m,
                res->machine.cores_allowed);
        fprintf(f, "set logscale x 2\nset xlabel 'writer threads'\n");
        fprintf(f, "set ylabel 'Mevents/s, all threads'\nset yrange [0:*]\n");
        fprintf(f, "plot 'scaling.dat' using 1:2 with linespoints lw 2 title 'one device per "
                   "thread', '' using 1:3 with linespoints lw 2 title 'all threads on device 0'\n");
        fprintf(f, "unset logscale x\nset autoscale y\nunset xlabel\n");
    }
    if (res->growth_ran) {
        fprintf(f, "set output 'growth.png'\n");
        fprintf(f, "set title 'ttshm alloc latency while the table grows %llu -> %llu (%s)'\n",
                (unsigned long long)res->growth.from, (unsigned long long)res->growth.to, m);
        fprintf(f, "set logscale x\nset logscale y\nset xlabel 'live entries'\n");
        fprintf(f, "set ylabel 'ns per alloc (log)'\nset y2label 'table slots (log)'\n");
        fprintf(f, "set logscale y2\nset y2tics\n");
        fprintf(f, "set datafile missing '?'\n");
        fprintf(f, "plot 'growth.dat' using 1:2 with lines lw 1 lc rgb '#bbbbdd' title 'worst op "
                   "in bin', '' using 1:5 with lines lw 2 lc rgb '#6633aa' title 'worst op in bin, "
                   "not preempted', '' using 1:3 with lines lw 2 title 'median op in bin', "
                   "1e6 with lines dt 2 lc rgb 'red' title '1 ms target', "
                   "'' using 1:4 axes x1y2 with steps lc rgb 'gray' title 'table slots'\n");
    }
    fclose(f);

    char gp[1024];
    if (find_in_path("gnuplot", gp, sizeof gp) != 0) {
        fprintf(stderr,
                "tt-shm-bench: gnuplot not found (Debian: apt-get install gnuplot-nox); "
                "data and script written to %s, no PNGs drawn\n",
                dir);
        return 1;
    }
    /* gnuplot changes to DIR first, so the script's relative names work (and
     * the script also runs by hand from DIR). posix_spawn, not fork: the
     * process has threads (liburcu's), and a sanitizer runtime objects to a
     * forked child of a threaded process doing much before exec. */
    char cd[1100];
    snprintf(cd, sizeof cd, "cd '%s'", dir);
    char *argv[] = {gp, "-e", cd, "plots.gp", NULL}; /* after the cd: relative to DIR */
    fflush(NULL);
    pid_t pid;
    if (posix_spawn(&pid, gp, NULL, NULL, argv, environ) != 0) {
        fprintf(stderr, "tt-shm-bench: cannot start gnuplot: %s\n", strerror(errno));
        return -1;
    }
    int status;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "tt-shm-bench: gnuplot failed; script left in %s/plots.gp\n", dir);
        return -1;
    }
    fprintf(stderr, "plots: PNGs written to %s\n", dir);
    return 0;
}
