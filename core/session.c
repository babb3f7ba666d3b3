/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A writer's session: opening, taking over and closing its segment
 * (docs/design.md, "Restart" and "Crash"). Liveness is an OFD lock on the header object that
 * the writer holds for its life: the kernel drops it when the process dies,
 * so readers are not fooled by pid reuse, and no one need clean up.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "errors.h"
#include "fork.h"
#include "nocancel.h"
#include "session.h"
#include "table_object.h"

/* ---- time and identity ---- */

static uint64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Field 22 of /proc/self/stat: the process start time in clock ticks. With
 * the pid it names a process uniquely, for post-mortem tools. */
static uint64_t process_start_ticks(void)
{
    char buf[1024];
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (p == NULL)
        return 0;
    unsigned long long v = 0;
    /* After ')': state is field 3; starttime is field 22. */
    for (int field = 2; field < 22 && p; field++)
        p = strchr(p + 1, ' ');
    if (p == NULL || sscanf(p + 1, "%llu", &v) != 1)
        return 0;
    return v;
}

static uint64_t random_u64(void)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) != sizeof v)
        v = realtime_ns() ^ ((uint64_t)getpid() << 32);
    return v | 1; /* never 0: 0 means "none" */
}

/* ---- open ---- */

static void write_fixed_part(struct ttshm_header *h)
{
    h->abi_major = TTSHM_ABI_MAJOR;
    h->abi_minor = TTSHM_ABI_MINOR;
    h->word_size = sizeof(void *);
    h->header_size = sizeof(struct ttshm_header);
    h->slot_size = sizeof(struct ttshm_slot);
    h->max_devices = TTSHM_MAX_DEVICES;
    h->type_slots = TTSHM_TYPE_SLOTS;
    h->counters_offset = offsetof(struct ttshm_header, counters);
    h->prev_offset = offsetof(struct ttshm_header, prev);
    h->object_size = TTSHM_HEADER_OBJECT_SIZE;
}

static void store(_Atomic uint64_t *p, uint64_t v)
{
    atomic_store_explicit(p, v, memory_order_relaxed);
}

static uint64_t load(_Atomic uint64_t *p)
{
    return atomic_load_explicit(p, memory_order_relaxed);
}

/* Summarises the session being taken over into h->prev; its generation is
 * stored last, marking the summary whole. */
static void summarise_previous(struct ttshm_header *h)
{
    struct ttshm_prev_session *p = &h->prev;
    uint64_t total_count = 0, total_bytes = 0;
    for (unsigned d = 0; d < TTSHM_MAX_DEVICES; d++) {
        uint64_t dc = 0, db = 0;
        for (unsigned t = 0; t < TTSHM_MEM_TYPE_COUNT; t++) {
            uint64_t c, b;
            ttshm_counters_live(&h->counters[d][t], &c, &b);
            dc += c;
            db += b;
        }
        store(&p->device_live_count[d], dc);
        store(&p->device_live_bytes[d], db);
        total_count += dc;
        total_bytes += db;
    }
    bool exited = load(&h->state) == TTSHM_SEG_EXITED;
    store(&p->pid, load(&h->pid));
    store(&p->state, exited ? 2 /* TTSHM_STATE_EXITED */ : 3 /* TTSHM_STATE_DIED */);
    store(&p->started_ns, load(&h->started_ns));
    store(&p->ended_ns, exited ? load(&h->ended_ns) : 0);
    store(&p->live_count, total_count);
    store(&p->live_bytes, total_bytes);
    atomic_store_explicit(&p->generation, load(&h->generation), memory_order_release);
}

/* Whether h->prev already summarises the session whose generation the
 * header holds: a takeover that wrote it, then zeroed the counters, and
 * died (or failed) before its own session began (state still INIT, its
 * generation never stored). Summarising again would read zeroed counters. */
static bool summary_already_taken(struct ttshm_header *h)
{
    return load(&h->state) == TTSHM_SEG_INIT &&
           atomic_load_explicit(&h->prev.generation, memory_order_acquire) == load(&h->generation);
}

/* Starts a session in a header we hold the lock of. taken_over: the header
 * is valid and belongs to an earlier session. */
static int start_session(struct ttshm_writer *w, bool taken_over, uint64_t initial_slots)
{
    struct ttshm_header *h = w->hdr;
    /* Readers see an odd seq (and state INIT) until the session is whole. */
    uint64_t seq = taken_over ? load(&h->seq) : 0;
    store(&h->seq, seq | 1);
    atomic_thread_fence(memory_order_release);
    uint64_t generation = 1;
    if (taken_over) {
        generation = load(&h->generation) + 1;
        if (!summary_already_taken(h))
            summarise_previous(h); /* reads the state the last session left */
    } else {
        memset(&h->prev, 0, sizeof h->prev);
    }
    store(&h->state, TTSHM_SEG_INIT);
    ttshm_unlink_slot_tables(w);
    for (unsigned d = 0; d < TTSHM_MAX_DEVICES; d++) {
        for (unsigned t = 0; t < TTSHM_TYPE_SLOTS; t++)
            memset(&h->counters[d][t], 0, sizeof h->counters[d][t]);
        memset(&h->device_ident[d], 0, sizeof h->device_ident[d]);
    }
    store(&h->tables_created, 0);
    store(&h->table_bytes_created, 0);
    w->generation = generation;
    w->instance_id = random_u64();
    /* Tables are numbered from a random epoch, so that no one else can
     * know the names this session will create (table_object.c). */
    atomic_store_explicit(&w->next_epoch, (random_u64() >> 20) + 1, memory_order_relaxed);

    struct ttshm_table *t;
    int rc = ttshm_table_create(w, initial_slots, &t);
    if (rc != 0)
        return rc;
    struct ttshm_view *v = calloc(1, sizeof *v);
    if (v == NULL) {
        ttshm_table_unlink(w, t->epoch);
        ttshm_table_destroy(t);
        return -TTSHM_E_NOMEM;
    }
    v->cur = t;
    atomic_store_explicit(&w->view, v, memory_order_release);

    write_fixed_part(h);
    store(&h->generation, generation);
    store(&h->pid, (uint64_t)getpid());
    store(&h->uid, (uint64_t)geteuid());
    store(&h->start_ticks, process_start_ticks());
    store(&h->instance_id, w->instance_id);
    store(&h->started_ns, realtime_ns());
    store(&h->ended_ns, 0);
    store(&h->slot, w->slot);
    memset(h->registry, 0, sizeof h->registry);
    memcpy(h->registry, w->registry, strlen(w->registry));
    store(&h->table_epoch, t->epoch);
    store(&h->table_slots, t->nslots);
    store(&h->old_epoch, 0);
    store(&h->old_slots, 0);
    store(&h->dropped_global, 0);
    store(&h->state, TTSHM_SEG_READY);
    atomic_store_explicit(&h->seq, (seq | 1) + 1, memory_order_release);
    /* A new segment becomes recognisable last of all. */
    atomic_store_explicit(&h->magic, TTSHM_HEADER_MAGIC, memory_order_release);
    return 0;
}

/* Locks the whole object for this open file description; fails if a live
 * writer holds it. The lock goes away with the last descriptor of the file
 * description, i.e. when the writer closes or dies. */
static bool lock_object(int fd)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    return fcntl(fd, F_OFD_SETLK, &fl) == 0;
}

/* What try_slot found when it could not take a slot: the next is tried. */
enum {
    SLOT_HELD = 1,    /* a live writer holds it */
    SLOT_FOREIGN = 2, /* an object we must not record into holds the name */
};

/* Tries one registry slot. Returns 0 (w set up), SLOT_HELD, SLOT_FOREIGN, or
 * -TTSHM_E_*. */
static int try_slot(struct ttshm_writer *w, unsigned slot, uint64_t initial_slots)
{
    char name[128];
    int rc = ttshm_header_object_name(name, sizeof name, w->registry, slot);
    if (rc)
        return rc;
    bool created = true;
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, w->mode);
    if (fd >= 0) {
        if (fchmod(fd, w->mode) != 0) { /* the umask may have narrowed it */
            rc = ttshm_errno_code(errno);
            close(fd);
            shm_unlink(name);
            return rc;
        }
    } else {
        if (errno != EEXIST)
            return ttshm_errno_code(errno);
        created = false;
        fd = shm_open(name, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK,
                      0); /* a FIFO must not block us */
        if (fd < 0)       /* gone meanwhile, or another user's and private */
            return errno == ENOENT   ? SLOT_HELD
                   : errno == EACCES ? SLOT_FOREIGN
                                     : ttshm_errno_code(errno);
        struct stat st;
        if (fstat(fd, &st) != 0) {
            rc = ttshm_errno_code(errno);
            close(fd);
            return rc;
        }
        /* Someone else's object under our name, or one others may write: a
         * hijack or a mistake. Either way, not ours to record into, and not
         * ours to remove (in sticky /dev/shm we could not): the next slot. */
        if (st.st_uid != geteuid() || (st.st_mode & 022) != 0 || !S_ISREG(st.st_mode)) {
            close(fd);
            return SLOT_FOREIGN;
        }
    }
    if (!lock_object(fd)) {
        close(fd);
        return SLOT_HELD;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = ttshm_errno_code(errno);
        goto fail;
    }
    uint64_t size = TTSHM_HEADER_OBJECT_SIZE;
    bool taken_over = false;
    if (!created && (uint64_t)st.st_size >= sizeof(uint64_t)) {
        uint64_t magic = 0;
        if (pread(fd, &magic, sizeof magic, 0) != (ssize_t)sizeof magic) {
            rc = ttshm_errno_code(errno);
            goto fail;
        }
        if (magic != 0) {
            /* Never shrink a file someone may have mapped. */
            if ((uint64_t)st.st_size > size)
                size = (uint64_t)st.st_size;
            taken_over = true;
        }
    }
    /* A segment we understand is never smaller than our header object:
     * leave a smaller one as it is (an older ABI's, or junk), unresized. */
    if (taken_over && (uint64_t)st.st_size < TTSHM_HEADER_OBJECT_SIZE) {
        close(fd);
        return SLOT_FOREIGN;
    }
    if ((uint64_t)st.st_size < size && (rc = ttshm_object_reserve(fd, size)) != 0)
        goto fail;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        rc = ttshm_errno_code(errno);
        goto fail;
    }
    w->hdr = p;
    w->hdr_bytes = size;
    w->fd = fd;
    w->slot = slot;
    snprintf(w->segment, sizeof w->segment, "%s", name + 1);
    if (taken_over && (rc = ttshm_header_validate(w->hdr, size)) != 0) {
        /* Ours by owner and name, but not a segment we understand: leave it. */
        munmap(p, size);
        w->hdr = NULL;
        close(fd);
        w->fd = -1;
        return SLOT_FOREIGN;
    }
    rc = start_session(w, taken_over, initial_slots);
    if (rc != 0) {
        munmap(p, size);
        w->hdr = NULL;
        goto fail;
    }
    return 0;
fail:
    close(fd);
    w->fd = -1;
    if (created)
        shm_unlink(name);
    return rc;
}

static uint64_t round_pow2(uint64_t n)
{
    if (n < TTSHM_MIN_TABLE)
        return TTSHM_MIN_TABLE;
    if (n > TTSHM_MAX_TABLE)
        return TTSHM_MAX_TABLE;
    uint64_t p = TTSHM_MIN_TABLE;
    while (p < n)
        p <<= 1;
    return p;
}

/* One line on stderr, whatever the name holds: it comes from the environment,
 * so control characters and bytes above 0x7e are shown escaped. */
static void report_invalid_name(const char *name)
{
    char shown[4 * 64 + 1];
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p != '\0' && n < 64 * 4 - 4; p++) {
        if (*p >= 0x20 && *p < 0x7f && *p != '\\' && *p != '"')
            shown[n++] = (char)*p;
        else
            n += (size_t)snprintf(shown + n, sizeof shown - n, "\\x%02x", *p);
    }
    shown[n] = '\0';
    fprintf(stderr,
            "ttshm: invalid registry name \"%s\" (letters, digits, '_' and '-', at most %d): "
            "tracking off\n",
            shown, TTSHM_NAME_MAX);
}

int ttshm_writer_open(const struct ttshm_writer_config *config, ttshm_writer **out)
{
    if (out == NULL)
        return -TTSHM_E_INVAL;
    *out = NULL;
    struct ttshm_writer_config cfg = {0};
    if (config != NULL) {
        if (config->struct_size < offsetof(struct ttshm_writer_config, name) + sizeof(char *))
            return -TTSHM_E_INVAL;
        memcpy(&cfg, config, config->struct_size < sizeof cfg ? config->struct_size : sizeof cfg);
    }
    const char *name = cfg.name ? cfg.name : getenv("TT_SHM_NAME");
    char def[TTSHM_NAME_MAX + 1];
    if (name == NULL || *name == '\0') {
        ttshm_default_registry(def, sizeof def);
        name = def;
    }
    if (!ttshm_registry_name_valid(name)) {
        if (cfg.report_errors)
            report_invalid_name(name);
        return -TTSHM_E_INVAL;
    }
    struct ttshm_writer *w = calloc(1, sizeof *w);
    if (w == NULL)
        return -TTSHM_E_NOMEM;
    snprintf(w->registry, sizeof w->registry, "%s", name);
    w->fd = -1;
    w->mode = (cfg.mode ? cfg.mode : 0600) & 0640; /* never writable by others */
    w->mode |= 0600;
    w->report_errors = cfg.report_errors != 0;
    pthread_mutex_init(&w->grow_lock, NULL);
    for (unsigned d = 0; d < TTSHM_MAX_DEVICES; d++)
        pthread_mutex_init(&w->cb_lock[d], NULL);
    ttshm_preparer_init(w);
    uint64_t initial = round_pow2(cfg.initial_slots ? cfg.initial_slots : TTSHM_DEFAULT_TABLE);

    /* Cancelled in here, this thread would leave the fork lock held. */
    int cancel = ttshm_nocancel_begin();
    ttshm_fork_lock();
    int rc = -TTSHM_E_FULL;
    bool foreign = false;
    for (unsigned slot = 0; slot < TTSHM_MAX_SLOTS; slot++) {
        rc = try_slot(w, slot, initial);
        if (rc <= 0)
            break;
        foreign |= rc == SLOT_FOREIGN;
        rc = foreign ? -TTSHM_E_ACCESS : -TTSHM_E_FULL;
    }
    if (rc == 0)
        ttshm_fork_list_add(w);
    ttshm_fork_unlock();
    ttshm_nocancel_end(cancel);
    if (rc != 0) {
        if (w->report_errors)
            fprintf(stderr, "ttshm: cannot open a segment in registry \"%s\": %s: tracking off\n",
                    w->registry, ttshm_strerror(rc));
        ttshm_preparer_stop(w);
        pthread_mutex_destroy(&w->grow_lock);
        free(w);
        return rc;
    }
    *out = w;
    return 0;
}

/* ---- close ---- */

void ttshm_mark_exited(ttshm_writer *w)
{
    atomic_store(&w->closed, 1);
    if (w->hdr == NULL)
        return; /* a forked child's copy: the segment is the parent's */
    /* Outside seq (a growth may hold it): ended_ns first, then the state with
     * release; readers load the state with acquire before ended_ns. */
    store(&w->hdr->ended_ns, realtime_ns());
    atomic_store_explicit(&w->hdr->state, TTSHM_SEG_EXITED, memory_order_release);
}

void ttshm_writer_close(ttshm_writer *w)
{
    if (w == NULL)
        return;
    int cancel = ttshm_nocancel_begin();
    /* Until the header's descriptor is closed, a child forked meanwhile must
     * find the writer listed, to drop its copy. */
    ttshm_fork_lock();
    ttshm_preparer_stop(w);
    pthread_mutex_lock(&w->grow_lock);
    ttshm_mark_exited(w);
    /* The tables stay in /dev/shm: readers list the leaks from them until a
     * new writer takes the slot over. */
    struct ttshm_view *v = atomic_load(&w->view);
    if (v != NULL) {
        ttshm_table_destroy(v->cur);
        ttshm_table_destroy(v->old);
        free(v->after); /* the view prepared for the end of a migration */
        free(v);
    }
    if (w->hdr)
        munmap(w->hdr, w->hdr_bytes);
    if (w->fd >= 0)
        close(w->fd); /* drops the lock: readers now see "exited" */
    pthread_mutex_unlock(&w->grow_lock);
    ttshm_fork_list_remove(w);
    ttshm_fork_unlock();
    ttshm_nocancel_end(cancel);
    pthread_mutex_destroy(&w->grow_lock);
    free(w);
}

const char *ttshm_writer_segment_name(const ttshm_writer *w)
{
    return w ? w->segment : "";
}

uint64_t ttshm_writer_generation(const ttshm_writer *w)
{
    return w ? w->generation : 0;
}
