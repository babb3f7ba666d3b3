/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Writer throughput with reader processes scanning the live table nonstop.
 *
 * The writer (this process, one thread, pinned to CPU 0) replays the
 * comparison stream; each reader is a forked process that opens the segment
 * read-only and loops: even-numbered readers take ttshm_reader_snapshot(),
 * odd-numbered ones walk it with ttshm_reader_foreach(). Readers are pinned
 * to the other CPUs (round robin), never the writer's. Repetitions alternate
 * 0 and N readers so drift in the machine's load hits both alike.
 *
 * Two figures per configuration: events per second of wall time, and events
 * per second of the writer thread's own CPU time. The CPU-time figure leaves
 * out time the writer lost to other processes (a shared machine); both
 * include what the readers cost the writer through the memory system (slot
 * cache lines the readers pull away). With fewer CPUs than readers, the
 * readers share theirs and scan less often than they would with a CPU each.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "design.h"
#include "segments.h"
#include "ttshm/reader.h"
#include "ttshm/writer.h"

#define MAX_READERS 32

struct shared_ctl {
    _Atomic int stop;
    _Atomic int ready;
    _Atomic uint64_t scans[MAX_READERS];
    _Atomic uint64_t errors[MAX_READERS];
    _Atomic uint64_t busy[MAX_READERS];
    _Atomic uint64_t entries[MAX_READERS];
};

static int count_entry(const struct ttshm_entry *e, void *ctx)
{
    (void)e;
    (*(uint64_t *)ctx)++;
    return 0;
}

static void reader_main(struct shared_ctl *ctl, unsigned id, const char *segment)
{
    ttshm_reader *r = NULL;
    if (ttshm_reader_open(segment, &r) != 0) {
        atomic_fetch_add(&ctl->errors[id], 1);
        atomic_fetch_add(&ctl->ready, 1);
        _exit(1);
    }
    atomic_fetch_add(&ctl->ready, 1);
    while (!atomic_load_explicit(&ctl->stop, memory_order_relaxed)) {
        uint64_t n = 0;
        int rc;
        if (id % 2 == 0) {
            struct ttshm_entry *v = NULL;
            size_t count = 0;
            rc = ttshm_reader_snapshot(r, &v, &count);
            n = count;
            free(v);
        } else {
            rc = ttshm_reader_foreach(r, count_entry, &n);
        }
        /* BUSY ("kept changing, try again") is the reader's documented answer
         * to a table that moved under it: counted, not an error. */
        if (rc == -TTSHM_E_BUSY)
            atomic_fetch_add_explicit(&ctl->busy[id], 1, memory_order_relaxed);
        else if (rc != 0)
            atomic_fetch_add_explicit(&ctl->errors[id], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&ctl->scans[id], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&ctl->entries[id], n, memory_order_relaxed);
    }
    ttshm_reader_close(r);
    _exit(0);
}

static int all_scanned(struct shared_ctl *ctl, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (atomic_load_explicit(&ctl->scans[i], memory_order_relaxed) == 0)
            return 0;
    return 1;
}

struct one_run {
    double mev_wall, mev_cpu;
    uint64_t events, scans, errors, busy, entries, bad;
};

static int run_with_readers(const struct bench_config *cfg, ttshm_writer *w,
                            const struct event_stream *st, unsigned nreaders, struct one_run *out)
{
    memset(out, 0, sizeof *out);
    struct shared_ctl *ctl =
        mmap(NULL, sizeof *ctl, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (ctl == MAP_FAILED)
        return -1;
    memset(ctl, 0, sizeof *ctl);
    pid_t pids[MAX_READERS];
    unsigned forked = 0;
    /* The table is at steady state before the readers start reading it. */
    out->bad += bench_ttshm_apply(w, st->prefill, st->n_prefill);
    fflush(NULL);
    for (; forked < nreaders; forked++) {
        pid_t pid = fork();
        if (pid < 0)
            break;
        if (pid == 0) {
            /* Readers go on the CPUs other than the writer's, so the writer
             * is never time-sliced with them: what remains is what sharing
             * the table costs it (cache lines going back and forth). */
            unsigned ncpu = bench_cpus_allowed();
            if (cfg->pin && ncpu > 1)
                bench_pin_thread(1 + forked % (ncpu - 1));
            else
                bench_unpin_thread();
            reader_main(ctl, forked, ttshm_writer_segment_name(w));
        }
        pids[forked] = pid;
    }
    while ((unsigned)atomic_load(&ctl->ready) < forked)
        usleep(1000);
    uint64_t wall = 0, cpu = 0, events = 0, started = bench_now_ns();
    uint64_t budget = (uint64_t)(cfg->reader_seconds * 1e9);
    for (int pass = 0;; pass++) {
        uint64_t t0 = bench_now_ns(), c0 = bench_thread_cpu_ns();
        out->bad += bench_ttshm_apply(w, st->timed, st->n_timed);
        uint64_t t1 = bench_now_ns(), c1 = bench_thread_cpu_ns();
        if (pass > 0) { /* the first pass warms the caches after the fork */
            wall += t1 - t0;
            cpu += c1 - c0;
            events += st->n_timed;
        }
        /* Back to empty; refilled below if another pass follows (untimed). */
        out->bad += bench_ttshm_apply(w, st->drain, st->n_drain);
        /* Stop once the time is spent and every reader has finished a scan
         * (a reader the scheduler starved would make "N readers" a lie),
         * giving up on the readers after 30 s. */
        if (pass >= 1 && wall >= budget &&
            (all_scanned(ctl, forked) || bench_now_ns() - started > 30000000000ull))
            break;
        out->bad += bench_ttshm_apply(w, st->prefill, st->n_prefill);
    }
    atomic_store(&ctl->stop, 1);
    for (unsigned i = 0; i < forked; i++) {
        int status;
        waitpid(pids[i], &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            out->errors++;
        out->scans += ctl->scans[i];
        out->errors += ctl->errors[i];
        out->busy += ctl->busy[i];
        out->entries += ctl->entries[i];
    }
    munmap(ctl, sizeof *ctl);
    out->events = events;
    out->mev_wall = wall ? (double)events * 1e3 / (double)wall : 0;
    out->mev_cpu = cpu ? (double)events * 1e3 / (double)cpu : 0;
    return forked == nreaders ? 0 : -1;
}

int run_interference(const struct bench_config *cfg, struct bench_results *res)
{
    struct event_stream st;
    if (bench_main_stream(cfg, 0, &st) != 0)
        return -1;
    char reg[TTSHM_NAME_MAX + 1];
    bench_registry(reg, sizeof reg, cfg->registry, "intf");
    ttshm_writer *w = bench_ttshm_open(reg, 0);
    if (w == NULL) {
        stream_free(&st);
        return -1;
    }
    unsigned nread = cfg->readers > MAX_READERS ? MAX_READERS : cfg->readers;
    unsigned counts[2] = {0, nread};
    double wall[2][BENCH_MAX_REPS], cpu[2][BENCH_MAX_REPS];
    int failed = 0;
    /* Warm-up churn (untimed), so the table is in its steady state. */
    uint64_t warmed = 0;
    do {
        uint64_t bad = bench_ttshm_apply(w, st.prefill, st.n_prefill);
        bad += bench_ttshm_apply(w, st.timed, st.n_timed);
        bad += bench_ttshm_apply(w, st.drain, st.n_drain);
        warmed += st.n_timed;
        if (bad)
            failed = 1;
    } while (warmed < cfg->warmup_events && st.n_timed > 0);
    memset(res->interference, 0, sizeof res->interference);
    for (unsigned rep = 0; rep < cfg->reader_reps; rep++) {
        for (int k = 0; k < 2; k++) {
            struct one_run o;
            if (run_with_readers(cfg, w, &st, counts[k], &o) != 0)
                failed = 1;
            struct interference_point *pt = &res->interference[k];
            pt->readers = counts[k];
            pt->reps = cfg->reader_reps;
            pt->events += o.events;
            pt->reader_scans += o.scans;
            pt->reader_errors += o.errors;
            pt->reader_busy += o.busy;
            pt->reader_entries += o.entries;
            wall[k][rep] = o.mev_wall;
            cpu[k][rep] = o.mev_cpu;
            if (o.bad) {
                fprintf(stderr, "tt-shm-bench: readers: %llu writer events not recorded\n",
                        (unsigned long long)o.bad);
                failed = 1;
            }
        }
    }
    for (int k = 0; k < 2; k++) {
        struct summary s;
        bench_summarize(wall[k], cfg->reader_reps, &s);
        res->interference[k].mev_s_wall = s.median;
        bench_summarize(cpu[k], cfg->reader_reps, &s);
        res->interference[k].mev_s_cpu = s.median;
    }
    for (int k = 0; k < 2; k++) {
        struct interference_point *pt = &res->interference[k];
        pt->ratio_wall = res->interference[0].mev_s_wall > 0
                             ? pt->mev_s_wall / res->interference[0].mev_s_wall
                             : 0;
        pt->ratio_cpu =
            res->interference[0].mev_s_cpu > 0 ? pt->mev_s_cpu / res->interference[0].mev_s_cpu : 0;
        fprintf(stderr,
                "  readers: %u -> %.2f Mevents/s wall (x%.2f), %.2f per CPU-second (x%.2f), "
                "%llu scans\n",
                pt->readers, pt->mev_s_wall, pt->ratio_wall, pt->mev_s_cpu, pt->ratio_cpu,
                (unsigned long long)pt->reader_scans);
        if (pt->reader_errors) {
            fprintf(stderr, "tt-shm-bench: readers: %llu reader errors\n",
                    (unsigned long long)pt->reader_errors);
            failed = 1;
        }
    }
    ttshm_writer_close(w);
    bench_unlink_registry(reg);
    stream_free(&st);
    res->interference_ran = 1;
    return failed ? -1 : 0;
}
