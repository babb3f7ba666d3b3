/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tt-shm-stat: what the ttshm writers of this machine have allocated, read
 * from shared memory through libttshm-reader (read-only, no lock, no server).
 *
 * One refresh = collect (collect.c) + render in the chosen format (out_*.c)
 * into memory, then one write: to stdout, or atomically to --textfile. A
 * frame rendered whole before it is written never flickers in watch mode.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "stat.h"

static volatile sig_atomic_t interrupted;
static bool write_failed; /* stdout is gone: stop looping */

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void render(FILE *out, const struct stat_options *o, struct stat_model *m)
{
    switch (o->format) {
    case FMT_TEXT:
        stat_output_text(out, o, m);
        break;
    case FMT_JSON:
        stat_output_json(out, o, m);
        break;
    case FMT_CSV:
        stat_output_csv(out, o, m);
        break;
    case FMT_PROM:
        stat_output_prometheus(out, o, m);
        break;
    }
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR && !interrupted)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The previous frame's totals, for the rates of watch mode. */
static struct {
    bool have;
    uint64_t mono_ns;
    struct ttshm_counters totals[TTSHM_MAX_DEVICES][TTSHM_MEM_TYPE_COUNT];
} last;

/* One refresh rendered to out; returns the collection's exit code.
 * clear: a terminal screen redrawn (watch mode on a tty). */
static int render_frame(const struct stat_options *o, bool clear, FILE *out)
{
    struct stat_model m;
    int rc = stat_collect(o, &m);
    if (o->watch && last.have && m.now_mono_ns > last.mono_ns) {
        m.prev_totals = (const struct ttshm_counters(*)[TTSHM_MEM_TYPE_COUNT])last.totals;
        m.prev_dt_s = (double)(m.now_mono_ns - last.mono_ns) / 1e9;
    }
    if (clear) {
        char t[32];
        fprintf(out, "\033[H\033[2J%stt-shm-stat: every %gs, %s (Ctrl-C to quit)%s\n\n",
                color(o, C_DIM), o->interval_s, fmt_time(t, m.now_real_ns), color(o, C_RESET));
    }
    render(out, o, &m);
    if (o->watch) {
        memcpy(last.totals, m.totals, sizeof last.totals);
        last.mono_ns = m.now_mono_ns;
        last.have = true;
    }
    if (m.nseg == 0 && !m.bad && o->format != FMT_TEXT)
        fprintf(stderr, "tt-shm-stat: no ttshm segments found%s%s%s\n",
                o->name ? " in registry " : "", o->name ? o->name : "",
                m.unreadable ? " readable by this user" : "");
    stat_model_free(&m);
    return rc;
}

int stat_render(const struct stat_options *o, char **buf, size_t *len)
{
    FILE *out = open_memstream(buf, len);
    if (out == NULL)
        return -1;
    render_frame(o, false, out);
    if (fclose(out) != 0) {
        free(*buf);
        *buf = NULL;
        return -1;
    }
    return 0;
}

static int stdout_failed(void)
{
    fprintf(stderr, "tt-shm-stat: cannot write to standard output: %s\n", strerror(errno));
    write_failed = true;
    return STAT_EXIT_NOTHING;
}

/* One refresh written out. A redrawn screen or a --textfile is rendered whole
 * first (no flicker; no partial file); anything else streams to stdout, so
 * a million buffers are never held as text. */
static int frame(struct stat_options *o, bool clear)
{
    int rc;
    if (clear || o->textfile != NULL) {
        char *buf = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&buf, &len);
        if (out == NULL) {
            fputs("tt-shm-stat: out of memory\n", stderr);
            return STAT_EXIT_NOTHING;
        }
        rc = render_frame(o, clear, out);
        if (fclose(out) != 0) {
            free(buf);
            fputs("tt-shm-stat: out of memory\n", stderr);
            return STAT_EXIT_NOTHING;
        }
        if (o->textfile != NULL) {
            if (stat_write_atomic(o->textfile, buf, len) != 0 && rc == STAT_EXIT_OK)
                rc = STAT_EXIT_NOTHING;
        } else if (write_all(STDOUT_FILENO, buf, len) != 0) {
            rc = stdout_failed();
        }
        free(buf);
    } else {
        rc = render_frame(o, false, stdout);
        if (fflush(stdout) != 0 || ferror(stdout))
            rc = stdout_failed();
    }
    o->noheader = true; /* a CSV header once per run, not per frame */
    return rc;
}

static void nap(double seconds);

/* --wait: polls until a selected writer is alive. Returns 0, or 1 when the
 * limit passed or a signal came first. */
static int wait_for_writer(const struct stat_options *o)
{
    struct stat_options probe = *o;
    probe.view = VIEW_SUMMARY; /* counters only: no buffer rows while waiting */
    probe.sort = SORT_NONE;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!interrupted) {
        struct stat_model m;
        stat_collect(&probe, &m);
        unsigned alive = m.live_writers;
        stat_model_free(&m);
        if (alive > 0)
            return 0;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double waited = (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
        if (o->wait_s > 0 && waited >= o->wait_s) {
            fprintf(stderr, "tt-shm-stat: no live writer appeared within %gs\n", o->wait_s);
            return 1;
        }
        nap(0.2);
    }
    return 1;
}

static void nap(double seconds)
{
    struct timespec ts;
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    /* A signal ends the nap early: nanosleep returns EINTR and we check. */
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
    struct stat_options o;
    stat_parse_options(argc, argv, &o);
    static char outbuf[1 << 16];
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
#ifdef TTSHM_HTTP
    if (o.listen != NULL)
        return stat_serve(&o);
#endif

    /* -w and -c loop wherever the output goes (like nvidia-smi -l): piped,
     * frames follow one another; on a terminal that can, each one replaces
     * the last. */
    const char *term = getenv("TERM");
    bool loop = o.watch;
    bool clear = loop && isatty(STDOUT_FILENO) && o.textfile == NULL && o.format == FMT_TEXT &&
                 term != NULL && *term != '\0' && strcmp(term, "dumb") != 0;
    if (loop || o.wait) {
        /* Ctrl-C or SIGTERM end the wait or the loop after the frame in hand. */
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sa.sa_flags = SA_RESTART; /* stdout writes go on; the nap (nanosleep) still ends */
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
    }
    if (o.wait && wait_for_writer(&o) != 0)
        return STAT_EXIT_NOTHING;
    if (!loop)
        return frame(&o, false);

    int rc = STAT_EXIT_OK;
    for (uint64_t i = 0; !interrupted; i++) {
        rc = frame(&o, clear);
        if (write_failed || (o.count && i + 1 >= o.count))
            break;
        if (!clear && o.textfile == NULL && o.format == FMT_TEXT) {
            fputc('\n', stdout); /* frames appended to a pipe stay apart */
            fflush(stdout);
        }
        nap(o.interval_s);
    }
    return rc;
}
