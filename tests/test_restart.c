/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Restart and crash: a writer process that exits cleanly leaves "exited" and
 * its buffers as leaks; one killed with SIGKILL is "died" with stale buffers;
 * the next writer takes the slot over with generation + 1, a summary of the
 * previous session equal to what it had, and an empty table; /dev/shm does not
 * fill up across restarts. Liveness is the writer's lock, not its pid.
 */
#include "test_core_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "layout.h"

static char reg[48];

enum how { EXIT_CLOSED, WAIT_FOR_KILL, EXIT_WITHOUT_CLOSE, EXIT_DEFAULT_WRITER };

/* The buffers a writer child records: n of them over devices 0 and 2. */
static uint32_t ent_dev(int i)
{
    return i % 3 == 0 ? 2 : 0;
}
static enum ttshm_mem_type ent_type(int i)
{
    return i % 2 ? TTSHM_L1 : TTSHM_DRAM;
}
static uint64_t ent_addr(int i)
{
    return 0x10000 + (uint64_t)i * 0x100;
}
static uint64_t ent_size(int i)
{
    return 100 + (uint64_t)i;
}

struct child {
    pid_t pid;
    int fd;        /* reads the child's report */
    uint64_t gen;  /* generation it got */
    char seg[128]; /* its segment */
};

/* Forks a writer process that records n buffers, reports, then ends as asked. */
static int spawn_writer(const char *registry, int n, enum how how, uint64_t slots, struct child *c)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    fflush(NULL);
    c->pid = fork();
    if (c->pid < 0)
        return -1;
    if (c->pid == 0) {
        close(p[0]);
        ttshm_writer *w = NULL;
        int rc;
        if (how == EXIT_DEFAULT_WRITER) {
            setenv("TT_SHM_NAME", registry, 1);
            unsetenv("TT_SHM_TRACKING");
            w = ttshm_default_writer();
            rc = w && ttshm_default_writer() == w ? 0 : -1;
        } else {
            rc = tu_writer_open(registry, slots, &w);
        }
        struct {
            int64_t rc;
            uint64_t gen;
            char seg[128];
        } rep = {rc, 0, ""};
        if (rc == 0) {
            for (int i = 0; i < n; i++)
                if (ttshm_record_alloc(w, ent_dev(i), ent_type(i), ent_addr(i), ent_size(i),
                                       tu_tag(ent_dev(i), ent_type(i), ent_addr(i), ent_size(i))) !=
                    TTSHM_RECORDED)
                    rep.rc = -100;
            rep.gen = ttshm_writer_generation(w);
            snprintf(rep.seg, sizeof rep.seg, "%s", ttshm_writer_segment_name(w));
        }
        if (write(p[1], &rep, sizeof rep) != (ssize_t)sizeof rep)
            _exit(3);
        switch (how) {
        case EXIT_CLOSED:
            ttshm_writer_close(w);
            _exit(0);
        case WAIT_FOR_KILL:
            for (;;)
                pause();
        case EXIT_WITHOUT_CLOSE:
            _exit(0);
        case EXIT_DEFAULT_WRITER:
            exit(0); /* atexit hooks run */
        }
        _exit(4);
    }
    close(p[1]);
    c->fd = p[0];
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    struct {
        int64_t rc;
        uint64_t gen;
        char seg[128];
    } rep;
    if (poll(&pf, 1, 30000) != 1 || read(p[0], &rep, sizeof rep) != (ssize_t)sizeof rep ||
        rep.rc != 0) {
        TTSHM_TEST_FAILF("writer child did not start");
        return -1;
    }
    c->gen = rep.gen;
    snprintf(c->seg, sizeof c->seg, "%s", rep.seg);
    return 0;
}

static int end_child(struct child *c, int sig)
{
    if (sig)
        kill(c->pid, sig);
    int status = 0;
    tu_wait_child(c->pid, 30000, &status);
    close(c->fd);
    return status;
}

static int get_status(ttshm_reader *r, struct ttshm_status *s)
{
    memset(s, 0, sizeof *s);
    s->struct_size = sizeof *s;
    int rc = ttshm_reader_status(r, s);
    CU_ASSERT_EQUAL(rc, 0);
    return rc;
}

/* The snapshot holds exactly the n buffers a writer child records. */
static void expect_child_entries(ttshm_reader *r, int n, uint64_t gen)
{
    struct ttshm_entry *v = NULL;
    size_t count = 0;
    CU_ASSERT_EQUAL_FATAL(ttshm_reader_snapshot(r, &v, &count), 0);
    CU_ASSERT_EQUAL(count, (size_t)n);
    unsigned char *seen = calloc((size_t)n + 1, 1);
    size_t bad = 0;
    for (size_t k = 0; k < count; k++) {
        int i = (int)((v[k].address - 0x10000) / 0x100);
        if (v[k].address < 0x10000 || i >= n || ent_addr(i) != v[k].address ||
            v[k].device != ent_dev(i) || v[k].type != (uint32_t)ent_type(i) ||
            v[k].size != ent_size(i) ||
            v[k].tag != tu_tag(ent_dev(i), ent_type(i), ent_addr(i), ent_size(i)) ||
            v[k].generation != gen || seen[i]++)
            bad++;
    }
    CU_ASSERT_EQUAL(bad, 0);
    free(seen);
    free(v);
    struct ttshm_stats *st = calloc(1, sizeof *st);
    st->struct_size = sizeof *st;
    CU_ASSERT_EQUAL(ttshm_reader_stats(r, st), 0);
    CU_ASSERT_EQUAL(tu_stats_live_count(st), (uint64_t)n);
    CU_ASSERT_EQUAL(st->generation, gen);
    free(st);
}

static void child_totals(int n, uint64_t dev_count[TTSHM_MAX_DEVICES],
                         uint64_t dev_bytes[TTSHM_MAX_DEVICES], uint64_t *bytes)
{
    memset(dev_count, 0, TTSHM_MAX_DEVICES * sizeof dev_count[0]);
    memset(dev_bytes, 0, TTSHM_MAX_DEVICES * sizeof dev_bytes[0]);
    *bytes = 0;
    for (int i = 0; i < n; i++) {
        dev_count[ent_dev(i)]++;
        dev_bytes[ent_dev(i)] += ent_size(i);
        *bytes += ent_size(i);
    }
}

/* ---- A exits cleanly / is killed ---- */

static void test_clean_exit_leaves_leaks(void)
{
    ttshm_test_registry(reg, "exit");
    ttshm_test_unlink_registry(reg);
    struct child a;
    uint64_t t0 = (uint64_t)time(NULL) * 1000000000ull;
    CU_ASSERT_EQUAL_FATAL(spawn_writer(reg, 100, EXIT_CLOSED, 0, &a), 0);
    int status = end_child(&a, 0);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CU_ASSERT_EQUAL(a.gen, 1);
    ttshm_reader *r = NULL;
    CU_ASSERT_EQUAL_FATAL(ttshm_reader_open(a.seg, &r), 0);
    struct ttshm_status s;
    if (get_status(r, &s) == 0) {
        CU_ASSERT_EQUAL(s.state, TTSHM_STATE_EXITED);
        CU_ASSERT_EQUAL(s.pid, (uint32_t)a.pid);
        CU_ASSERT_EQUAL(s.generation, 1);
        CU_ASSERT(s.started_ns + 2000000000ull >= t0);
        CU_ASSERT(s.ended_ns >= s.started_ns && s.ended_ns != 0);
    }
    expect_child_entries(r, 100, 1); /* the leaks at exit */
    ttshm_reader_close(r);
    ttshm_test_unlink_registry(reg);
}

static void test_default_writer_marks_exit(void)
{
    ttshm_test_registry(reg, "dflt");
    ttshm_test_unlink_registry(reg);
    struct child a;
    CU_ASSERT_EQUAL_FATAL(spawn_writer(reg, 5, EXIT_DEFAULT_WRITER, 0, &a), 0);
    int status = end_child(&a, 0);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char expect[96];
    snprintf(expect, sizeof expect, "ttshm.%s.0", reg);
    CU_ASSERT_STRING_EQUAL(a.seg, expect); /* TT_SHM_NAME read at first use */
    ttshm_reader *r = NULL;
    CU_ASSERT_EQUAL_FATAL(ttshm_reader_open(expect, &r), 0);
    struct ttshm_status s;
    if (get_status(r, &s) == 0)
        CU_ASSERT_EQUAL(s.state, TTSHM_STATE_EXITED); /* by the exit hook */
    expect_child_entries(r, 5, 1);
    ttshm_reader_close(r);
    ttshm_test_unlink_registry(reg);
}

static int tracking_off_child(void *arg, char *msg, size_t len)
{
    const char *registry = arg;
    setenv("TT_SHM_NAME", registry, 1);
    setenv("TT_SHM_TRACKING", "0", 1);
    ttshm_writer *w = ttshm_default_writer();
    if (w != NULL) {
        snprintf(msg, len, "TT_SHM_TRACKING=0: default writer is not NULL");
        return 1;
    }
    if (ttshm_record_alloc(ttshm_default_writer(), 0, TTSHM_DRAM, 1, 1, 0) != TTSHM_OFF) {
        snprintf(msg, len, "record on the NULL default writer is not TTSHM_OFF");
        return 1;
    }
    return 0;
}

static void test_tracking_off(void)
{
    ttshm_test_registry(reg, "off");
    ttshm_test_unlink_registry(reg);
    tu_run_child("TT_SHM_TRACKING=0", tracking_off_child, reg, 30);
    CU_ASSERT_EQUAL(ttshm_test_count_objects(reg), 0);
}

static void test_killed_writer_died(void)
{
    ttshm_test_registry(reg, "kill");
    ttshm_test_unlink_registry(reg);
    struct child a;
    CU_ASSERT_EQUAL_FATAL(spawn_writer(reg, 50, WAIT_FOR_KILL, 0, &a), 0);
    ttshm_reader *r = NULL;
    CU_ASSERT_EQUAL_FATAL(ttshm_reader_open(a.seg, &r), 0);
    struct ttshm_status s;
    if (get_status(r, &s) == 0) {
        CU_ASSERT_EQUAL(s.state, TTSHM_STATE_ALIVE);
        CU_ASSERT_EQUAL(s.pid, (uint32_t)a.pid);
    }
    int status = end_child(&a, SIGKILL);
    CU_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    /* The reader that was open sees it, and so does a new one. */
    if (get_status(r, &s) == 0) {
        CU_ASSERT_EQUAL(s.state, TTSHM_STATE_DIED);
        CU_ASSERT_EQUAL(s.ended_ns, 0);
    }
    expect_child_entries(r, 50, 1); /* stale, still readable */
    ttshm_reader_close(r);
    CU_ASSERT_EQUAL_FATAL(ttshm_reader_open(a.seg, &r), 0);
    if (get_status(r, &s) == 0)
        CU_ASSERT_EQUAL(s.state, TTSHM_STATE_DIED);
    expect_child_entries(r, 50, 1);
    ttshm_reader_close(r);

    /* Not fooled by a pid that names a live process (pid reuse): the dead
     * writer's header now names this very process. */
    char path[160];
    tu_shm_path(path, sizeof path, a.seg);
    int fd = open(path, O_RDWR);
    CU_ASSERT_FATAL(fd >= 0);
    uint64_t me = (uint64_t)getpid();
    CU_ASSERT_EQUAL(pwrite(fd, &me, sizeof me, offsetof(struct ttshm_header, pid)),
                    (ssize_t)sizeof me);
    close(fd);
    CU_ASSERT_EQUAL_FATAL(ttshm_reader_open(a.seg, &r), 0);
    if (get_status(r, &s) == 0) {
        CU_ASSERT_EQUAL(s.pid, (uint32_t)getpid());
        CU_ASSERT_EQUAL(s.state, TTSHM_STATE_DIED);
    }
    ttshm_reader_close(r);
    ttshm_test_unlink_registry(reg);
}

static void test_exit_without_close_died(void)
{
    ttshm_test_registry(reg, "noclose");
    ttshm_test_unlink_registry(reg);
    struct child a;
    CU_ASSERT_EQUAL_FATAL(spawn_writer(reg, 7, EXIT_WITHOUT_CLOSE, 0, &a), 0);
    end_child(&a, 0);
    ttshm_reader *r = NULL;
    CU_ASSERT_EQUAL_FATAL(ttshm_reader_open(a.seg, &r), 0);
    struct ttshm_status s;
    if (get_status(r, &s) == 0)
        CU_ASSERT_EQUAL(s.state, TTSHM_STATE_DIED);
    expect_child_entries(r, 7, 1);
    ttshm_reader_close(r);
    ttshm_test_unlink_registry(reg);
}

static void test_alive_despite_dead_pid(void)
{
    ttshm_test_registry(reg, "alivepid");
    ttshm_test_unlink_registry(reg);
    ttshm_writer *w = NULL;
    CU_ASSERT_EQUAL_FATAL(tu_writer_open(reg, 0, &w), 0);
    /* The header names a pid that no process has: the lock still says alive. */
    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    int st;
    waitpid(dead, &st, 0);
    char path[160];
    tu_shm_path(path, sizeof path, ttshm_writer_segment_name(w));
    int fd = open(path, O_RDWR);
    CU_ASSERT_FATAL(fd >= 0);
    uint64_t p = (uint64_t)dead;
    CU_ASSERT_EQUAL(pwrite(fd, &p, sizeof p, offsetof(struct ttshm_header, pid)),
                    (ssize_t)sizeof p);
    close(fd);
    ttshm_reader *r = NULL;
    CU_ASSERT_EQUAL_FATAL(ttshm_reader_open(ttshm_writer_segment_name(w), &r), 0);
    struct ttshm_status s;
    if (get_status(r, &s) == 0)
        CU_ASSERT_EQUAL(s.state, TTSHM_STATE_ALIVE);
    ttshm_reader_close(r);
    ttshm_writer_close(w);
    ttshm_test_unlink_registry(reg);
}

/* A writer process killed while a child it forked lives on is still "died":
 * the child neither keeps it alive nor records into its segment. */
static void test_forked_child_does_not_keep_writer_alive(void)
{
    ttshm_test_registry(reg, "forkkid");
    ttshm_test_unlink_registry(reg);
    int p[2];
    CU_ASSERT_FATAL(pipe(p) == 0);
    fflush(NULL);
    pid_t a = fork();
    CU_ASSERT_FATAL(a >= 0);
    if (a == 0) {
        close(p[0]);
        ttshm_writer *w = NULL;
        if (tu_writer_open(reg, 0, &w) != 0)
            _exit(1);
        ttshm_record_alloc(w, 0, TTSHM_DRAM, 0x100, 10, 0);
        pid_t g = fork();
        if (g == 0) {
            /* The grandchild's inherited handle records nothing. */
            int rc = ttshm_record_alloc(w, 0, TTSHM_DRAM, 0x200, 20, 0);
            int64_t rep[2] = {getpid(), rc};
            if (write(p[1], rep, sizeof rep) < 0)
                _exit(1);
            for (;;)
                pause();
        }
        for (;;)
            pause();
    }
    close(p[1]);
    int64_t rep[2] = {0, -1};
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    CU_ASSERT_FATAL(poll(&pf, 1, 30000) == 1 && read(p[0], rep, sizeof rep) == sizeof rep);
    close(p[0]);
    pid_t g = (pid_t)rep[0];
    CU_ASSERT_EQUAL(rep[1], TTSHM_OFF);
    kill(a, SIGKILL);
    int status;
    tu_wait_child(a, 30000, &status);
    char seg[96];
    snprintf(seg, sizeof seg, "ttshm.%s.0", reg);
    ttshm_reader *r = NULL;
    CU_ASSERT_EQUAL(ttshm_reader_open(seg, &r), 0);
    struct ttshm_status s;
    if (r && get_status(r, &s) == 0)
        CU_ASSERT_EQUAL(s.state, TTSHM_STATE_DIED); /* the grandchild still runs */
    struct ttshm_entry e;
    if (r) {
        CU_ASSERT_EQUAL(ttshm_reader_lookup(r, 0, TTSHM_DRAM, 0x100, &e), 0);
        CU_ASSERT_EQUAL(ttshm_reader_lookup(r, 0, TTSHM_DRAM, 0x200, &e), -TTSHM_E_NOTFOUND);
    }
    ttshm_reader_close(r);
    /* And a new writer can take the slot over while the grandchild lives. */
    ttshm_writer *w = NULL;
    CU_ASSERT_EQUAL(tu_writer_open(reg, 0, &w), 0);
    if (w) {
        CU_ASSERT_STRING_EQUAL(ttshm_writer_segment_name(w), seg);
        CU_ASSERT_EQUAL(ttshm_writer_generation(w), 2);
    }
    ttshm_writer_close(w);
    if (g > 0)
        kill(g, SIGKILL); /* reparented: not our child to wait for */
    ttshm_test_unlink_registry(reg);
}

/* fork() of a process whose writer has grown (and so used RCU callbacks and
 * the table preparer) gives a child with one thread: the library starts no
 * thread in the child (an atfork handler that starts one runs non-async-
 * signal-safe code in every child, even one about to exec, and TSan kills
 * such a child). */
/* Threads of a child forked now, as it sees itself right after fork();
 * -1 if it could not tell. */
static int threads_in_forked_child(void)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t g = fork();
    if (g == 0) {
        int n = 0;
        DIR *d = opendir("/proc/self/task");
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL)
            n += e->d_name[0] != '.';
        if (d)
            closedir(d);
        if (write(p[1], &n, sizeof n) != sizeof n)
            _exit(1);
        _exit(0);
    }
    close(p[1]);
    int n = -1, status = 0;
    ssize_t k = read(p[0], &n, sizeof n);
    close(p[0]);
    tu_wait_child(g, 10000, &status);
    if (k != sizeof n || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -1;
    return n;
}

static int fork_after_growth_child(void *arg, char *msg, size_t len)
{
    (void)arg;
    /* The baseline: what a child of this process has before ttshm ran (1,
     * or 2 under ThreadSanitizer, whose runtime restarts a thread of its own). */
    int before = threads_in_forked_child();
    ttshm_writer *w = NULL;
    if (tu_writer_open(reg, 1024, &w) != 0) {
        snprintf(msg, len, "writer_open failed");
        return 1;
    }
    for (uint64_t a = 0; a < 5000; a++)
        ttshm_record_alloc(w, 0, TTSHM_DRAM, a << 6, 1, 0);
    for (uint64_t a = 0; a < 5000; a++)
        ttshm_record_free(w, 0, TTSHM_DRAM, a << 6);
    ttshm_writer_close(w);
    int after = threads_in_forked_child();
    if (before < 1 || after < 1) {
        snprintf(msg, len, "a forked child died before reporting");
        return 1;
    }
    if (after != before) {
        snprintf(msg, len, "the forked child has %d threads right after fork(), want %d", after,
                 before);
        return 1;
    }
    return 0;
}

static void test_fork_after_growth(void)
{
    ttshm_test_registry(reg, "forkgrow");
    ttshm_test_unlink_registry(reg);
    tu_run_child("fork after the table grew", fork_after_growth_child, NULL, 30);
    ttshm_test_unlink_registry(reg);
}

/* ---- takeover ---- */

static void takeover(enum how how)
{
    ttshm_test_registry(reg, how == EXIT_CLOSED ? "takex" : "takek");
    ttshm_test_unlink_registry(reg);
    const int n = 120;
    struct child a;
    CU_ASSERT_EQUAL_FATAL(spawn_writer(reg, n, how, 0, &a), 0);
    /* A reader opened on A's session, kept across the takeover. */
    ttshm_reader *old = NULL;
    CU_ASSERT_EQUAL(ttshm_reader_open(a.seg, &old), 0);
    struct ttshm_status s;
    uint64_t a_started = 0, a_ended = 0;
    end_child(&a, how == WAIT_FOR_KILL ? SIGKILL : 0);
    if (old && get_status(old, &s) == 0) {
        a_started = s.started_ns;
        a_ended = s.ended_ns;
    }

    ttshm_writer *w = NULL;
    CU_ASSERT_EQUAL_FATAL(tu_writer_open(reg, 0, &w), 0);
    CU_ASSERT_STRING_EQUAL(ttshm_writer_segment_name(w), a.seg);
    CU_ASSERT_EQUAL(ttshm_writer_generation(w), 2);
    ttshm_reader *r = NULL;
    CU_ASSERT_EQUAL_FATAL(ttshm_reader_open(a.seg, &r), 0);
    uint64_t dc[TTSHM_MAX_DEVICES], db[TTSHM_MAX_DEVICES], bytes;
    child_totals(n, dc, db, &bytes);
    if (get_status(r, &s) == 0) {
        CU_ASSERT_EQUAL(s.state, TTSHM_STATE_ALIVE);
        CU_ASSERT_EQUAL(s.generation, 2);
        CU_ASSERT_EQUAL(s.pid, (uint32_t)getpid());
        CU_ASSERT_EQUAL(s.previous.generation, 1);
        CU_ASSERT_EQUAL(s.previous.pid, (uint32_t)a.pid);
        CU_ASSERT_EQUAL(s.previous.state,
                        how == EXIT_CLOSED ? TTSHM_STATE_EXITED : TTSHM_STATE_DIED);
        CU_ASSERT_EQUAL(s.previous.started_ns, a_started);
        CU_ASSERT_NOT_EQUAL(s.previous.started_ns, 0);
        if (how == EXIT_CLOSED) {
            CU_ASSERT_EQUAL(s.previous.ended_ns, a_ended);
            CU_ASSERT(s.previous.ended_ns >= s.previous.started_ns);
        } else {
            CU_ASSERT_EQUAL(s.previous.ended_ns, 0);
        }
        CU_ASSERT_EQUAL(s.previous.live_count, (uint64_t)n);
        CU_ASSERT_EQUAL(s.previous.live_bytes, bytes);
        for (int d = 0; d < TTSHM_MAX_DEVICES; d++) {
            CU_ASSERT_EQUAL(s.previous.device_live_count[d], dc[d]);
            CU_ASSERT_EQUAL(s.previous.device_live_bytes[d], db[d]);
        }
        CU_ASSERT(s.started_ns >= s.previous.started_ns);
    }
    /* Old buffers gone; counters start from zero. */
    struct ttshm_entry *v = NULL;
    size_t count = 99;
    CU_ASSERT_EQUAL(ttshm_reader_snapshot(r, &v, &count), 0);
    CU_ASSERT_EQUAL(count, 0);
    free(v);
    struct ttshm_entry e;
    CU_ASSERT_EQUAL(ttshm_reader_lookup(r, ent_dev(0), ent_type(0), ent_addr(0), &e),
                    -TTSHM_E_NOTFOUND);
    struct ttshm_stats *st = calloc(1, sizeof *st);
    st->struct_size = sizeof *st;
    CU_ASSERT_EQUAL(ttshm_reader_stats(r, st), 0);
    CU_ASSERT_EQUAL(st->generation, 2);
    CU_ASSERT_EQUAL(st->device_count, 0);
    CU_ASSERT_EQUAL(tu_stats_live_count(st), 0);
    CU_ASSERT_EQUAL(st->dev[0][TTSHM_DRAM].allocs, 0);
    CU_ASSERT_EQUAL(st->dev[0][TTSHM_DRAM].peak_bytes, 0);
    free(st);

    /* B records; a reader kept open from A's session follows the takeover. */
    CU_ASSERT_EQUAL(ttshm_record_alloc(w, 0, TTSHM_DRAM, ent_addr(1), 4242, 1), TTSHM_RECORDED);
    if (old) {
        if (get_status(old, &s) == 0) {
            CU_ASSERT_EQUAL(s.generation, 2);
            CU_ASSERT_EQUAL(s.state, TTSHM_STATE_ALIVE);
        }
        v = NULL;
        count = 0;
        int rc = ttshm_reader_snapshot(old, &v, &count);
        CU_ASSERT_EQUAL(rc, 0);
        CU_ASSERT_EQUAL(count, 1);
        if (rc == 0 && count == 1)
            CU_ASSERT(v[0].size == 4242 && v[0].generation == 2);
        free(v);
        CU_ASSERT_EQUAL(ttshm_reader_lookup(old, 0, TTSHM_DRAM, ent_addr(1), &e), 0);
        CU_ASSERT_EQUAL(e.size, 4242);
        ttshm_reader_close(old);
    }
    ttshm_reader_close(r);
    ttshm_writer_close(w);
    ttshm_test_unlink_registry(reg);
}

static void test_takeover_after_exit(void)
{
    takeover(EXIT_CLOSED);
}

static void test_takeover_after_kill(void)
{
    takeover(WAIT_FOR_KILL);
}

/* ---- /dev/shm does not fill up ---- */

static void test_no_accumulation(void)
{
    ttshm_test_registry(reg, "accum");
    ttshm_test_unlink_registry(reg);
    CU_ASSERT_EQUAL(ttshm_test_count_objects(reg), 0);
    const int cycles = 8, n = 3000; /* 3000 entries grow a 1024-slot table twice */
    int max_objects = 0;
    for (int k = 0; k < cycles; k++) {
        struct child a;
        if (spawn_writer(reg, n, k % 2 ? WAIT_FOR_KILL : EXIT_CLOSED, 1024, &a) != 0)
            break;
        CU_ASSERT_EQUAL(a.gen, (uint64_t)k + 1);
        end_child(&a, k % 2 ? SIGKILL : 0);
        int objs = ttshm_test_count_objects(reg);
        if (objs > max_objects)
            max_objects = objs;
    }
    /* A header object plus its table (two while one is being drained), a
     * prepared next table a killed writer had not published yet, and the
     * drained table it kept for reuse (core/table_pool.c). */
    CU_ASSERT(max_objects >= 2 && max_objects <= 5);
    ttshm_writer *w = NULL;
    CU_ASSERT_EQUAL_FATAL(tu_writer_open(reg, 1024, &w), 0);
    CU_ASSERT_EQUAL(ttshm_writer_generation(w), (uint64_t)cycles + 1);
    CU_ASSERT_EQUAL(ttshm_test_count_objects(reg), 2);
    ttshm_reader *r = NULL;
    CU_ASSERT_EQUAL(ttshm_reader_open(ttshm_writer_segment_name(w), &r), 0);
    struct ttshm_status s;
    if (r && get_status(r, &s) == 0) {
        CU_ASSERT_EQUAL(s.previous.live_count, (uint64_t)n);
        CU_ASSERT_EQUAL(s.previous.state, TTSHM_STATE_DIED);
        CU_ASSERT_EQUAL(s.previous.generation, (uint64_t)cycles);
    }
    ttshm_reader_close(r);
    ttshm_writer_close(w);
    CU_ASSERT_EQUAL(ttshm_test_count_objects(reg), 2);
    ttshm_test_unlink_registry(reg);
}

/* ---- several writers of one registry ---- */

static void test_several_writers(void)
{
    ttshm_test_registry(reg, "multi");
    ttshm_test_unlink_registry(reg);
    ttshm_writer *w0 = NULL, *w1 = NULL, *w2 = NULL, *w3 = NULL;
    CU_ASSERT_EQUAL_FATAL(tu_writer_open(reg, 0, &w0), 0);
    struct child b; /* another process, same registry, while w0 lives */
    CU_ASSERT_EQUAL_FATAL(spawn_writer(reg, 3, WAIT_FOR_KILL, 0, &b), 0);
    char name[96];
    snprintf(name, sizeof name, "ttshm.%s.1", reg);
    CU_ASSERT_STRING_EQUAL(b.seg, name);
    CU_ASSERT_EQUAL(b.gen, 1);
    CU_ASSERT_EQUAL(tu_writer_open(reg, 0, &w1), 0); /* and one more in this process */
    snprintf(name, sizeof name, "ttshm.%s.2", reg);
    CU_ASSERT_STRING_EQUAL(ttshm_writer_segment_name(w1), name);
    size_t found = 0;
    CU_ASSERT_EQUAL(ttshm_list(reg, NULL, 0, &found), 0);
    CU_ASSERT_EQUAL(found, 3);
    /* Each is visible with its own buffers, even on the same device. */
    CU_ASSERT_EQUAL(ttshm_record_alloc(w0, 0, TTSHM_DRAM, 0x10000, 1, 0), TTSHM_RECORDED);
    ttshm_reader *r = NULL;
    CU_ASSERT_EQUAL(ttshm_reader_open(b.seg, &r), 0);
    if (r) {
        expect_child_entries(r, 3, 1);
        ttshm_reader_close(r);
    }
    /* B dies: the lowest slot free of a live writer is 1, taken over. */
    end_child(&b, SIGKILL);
    CU_ASSERT_EQUAL(tu_writer_open(reg, 0, &w2), 0);
    snprintf(name, sizeof name, "ttshm.%s.1", reg);
    if (w2) {
        CU_ASSERT_STRING_EQUAL(ttshm_writer_segment_name(w2), name);
        CU_ASSERT_EQUAL(ttshm_writer_generation(w2), 2);
    }
    /* w0 closes: slot 0 next. */
    ttshm_writer_close(w0);
    CU_ASSERT_EQUAL(tu_writer_open(reg, 0, &w3), 0);
    snprintf(name, sizeof name, "ttshm.%s.0", reg);
    if (w3) {
        CU_ASSERT_STRING_EQUAL(ttshm_writer_segment_name(w3), name);
        CU_ASSERT_EQUAL(ttshm_writer_generation(w3), 2);
    }
    /* w1 was not disturbed. */
    CU_ASSERT_EQUAL(ttshm_writer_generation(w1), 1);
    CU_ASSERT_EQUAL(ttshm_record_alloc(w1, 0, TTSHM_DRAM, 0x10000, 1, 0), TTSHM_RECORDED);
    ttshm_writer_close(w1);
    ttshm_writer_close(w2);
    ttshm_writer_close(w3);
    ttshm_test_unlink_registry(reg);
}

int main(void)
{
    static const struct ttshm_test_case cases[] = {
        {"clean_exit_leaves_leaks", test_clean_exit_leaves_leaks},
        {"default_writer_marked_exited_at_exit", test_default_writer_marks_exit},
        {"tracking_off_by_environment", test_tracking_off},
        {"sigkill_is_died_with_stale_buffers", test_killed_writer_died},
        {"exit_without_close_is_died", test_exit_without_close_died},
        {"alive_is_the_lock_not_the_pid", test_alive_despite_dead_pid},
        {"forked_child_keeps_nothing_alive", test_forked_child_does_not_keep_writer_alive},
        {"fork_after_growth_starts_no_thread", test_fork_after_growth},
        {"takeover_after_clean_exit", test_takeover_after_exit},
        {"takeover_after_sigkill", test_takeover_after_kill},
        {"dev_shm_does_not_accumulate", test_no_accumulation},
        {"several_writers_one_registry", test_several_writers},
    };
    TTSHM_TEST_SUITE("restart", cases);
    int rc = ttshm_test_run();
    ttshm_test_unlink_own_registries();
    return rc;
}
