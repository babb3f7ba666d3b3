/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tt-shm-sim: a simulated runtime. It uses the process-wide default writer,
 * exactly as a runtime linking libttshm would (TT_SHM_TRACKING and
 * TT_SHM_NAME apply; --name just sets TT_SHM_NAME before the first use), so
 * the clean-exit path is the library's own exit hook.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sim.h"

static void on_signal(int sig)
{
    (void)sig;
    sim_stop = 1;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: the hold's sleep must end at once. */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

void sim_hold(double seconds)
{
    struct timespec end, now;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += (time_t)seconds;
    end.tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
    if (end.tv_nsec >= 1000000000L) {
        end.tv_sec++;
        end.tv_nsec -= 1000000000L;
    }
    while (!sim_stop) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
            break;
        struct timespec nap = {0, 50 * 1000 * 1000};
        nanosleep(&nap, NULL);
    }
}

static void live_totals(const struct sim *s, uint64_t *count, uint64_t *bytes, uint64_t *allocs)
{
    *count = *bytes = *allocs = 0;
    for (unsigned d = 0; d < s->opt.devices; d++) {
        struct sim_counts c[TTSHM_MEM_TYPE_COUNT];
        sim_totals(s, d, c, NULL);
        for (int t = 0; t < TTSHM_MEM_TYPE_COUNT; t++) {
            *count += c[t].allocs - c[t].frees;
            *bytes += c[t].alloc_bytes - c[t].freed_bytes;
            *allocs += c[t].allocs;
        }
    }
}

int main(int argc, char **argv)
{
    struct sim s;
    memset(&s, 0, sizeof s);
    sim_parse_options(argc, argv, &s.opt);
    const struct sim_options *o = &s.opt;

    if (o->name != NULL)
        setenv("TT_SHM_NAME", o->name, 1);
    const char *tracking = getenv("TT_SHM_TRACKING");
    bool tracking_off = tracking != NULL && strcmp(tracking, "0") == 0;
    s.w = ttshm_default_writer();
    if (s.w == NULL && !tracking_off) {
        /* The library has said why on stderr; a sim that records nothing
         * would only mislead whoever is looking for it. */
        fputs("tt-shm-sim: tracking could not start; nothing to simulate\n", stderr);
        return 1;
    }
    install_signals();
    if (o->profile == SIM_TT_METAL)
        return sim_ttmetal_main(o, s.w);
    if (sim_setup(&s) != 0) {
        fputs("tt-shm-sim: out of memory\n", stderr);
        return 1;
    }
    if (o->capacity)
        sim_publish_capacity(&s);

    sim_run(&s);
    sim_report(&s, "steady", stdout);

    uint64_t live, bytes, allocs;
    live_totals(&s, &live, &bytes, &allocs);
    if (!o->quiet) {
        fprintf(stderr,
                "tt-shm-sim: %s generation %" PRIu64 " pid %ld: %" PRIu64
                " allocations (%s profile, CBs and kernels included) on %u device%s by %u "
                "thread%s in %.3f s; %" PRIu64 " buffers live (%.1f MiB)\n",
                s.w ? ttshm_writer_segment_name(s.w) : "(tracking off)",
                s.w ? ttshm_writer_generation(s.w) : 0, (long)getpid(), allocs,
                o->profile == SIM_LLAMA ? "llama" : "uniform", o->devices,
                o->devices == 1 ? "" : "s", o->threads, o->threads == 1 ? "" : "s", s.elapsed_s,
                live, (double)bytes / 1048576.0);
        if (o->hold_s > 0 && !sim_stop)
            fprintf(stderr, "tt-shm-sim: holding for %g s (SIGINT/SIGTERM ends it)\n", o->hold_s);
    }
    if (o->hold_s > 0)
        sim_hold(o->hold_s);

    if (o->crash != SIM_CRASH_NONE) {
        sim_report(&s, "crash", stdout);
        if (!o->quiet)
            fprintf(stderr, "tt-shm-sim: crashing (%s) with %" PRIu64 " buffers live\n",
                    o->crash == SIM_CRASH_KILL ? "SIGKILL" : "abort", live);
        fflush(stderr);
        if (o->crash == SIM_CRASH_ABORT)
            abort();
        kill(getpid(), SIGKILL);
        for (;;)
            pause();
    }

    sim_teardown(&s);
    sim_report(&s, "final", stdout);
    if (!o->quiet)
        fprintf(stderr, "tt-shm-sim: exiting cleanly with %" PRIu64 " buffer%s still live\n",
                s.nleaked, s.nleaked == 1 ? "" : "s");
    sim_free(&s);
    /* The default writer marks the segment "exited" from its exit hook. */
    return 0;
}
