/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Data collection: find the segments, read each one through libttshm-reader,
 * apply the filters, sum the live writers per device, and visit the buffer
 * rows of the buffers/leaks views (streamed, or kept for a sort). Everything the outputs print
 * comes from here.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "stat.h"

/* A writer taking a segment over makes it briefly unreadable (BUSY). A read
 * is retried this far apart for at most SEGMENT_BUDGET_NS; once the retries of
 * one refresh have used REFRESH_BUDGET_NS, each segment gets one try. A
 * segment still busy then is reported as such and the others are shown. */
#define BUSY_PAUSE_NS     (5 * 1000 * 1000)
#define SEGMENT_BUDGET_NS (100 * 1000 * 1000)
#define REFRESH_BUDGET_NS (1000 * 1000 * 1000)

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

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

/* Runs one read of a segment, retrying while a writer holds it mid-change,
 * within the budgets above (*spent_ns: retry time used so far this refresh). */
static int read_segment(struct stat_segment *s, uint64_t *spent_ns)
{
    uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
    int rc = 0;
    for (int attempt = 0;; attempt++) {
        uint64_t used = clock_ns(CLOCK_MONOTONIC) - t0;
        if (attempt > 0) {
            if (used >= SEGMENT_BUDGET_NS || *spent_ns + used >= REFRESH_BUDGET_NS)
                break;
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
            ttshm_reader_close(r);
        }
        if (rc != -TTSHM_E_BUSY && s->st.state != TTSHM_STATE_STARTING)
            break;
    }
    *spent_ns += clock_ns(CLOCK_MONOTONIC) - t0;
    return rc;
}

/* Totals over live writers. Live counts, bytes and event counts add up; the
 * capacity of a device is the same whoever publishes it, so it is the largest
 * published; peak is the sum of the writers' peaks (an upper bound). */
static void sum_live(const struct stat_options *o, struct stat_model *m)
{
    memset(m->totals, 0, sizeof m->totals);
    memset(m->identity, 0, sizeof m->identity);
    m->live_writers = 0;
    for (size_t i = 0; i < m->nseg; i++) {
        const struct stat_segment *s = &m->seg[i];
        if (s->st.state != TTSHM_STATE_ALIVE)
            continue;
        m->live_writers++;
        for (unsigned d = 0; d < s->stats.device_count && d < TTSHM_MAX_DEVICES; d++) {
            if (!stat_device_selected(o, d))
                continue;
            if (m->identity[d].unique_id == 0 && m->identity[d].name[0] == '\0')
                m->identity[d] = s->stats.identity[d];
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
                x->bulk_freed += c->bulk_freed;
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

/* Total order of rows: the sort key, then device, type, address, segment,
 * then what is left of the entry (CBs of several owners share an address). */
static int cmp_rows(const void *pa, const void *pb)
{
    const struct stat_row *a = pa, *b = pb;
    int c = 0;
    switch (sort_key) {
    case SORT_SIZE:
        c = cmp_u64(b->e.size, a->e.size);
        break;
    case SORT_AGE: /* oldest first */
        c = cmp_u64(a->e.timestamp_ns, b->e.timestamp_ns);
        break;
    case SORT_NONE:
    case SORT_ADDRESS:
        break;
    }
    if (c == 0)
        c = cmp_u64(a->e.device, b->e.device);
    if (c == 0)
        c = cmp_u64(a->e.type, b->e.type);
    if (c == 0)
        c = cmp_u64(a->e.address, b->e.address);
    if (c == 0)
        c = cmp_u64(a->seg, b->seg);
    if (c == 0)
        c = cmp_u64(a->e.tag, b->e.tag);
    if (c == 0)
        c = cmp_u64(a->e.timestamp_ns, b->e.timestamp_ns);
    return c;
}

/* Rows of a sorted view. With --top N they are a max-heap of the N first rows
 * in view order (its root is the last of them, replaced by any row that sorts
 * before it), so memory stays N rows whatever the number of buffers. */
struct row_sink {
    const struct stat_options *o;
    struct stat_model *m;
    uint32_t seg;
    size_t cap;
    bool nomem;
};

static void swap_rows(struct stat_row *a, struct stat_row *b)
{
    struct stat_row t = *a;
    *a = *b;
    *b = t;
}

static void sift_down(struct stat_row *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, top = i;
        if (l < n && cmp_rows(&h[l], &h[top]) > 0)
            top = l;
        if (r < n && cmp_rows(&h[r], &h[top]) > 0)
            top = r;
        if (top == i)
            return;
        swap_rows(&h[i], &h[top]);
        i = top;
    }
}

static void sift_up(struct stat_row *h, size_t i)
{
    for (; i > 0 && cmp_rows(&h[i], &h[(i - 1) / 2]) > 0; i = (i - 1) / 2)
        swap_rows(&h[i], &h[(i - 1) / 2]);
}

static int sink_row(const struct ttshm_entry *e, void *ctx)
{
    struct row_sink *k = ctx;
    struct stat_model *m = k->m;
    if (!stat_device_selected(k->o, e->device) || !stat_type_selected(k->o, e->type))
        return 0;
    m->nrows_all++;
    struct stat_row row = {*e, k->seg};
    if (k->o->top && m->nrows == k->o->top) {
        if (cmp_rows(&row, &m->rows[0]) < 0) {
            m->rows[0] = row;
            sift_down(m->rows, m->nrows, 0);
        }
        return 0;
    }
    if (m->nrows == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 1024;
        if (k->o->top && cap > k->o->top)
            cap = k->o->top;
        struct stat_row *v = realloc(m->rows, cap * sizeof *v);
        if (v == NULL) {
            k->nomem = true;
            return 1;
        }
        m->rows = v;
        k->cap = cap;
    }
    m->rows[m->nrows++] = row;
    if (k->o->top)
        sift_up(m->rows, m->nrows - 1);
    return 0;
}

/* Opens segment s again and visits its live entries. The rows belong to the
 * session its counters were read from: a segment taken over since gives none. */
static int scan_segment(struct stat_segment *s, ttshm_entry_fn fn, void *ctx)
{
    ttshm_reader *r = NULL;
    int rc = ttshm_reader_open(s->info.segment, &r);
    if (rc != 0)
        return rc;
    struct ttshm_status st = {.struct_size = sizeof st};
    rc = ttshm_reader_status(r, &st);
    if (rc == 0 && st.generation == s->st.generation)
        rc = ttshm_reader_foreach(r, fn, ctx);
    s->skipped = ttshm_reader_skipped(r);
    ttshm_reader_close(r);
    if (rc < 0 && rc != -TTSHM_E_NOENT)
        fprintf(stderr, "tt-shm-stat: %s: buffers: %s\n", s->info.segment, ttshm_strerror(rc));
    return rc;
}

static int collect_sorted_rows(const struct stat_options *o, struct stat_model *m)
{
    struct row_sink k = {.o = o, .m = m};
    sort_key = o->sort;
    for (size_t i = 0; i < m->nseg; i++) {
        if (!stat_segment_has_rows(o, &m->seg[i]))
            continue;
        k.seg = (uint32_t)i;
        scan_segment(&m->seg[i], sink_row, &k);
        if (k.nomem)
            return -TTSHM_E_NOMEM;
    }
    qsort(m->rows, m->nrows, sizeof *m->rows, cmp_rows);
    return 0;
}

/* Streaming: the entries of one segment go straight to the output. */
struct stream {
    const struct stat_options *o;
    const struct stat_segment *s;
    stat_row_fn fn;
    void *ctx;
    uint64_t n;
};

static int stream_entry(const struct ttshm_entry *e, void *ctx)
{
    struct stream *x = ctx;
    if (!stat_device_selected(x->o, e->device) || !stat_type_selected(x->o, e->type))
        return 0;
    x->n++;
    return x->fn(x->s, e, x->ctx);
}

uint64_t stat_rows(const struct stat_options *o, struct stat_model *m,
                   const struct stat_segment *only, stat_row_fn fn, void *ctx)
{
    uint64_t n = 0;
    if (o->sort != SORT_NONE) {
        for (size_t i = 0; i < m->nrows; i++) {
            const struct stat_segment *s = &m->seg[m->rows[i].seg];
            if (only != NULL && s != only)
                continue;
            n++;
            if (fn(s, &m->rows[i].e, ctx) != 0)
                break;
        }
        return n;
    }
    for (size_t i = 0; i < m->nseg; i++) {
        struct stat_segment *s = &m->seg[i];
        if ((only != NULL && s != only) || !stat_segment_has_rows(o, s))
            continue;
        struct stream x = {o, s, fn, ctx, 0};
        int rc = scan_segment(s, stream_entry, &x);
        n += x.n;
        if (rc > 0)
            break;
    }
    return n;
}

/* Every user's segments, with their owner: the caller shows its own (root:
 * all), or all of them with --all-users, and counts the others, so that "not
 * found" is never said of segments that exist. */
static int list_segments(const char *registry, struct ttshm_segment_info **out, size_t *n)
{
    size_t max = 16, found = 0;
    for (;;) {
        struct ttshm_segment_info *v = calloc(max, sizeof *v);
        if (v == NULL)
            return -TTSHM_E_NOMEM;
        for (size_t i = 0; i < max; i++)
            v[i].struct_size = sizeof v[i];
        int rc = ttshm_list_flags(registry, TTSHM_LIST_ALL_USERS, v, max, &found);
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

static void add_problem(struct stat_model *m, const struct ttshm_segment_info *info, int err)
{
    m->bad = true;
    fprintf(stderr, "tt-shm-stat: %s: %s\n", info->segment, ttshm_strerror(err));
    struct stat_problem *p = realloc(m->problems, (m->nproblems + 1) * sizeof *p);
    if (p == NULL)
        return; /* named on stderr only */
    m->problems = p;
    p[m->nproblems++] = (struct stat_problem){*info, err};
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

    /* One bad segment never hides the others: it is reported, the rest shown. */
    uint64_t spent_ns = 0;
    uid_t me = geteuid();
    for (size_t i = 0; i < ninfo; i++) {
        struct stat_segment *s = &m->seg[m->nseg];
        memset(s, 0, sizeof *s);
        s->info = infos[i];
        if (s->info.flags & TTSHM_SEGMENT_UNREADABLE) {
            m->unreadable++;
            continue;
        }
        if (!o->all_users && me != 0 && s->info.owner_uid != me) {
            m->others++; /* another user's: shown with --all-users */
            continue;
        }
        rc = read_segment(s, &spent_ns);
        if (rc == -TTSHM_E_NOENT)
            continue; /* removed since it was listed */
        if (rc == -TTSHM_E_ACCESS)
            m->unreadable++;
        else if (rc != 0)
            add_problem(m, &s->info, rc);
        else if (pid_selected(o, s->st.pid))
            m->nseg++;
    }
    free(infos);
    sum_live(o, m);
    bool rows = o->view == VIEW_BUFFERS || o->view == VIEW_LEAKS;
    if (rows && o->sort != SORT_NONE && collect_sorted_rows(o, m) != 0) {
        fputs("tt-shm-stat: out of memory\n", stderr);
        return STAT_EXIT_NOTHING;
    }
    if (m->bad)
        return STAT_EXIT_BAD;
    return m->nseg ? STAT_EXIT_OK : STAT_EXIT_NOTHING;
}

void stat_model_free(struct stat_model *m)
{
    free(m->seg);
    free(m->rows);
    free(m->problems);
    memset(m, 0, sizeof *m);
}
