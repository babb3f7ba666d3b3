/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Crash/restart torture. A writer process churns from several threads; the
 * test SIGKILLs it at random moments (while churning, while quiescent, while
 * its table grows, while it is still opening / taking over), restarts it, and
 * does that many times (50 rounds in ctest, 1000 with --long or
 * TTSHM_LONG=1; TTSHM_TORTURE_ROUNDS overrides) while reader processes read
 * the registry the whole time.
 *
 * Promises checked at every round:
 *  - readers never crash or hang: every read sequence finishes under alarm();
 *    a reader killed by any signal fails the test; reads of an honest
 *    segment never give CORRUPT/BADMAGIC/VERSION;
 *  - the generation goes up by exactly one per restart;
 *  - the dead session's buffers are never reported live by the new session:
 *    every entry a reader sees carries the generation of the session it read,
 *    and addresses encode the writer's generation, so a stale record passed
 *    off as new is caught;
 *  - the previous-session summary equals what the dead writer had published
 *    (exactly what a reader read from the frozen segment after the kill; and
 *    in quiescent rounds, the writer's own tallies sent through a pipe);
 *  - nothing accumulates in /dev/shm: at most the header and three tables, and
 *    none of the dead session's table objects survive the takeover.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "reliability/common.h"
#include "ttshm/reader.h"
#include "ttshm/writer.h"

#define NTHREADS 3 /* writer threads; thread t records on device t */
#define NREADERS 2
/* header + current table + table being drained + the next table prepared in
 * advance + one drained table kept for reuse: bounded, whatever the number
 * of restarts */
#define MAX_OBJECTS 5
#define READ_BOUND  10 /* seconds any reader's read sequence may take */

/* ---- what the writer records: every field is derivable from the others ---- */

static uint64_t tag_of(uint32_t dev, uint32_t type, uint64_t addr, uint64_t size)
{
    return rel_mix64(addr ^ rel_mix64(size ^ ((uint64_t)dev << 40) ^ ((uint64_t)type << 32)));
}

static uint64_t size_of(uint64_t addr)
{
    return 64 + ((rel_mix64(addr) % 4096) << 6);
}

/* Addresses carry the low 16 bits of the generation that recorded them. */
static uint64_t addr_of(uint64_t gen, unsigned thread, bool cb, uint64_t k)
{
    return ((gen & 0xffff) << 44) | ((uint64_t)thread << 36) | ((uint64_t)cb << 35) |
           ((k & 0x1ffffffffull) << 6);
}

static const char *entry_problem(const struct ttshm_entry *e, uint64_t gen)
{
    if (e->device >= NTHREADS)
        return "device out of the range the writer uses";
    if (e->type >= TTSHM_MEM_TYPE_COUNT)
        return "type out of range";
    if (e->size != size_of(e->address))
        return "size does not match address (torn or foreign)";
    if (e->tag != tag_of(e->device, e->type, e->address, e->size))
        return "tag does not match fields (torn or mixed)";
    if (((e->address >> 36) & 0xff) != e->device)
        return "address was recorded by another thread/device";
    if (((e->address >> 35) & 1) != (e->type == TTSHM_CB))
        return "CB bit of address does not match type";
    if ((e->address >> 44) != (e->generation & 0xffff))
        return "entry generation is not the generation that recorded it";
    if (gen != 0 && e->generation != gen)
        return "entry of another generation reported in this session";
    return NULL;
}

/* ---- messages from the writer child ---- */

enum { MSG_OPENED = 1, MSG_TALLY = 2, MSG_ANOMALY = 3 };
struct wmsg {
    uint32_t kind;
    int32_t rc;
    uint64_t gen;
    uint64_t count, bytes;
    uint64_t dev_count[NTHREADS], dev_bytes[NTHREADS];
    char seg[64];
};
_Static_assert(sizeof(struct wmsg) <= 512, "pipe messages are written atomically");

/* ---- the writer child ---- */

struct wthread {
    pthread_t th;
    unsigned idx;
    struct rel_rng rng;
    uint64_t *addrs;
    uint8_t *types;
    size_t n, target;
    uint64_t k, cbk;
    uint64_t live_count, live_bytes; /* this thread's own tally (device idx) */
    uint64_t cb_count, cb_bytes;
    unsigned throttle_us;
};

static ttshm_writer *child_w;
static uint64_t child_gen;
static int child_rep_fd;
static _Atomic int pause_req, paused_n;

static void child_anomaly(int result, uint64_t op)
{
    struct wmsg m = {.kind = MSG_ANOMALY, .rc = result, .gen = op};
    (void)!write(child_rep_fd, &m, sizeof m);
}

static void *churn(void *arg)
{
    struct wthread *t = arg;
    const uint32_t dev = t->idx;
    for (uint64_t op = 0;; op++) {
        if (atomic_load_explicit(&pause_req, memory_order_acquire)) {
            atomic_fetch_add_explicit(&paused_n, 1, memory_order_release);
            for (;;)
                pause();
        }
        uint64_t r = rel_rng_next(&t->rng);
        if ((r & 15) == 0) { /* a circular buffer */
            uint64_t a = addr_of(child_gen, t->idx, true, t->cbk++);
            uint64_t s = size_of(a);
            enum ttshm_result res =
                ttshm_record_alloc(child_w, dev, TTSHM_CB, a, s, tag_of(dev, TTSHM_CB, a, s));
            if (res != TTSHM_RECORDED)
                child_anomaly(res, 1);
            if (res == TTSHM_RECORDED) /* the tally is of what was recorded */
                t->cb_count++, t->cb_bytes += s;
        } else if ((r & 255) == 1) { /* free all CBs of the device */
            enum ttshm_result res = ttshm_record_free_cbs(child_w, dev);
            if (res != TTSHM_RECORDED)
                child_anomaly(res, 2);
            t->cb_count = t->cb_bytes = 0;
        } else if (t->n < t->target && (t->n == 0 || (r >> 8) % 4 != 0)) {
            static const uint8_t types[] = {TTSHM_DRAM,  TTSHM_L1,     TTSHM_L1_SMALL,
                                            TTSHM_TRACE, TTSHM_KERNEL, TTSHM_SYSTEM_MEMORY};
            uint8_t type = types[(r >> 16) % sizeof types];
            uint64_t a = addr_of(child_gen, t->idx, false, t->k++);
            uint64_t s = size_of(a);
            enum ttshm_result res = ttshm_record_alloc(child_w, dev, (enum ttshm_mem_type)type, a,
                                                       s, tag_of(dev, type, a, s));
            if (res != TTSHM_RECORDED)
                child_anomaly(res, 3);
            if (res == TTSHM_RECORDED) {
                t->addrs[t->n] = a;
                t->types[t->n] = type;
                t->n++;
                t->live_count++, t->live_bytes += s;
            }
        } else if (t->n > 0) {
            size_t i = (size_t)((r >> 24) % t->n);
            uint64_t a = t->addrs[i];
            enum ttshm_result res =
                ttshm_record_free(child_w, dev, (enum ttshm_mem_type)t->types[i], a);
            if (res != TTSHM_RECORDED)
                child_anomaly(res, 4);
            t->addrs[i] = t->addrs[t->n - 1];
            t->types[i] = t->types[t->n - 1];
            t->n--;
            t->live_count--, t->live_bytes -= size_of(a);
        }
        if (t->throttle_us)
            rel_sleep_us(t->throttle_us);
    }
    return NULL;
}

struct round_plan {
    int mode;
    size_t target; /* live buffers per thread */
    unsigned throttle_us;
    uint64_t seed;
};

static void writer_child(const char *reg, const struct round_plan *p, int rep_fd, int cmd_fd)
{
    child_rep_fd = rep_fd;
    struct ttshm_writer_config cfg = {
        .struct_size = sizeof cfg, .name = reg, .initial_slots = 1024, .report_errors = 1};
    struct wmsg m = {.kind = MSG_OPENED};
    m.rc = ttshm_writer_open(&cfg, &child_w);
    if (m.rc == 0) {
        child_gen = m.gen = ttshm_writer_generation(child_w);
        snprintf(m.seg, sizeof m.seg, "%s", ttshm_writer_segment_name(child_w));
    }
    if (rel_write_full(rep_fd, &m, sizeof m) != 0 || m.rc != 0)
        _exit(3);
    static struct wthread th[NTHREADS];
    for (unsigned i = 0; i < NTHREADS; i++) {
        th[i].idx = i;
        rel_rng_seed(&th[i].rng, p->seed * 7919 + i);
        th[i].target = p->target;
        th[i].addrs = calloc(p->target + 1, sizeof(uint64_t));
        th[i].types = calloc(p->target + 1, 1);
        th[i].throttle_us = p->throttle_us;
        if (th[i].addrs == NULL || th[i].types == NULL ||
            pthread_create(&th[i].th, NULL, churn, &th[i]) != 0)
            _exit(4);
    }
    /* Commands: 'Q' = pause every thread and report the tallies. */
    char c;
    while (read(cmd_fd, &c, 1) == 1) {
        if (c != 'Q')
            continue;
        atomic_store_explicit(&pause_req, 1, memory_order_release);
        while (atomic_load_explicit(&paused_n, memory_order_acquire) < NTHREADS)
            rel_sleep_us(100);
        struct wmsg t = {.kind = MSG_TALLY, .gen = child_gen};
        for (unsigned i = 0; i < NTHREADS; i++) {
            t.dev_count[i] = th[i].live_count + th[i].cb_count;
            t.dev_bytes[i] = th[i].live_bytes + th[i].cb_bytes;
            t.count += t.dev_count[i];
            t.bytes += t.dev_bytes[i];
        }
        rel_write_full(rep_fd, &t, sizeof t);
    }
    for (;;)
        pause(); /* the parent kills us */
}

/* ---- reader processes ---- */

struct reader_result {
    uint64_t iterations, snapshots, entries, lookups, stats, busy, noent, skipped, dropped_seen;
    uint64_t errors[16];
    uint64_t violations;
};

static volatile sig_atomic_t reader_stop;
static void on_usr1(int sig)
{
    (void)sig;
    reader_stop = 1;
}

static uint64_t rd_violations;
static void violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void violation(const char *fmt, ...)
{
    if (rd_violations++ < 10) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "reader %d: ", (int)getpid());
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
}

static void note_rc(struct reader_result *res, const char *what, int rc)
{
    if (rc == 0)
        return;
    int e = rc < 0 ? -rc : rc;
    res->errors[e < 16 ? e : 15]++;
    if (rc == -TTSHM_E_BUSY)
        res->busy++;
    else if (rc == -TTSHM_E_NOENT)
        res->noent++;
    else if (rc == -TTSHM_E_NOTFOUND)
        return;
    else
        violation("%s: unexpected error %d (%s) on an honest segment", what, rc,
                  ttshm_strerror(rc));
}

static void reader_child(const char *reg, int res_fd)
{
    struct sigaction sa = {.sa_handler = on_usr1};
    sigaction(SIGUSR1, &sa, NULL);
    char seg[96];
    snprintf(seg, sizeof seg, "ttshm.%s.0", reg);
    struct reader_result res = {0};
    uint64_t last_gen = 0;
    while (!reader_stop) {
        alarm(READ_BOUND); /* a hung read kills this process: the parent sees SIGALRM */
        res.iterations++;
        if ((res.iterations & 15) == 0) {
            size_t found = 0;
            int rc = ttshm_list(reg, NULL, 0, &found);
            note_rc(&res, "ttshm_list", rc);
            if (rc == 0 && found > 1)
                violation("ttshm_list found %zu segments; one writer at a time uses slot 0", found);
        }
        ttshm_reader *r = NULL;
        int rc = ttshm_reader_open(seg, &r);
        note_rc(&res, "ttshm_reader_open", rc);
        if (rc != 0) {
            alarm(0);
            continue;
        }
        struct ttshm_status s1 = {.struct_size = sizeof s1}, s2 = {.struct_size = sizeof s2};
        rc = ttshm_reader_status(r, &s1);
        note_rc(&res, "status", rc);
        /* A writer that died in the middle of (re)starting its session leaves the
         * identity unreadable: the reader reports it died, with no generation. */
        bool died_starting = rc == 0 && s1.generation == 0 && s1.state == TTSHM_STATE_DIED;
        if (rc == 0 && !died_starting) {
            if (s1.generation < last_gen)
                violation("generation went back from %llu to %llu", (unsigned long long)last_gen,
                          (unsigned long long)s1.generation);
            last_gen = s1.generation;
            if (s1.state != TTSHM_STATE_ALIVE && s1.state != TTSHM_STATE_DIED &&
                s1.state != TTSHM_STATE_STARTING && s1.state != TTSHM_STATE_EXITED)
                violation("state %u", s1.state);
            if (s1.previous.state != TTSHM_STATE_NONE &&
                s1.previous.generation + 1 != s1.generation)
                violation("previous summary of generation %llu in generation %llu",
                          (unsigned long long)s1.previous.generation,
                          (unsigned long long)s1.generation);
        }
        struct ttshm_stats st = {.struct_size = sizeof st};
        rc = ttshm_reader_stats(r, &st);
        note_rc(&res, "stats", rc);
        if (rc == 0) {
            res.stats++;
            for (unsigned d = 0; d < TTSHM_MAX_DEVICES; d++)
                for (unsigned t = 0; t < TTSHM_MEM_TYPE_COUNT; t++) {
                    const struct ttshm_counters *c = &st.dev[d][t];
                    if (c->live_count > c->allocs || c->frees > c->allocs ||
                        c->live_bytes > c->alloc_bytes || c->live_count > (1ull << 40))
                        violation("counters of device %u type %u inconsistent: live %llu allocs "
                                  "%llu frees %llu",
                                  d, t, (unsigned long long)c->live_count,
                                  (unsigned long long)c->allocs, (unsigned long long)c->frees);
                    if (c->dropped && res.dropped_seen < c->dropped)
                        res.dropped_seen = c->dropped; /* the driver asserts none */
                    if (c->unknown_frees || c->duplicate_allocs)
                        violation("device %u type %u: dropped %llu unknown %llu duplicate %llu", d,
                                  t, (unsigned long long)c->dropped,
                                  (unsigned long long)c->unknown_frees,
                                  (unsigned long long)c->duplicate_allocs);
                    if (d >= NTHREADS && (c->allocs || c->live_count))
                        violation("activity on device %u, which no writer uses", d);
                }
        }
        struct ttshm_entry *ents = NULL;
        size_t n = 0;
        rc = ttshm_reader_snapshot(r, &ents, &n);
        note_rc(&res, "snapshot", rc);
        int rc2 = ttshm_reader_status(r, &s2);
        note_rc(&res, "status", rc2);
        if (rc == 0) {
            res.snapshots++;
            res.skipped += ttshm_reader_skipped(r);
            /* One session throughout: then every entry must be of that generation. */
            uint64_t gen = 0;
            if (rc2 == 0 && s1.generation == s2.generation && s1.instance_id == s2.instance_id)
                gen = s2.generation;
            for (size_t i = 0; i < n; i++) {
                res.entries++;
                const char *why = entry_problem(&ents[i], gen);
                if (why)
                    violation("entry dev %u type %u addr %#llx gen %llu (status gen %llu): %s",
                              ents[i].device, ents[i].type, (unsigned long long)ents[i].address,
                              (unsigned long long)ents[i].generation, (unsigned long long)gen, why);
            }
            for (size_t i = 0; i < n && i < 4; i++) {
                const struct ttshm_entry *e = &ents[(i * 7919) % n];
                struct ttshm_entry out;
                int lr = ttshm_reader_lookup(r, e->device, (enum ttshm_mem_type)e->type, e->address,
                                             &out);
                res.lookups++;
                note_rc(&res, "lookup", lr);
                if (lr == 0 && (out.address != e->address || out.device != e->device ||
                                out.type != e->type || entry_problem(&out, 0)))
                    violation("lookup of %#llx returned another or invalid entry",
                              (unsigned long long)e->address);
            }
        }
        free(ents);
        ttshm_reader_close(r);
        alarm(0);
    }
    res.violations = rd_violations;
    rel_write_full(res_fd, &res, sizeof res);
    _exit(rd_violations ? 1 : 0);
}

/* ---- the driver ---- */

enum { M_RANDOM = 0, M_QUIESCENT = 1, M_GROW = 2, M_EARLY = 3 };
static const char *const mode_names[] = {"random", "quiescent", "mid-growth", "early"};

/* What a reader saw of a dead session, frozen after the kill. */
struct frozen {
    bool known;
    uint64_t gen, pid, started_ns, instance_id;
    uint32_t state;
    uint64_t migrating_slots;
    uint64_t dropped; /* dropped events counted in the segment */
    /* live totals derived from the counters, and from the entries */
    uint64_t c_count, c_bytes, c_dev_count[NTHREADS], c_dev_bytes[NTHREADS];
    uint64_t e_count, e_bytes, e_dev_count[NTHREADS], e_dev_bytes[NTHREADS];
    bool tally_known;
    uint64_t t_count, t_bytes, t_dev_count[NTHREADS], t_dev_bytes[NTHREADS];
    struct rel_obj objs[8];
    size_t nobjs;
};

static unsigned failures;
static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
    failures++;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "torture: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

struct figures {
    unsigned dropped_events, drop_sessions;
    unsigned rounds, kills, restarts, midgrow_kills, migrations_seen, quiescent_checks, early_kills;
    unsigned max_objects;
    unsigned by_mode[4];
};
static struct figures fig;

static size_t check_objects(const char *reg, const char *when, struct rel_obj *objs, size_t max)
{
    struct rel_obj tmp[16];
    if (objs == NULL) {
        objs = tmp;
        max = 16;
    }
    size_t n = rel_list_objects(reg, objs, max);
    if (n > fig.max_objects)
        fig.max_objects = (unsigned)n;
    if (n > MAX_OBJECTS) {
        fail("%s: %zu objects of the registry in /dev/shm (at most %d expected)", when, n,
             MAX_OBJECTS);
        for (size_t i = 0; i < n && i < max; i++)
            fprintf(stderr, "  %s (%lld bytes)\n", objs[i].name, (long long)objs[i].size);
    }
    char slot0[96];
    snprintf(slot0, sizeof slot0, "ttshm.%s.0", reg);
    for (size_t i = 0; i < n && i < max; i++)
        if (strncmp(objs[i].name, slot0, strlen(slot0)) != 0 ||
            (objs[i].name[strlen(slot0)] != '\0' && objs[i].name[strlen(slot0)] != '.'))
            fail("%s: object %s outside slot 0 (one writer at a time must reuse slot 0)", when,
                 objs[i].name);
    return n;
}

/* Reads a dead (or any) session's state with a fresh reader. */
static int freeze(const char *reg, struct frozen *f)
{
    memset(f, 0, sizeof *f);
    ttshm_reader *r;
    int rc = rel_reader_open(reg, 0, &r, 2000);
    if (rc != 0)
        return rc;
    struct ttshm_status s = {.struct_size = sizeof s};
    struct ttshm_stats st = {.struct_size = sizeof st};
    struct ttshm_entry *e = NULL;
    size_t n = 0;
    uint64_t deadline = rel_now_ns() + 2000000000ull;
    do {
        rc = ttshm_reader_status(r, &s);
        if (rc == 0)
            rc = ttshm_reader_stats(r, &st);
        if (rc == 0)
            rc = ttshm_reader_snapshot(r, &e, &n);
        if (rc == -TTSHM_E_BUSY)
            rel_sleep_us(500);
    } while (rc == -TTSHM_E_BUSY && rel_now_ns() < deadline);
    if (rc == 0) {
        f->known = true;
        f->gen = s.generation;
        f->pid = s.pid;
        f->state = s.state;
        f->started_ns = s.started_ns;
        f->instance_id = s.instance_id;
        f->migrating_slots = s.migrating_slots;
        for (unsigned d = 0; d < TTSHM_MAX_DEVICES; d++)
            for (unsigned t = 0; t < TTSHM_MEM_TYPE_COUNT; t++) {
                const struct ttshm_counters *c = &st.dev[d][t];
                f->c_count += c->live_count;
                f->c_bytes += c->live_bytes;
                if (d < NTHREADS) {
                    f->c_dev_count[d] += c->live_count;
                    f->c_dev_bytes[d] += c->live_bytes;
                }
                f->dropped += c->dropped; /* asserted at the end (fig.drop_sessions) */
            }
        if (s.dropped_global)
            fail("dropped_global %llu", (unsigned long long)s.dropped_global);
        for (size_t i = 0; i < n; i++) {
            const char *why = entry_problem(&e[i], s.generation);
            if (why) {
                fail("frozen generation %llu: entry %#llx: %s", (unsigned long long)s.generation,
                     (unsigned long long)e[i].address, why);
                continue;
            }
            f->e_count++;
            f->e_bytes += e[i].size;
            f->e_dev_count[e[i].device]++;
            f->e_dev_bytes[e[i].device] += e[i].size;
        }
    }
    free(e);
    ttshm_reader_close(r);
    f->nobjs = check_objects(reg, "frozen dead session", f->objs, 8);
    if (f->nobjs > 8)
        f->nobjs = 8;
    return rc;
}

static bool summary_matches(const struct ttshm_session_summary *p, uint64_t count, uint64_t bytes,
                            const uint64_t *dc, const uint64_t *db)
{
    if (p->live_count != count || p->live_bytes != bytes)
        return false;
    for (unsigned d = 0; d < TTSHM_MAX_DEVICES; d++) {
        uint64_t c = d < NTHREADS ? dc[d] : 0, b = d < NTHREADS ? db[d] : 0;
        if (p->device_live_count[d] != c || p->device_live_bytes[d] != b)
            return false;
    }
    return true;
}

/* Checks a fresh session right after its writer said it is open. */
static void check_takeover(const char *reg, uint64_t gen, const struct frozen *dead, pid_t dead_pid)
{
    struct rel_obj objs[16];
    size_t nobj = check_objects(reg, "after takeover", objs, 16);
    if (dead != NULL && dead->known) {
        for (size_t i = 0; i < nobj && i < 16; i++)
            for (size_t j = 0; j < dead->nobjs; j++)
                if (strchr(objs[i].name + 6 + strlen(reg) + 1, '.') != NULL &&
                    objs[i].ino == dead->objs[j].ino)
                    fail("generation %llu: table object %s of the dead session survived the "
                         "takeover",
                         (unsigned long long)gen, objs[i].name);
    }
    ttshm_reader *r;
    int rc = rel_reader_open(reg, 0, &r, 2000);
    if (rc != 0) {
        fail("generation %llu: reader open after takeover: %s", (unsigned long long)gen,
             ttshm_strerror(rc));
        return;
    }
    struct ttshm_status s = {.struct_size = sizeof s};
    struct ttshm_entry *e = NULL;
    size_t n = 0;
    uint64_t deadline = rel_now_ns() + 2000000000ull;
    do {
        rc = ttshm_reader_status(r, &s);
        if (rc == 0)
            rc = ttshm_reader_snapshot(r, &e, &n);
    } while (rc == -TTSHM_E_BUSY && rel_now_ns() < deadline);
    if (rc != 0) {
        fail("generation %llu: reading the new session: %s", (unsigned long long)gen,
             ttshm_strerror(rc));
        ttshm_reader_close(r);
        return;
    }
    if (s.generation != gen)
        fail("reader sees generation %llu, writer says %llu", (unsigned long long)s.generation,
             (unsigned long long)gen);
    if (s.state != TTSHM_STATE_ALIVE)
        fail("generation %llu: state %s right after open, expected alive", (unsigned long long)gen,
             ttshm_state_name(s.state));
    /* The new session's entries are all its own: nothing stale carried over. */
    for (size_t i = 0; i < n; i++) {
        const char *why = entry_problem(&e[i], gen);
        if (why)
            fail("generation %llu: entry %#llx (generation %llu): %s", (unsigned long long)gen,
                 (unsigned long long)e[i].address, (unsigned long long)e[i].generation, why);
    }
    free(e);
    /* The previous-session summary. */
    const struct ttshm_session_summary *p = &s.previous;
    if (dead == NULL) {
        /* first session of a new segment (or one before an unreadable death) */
    } else if (!dead->known) {
        if (p->generation + 1 != gen)
            fail("generation %llu: previous summary is of generation %llu", (unsigned long long)gen,
                 (unsigned long long)p->generation);
    } else {
        if (p->generation != dead->gen || p->pid != (uint32_t)dead_pid ||
            p->state != TTSHM_STATE_DIED || p->started_ns != dead->started_ns)
            fail("generation %llu: previous summary {gen %llu pid %u state %s started %llu} "
                 "expected {gen %llu pid %d died started %llu}",
                 (unsigned long long)gen, (unsigned long long)p->generation, p->pid,
                 ttshm_state_name(p->state), (unsigned long long)p->started_ns,
                 (unsigned long long)dead->gen, (int)dead_pid,
                 (unsigned long long)dead->started_ns);
        bool by_counters =
            summary_matches(p, dead->c_count, dead->c_bytes, dead->c_dev_count, dead->c_dev_bytes);
        bool by_entries =
            summary_matches(p, dead->e_count, dead->e_bytes, dead->e_dev_count, dead->e_dev_bytes);
        if (!by_counters && !by_entries)
            fail("generation %llu: previous summary live %llu/%llu B matches neither the dead "
                 "session's counters (%llu/%llu B) nor its entries (%llu/%llu B)",
                 (unsigned long long)gen, (unsigned long long)p->live_count,
                 (unsigned long long)p->live_bytes, (unsigned long long)dead->c_count,
                 (unsigned long long)dead->c_bytes, (unsigned long long)dead->e_count,
                 (unsigned long long)dead->e_bytes);
        if (dead->tally_known &&
            !summary_matches(p, dead->t_count, dead->t_bytes, dead->t_dev_count, dead->t_dev_bytes))
            fail("generation %llu: previous summary live %llu/%llu B, the dead writer's own "
                 "tally was %llu/%llu B",
                 (unsigned long long)gen, (unsigned long long)p->live_count,
                 (unsigned long long)p->live_bytes, (unsigned long long)dead->t_count,
                 (unsigned long long)dead->t_bytes);
    }
    ttshm_reader_close(r);
}

/* Reads (and discards) queued child messages; fails on anomalies. Returns
 * the last message of `want` kind in *out when one came. */
static bool drain(int fd, uint32_t want, struct wmsg *out, int timeout_ms)
{
    bool got = false;
    struct wmsg m;
    while (rel_read_full(fd, &m, sizeof m, timeout_ms) == 0) {
        if (m.kind == MSG_ANOMALY && m.rc == TTSHM_DROPPED) {
            /* Counted and asserted at the end; the run goes on to test the rest. */
            if (fig.dropped_events++ < 5)
                fprintf(stderr,
                        "torture: writer: an alloc (op %llu) was DROPPED with plenty of "
                        "space in /dev/shm\n",
                        (unsigned long long)m.gen);
        } else if (m.kind == MSG_ANOMALY) {
            fail("writer: recording call %llu returned %d instead of RECORDED",
                 (unsigned long long)m.gen, m.rc);
        }
        if (m.kind == want) {
            *out = m;
            got = true;
            break;
        }
    }
    return got;
}

/* Quiescent round: pause the writer, compare its tallies with what readers see. */
static pid_t writer_pid;
static void quiesce(const char *reg, int cmd_fd, int rep_fd, struct frozen *tally)
{
    struct wmsg t;
    if (rel_write_full(cmd_fd, "Q", 1) != 0 || !drain(rep_fd, MSG_TALLY, &t, 10000)) {
        fail("quiescent round: no tally from the writer within 10 s (a writer thread never "
             "returned from a recording call)");
        if (getenv("TTSHM_TORTURE_DEBUG")) {
            fprintf(stderr, "debug: writer pid %d left running for 600 s\n", (int)writer_pid);
            rel_sleep_us(600000000ull);
        }
        return;
    }
    struct frozen now;
    if (freeze(reg, &now) != 0) {
        fail("quiescent round: cannot read the segment");
        return;
    }
    fig.quiescent_checks++;
    if (now.c_count != t.count || now.c_bytes != t.bytes || now.e_count != t.count ||
        now.e_bytes != t.bytes)
        fail("quiescent writer generation %llu: tally %llu/%llu B, counters %llu/%llu B, "
             "entries %llu/%llu B",
             (unsigned long long)t.gen, (unsigned long long)t.count, (unsigned long long)t.bytes,
             (unsigned long long)now.c_count, (unsigned long long)now.c_bytes,
             (unsigned long long)now.e_count, (unsigned long long)now.e_bytes);
    for (unsigned d = 0; d < NTHREADS; d++)
        if (now.c_dev_count[d] != t.dev_count[d] || now.e_dev_bytes[d] != t.dev_bytes[d])
            fail("quiescent: device %u tally %llu/%llu B, counters %llu, entries %llu B", d,
                 (unsigned long long)t.dev_count[d], (unsigned long long)t.dev_bytes[d],
                 (unsigned long long)now.c_dev_count[d], (unsigned long long)now.e_dev_bytes[d]);
    tally->tally_known = true;
    tally->t_count = t.count;
    tally->t_bytes = t.bytes;
    memcpy(tally->t_dev_count, t.dev_count, sizeof t.dev_count);
    memcpy(tally->t_dev_bytes, t.dev_bytes, sizeof t.dev_bytes);
}

/* Polls the live segment until a table migration is under way (or timeout). */
static bool wait_migrating(const char *reg, int timeout_ms)
{
    ttshm_reader *r;
    if (rel_reader_open(reg, 0, &r, 1000) != 0)
        return false;
    uint64_t deadline = rel_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    bool seen = false;
    while (!seen && rel_now_ns() < deadline) {
        struct ttshm_status s = {.struct_size = sizeof s};
        if (ttshm_reader_status(r, &s) == 0 && s.migrating_slots != 0)
            seen = true;
    }
    ttshm_reader_close(r);
    return seen;
}

static pid_t spawn_writer(const char *reg, const struct round_plan *p, int *rep_fd, int *cmd_fd)
{
    int rep[2], cmd[2];
    if (pipe(rep) != 0 || pipe(cmd) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(rep[0]);
        close(cmd[1]);
        writer_child(reg, p, rep[1], cmd[0]);
        _exit(0);
    }
    close(rep[1]);
    close(cmd[0]);
    *rep_fd = rep[0];
    *cmd_fd = cmd[1];
    return pid;
}

static void run_torture(unsigned rounds)
{
    char reg[48];
    ttshm_test_registry(reg, "torture");
    ttshm_test_unlink_registry(reg);
    memset(&fig, 0, sizeof fig);
    failures = 0;
    struct rel_rng rng;
    uint64_t seed = (uint64_t)rel_env_long("TTSHM_SEED", (long)(rel_now_ns() ^ (uint64_t)getpid()));
    rel_rng_seed(&rng, seed);
    fprintf(stderr, "torture: registry %s, %u rounds, seed %llu\n", reg, rounds,
            (unsigned long long)seed);

    pid_t readers[NREADERS] = {0};
    int res_fds[NREADERS];
    uint64_t last_gen = 0;
    /* Writers killed during their takeover whose outcome could not be read (the
     * segment stays mid-start): each may or may not have taken a generation. */
    unsigned unknown_bumps = 0;
    struct frozen dead;
    bool have_dead = false;
    pid_t dead_pid = 0;
    uint64_t t0 = rel_now_ns();

    for (unsigned round = 0; round < rounds && failures < 20; round++) {
        struct round_plan p = {.seed = rel_rng_next(&rng)};
        uint64_t pick = rel_rng_below(&rng, 100);
        p.mode = round == 0  ? M_RANDOM
                 : pick < 40 ? M_RANDOM
                 : pick < 65 ? M_QUIESCENT
                 : pick < 92 ? M_GROW
                             : M_EARLY;
        p.target =
            p.mode == M_GROW ? 400 + rel_rng_below(&rng, 1600) : 20 + rel_rng_below(&rng, 1500);
        p.throttle_us = p.mode == M_GROW ? 20 : 0;
        long forced = rel_env_long("TTSHM_TORTURE_MODE", -1); /* for reproducing one kind */
        if (forced >= 0 && forced <= M_EARLY && round > 0)
            p.mode = (int)forced;
        fig.by_mode[p.mode]++;
        int rep_fd, cmd_fd;
        pid_t pid = spawn_writer(reg, &p, &rep_fd, &cmd_fd);
        if (pid < 0) {
            fail("fork: %s", strerror(errno));
            break;
        }
        struct frozen tally = {0};
        writer_pid = pid;
        bool opened = false;
        if (p.mode == M_EARLY) {
            rel_sleep_us(rel_rng_below(&rng, 3000));
        } else {
            struct wmsg m;
            if (!drain(rep_fd, MSG_OPENED, &m, 20000)) {
                fail("round %u: the writer never reported", round);
            } else if (m.rc != 0) {
                fail("round %u: ttshm_writer_open: %s", round, ttshm_strerror(m.rc));
            } else {
                opened = true;
                fig.restarts++;
                char want[96];
                snprintf(want, sizeof want, "ttshm.%s.0", reg);
                if (strcmp(m.seg, want) != 0)
                    fail("round %u: writer took %s, expected %s", round, m.seg, want);
                if (last_gen != 0 && (m.gen <= last_gen || m.gen > last_gen + 1 + unknown_bumps))
                    fail("round %u: generation %llu after %llu (must be +1, or up to +%u after "
                         "%u writers killed mid-takeover)",
                         round, (unsigned long long)m.gen, (unsigned long long)last_gen,
                         1 + unknown_bumps, unknown_bumps);
                check_takeover(reg, m.gen, round == 0 ? NULL : have_dead ? &dead : NULL, dead_pid);
                last_gen = m.gen;
                unknown_bumps = 0;
                if (round == 0) {
                    for (int i = 0; i < NREADERS; i++) {
                        int fds[2];
                        if (pipe(fds) != 0)
                            break;
                        readers[i] = fork();
                        if (readers[i] == 0) {
                            close(fds[0]);
                            close(rep_fd);
                            close(cmd_fd);
                            reader_child(reg, fds[1]);
                        }
                        close(fds[1]);
                        res_fds[i] = fds[0];
                    }
                }
                switch (p.mode) {
                case M_RANDOM:
                    rel_sleep_us(rel_rng_below(&rng, 25000));
                    break;
                case M_QUIESCENT:
                    rel_sleep_us(rel_rng_below(&rng, 20000));
                    quiesce(reg, cmd_fd, rep_fd, &tally);
                    break;
                case M_GROW:
                    if (wait_migrating(reg, 1500))
                        fig.migrations_seen++;
                    break;
                }
            }
        }
        kill(pid, SIGKILL);
        int st;
        rel_wait_child(pid, 20000, &st);
        fig.kills++;
        if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)) {
            char buf[96];
            fail("round %u (%s): writer %s before the kill", round, mode_names[p.mode],
                 rel_describe_status(st, buf, sizeof buf));
        }
        struct wmsg ignored;
        drain(rep_fd, 0, &ignored, 0);
        close(rep_fd);
        close(cmd_fd);

        /* Post-mortem: what did the dead writer publish? */
        struct frozen f;
        int rc = freeze(reg, &f);
        if (p.mode == M_EARLY) {
            fig.early_kills++;
            if (rc == 0 && f.pid == (uint64_t)pid && f.gen > last_gen &&
                f.gen <= last_gen + 1 + unknown_bumps) {
                /* it got through its takeover: it is the dead session now */
                last_gen = f.gen;
                unknown_bumps = 0;
                have_dead = true;
                dead = f;
                dead_pid = pid;
            } else if (rc == 0 && f.pid != (uint64_t)pid && f.gen == last_gen) {
                /* it died before taking over: the older dead session stays */
            } else {
                unknown_bumps++;
                have_dead = true;
                dead.known = false;
            }
            if (rc == 0 && f.state == TTSHM_STATE_ALIVE)
                fail("round %u: segment reads alive after its writer was killed", round);
            continue;
        }
        if (!opened)
            break;
        if (rc != 0) {
            fail("round %u: reading the dead session: %s", round, ttshm_strerror(rc));
            have_dead = true;
            dead.known = false;
            continue;
        }
        if (f.gen != last_gen || f.pid != (uint64_t)pid)
            fail("round %u: dead segment has generation %llu pid %llu, expected %llu pid %d", round,
                 (unsigned long long)f.gen, (unsigned long long)f.pid, (unsigned long long)last_gen,
                 (int)pid);
        if (f.state != TTSHM_STATE_DIED)
            fail("round %u: SIGKILLed writer reads as %s, expected died", round,
                 ttshm_state_name(f.state));
        if (f.migrating_slots != 0)
            fig.midgrow_kills++;
        if (f.dropped != 0)
            fig.drop_sessions++;
        if (tally.tally_known) {
            f.tally_known = true;
            f.t_count = tally.t_count;
            f.t_bytes = tally.t_bytes;
            memcpy(f.t_dev_count, tally.t_dev_count, sizeof f.t_dev_count);
            memcpy(f.t_dev_bytes, tally.t_dev_bytes, sizeof f.t_dev_bytes);
            if (f.c_count != f.t_count || f.e_count != f.t_count)
                fail("round %u: killed while quiescent with %llu live, dead segment shows "
                     "%llu (counters) %llu (entries)",
                     round, (unsigned long long)f.t_count, (unsigned long long)f.c_count,
                     (unsigned long long)f.e_count);
        }
        dead = f;
        have_dead = true;
        dead_pid = pid;
        fig.rounds++;
    }

    /* A last writer that closes cleanly: exited, previous summary, no leftovers. */
    if (failures == 0) {
        pid_t pid = fork();
        if (pid == 0) {
            ttshm_writer *w;
            struct ttshm_writer_config cfg = {.struct_size = sizeof cfg, .name = reg};
            if (ttshm_writer_open(&cfg, &w) != 0)
                _exit(2);
            uint64_t g = ttshm_writer_generation(w);
            uint64_t a = addr_of(g, 0, false, 1);
            ttshm_record_alloc(w, 0, TTSHM_DRAM, a, size_of(a),
                               tag_of(0, TTSHM_DRAM, a, size_of(a)));
            ttshm_writer_close(w);
            _exit(0);
        }
        int st;
        rel_wait_child(pid, 20000, &st);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fail("final clean writer failed");
        struct frozen f;
        if (freeze(reg, &f) != 0 || f.state != TTSHM_STATE_EXITED || f.e_count != 1 ||
            (unknown_bumps == 0 && f.gen != last_gen + 1))
            fail("final clean session: state %s, %llu entries, generation %llu after %llu",
                 ttshm_state_name(f.state), (unsigned long long)f.e_count,
                 (unsigned long long)f.gen, (unsigned long long)last_gen);
    }

    /* Stop the readers: each must exit cleanly (a SIGALRM death is a hung read). */
    uint64_t reads = 0, entries = 0, busy = 0, skipped = 0;
    for (int i = 0; i < NREADERS; i++) {
        if (readers[i] <= 0)
            continue;
        kill(readers[i], SIGUSR1);
        struct reader_result res;
        bool got = rel_read_full(res_fds[i], &res, sizeof res, 30000) == 0;
        int st;
        rel_wait_child(readers[i], 30000, &st);
        char buf[96];
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !got)
            fail("reader %d: %s%s", (int)readers[i], rel_describe_status(st, buf, sizeof buf),
                 WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM ? " (a read hung)" : "");
        if (got) {
            reads += res.iterations;
            entries += res.entries;
            busy += res.busy;
            skipped += res.skipped;
            if (res.snapshots == 0)
                fail("reader %d never completed a snapshot", (int)readers[i]);
        }
        close(res_fds[i]);
    }
    size_t left = rel_list_objects(reg, NULL, 0);
    ttshm_test_unlink_registry(reg);
    double secs = (double)(rel_now_ns() - t0) / 1e9;
    fprintf(stderr,
            "torture: %u of %u rounds run (%u random, %u quiescent, %u mid-growth tries, %u "
            "early), %u SIGKILLs, %u restarts, %u migrations seen live, %u kills mid-migration, "
            "%u quiescent checks; readers: %llu read passes, %llu entries validated, %llu busy, "
            "%llu skipped; max %u objects in /dev/shm, %zu at the end; %u events DROPPED in %u "
            "sessions; %u failures; %.1f s\n",
            fig.kills, rounds, fig.by_mode[0], fig.by_mode[1], fig.by_mode[2], fig.by_mode[3],
            fig.kills, fig.restarts, fig.migrations_seen, fig.midgrow_kills, fig.quiescent_checks,
            (unsigned long long)reads, (unsigned long long)entries, (unsigned long long)busy,
            (unsigned long long)skipped, fig.max_objects, left, fig.dropped_events,
            fig.drop_sessions, failures, secs);
    CU_ASSERT_EQUAL(failures, 0);
    /* No event may be dropped while /dev/shm has room. */
    CU_ASSERT_EQUAL(fig.dropped_events, 0);
    CU_ASSERT_EQUAL(fig.drop_sessions, 0);
    CU_ASSERT(fig.kills == rounds);
    CU_ASSERT(fig.restarts >= rounds * 3 / 4);
    CU_ASSERT(reads > 0);
    /* The run must have killed a writer in the middle of a table migration. */
    CU_ASSERT(fig.midgrow_kills > 0);
    CU_ASSERT(left <= MAX_OBJECTS);
}

static void test_kill_restart(void)
{
    unsigned rounds = rel_long_mode() ? 1000 : 50;
    rounds = (unsigned)rel_env_long("TTSHM_TORTURE_ROUNDS", (long)rounds);
    run_torture(rounds);
}

/* Writers killed while creating a brand-new segment (before it is readable):
 * the next writer must still get slot 0, and nothing must pile up. */
static void test_kill_during_creation(void)
{
    struct rel_rng rng;
    rel_rng_seed(&rng, rel_now_ns());
    unsigned tries = rel_long_mode() ? 200 : 30;
    unsigned bad = 0;
    uint64_t t0 = rel_now_ns();
    for (unsigned i = 0; i < tries && bad < 5; i++) {
        char reg[48], tag[16];
        snprintf(tag, sizeof tag, "create%u", i);
        ttshm_test_registry(reg, tag);
        ttshm_test_unlink_registry(reg);
        pid_t pid = fork();
        if (pid == 0) {
            ttshm_writer *w;
            struct ttshm_writer_config cfg = {.struct_size = sizeof cfg, .name = reg};
            ttshm_writer_open(&cfg, &w);
            for (;;)
                pause();
        }
        rel_sleep_us(rel_rng_below(&rng, 1500));
        kill(pid, SIGKILL);
        rel_wait_child(pid, 20000, NULL);
        /* Whatever the dead writer left, readers must give an answer, not crash. */
        pid_t rd = fork();
        if (rd == 0) {
            alarm(READ_BOUND);
            ttshm_reader *r;
            char seg[96];
            snprintf(seg, sizeof seg, "ttshm.%s.0", reg);
            if (ttshm_reader_open(seg, &r) == 0) {
                struct ttshm_status s = {.struct_size = sizeof s};
                struct ttshm_entry *e = NULL;
                size_t n;
                ttshm_reader_status(r, &s);
                if (ttshm_reader_snapshot(r, &e, &n) == 0)
                    free(e);
                ttshm_reader_close(r);
            }
            _exit(0);
        }
        int st;
        rel_wait_child(rd, 30000, &st);
        char buf[96];
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "reader of a half-created segment: %s\n",
                    rel_describe_status(st, buf, sizeof buf));
            bad++;
        }
        pid = fork();
        if (pid == 0) {
            ttshm_writer *w;
            struct ttshm_writer_config cfg = {.struct_size = sizeof cfg, .name = reg};
            int rc = ttshm_writer_open(&cfg, &w);
            if (rc != 0) {
                fprintf(stderr, "writer open after a death during creation: %s\n",
                        ttshm_strerror(rc));
                _exit(2);
            }
            char want[96];
            snprintf(want, sizeof want, "ttshm.%s.0", reg);
            if (strcmp(ttshm_writer_segment_name(w), want) != 0) {
                fprintf(stderr, "writer took %s after a death during creation, not slot 0\n",
                        ttshm_writer_segment_name(w));
                _exit(3);
            }
            ttshm_writer_close(w);
            _exit(0);
        }
        rel_wait_child(pid, 20000, &st);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "try %u: next writer: %s\n", i,
                    rel_describe_status(st, buf, sizeof buf));
            bad++;
        }
        size_t n = rel_list_objects(reg, NULL, 0);
        if (n > 2) {
            fprintf(stderr, "try %u: %zu objects left after a clean close\n", i, n);
            bad++;
        }
        ttshm_test_unlink_registry(reg);
    }
    fprintf(stderr, "kill during creation: %u tries, %u failures, %.1f s\n", tries, bad,
            (double)(rel_now_ns() - t0) / 1e9);
    CU_ASSERT_EQUAL(bad, 0);
}

int main(int argc, char **argv)
{
    rel_parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    static const struct ttshm_test_case cases[] = {
        {"kill_during_creation", test_kill_during_creation},
        {"sigkill_restart_with_readers", test_kill_restart},
    };
    TTSHM_TEST_SUITE("torture_restart", cases);
    return ttshm_test_run();
}
