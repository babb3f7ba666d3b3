/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The host process is never killed or hung by the writer (issue 11, items
 * 1-7, 9, 11, 19). Each case runs in a child process of its own, under a
 * deadline: a signal or a hang of the child is the failure being tested for.
 * `test_host <case>` runs one case (ctest runs each as a test of its own);
 * without an argument every case runs. The long version (`make stress`,
 * TTSHM_LONG=1) runs 200 cancellation rounds, 5,000 forks while opening and
 * 3,000 forks during growth. Cases that need root (a memory
 * cgroup, a small tmpfs in a private mount namespace, a second uid) skip
 * with the reason otherwise.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "layout.h"
#include "reliability/common.h"
#include "ttshm/reader.h"
#include "ttshm/writer.h"

#define PASS 0
#define FAIL 1
#define SKIP 77

static char reg[48];

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "host: FAILED (%s:%d): ", __FILE__, __LINE__);                         \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            return FAIL;                                                                           \
        }                                                                                          \
    } while (0)

/* Runs fn in a child; a signal, a hang past timeout_s or a failure fails. */
static void run_case(const char *what, int (*fn)(void), int timeout_s)
{
    fflush(NULL);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0)
        _exit(fn());
    int status = 0;
    int rc = rel_wait_child(pid, timeout_s * 1000, &status);
    char desc[64];
    rel_describe_status(status, desc, sizeof desc);
    if (rc == 0 && WIFEXITED(status) && WEXITSTATUS(status) == SKIP) {
        fprintf(stderr, "host: %s: SKIPPED\n", what);
        CU_PASS("skipped");
    } else if (rc != 0) {
        TTSHM_TEST_FAILF("%s: the host hung (killed after %d s)", what, timeout_s);
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != PASS) {
        TTSHM_TEST_FAILF("%s: the host %s", what, desc);
    } else {
        fprintf(stderr, "host: %s: ok\n", what);
    }
    ttshm_test_unlink_registry(reg);
}

static ttshm_writer *open_writer(uint64_t initial_slots)
{
    ttshm_writer *w = NULL;
    struct ttshm_writer_config cfg = {
        .struct_size = sizeof cfg, .name = reg, .initial_slots = initial_slots};
    return ttshm_writer_open(&cfg, &w) == 0 ? w : NULL;
}

/* Counters of device 0 x DRAM in slot `slot` of reg. 0 or -TTSHM_E_*. */
static int dram_counters(unsigned slot, struct ttshm_counters *c)
{
    ttshm_reader *r = NULL;
    int rc = rel_reader_open(reg, slot, &r, 5000);
    if (rc != 0)
        return rc;
    static struct ttshm_stats st;
    st.struct_size = sizeof st;
    rc = ttshm_reader_stats(r, &st);
    ttshm_reader_close(r);
    *c = st.dev[0][TTSHM_DRAM];
    return rc;
}

/* Records n new DRAM buffers from address base on; counts the outcomes. */
static void alloc_many(ttshm_writer *w, uint64_t base, uint64_t n, uint64_t *recorded,
                       uint64_t *dropped)
{
    for (uint64_t i = 0; i < n; i++) {
        enum ttshm_result res = ttshm_record_alloc(w, 0, TTSHM_DRAM, (base + i) << 6, 64, i);
        *recorded += res == TTSHM_RECORDED;
        *dropped += res == TTSHM_DROPPED;
    }
}

/* ---- 1. RLIMIT_FSIZE: no SIGXFSZ at open nor at growth ---- */

static int fsize_case(void)
{
    /* The soft limit only: lowering the hard one could not be undone. */
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_FSIZE, &rl) == 0, "getrlimit");
    /* The header object, then a first table of 1 MiB, past the limit. */
    static const uint64_t limits[] = {TTSHM_HEADER_OBJECT_SIZE - 1, 512 * 1024};
    for (int i = 0; i < 2; i++) {
        rl.rlim_cur = limits[i];
        CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0, "setrlimit: %s", strerror(errno));
        ttshm_writer *w = open_writer(16384);
        CHECK(w == NULL, "open under a %llu-byte RLIMIT_FSIZE succeeded",
              (unsigned long long)limits[i]);
        CHECK(ttshm_test_count_objects(reg) == 0, "objects left behind");
    }

    rl.rlim_cur = 4 << 20;
    CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0, "setrlimit: %s", strerror(errno));
    ttshm_writer *w = open_writer(16384);
    CHECK(w != NULL, "open under ulimit -f 4096");
    uint64_t recorded = 0, dropped = 0;
    alloc_many(w, 0, 200000, &recorded, &dropped); /* tables of 4 MiB and more do not fit */
    ttshm_writer_close(w);
    struct ttshm_counters c;
    CHECK(dram_counters(0, &c) == 0, "reader");
    CHECK(dropped > 0 && recorded > 0 && c.dropped == dropped && c.live_count == recorded,
          "recorded %llu dropped %llu; counters: live %llu dropped %llu",
          (unsigned long long)recorded, (unsigned long long)dropped,
          (unsigned long long)c.live_count, (unsigned long long)c.dropped);
    return PASS;
}

static void test_sigxfsz(void)
{
    run_case("RLIMIT_FSIZE at open and at growth (item 1)", fsize_case, 120);
}

/* ---- 2. memory cgroup: growth fails, the OOM killer stays away ---- */

static char cg_dir[512];

/* A new memory cgroup under ours with a limit of `bytes`: v2 or v1. */
static int make_memcg(uint64_t bytes)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (f == NULL)
        return -1;
    char line[1024], base[600] = "";
    const char *limit_file = NULL;
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        char *c = strchr(line, ':'), *p = c ? strchr(c + 1, ':') : NULL;
        if (p == NULL)
            continue;
        *p++ = '\0';
        if (c[1] == '\0' && access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0) {
            snprintf(base, sizeof base, "/sys/fs/cgroup%s", p);
            limit_file = "memory.max";
        } else if (strstr(c + 1, "memory") != NULL) {
            snprintf(base, sizeof base, "/sys/fs/cgroup/memory%s", p);
            limit_file = "memory.limit_in_bytes";
            break;
        }
    }
    fclose(f);
    if (limit_file == NULL)
        return -1;
    snprintf(cg_dir, sizeof cg_dir, "%.480s/ttshm-test-%d", base, (int)getpid());
    if (mkdir(cg_dir, 0755) != 0)
        return -1;
    char path[600], val[32];
    snprintf(path, sizeof path, "%s/%s", cg_dir, limit_file);
    snprintf(val, sizeof val, "%llu", (unsigned long long)bytes);
    int fd = open(path, O_WRONLY);
    bool ok = fd >= 0 && write(fd, val, strlen(val)) == (ssize_t)strlen(val);
    if (fd >= 0)
        close(fd);
    if (!ok) {
        rmdir(cg_dir);
        return -1;
    }
    return 0;
}

static int enter_memcg(void)
{
    char path[600], val[32];
    snprintf(path, sizeof path, "%s/cgroup.procs", cg_dir);
    snprintf(val, sizeof val, "%d", (int)getpid());
    int fd = open(path, O_WRONLY);
    bool ok = fd >= 0 && write(fd, val, strlen(val)) == (ssize_t)strlen(val);
    if (fd >= 0)
        close(fd);
    return ok ? 0 : -1;
}

static int memcg_case(void)
{
    CHECK(enter_memcg() == 0, "entering %s: %s", cg_dir, strerror(errno));
    ttshm_writer *w = open_writer(16384);
    CHECK(w != NULL, "open in a 48 MiB cgroup");
    /* 1M live records want a table of 2M slots (72 MiB), and growing to it
     * maps the 1M-slot table beside it. */
    uint64_t recorded = 0, dropped = 0;
    alloc_many(w, 0, 1000000, &recorded, &dropped);
    ttshm_writer_close(w);
    struct ttshm_counters c;
    CHECK(dram_counters(0, &c) == 0, "reader");
    fprintf(stderr, "host: memcg: recorded %llu, dropped %llu\n", (unsigned long long)recorded,
            (unsigned long long)dropped);
    CHECK(dropped > 0 && c.dropped == dropped && c.live_count == recorded,
          "recorded %llu dropped %llu; counters: live %llu dropped %llu",
          (unsigned long long)recorded, (unsigned long long)dropped,
          (unsigned long long)c.live_count, (unsigned long long)c.dropped);
    return PASS;
}

static void test_memcg(void)
{
    if (rel_tsan()) {
        /* TSan's shadow of the tables the host touches is charged too. */
        fprintf(stderr, "host: memory cgroup: SKIPPED under TSan (its shadow memory counts)\n");
        CU_PASS("skipped");
        return;
    }
    if (geteuid() != 0 || make_memcg(48ull << 20) != 0) {
        fprintf(stderr, "host: memory cgroup: SKIPPED: cannot make a memory cgroup (%s)\n",
                geteuid() != 0 ? "needs root" : strerror(errno));
        CU_PASS("skipped");
        return;
    }
    run_case("growth in a memory cgroup of 48 MiB (item 2)", memcg_case, 300);
    for (int i = 0; i < 50 && rmdir(cg_dir) != 0 && errno == EBUSY; i++)
        rel_sleep_us(100000); /* the child's exit is being accounted */
}

/* ---- 4. pthread_cancel inside a recording call ---- */

static ttshm_writer *cancel_w;

#if defined(__SANITIZE_ADDRESS__)
#define HOST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HOST_ASAN 1
#endif
#endif
#ifdef HOST_ASAN
#include <sanitizer/asan_interface.h>
#endif

/* Under ASan: the forced unwind of a cancellation skips the epilogues that
 * unpoison the frames' redzones, and the thread's exit (liburcu's TSD
 * destructor) then writes over them: a false report. Unpoison the dying
 * thread's stack. */
static void unpoison_stack(void *arg)
{
    (void)arg;
#ifdef HOST_ASAN
    pthread_attr_t a;
    void *base;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &a) == 0) {
        if (pthread_attr_getstack(&a, &base, &size) == 0)
            __asan_unpoison_memory_region(base, size);
        pthread_attr_destroy(&a);
    }
#endif
}

/* Cancelled from the start: acts at the first cancellation point a
 * recording call reaches (growth makes tables, names threads). */
static void *cancelled_thread(void *arg)
{
    (void)arg;
    pthread_cleanup_push(unpoison_stack, NULL);
    pthread_cancel(pthread_self());
    uint64_t recorded = 0, dropped = 0;
    alloc_many(cancel_w, 1ull << 40, 50000, &recorded, &dropped);
    pthread_testcancel();
    pthread_cleanup_pop(0);
    return NULL;
}

static int cancel_case(void)
{
    cancel_w = open_writer(1024);
    CHECK(cancel_w != NULL, "open");
    for (int round = 0, rounds = rel_long_mode() ? 200 : 8; round < rounds; round++) {
        pthread_t t;
        CHECK(pthread_create(&t, NULL, cancelled_thread, NULL) == 0, "pthread_create");
        void *ret;
        pthread_join(t, &ret);
        CHECK(ret == PTHREAD_CANCELED, "the thread was not cancelled");
        /* Growth, migration and the background threads still work. */
        uint64_t recorded = 0, dropped = 0;
        alloc_many(cancel_w, (uint64_t)round << 20, 50000, &recorded, &dropped);
        CHECK(recorded == 50000, "round %d: %llu of 50000 recorded", round,
              (unsigned long long)recorded);
        for (uint64_t i = 0; i < 50000; i++)
            ttshm_record_free(cancel_w, 0, TTSHM_DRAM, (((uint64_t)round << 20) + i) << 6);
    }
    ttshm_writer_close(cancel_w); /* joins the background threads */
    return PASS;
}

static void test_cancel(void)
{
    run_case("pthread_cancel inside recording calls (item 4)", cancel_case, 120);
}

/* ---- 5. fork while another thread opens and closes writers ---- */

static _Atomic int churn_stop;

static void *open_close_thread(void *arg)
{
    (void)arg;
    while (!atomic_load(&churn_stop)) {
        /* Long opens (16k slots) catch the race most often; the long run's
         * 5,000 forks use the smallest table, as each fork waits for an open
         * in progress (16k slots: ~150 ms a fork on 2 busy CPUs). */
        ttshm_writer *w = open_writer(rel_long_mode() ? 1024 : 16384);
        ttshm_record_alloc(w, 0, TTSHM_DRAM, 64, 64, 0);
        ttshm_writer_close(w);
    }
    return NULL;
}

/* In the child: does it hold the header object (a descriptor or a mapping,
 * either of which keeps the parent's OFD lock, i.e. "alive")? */
static bool holds_header(void)
{
    char want[128];
    snprintf(want, sizeof want, "/dev/shm/ttshm.%s.0", reg);
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    bool held = false;
    while (d != NULL && (e = readdir(d)) != NULL) {
        char link[300], target[300];
        snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n > 0) {
            target[n] = '\0';
            held |= strcmp(target, want) == 0;
        }
    }
    if (d != NULL)
        closedir(d);
    FILE *f = fopen("/proc/self/maps", "re");
    char line[512];
    size_t len = strlen(want);
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        char *p = strstr(line, want);
        held |= p != NULL && (p[len] == '\n' || p[len] == ' ' || p[len] == '\0');
    }
    if (f != NULL)
        fclose(f);
    return held;
}

static int fork_open_case(void)
{
    pthread_t t;
    CHECK(pthread_create(&t, NULL, open_close_thread, NULL) == 0, "pthread_create");
    int held = 0, forks = rel_long_mode() ? 5000 : 300;
    for (int i = 0; i < forks; i++) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(holds_header() ? 1 : 0);
        int st;
        CHECK(pid > 0 && rel_wait_child(pid, 10000, &st) == 0, "child hung");
        held += WIFEXITED(st) && WEXITSTATUS(st) == 1;
    }
    atomic_store(&churn_stop, 1);
    pthread_join(t, NULL);
    CHECK(held == 0, "%d of %d children forked while a writer opened held its header", held, forks);
    return PASS;
}

static void test_fork_open(void)
{
    run_case("fork while another thread opens writers (item 5)", fork_open_case, 180);
}

/* ---- 6. fork during growth, then close in the child ---- */

static ttshm_writer *growing_w;

static void *growth_thread(void *arg)
{
    (void)arg;
    for (uint64_t round = 0; !atomic_load(&churn_stop); round++) {
        uint64_t recorded = 0, dropped = 0;
        alloc_many(growing_w, round << 20, 20000, &recorded, &dropped);
        for (uint64_t i = 0; i < 20000; i++)
            ttshm_record_free(growing_w, 0, TTSHM_DRAM, ((round << 20) + i) << 6);
    }
    return NULL;
}

static int fork_close_case(void)
{
    growing_w = open_writer(1024);
    CHECK(growing_w != NULL, "open");
    pthread_t t;
    CHECK(pthread_create(&t, NULL, growth_thread, NULL) == 0, "pthread_create");
    int hung = 0, forks = rel_long_mode() ? 3000 : 200;
    for (int i = 0; i < forks; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            ttshm_writer_close(growing_w);
            _exit(0);
        }
        int st;
        CHECK(pid > 0, "fork");
        hung += rel_wait_child(pid, 10000, &st) != 0;
    }
    atomic_store(&churn_stop, 1);
    pthread_join(t, NULL);
    ttshm_writer_close(growing_w);
    CHECK(hung == 0, "%d of %d children closing the writer after fork hung", hung, forks);
    return PASS;
}

static void test_fork_close(void)
{
    run_case("fork during growth, then close in the child (item 6)", fork_close_case, 300);
}

/* ---- 7. full /dev/shm: drops cost almost nothing ---- */

/* In the child: a private /dev/shm of `kib` KiB. false (with the reason
 * printed) when impossible. */
static bool private_shm(size_t kib)
{
    char opts[64];
    snprintf(opts, sizeof opts, "size=%zuk,mode=1777", kib);
    if (geteuid() != 0 || unshare(CLONE_NEWNS) != 0 ||
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0) {
        fprintf(stderr, "host: SKIP: a private tmpfs over /dev/shm: %s\n",
                geteuid() != 0 ? "needs root" : strerror(errno));
        return false;
    }
    return true;
}

static uint64_t table_epoch(void)
{
    char path[128];
    snprintf(path, sizeof path, "/dev/shm/ttshm.%s.0", reg);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    void *p = mmap(NULL, sizeof(struct ttshm_header), PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return 0;
    uint64_t e = atomic_load(&((struct ttshm_header *)p)->table_epoch);
    munmap(p, sizeof(struct ttshm_header));
    return e;
}

static int full_shm_case(void)
{
    if (!private_shm(16384))
        return SKIP;
    /* 15 MiB of filler: the first table (0.6 MiB) fits, the next (1.2 MiB) not. */
    int filler = open("/dev/shm/filler", O_RDWR | O_CREAT, 0600);
    CHECK(filler >= 0 && posix_fallocate(filler, 0, 15 << 20) == 0, "filler");
    ttshm_writer *w = open_writer(16384);
    CHECK(w != NULL, "open");
    uint64_t first_epoch = table_epoch(), recorded = 0, dropped = 0;
    alloc_many(w, 0, 16384, &recorded, &dropped); /* fills the table: growth fails */
    CHECK(dropped > 0, "no drop with /dev/shm full");
    uint64_t t0 = rel_now_ns(), n = 200000;
    alloc_many(w, 1u << 20, n, &recorded, &dropped);
    uint64_t elapsed = rel_now_ns() - t0;
    fprintf(stderr, "host: full /dev/shm: %.2f us per dropped alloc\n", elapsed / 1e3 / (double)n);
    /* Room again: after the longest wait a claim grows the table, and the
     * epoch it takes tells how many table objects were tried meanwhile. */
    close(filler);
    unlink("/dev/shm/filler");
    rel_sleep_us(1100000);
    uint64_t before = recorded;
    alloc_many(w, 1u << 22, 1000, &recorded, &dropped);
    uint64_t tries = table_epoch() - first_epoch;
    ttshm_writer_close(w);
    CHECK(recorded - before == 1000, "after room came back: %llu of 1000 recorded",
          (unsigned long long)(recorded - before));
    /* Failures in a row wait 1 ms, doubled up to 1 s: at most a dozen tries
     * in the first second, one a second after; two more for the prepared
     * table. */
    uint64_t bound = 16 + 2 * (elapsed / 1000000000ull);
    CHECK(tries <= bound, "%llu table creations tried for %llu drops in %.1f s (bound %llu)",
          (unsigned long long)tries, (unsigned long long)n, elapsed / 1e9,
          (unsigned long long)bound);
    return PASS;
}

static void test_full_shm(void)
{
    run_case("full /dev/shm: a failed growth is retried after a wait (item 7)", full_shm_case, 120);
}

/* ---- 9. frees in the host's exit-time teardown ---- */

static int teardown_pipe[2];

static void host_teardown(void)
{
    ttshm_writer *w = ttshm_default_writer();
    unsigned not_recorded = 0;
    for (uint64_t i = 0; i < 100; i++)
        not_recorded += ttshm_record_free(w, 0, TTSHM_DRAM, (i + 1) << 12) != TTSHM_RECORDED;
    if (write(teardown_pipe[1], &not_recorded, sizeof not_recorded) != sizeof not_recorded)
        _exit(3);
}

static int exit_case(void)
{
    /* Registered before the writer's first use, so it runs after anything
     * the writer could register at first use. */
    atexit(host_teardown);
    setenv("TT_SHM_NAME", reg, 1);
    unsetenv("TT_SHM_TRACKING");
    ttshm_writer *w = ttshm_default_writer();
    CHECK(w != NULL, "default writer");
    for (uint64_t i = 0; i < 100; i++)
        ttshm_record_alloc(w, 0, TTSHM_DRAM, (i + 1) << 12, 4096, i);
    exit(PASS);
}

/* The host exits with the writer's first use after its teardown handler
 * was registered; then the segment says: exited, every free recorded,
 * nothing live (no leak). */
static int exit_state_case(void)
{
    CHECK(pipe(teardown_pipe) == 0, "pipe");
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        _exit(exit_case());
    int st;
    CHECK(rel_wait_child(pid, 30000, &st) == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "host exit");
    unsigned not_recorded = 1000;
    CHECK(rel_read_full(teardown_pipe[0], &not_recorded, sizeof not_recorded, 1000) == 0,
          "teardown handler did not run");
    CHECK(not_recorded == 0, "%u of 100 frees at exit not recorded", not_recorded);
    ttshm_reader *r = NULL;
    CHECK(rel_reader_open(reg, 0, &r, 5000) == 0, "reader");
    struct ttshm_status s = {.struct_size = sizeof s};
    CHECK(ttshm_reader_status(r, &s) == 0, "status");
    ttshm_reader_close(r);
    struct ttshm_counters c;
    CHECK(dram_counters(0, &c) == 0, "stats");
    CHECK(s.state == TTSHM_STATE_EXITED && c.live_count == 0 && c.frees == 100,
          "after exit: state %s, %llu live (leaks), %llu frees; want exited, 0, 100",
          ttshm_state_name((enum ttshm_writer_state)s.state), (unsigned long long)c.live_count,
          (unsigned long long)c.frees);
    return PASS;
}

static void test_exit_teardown(void)
{
    run_case("frees in an atexit handler registered before the writer's first use (item 9)",
             exit_state_case, 60);
}

/* ---- 11. absurd sizes ---- */

static int huge_case(void)
{
    ttshm_writer *w = open_writer(1024);
    CHECK(w != NULL, "open");
    static const uint64_t absurd[] = {UINT64_MAX, UINT64_MAX - 4095, 1ull << 63, (1ull << 48) + 1};
    for (size_t i = 0; i < sizeof absurd / sizeof absurd[0]; i++) {
        enum ttshm_result res =
            ttshm_record_alloc(w, 0, TTSHM_DRAM, 0x1000 * (i + 1), absurd[i], 0);
        CHECK(res == TTSHM_DROPPED, "size %#llx: result %d, want DROPPED",
              (unsigned long long)absurd[i], res);
    }
    CHECK(ttshm_record_alloc(w, 0, TTSHM_DRAM, 0x100000, 1ull << 48, 0) == TTSHM_RECORDED,
          "the largest size allowed");
    CHECK(ttshm_record_alloc(w, 0, TTSHM_DRAM, 0x200000, 4096, 0) == TTSHM_RECORDED, "4 KiB");
    struct ttshm_counters c;
    CHECK(dram_counters(0, &c) == 0, "reader");
    ttshm_writer_close(w);
    CHECK(c.dropped == 4 && c.live_count == 2 && c.live_bytes == (1ull << 48) + 4096 &&
              c.alloc_bytes == c.live_bytes && c.peak_bytes == c.live_bytes,
          "counters: dropped %llu live %llu bytes %llu alloc_bytes %llu peak %llu",
          (unsigned long long)c.dropped, (unsigned long long)c.live_count,
          (unsigned long long)c.live_bytes, (unsigned long long)c.alloc_bytes,
          (unsigned long long)c.peak_bytes);
    return PASS;
}

static void test_huge_sizes(void)
{
    run_case("sizes near 2^64 are bad input (item 11)", huge_case, 60);
}

/* ---- 19. another user's objects under our names ---- */

#define NOBODY 65534
#define VICTIM 1000

static int as_uid(uid_t uid)
{
    return setgroups(0, NULL) == 0 && setresgid(uid, uid, uid) == 0 && setresuid(uid, uid, uid) == 0
               ? 0
               : -1;
}

static void plant(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd >= 0) {
        ssize_t k = write(fd, "planted", 7);
        (void)k;
        close(fd);
    }
}

/* Runs fn as uid in a child; its exit status. */
static int in_child_as(uid_t uid, int (*fn)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        _exit(as_uid(uid) == 0 ? fn() : SKIP);
    int st;
    if (rel_wait_child(pid, 60000, &st) != 0 || !WIFEXITED(st))
        return FAIL;
    return WEXITSTATUS(st);
}

/* As another user: the header names of slots 0 and 1, and the table names
 * of the first epochs of slots 0-2. */
static int squat_names(void)
{
    for (int slot = 0; slot < 3; slot++) {
        char name[128];
        snprintf(name, sizeof name, "ttshm.%s.%d", reg, slot);
        if (slot < 2)
            plant(name);
        for (int e = 1; e <= 200; e++) {
            snprintf(name, sizeof name, "ttshm.%s.%d.t%d", reg, slot, e);
            plant(name);
        }
    }
    return PASS;
}

static int victim_sync[2], victim_go[2];

/* The victim: tracking on, in slot 2, growing with nothing dropped. Midway
 * the parent (root, who can read the header) plants the next table names. */
static int victim(void)
{
    ttshm_writer *w = open_writer(1024);
    CHECK(w != NULL, "the victim's writer is off");
    const char *seg = ttshm_writer_segment_name(w);
    fprintf(stderr, "host: victim records into %s\n", seg);
    uint64_t recorded = 0, dropped = 0;
    alloc_many(w, 0, 100, &recorded, &dropped);
    char go = 0;
    CHECK(write(victim_sync[1], "p", 1) == 1 && read(victim_go[0], &go, 1) == 1, "sync");
    alloc_many(w, 1000, 100000, &recorded, &dropped);
    ttshm_writer_close(w);
    CHECK(dropped == 0 && recorded == 100100, "recorded %llu, dropped %llu",
          (unsigned long long)recorded, (unsigned long long)dropped);
    return PASS;
}

/* The victim's current table epoch, read by root (the header is private). */
static uint64_t victim_epoch;

static int plant_next_epochs(void)
{
    for (uint64_t e = victim_epoch + 1; e <= victim_epoch + 4; e++) {
        char name[128];
        snprintf(name, sizeof name, "ttshm.%s.2.t%llu", reg, (unsigned long long)e);
        plant(name);
    }
    return PASS;
}

static int squat_case(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "host: SKIP: another user's objects need root\n");
        return SKIP;
    }
    CHECK(in_child_as(NOBODY, squat_names) == PASS, "planting as uid %d", NOBODY);
    CHECK(pipe(victim_sync) == 0 && pipe(victim_go) == 0, "pipe");
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        _exit(as_uid(VICTIM) == 0 ? victim() : SKIP);
    char c;
    CHECK(rel_read_full(victim_sync[0], &c, 1, 30000) == 0, "victim did not start");
    char path[128];
    snprintf(path, sizeof path, "/dev/shm/ttshm.%s.2", reg);
    int fd = open(path, O_RDONLY);
    struct ttshm_header h;
    bool read_ok = fd >= 0 && pread(fd, &h, sizeof h, 0) == (ssize_t)sizeof h;
    if (fd >= 0)
        close(fd);
    victim_epoch = read_ok ? h.table_epoch : 0;
    fflush(NULL);
    pid_t planter = fork();
    if (planter == 0)
        _exit(as_uid(NOBODY) == 0 ? plant_next_epochs() : FAIL);
    int st, planted = rel_wait_child(planter, 30000, &st) == 0 && WIFEXITED(st) &&
                      WEXITSTATUS(st) == PASS;
    /* The victim goes on (and would fail) whatever happened here. */
    CHECK(write(victim_go[1], "g", 1) == 1, "sync");
    CHECK(read_ok, "the victim's header is not in slot 2");
    CHECK(rel_wait_child(pid, 60000, &st) == 0 && WIFEXITED(st), "victim hung or died");
    CHECK(planted, "planting the next epochs");
    return WEXITSTATUS(st);
}

static void test_squatted_names(void)
{
    run_case("another user's objects under our names (item 19)", squat_case, 120);
}

int main(int argc, char **argv)
{
    rel_parse_args(argc, argv);
    static const struct ttshm_test_case cases[] = {
        {"sigxfsz", test_sigxfsz},
        {"memcg", test_memcg},
        {"cancel", test_cancel},
        {"fork_open", test_fork_open},
        {"fork_close", test_fork_close},
        {"full_shm", test_full_shm},
        {"exit_teardown", test_exit_teardown},
        {"huge_sizes", test_huge_sizes},
        {"squatted_names", test_squatted_names},
    };
    ttshm_test_registry(reg, "host");
    const char *only = argc > 1 && strncmp(argv[argc - 1], "--", 2) != 0 ? argv[argc - 1] : NULL;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (only == NULL || strcmp(only, cases[i].name) == 0)
            ttshm_test_add_suite(cases[i].name, &cases[i], 1);
    int rc = ttshm_test_run();
    ttshm_test_unlink_registry(reg);
    return rc;
}
