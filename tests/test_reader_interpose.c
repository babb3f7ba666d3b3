/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reader races and time bounds made deterministic by interposing the C
 * library calls the reader makes (this program defines fcntl, clock_gettime
 * and nanosleep, so the reader library's calls land here):
 *  - issue 11 item 16: a writer that exits cleanly between the reader's two
 *    looks (state, lock) must read as exited, not died: the exit is made to
 *    happen inside the reader's lock test;
 *  - item 17: a writer stopped mid-header-update, or an object whose creator
 *    holds the lock and never finishes: each call returns -TTSHM_E_BUSY
 *    after the header budget of docs/format.md section 6. Time is virtual:
 *    nanosleep adds to a clock offset and returns at once, so the bound is
 *    checked on the time the reader chose to wait, not on the machine's speed.
 *  - the copy guard (wait.h, reader_tick): a reader whose coarse clock
 *    ticks between any two reads (as if preempted mid-copy) accepts no
 *    copy, as the 22-bit slot version may have wrapped meanwhile.
 */
#include "test_core_util.h"

#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "layout.h"
#include "wait.h"

/* ---- interposed calls ---- */

static void (*on_getlk)(void); /* run once, inside the next F_OFD_GETLK */
static atomic_bool virtual_time;
static _Atomic uint64_t slept_ns;     /* virtual time the process chose to sleep */
static _Atomic uint64_t tick_step_ns; /* virtual time that passes at each coarse clock read */

int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    long arg = va_arg(ap, long);
    va_end(ap);
    if (cmd == F_OFD_GETLK && on_getlk != NULL) {
        void (*fn)(void) = on_getlk;
        on_getlk = NULL;
        fn();
    }
    return (int)syscall(SYS_fcntl, fd, cmd, arg);
}

int clock_gettime(clockid_t clk, struct timespec *ts)
{
    int rc = (int)syscall(SYS_clock_gettime, clk, ts);
    if (rc == 0 && atomic_load(&virtual_time)) {
        if (clk == CLOCK_MONOTONIC_COARSE)
            atomic_fetch_add(&slept_ns, atomic_load(&tick_step_ns));
        uint64_t ns =
            (uint64_t)ts->tv_sec * 1000000000ull + (uint64_t)ts->tv_nsec + atomic_load(&slept_ns);
        ts->tv_sec = (time_t)(ns / 1000000000ull);
        ts->tv_nsec = (long)(ns % 1000000000ull);
    }
    return rc;
}

int nanosleep(const struct timespec *req, struct timespec *rem)
{
    if (!atomic_load(&virtual_time))
        return (int)syscall(SYS_nanosleep, req, rem);
    atomic_fetch_add(&slept_ns, (uint64_t)req->tv_sec * 1000000000ull + (uint64_t)req->tv_nsec);
    sched_yield();
    return 0;
}

/* ---- item 16 ---- */

static ttshm_writer *exiting;

static void exit_cleanly_now(void)
{
    ttshm_writer_close(exiting);
    exiting = NULL;
}

static void test_clean_exit_between_looks(void)
{
    char reg[48], seg[96];
    ttshm_test_registry(reg, "exitrace");
    ttshm_test_unlink_registry(reg);
    CU_ASSERT_EQUAL_FATAL(tu_writer_open(reg, 1024, &exiting), 0);
    ttshm_record_alloc(exiting, 0, TTSHM_DRAM, 0x1000, 64, 1);
    snprintf(seg, sizeof seg, "%s", ttshm_writer_segment_name(exiting));
    ttshm_reader *r;
    CU_ASSERT_EQUAL_FATAL(ttshm_reader_open(seg, &r), 0);
    on_getlk = exit_cleanly_now;
    struct ttshm_status st = {.struct_size = sizeof st};
    CU_ASSERT_EQUAL(ttshm_reader_status(r, &st), 0);
    CU_ASSERT(exiting == NULL); /* the exit did happen inside the lock test */
    if (st.state != TTSHM_STATE_EXITED)
        TTSHM_TEST_FAILF("a clean exit during status reads as %s", ttshm_state_name(st.state));
    ttshm_reader_close(r);
    if (exiting)
        ttshm_writer_close(exiting);
    ttshm_test_unlink_registry(reg);
}

/* ---- item 17 ---- */

/* A process that holds the writer's lock on an object and does nothing more
 * (a writer stopped mid-update, or mid-creation). */
static pid_t hold_lock(const char *path)
{
    int ready[2];
    if (pipe(ready) != 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(path, O_RDWR);
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        char ok = fd >= 0 && fcntl(fd, F_OFD_SETLK, &fl) == 0;
        if (write(ready[1], &ok, 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    char ok = 0;
    if (read(ready[0], &ok, 1) != 1 || !ok) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        pid = -1;
    }
    close(ready[0]);
    close(ready[1]);
    return pid;
}

static void release(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* Virtual time one reader call chose to sleep. */
#define SLEPT_BY(call, rc)                                                                         \
    do {                                                                                           \
        uint64_t s0_ = atomic_load(&slept_ns);                                                     \
        atomic_store(&virtual_time, true);                                                         \
        rc = (call);                                                                               \
        atomic_store(&virtual_time, false);                                                        \
        slept = atomic_load(&slept_ns) - s0_;                                                      \
    } while (0)

/* Every wait stops at the budget, give or take one 50 us pause. */
#define WITHIN_BUDGET(ns) ((ns) <= TTSHM_HEADER_BUDGET_NS + 100000)

static void test_stopped_writer_budget(void)
{
    char reg[48], seg[96], path[256];
    ttshm_test_registry(reg, "stopped");
    ttshm_test_unlink_registry(reg);
    ttshm_writer *w;
    CU_ASSERT_EQUAL_FATAL(tu_writer_open(reg, 1024, &w), 0);
    snprintf(seg, sizeof seg, "%s", ttshm_writer_segment_name(w));
    ttshm_writer_close(w);
    ttshm_reader *r;
    CU_ASSERT_EQUAL_FATAL(ttshm_reader_open(seg, &r), 0);
    tu_shm_path(path, sizeof path, seg);
    pid_t holder = hold_lock(path);
    CU_ASSERT_FATAL(holder > 0);
    int fd = open(path, O_RDWR);
    struct ttshm_header *h = mmap(NULL, sizeof *h, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CU_ASSERT_FATAL(h != MAP_FAILED);
    atomic_fetch_add(&h->seq, 1); /* mid-update, and stopped there */
    uint64_t slept;
    int rc;
    struct ttshm_status st = {.struct_size = sizeof st};
    SLEPT_BY(ttshm_reader_status(r, &st), rc);
    CU_ASSERT_EQUAL(rc, -TTSHM_E_BUSY);
    if (!WITHIN_BUDGET(slept))
        TTSHM_TEST_FAILF("status of a stopped writer waited %llu us",
                         (unsigned long long)slept / 1000);
    struct ttshm_entry *v = NULL;
    size_t n;
    SLEPT_BY(ttshm_reader_snapshot(r, &v, &n), rc);
    free(v);
    CU_ASSERT_EQUAL(rc, -TTSHM_E_BUSY);
    if (!WITHIN_BUDGET(slept))
        TTSHM_TEST_FAILF("snapshot of a stopped writer waited %llu us",
                         (unsigned long long)slept / 1000);
    ttshm_reader *r2 = NULL;
    SLEPT_BY(ttshm_reader_open(seg, &r2), rc);
    CU_ASSERT_EQUAL(rc, -TTSHM_E_BUSY);
    if (!WITHIN_BUDGET(slept))
        TTSHM_TEST_FAILF("open of a stopped writer's segment waited %llu us",
                         (unsigned long long)slept / 1000);
    ttshm_reader_close(r2);
    atomic_fetch_add(&h->seq, 1);
    munmap(h, sizeof *h);
    close(fd);
    release(holder);
    ttshm_reader_close(r);

    /* An empty object whose creator holds the lock and never finishes. */
    snprintf(seg, sizeof seg, "ttshm.%s.1", reg);
    tu_shm_path(path, sizeof path, seg);
    CU_ASSERT_EQUAL_FATAL(tu_write_file(path, "", 0), 0);
    holder = hold_lock(path);
    CU_ASSERT_FATAL(holder > 0);
    SLEPT_BY(ttshm_reader_open(seg, &r2), rc);
    CU_ASSERT_EQUAL(rc, -TTSHM_E_BUSY);
    if (!WITHIN_BUDGET(slept))
        TTSHM_TEST_FAILF("open of an object still being created waited %llu us",
                         (unsigned long long)slept / 1000);
    ttshm_reader_close(r2);
    release(holder);
    ttshm_test_unlink_registry(reg);
}

/* ---- the copy window ---- */

#define K_WINDOW 200 /* records: several scan chunks' worth of slots */

static void window_calls(ttshm_reader *r, uint64_t step_ns, int *snap, size_t *n, uint64_t *skipped,
                         int *lookup)
{
    struct ttshm_entry *v = NULL, e;
    atomic_store(&tick_step_ns, step_ns);
    atomic_store(&virtual_time, true);
    *snap = ttshm_reader_snapshot(r, &v, n);
    *skipped = ttshm_reader_skipped(r);
    *lookup = ttshm_reader_lookup(r, 1, TTSHM_L1, 0x10000 * 7, &e);
    atomic_store(&virtual_time, false);
    atomic_store(&tick_step_ns, 0);
    free(v);
}

static void test_copy_window(void)
{
    char reg[48], seg[96];
    ttshm_test_registry(reg, "window");
    ttshm_test_unlink_registry(reg);
    ttshm_writer *w;
    CU_ASSERT_EQUAL_FATAL(tu_writer_open(reg, 1024, &w), 0);
    for (int i = 0; i < K_WINDOW; i++)
        CU_ASSERT_EQUAL(ttshm_record_alloc(w, 1, TTSHM_L1, 0x10000 * (uint64_t)i, 64, 0),
                        TTSHM_RECORDED);
    snprintf(seg, sizeof seg, "%s", ttshm_writer_segment_name(w));
    ttshm_writer_close(w); /* its records stay; no slot waits for it */
    ttshm_reader *r;
    CU_ASSERT_EQUAL_FATAL(ttshm_reader_open(seg, &r), 0);
    int snap, lookup;
    size_t n;
    uint64_t skipped;
    /* A coarse clock that does not tick: every copy holds. */
    window_calls(r, 0, &snap, &n, &skipped, &lookup);
    if (snap != 0 || n != K_WINDOW || skipped != 0 || lookup != 0)
        TTSHM_TEST_FAILF("no tick: snapshot %d, %zu of %d entries, %llu skipped, lookup %d", snap,
                         n, K_WINDOW, (unsigned long long)skipped, lookup);
    /* A tick (1 ms) between any two reads: no copy may be accepted. The
     * slots are retried as if they changed, then skipped and counted; the
     * lookup probes again until its attempts run out. */
    window_calls(r, 1000000, &snap, &n, &skipped, &lookup);
    if (snap != 0 || n != 0 || skipped != K_WINDOW || lookup != -TTSHM_E_BUSY)
        TTSHM_TEST_FAILF("a tick at every read: snapshot %d, %zu entries (0 expected), "
                         "%llu skipped, lookup %d",
                         snap, n, (unsigned long long)skipped, lookup);
    ttshm_reader_close(r);
    ttshm_test_unlink_registry(reg);
}

int main(void)
{
    static const struct ttshm_test_case cases[] = {
        {"clean_exit_between_looks", test_clean_exit_between_looks},
        {"stopped_writer_budget", test_stopped_writer_budget},
        {"copy_window", test_copy_window},
    };
    TTSHM_TEST_SUITE("reader_interpose", cases);
    int rc = ttshm_test_run();
    ttshm_test_unlink_own_registries();
    return rc;
}
