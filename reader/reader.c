/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libttshm-reader (docs/design.md, "Read protocol"). The segment is untrusted
 * input: every size, offset and index is checked before use, every loop is
 * bounded, and nothing is written. Consistency comes from version words the
 * writer bumps around every change: the header's seq (identity, tables) and
 * each slot's ctl (a per-slot seqlock). Data is copied out with relaxed loads,
 * then an acquire fence, then the version is re-read (Boehm, MSPC 2012).
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

#include "layout.h"
#include "ttshm/reader.h"

#define HEADER_TRIES      2000 /* header seq reads before giving up (~2 ms of spinning) */
#define SNAPSHOT_TRIES    8    /* whole-scan retries when the tables change under us */
#define SLOT_TRIES        64   /* per-slot retries before a slot counts as half-written */
#define MAX_HEADER_OBJECT (64u << 20)

struct mapped_table {
    int fd; /* kept open to notice a hostile truncation (fstat) */
    void *base;
    size_t bytes;
    uint64_t epoch;
    uint64_t nslots;
    uint64_t generation; /* of the session that made it: its records' generation */
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

static void short_pause(void)
{
    struct timespec ts = {0, 50000};
    nanosleep(&ts, NULL);
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

/* True if some process holds the writer's lock on the header object. */
static bool writer_holds_lock(int fd)
{
    struct flock fl = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(fd, F_OFD_GETLK, &fl) != 0)
        return false;
    return fl.l_type != F_UNLCK;
}

/* The object must still be as large as what we mapped: a writer never
 * shrinks it, so a smaller file is hostile, and touching it would fault. The
 * reader then refuses every later call too: the size is not checked on
 * every call, so the next one might not look in time. */
static int check_size(struct ttshm_reader *r, int fd, size_t mapped)
{
    struct stat st;
    if (r->shrunk)
        return r->shrunk;
    if (fstat(fd, &st) != 0)
        return errno_code(errno);
    if ((uint64_t)st.st_size < mapped)
        r->shrunk = -TTSHM_E_CORRUPT;
    return r->shrunk;
}

static int read_identity(struct ttshm_reader *r, struct identity *id)
{
    const struct ttshm_header *h = r->hdr;
    for (int i = 0; i < HEADER_TRIES; i++) {
        uint64_t s1 = ld_acq(&h->seq);
        if (s1 & 1) {
            /* Odd for longer than a header update takes: unless a writer
             * still holds the lock, it died mid-update and seq stays odd. */
            if (i == 100 && !writer_holds_lock(r->fd))
                break;
            if (i > 100)
                short_pause();
            continue;
        }
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
        atomic_thread_fence(memory_order_acquire);
        if (ld(&h->seq) == s1) {
            id->seq = s1;
            return 0;
        }
    }
    return -TTSHM_E_BUSY;
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
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size < bytes) {
        close(fd);
        return -TTSHM_E_CORRUPT;
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
    t->slots = (struct ttshm_slot *)((char *)p + sizeof(struct ttshm_table_header));
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

/* Reads identity and maps the tables it names, consistently. */
static int refresh(struct ttshm_reader *r, struct identity *id)
{
    bool check = sizes_due(r);
    int rc = check ? check_size(r, r->fd, r->hdr_bytes) : r->shrunk;
    if (rc)
        return rc;
    for (int i = 0; i < SNAPSHOT_TRIES * 4; i++) {
        rc = read_identity(r, id);
        if (rc)
            return rc;
        rc = map_tables(r, id, check);
        /* A table that fails validation while the header changed is one of
         * a writer that took the slot over meanwhile: read the header again. */
        if (rc == -TTSHM_E_CORRUPT && r->shrunk == 0 && !seq_unchanged(r, id->seq))
            rc = -TTSHM_E_BUSY;
        if (rc != -TTSHM_E_BUSY)
            return rc;
        short_pause();
    }
    return -TTSHM_E_BUSY;
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
    for (int i = 0;; i++) {
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
        if (magic == 0 && i < 200 && writer_holds_lock(r->fd)) {
            short_pause();
            continue;
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
    rc = ttshm_header_validate(r->hdr, r->hdr_bytes);
    if (rc)
        goto fail;
    struct identity id;
    rc = refresh(r, &id);
    if (rc == -TTSHM_E_BUSY && !writer_holds_lock(r->fd))
        rc = 0; /* a writer died while (re)starting: status says so */
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
    free(r);
}

static enum ttshm_writer_state writer_state(struct ttshm_reader *r, uint64_t seg_state)
{
    bool locked = writer_holds_lock(r->fd);
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

int ttshm_reader_status(ttshm_reader *r, struct ttshm_status *out)
{
    if (r == NULL || out == NULL)
        return -TTSHM_E_INVAL;
    struct ttshm_status st;
    memset(&st, 0, sizeof st);
    struct identity id;
    int rc = check_size(r, r->fd, r->hdr_bytes);
    if (rc)
        return rc;
    for (int i = 0;; i++) {
        rc = read_identity(r, &id);
        if (rc == -TTSHM_E_BUSY) {
            /* seq stuck odd: a writer died while starting its session */
            st.state = writer_state(r, TTSHM_SEG_INIT);
            if (st.state == TTSHM_STATE_DIED)
                return copy_versioned(out, &st, sizeof st);
        }
        if (rc)
            return rc;
        read_previous(r->hdr, &st.previous);
        st.dropped_global = ld(&r->hdr->dropped_global);
        st.tables_created = ld(&r->hdr->tables_created);
        st.table_bytes_created = ld(&r->hdr->table_bytes_created);
        if (seq_unchanged(r, id.seq))
            break;
        if (i >= HEADER_TRIES)
            return -TTSHM_E_BUSY;
    }
    (void)map_tables(r, &id, true); /* for shm_bytes; a failure shows as 0 table bytes */
    st.state = writer_state(r, id.state);
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

int ttshm_reader_stats(ttshm_reader *r, struct ttshm_stats *out)
{
    if (r == NULL || out == NULL)
        return -TTSHM_E_INVAL;
    struct ttshm_stats *st = calloc(1, sizeof *st);
    if (st == NULL)
        return -TTSHM_E_NOMEM;
    int rc = check_size(r, r->fd, r->hdr_bytes);
    for (int i = 0; rc == 0; i++) {
        struct identity id;
        rc = read_identity(r, &id);
        if (rc)
            break;
        st->generation = id.generation;
        st->device_count = 0;
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
                if (o->peak_bytes < o->live_bytes)
                    o->peak_bytes = o->live_bytes;
                if (o->allocs || o->unknown_frees || o->dropped || o->capacity_bytes)
                    st->device_count = d + 1;
            }
        for (unsigned d = 0; d < TTSHM_MAX_DEVICES; d++)
            if (read_device_identity(&r->hdr->device_ident[d], &st->identity[d]) &&
                st->device_count <= d)
                st->device_count = d + 1;
        if (seq_unchanged(r, id.seq))
            break;
        if (i >= HEADER_TRIES)
            rc = -TTSHM_E_BUSY;
    }
    if (rc == 0) {
        st->struct_size = out->struct_size;
        rc = copy_versioned(out, st, sizeof *st);
    }
    free(st);
    return rc;
}

/* ---- entries ---- */

enum slot_read { SLOT_NONE, SLOT_LIVE, SLOT_SKIPPED };

/* A record is dead once its device x type epoch moved on (a free-all). */
static bool stale(const struct ttshm_header *h, uint32_t dev, uint32_t type, uint64_t epoch)
{
    return ld_acq(&h->epoch[dev][type]) != epoch;
}

/* Copies one slot of table t out, validated; never returns a torn or forged entry. */
static enum slot_read read_slot(const struct ttshm_header *h, const struct mapped_table *t,
                                const struct ttshm_slot *s, struct ttshm_entry *e)
{
    for (int i = 0; i < SLOT_TRIES; i++) {
        uint64_t c1 = ld_acq(&s->ctl);
        unsigned st = TTSHM_CTL_STATE(c1);
        if (st == TTSHM_SLOT_EMPTY || st == TTSHM_SLOT_TOMB)
            return SLOT_NONE;
        if (st != TTSHM_SLOT_LIVE && st != TTSHM_SLOT_MOVING)
            continue; /* BUSY: being written; retry a bounded number of times */
        uint64_t address = ld(&s->address), size = ld(&s->size), tag = ld(&s->tag);
        uint64_t ts = ld(&s->timestamp_ns), meta = ld(&s->meta), epoch = ld(&s->epoch);
        uint64_t check = ld(&s->check);
        atomic_thread_fence(memory_order_acquire);
        if (ld(&s->ctl) != c1)
            continue;
        uint32_t dev = TTSHM_META_DEVICE(meta), type = TTSHM_META_TYPE(meta);
        if (check != ttshm_slot_check(address, size, tag, ts, meta, epoch) ||
            dev >= TTSHM_MAX_DEVICES || type >= TTSHM_MEM_TYPE_COUNT)
            return SLOT_SKIPPED; /* stable but wrong: a corrupt or forged slot */
        if (stale(h, dev, type, epoch))
            return SLOT_NONE;
        *e = (struct ttshm_entry){.device = dev,
                                  .type = type,
                                  .address = address,
                                  .size = size,
                                  .tag = tag,
                                  .timestamp_ns = ts,
                                  .generation = t->generation,
                                  .tid = TTSHM_META_TID(meta)};
        return SLOT_LIVE;
    }
    return SLOT_SKIPPED;
}

struct entry_vec {
    struct ttshm_entry *v;
    size_t n, cap;
};

static int vec_push(struct entry_vec *vec, const struct ttshm_entry *e)
{
    if (vec->n == vec->cap) {
        size_t cap = vec->cap ? vec->cap * 2 : 1024;
        struct ttshm_entry *nv = realloc(vec->v, cap * sizeof *nv);
        if (nv == NULL)
            return -TTSHM_E_NOMEM;
        vec->v = nv;
        vec->cap = cap;
    }
    vec->v[vec->n++] = *e;
    return 0;
}

static bool same_entry(const struct ttshm_entry *a, const struct ttshm_entry *b)
{
    return a->address == b->address && a->device == b->device && a->type == b->type &&
           a->size == b->size && a->tag == b->tag && a->timestamp_ns == b->timestamp_ns &&
           a->tid == b->tid;
}

static uint64_t entry_hash(const struct ttshm_entry *e)
{
    return ttshm_key_hash(e->device, e->type, e->address, ttshm_key_owner(e->type, e->tag));
}

/* While a table is being drained a record may be seen twice: live in the old
 * table, then as its copy in the new one. Entries from the old table go in an
 * open-addressing index of positions in vec; copies found there are skipped. */
struct seen_set {
    size_t *pos; /* index into vec + 1; 0 = empty */
    size_t mask;
};

static int seen_init(struct seen_set *s, size_t n)
{
    size_t cap = 16;
    while (cap < n * 2)
        cap <<= 1;
    s->pos = calloc(cap, sizeof *s->pos);
    s->mask = cap - 1;
    return s->pos ? 0 : -TTSHM_E_NOMEM;
}

static void seen_add(struct seen_set *s, const struct entry_vec *vec, size_t idx)
{
    size_t i = entry_hash(&vec->v[idx]) & s->mask;
    while (s->pos[i] != 0)
        i = (i + 1) & s->mask;
    s->pos[i] = idx + 1;
}

static bool seen_has(const struct seen_set *s, const struct entry_vec *vec,
                     const struct ttshm_entry *e)
{
    for (size_t i = entry_hash(e) & s->mask; s->pos[i] != 0; i = (i + 1) & s->mask)
        if (same_entry(&vec->v[s->pos[i] - 1], e))
            return true;
    return false;
}

static int scan_table(struct ttshm_reader *r, const struct mapped_table *t, struct entry_vec *vec,
                      const struct seen_set *seen, uint64_t *skipped)
{
    for (uint64_t i = 0; i < t->nslots; i++) {
        struct ttshm_entry e;
        enum slot_read k = read_slot(r->hdr, t, &t->slots[i], &e);
        if (k == SLOT_SKIPPED)
            (*skipped)++;
        if (k != SLOT_LIVE || (seen && seen_has(seen, vec, &e)))
            continue;
        int rc = vec_push(vec, &e);
        if (rc)
            return rc;
    }
    return 0;
}

int ttshm_reader_snapshot(ttshm_reader *r, struct ttshm_entry **entries, size_t *count)
{
    if (r == NULL || entries == NULL || count == NULL)
        return -TTSHM_E_INVAL;
    *entries = NULL;
    *count = 0;
    int rc = -TTSHM_E_BUSY;
    for (int attempt = 0; attempt < SNAPSHOT_TRIES; attempt++) {
        struct identity id;
        rc = refresh(r, &id);
        if (rc)
            return rc;
        struct entry_vec vec = {0};
        uint64_t skipped = 0;
        struct seen_set seen = {0};
        if (r->old.base != NULL) {
            rc = scan_table(r, &r->old, &vec, NULL, &skipped);
            if (rc == 0)
                rc = seen_init(&seen, vec.n);
            for (size_t i = 0; rc == 0 && i < vec.n; i++)
                seen_add(&seen, &vec, i);
        }
        if (rc == 0)
            rc = scan_table(r, &r->cur, &vec, seen.pos ? &seen : NULL, &skipped);
        free(seen.pos);
        if (rc == 0 && !seq_unchanged(r, id.seq))
            rc = -TTSHM_E_BUSY; /* the tables changed during the scan: scan again */
        if (rc == 0) {
            r->skipped = skipped;
            *entries = vec.v;
            *count = vec.n;
            return 0;
        }
        free(vec.v);
        if (rc != -TTSHM_E_BUSY)
            return rc;
    }
    return rc;
}

int ttshm_reader_foreach(ttshm_reader *r, ttshm_entry_fn fn, void *ctx)
{
    if (fn == NULL)
        return -TTSHM_E_INVAL;
    struct ttshm_entry *v;
    size_t n;
    int rc = ttshm_reader_snapshot(r, &v, &n);
    if (rc)
        return rc;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = fn(&v[i], ctx);
    free(v);
    return rc;
}

static bool probe_table(const struct ttshm_header *h, const struct mapped_table *t, uint32_t device,
                        uint32_t type, uint64_t address, uint64_t owner, uint64_t hash,
                        struct ttshm_entry *out)
{
    if (t->base == NULL)
        return false;
    uint64_t i = hash & (t->nslots - 1);
    for (unsigned n = 0; n < TTSHM_MAX_PROBE; n++, i = (i + 1) & (t->nslots - 1)) {
        const struct ttshm_slot *s = &t->slots[i];
        if (TTSHM_CTL_STATE(ld_acq(&s->ctl)) == TTSHM_SLOT_EMPTY)
            return false;
        struct ttshm_entry e;
        if (read_slot(h, t, s, &e) == SLOT_LIVE && e.device == device && e.type == type &&
            e.address == address && ttshm_key_owner(type, e.tag) == owner) {
            *out = e;
            return true;
        }
    }
    return false;
}

/* The live record of key (device, type, address, owner). */
static int lookup_key(ttshm_reader *r, uint32_t device, unsigned type, uint64_t address,
                      uint64_t owner, struct ttshm_entry *out)
{
    if (r == NULL || out == NULL || device >= TTSHM_MAX_DEVICES || type >= TTSHM_MEM_TYPE_COUNT)
        return -TTSHM_E_INVAL;
    uint64_t hash = ttshm_key_hash(device, type, address, owner);
    for (int attempt = 0; attempt < SNAPSHOT_TRIES; attempt++) {
        struct identity id;
        int rc = refresh(r, &id);
        if (rc)
            return rc;
        /* Old table first: a record moves old -> new, never back. */
        bool found = probe_table(r->hdr, &r->old, device, type, address, owner, hash, out) ||
                     probe_table(r->hdr, &r->cur, device, type, address, owner, hash, out);
        if (seq_unchanged(r, id.seq))
            return found ? 0 : -TTSHM_E_NOTFOUND;
    }
    return -TTSHM_E_BUSY;
}

int ttshm_reader_lookup(ttshm_reader *r, uint32_t device, enum ttshm_mem_type type,
                        uint64_t address, struct ttshm_entry *out)
{
    return lookup_key(r, device, (unsigned)type, address, 0, out);
}

int ttshm_reader_lookup_cb(ttshm_reader *r, uint32_t device, uint64_t address, uint64_t owner,
                           struct ttshm_entry *out)
{
    return lookup_key(r, device, TTSHM_CB, address, owner, out);
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
