/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Table objects ("ttshm.<registry>.<slot>.t<epoch>"). A session numbers its
 * tables from a random epoch (session.c), so another user cannot plant an
 * object under a name the writer will use next; and if one is there all the
 * same, the writer moves on to the next epoch instead of failing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "host_limits.h"
#include "table_object.h"

/* Names tried per table before the creation fails (each taken by someone). */
#define NAME_TRIES 8

int ttshm_object_reserve(int fd, uint64_t bytes)
{
    /* Checked first: past RLIMIT_FSIZE ftruncate raises SIGXFSZ, and past a
     * memory cgroup's limit posix_fallocate summons its OOM killer. */
    int rc = ttshm_host_limits_allow(bytes);
    if (rc != 0)
        return rc;
    if (ftruncate(fd, (off_t)bytes) != 0)
        return ttshm_errno_code(errno);
    /* Reserved now, so a full /dev/shm is an error here rather than a SIGBUS
     * on first touch. */
    int e = posix_fallocate(fd, 0, (off_t)bytes);
    return e == 0 ? 0 : ttshm_errno_code(e);
}

/* Creates the object of a new table: under the next epoch whose name is free. */
static int create_object(struct ttshm_writer *w, uint64_t *epoch, char *name, size_t len)
{
    for (int i = 0; i < NAME_TRIES; i++) {
        *epoch = atomic_fetch_add_explicit(&w->next_epoch, 1, memory_order_relaxed);
        int rc = ttshm_table_object_name(name, len, w->registry, w->slot, *epoch);
        if (rc)
            return rc;
        int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, w->mode);
        if (fd >= 0 || errno != EEXIST)
            return fd >= 0 ? fd : ttshm_errno_code(errno);
    }
    return -TTSHM_E_ACCESS;
}

int ttshm_table_create(struct ttshm_writer *w, uint64_t nslots, struct ttshm_table **out)
{
    char name[128];
    uint64_t epoch;
    size_t bytes = ttshm_table_bytes(nslots);
    struct ttshm_table *t = aligned_alloc(TTSHM_CACHELINE, sizeof *t);
    if (t == NULL)
        return -TTSHM_E_NOMEM;
    memset(t, 0, sizeof *t);
    int rc = 0, fd = create_object(w, &epoch, name, sizeof name);
    if (fd < 0) {
        free(t);
        return fd;
    }
    if (fchmod(fd, w->mode) != 0 || (rc = ttshm_object_reserve(fd, bytes)) != 0) {
        rc = rc ? rc : ttshm_errno_code(errno);
        goto fail;
    }
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        rc = ttshm_errno_code(errno);
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
    t->ctl = ttshm_table_ctl(p);
    t->slots = ttshm_table_slots(p, nslots);
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
    atomic_store_explicit(&t->hdr->ctl_offset, TTSHM_CTL_OFFSET, memory_order_relaxed);
    atomic_store_explicit(&t->hdr->slots_offset, ttshm_slots_offset(nslots), memory_order_relaxed);
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

void ttshm_unlink_slot_tables(struct ttshm_writer *w)
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
            shm_unlink(name); /* fails on another user's object: it is not in our way */
        }
    closedir(d);
}
