/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libttshm-reader (docs/design.md, "Read protocol"). The segment is untrusted
 * input: every size, offset and index is checked before use, every loop is
 * bounded, and nothing is written. Consistency comes from version words the
 * writer bumps around every change: the header's seq (identity, tables) and
 * each slot's 32-bit control word (a per-slot seqlock, beside the slots in
 * the table object). Data is copied out with relaxed loads, then an acquire
 * fence, then the version is re-read (Boehm, MSPC 2012); a copy is accepted
 * only within one tick of the coarse clock, as the slot version is 22 bits
 * (wait.h, reader_tick).
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fault_guard.h"
#include "keyset.h"
#include "layout.h"
#include "ttshm/reader.h"
#include "wait.h"

#define HEADER_SPINS      100 /* header seq reads before asking whether the writer lives */
#define SNAPSHOT_TRIES    8   /* whole-scan retries when the tables change under us */
#define SLOT_TRIES        64  /* per-slot spinning retries before waiting (wait.h) */
#define SCAN_CHUNK        256 /* slots a scan copies within one tick of the coarse clock */
#define SCAN_GROUP        32  /* slots whose control words a scan reads into one mask */
#define MAX_HEADER_OBJECT (64u << 20)
/* read_identity: seq stayed odd and no process holds the writer's lock: the
 * writer died mid-update; the fields were copied anyway (nothing changes them). */
#define IDENTITY_DEAD 1

struct mapped_table {
    int fd; /* kept open to notice a hostile truncation (fstat) */
    void *base;
    size_t bytes;
    uint64_t epoch;
    uint64_t nslots;
    uint64_t generation;   /* of the session that made it: its records' generation */
    _Atomic uint32_t *ctl; /* nslots control words */
    struct ttshm_slot *slots;
};

struct ttshm_reader {
    int fd;
    const struct ttshm_header *hdr;
    size_t hdr_bytes;
    char segment[128];
    char registry[64];
    unsigned slot;
    uint64_t instance_id;      /* session the mapped tables belong to */
    uint64_t sizes_checked_ns; /* when the mapped objects' sizes were last checked */
    int shrunk;                /* -TTSHM_E_CORRUPT once an object was found shrunk */
    struct mapped_table cur, old;
    uint64_t skipped;
    uid_t owner;                 /* of the header object: every table must have it too */
    uint64_t deadline_ns;        /* of this call's header waits; 0 until a wait starts */
    struct ttshm_entry *pending; /* a snapshot's array, freed if a load faults */
    struct keyset keys;          /* entries already listed, kept between calls */
    bool in_call;                /* a call runs (foreach's callback must not use r) */
    /* The peak this reader reported per device x type, for the session of
     * peak_instance: a reported peak never goes down (see ttshm_reader_stats). */
    uint64_t peak_instance;
    uint64_t peak_seen[TTSHM_MAX_DEVICES][TTSHM_MEM_TYPE_COUNT];
};

/* A consistent copy of the header fields that change under seq. */
struct identity {
    uint64_t seq, generation, state, pid, uid, instance_id, started_ns, ended_ns;
    uint64_t table_epoch, table_slots, old_epoch, old_slots;
};

static inline uint64_t ld(const _Atomic uint64_t *p)
{
    return atomic_load_explicit((_Atomic uint64_t *)p, memory_order_relaxed);
}

static inline uint64_t ld_acq(const _Atomic uint64_t *p)
{
    return atomic_load_explicit((_Atomic uint64_t *)p, memory_order_acquire);
}

static inline uint32_t ld32(const _Atomic uint32_t *p)
{
    return atomic_load_explicit((_Atomic uint32_t *)p, memory_order_relaxed);
}

static inline uint32_t ld32_acq(const _Atomic uint32_t *p)
{
    return atomic_load_explicit((_Atomic uint32_t *)p, memory_order_acquire);
}

/* Whether this call may go on waiting for a header (TTSHM_HEADER_BUDGET_NS). */
static bool header_budget_left(struct ttshm_reader *r)
{
    uint64_t now = reader_now_ns();
    if (r->deadline_ns == 0)
        r->deadline_ns = now + TTSHM_HEADER_BUDGET_NS;
    return now < r->deadline_ns;
}

static int errno_code(int e)
{
    switch (e) {
    case ENOENT:
        return -TTSHM_E_NOENT;
    case EACCES:
    case EPERM:
        return -TTSHM_E_ACCESS;
    case ENOMEM:
        return -TTSHM_E_NOMEM;
    default:
        return -TTSHM_E_IO;
    }
}

const char *ttshm_state_name(enum ttshm_writer_state state)
{
    switch (state) {
    case TTSHM_STATE_ALIVE:
        return "alive";
    case TTSHM_STATE_EXITED:
        return "exited";
    case TTSHM_STATE_DIED:
        return "died";
    case TTSHM_STATE_STARTING:
        return "starting";
    default:
        return "none";
    }
}

/* Whether every byte of the object is backed by memory. A writer reserves
 * its objects whole (posix_fallocate); a sparse one is hostile, and reading
 * its holes would allocate tmpfs pages (filling /dev/shm) or fault. */
static bool fully_allocated(const struct stat *st)
{
    return (uint64_t)st->st_blocks * 512 >= (uint64_t)st->st_size;
}

/* The object must still be as large as what we mapped, and wholly allocated:
 * a writer never shrinks an object or punches holes in it, so this is
 * hostile, and touching it would fault. The reader then refuses every later
 * call too. (The fault guard covers a truncation racing with our loads.) */
static int check_size(struct ttshm_reader *r, int fd, size_t mapped)
{
    struct stat st;
    if (r->shrunk)
        return r->shrunk;
    if (fstat(fd, &st) != 0)
        return errno_code(errno);
    if ((uint64_t)st.st_size < mapped || !fully_allocated(&st))
        r->shrunk = -TTSHM_E_CORRUPT;
    return r->shrunk;
}

static void copy_identity(const struct ttshm_header *h, struct identity *id)
{
    id->generation = ld(&h->generation);
    id->state = ld_acq(&h->state); /* set at exit outside seq, after ended_ns */
    id->pid = ld(&h->pid);
    id->uid = ld(&h->uid);
    id->instance_id = ld(&h->instance_id);
    id->started_ns = ld(&h->started_ns);
    id->ended_ns = ld(&h->ended_ns);
    id->table_epoch = ld(&h->table_epoch);
    id->table_slots = ld(&h->table_slots);
    id->old_epoch = ld(&h->old_epoch);
    id->old_slots = ld(&h->old_slots);
}

/* 0, IDENTITY_DEAD, or -TTSHM_E_BUSY once the header budget is spent. */
static int read_identity(struct ttshm_reader *r, struct identity *id)
{
    const struct ttshm_header *h = r->hdr;
    for (unsigned i = 0;; i++) {
        uint64_t s1 = ld_acq(&h->seq);
        if (s1 & 1) {
            /* Odd for longer than a header update takes: unless a writer
             * still holds the lock, it died mid-update and seq stays odd.
             * Its last fields are what can be known of it. */
            if (i == HEADER_SPINS && !writer_holds_lock(r->fd)) {
                copy_identity(h, id);
                id->seq = s1;
                return IDENTITY_DEAD;
            }
            if (i > HEADER_SPINS) {
                if (!header_budget_left(r))
                    return -TTSHM_E_BUSY;
                reader_pause();
            }
            continue;
        }
        copy_identity(h, id);
        atomic_thread_fence(memory_order_acquire);
        if (ld(&h->seq) == s1) {
            id->seq = s1;
            return 0;
        }
        if (i > HEADER_SPINS && !header_budget_left(r))
            return -TTSHM_E_BUSY;
    }
}

static bool seq_unchanged(const struct ttshm_reader *r, uint64_t seq)
{
    atomic_thread_fence(memory_order_acquire);
    return ld(&r->hdr->seq) == seq;
}

static void unmap_table(struct mapped_table *t)
{
    if (t->base != NULL) {
        munmap(t->base, t->bytes);
        close(t->fd);
    }
    memset(t, 0, sizeof *t);
}

static int map_table(struct ttshm_reader *r, struct mapped_table *t, uint64_t epoch,
                     uint64_t nslots, uint64_t instance_id, bool check)
{
    if (t->base != NULL && t->epoch == epoch && t->nslots == nslots &&
        r->instance_id == instance_id)
        return check ? check_size(r, t->fd, t->bytes) : 0;
    unmap_table(t);
    if (epoch == 0)
        return 0;
    if (nslots < TTSHM_MIN_TABLE || nslots > TTSHM_MAX_TABLE || (nslots & (nslots - 1)) != 0)
        return -TTSHM_E_CORRUPT;
    char name[160];
    int rc = ttshm_table_object_name(name, sizeof name, r->registry, r->slot, epoch);
    if (rc)
        return rc;
    int fd = shm_open(name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0);
    if (fd < 0)
        return errno == ENOENT ? -TTSHM_E_BUSY : errno_code(errno); /* replaced meanwhile */
    struct stat st;
    size_t bytes = ttshm_table_bytes(nslots);
    /* Sizes are what fstat shows, never what the header announces; and a
     * table of another owner than its header is planted (issue: forgery). */
    rc = fstat(fd, &st) != 0                                       ? errno_code(errno)
         : st.st_uid != r->owner                                   ? -TTSHM_E_ACCESS
         : ((uint64_t)st.st_size < bytes || !fully_allocated(&st)) ? -TTSHM_E_CORRUPT
                                                                   : 0;
    if (rc) {
        close(fd);
        return rc;
    }
    void *p = mmap(NULL, bytes, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        rc = errno_code(errno);
        close(fd);
        return rc;
    }
    rc = ttshm_table_validate(p, bytes, instance_id, epoch, nslots);
    if (rc) {
        munmap(p, bytes);
        close(fd);
        return rc;
    }
    t->fd = fd;
    t->base = p;
    t->bytes = bytes;
    t->epoch = epoch;
    t->nslots = nslots;
    t->generation = ld(&((const struct ttshm_table_header *)p)->generation);
    t->ctl = ttshm_table_ctl(p);
    t->slots = ttshm_table_slots(p, nslots);
    return 0;
}

static int map_tables(struct ttshm_reader *r, const struct identity *id, bool check)
{
    int rc = map_table(r, &r->cur, id->table_epoch, id->table_slots, id->instance_id, check);
    if (rc == 0)
        rc = map_table(r, &r->old, id->old_epoch, id->old_slots, id->instance_id, check);
    if (rc == 0) {
        r->instance_id = id->instance_id;
        if (r->cur.base == NULL)
            rc = -TTSHM_E_CORRUPT;
    }
    return rc;
}

/* Whether the mapped objects' sizes are due for a check: once per tick of
 * the coarse clock (1-4 ms), not on every call. A lookup costs ~100 ns; two
 * fstat calls would triple it. The check only narrows the window in which a
 * hostile truncation makes us fault anyway (it races with our loads): see
 * docs/design.md, "Read protocol". */
static bool sizes_due(struct ttshm_reader *r)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    if (now == r->sizes_checked_ns)
        return false;
    r->sizes_checked_ns = now;
    return true;
}

/* A writer that died mid-update (seq odd for good) left its last fields:
 * its tables, if they still validate, hold what it recorded, and nothing
 * changes them any more. A session that never got ready (died while
 * starting or taking over) recorded nothing: no tables. Either way the
 * reader shows it as died with what can be known, not as busy. */
static int map_dead_writer_tables(struct ttshm_reader *r, struct identity *id, bool check)
{
    if (id->state == TTSHM_SEG_READY && map_tables(r, id, check) == 0)
        return 0;
    unmap_table(&r->cur);
    unmap_table(&r->old);
    id->table_epoch = id->old_epoch = 0;
    return r->shrunk;
}

/* Reads identity and maps the tables it names, consistently; a dead writer's
 * tables may be absent (r->cur.base NULL: no entries). */
static int refresh(struct ttshm_reader *r, struct identity *id)
{
    bool check = sizes_due(r);
    int rc = check ? check_size(r, r->fd, r->hdr_bytes) : r->shrunk;
    if (rc)
        return rc;
    for (int i = 0; i < SNAPSHOT_TRIES * 4; i++) {
        rc = read_identity(r, id);
        if (rc == IDENTITY_DEAD)
            return map_dead_writer_tables(r, id, check);
        if (rc)
            return rc;
        rc = map_tables(r, id, check);
        /* A table that fails validation while the header changed is one of
         * a writer that took the slot over meanwhile: read the header again. */
        if (rc == -TTSHM_E_CORRUPT && r->shrunk == 0 && !seq_unchanged(r, id->seq))
            rc = -TTSHM_E_BUSY;
        if (rc != -TTSHM_E_BUSY || !header_budget_left(r))
            return rc;
        reader_pause();
    }
    return -TTSHM_E_BUSY;
}

/* Whether addr lies in one of r's mappings (from the SIGBUS handler). */
static bool reader_owns(const void *owner, const void *addr)
{
    const struct ttshm_reader *r = owner;
    const char *a = addr;
    const struct mapped_table *t[] = {&r->cur, &r->old};
    if (a >= (const char *)r->hdr && a < (const char *)r->hdr + r->hdr_bytes)
        return true;
    for (int i = 0; i < 2; i++)
        if (a >= (const char *)t[i]->base && a < (const char *)t[i]->base + t[i]->bytes)
            return true;
    return false;
}

struct call {
    struct ttshm_reader *r;
    int (*fn)(struct ttshm_reader *r, void *arg);
    void *arg;
};

static int run_call(void *p)
{
    struct call *c = p;
    return c->fn(c->r, c->arg);
}

/* Runs one library call on r under the fault guard (fault_guard.h): a
 * mapped object truncated under a load makes the call, and every later one,
 * return -TTSHM_E_CORRUPT. */
static int guarded(struct ttshm_reader *r, int (*fn)(struct ttshm_reader *r, void *arg), void *arg)
{
    if (r->shrunk)
        return r->shrunk;
    if (r->in_call)
        return -TTSHM_E_BUSY; /* from a foreach callback on the same reader */
    r->in_call = true;
    r->deadline_ns = 0;
    struct call c = {r, fn, arg};
    int rc;
    bool finished = fault_guard_run(run_call, &c, reader_owns, r, &rc);
    r->in_call = false;
    if (finished)
        return rc;
    free(r->pending);
    r->pending = NULL;
    r->shrunk = -TTSHM_E_CORRUPT;
    return r->shrunk;
}

static int validate_call(struct ttshm_reader *r, void *arg)
{
    (void)arg;
    int rc = ttshm_header_validate(r->hdr, r->hdr_bytes);
    if (rc)
        return rc;
    struct identity id;
    rc = refresh(r, &id);
    if (rc == -TTSHM_E_BUSY && !writer_holds_lock(r->fd))
        rc = 0; /* a writer died while (re)starting: status says so */
    return rc;
}

int ttshm_reader_open(const char *segment, ttshm_reader **out)
{
    if (segment == NULL || out == NULL)
        return -TTSHM_E_INVAL;
    *out = NULL;
    struct ttshm_reader *r = calloc(1, sizeof *r);
    if (r == NULL)
        return -TTSHM_E_NOMEM;
    r->fd = -1;
    const char *base = segment[0] == '/' ? segment + 1 : segment;
    int rc = -TTSHM_E_INVAL;
    if (ttshm_parse_header_object_name(base, r->registry, sizeof r->registry, &r->slot) != 0)
        goto fail;
    snprintf(r->segment, sizeof r->segment, "%s", base);
    char name[128];
    snprintf(name, sizeof name, "/%s", base);
    r->fd = shm_open(name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0);
    if (r->fd < 0) {
        rc = errno_code(errno);
        goto fail;
    }
    /* A writer creates the object, sizes it, then stores the magic last: give
     * one that is starting (it holds the lock) a moment. */
    rc = fault_guard_install();
    if (rc)
        goto fail;
    for (;;) {
        struct stat st;
        if (fstat(r->fd, &st) != 0) {
            rc = errno_code(errno);
            goto fail;
        }
        if (!S_ISREG(st.st_mode)) {
            rc = -TTSHM_E_BADMAGIC;
            goto fail;
        }
        uint64_t size = (uint64_t)st.st_size;
        if (size > MAX_HEADER_OBJECT)
            size = MAX_HEADER_OBJECT; /* we read only the layout we know */
        uint64_t magic = 0;
        if (size >= sizeof magic && pread(r->fd, &magic, sizeof magic, 0) != (ssize_t)sizeof magic)
            magic = 0;
        if (magic == 0 && writer_holds_lock(r->fd)) {
            rc = -TTSHM_E_BUSY; /* still being created after the budget */
            if (!header_budget_left(r))
                goto fail;
            reader_pause();
            continue;
        }
        r->owner = st.st_uid;
        if (!fully_allocated(&st)) {
            rc = -TTSHM_E_CORRUPT;
            goto fail;
        }
        if (size < sizeof(struct ttshm_header)) {
            rc = size < sizeof magic || magic != TTSHM_HEADER_MAGIC ? -TTSHM_E_BADMAGIC
                                                                    : -TTSHM_E_CORRUPT;
            goto fail;
        }
        void *p = mmap(NULL, size, PROT_READ, MAP_SHARED, r->fd, 0);
        if (p == MAP_FAILED) {
            rc = errno_code(errno);
            goto fail;
        }
        r->hdr = p;
        r->hdr_bytes = size;
        break;
    }
    rc = guarded(r, validate_call, NULL);
    if (rc)
        goto fail;
    *out = r;
    return 0;
fail:
    ttshm_reader_close(r);
    return rc;
}

void ttshm_reader_close(ttshm_reader *r)
{
    if (r == NULL)
        return;
    unmap_table(&r->cur);
    unmap_table(&r->old);
    if (r->hdr != NULL)
        munmap((void *)r->hdr, r->hdr_bytes);
    if (r->fd >= 0)
        close(r->fd);
    keyset_free(&r->keys);
    free(r);
}

static enum ttshm_writer_state writer_state(bool locked, uint64_t seg_state)
{
    if (seg_state == TTSHM_SEG_EXITED)
        return TTSHM_STATE_EXITED;
    if (seg_state == TTSHM_SEG_READY)
        return locked ? TTSHM_STATE_ALIVE : TTSHM_STATE_DIED;
    return locked ? TTSHM_STATE_STARTING : TTSHM_STATE_DIED;
}

static void read_previous(const struct ttshm_header *h, struct ttshm_session_summary *s)
{
    const struct ttshm_prev_session *p = &h->prev;
    memset(s, 0, sizeof *s);
    s->generation = ld(&p->generation);
    if (s->generation == 0)
        return;
    s->pid = (uint32_t)ld(&p->pid);
    uint64_t st = ld(&p->state);
    s->state =
        (st == TTSHM_STATE_EXITED || st == TTSHM_STATE_DIED) ? (uint32_t)st : TTSHM_STATE_DIED;
    s->started_ns = ld(&p->started_ns);
    s->ended_ns = ld(&p->ended_ns);
    s->live_count = ld(&p->live_count);
    s->live_bytes = ld(&p->live_bytes);
    for (unsigned d = 0; d < TTSHM_MAX_DEVICES; d++) {
        s->device_live_count[d] = ld(&p->device_live_count[d]);
        s->device_live_bytes[d] = ld(&p->device_live_bytes[d]);
    }
}

/* Copies min(caller's size, ours) bytes of a versioned struct. */
static int copy_versioned(void *dst, const void *src, size_t ours)
{
    uint32_t theirs;
    memcpy(&theirs, dst, sizeof theirs);
    if (theirs < sizeof(uint32_t))
        return -TTSHM_E_INVAL;
    size_t n = theirs < ours ? theirs : ours;
    memcpy((char *)dst + sizeof theirs, (const char *)src + sizeof theirs, n - sizeof theirs);
    return 0;
}

static int status_call(struct ttshm_reader *r, void *arg)
{
    struct ttshm_status *out = arg;
    struct ttshm_status st;
    memset(&st, 0, sizeof st);
    struct identity id;
    int rc = check_size(r, r->fd, r->hdr_bytes);
    if (rc)
        return rc;
    bool locked;
    for (;;) {
        /* The lock first, then state: a clean exit stores EXITED before it
         * drops the lock, so no exit between the two reads as a death. */
        locked = writer_holds_lock(r->fd);
        rc = read_identity(r, &id);
        if (rc < 0)
            return rc;
        read_previous(r->hdr, &st.previous);
        st.dropped_global = ld(&r->hdr->dropped_global);
        st.tables_created = ld(&r->hdr->tables_created);
        st.table_bytes_created = ld(&r->hdr->table_bytes_created);
        if (rc == IDENTITY_DEAD) {
            /* seq stuck odd: died mid-update, starting or taking over. */
            break;
        }
        if (!seq_unchanged(r, id.seq)) {
            if (!header_budget_left(r))
                return -TTSHM_E_BUSY;
            continue;
        }
        /* Unlocked but not exited: a death, unless a writer took the slot
         * over after the lock test (then read again). */
        if (locked || id.state == TTSHM_SEG_EXITED || !writer_holds_lock(r->fd))
            break;
        if (!header_budget_left(r))
            return -TTSHM_E_BUSY;
    }
    if (rc == IDENTITY_DEAD && id.state != TTSHM_SEG_READY) {
        /* Died while starting or taking over: the identity fields are the
         * last session's or half-written, so none is shown (generation 0:
         * unknown); the previous summary, registry and slot still are. */
        struct identity none = {.seq = id.seq, .state = id.state};
        id = none;
    }
    if (rc == IDENTITY_DEAD)
        (void)map_dead_writer_tables(r, &id, true);
    else
        (void)map_tables(r, &id, true); /* for shm_bytes; a failure shows as 0 table bytes */
    st.state = writer_state(locked, id.state);
    st.generation = id.generation;
    st.pid = (uint32_t)id.pid;
    st.uid = (uint32_t)id.uid;
    st.instance_id = id.instance_id;
    st.started_ns = id.started_ns;
    st.ended_ns = id.state == TTSHM_SEG_EXITED ? id.ended_ns : 0;
    snprintf(st.registry, sizeof st.registry, "%s", r->registry);
    st.slot = r->slot;
    st.abi_major = r->hdr->abi_major;
    st.abi_minor = r->hdr->abi_minor;
    st.table_slots = id.table_slots;
    st.migrating_slots = id.old_epoch ? id.old_slots : 0;
    st.shm_bytes = r->hdr_bytes + r->cur.bytes + r->old.bytes;
    return copy_versioned(out, &st, sizeof st);
}

/* Copies a device's published identity; false when none is (or while its
 * writer is stuck mid-publication: an identity is informational, so a
 * bounded number of tries, then none). */
static bool read_device_identity(const struct ttshm_device_ident *d,
                                 struct ttshm_device_identity *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < SLOT_TRIES; i++) {
        uint64_t s1 = ld_acq(&d->seq);
        if (s1 & 1)
            continue;
        uint64_t id = ld(&d->unique_id), words[TTSHM_DEVICE_NAME_WORDS];
        for (unsigned w = 0; w < TTSHM_DEVICE_NAME_WORDS; w++)
            words[w] = ld(&d->name[w]);
        atomic_thread_fence(memory_order_acquire);
        if (ld(&d->seq) != s1)
            continue;
        out->unique_id = id;
        for (size_t c = 0; c < TTSHM_DEVICE_NAME_MAX; c++) {
            char ch = (char)(words[c / 8] >> (8 * (c % 8)));
            if (ch == '\0')
                break;
            out->name[c] = (ch >= 0x20 && ch < 0x7f) ? ch : '?'; /* untrusted: printable only */
        }
        return id != 0 || out->name[0] != '\0';
    }
    return false;
}

int ttshm_reader_status(ttshm_reader *r, struct ttshm_status *out)
{
    if (r == NULL || out == NULL)
        return -TTSHM_E_INVAL;
    return guarded(r, status_call, out);
}

static int stats_call(struct ttshm_reader *r, void *arg)
{
    struct ttshm_stats *st = arg;
    int rc = check_size(r, r->fd, r->hdr_bytes);
    while (rc == 0) {
        struct identity id;
        rc = read_identity(r, &id);
        if (rc < 0)
            break;
        st->generation = id.generation;
        st->device_count = 0;
        if (r->peak_instance != id.instance_id) {
            memset(r->peak_seen, 0, sizeof r->peak_seen); /* another session's peaks */
            r->peak_instance = id.instance_id;
        }
        for (unsigned d = 0; d < TTSHM_MAX_DEVICES; d++)
            for (unsigned t = 0; t < TTSHM_MEM_TYPE_COUNT; t++) {
                const struct ttshm_counter_block *c = &r->hdr->counters[d][t];
                struct ttshm_counters *o = &st->dev[d][t];
                /* frees before allocs, inside ttshm_counters_live: never negative */
                ttshm_counters_live(c, &o->live_count, &o->live_bytes);
                o->frees = ld(&c->frees);
                o->allocs = ld(&c->allocs);
                o->alloc_bytes = ld(&c->alloc_bytes);
                if (o->frees > o->allocs)
                    o->frees = o->allocs;
                o->peak_bytes = ld(&c->peak_bytes);
                o->unknown_frees = ld(&c->unknown_frees);
                o->duplicate_allocs = ld(&c->duplicate_allocs);
                o->dropped = ld(&c->dropped);
                o->capacity_bytes = ld(&c->capacity_bytes);
                o->capacity_banks = (uint32_t)ld(&c->capacity_banks);
                o->bulk_freed = ld(&c->bulk_freed);
                if (o->bulk_freed > o->frees)
                    o->bulk_freed = o->frees;
                /* At least the live bytes reported with it, which the skew
                 * between the loads of frees and allocs can put a few
                 * allocs above the stored peak; and never below a peak
                 * this reader reported before. */
                if (o->peak_bytes < o->live_bytes)
                    o->peak_bytes = o->live_bytes;
                if (o->peak_bytes < r->peak_seen[d][t])
                    o->peak_bytes = r->peak_seen[d][t];
                r->peak_seen[d][t] = o->peak_bytes;
                if (o->allocs || o->unknown_frees || o->dropped || o->capacity_bytes)
                    st->device_count = d + 1;
            }
        for (unsigned d = 0; d < TTSHM_MAX_DEVICES; d++)
            if (read_device_identity(&r->hdr->device_ident[d], &st->identity[d]) &&
                st->device_count <= d)
                st->device_count = d + 1;
        if (rc == IDENTITY_DEAD || seq_unchanged(r, id.seq)) {
            rc = 0; /* a dead writer's counters change no more */
            break;
        }
        if (!header_budget_left(r))
            rc = -TTSHM_E_BUSY;
    }
    return rc;
}

int ttshm_reader_stats(ttshm_reader *r, struct ttshm_stats *out)
{
    if (r == NULL || out == NULL)
        return -TTSHM_E_INVAL;
    struct ttshm_stats *st = calloc(1, sizeof *st);
    if (st == NULL)
        return -TTSHM_E_NOMEM;
    int rc = guarded(r, stats_call, st);
    if (rc == 0) {
        st->struct_size = out->struct_size;
        rc = copy_versioned(out, st, sizeof *st);
    }
    free(st);
    return rc;
}

/* ---- entries ---- */

enum slot_read { SLOT_NONE, SLOT_LIVE, SLOT_SKIPPED, SLOT_RETRY };

/*
 * Copy windows and the 22-bit version (docs/format.md, "Read protocol").
 *
 * A copy of a slot is accepted when its control word read the same before
 * and after the relaxed loads of the slot's four words, and the coarse clock
 * did not tick meanwhile (the version is 22 bits: wait.h, reader_tick). A
 * scan reads the clock around chunks of SCAN_CHUNK slots (only where a slot
 * was copied) and redoes a chunk during which it ticked, reading it around
 * each slot's copy; a lookup reads it around its whole probe and probes
 * again if it ticked. A copy the clock ticked during (the reader preempted
 * in the middle, or a tick boundary) is retried like a changed slot.
 */

/* One attempt at copying slot i of t, whose control word read c1 (LIVE or
 * MOVING). SLOT_RETRY: the word changed meanwhile. */
static inline enum slot_read copy_slot(const struct mapped_table *t, uint64_t i, uint32_t c1,
                                       struct ttshm_entry *e)
{
    const struct ttshm_slot *s = &t->slots[i];
    uint64_t address = ld(&s->address), tag = ld(&s->tag), key = ld(&s->key);
    uint64_t origin = ld(&s->origin);
    atomic_thread_fence(memory_order_acquire);
    if (ld32(&t->ctl[i]) != c1)
        return SLOT_RETRY;
    uint32_t dev = TTSHM_KEY_DEVICE(key), type = TTSHM_KEY_TYPE(key);
    if (dev >= TTSHM_MAX_DEVICES || type >= TTSHM_MEM_TYPE_COUNT)
        return SLOT_SKIPPED; /* stable but impossible: a corrupt or forged slot */
    *e = (struct ttshm_entry){.device = dev,
                              .type = type,
                              .address = address,
                              .size = TTSHM_KEY_SIZE(key),
                              .tag = tag,
                              .timestamp_ns = TTSHM_ORIGIN_MS(origin) * 1000000ull,
                              .generation = t->generation,
                              .tid = TTSHM_ORIGIN_TID(origin)};
    return SLOT_LIVE;
}

/* What a control word's state says before any copy: SLOT_NONE (EMPTY,
 * TOMB), SLOT_LIVE (LIVE, MOVING: copy it), SLOT_RETRY (BUSY: being
 * written), SLOT_SKIPPED (states 5-7, which no writer stores). */
static inline enum slot_read ctl_class(uint32_t c)
{
    switch (TTSHM_CTL_STATE(c)) {
    case TTSHM_SLOT_EMPTY:
    case TTSHM_SLOT_TOMB:
        return SLOT_NONE;
    case TTSHM_SLOT_LIVE:
    case TTSHM_SLOT_MOVING:
        return SLOT_LIVE;
    case TTSHM_SLOT_BUSY:
        return SLOT_RETRY;
    default:
        return SLOT_SKIPPED;
    }
}

/* Copies slot i of table t out, validated; never returns a torn or forged
 * entry. A slot being written (BUSY) or changing is read again: SLOT_TRIES
 * times at once, then while its writer lives, within the bounds of wait.h.
 * timed: a copy during which the coarse clock ticked is read again. */
static enum slot_read read_slot(const struct mapped_table *t, uint64_t i, struct ttshm_entry *e,
                                struct slot_wait *w, bool timed)
{
    uint64_t since = 0;
    for (int n = 0;; n++) {
        if (n >= SLOT_TRIES && !slot_wait_more(w, &since))
            return SLOT_SKIPPED;
        uint64_t t0 = timed ? reader_tick() : 0;
        uint32_t c1 = ld32_acq(&t->ctl[i]);
        enum slot_read rd = ctl_class(c1);
        if (rd == SLOT_LIVE)
            rd = copy_slot(t, i, c1, e);
        if (rd == SLOT_LIVE && timed && reader_tick() != t0)
            rd = SLOT_RETRY; /* preempted mid-copy: the version may have wrapped */
        if (rd != SLOT_RETRY)
            return rd;
    }
}

/* Where a scan puts entries: an array (snapshot), or a callback (foreach,
 * which lists each key once: r->keys). */
struct sink {
    struct ttshm_entry *v;
    size_t n, cap;
    bool grow;         /* v is r->pending and may be enlarged */
    size_t found;      /* entries found, stored or not */
    ttshm_entry_fn fn; /* streaming: no array */
    void *ctx;
    int stop; /* fn's non-zero return */
};

static int sink_put(struct ttshm_reader *r, struct sink *k, const struct ttshm_entry *e)
{
    if (k->fn != NULL) {
        int rc = keyset_add(&r->keys, e);
        if (rc <= 0)
            return rc; /* listed already, or out of memory */
        k->found++;
        void *g = fault_guard_pause(); /* a fault in user code is not ours */
        k->stop = k->fn(e, k->ctx);
        fault_guard_resume(g);
        return 0;
    }
    k->found++;
    if (k->n == k->cap) {
        if (!k->grow)
            return 0; /* counted, not stored */
        size_t cap = k->cap ? k->cap * 2 : 1024;
        struct ttshm_entry *nv = realloc(k->v, cap * sizeof *nv);
        if (nv == NULL)
            return -TTSHM_E_NOMEM;
        k->v = r->pending = nv;
        k->cap = cap;
    }
    k->v[k->n++] = *e;
    return 0;
}

/* Reads slots [from, to) of t into v (at most SCAN_CHUNK entries), counting
 * skipped ones; the scan's fast path: the control words are walked and a
 * slot is touched only when LIVE or MOVING (or BUSY, through read_slot).
 * timed: each copy is timed on its own (read_slot); else *t0 is set (once
 * a slot is copied) to the clock before the chunk's first copy, and the
 * caller times the whole chunk from it. */
/* One slot of scan_chunk whose control word was neither EMPTY nor TOMB:
 * into v[*n] if live. */
static inline void scan_slot(const struct mapped_table *t, uint64_t i, struct ttshm_entry *v,
                             size_t *n, struct slot_wait *w, bool timed, uint64_t *skipped,
                             uint64_t *t0)
{
    uint32_t c = ld32_acq(&t->ctl[i]);
    enum slot_read rd = ctl_class(c);
    if (rd == SLOT_NONE)
        return;
    if (timed)
        rd = read_slot(t, i, &v[*n], w, true);
    else {
        if (*t0 == 0) {
            /* The chunk's first copy: its window begins at a load of the
             * word after the clock is read. */
            *t0 = reader_tick();
            c = ld32_acq(&t->ctl[i]);
            rd = ctl_class(c);
            if (rd == SLOT_NONE)
                return;
        }
        if (rd == SLOT_LIVE)
            rd = copy_slot(t, i, c, &v[*n]);
        if (rd == SLOT_RETRY)
            rd = read_slot(t, i, &v[*n], w, false);
    }
    if (rd == SLOT_SKIPPED)
        (*skipped)++;
    else if (rd == SLOT_LIVE)
        (*n)++;
}

static size_t scan_chunk(const struct mapped_table *t, uint64_t from, uint64_t to,
                         struct ttshm_entry *v, struct slot_wait *w, bool timed, uint64_t *skipped,
                         uint64_t *t0)
{
    size_t n = 0;
    for (uint64_t g = from; g < to; g += SCAN_GROUP) {
        /* A mask of the group's slots that are neither EMPTY nor TOMB, made
         * without a branch per slot (in a half-full table that branch is a
         * coin toss the CPU keeps losing); then from one set bit to the next. */
        unsigned len = to - g < SCAN_GROUP ? (unsigned)(to - g) : SCAN_GROUP;
        uint32_t occupied = 0;
        for (unsigned j = 0; j < len; j++) {
            unsigned st = TTSHM_CTL_STATE(ld32_acq(&t->ctl[g + j]));
            occupied |= (uint32_t)((st != TTSHM_SLOT_EMPTY) & (st != TTSHM_SLOT_TOMB)) << j;
        }
        for (; occupied != 0; occupied &= occupied - 1)
            scan_slot(t, g + (unsigned)__builtin_ctz(occupied), v, &n, w, timed, skipped, t0);
    }
    return n;
}

static int scan_table(struct ttshm_reader *r, const struct mapped_table *t, struct sink *k,
                      struct slot_wait *w, uint64_t *skipped)
{
    struct ttshm_entry local[SCAN_CHUNK];
    for (uint64_t from = 0; from < t->nslots && k->stop == 0; from += SCAN_CHUNK) {
        uint64_t to = from + SCAN_CHUNK < t->nslots ? from + SCAN_CHUNK : t->nslots;
        uint64_t sk = 0, t0 = 0;
        /* Into the snapshot's array where a whole chunk fits: one copy less. */
        bool direct = k->fn == NULL && k->cap - k->n >= SCAN_CHUNK;
        struct ttshm_entry *v = direct ? k->v + k->n : local;
        size_t n = scan_chunk(t, from, to, v, w, false, &sk, &t0);
        if (t0 != 0 && reader_tick() != t0) {
            /* The chunk's copies are not known to fit the window: again,
             * each copy timed on its own. */
            sk = 0;
            n = scan_chunk(t, from, to, v, w, true, &sk, &t0);
        }
        *skipped += sk;
        if (direct) {
            k->n += n;
            k->found += n;
            continue;
        }
        for (size_t j = 0; j < n && k->stop == 0; j++) {
            int rc = sink_put(r, k, &v[j]);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* One pass over the mapped tables, the old one first: a record moves old ->
 * new, never back, and is in the new table before it leaves the old one, so
 * no record that stays live through the pass is missed. */
static int scan_pass(struct ttshm_reader *r, struct sink *k, uint64_t *skipped)
{
    struct slot_wait w;
    slot_wait_init(&w, r->fd);
    *skipped = 0;
    int rc = 0;
    if (r->old.base != NULL)
        rc = scan_table(r, &r->old, k, &w, skipped);
    if (rc == 0 && r->cur.base != NULL)
        rc = scan_table(r, &r->cur, k, &w, skipped);
    return rc;
}

/* Allocs of every device and type: a pass during which it did not change
 * saw each key at most once in a table (a key listed twice needs a new
 * alloc between the two reads). */
static uint64_t allocs_total(const struct ttshm_header *h)
{
    uint64_t n = 0;
    for (unsigned d = 0; d < TTSHM_MAX_DEVICES; d++)
        for (unsigned t = 0; t < TTSHM_MEM_TYPE_COUNT; t++)
            n += ld(&h->counters[d][t].allocs);
    return n;
}

/* Live records by the counters: the size of a snapshot, taken once. Never
 * more than the mapped tables hold (the counters are untrusted too). */
static size_t live_total(const struct ttshm_reader *r)
{
    uint64_t total = 0, room = r->cur.nslots + r->old.nslots;
    for (unsigned d = 0; d < TTSHM_MAX_DEVICES; d++)
        for (unsigned t = 0; t < TTSHM_MEM_TYPE_COUNT; t++) {
            uint64_t c, b;
            ttshm_counters_live(&r->hdr->counters[d][t], &c, &b);
            total += c;
        }
    return (size_t)(total < room ? total : room);
}

/* A large fresh array costs a page fault per 4 KiB written (most of a
 * 1M-entry snapshot's time): ask for transparent huge pages (a hint; a
 * no-op where they are off). */
static void prefer_huge_pages(void *p, size_t bytes)
{
    const uintptr_t huge = 2u << 20;
    uintptr_t a = ((uintptr_t)p + huge - 1) & ~(huge - 1), end = (uintptr_t)p + bytes;
    if (end > a + huge)
        (void)madvise((void *)a, (end - a) & ~(huge - 1), MADV_HUGEPAGE);
}

static int snapshot_call(struct ttshm_reader *r, void *arg)
{
    struct sink *k = arg;
    for (int attempt = 0; attempt < SNAPSHOT_TRIES; attempt++) {
        struct identity id;
        int rc = refresh(r, &id);
        if (rc)
            return rc;
        if (k->grow && k->v == NULL) {
            size_t live = live_total(r);
            k->cap = live + live / 16 + 64; /* room for the records added during the pass */
            k->v = r->pending = malloc(k->cap * sizeof *k->v);
            if (k->v == NULL)
                return -TTSHM_E_NOMEM;
            prefer_huge_pages(k->v, k->cap * sizeof *k->v);
        }
        k->n = k->found = 0;
        uint64_t skipped, allocs = allocs_total(r->hdr);
        bool migrating = r->old.base != NULL;
        rc = scan_pass(r, k, &skipped);
        if (rc)
            return rc;
        if (!seq_unchanged(r, id.seq))
            continue; /* the tables changed during the pass: again */
        if (migrating || allocs_total(r->hdr) != allocs) {
            size_t n;
            rc = keyset_dedup(&r->keys, k->v, k->n, &n);
            if (rc)
                return rc;
            k->found -= k->n - n;
            k->n = n;
        }
        r->skipped = skipped;
        return 0;
    }
    return -TTSHM_E_BUSY;
}

int ttshm_reader_snapshot(ttshm_reader *r, struct ttshm_entry **entries, size_t *count)
{
    if (r == NULL || entries == NULL || count == NULL)
        return -TTSHM_E_INVAL;
    *entries = NULL;
    *count = 0;
    struct sink k = {.grow = true};
    int rc = guarded(r, snapshot_call, &k);
    if (rc == 0) {
        *entries = r->pending;
        *count = k.n;
    } else
        free(r->pending);
    r->pending = NULL;
    return rc;
}

int ttshm_reader_snapshot_into(ttshm_reader *r, struct ttshm_entry *buf, size_t cap, size_t *count)
{
    if (r == NULL || count == NULL || (buf == NULL && cap > 0))
        return -TTSHM_E_INVAL;
    *count = 0;
    struct sink k = {.v = buf, .cap = cap};
    int rc = guarded(r, snapshot_call, &k);
    if (rc == 0) {
        *count = k.found;
        if (k.found > cap)
            rc = -TTSHM_E_NOSPC;
    }
    return rc;
}

/* Streams: each entry goes to fn as it is read, listed once per key across
 * the passes that a table switch during the call makes necessary. */
static int foreach_call(struct ttshm_reader *r, void *arg)
{
    struct sink *k = arg;
    bool sized = false;
    for (int attempt = 0; attempt < SNAPSHOT_TRIES; attempt++) {
        struct identity id;
        int rc = refresh(r, &id);
        if (rc == 0 && !sized) {
            rc = keyset_reset(&r->keys, live_total(r));
            sized = true;
        }
        uint64_t skipped;
        if (rc == 0)
            rc = scan_pass(r, k, &skipped);
        if (rc || k->stop)
            return rc ? rc : k->stop;
        if (seq_unchanged(r, id.seq)) {
            r->skipped = skipped;
            return 0;
        }
    }
    return -TTSHM_E_BUSY;
}

int ttshm_reader_foreach(ttshm_reader *r, ttshm_entry_fn fn, void *ctx)
{
    if (r == NULL || fn == NULL)
        return -TTSHM_E_INVAL;
    struct sink k = {.fn = fn, .ctx = ctx};
    return guarded(r, foreach_call, &k);
}

/* Whether a slot whose control word reads c may hold (or be being filled
 * with) a key of hash fragment frag: a BUSY slot of another fragment is
 * not waited for. */
static inline bool may_hold(uint32_t c, unsigned frag)
{
    unsigned st = TTSHM_CTL_STATE(c);
    return (st == TTSHM_SLOT_LIVE || st == TTSHM_SLOT_MOVING || st == TTSHM_SLOT_BUSY) &&
           TTSHM_CTL_FRAG(c) == frag;
}

/* Probes t for the key; *copied is set once a slot is copied. */
static bool probe_table(const struct mapped_table *t, uint32_t device, uint32_t type,
                        uint64_t address, uint64_t owner, uint64_t hash, struct ttshm_entry *out,
                        struct slot_wait *w, bool *copied)
{
    if (t->base == NULL)
        return false;
    unsigned frag = ttshm_hash_frag(hash);
    uint64_t i = hash & (t->nslots - 1);
    for (unsigned n = 0; n < TTSHM_MAX_PROBE; n++, i = (i + 1) & (t->nslots - 1)) {
        uint32_t c = ld32_acq(&t->ctl[i]);
        if (TTSHM_CTL_STATE(c) == TTSHM_SLOT_EMPTY)
            return false;
        if (!may_hold(c, frag))
            continue;
        *copied = true;
        struct ttshm_entry e;
        enum slot_read rd =
            TTSHM_CTL_STATE(c) == TTSHM_SLOT_BUSY ? SLOT_RETRY : copy_slot(t, i, c, &e);
        if (rd == SLOT_RETRY)
            rd = read_slot(t, i, &e, w, false);
        if (rd == SLOT_LIVE && e.device == device && e.type == type && e.address == address &&
            ttshm_key_owner(type, e.tag) == owner) {
            *out = e;
            return true;
        }
    }
    return false;
}

struct lookup_args {
    uint32_t device, type;
    uint64_t address, owner;
    struct ttshm_entry *out;
};

/* The live record of key (device, type, address, owner). */
static int lookup_call(struct ttshm_reader *r, void *arg)
{
    const struct lookup_args *a = arg;
    uint32_t device = a->device, type = a->type;
    uint64_t address = a->address, owner = a->owner;
    struct ttshm_entry *out = a->out;
    uint64_t hash = ttshm_key_hash(device, type, address, owner);
    struct slot_wait w;
    slot_wait_init(&w, r->fd);
    for (int attempt = 0; attempt < SNAPSHOT_TRIES; attempt++) {
        struct identity id;
        int rc = refresh(r, &id);
        if (rc)
            return rc;
        /* Old table first: a record moves old -> new, never back. */
        /* The clock is read before the probe's first load (a clock read
         * between a control word and its slot would serialize the two
         * cache misses), and after it only if a slot was copied. */
        uint64_t t0 = reader_tick();
        bool copied = false;
        bool found = probe_table(&r->old, device, type, address, owner, hash, out, &w, &copied) ||
                     probe_table(&r->cur, device, type, address, owner, hash, out, &w, &copied);
        if (copied && reader_tick() != t0)
            continue; /* a copy may be older than the version's wrap: probe again */
        if (seq_unchanged(r, id.seq))
            return found ? 0 : -TTSHM_E_NOTFOUND;
    }
    return -TTSHM_E_BUSY;
}

int ttshm_reader_lookup(ttshm_reader *r, uint32_t device, enum ttshm_mem_type type,
                        uint64_t address, struct ttshm_entry *out)
{
    struct lookup_args a = {device, (uint32_t)type, address, 0, out};
    if (r == NULL || out == NULL || device >= TTSHM_MAX_DEVICES ||
        (unsigned)type >= TTSHM_MEM_TYPE_COUNT)
        return -TTSHM_E_INVAL;
    return guarded(r, lookup_call, &a);
}

int ttshm_reader_lookup_cb(ttshm_reader *r, uint32_t device, uint64_t address, uint64_t owner,
                           struct ttshm_entry *out)
{
    struct lookup_args a = {device, TTSHM_CB, address, owner, out};
    if (r == NULL || out == NULL || device >= TTSHM_MAX_DEVICES)
        return -TTSHM_E_INVAL;
    return guarded(r, lookup_call, &a);
}

uint64_t ttshm_reader_skipped(const ttshm_reader *r)
{
    return r ? r->skipped : 0;
}

uint32_t ttshm_reader_abi_version(void)
{
    return (uint32_t)TTSHM_ABI_MAJOR << 16 | TTSHM_ABI_MINOR;
}

size_t ttshm_reader_struct_size(const char *name)
{
    static const struct {
        const char *name;
        size_t size;
    } sizes[] = {
        {"ttshm_segment_info", sizeof(struct ttshm_segment_info)},
        {"ttshm_session_summary", sizeof(struct ttshm_session_summary)},
        {"ttshm_status", sizeof(struct ttshm_status)},
        {"ttshm_counters", sizeof(struct ttshm_counters)},
        {"ttshm_device_identity", sizeof(struct ttshm_device_identity)},
        {"ttshm_stats", sizeof(struct ttshm_stats)},
        {"ttshm_entry", sizeof(struct ttshm_entry)},
    };
    for (size_t i = 0; name != NULL && i < sizeof(sizes) / sizeof(sizes[0]); i++)
        if (strcmp(sizes[i].name, name) == 0)
            return sizes[i].size;
    return 0;
}
