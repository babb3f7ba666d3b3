/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Opening, taking over and closing a writer's segment (docs/design.md,
 * "Restart" and "Crash"). Liveness is an OFD lock on the header object that
 * the writer holds for its life: the kernel drops it when the process dies,
 * so readers are not fooled by pid reuse, and no one need clean up.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rcu.h"
#include "writer_internal.h"

#ifdef TTSHM_TSAN
char ttshm_rcu_tsan_sync;
#endif

/* ---- errors ---- */

void ttshm_report(struct ttshm_writer *w, const char *fmt, ...)
{
    if (!w->report_errors || atomic_exchange(&w->reported, 1))
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "ttshm: %s: %s (tracking continues with what fits)\n", w->segment, msg);
}

static int errno_code(int e)
{
    switch (e) {
    case ENOSPC:
    case EFBIG:
        return -TTSHM_E_NOSPC;
    case ENOMEM:
        return -TTSHM_E_NOMEM;
    case EACCES:
    case EPERM:
        return -TTSHM_E_ACCESS;
    case ENOENT:
        return -TTSHM_E_NOENT;
    default:
        return -TTSHM_E_IO;
    }
}

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

uint64_t ttshm_live_total(const struct ttshm_header *h, uint64_t *bytes)
{
    uint64_t count = 0, total_bytes = 0;
    for (unsigned d = 0; d < TTSHM_MAX_DEVICES; d++)
        for (unsigned t = 0; t < TTSHM_MEM_TYPE_COUNT; t++) {
            uint64_t c, b;
            ttshm_counters_live(&h->counters[d][t], &c, &b);
            count += c;
            total_bytes += b;
        }
    *bytes = total_bytes;
    return count;
}

/* ---- shared-memory objects ---- */

/* Sizes the object and reserves its pages, so a full /dev/shm is an error
 * here rather than a SIGBUS on first touch. */
static int reserve(int fd, uint64_t bytes)
{
    if (ftruncate(fd, (off_t)bytes) != 0)
        return errno_code(errno);
    int e = posix_fallocate(fd, 0, (off_t)bytes);
    return e == 0 ? 0 : errno_code(e);
}

int ttshm_table_create(struct ttshm_writer *w, uint64_t nslots, struct ttshm_table **out)
{
    char name[128];
    uint64_t epoch = atomic_fetch_add_explicit(&w->next_epoch, 1, memory_order_relaxed);
    int rc = ttshm_table_object_name(name, sizeof name, w->registry, w->slot, epoch);
    if (rc)
        return rc;
    size_t bytes = ttshm_table_bytes(nslots);
    struct ttshm_table *t = aligned_alloc(TTSHM_CACHELINE, sizeof *t);
    if (t == NULL)
        return -TTSHM_E_NOMEM;
    memset(t, 0, sizeof *t);
    shm_unlink(name); /* a leftover of a writer that died mid-growth */
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, w->mode);
    if (fd < 0) {
        rc = errno_code(errno);
        free(t);
        return rc;
    }
    if (fchmod(fd, w->mode) != 0 || (rc = reserve(fd, bytes)) != 0) {
        rc = rc ? rc : errno_code(errno);
        goto fail;
    }
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        rc = errno_code(errno);
        goto fail;
    }
    close(fd);
    /* Fault every page in now, so recording calls never take a page fault on
     * a table. One page at a time rather than MAP_POPULATE, which holds the
     * process's mmap lock for the whole table and stalls every other fault
     * of the host meanwhile. The table is not published yet: zeros are what
     * it holds already. */
    long page = sysconf(_SC_PAGESIZE);
    for (size_t off = 0; off < bytes; off += (size_t)page)
        atomic_store_explicit((_Atomic uint64_t *)((char *)p + off), 0, memory_order_relaxed);
    t->hdr = p;
    t->slots = (struct ttshm_slot *)((char *)p + sizeof(struct ttshm_table_header));
    t->nslots = nslots;
    t->mask = nslots - 1;
    t->epoch = epoch;
    t->map_bytes = bytes;
    uint64_t every = nslots >> 10; /* re-sum the used shards every nslots/1024 claims */
    t->check_mask = every < 1 ? 0 : (every > 64 ? 63 : every - 1);
    atomic_store_explicit(&t->hdr->instance_id, w->instance_id, memory_order_relaxed);
    atomic_store_explicit(&t->hdr->epoch, epoch, memory_order_relaxed);
    atomic_store_explicit(&t->hdr->nslots, nslots, memory_order_relaxed);
    atomic_store_explicit(&t->hdr->slot_size, sizeof(struct ttshm_slot), memory_order_relaxed);
    atomic_store_explicit(&t->hdr->generation, w->generation, memory_order_relaxed);
    atomic_store_explicit(&t->hdr->magic, TTSHM_TABLE_MAGIC, memory_order_release);
    atomic_fetch_add_explicit(&w->hdr->tables_created, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->hdr->table_bytes_created, bytes, memory_order_relaxed);
    *out = t;
    return 0;
fail:
    close(fd);
    shm_unlink(name);
    free(t);
    return rc;
}

void ttshm_table_destroy(struct ttshm_table *t)
{
    if (t == NULL)
        return;
    munmap(t->hdr, t->map_bytes);
    free(t);
}

void ttshm_table_unlink(struct ttshm_writer *w, uint64_t epoch)
{
    char name[128];
    if (ttshm_table_object_name(name, sizeof name, w->registry, w->slot, epoch) == 0)
        shm_unlink(name);
}

/* Removes every table object of this slot: those of the session taken over,
 * including one a writer that died mid-growth never published. */
static void unlink_slot_tables(struct ttshm_writer *w)
{
    char prefix[128];
    snprintf(prefix, sizeof prefix, "ttshm.%s.%u.t", w->registry, w->slot);
    DIR *d = opendir("/dev/shm");
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            char name[300];
            snprintf(name, sizeof name, "/%s", e->d_name);
            shm_unlink(name);
        }
    closedir(d);
}

/* ---- the process's writers, for fork ---- */

static pthread_mutex_t writers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ttshm_writer *writers;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void atfork_prepare(void)
{
    pthread_mutex_lock(&writers_lock);
    ttshm_rcu_before_fork();
}

static void atfork_parent(void)
{
    ttshm_rcu_after_fork_parent();
    pthread_mutex_unlock(&writers_lock);
}

/* A forked child must not record into its parent's segment, nor keep the
 * parent "alive" by holding the lock's file: it drops both. Its handles stay
 * valid and record nothing; the default writer reopens its own segment. */
static void atfork_child(void)
{
    ttshm_rcu_after_fork_child();
    for (struct ttshm_writer *w = writers; w; w = w->list_next) {
        atomic_store(&w->closed, 1);
        /* The mapping references the open file description too, and the OFD
         * lock lives as long as any reference: drop both. */
        if (w->hdr != NULL) {
            munmap(w->hdr, w->hdr_bytes);
            w->hdr = NULL;
        }
        if (w->fd >= 0) {
            close(w->fd);
            w->fd = -1;
        }
        ttshm_preparer_init(w); /* its thread was not forked */
    }
    ttshm_forget_thread_id();
    pthread_mutex_unlock(&writers_lock);
}

static void register_atfork(void)
{
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

static void list_add(struct ttshm_writer *w)
{
    pthread_once(&atfork_once, register_atfork);
    pthread_mutex_lock(&writers_lock);
    w->list_next = writers;
    writers = w;
    pthread_mutex_unlock(&writers_lock);
}

static void list_remove(struct ttshm_writer *w)
{
    pthread_mutex_lock(&writers_lock);
    for (struct ttshm_writer **p = &writers; *p; p = &(*p)->list_next)
        if (*p == w) {
            *p = w->list_next;
            break;
        }
    pthread_mutex_unlock(&writers_lock);
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

/* Summarises the session being taken over into h->prev. */
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
    store(&p->generation, load(&h->generation));
    store(&p->pid, load(&h->pid));
    store(&p->state, exited ? 2 /* TTSHM_STATE_EXITED */ : 3 /* TTSHM_STATE_DIED */);
    store(&p->started_ns, load(&h->started_ns));
    store(&p->ended_ns, exited ? load(&h->ended_ns) : 0);
    store(&p->live_count, total_count);
    store(&p->live_bytes, total_bytes);
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
        summarise_previous(h); /* reads the state the last session left */
    } else {
        memset(&h->prev, 0, sizeof h->prev);
    }
    store(&h->state, TTSHM_SEG_INIT);
    unlink_slot_tables(w);
    for (unsigned d = 0; d < TTSHM_MAX_DEVICES; d++) {
        for (unsigned t = 0; t < TTSHM_TYPE_SLOTS; t++) {
            store(&h->epoch[d][t], 0);
            memset(&h->counters[d][t], 0, sizeof h->counters[d][t]);
        }
        memset(&h->device_ident[d], 0, sizeof h->device_ident[d]);
    }
    store(&h->tables_created, 0);
    store(&h->table_bytes_created, 0);
    w->generation = generation;
    w->instance_id = random_u64();
    atomic_store_explicit(&w->next_epoch, 1, memory_order_relaxed);

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

/* Tries one registry slot. Returns 0 (w set up), 1 (held by a live writer:
 * try the next), or -TTSHM_E_*. */
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
            rc = errno_code(errno);
            close(fd);
            shm_unlink(name);
            return rc;
        }
    } else {
        if (errno != EEXIST)
            return errno_code(errno);
        created = false;
        fd = shm_open(name, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK,
                      0); /* a FIFO must not block us */
        if (fd < 0)
            return errno == ENOENT ? 1 : errno_code(errno);
        struct stat st;
        if (fstat(fd, &st) != 0) {
            rc = errno_code(errno);
            close(fd);
            return rc;
        }
        /* Someone else's object under our name, or one others may write: a
         * hijack or a mistake. Either way, not ours to record into. */
        if (st.st_uid != geteuid()) {
            close(fd);
            return -TTSHM_E_ACCESS;
        }
        if ((st.st_mode & 022) != 0 || !S_ISREG(st.st_mode)) {
            close(fd);
            return -TTSHM_E_INSECURE;
        }
    }
    if (!lock_object(fd)) {
        close(fd);
        return 1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = errno_code(errno);
        goto fail;
    }
    uint64_t size = TTSHM_HEADER_OBJECT_SIZE;
    bool taken_over = false;
    if (!created && (uint64_t)st.st_size >= sizeof(uint64_t)) {
        uint64_t magic = 0;
        if (pread(fd, &magic, sizeof magic, 0) != (ssize_t)sizeof magic) {
            rc = errno_code(errno);
            goto fail;
        }
        if (magic != 0) {
            /* Never shrink a file someone may have mapped. */
            if ((uint64_t)st.st_size > size)
                size = (uint64_t)st.st_size;
            taken_over = true;
        }
    }
    if ((uint64_t)st.st_size < size && (rc = reserve(fd, size)) != 0)
        goto fail;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        rc = errno_code(errno);
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
        goto fail;
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
    uint64_t initial = round_pow2(cfg.initial_slots ? cfg.initial_slots : 16384);

    int rc = -TTSHM_E_FULL;
    for (unsigned slot = 0; slot < TTSHM_MAX_SLOTS; slot++) {
        rc = try_slot(w, slot, initial);
        if (rc <= 0)
            break;
        rc = -TTSHM_E_FULL;
    }
    if (rc != 0) {
        if (w->report_errors)
            fprintf(stderr, "ttshm: cannot open a segment in registry \"%s\": %s: tracking off\n",
                    w->registry, ttshm_strerror(rc));
        ttshm_preparer_stop(w);
        pthread_mutex_destroy(&w->grow_lock);
        free(w);
        return rc;
    }
    list_add(w);
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
    list_remove(w);
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
