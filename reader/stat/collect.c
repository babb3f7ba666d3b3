/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Data collection: find the segments, read each one through libttshm-reader,
 * apply the filters, sum the live writers per device, and pick the buffer rows
 * of the buffers/leaks views. Everything the outputs print comes from here.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stat.h"

/* A writer taking a segment over makes it briefly unreadable (BUSY); retry
 * this many times, this far apart, before giving up on it for this refresh. */
#define BUSY_RETRIES  40
#define BUSY_PAUSE_NS (5 * 1000 * 1000)

bool stat_device_selected(const struct stat_options *o, unsigned device)
{
    return device < TTSHM_MAX_DEVICES && (o->device_mask >> device & 1u);
}

bool stat_type_selected(const struct stat_options *o, unsigned type)
{
    return type < TTSHM_MEM_TYPE_COUNT && (o->type_mask >> type & 1u);
}

bool stat_counters_active(const struct ttshm_counters *c)
{
    return c->allocs || c->frees || c->unknown_frees || c->duplicate_allocs || c->dropped ||
           c->capacity_bytes || c->live_count;
}

bool stat_device_active(const struct stat_options *o, const struct ttshm_counters dev[])
{
    for (unsigned t = 0; t < TTSHM_MEM_TYPE_COUNT; t++)
        if (stat_type_selected(o, t) && stat_counters_active(&dev[t]))
            return true;
    return false;
}

void stat_segment_live(const struct stat_options *o, const struct stat_segment *s, uint64_t *count,
                       uint64_t *bytes)
{
    *count = *bytes = 0;
    for (unsigned d = 0; d < s->stats.device_count && d < TTSHM_MAX_DEVICES; d++) {
        if (!stat_device_selected(o, d))
            continue;
        for (unsigned t = 0; t < TTSHM_MEM_TYPE_COUNT; t++) {
            if (!stat_type_selected(o, t))
                continue;
            *count += s->stats.dev[d][t].live_count;
            *bytes += s->stats.dev[d][t].live_bytes;
        }
    }
}

const char *stat_buffer_status(const struct stat_segment *s)
{
    switch (s->st.state) {
    case TTSHM_STATE_EXITED:
        return "leaked";
    case TTSHM_STATE_DIED:
        return "stale";
    default:
        return "live";
    }
}

bool stat_segment_has_rows(const struct stat_options *o, const struct stat_segment *s)
{
    if (o->view == VIEW_BUFFERS)
        return true;
    /* Only a finished writer's buffers can be leaks (exited) or stale (died);
     * a running writer may still free its own. */
    return o->view == VIEW_LEAKS &&
           (s->st.state == TTSHM_STATE_EXITED || s->st.state == TTSHM_STATE_DIED);
}

static bool pid_selected(const struct stat_options *o, uint32_t pid)
{
    if (o->npids == 0)
        return true;
    for (unsigned i = 0; i < o->npids; i++)
        if (o->pids[i] == pid)
            return true;
    return false;
}

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool is_bad(int err)
{
    err = err < 0 ? -err : err;
    return err == TTSHM_E_BADMAGIC || err == TTSHM_E_VERSION || err == TTSHM_E_CORRUPT ||
           err == TTSHM_E_INSECURE;
}

/* Runs one read of a segment, retrying while a writer holds it mid-change. */
static int read_segment(struct stat_segment *s, bool want_entries)
{
    int rc = 0;
    for (int attempt = 0; attempt < BUSY_RETRIES; attempt++) {
        if (attempt > 0) {
            struct timespec nap = {0, BUSY_PAUSE_NS};
            nanosleep(&nap, NULL);
        }
        ttshm_reader *r = NULL;
        rc = ttshm_reader_open(s->info.segment, &r);
        if (rc == 0) {
            s->st.struct_size = sizeof s->st;
            s->stats.struct_size = sizeof s->stats;
            rc = ttshm_reader_status(r, &s->st);
            if (rc == 0)
                rc = ttshm_reader_stats(r, &s->stats);
            if (rc == 0 && want_entries) {
                free(s->entries);
                s->entries = NULL;
                s->nentries = 0;
                rc = ttshm_reader_snapshot(r, &s->entries, &s->nentries);
                s->skipped = ttshm_reader_skipped(r);
            }
            ttshm_reader_close(r);
        }
        if (rc != -TTSHM_E_BUSY && s->st.state != TTSHM_STATE_STARTING)
            break;
    }
    return rc;
}

/* Keeps the entries of the selected devices and types. */
static void filter_entries(const struct stat_options *o, struct stat_segment *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nentries; i++)
        if (stat_device_selected(o, s->entries[i].device) &&
            stat_type_selected(o, s->entries[i].type))
            s->entries[n++] = s->entries[i];
    s->nentries = n;
}

/* Totals over live writers. Live counts, bytes and event counts add up; the
 * capacity of a device is the same whoever publishes it, so it is the largest
 * published; peak is the sum of the writers' peaks (an upper bound). */
static void sum_live(const struct stat_options *o, struct stat_model *m)
{
    memset(m->totals, 0, sizeof m->totals);
    m->live_writers = 0;
    for (size_t i = 0; i < m->nseg; i++) {
        const struct stat_segment *s = &m->seg[i];
        if (s->st.state != TTSHM_STATE_ALIVE)
            continue;
        m->live_writers++;
        for (unsigned d = 0; d < s->stats.device_count && d < TTSHM_MAX_DEVICES; d++) {
            if (!stat_device_selected(o, d))
                continue;
            for (unsigned t = 0; t < TTSHM_MEM_TYPE_COUNT; t++) {
                const struct ttshm_counters *c = &s->stats.dev[d][t];
                struct ttshm_counters *x = &m->totals[d][t];
                if (!stat_type_selected(o, t))
                    continue;
                x->live_bytes += c->live_bytes;
                x->live_count += c->live_count;
                x->peak_bytes += c->peak_bytes;
                x->allocs += c->allocs;
                x->frees += c->frees;
                x->alloc_bytes += c->alloc_bytes;
                x->unknown_frees += c->unknown_frees;
                x->duplicate_allocs += c->duplicate_allocs;
                x->dropped += c->dropped;
                if (c->capacity_bytes > x->capacity_bytes) {
                    x->capacity_bytes = c->capacity_bytes;
                    x->capacity_banks = c->capacity_banks;
                }
            }
        }
    }
}

static enum stat_sort sort_key;

static int cmp_u64(uint64_t a, uint64_t b)
{
    return a < b ? -1 : a > b;
}

static int cmp_rows(const void *pa, const void *pb)
{
    const struct stat_row *a = pa, *b = pb;
    int c = 0;
    switch (sort_key) {
    case SORT_SIZE:
        c = cmp_u64(b->e->size, a->e->size);
        break;
    case SORT_AGE: /* oldest first */
        c = cmp_u64(a->e->timestamp_ns, b->e->timestamp_ns);
        break;
    case SORT_ADDRESS:
        break;
    }
    if (c == 0)
        c = cmp_u64(a->e->device, b->e->device);
    if (c == 0)
        c = cmp_u64(a->e->type, b->e->type);
    if (c == 0)
        c = cmp_u64(a->e->address, b->e->address);
    if (c == 0)
        c = (a->seg > b->seg) - (a->seg < b->seg);
    if (c == 0)
        c = (a->e > b->e) - (a->e < b->e);
    return c;
}

static int select_rows(const struct stat_options *o, struct stat_model *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->nseg; i++)
        if (stat_segment_has_rows(o, &m->seg[i]))
            n += m->seg[i].nentries;
    m->rows = calloc(n ? n : 1, sizeof *m->rows);
    if (m->rows == NULL)
        return -1;
    for (size_t i = 0; i < m->nseg; i++) {
        if (!stat_segment_has_rows(o, &m->seg[i]))
            continue;
        for (size_t j = 0; j < m->seg[i].nentries; j++)
            m->rows[m->nrows++] = (struct stat_row){&m->seg[i], &m->seg[i].entries[j]};
    }
    sort_key = o->sort;
    qsort(m->rows, m->nrows, sizeof *m->rows, cmp_rows);
    m->nrows_all = m->nrows;
    if (o->top && m->nrows > o->top)
        m->nrows = o->top;
    return 0;
}

static int list_segments(const char *registry, struct ttshm_segment_info **out, size_t *n)
{
    size_t max = 16, found = 0;
    for (;;) {
        struct ttshm_segment_info *v = calloc(max, sizeof *v);
        if (v == NULL)
            return -TTSHM_E_NOMEM;
        for (size_t i = 0; i < max; i++)
            v[i].struct_size = sizeof v[i];
        int rc = ttshm_list(registry, v, max, &found);
        if (rc != 0) {
            free(v);
            return rc;
        }
        if (found <= max) {
            *out = v;
            *n = found;
            return 0;
        }
        free(v); /* more appeared than we had room for: again, bigger */
        max = found + 16;
    }
}

int stat_collect(const struct stat_options *o, struct stat_model *m)
{
    memset(m, 0, sizeof *m);
    struct ttshm_segment_info *infos = NULL;
    size_t ninfo = 0;
    int rc = list_segments(o->name, &infos, &ninfo);
    if (rc == -TTSHM_E_NOENT) {
        ninfo = 0; /* no /dev/shm entries at all: nothing found */
    } else if (rc != 0) {
        fprintf(stderr, "tt-shm-stat: cannot list segments: %s\n", ttshm_strerror(rc));
        return STAT_EXIT_NOTHING;
    }
    m->seg = calloc(ninfo ? ninfo : 1, sizeof *m->seg);
    if (m->seg == NULL) {
        free(infos);
        fputs("tt-shm-stat: out of memory\n", stderr);
        return STAT_EXIT_NOTHING;
    }
    m->now_mono_ns = clock_ns(CLOCK_MONOTONIC_COARSE);
    m->now_real_ns = clock_ns(CLOCK_REALTIME);

    bool want_entries = o->view == VIEW_BUFFERS || o->view == VIEW_LEAKS;
    for (size_t i = 0; i < ninfo; i++) {
        struct stat_segment *s = &m->seg[m->nseg];
        memset(s, 0, sizeof *s);
        s->info = infos[i];
        rc = read_segment(s, want_entries);
        if (rc == -TTSHM_E_NOENT) {
            free(s->entries);
            continue; /* removed since it was listed */
        }
        if (rc != 0) {
            fprintf(stderr, "tt-shm-stat: %s: %s\n", s->info.segment, ttshm_strerror(rc));
            if (is_bad(rc))
                m->bad = true;
            free(s->entries);
            continue;
        }
        if (!pid_selected(o, s->st.pid)) {
            free(s->entries);
            continue;
        }
        if (want_entries && !stat_segment_has_rows(o, s)) {
            free(s->entries); /* a running writer has no leaks to show */
            s->entries = NULL;
            s->nentries = 0;
        }
        filter_entries(o, s);
        m->nseg++;
    }
    free(infos);
    sum_live(o, m);
    if (want_entries && select_rows(o, m) != 0) {
        fputs("tt-shm-stat: out of memory\n", stderr);
        return STAT_EXIT_NOTHING;
    }
    if (m->bad)
        return STAT_EXIT_BAD;
    return m->nseg ? STAT_EXIT_OK : STAT_EXIT_NOTHING;
}

void stat_model_free(struct stat_model *m)
{
    for (size_t i = 0; i < m->nseg; i++)
        free(m->seg[i].entries);
    free(m->seg);
    free(m->rows);
    memset(m, 0, sizeof *m);
}
