/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Exhaustion: /dev/shm too small, at start and during growth. Each case runs
 * in a child that enters a private mount namespace (unshare(CLONE_NEWNS),
 * mounts made private) and mounts a small tmpfs over /dev/shm, so nothing
 * outside is affected. Needs root; skips with the reason otherwise.
 *  - no room at open: ttshm_writer_open fails with -TTSHM_E_NOSPC, nothing
 *    is left behind, the default writer is NULL with one stderr line, the
 *    host keeps running;
 *  - no room to grow: the host keeps running (no SIGBUS: pages are reserved
 *    before they are mapped), every event that could not be recorded is a
 *    DROPPED result and is counted, the counters (and tt-shm-stat) show the
 *    drops, entries still equal counters, one stderr report;
 *  - a restart after a crash fits in the space the dead session used.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "layout.h"
#include "reliability/common.h"
#include "ttshm/reader.h"
#include "ttshm/writer.h"

#define SKIP_CODE 77
#define PAGE      4096u

static size_t pages(size_t bytes)
{
    return (bytes + PAGE - 1) / PAGE;
}

/* In the child: a private /dev/shm of `kib` KiB. Exits SKIP_CODE when impossible. */
static void private_shm(size_t kib)
{
    if (geteuid() != 0) {
        fprintf(stderr, "exhaustion: SKIP: needs root to mount a small tmpfs over /dev/shm\n");
        _exit(SKIP_CODE);
    }
    if (unshare(CLONE_NEWNS) != 0) {
        fprintf(stderr, "exhaustion: SKIP: unshare(CLONE_NEWNS): %s\n", strerror(errno));
        _exit(SKIP_CODE);
    }
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        fprintf(stderr, "exhaustion: SKIP: making mounts private: %s\n", strerror(errno));
        _exit(SKIP_CODE);
    }
    char opts[64];
    snprintf(opts, sizeof opts, "size=%zuk,mode=1777", kib);
    if (mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0) {
        fprintf(stderr, "exhaustion: SKIP: mounting tmpfs over /dev/shm: %s\n", strerror(errno));
        _exit(SKIP_CODE);
    }
}

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "exhaustion: FAILED: " __VA_ARGS__);                                   \
            fputc('\n', stderr);                                                                   \
            bad++;                                                                                 \
        }                                                                                          \
    } while (0)

/* Runs fn in a child with stderr captured into err; returns 0 pass, 1 fail, 2 skip. */
static int run_case(const char *name, void (*fn)(void), char *err, size_t errlen)
{
    int p[2];
    CU_ASSERT_FATAL(pipe(p) == 0);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], 2);
        fn();
        _exit(0);
    }
    close(p[1]);
    size_t got = 0;
    ssize_t n;
    while (got + 1 < errlen && (n = read(p[0], err + got, errlen - 1 - got)) > 0)
        got += (size_t)n;
    err[got] = '\0';
    close(p[0]);
    int st;
    rel_wait_child(pid, 120000, &st);
    char buf[96];
    fprintf(stderr, "---- %s: %s\n%s", name, rel_describe_status(st, buf, sizeof buf), err);
    if (WIFEXITED(st) && WEXITSTATUS(st) == SKIP_CODE)
        return 2;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

static size_t ttshm_objects(void)
{
    size_t n = 0;
    struct rel_obj o;
    (void)o;
    /* every registry: list /dev/shm for "ttshm." */
    FILE *f = popen("ls /dev/shm", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "ttshm.", 6) == 0) {
            fprintf(stderr, "exhaustion: left in /dev/shm: %s", line);
            n++;
        }
    if (f)
        pclose(f);
    return n;
}

/* Counts the '\n' in s. */
static size_t lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* ---- no room at open ---- */

static void no_room_at_open_case(size_t kib)
{
    private_shm(kib);
    int bad = 0;
    ttshm_writer *w = (ttshm_writer *)1;
    struct ttshm_writer_config cfg = {.struct_size = sizeof cfg, .name = "exh_open"};
    int rc = ttshm_writer_open(&cfg, &w);
    fprintf(stderr, "exhaustion: /dev/shm of %zu KiB: ttshm_writer_open: %s\n", kib,
            ttshm_strerror(rc));
    CHECK(rc == -TTSHM_E_NOSPC, "expected -TTSHM_E_NOSPC, got %d", rc);
    CHECK(w == NULL, "*out not NULL after a failure");
    CHECK(ttshm_objects() == 0, "objects left behind by a failed open");
    _exit(bad ? 1 : 0);
}

static void no_room_at_all(void)
{
    no_room_at_open_case(4); /* one page: not even the header fits */
}

static void room_for_header_only(void)
{
    no_room_at_open_case((pages(TTSHM_HEADER_OBJECT_SIZE) + 2) * PAGE / 1024);
}

static void default_writer_no_room(void)
{
    private_shm(4);
    int bad = 0;
    setenv("TT_SHM_NAME", "exh_default", 1);
    unsetenv("TT_SHM_TRACKING");
    /* stderr goes to a pipe we read back: the report must be one line */
    int p[2];
    if (pipe(p) != 0)
        _exit(2);
    int saved = dup(2);
    dup2(p[1], 2);
    ttshm_writer *w1 = ttshm_default_writer();
    ttshm_writer *w2 = ttshm_default_writer();
    enum ttshm_result r = ttshm_record_alloc(w1, 0, TTSHM_DRAM, 0x1000, 64, 0);
    dup2(saved, 2);
    close(p[1]);
    char out[2048];
    ssize_t n = read(p[0], out, sizeof out - 1);
    out[n > 0 ? n : 0] = '\0';
    fprintf(stderr, "exhaustion: default writer with no room said: %s",
            n > 0 ? out : "(nothing)\n");
    CHECK(w1 == NULL && w2 == NULL, "default writer not NULL");
    CHECK(r == TTSHM_OFF, "recording on the NULL default writer: %d", r);
    CHECK(lines(out) == 1, "expected one stderr line, got %zu", lines(out));
    CHECK(ttshm_objects() == 0, "objects left behind");
    _exit(bad ? 1 : 0);
}

/* ---- no room to grow ---- */

struct grow_thread {
    pthread_t th;
    ttshm_writer *w;
    unsigned idx, n;
    unsigned recorded, dropped, other;
};

static void *grow_worker(void *arg)
{
    struct grow_thread *t = arg;
    for (unsigned i = 0; i < t->n; i++) {
        uint64_t a = ((uint64_t)t->idx << 32) | ((uint64_t)i << 6);
        enum ttshm_result r = ttshm_record_alloc(t->w, t->idx, TTSHM_DRAM, a, 4096, i);
        if (r == TTSHM_RECORDED)
            t->recorded++;
        else if (r == TTSHM_DROPPED)
            t->dropped++;
        else
            t->other++;
    }
    return NULL;
}

static const char *stat_cli(void)
{
    static char cli[1024];
    const char *bin = getenv("TTSHM_TEST_BIN_DIR");
    snprintf(cli, sizeof cli, "%s/reader/stat/tt-shm-stat", bin ? bin : "build");
    return access(cli, X_OK) == 0 ? cli : NULL;
}

static void no_room_to_grow(void)
{
    /* header + the first table + a little: the first growth cannot fit */
    size_t kib =
        (pages(TTSHM_HEADER_OBJECT_SIZE) + pages(ttshm_table_bytes(1024)) + 6) * PAGE / 1024;
    private_shm(kib);
    int bad = 0;
    ttshm_writer *w;
    struct ttshm_writer_config cfg = {
        .struct_size = sizeof cfg, .name = "exh_grow", .initial_slots = 1024, .report_errors = 1};
    int rc = ttshm_writer_open(&cfg, &w);
    CHECK(rc == 0, "open with room for one table: %s", ttshm_strerror(rc));
    if (rc != 0)
        _exit(1);
    /* stderr to a pipe: the writer reports the failure once */
    int p[2];
    if (pipe(p) != 0)
        _exit(2);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    int saved = dup(2);
    dup2(p[1], 2);
    struct grow_thread th[3];
    memset(th, 0, sizeof th);
    for (unsigned i = 0; i < 3; i++) {
        th[i].w = w;
        th[i].idx = i;
        th[i].n = 3000; /* 9000 buffers: the 1024-slot table must grow and cannot */
        pthread_create(&th[i].th, NULL, grow_worker, &th[i]);
    }
    unsigned recorded = 0, dropped = 0, other = 0;
    for (unsigned i = 0; i < 3; i++) {
        pthread_join(th[i].th, NULL);
        recorded += th[i].recorded;
        dropped += th[i].dropped;
        other += th[i].other;
    }
    dup2(saved, 2);
    close(p[1]);
    char out[4096];
    ssize_t n = read(p[0], out, sizeof out - 1);
    out[n > 0 ? n : 0] = '\0';
    fprintf(stderr,
            "exhaustion: /dev/shm of %zu KiB, 9000 allocs: %u recorded, %u dropped, %u other; "
            "writer said: %s",
            kib, recorded, dropped, other, n > 0 ? out : "(nothing)\n");
    CHECK(dropped > 0, "no drop although the table could not grow");
    CHECK(recorded + dropped == 9000 && other == 0, "results other than RECORDED/DROPPED");
    CHECK(lines(out) == 1, "expected one stderr report, got %zu lines", lines(out));
    /* The reader sees exactly the drops, and entries equal counters. */
    ttshm_reader *r;
    rc = ttshm_reader_open("ttshm.exh_grow.0", &r);
    CHECK(rc == 0, "reader open: %s", ttshm_strerror(rc));
    if (rc == 0) {
        struct ttshm_stats *st = calloc(1, sizeof *st);
        st->struct_size = sizeof *st;
        struct ttshm_entry *e = NULL;
        size_t ne = 0;
        CHECK(ttshm_reader_stats(r, st) == 0 && ttshm_reader_snapshot(r, &e, &ne) == 0,
              "reader stats/snapshot");
        uint64_t cdrop = 0, clive = 0;
        for (unsigned d = 0; d < 3; d++) {
            cdrop += st->dev[d][TTSHM_DRAM].dropped;
            clive += st->dev[d][TTSHM_DRAM].live_count;
            CHECK(st->dev[d][TTSHM_DRAM].dropped == th[d].dropped,
                  "device %u: %llu drops counted, %u DROPPED results", d,
                  (unsigned long long)st->dev[d][TTSHM_DRAM].dropped, th[d].dropped);
            CHECK(st->dev[d][TTSHM_DRAM].allocs == th[d].recorded,
                  "device %u: %llu allocs counted, %u recorded", d,
                  (unsigned long long)st->dev[d][TTSHM_DRAM].allocs, th[d].recorded);
        }
        fprintf(stderr, "exhaustion: reader: %llu dropped, %llu live, %zu entries\n",
                (unsigned long long)cdrop, (unsigned long long)clive, ne);
        CHECK(clive == recorded && ne == recorded, "live %llu, entries %zu, recorded %u",
              (unsigned long long)clive, ne, recorded);
        free(e);
        free(st);
        ttshm_reader_close(r);
    }
    /* Frees keep working; frees of dropped buffers are unknown frees. */
    unsigned freed = 0, unknown = 0;
    for (unsigned t = 0; t < 3; t++)
        for (unsigned i = 0; i < 3000; i++) {
            enum ttshm_result fr =
                ttshm_record_free(w, t, TTSHM_DRAM, ((uint64_t)t << 32) | ((uint64_t)i << 6));
            freed += fr == TTSHM_RECORDED;
            unknown += fr == TTSHM_UNKNOWN;
        }
    CHECK(freed == recorded && unknown == dropped, "frees: %u recorded %u unknown", freed, unknown);
    /* tt-shm-stat shows the drops. */
    const char *cli = stat_cli();
    if (cli == NULL) {
        fprintf(stderr, "exhaustion: SKIP tt-shm-stat check: not built\n");
    } else {
        char txt[16384], js[65536];
        char *a1[] = {(char *)cli, "--name", "exh_grow", NULL};
        char *a2[] = {(char *)cli, "--name", "exh_grow", "--json", NULL};
        int s1 = rel_run_capture(a1, NULL, txt, sizeof txt, 30000);
        int s2 = rel_run_capture(a2, NULL, js, sizeof js, 30000);
        char want[64];
        snprintf(want, sizeof want, "%u dropped", dropped);
        fprintf(stderr, "exhaustion: tt-shm-stat --name exh_grow (exit %d):\n%s",
                WIFEXITED(s1) ? WEXITSTATUS(s1) : -1, txt);
        CHECK(s1 != -1 && WIFEXITED(s1) && WEXITSTATUS(s1) == 0, "tt-shm-stat failed");
        CHECK(strstr(txt, want) != NULL, "tt-shm-stat text does not show \"%s\"", want);
        snprintf(want, sizeof want, "\"dropped\":%u", th[0].dropped);
        CHECK(s2 != -1 && WIFEXITED(s2) && WEXITSTATUS(s2) == 0 &&
                  (th[0].dropped == 0 || strstr(js, want) != NULL),
              "tt-shm-stat --json does not show %s", want);
    }
    ttshm_writer_close(w);
    _exit(bad ? 1 : 0);
}

/* ---- restart in the space the dead session used ---- */

static void restart_in_tight_space(void)
{
    size_t kib =
        (pages(TTSHM_HEADER_OBJECT_SIZE) + pages(ttshm_table_bytes(1024)) + 6) * PAGE / 1024;
    private_shm(kib);
    int bad = 0;
    uint64_t last_gen = 0;
    for (int round = 0; round < 5; round++) {
        pid_t pid = fork();
        if (pid == 0) {
            ttshm_writer *w;
            struct ttshm_writer_config cfg = {
                .struct_size = sizeof cfg, .name = "exh_restart", .initial_slots = 1024};
            int rc = ttshm_writer_open(&cfg, &w);
            if (rc != 0) {
                fprintf(stderr, "exhaustion: restart %d in a tight /dev/shm: %s\n", round,
                        ttshm_strerror(rc));
                _exit(2);
            }
            for (unsigned i = 0; i < 100; i++)
                ttshm_record_alloc(w, 0, TTSHM_DRAM, (uint64_t)i << 6, 64, 0);
            raise(SIGKILL);
        }
        int st;
        rel_wait_child(pid, 30000, &st);
        CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "round %d: the writer could not start",
              round);
        ttshm_reader *r;
        struct ttshm_status s = {.struct_size = sizeof s};
        if (ttshm_reader_open("ttshm.exh_restart.0", &r) == 0) {
            if (ttshm_reader_status(r, &s) == 0) {
                CHECK(s.generation == last_gen + 1, "generation %llu after %llu",
                      (unsigned long long)s.generation, (unsigned long long)last_gen);
                CHECK(round == 0 || s.previous.live_count == 100, "previous live %llu",
                      (unsigned long long)s.previous.live_count);
                last_gen = s.generation;
            }
            ttshm_reader_close(r);
        }
        if (bad)
            break;
    }
    fprintf(stderr, "exhaustion: %llu sessions restarted in a /dev/shm of %zu KiB\n",
            (unsigned long long)last_gen, kib);
    _exit(bad ? 1 : 0);
}

static void report(int rc, const char *what)
{
    if (rc == 2)
        fprintf(stderr, "exhaustion: %s skipped (see above)\n", what);
    CU_ASSERT(rc != 1);
}

static char errbuf[65536];

static void test_no_room_at_open(void)
{
    report(run_case("no room at all", no_room_at_all, errbuf, sizeof errbuf), "no room at all");
    report(run_case("room for the header only", room_for_header_only, errbuf, sizeof errbuf),
           "room for the header only");
    report(run_case("default writer, no room", default_writer_no_room, errbuf, sizeof errbuf),
           "default writer");
}

static void test_no_room_to_grow(void)
{
    report(run_case("no room to grow", no_room_to_grow, errbuf, sizeof errbuf), "growth");
}

static void test_restart_tight(void)
{
    report(run_case("restart in tight space", restart_in_tight_space, errbuf, sizeof errbuf),
           "restart");
}

int main(int argc, char **argv)
{
    rel_parse_args(argc, argv);
    static const struct ttshm_test_case cases[] = {
        {"no_room_at_open", test_no_room_at_open},
        {"no_room_to_grow", test_no_room_to_grow},
        {"restart_in_the_space_of_the_dead", test_restart_tight},
    };
    TTSHM_TEST_SUITE("exhaustion", cases);
    return ttshm_test_run();
}
