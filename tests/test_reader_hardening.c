/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The reader against a hostile or dying writer (issue 11, items 12-15, 18,
 * 20; issue 10, item 4): objects truncated under its loads (SIGBUS), sparse
 * objects, slots a live writer leaves BUSY for a while, writers killed while
 * starting or switching tables, a migration listing a key in both tables,
 * objects of other users, and a snapshot into the caller's array. Every
 * reader runs in a forked child under alarm(), so a crash or a hang is a
 * failure with the signal named. Cases needing a second user or a small
 * /dev/shm run in a private mount namespace, and skip when not root.
 */
#include "test_core_util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "layout.h"

#define N         2000 /* buffers of a test segment */
#define SKIP_CODE 77

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            snprintf(msg, len, __VA_ARGS__);                                                       \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

/* ---- segments ---- */

static uint64_t addr_of(int k)
{
    return 0x10000000ull + 0x1000ull * (uint64_t)k;
}

/* A writer with n DRAM buffers and ncb CBs (owner k % 3 at one address
 * each), left open (returned) or closed (NULL). */
static ttshm_writer *make_segment(const char *reg, int n, int ncb, bool keep)
{
    ttshm_test_unlink_registry(reg);
    ttshm_writer *w = NULL;
    if (tu_writer_open(reg, 4096, &w) != 0)
        return NULL;
    for (int k = 0; k < n; k++)
        ttshm_record_alloc(w, 0, TTSHM_DRAM, addr_of(k), 4096, (uint64_t)k);
    for (int k = 0; k < ncb; k++)
        ttshm_record_alloc(w, 1, TTSHM_CB, addr_of(k), 64, (uint64_t)(k % 3));
    if (keep)
        return w;
    ttshm_writer_close(w);
    return NULL;
}

static void seg_name(char *buf, size_t len, const char *reg)
{
    snprintf(buf, len, "ttshm.%s.0", reg);
}

/* A reader of the segment in slot 0 of reg. */
static int open_reader(const char *reg, ttshm_reader **r)
{
    char seg[96];
    seg_name(seg, sizeof seg, reg);
    return ttshm_reader_open(seg, r);
}

/* Maps the header object read-write (the tests play the hostile writer). */
static struct ttshm_header *map_header(const char *reg, int *fd_out)
{
    char name[128];
    snprintf(name, sizeof name, "/ttshm.%s.0", reg);
    int fd = shm_open(name, O_RDWR, 0);
    if (fd < 0)
        return NULL;
    void *p = mmap(NULL, TTSHM_HEADER_OBJECT_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (fd_out)
        *fd_out = fd;
    else
        close(fd);
    return p == MAP_FAILED ? NULL : p;
}

static uint64_t hld(_Atomic uint64_t *p)
{
    return atomic_load_explicit(p, memory_order_relaxed);
}

static void hst(_Atomic uint64_t *p, uint64_t v)
{
    atomic_store_explicit(p, v, memory_order_relaxed);
}

static void table_path(char *buf, size_t len, const char *reg, uint64_t epoch)
{
    snprintf(buf, len, "/dev/shm/ttshm.%s.0.t%llu", reg, (unsigned long long)epoch);
}

/* The epoch of the current table (tables are numbered from a random one). */
static uint64_t cur_epoch(const char *reg)
{
    struct ttshm_header *h = map_header(reg, NULL);
    if (h == NULL)
        return 0;
    uint64_t e = hld(&h->table_epoch);
    munmap(h, TTSHM_HEADER_OBJECT_SIZE);
    return e;
}

static int count_fn(const struct ttshm_entry *e, void *ctx)
{
    (void)e;
    (*(size_t *)ctx)++;
    return 0;
}

/* ---- item 12: objects truncated under the reader's loads ---- */

struct trunc_ctx {
    char path[256];
    size_t seen;
};

/* The first entry truncates the object: the scan goes on into pages that are
 * gone. Without a fault-safe read that is SIGBUS. */
static int truncate_at_first(const struct ttshm_entry *e, void *ctx)
{
    (void)e;
    struct trunc_ctx *c = ctx;
    if (c->seen++ == 0 && truncate(c->path, 0) != 0)
        return -1000;
    return 0;
}

static int sigbus_table_child(void *arg, char *msg, size_t len)
{
    const char *reg = arg;
    ttshm_reader *r;
    int rc = open_reader(reg, &r);
    CHECK(rc == 0, "open: %s", ttshm_strerror(rc));
    struct ttshm_status st = {.struct_size = sizeof st};
    CHECK(ttshm_reader_status(r, &st) == 0, "status");
    struct trunc_ctx c = {.seen = 0};
    table_path(c.path, sizeof c.path, reg, cur_epoch(reg));
    struct stat sb;
    CHECK(stat(c.path, &sb) == 0, "table object %s: %s", c.path, strerror(errno));
    rc = ttshm_reader_foreach(r, truncate_at_first, &c);
    CHECK(rc == -TTSHM_E_CORRUPT, "foreach over a table truncated under it: %d (%zu entries)", rc,
          c.seen);
    struct ttshm_entry *v = NULL;
    size_t n;
    CHECK(ttshm_reader_snapshot(r, &v, &n) == -TTSHM_E_CORRUPT, "later calls refused");
    free(v);
    ttshm_reader_close(r);
    return 0;
}

/* A lookup right after the truncation, within the tick in which sizes are
 * not checked again (docs/format.md section 6): its loads fault. */
static int sigbus_lookup_child(void *arg, char *msg, size_t len)
{
    const char *reg = arg;
    char path[256];
    ttshm_reader *r;
    int rc = open_reader(reg, &r);
    CHECK(rc == 0, "open: %s", ttshm_strerror(rc));
    struct ttshm_entry e;
    CHECK(ttshm_reader_lookup(r, 0, TTSHM_DRAM, addr_of(3), &e) == 0, "lookup");
    table_path(path, sizeof path, reg, cur_epoch(reg));
    CHECK(truncate(path, 0) == 0, "truncate");
    rc = ttshm_reader_lookup(r, 0, TTSHM_DRAM, addr_of(4), &e);
    CHECK(rc == -TTSHM_E_CORRUPT, "lookup in a truncated table: %d", rc);
    ttshm_reader_close(r);
    return 0;
}

/* A scan ends on the header's seq: truncating the header while entries are
 * listed faults on the header mapping. */
static int sigbus_header_child(void *arg, char *msg, size_t len)
{
    const char *reg = arg;
    char seg[96];
    seg_name(seg, sizeof seg, reg);
    ttshm_reader *r;
    int rc = ttshm_reader_open(seg, &r);
    CHECK(rc == 0, "open: %s", ttshm_strerror(rc));
    struct trunc_ctx c = {.seen = 0};
    snprintf(c.path, sizeof c.path, "/dev/shm/%s", seg);
    rc = ttshm_reader_foreach(r, truncate_at_first, &c);
    CHECK(rc == -TTSHM_E_CORRUPT, "foreach with the header truncated under it: %d", rc);
    struct ttshm_status st = {.struct_size = sizeof st};
    CHECK(ttshm_reader_status(r, &st) == -TTSHM_E_CORRUPT, "status after: refused");
    ttshm_reader_close(r);
    return 0;
}

/* A SIGBUS that is not the reader's goes where it went before: to the
 * handler the host installed earlier (with its siginfo), or to the default
 * action (death by SIGBUS). */
static sigjmp_buf host_env;
static volatile sig_atomic_t host_handler_ran;

static void host_handler(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    host_handler_ran = sig == SIGBUS && si->si_code > 0 ? 1 : 2;
    siglongjmp(host_env, 1);
}

/* Maps a file of one page, truncates it, touches it. */
static void own_fault(void)
{
    char path[] = "/dev/shm/ttshm-test-own-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || ftruncate(fd, 4096) != 0)
        _exit(3);
    volatile char *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
    unlink(path);
    if (p == MAP_FAILED || ftruncate(fd, 0) != 0)
        _exit(3);
    (void)p[0];
}

static int chain_child(void *arg, char *msg, size_t len)
{
    const char *reg = arg;
    struct sigaction sa = {.sa_sigaction = host_handler, .sa_flags = SA_SIGINFO};
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGBUS, &sa, NULL) == 0, "sigaction");
    ttshm_reader *r;
    CHECK(open_reader(reg, &r) == 0, "open");
    if (sigsetjmp(host_env, 1) == 0)
        own_fault();
    CHECK(host_handler_ran == 1, "the host's handler did not get its own fault (%d)",
          (int)host_handler_ran);
    host_handler_ran = 0;
    if (sigsetjmp(host_env, 1) == 0)
        kill(getpid(), SIGBUS);
    CHECK(host_handler_ran == 2, "the host's handler did not get a SIGBUS sent by kill");
    size_t n = 0;
    CHECK(ttshm_reader_foreach(r, count_fn, &n) == 0 && n == N, "reader still works");
    ttshm_reader_close(r);
    return 0;
}

static void test_sigbus_truncated_under_reader(void)
{
    char reg[48];
    ttshm_test_registry(reg, "sigbus");
    make_segment(reg, N, 0, false);
    tu_run_child("table truncated during foreach", sigbus_table_child, reg, 30);
    make_segment(reg, N, 0, false);
    tu_run_child("table truncated before a lookup", sigbus_lookup_child, reg, 30);
    make_segment(reg, N, 300, false);
    tu_run_child("header truncated while CBs are read", sigbus_header_child, reg, 30);
    make_segment(reg, N, 0, false);
    tu_run_child("a host's SIGBUS handler still gets its faults", chain_child, reg, 30);
    /* With no handler of the host's, its own fault still kills it by SIGBUS
     * (under a sanitizer, whose handler was there first, it ends as that
     * handler ends it: that is the previous disposition too). */
    struct sigaction before;
    sigaction(SIGBUS, NULL, &before);
    bool dfl = !(before.sa_flags & SA_SIGINFO) && before.sa_handler == SIG_DFL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(30);
        ttshm_reader *r;
        if (open_reader(reg, &r) != 0)
            _exit(2);
        own_fault();
        _exit(0);
    }
    int status = 0;
    tu_wait_child(pid, 35000, &status);
    bool ok = dfl ? WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS
                  : !(WIFEXITED(status) && WEXITSTATUS(status) == 0) &&
                        !(WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM);
    CU_ASSERT(ok);
    if (!ok)
        TTSHM_TEST_FAILF("previous disposition %s: child status 0x%x",
                         dfl ? "default" : "a handler", status);
    ttshm_test_unlink_registry(reg);
}

/* ---- item 13: sparse objects ---- */

/* In a child: a private /dev/shm of `kib` KiB (root only; SKIP_CODE else). */
static void private_shm(const char *what, unsigned kib)
{
    if (geteuid() != 0) {
        fprintf(stderr, "reader: SKIP %s: needs root for a private /dev/shm\n", what);
        _exit(SKIP_CODE);
    }
    char opts[64];
    snprintf(opts, sizeof opts, "size=%uk,mode=1777", kib);
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0) {
        fprintf(stderr, "reader: SKIP %s: private /dev/shm: %s\n", what, strerror(errno));
        _exit(SKIP_CODE);
    }
}

/* Runs fn in a forked child after private_shm; a skip is reported, not failed. */
static void run_private(const char *what, unsigned kib, tu_child_fn fn, void *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(60);
        private_shm(what, kib);
        char msg[768] = "";
        int rc = fn(arg, msg, sizeof msg);
        if (rc)
            fprintf(stderr, "reader: %s: %s\n", what, msg);
        _exit(rc ? 1 : 0);
    }
    int status = 0;
    tu_wait_child(pid, 65000, &status);
    if (WIFEXITED(status) && WEXITSTATUS(status) == SKIP_CODE)
        return;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        TTSHM_TEST_FAILF("%s: child status 0x%x%s", what, status,
                         WIFSIGNALED(status) ? " (killed by a signal)" : "");
}

static uint64_t blocks_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_blocks : 0;
}

/* Replaces the table object by a sparse one of `slots` slots: the table
 * header and the first page of slots written, the rest holes. */
static int make_sparse_table(const char *reg, uint64_t slots)
{
    int hfd;
    struct ttshm_header *h = map_header(reg, &hfd);
    if (h == NULL)
        return -1;
    uint64_t epoch = hld(&h->table_epoch);
    char path[256];
    table_path(path, sizeof path, reg, epoch);
    int fd = open(path, O_RDWR);
    struct ttshm_table_header th;
    int rc = -1;
    if (fd >= 0 && pread(fd, &th, sizeof th, 0) == (ssize_t)sizeof th &&
        ftruncate(fd, (off_t)ttshm_table_bytes(slots)) == 0 &&
        fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096,
                  (off_t)ttshm_table_bytes(slots) - 4096) == 0) {
        hst(&th.nslots, slots);
        hst(&th.slots_offset,
            ttshm_slots_offset(slots)); /* a valid header: only the holes are wrong */
        if (pwrite(fd, &th, sizeof th, 0) == (ssize_t)sizeof th) {
            hst(&h->table_slots, slots);
            rc = 0;
        }
    }
    if (fd >= 0)
        close(fd);
    munmap(h, TTSHM_HEADER_OBJECT_SIZE);
    close(hfd);
    return rc;
}

static int sparse_table_child(void *arg, char *msg, size_t len)
{
    (void)arg;
    char reg[48];
    ttshm_test_registry(reg, "sparse");
    make_segment(reg, 100, 0, false);
    CHECK(make_sparse_table(reg, 1u << 21) == 0, "making a sparse table: %s", strerror(errno));
    char path[256];
    table_path(path, sizeof path, reg, cur_epoch(reg));
    uint64_t before = blocks_of(path);
    ttshm_reader *r;
    int rc = open_reader(reg, &r);
    if (rc == 0) {
        struct ttshm_entry *v = NULL;
        size_t n = 0;
        rc = ttshm_reader_snapshot(r, &v, &n);
        free(v);
        ttshm_reader_close(r);
    }
    CHECK(rc == -TTSHM_E_CORRUPT, "a sparse 2^21-slot table over 4 KiB: %s", ttshm_strerror(rc));
    CHECK(blocks_of(path) == before, "the reader allocated pages of it: %llu -> %llu blocks",
          (unsigned long long)before, (unsigned long long)blocks_of(path));
    return 0;
}

/* A header object with its counters punched out: every page a reader reads
 * would be allocated (or fault when /dev/shm is full). */
static int sparse_header_child(void *arg, char *msg, size_t len)
{
    (void)arg;
    char reg[48], seg[96], path[256];
    ttshm_test_registry(reg, "sparsehdr");
    make_segment(reg, 10, 0, false);
    seg_name(seg, sizeof seg, reg);
    snprintf(path, sizeof path, "/dev/shm/%s", seg);
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0 && fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 8192) == 0,
          "punching the header: %s", strerror(errno));
    close(fd);
    /* Fill /dev/shm, so that a page allocated for a hole is a SIGBUS. */
    fd = open("/dev/shm/filler", O_RDWR | O_CREAT, 0600);
    char page[4096] = {1};
    while (fd >= 0 && write(fd, page, sizeof page) == (ssize_t)sizeof page)
        ;
    ttshm_reader *r;
    int rc = ttshm_reader_open(seg, &r);
    if (rc == 0) {
        struct ttshm_stats st = {.struct_size = sizeof st};
        rc = ttshm_reader_stats(r, &st);
        ttshm_reader_close(r);
    }
    CHECK(rc == -TTSHM_E_CORRUPT, "a sparse header: %s", ttshm_strerror(rc));
    return 0;
}

/* The largest table a header may name, 2^30 slots (36 GiB), over a file of
 * that size that holds one page. */
static int huge_table_child(void *arg, char *msg, size_t len)
{
    (void)arg;
    char reg[48];
    ttshm_test_registry(reg, "huge");
    make_segment(reg, 10, 0, false);
    CHECK(make_sparse_table(reg, TTSHM_MAX_TABLE) == 0, "a sparse 2^30-slot table: %s",
          strerror(errno));
    ttshm_reader *r;
    int rc = open_reader(reg, &r);
    if (rc == 0)
        ttshm_reader_close(r);
    CHECK(rc == -TTSHM_E_CORRUPT, "a sparse 2^30-slot table: %s", ttshm_strerror(rc));
    return 0;
}

static void test_sparse_objects(void)
{
    run_private("sparse 2^21-slot table in a 64 MiB /dev/shm", 64 * 1024, sparse_table_child, NULL);
    run_private("sparse header in a full /dev/shm", 1024, sparse_header_child, NULL);
    run_private("sparse 2^30-slot table", 64 * 1024, huge_table_child, NULL);
}

/* ---- item 14: a live writer's slot BUSY for a while ---- */

struct busy_ctx {
    _Atomic uint32_t *ctl;
    uint32_t busy_ctl; /* what make_busy stored */
    unsigned delay_ms;
};

/* The writer thread, preempted between claim and publish, comes back. */
static void *publish_later(void *arg)
{
    struct busy_ctx *b = arg;
    struct timespec ts = {b->delay_ms / 1000, (long)(b->delay_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    atomic_store_explicit(b->ctl,
                          ttshm_ctl_next(b->busy_ctl, TTSHM_SLOT_LIVE, TTSHM_CTL_FRAG(b->busy_ctl)),
                          memory_order_release);
    return NULL;
}

/* Sets the slot of buffer k BUSY (as a claim does, keeping its hash
 * fragment); returns its control word. */
static _Atomic uint32_t *make_busy(const char *reg, int k, void **map, size_t *maplen,
                                   uint32_t *busy_ctl)
{
    int hfd;
    struct ttshm_header *h = map_header(reg, &hfd);
    if (h == NULL)
        return NULL;
    uint64_t epoch = hld(&h->table_epoch), slots = hld(&h->table_slots);
    munmap(h, TTSHM_HEADER_OBJECT_SIZE);
    close(hfd);
    char path[256];
    table_path(path, sizeof path, reg, epoch);
    int fd = open(path, O_RDWR);
    if (fd < 0)
        return NULL;
    *maplen = ttshm_table_bytes(slots);
    *map = mmap(NULL, *maplen, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (*map == MAP_FAILED)
        return NULL;
    _Atomic uint32_t *ctl = ttshm_table_ctl(*map);
    struct ttshm_slot *s = ttshm_table_slots(*map, slots);
    for (uint64_t i = 0; i < slots; i++) {
        uint32_t c = atomic_load_explicit(&ctl[i], memory_order_relaxed);
        if (TTSHM_CTL_STATE(c) == TTSHM_SLOT_LIVE && hld(&s[i].address) == addr_of(k)) {
            *busy_ctl = ttshm_ctl_next(c, TTSHM_SLOT_BUSY, TTSHM_CTL_FRAG(c));
            atomic_store_explicit(&ctl[i], *busy_ctl, memory_order_release);
            return &ctl[i];
        }
    }
    return NULL;
}

static int busy_live_child(void *arg, char *msg, size_t len)
{
    (void)arg;
    char reg[48];
    ttshm_test_registry(reg, "busy");
    ttshm_writer *w = make_segment(reg, N, 0, true); /* alive: holds the lock */
    CHECK(w != NULL, "writer");
    ttshm_reader *r;
    CHECK(open_reader(reg, &r) == 0, "open");
    void *map;
    size_t maplen;
    struct busy_ctx b = {.delay_ms = 30};
    b.ctl = make_busy(reg, 7, &map, &maplen, &b.busy_ctl);
    CHECK(b.ctl != NULL, "slot of buffer 7");
    pthread_t t;
    pthread_create(&t, NULL, publish_later, &b);
    struct ttshm_entry *v = NULL;
    size_t n = 0;
    int rc = ttshm_reader_snapshot(r, &v, &n);
    uint64_t skipped = ttshm_reader_skipped(r);
    pthread_join(t, NULL);
    free(v);
    CHECK(rc == 0 && n == N && skipped == 0,
          "a slot BUSY for 30 ms under a live writer: rc %d, %zu of %d entries, %llu skipped", rc,
          n, N, (unsigned long long)skipped);
    /* Stuck for good (a hostile live writer): skipped after the bound, and
     * counted, for the snapshot, foreach and the array-less path alike. */
    b.ctl = make_busy(reg, 9, &map, &maplen, &b.busy_ctl);
    rc = ttshm_reader_snapshot(r, &v, &n);
    free(v);
    CHECK(rc == 0 && n == N - 1 && ttshm_reader_skipped(r) == 1,
          "a slot BUSY for good: rc %d, %zu entries, %llu skipped", rc, n,
          (unsigned long long)ttshm_reader_skipped(r));
    n = 0;
    rc = ttshm_reader_foreach(r, count_fn, &n);
    CHECK(rc == 0 && n == N - 1 && ttshm_reader_skipped(r) == 1, "foreach: %zu, %llu skipped", n,
          (unsigned long long)ttshm_reader_skipped(r));
    ttshm_reader_close(r);
    ttshm_writer_close(w);
    ttshm_test_unlink_registry(reg);
    return 0;
}

static void test_busy_slot_of_live_writer(void)
{
    tu_run_child("BUSY slots of a live writer", busy_live_child, NULL, 60);
}

/* ---- item 15: a writer killed while starting, taking over, or switching tables ---- */

static int died_child(void *arg, char *msg, size_t len)
{
    (void)arg;
    char reg[48], seg[96];
    ttshm_test_registry(reg, "died");
    /* A writer recorded 50, then died mid table switch: the header update
     * never finished (seq odd), the lock is gone. */
    make_segment(reg, 50, 0, false);
    int hfd;
    struct ttshm_header *h = map_header(reg, &hfd);
    CHECK(h != NULL, "header");
    hst(&h->state, TTSHM_SEG_READY);
    hst(&h->seq, hld(&h->seq) + 1);
    seg_name(seg, sizeof seg, reg);
    ttshm_reader *r;
    int rc = ttshm_reader_open(seg, &r);
    CHECK(rc == 0, "open (died mid table switch): %s", ttshm_strerror(rc));
    struct ttshm_status st = {.struct_size = sizeof st};
    rc = ttshm_reader_status(r, &st);
    CHECK(rc == 0 && st.state == TTSHM_STATE_DIED && st.generation == 1 && st.registry[0] &&
              st.table_slots != 0,
          "status of a writer that died mid table switch: rc %d state %s generation %llu "
          "registry '%s'",
          rc, ttshm_state_name(st.state), (unsigned long long)st.generation, st.registry);
    struct ttshm_entry *v = NULL;
    size_t n = 0;
    rc = ttshm_reader_snapshot(r, &v, &n);
    free(v);
    CHECK(rc == 0 && n == 50, "its buffers: rc %d, %zu entries", rc, n);
    ttshm_reader_close(r);
    /* Died while taking over: state INIT, seq odd; the previous session's
     * summary (as the header has it) is still shown. */
    hst(&h->state, TTSHM_SEG_INIT);
    hst(&h->prev.generation, 7);
    hst(&h->prev.live_count, 50000);
    hst(&h->prev.state, TTSHM_STATE_DIED);
    rc = ttshm_reader_open(seg, &r);
    CHECK(rc == 0, "open (died taking over): %s", ttshm_strerror(rc));
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    rc = ttshm_reader_status(r, &st);
    CHECK(rc == 0 && st.state == TTSHM_STATE_DIED && st.registry[0] &&
              st.previous.generation == 7 && st.previous.live_count == 50000,
          "status of a writer that died taking over: rc %d state %s registry '%s' previous "
          "generation %llu live %llu",
          rc, ttshm_state_name(st.state), st.registry, (unsigned long long)st.previous.generation,
          (unsigned long long)st.previous.live_count);
    rc = ttshm_reader_snapshot(r, &v, &n);
    free(v);
    CHECK(rc == 0 && n == 0, "a session that never got ready lists nothing: rc %d, %zu", rc, n);
    ttshm_reader_close(r);
    munmap(h, TTSHM_HEADER_OBJECT_SIZE);
    close(hfd);
    ttshm_test_unlink_registry(reg);
    return 0;
}

static void test_writer_died_starting(void)
{
    tu_run_child("writer killed while starting or switching tables", died_child, NULL, 60);
}

/* ---- item 18: a key listed in both tables of a migration ---- */

/* Copies the table object to a new epoch as the new table, with buffer 5 there
 * freed and allocated again (another size); the header names the first as
 * the old table being drained, the copy as the current one. */
static int make_migration(const char *reg)
{
    int hfd;
    struct ttshm_header *h = map_header(reg, &hfd);
    if (h == NULL)
        return -1;
    char p1[256], p2[256];
    uint64_t e1 = hld(&h->table_epoch), e2 = e1 + 1000;
    table_path(p1, sizeof p1, reg, e1);
    table_path(p2, sizeof p2, reg, e2);
    size_t len;
    unsigned char *t = tu_read_file(p1, &len);
    if (t == NULL)
        return -1;
    struct ttshm_table_header *th = (void *)t;
    hst(&th->epoch, e2);
    uint64_t nslots = hld(&th->nslots);
    _Atomic uint32_t *ctl = ttshm_table_ctl(t);
    struct ttshm_slot *s = ttshm_table_slots(t, nslots);
    for (uint64_t i = 0; i < nslots; i++) {
        uint64_t key = hld(&s[i].key);
        if (TTSHM_CTL_STATE(atomic_load_explicit(&ctl[i], memory_order_relaxed)) ==
                TTSHM_SLOT_LIVE &&
            hld(&s[i].address) == addr_of(5) && TTSHM_KEY_TYPE(key) == TTSHM_DRAM)
            hst(&s[i].key, TTSHM_KEY(TTSHM_KEY_DEVICE(key), TTSHM_DRAM, 8192));
    }
    int rc = tu_write_file(p2, t, len);
    free(t);
    int fd = open(p2, O_RDWR);
    if (fd < 0 || posix_fallocate(fd, 0, (off_t)len) != 0)
        rc = -1;
    if (fd >= 0)
        close(fd);
    hst(&h->old_epoch, e1);
    hst(&h->old_slots, nslots);
    hst(&h->table_epoch, e2);
    munmap(h, TTSHM_HEADER_OBJECT_SIZE);
    close(hfd);
    return rc;
}

static int migration_child(void *arg, char *msg, size_t len)
{
    (void)arg;
    char reg[48];
    ttshm_test_registry(reg, "migr");
    make_segment(reg, 100, 30, false);
    CHECK(make_migration(reg) == 0, "forging a migration");
    ttshm_reader *r;
    CHECK(open_reader(reg, &r) == 0, "open");
    struct ttshm_entry *v = NULL;
    size_t n = 0;
    int rc = ttshm_reader_snapshot(r, &v, &n);
    size_t key5 = 0, cbs = 0;
    for (size_t i = 0; i < n; i++) {
        key5 += v[i].type == TTSHM_DRAM && v[i].address == addr_of(5);
        cbs += v[i].type == TTSHM_CB;
    }
    free(v);
    CHECK(rc == 0 && n == 130 && key5 == 1 && cbs == 30,
          "snapshot during a migration: rc %d, %zu entries (130), buffer 5 listed %zu times, %zu "
          "CBs",
          rc, n, key5, cbs);
    n = 0;
    rc = ttshm_reader_foreach(r, count_fn, &n);
    CHECK(rc == 0 && n == 130, "foreach during a migration: rc %d, %zu entries", rc, n);
    ttshm_reader_close(r);
    ttshm_test_unlink_registry(reg);
    return 0;
}

static void test_migration_lists_each_key_once(void)
{
    tu_run_child("a key in both tables of a migration", migration_child, NULL, 60);
}

/* ---- item 20: owners ---- */

#define OTHER_UID 4242
#define USER_UID  4243

static int owners_child(void *arg, char *msg, size_t len)
{
    (void)arg;
    char reg[48], seg[96], path[256];
    /* One registry, three slots: root's (0600), another user's (0600, so
     * unreadable to USER_UID) and USER_UID's own (0644). */
    ttshm_test_registry(reg, "owners");
    make_segment(reg, 10, 0, false);
    seg_name(seg, sizeof seg, reg);
    snprintf(path, sizeof path, "/dev/shm/%s", seg);
    size_t hlen;
    void *hdr = tu_read_file(path, &hlen);
    CHECK(hdr != NULL, "header");
    for (unsigned slot = 1; slot <= 2; slot++) {
        char p[256];
        snprintf(p, sizeof p, "/dev/shm/ttshm.%s.%u", reg, slot);
        CHECK(tu_write_file(p, hdr, hlen) == 0 && chmod(p, slot == 1 ? 0600 : 0644) == 0 &&
                  chown(p, slot == 1 ? OTHER_UID : USER_UID, 0) == 0,
              "planting %s: %s", p, strerror(errno));
    }
    free(hdr);
    struct ttshm_segment_info info[8];
    size_t found = 0;
    CHECK(ttshm_list(reg, info, 8, &found) == 0 && found == 3, "root lists all: %zu", found);
    CHECK(ttshm_list_flags(reg, TTSHM_LIST_ALL_USERS, info, 8, &found) == 0 && found == 3 &&
              info[1].owner_uid == OTHER_UID && info[2].owner_uid == USER_UID && info[0].flags == 0,
          "root, all users: %zu, owners %u %u", found, info[1].owner_uid, info[2].owner_uid);
    /* A table object of another owner than its header: planted. */
    char tp[256];
    table_path(tp, sizeof tp, reg, cur_epoch(reg));
    CHECK(chown(tp, OTHER_UID, 0) == 0, "chown");
    ttshm_reader *r;
    int rc = ttshm_reader_open(seg, &r);
    CHECK(rc == -TTSHM_E_ACCESS, "a table of another owner: %s", ttshm_strerror(rc));
    CHECK(chown(tp, 0, 0) == 0, "chown back");
    pid_t pid = fork();
    if (pid == 0) {
        if (setresgid(USER_UID, USER_UID, USER_UID) != 0 ||
            setresuid(USER_UID, USER_UID, USER_UID) != 0)
            _exit(3);
        found = 0;
        if (ttshm_list(reg, info, 8, &found) != 0 || found != 1 || info[0].slot != 2 ||
            info[0].owner_uid != USER_UID)
            _exit(4); /* only its own */
        if (ttshm_list_flags(reg, TTSHM_LIST_ALL_USERS, info, 8, &found) != 0 || found != 3 ||
            info[0].flags != TTSHM_SEGMENT_UNREADABLE ||
            info[1].flags != TTSHM_SEGMENT_UNREADABLE || info[1].owner_uid != OTHER_UID ||
            info[2].flags != 0)
            _exit(5); /* everyone's, saying which it cannot open */
        _exit(0);
    }
    int status = 0;
    tu_wait_child(pid, 30000, &status);
    for (unsigned slot = 1; slot <= 2; slot++) {
        char p[256];
        snprintf(p, sizeof p, "/dev/shm/ttshm.%s.%u", reg, slot);
        unlink(p);
    }
    ttshm_test_unlink_registry(reg);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "as uid %d: status 0x%x (3: setresuid, 4: default list, 5: all users)", USER_UID, status);
    return 0;
}

static void test_owners(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "reader: SKIP owners: needs root to plant objects of other users\n");
        return;
    }
    tu_run_child("objects of other users", owners_child, NULL, 60);
}

/* ---- issue 10 item 4: a snapshot into the caller's array ---- */

static int into_child(void *arg, char *msg, size_t len)
{
    (void)arg;
    char reg[48];
    ttshm_test_registry(reg, "into");
    make_segment(reg, N, 0, false);
    ttshm_reader *r;
    CHECK(open_reader(reg, &r) == 0, "open");
    struct ttshm_entry *buf = calloc(N, sizeof *buf), *v = NULL;
    size_t n = 0, m = 0;
    int rc = ttshm_reader_snapshot_into(r, buf, N / 2, &n);
    CHECK(rc == -TTSHM_E_NOSPC && n == N, "half the room: rc %d, %zu found", rc, n);
    rc = ttshm_reader_snapshot_into(r, buf, N, &n);
    CHECK(rc == 0 && n == N, "room for all: rc %d, %zu", rc, n);
    CHECK(ttshm_reader_snapshot(r, &v, &m) == 0 && m == N, "snapshot");
    qsort(buf, n, sizeof *buf, tu_entry_cmp);
    qsort(v, m, sizeof *v, tu_entry_cmp);
    CHECK(memcmp(buf, v, n * sizeof *v) == 0, "the two snapshots differ");
    free(v);
    free(buf);
    ttshm_reader_close(r);
    ttshm_test_unlink_registry(reg);
    return 0;
}

static void test_snapshot_into(void)
{
    tu_run_child("snapshot into the caller's array", into_child, NULL, 60);
}

/* foreach streams while the writer grows its table under it (the first
 * entry's callback records enough to start a migration): every buffer live
 * throughout is listed once, and no key twice, across the passes a table
 * switch makes. */
struct switch_ctx {
    ttshm_writer *w;
    unsigned char seen[N];
    size_t calls, dups, more;
};

static int grow_then_count(const struct ttshm_entry *e, void *arg)
{
    struct switch_ctx *c = arg;
    if (c->calls++ == 0)
        for (int k = N; k < 4 * N; k++)
            ttshm_record_alloc(c->w, 0, TTSHM_DRAM, addr_of(k), 4096, (uint64_t)k);
    uint64_t k = (e->address - addr_of(0)) / 0x1000;
    if (k < N)
        c->dups += c->seen[k]++ != 0;
    else
        c->more++;
    return 0;
}

static int switch_child(void *arg, char *msg, size_t len)
{
    (void)arg;
    char reg[48];
    ttshm_test_registry(reg, "switch");
    struct switch_ctx *c = calloc(1, sizeof *c);
    c->w = make_segment(reg, N, 0, true);
    CHECK(c->w != NULL, "writer");
    ttshm_reader *r;
    CHECK(open_reader(reg, &r) == 0, "open");
    struct ttshm_status st = {.struct_size = sizeof st};
    CHECK(ttshm_reader_status(r, &st) == 0, "status");
    uint64_t slots_before = st.table_slots;
    int rc = ttshm_reader_foreach(r, grow_then_count, c);
    size_t missing = 0;
    for (int k = 0; k < N; k++)
        missing += c->seen[k] == 0;
    CHECK(ttshm_reader_status(r, &st) == 0 && st.table_slots > slots_before,
          "the table did not grow (%llu slots)", (unsigned long long)st.table_slots);
    CHECK(rc == 0 && missing == 0 && c->dups == 0,
          "foreach across a table switch: rc %d, %zu of %d missing, %zu listed twice, %zu new", rc,
          missing, N, c->dups, c->more);
    ttshm_reader_close(r);
    ttshm_writer_close(c->w);
    free(c);
    ttshm_test_unlink_registry(reg);
    return 0;
}

static void test_foreach_across_table_switch(void)
{
    tu_run_child("foreach across a table switch", switch_child, NULL, 60);
}

int main(void)
{
    static const struct ttshm_test_case cases[] = {
        {"sigbus_truncated_under_reader", test_sigbus_truncated_under_reader},
        {"sparse_objects", test_sparse_objects},
        {"busy_slot_of_live_writer", test_busy_slot_of_live_writer},
        {"writer_died_starting", test_writer_died_starting},
        {"migration_lists_each_key_once", test_migration_lists_each_key_once},
        {"owners", test_owners},
        {"snapshot_into", test_snapshot_into},
        {"foreach_across_table_switch", test_foreach_across_table_switch},
    };
    TTSHM_TEST_SUITE("reader_hardening", cases);
    int rc = ttshm_test_run();
    ttshm_test_unlink_own_registries();
    return rc;
}
