/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Hostile segments, changed under a reader that has them open (the basic
 * tests cover bad headers at open; the fuzzer covers mutated contents):
 *  - truncated under the reader (header object, table object): an error
 *    code on the next call, never SIGBUS;
 *  - grown under the reader: the same data, or an error code;
 *  - tables with no EMPTY slot (all tombstones, all live with other keys, all
 *    half-written): lookups and scans end in bounded time;
 *  - a segment replaced (unlinked and recreated, by a new writer or by
 *    garbage) while read: answers from one segment or an error, never a mix;
 *  - a writer that died mid-start (seq stuck odd, no lock holder): readers say
 *    "died" without waiting for it, tt-shm-stat answers within seconds;
 *  - tt-shm-stat on a corrupt segment exits 3 with a message.
 * Every reader runs in a child process under alarm(): a signal or a hang is
 * reported as a failure with what killed it.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "layout.h"
#include "reliability/common.h"
#include "ttshm/reader.h"
#include "ttshm/writer.h"

#define BOUND_S 20 /* any reader child must finish within this */
/* A reader checks its objects' sizes once per tick of the coarse clock
 * (1-4 ms, docs/design.md): a truncation is refused from the next tick on. */
#define SIZE_CHECK_WAIT_US 10000

/* Makes a segment with n DRAM buffers on device 0 at base + i*64 by a writer in
 * a child process; close_it: exited cleanly (else SIGKILLed: died). */
static void make_segment(const char *reg, unsigned n, uint64_t base, bool close_it)
{
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        ttshm_writer *w;
        struct ttshm_writer_config cfg = {
            .struct_size = sizeof cfg, .name = reg, .initial_slots = 1024};
        if (ttshm_writer_open(&cfg, &w) != 0)
            _exit(2);
        for (unsigned i = 0; i < n; i++)
            if (ttshm_record_alloc(w, 0, TTSHM_DRAM, base + (uint64_t)i * 64, 64 + i, i) !=
                TTSHM_RECORDED)
                _exit(3);
        if (close_it) {
            ttshm_writer_close(w);
            _exit(0);
        }
        raise(SIGKILL);
    }
    int st;
    rel_wait_child(pid, 30000, &st);
    CU_ASSERT_FATAL((close_it && WIFEXITED(st) && WEXITSTATUS(st) == 0) ||
                    (!close_it && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL));
}

static void obj_name(char *buf, size_t len, const char *reg, const char *suffix)
{
    snprintf(buf, len, "/dev/shm/ttshm.%s.0%s", reg, suffix);
}

/* The current table object of the segment (from its header). */
static int table_path(const char *reg, char *buf, size_t len, uint64_t *nslots, uint64_t *gen)
{
    char h[256];
    obj_name(h, sizeof h, reg, "");
    int fd = open(h, O_RDONLY);
    if (fd < 0)
        return -1;
    struct ttshm_header hdr;
    ssize_t n = pread(fd, &hdr, sizeof hdr, 0);
    close(fd);
    if (n != (ssize_t)sizeof hdr)
        return -1;
    char suffix[32];
    snprintf(suffix, sizeof suffix, ".t%llu", (unsigned long long)hdr.table_epoch);
    obj_name(buf, len, reg, suffix);
    if (nslots)
        *nslots = hdr.table_slots;
    if (gen)
        *gen = hdr.generation;
    return 0;
}

/* ---- child-side helpers: results go back in the exit status ---- */

struct calls {
    int open, status, stats, snapshot, lookup, foreach;
    size_t n;
    uint64_t skipped;
};

static int count_cb(const struct ttshm_entry *e, void *ctx)
{
    (void)e;
    (*(size_t *)ctx)++;
    return 0;
}

static void run_calls(ttshm_reader *r, struct calls *c, uint64_t lookup_addr)
{
    struct ttshm_status st = {.struct_size = sizeof st};
    c->status = ttshm_reader_status(r, &st);
    struct ttshm_stats *s = calloc(1, sizeof *s);
    s->struct_size = sizeof *s;
    c->stats = ttshm_reader_stats(r, s);
    free(s);
    struct ttshm_entry *e = NULL;
    c->n = 0;
    c->snapshot = ttshm_reader_snapshot(r, &e, &c->n);
    c->skipped = ttshm_reader_skipped(r);
    free(e);
    struct ttshm_entry one;
    c->lookup = ttshm_reader_lookup(r, 0, TTSHM_DRAM, lookup_addr, &one);
    size_t visited = 0;
    c->foreach = ttshm_reader_foreach(r, count_cb, &visited);
}

static bool is_error(int rc)
{
    return rc < 0 && rc >= -TTSHM_E_NOTFOUND;
}

/* Runs fn in a child under alarm(BOUND_S); true if it exited 0. */
static bool in_child(const char *what, void (*fn)(const char *reg), const char *reg)
{
    pid_t pid = fork();
    if (pid == 0) {
        alarm(BOUND_S);
        fn(reg);
        _exit(0);
    }
    int st;
    rel_wait_child(pid, (BOUND_S + 10) * 1000, &st);
    char buf[128];
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "hostile: %s: reader child %s%s\n", what,
                rel_describe_status(st, buf, sizeof buf),
                WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS ? " (SIGBUS: touched a truncated mapping)"
                : WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM ? " (hung)"
                                                             : "");
        return false;
    }
    return true;
}

#define CHILD_CHECK(cond, ...)                                                                     \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "hostile: " __VA_ARGS__);                                              \
            fputc('\n', stderr);                                                                   \
            _exit(1);                                                                              \
        }                                                                                          \
    } while (0)

static ttshm_reader *child_open(const char *reg)
{
    char seg[96];
    snprintf(seg, sizeof seg, "ttshm.%s.0", reg);
    ttshm_reader *r;
    int rc = ttshm_reader_open(seg, &r);
    CHILD_CHECK(rc == 0, "open %s: %s", seg, ttshm_strerror(rc));
    return r;
}

/* ---- truncated under the reader ---- */

static void truncate_header_child(const char *reg)
{
    static const off_t sizes[] = {4096, 64, 0};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        ttshm_reader *r = child_open(reg);
        struct calls c;
        run_calls(r, &c, 0x100000); /* maps everything */
        CHILD_CHECK(c.snapshot == 0 && c.n == 100, "intact segment: snapshot %d, %zu entries",
                    c.snapshot, c.n);
        char path[256];
        obj_name(path, sizeof path, reg, "");
        unsigned char *saved;
        size_t len;
        CHILD_CHECK(rel_read_object(path + 9, &saved, &len) == 0, "read header");
        CHILD_CHECK(truncate(path, sizes[k]) == 0, "truncate");
        usleep(SIZE_CHECK_WAIT_US);
        run_calls(r, &c, 0x100000);
        fprintf(stderr,
                "hostile: header truncated to %lld under the reader: status %d stats %d "
                "snapshot %d lookup %d foreach %d\n",
                (long long)sizes[k], c.status, c.stats, c.snapshot, c.lookup, c.foreach);
        CHILD_CHECK(is_error(c.status) && is_error(c.stats) && is_error(c.snapshot) &&
                        is_error(c.lookup) && is_error(c.foreach),
                    "a call on a truncated header object succeeded");
        CHILD_CHECK(c.status == -TTSHM_E_CORRUPT && c.snapshot == -TTSHM_E_CORRUPT,
                    "truncated header: expected -TTSHM_E_CORRUPT, got %d / %d", c.status,
                    c.snapshot);
        ttshm_reader_close(r);
        /* A new reader refuses it too. */
        char seg[96];
        snprintf(seg, sizeof seg, "ttshm.%s.0", reg);
        int rc = ttshm_reader_open(seg, &r);
        CHILD_CHECK(rc == -TTSHM_E_CORRUPT || rc == -TTSHM_E_BADMAGIC,
                    "open of a truncated header object: %d", rc);
        CHILD_CHECK(rel_write_object(path + 9, saved, len, 0600) == 0, "restore");
        free(saved);
    }
}

static void truncate_table_child(const char *reg)
{
    static const off_t sizes[] = {8192, 64, 0};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        ttshm_reader *r = child_open(reg);
        struct calls c;
        run_calls(r, &c, 0x100000);
        CHILD_CHECK(c.snapshot == 0 && c.n == 100, "intact: snapshot %d n %zu", c.snapshot, c.n);
        char path[256];
        CHILD_CHECK(table_path(reg, path, sizeof path, NULL, NULL) == 0, "table path");
        unsigned char *saved;
        size_t len;
        CHILD_CHECK(rel_read_object(path + 9, &saved, &len) == 0, "read table");
        CHILD_CHECK(truncate(path, sizes[k]) == 0, "truncate");
        usleep(SIZE_CHECK_WAIT_US);
        run_calls(r, &c, 0x100000);
        fprintf(stderr,
                "hostile: table truncated to %lld under the reader: snapshot %d lookup %d "
                "foreach %d (status %d stats %d)\n",
                (long long)sizes[k], c.snapshot, c.lookup, c.foreach, c.status, c.stats);
        CHILD_CHECK(c.snapshot == -TTSHM_E_CORRUPT && c.lookup == -TTSHM_E_CORRUPT &&
                        c.foreach == -TTSHM_E_CORRUPT,
                    "truncated table: expected -TTSHM_E_CORRUPT from snapshot/lookup/foreach");
        ttshm_reader_close(r);
        CHILD_CHECK(rel_write_object(path + 9, saved, len, 0600) == 0, "restore");
        free(saved);
    }
}

static void test_truncated_under_reader(void)
{
    char reg[48];
    ttshm_test_registry(reg, "trunc");
    make_segment(reg, 100, 0x100000, true);
    CU_ASSERT(in_child("header truncated", truncate_header_child, reg));
    CU_ASSERT(in_child("table truncated", truncate_table_child, reg));
    ttshm_test_unlink_registry(reg);
}

/* ---- grown under the reader ---- */

static void grown_child(const char *reg)
{
    ttshm_reader *r = child_open(reg);
    struct calls before, after;
    run_calls(r, &before, 0x100000);
    CHILD_CHECK(before.snapshot == 0 && before.n == 100, "intact");
    char hpath[256], tpath[256];
    obj_name(hpath, sizeof hpath, reg, "");
    CHILD_CHECK(table_path(reg, tpath, sizeof tpath, NULL, NULL) == 0, "table path");
    struct stat sh, stt;
    CHILD_CHECK(stat(hpath, &sh) == 0 && stat(tpath, &stt) == 0, "stat");
    CHILD_CHECK(truncate(hpath, sh.st_size + (1 << 20)) == 0 &&
                    truncate(tpath, stt.st_size + (1 << 20)) == 0,
                "grow");
    run_calls(r, &after, 0x100000);
    fprintf(stderr,
            "hostile: grown under the reader: status %d snapshot %d (%zu entries) lookup %d\n",
            after.status, after.snapshot, after.n, after.lookup);
    /* Harmless for the reader: either the same answers, or a clear error. */
    CHILD_CHECK(after.snapshot == 0 ? after.n == 100 && after.lookup == 0
                                    : after.snapshot == -TTSHM_E_CORRUPT,
                "grown segment gave other data or an unclear error");
    ttshm_reader_close(r);
    /* A new reader of the grown segment: grown with truncate, the objects are
     * sparse, which no writer makes (it reserves every page): refused. */
    char seg[96];
    snprintf(seg, sizeof seg, "ttshm.%s.0", reg);
    int rc = ttshm_reader_open(seg, &r);
    CHILD_CHECK(rc == -TTSHM_E_CORRUPT, "new reader of a sparse grown segment: %s",
                ttshm_strerror(rc));
}

static void test_grown_under_reader(void)
{
    char reg[48];
    ttshm_test_registry(reg, "grown");
    make_segment(reg, 100, 0x100000, true);
    CU_ASSERT(in_child("grown", grown_child, reg));
    ttshm_test_unlink_registry(reg);
}

/* ---- tables with no EMPTY slot ---- */

enum fill { FILL_TOMB, FILL_LIVE_OTHER, FILL_BUSY };

static void fill_table(const char *reg, enum fill how)
{
    char path[256];
    uint64_t nslots, gen;
    CU_ASSERT_FATAL(table_path(reg, path, sizeof path, &nslots, &gen) == 0);
    int fd = open(path, O_RDWR);
    CU_ASSERT_FATAL(fd >= 0);
    size_t bytes = ttshm_table_bytes(nslots);
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CU_ASSERT_FATAL(p != MAP_FAILED);
    _Atomic uint32_t *ctl = ttshm_table_ctl(p);
    struct ttshm_slot *s = ttshm_table_slots(p, nslots);
    /* The hash fragments of the two keys full_table_child looks up, on
     * alternate slots: each probe copies (or waits for) every other slot
     * it walks, the most a probe can be made to do. */
    const unsigned frag[2] = {ttshm_hash_frag(ttshm_key_hash(0, TTSHM_DRAM, 0x100000, 0)),
                              ttshm_hash_frag(ttshm_key_hash(5, TTSHM_L1, 0x123440, 0))};
    for (uint64_t i = 0; i < nslots; i++) {
        switch (how) {
        case FILL_TOMB:
            atomic_store(&ctl[i], ttshm_ctl_next(0, TTSHM_SLOT_TOMB, 0));
            break;
        case FILL_BUSY:
            atomic_store(&ctl[i], ttshm_ctl_next(0, TTSHM_SLOT_BUSY, frag[i & 1]));
            break;
        case FILL_LIVE_OTHER:
            /* Valid live records on device 1: none has the key looked up. */
            atomic_store(&s[i].address, 0x900000000ull + i * 64);
            atomic_store(&s[i].tag, i);
            atomic_store(&s[i].key, TTSHM_KEY(1, TTSHM_DRAM, 128));
            atomic_store(&s[i].origin, TTSHM_ORIGIN(42, 1));
            atomic_store(&ctl[i], ttshm_ctl_next(0, TTSHM_SLOT_LIVE, frag[i & 1]));
            break;
        }
    }
    munmap(p, bytes);
    close(fd);
}

static uint64_t full_nslots;
static enum fill full_how;

static void full_table_child(const char *reg)
{
    ttshm_reader *r = child_open(reg);
    uint64_t t0 = rel_now_ns();
    struct calls c;
    run_calls(r, &c, 0x100000); /* key absent from every slot */
    double ms = (double)(rel_now_ns() - t0) / 1e6;
    /* a second absent key with another home slot */
    struct ttshm_entry e;
    int lr2 = ttshm_reader_lookup(r, 5, TTSHM_L1, 0x123440, &e);
    fprintf(stderr,
            "hostile: table of %llu slots with no EMPTY slot (%s): lookup %d/%d, snapshot %d "
            "(%zu entries, %llu skipped) in %.1f ms\n",
            (unsigned long long)full_nslots,
            full_how == FILL_TOMB   ? "all tombstones"
            : full_how == FILL_BUSY ? "all half-written"
                                    : "all live, other keys",
            c.lookup, lr2, c.snapshot, c.n, (unsigned long long)c.skipped, ms);
    CHILD_CHECK(c.lookup == -TTSHM_E_NOTFOUND || c.lookup == -TTSHM_E_CORRUPT,
                "lookup in a full table: %d", c.lookup);
    CHILD_CHECK(lr2 == -TTSHM_E_NOTFOUND || lr2 == -TTSHM_E_CORRUPT, "lookup 2: %d", lr2);
    switch (full_how) {
    case FILL_TOMB:
        CHILD_CHECK(c.snapshot == 0 && c.n == 0, "all tombstones: %d, %zu", c.snapshot, c.n);
        break;
    case FILL_LIVE_OTHER:
        CHILD_CHECK(c.snapshot == 0 && c.n == full_nslots, "all live: %d, %zu", c.snapshot, c.n);
        break;
    case FILL_BUSY:
        CHILD_CHECK(c.snapshot == 0 && c.n == 0 && c.skipped == full_nslots,
                    "all half-written: %d, %zu entries, %llu skipped", c.snapshot, c.n,
                    (unsigned long long)c.skipped);
        break;
    }
    ttshm_reader_close(r);
}

static void test_full_tables(void)
{
    static const enum fill hows[] = {FILL_TOMB, FILL_LIVE_OTHER, FILL_BUSY};
    for (size_t k = 0; k < 3; k++) {
        char reg[48], tag[16];
        snprintf(tag, sizeof tag, "full%zu", k);
        ttshm_test_registry(reg, tag);
        make_segment(reg, 10, 0x100000, false); /* died: nobody will fix the slots */
        char path[256];
        CU_ASSERT_FATAL(table_path(reg, path, sizeof path, &full_nslots, NULL) == 0);
        fill_table(reg, hows[k]);
        full_how = hows[k];
        CU_ASSERT(in_child("full table", full_table_child, reg));
        ttshm_test_unlink_registry(reg);
    }
}

/* ---- replaced while read ---- */

static char replace_reg[48];
static int replace_kind; /* 0: by a new writer that closed; 1: by a live writer; 2: garbage */
static pid_t live_writer;

static void replaced_child(const char *reg)
{
    ttshm_reader *r = child_open(reg);
    struct calls c;
    run_calls(r, &c, 0xA00000);
    CHILD_CHECK(c.snapshot == 0 && c.n == 50 && c.lookup == 0, "segment A intact");
    /* Tell the parent to replace it, wait until it has. */
    CHILD_CHECK(rel_write_full(3, "R", 1) == 0, "pipe");
    char ok;
    CHILD_CHECK(rel_read_full(4, &ok, 1, 30000) == 0, "parent never replaced it");
    for (int round = 0; round < 2; round++) {
        struct ttshm_entry *e = NULL;
        size_t n = 0;
        struct ttshm_status st = {.struct_size = sizeof st};
        int src = ttshm_reader_status(r, &st);
        int rc = ttshm_reader_snapshot(r, &e, &n);
        size_t from_a = 0, from_b = 0;
        for (size_t i = 0; rc == 0 && i < n; i++) {
            if (e[i].address >= 0xA00000 && e[i].address < 0xA00000 + 50 * 64)
                from_a++;
            else if (e[i].address >= 0xB00000 && e[i].address < 0xB00000 + 70 * 64)
                from_b++;
        }
        struct ttshm_entry one;
        int la = ttshm_reader_lookup(r, 0, TTSHM_DRAM, 0xA00000, &one);
        int lb = ttshm_reader_lookup(r, 0, TTSHM_DRAM, 0xB00000, &one);
        fprintf(stderr,
                "hostile: replaced (%s) while read, call %d: status %d (gen %llu), snapshot %d: "
                "%zu entries (%zu of the old segment, %zu of the new), lookup old %d new %d\n",
                replace_kind == 0   ? "new writer, exited"
                : replace_kind == 1 ? "live new writer"
                                    : "garbage",
                round, src, (unsigned long long)st.generation, rc, n, from_a, from_b, la, lb);
        CHILD_CHECK(rc != 0 || from_a + from_b == n, "entries of neither segment");
        CHILD_CHECK(rc != 0 || from_a == 0 || from_b == 0,
                    "one snapshot mixes the old and the new segment");
        CHILD_CHECK(rc == 0 || is_error(rc), "unclear error %d", rc);
        CHILD_CHECK(rc != 0 || ((from_a == 0 || from_a == 50) && (from_b == 0 || from_b == 70)),
                    "a partial segment");
        free(e);
    }
    ttshm_reader_close(r);
    /* A reader opened now sees the new segment, or refuses the garbage. */
    char seg[96];
    snprintf(seg, sizeof seg, "ttshm.%s.0", reg);
    int rc = ttshm_reader_open(seg, &r);
    if (replace_kind == 2) {
        CHILD_CHECK(rc == -TTSHM_E_BADMAGIC || rc == -TTSHM_E_CORRUPT, "open of garbage: %d", rc);
    } else {
        CHILD_CHECK(rc == 0, "open of the new segment: %d", rc);
        struct ttshm_entry *e = NULL;
        size_t n = 0;
        rc = ttshm_reader_snapshot(r, &e, &n);
        CHILD_CHECK(rc == 0 && n == 70, "new reader of the new segment: %d, %zu", rc, n);
        free(e);
        ttshm_reader_close(r);
    }
}

static void replace_segment(const char *reg, int kind)
{
    ttshm_test_unlink_registry(reg);
    if (kind == 2) {
        unsigned char junk[16384];
        struct rel_rng g;
        rel_rng_seed(&g, 7);
        for (size_t i = 0; i < sizeof junk; i++)
            junk[i] = (unsigned char)rel_rng_next(&g);
        char name[96];
        snprintf(name, sizeof name, "ttshm.%s.0", reg);
        rel_write_object(name, junk, sizeof junk, 0600);
        for (int e = 1; e <= 3; e++) {
            snprintf(name, sizeof name, "ttshm.%s.0.t%d", reg, e);
            rel_write_object(name, junk, sizeof junk, 0600);
        }
    } else if (kind == 1) {
        int p[2];
        CU_ASSERT_FATAL(pipe(p) == 0);
        live_writer = fork();
        if (live_writer == 0) {
            ttshm_writer *w;
            struct ttshm_writer_config cfg = {.struct_size = sizeof cfg, .name = reg};
            if (ttshm_writer_open(&cfg, &w) != 0)
                _exit(2);
            for (unsigned i = 0; i < 70; i++)
                ttshm_record_alloc(w, 0, TTSHM_DRAM, 0xB00000 + (uint64_t)i * 64, 64, i);
            (void)!write(p[1], "x", 1);
            for (;;)
                pause();
        }
        char x;
        rel_read_full(p[0], &x, 1, 30000);
        close(p[0]);
        close(p[1]);
    } else {
        make_segment(reg, 70, 0xB00000, true);
    }
}

static void test_replaced_while_read(void)
{
    for (int kind = 0; kind < 3; kind++) {
        ttshm_test_registry(replace_reg, "replaced");
        ttshm_test_unlink_registry(replace_reg);
        make_segment(replace_reg, 50, 0xA00000, kind != 1);
        replace_kind = kind;
        int up[2], down[2];
        CU_ASSERT_FATAL(pipe(up) == 0 && pipe(down) == 0);
        pid_t pid = fork();
        if (pid == 0) {
            dup2(up[1], 3);
            dup2(down[0], 4);
            alarm(BOUND_S);
            replaced_child(replace_reg);
            _exit(0);
        }
        close(up[1]);
        close(down[0]);
        char c;
        bool asked = rel_read_full(up[0], &c, 1, 30000) == 0;
        if (asked) {
            replace_segment(replace_reg, kind);
            rel_write_full(down[1], "k", 1);
        }
        int st;
        rel_wait_child(pid, (BOUND_S + 10) * 1000, &st);
        char buf[96];
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fprintf(stderr, "hostile: replaced kind %d: reader %s\n", kind,
                    rel_describe_status(st, buf, sizeof buf));
        CU_ASSERT(asked);
        CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        close(up[0]);
        close(down[1]);
        if (kind == 1 && live_writer > 0) {
            kill(live_writer, SIGKILL);
            rel_wait_child(live_writer, 10000, NULL);
        }
        ttshm_test_unlink_registry(replace_reg);
    }
}

/* ---- tt-shm-stat on corrupt segments ---- */

static void test_cli_corrupt(void)
{
    const char *bin = getenv("TTSHM_TEST_BIN_DIR");
    char cli[1024];
    snprintf(cli, sizeof cli, "%s/reader/stat/tt-shm-stat", bin ? bin : "build");
    if (access(cli, X_OK) != 0) {
        fprintf(stderr, "hostile: SKIP tt-shm-stat checks: %s not built\n", cli);
        return;
    }
    static const char *const kinds[] = {"bad magic", "truncated header", "wrong ABI major",
                                        "corrupt table size", "word size 4"};
    for (int k = 0; k < 5; k++) {
        char reg[48], tag[16];
        snprintf(tag, sizeof tag, "cli%d", k);
        ttshm_test_registry(reg, tag);
        make_segment(reg, 20, 0x100000, true);
        char path[256];
        obj_name(path, sizeof path, reg, "");
        int fd = open(path, O_RDWR);
        CU_ASSERT_FATAL(fd >= 0);
        struct ttshm_header *h = mmap(NULL, sizeof *h, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        CU_ASSERT_FATAL(h != MAP_FAILED);
        switch (k) {
        case 0:
            atomic_store(&h->magic, 0x4141414141414141ull);
            break;
        case 1:
            break;
        case 2:
            h->abi_major = TTSHM_ABI_MAJOR + 1;
            break;
        case 3:
            atomic_store(&h->table_slots, 1ull << 40);
            break;
        case 4:
            h->word_size = 4;
            break;
        }
        munmap(h, sizeof *h);
        if (k == 1)
            CU_ASSERT(ftruncate(fd, 4096) == 0);
        close(fd);
        char out[8192];
        char *argv[] = {cli, "--name", reg, NULL};
        int st = rel_run_capture(argv, NULL, out, sizeof out, 30000);
        bool ok = st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 3 && strstr(out, reg) != NULL;
        fprintf(stderr, "hostile: tt-shm-stat --name %s on a segment with %s: %s, said: %s", reg,
                kinds[k],
                st == -1        ? "did not finish"
                : WIFEXITED(st) ? (WEXITSTATUS(st) == 3 ? "exit 3" : "WRONG exit code")
                                : "killed by a signal",
                out);
        if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) != 3)
            fprintf(stderr, "  (exit %d)\n", WEXITSTATUS(st));
        CU_ASSERT(ok);
        ttshm_test_unlink_registry(reg);
    }
}

/* ---- a writer that died in the middle of (re)starting its session ---- */

/* Its header's seq stays odd forever and no one holds the lock: there is no
 * writer to wait for. Readers must say "died" promptly, and tt-shm-stat must
 * not stall a terminal. */
static void died_mid_start_child(const char *reg)
{
    ttshm_reader *r = child_open(reg);
    struct calls c;
    uint64_t t0 = rel_now_ns();
    run_calls(r, &c, 0x100000);
    double ms = (double)(rel_now_ns() - t0) / 1e6;
    struct ttshm_status st = {.struct_size = sizeof st};
    int src = ttshm_reader_status(r, &st);
    fprintf(stderr,
            "hostile: writer died mid-start: status %d (%s, generation %llu), stats %d, "
            "snapshot %d, lookup %d, foreach %d: %.0f ms for the five calls\n",
            src, ttshm_state_name(st.state), (unsigned long long)st.generation, c.stats, c.snapshot,
            c.lookup, c.foreach, ms);
    CHILD_CHECK(src == 0 && st.state == TTSHM_STATE_DIED, "status must say died");
    CHILD_CHECK(ms < 2500, "five reader calls took %.0f ms with no writer to wait for", ms);
    ttshm_reader_close(r);
}

static void test_died_mid_start(void)
{
    char reg[48];
    ttshm_test_registry(reg, "midstart");
    make_segment(reg, 10, 0x100000, false);
    char path[256];
    obj_name(path, sizeof path, reg, "");
    int fd = open(path, O_RDWR);
    CU_ASSERT_FATAL(fd >= 0);
    struct ttshm_header *h = mmap(NULL, sizeof *h, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CU_ASSERT_FATAL(h != MAP_FAILED);
    atomic_fetch_add(&h->seq, 1); /* what a writer killed inside its takeover leaves */
    munmap(h, sizeof *h);
    close(fd);
    CU_ASSERT(in_child("died mid-start", died_mid_start_child, reg));
    const char *bin = getenv("TTSHM_TEST_BIN_DIR");
    char cli[1024];
    snprintf(cli, sizeof cli, "%s/reader/stat/tt-shm-stat", bin ? bin : "build");
    if (access(cli, X_OK) == 0) {
        char out[8192];
        char *argv[] = {cli, "--name", reg, NULL};
        uint64_t t0 = rel_now_ns();
        int st = rel_run_capture(argv, NULL, out, sizeof out, 10000); /* killed after 10 s */
        double s = (double)(rel_now_ns() - t0) / 1e9;
        fprintf(stderr, "hostile: tt-shm-stat on it: %.1f s, exit %d, said: %s", s,
                st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1, out);
        CU_ASSERT(st != -1 && WIFEXITED(st));
        CU_ASSERT(s < 5.0);
    }
    ttshm_test_unlink_registry(reg);
}

int main(int argc, char **argv)
{
    rel_parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    static const struct ttshm_test_case cases[] = {
        {"truncated_under_reader", test_truncated_under_reader},
        {"grown_under_reader", test_grown_under_reader},
        {"tables_without_empty_slots", test_full_tables},
        {"replaced_while_read", test_replaced_while_read},
        {"writer_died_mid_start", test_died_mid_start},
        {"tt_shm_stat_exits_3_on_corrupt", test_cli_corrupt},
    };
    TTSHM_TEST_SUITE("torture_hostile", cases);
    return ttshm_test_run();
}
