/* SPDX-License-Identifier: Apache-2.0 */
/* Human output: the summary tables, the buffers, leaks and list views. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "stat.h"

static const char *plural(uint64_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

/* ---- a small aligned-columns table ---- */

#define TBL_MAX_COLS 12

struct cell {
    char text[72];         /* a segment name (63 bytes at most) fits */
    enum stat_color color; /* C_RESET: none */
};

struct table {
    unsigned ncols;
    const char *const *head;
    const char *right; /* 'r' per right-aligned column */
    struct cell *cells;
    size_t nrows, cap;
};

static void tbl_init(struct table *t, const char *const *head, const char *right)
{
    memset(t, 0, sizeof *t);
    while (head[t->ncols] != NULL && t->ncols < TBL_MAX_COLS)
        t->ncols++;
    t->head = head;
    t->right = right;
}

/* A new row; NULL when out of memory (the row is then left out). */
static struct cell *tbl_row(struct table *t)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 32;
        struct cell *c = realloc(t->cells, cap * t->ncols * sizeof *c);
        if (c == NULL)
            return NULL;
        t->cells = c;
        t->cap = cap;
    }
    struct cell *row = &t->cells[t->nrows++ * t->ncols];
    memset(row, 0, t->ncols * sizeof *row);
    return row;
}

static void tbl_print(FILE *out, const struct stat_options *o, struct table *t, const char *indent)
{
    size_t width[TBL_MAX_COLS];
    for (unsigned c = 0; c < t->ncols; c++)
        width[c] = strlen(t->head[c]);
    for (size_t r = 0; r < t->nrows; r++)
        for (unsigned c = 0; c < t->ncols; c++) {
            size_t n = strlen(t->cells[r * t->ncols + c].text);
            if (n > width[c])
                width[c] = n;
        }
    fprintf(out, "%s%s", indent, color(o, C_BOLD));
    for (unsigned c = 0; c < t->ncols; c++) {
        bool last = c + 1 == t->ncols;
        if (t->right[c] == 'r')
            fprintf(out, "%*s%s", (int)width[c], t->head[c], last ? "" : "  ");
        else
            fprintf(out, "%-*s%s", last ? 0 : (int)width[c], t->head[c], last ? "" : "  ");
    }
    fprintf(out, "%s\n", color(o, C_RESET));
    for (size_t r = 0; r < t->nrows; r++) {
        fputs(indent, out);
        for (unsigned c = 0; c < t->ncols; c++) {
            const struct cell *x = &t->cells[r * t->ncols + c];
            bool last = c + 1 == t->ncols;
            const char *on = x->color != C_RESET ? color(o, x->color) : "";
            const char *off = x->color != C_RESET ? color(o, C_RESET) : "";
            if (t->right[c] == 'r')
                fprintf(out, "%s%*s%s%s", on, (int)width[c], x->text, off, last ? "" : "  ");
            else
                fprintf(out, "%s%-*s%s%s", on, last ? 0 : (int)width[c], x->text, off,
                        last ? "" : "  ");
        }
        fputc('\n', out);
    }
    free(t->cells);
    t->cells = NULL;
    t->nrows = t->cap = 0;
}

/* ---- counters tables ---- */

static void capacity_cell(struct cell *c, const struct ttshm_counters *x)
{
    if (x->capacity_bytes == 0) {
        snprintf(c->text, sizeof c->text, "-");
        return;
    }
    char cap[32];
    double pct = 100.0 * (double)x->live_bytes / (double)x->capacity_bytes;
    snprintf(c->text, sizeof c->text, "%.1f%% of %s", pct, fmt_bytes(cap, x->capacity_bytes));
    c->color = pct >= 90.0 ? C_RED : pct >= 75.0 ? C_YELLOW : C_RESET;
}

static void counters_table(FILE *out, const struct stat_options *o, unsigned ndev,
                           const struct ttshm_counters (*dev)[TTSHM_MEM_TYPE_COUNT])
{
    /* 80 columns for the usual values; unknown frees go on the note line. */
    static const char *const head[] = {"DEV",    "TYPE",  "LIVE",         "BUFFERS", "PEAK",
                                       "ALLOCS", "FREES", "CAPACITY USE", NULL};
    struct table t;
    tbl_init(&t, head, "rlrrrrrl");
    for (unsigned d = 0; d < ndev && d < TTSHM_MAX_DEVICES; d++) {
        if (!stat_device_selected(o, d))
            continue;
        for (unsigned ty = 0; ty < TTSHM_MEM_TYPE_COUNT; ty++) {
            const struct ttshm_counters *x = &dev[d][ty];
            if (!stat_type_selected(o, ty) || !stat_counters_active(x))
                continue;
            struct cell *row = tbl_row(&t);
            if (row == NULL)
                break;
            snprintf(row[0].text, sizeof row[0].text, "%u", d);
            snprintf(row[1].text, sizeof row[1].text, "%s", ttshm_mem_type_name(ty));
            fmt_bytes(row[2].text, x->live_bytes);
            fmt_count(row[3].text, x->live_count);
            fmt_bytes(row[4].text, x->peak_bytes);
            fmt_count(row[5].text, x->allocs);
            fmt_count(row[6].text, x->frees);
            capacity_cell(&row[7], x);
        }
    }
    if (t.nrows == 0) {
        fputs("  (no activity on the selected devices and types)\n", out);
        free(t.cells);
        return;
    }
    tbl_print(out, o, &t, "  ");
}

static const char *state_text(const struct stat_options *o, uint32_t state, char buf[64])
{
    snprintf(buf, 64, "%s%s%s", color(o, state_color(state)),
             ttshm_state_name((enum ttshm_writer_state)state), color(o, C_RESET));
    return buf;
}

/* "ttshm.x.0  pid 42  alive  generation 3  started ... (up 1m02s)" */
static void segment_header(FILE *out, const struct stat_options *o, const struct stat_model *m,
                           const struct stat_segment *s)
{
    char st[64], t[32], d[32];
    const struct ttshm_status *x = &s->st;
    fprintf(out, "%s%s%s  pid %" PRIu32 "  %s  generation %" PRIu64, color(o, C_BOLD),
            s->info.segment, color(o, C_RESET), x->pid, state_text(o, x->state, st), x->generation);
    if (x->state == TTSHM_STATE_EXITED && x->ended_ns >= x->started_ns && x->ended_ns != 0)
        fprintf(out, "  started %s, exited after %s",
                fmt_time_near(t, x->started_ns, m->now_real_ns),
                fmt_duration(d, x->ended_ns - x->started_ns));
    else if (x->started_ns && m->now_real_ns >= x->started_ns && x->state == TTSHM_STATE_ALIVE)
        fprintf(out, "  up %s since %s", fmt_duration(d, m->now_real_ns - x->started_ns),
                fmt_time_near(t, x->started_ns, m->now_real_ns));
    else
        fprintf(out, "  started %s", fmt_time_near(t, x->started_ns, m->now_real_ns));
    fputc('\n', out);
}

static void previous_line(FILE *out, const struct stat_options *o, const struct stat_segment *s,
                          const char *indent)
{
    const struct ttshm_session_summary *p = &s->st.previous;
    if (p->state == TTSHM_STATE_NONE)
        return;
    char st[64], n[32], b[32];
    fprintf(out, "%sprevious session: generation %" PRIu64 ", pid %" PRIu32 ", %s", indent,
            p->generation, p->pid, state_text(o, p->state, st));
    if (p->live_count == 0)
        fputs(": nothing left live\n", out);
    else
        fprintf(out, ": %s %s %s (%s)\n", fmt_count(n, p->live_count),
                p->state == TTSHM_STATE_DIED ? "stale" : "leaked",
                plural(p->live_count, "buffer", "buffers"), fmt_bytes(b, p->live_bytes));
}

static void segment_notes(FILE *out, const struct stat_options *o, const struct stat_segment *s)
{
    uint64_t live, bytes, dup = 0, unknown = 0, dropped = s->st.dropped_global;
    char n[32], b[32];
    stat_segment_live(o, s, &live, &bytes);
    if (s->st.state == TTSHM_STATE_EXITED && live > 0)
        fprintf(out, "  %s%s %s (%s) leaked at exit%s: see tt-shm-stat --leaks\n",
                color(o, C_YELLOW), fmt_count(n, live), plural(live, "buffer", "buffers"),
                fmt_bytes(b, bytes), color(o, C_RESET));
    else if (s->st.state == TTSHM_STATE_DIED && live > 0)
        fprintf(out, "  %s%s %s (%s) stale%s: the writer died without closing; not leaks\n",
                color(o, C_RED), fmt_count(n, live), plural(live, "buffer", "buffers"),
                fmt_bytes(b, bytes), color(o, C_RESET));
    for (unsigned d = 0; d < s->stats.device_count && d < TTSHM_MAX_DEVICES; d++)
        for (unsigned t = 0; t < TTSHM_MEM_TYPE_COUNT; t++) {
            dup += s->stats.dev[d][t].duplicate_allocs;
            unknown += s->stats.dev[d][t].unknown_frees;
            dropped += s->stats.dev[d][t].dropped;
        }
    if (unknown || dup || dropped)
        /* Plain numbers: scripts and tests grep for "N dropped". */
        fprintf(out, "  %snote: %" PRIu64 " %s, %" PRIu64 " %s, %" PRIu64 " %s%s\n",
                color(o, C_YELLOW), unknown, plural(unknown, "unknown free", "unknown frees"), dup,
                plural(dup, "duplicate alloc", "duplicate allocs"), dropped,
                plural(dropped, "dropped event", "dropped events"), color(o, C_RESET));
}

/* n per second since the previous frame; "-" when the counter went back
 * (a writer ended between the frames, so the sum lost its counts). */
static void rate_cell(struct cell *c, uint64_t now, uint64_t before, double dt_s, bool bytes)
{
    if (now < before) {
        snprintf(c->text, sizeof c->text, "-");
        return;
    }
    uint64_t per_s = (uint64_t)((double)(now - before) / dt_s + 0.5);
    if (bytes) {
        char b[32];
        snprintf(c->text, sizeof c->text, "%s/s", fmt_bytes(b, per_s));
    } else {
        fmt_count(c->text, per_s);
    }
}

/* Watch mode: allocations, frees and bytes allocated per second, all live
 * writers, per device and type (from the second frame on). */
static void rates_table(FILE *out, const struct stat_options *o, const struct stat_model *m)
{
    static const char *const head[] = {"DEV", "TYPE", "ALLOCS/S", "FREES/S", "ALLOCATED/S", NULL};
    struct table t;
    tbl_init(&t, head, "rlrrr");
    for (unsigned d = 0; d < TTSHM_MAX_DEVICES; d++) {
        if (!stat_device_selected(o, d))
            continue;
        for (unsigned ty = 0; ty < TTSHM_MEM_TYPE_COUNT; ty++) {
            const struct ttshm_counters *x = &m->totals[d][ty], *p = &m->prev_totals[d][ty];
            if (!stat_type_selected(o, ty) || !stat_counters_active(x))
                continue;
            struct cell *row = tbl_row(&t);
            if (row == NULL)
                break;
            snprintf(row[0].text, sizeof row[0].text, "%u", d);
            snprintf(row[1].text, sizeof row[1].text, "%s", ttshm_mem_type_name(ty));
            rate_cell(&row[2], x->allocs, p->allocs, m->prev_dt_s, false);
            rate_cell(&row[3], x->frees, p->frees, m->prev_dt_s, false);
            rate_cell(&row[4], x->alloc_bytes, p->alloc_bytes, m->prev_dt_s, true);
        }
    }
    if (t.nrows == 0) {
        free(t.cells);
        return;
    }
    fprintf(out, "\n%sRates over the last %.1fs, all live writers%s\n", color(o, C_BOLD),
            m->prev_dt_s, color(o, C_RESET));
    tbl_print(out, o, &t, "  ");
}

/* "device 0: chip 0x00000000000004d2 wormhole_b0", for the selected active
 * devices whose identity was published. */
static void identity_lines(FILE *out, const struct stat_options *o, unsigned ndev,
                           const struct ttshm_counters (*dev)[TTSHM_MEM_TYPE_COUNT],
                           const struct ttshm_device_identity *ident)
{
    for (unsigned d = 0; d < ndev && d < TTSHM_MAX_DEVICES; d++) {
        const struct ttshm_device_identity *id = &ident[d];
        char chip[32];
        if ((id->unique_id == 0 && id->name[0] == '\0') || !stat_device_selected(o, d) ||
            !stat_device_active(o, dev[d]))
            continue;
        fprintf(out, "  device %u:", d);
        if (id->unique_id != 0)
            fprintf(out, " chip %s", fmt_chip_id(chip, id->unique_id));
        if (id->name[0] != '\0')
            fprintf(out, " %s", id->name);
        fputc('\n', out);
    }
}

static void summary_view(FILE *out, const struct stat_options *o, const struct stat_model *m)
{
    for (size_t i = 0; i < m->nseg; i++) {
        const struct stat_segment *s = &m->seg[i];
        segment_header(out, o, m, s);
        previous_line(out, o, s, "  ");
        segment_notes(out, o, s);
        counters_table(out, o, s->stats.device_count,
                       (const struct ttshm_counters(*)[TTSHM_MEM_TYPE_COUNT])s->stats.dev);
        identity_lines(out, o, s->stats.device_count,
                       (const struct ttshm_counters(*)[TTSHM_MEM_TYPE_COUNT])s->stats.dev,
                       s->stats.identity);
        fputc('\n', out);
    }
    if (m->live_writers == 0) {
        fputs("No live writer: no per-device totals.\n", out);
        return;
    }
    fprintf(out, "%sAll live writers (%u), per device%s\n", color(o, C_BOLD), m->live_writers,
            color(o, C_RESET));
    counters_table(out, o, TTSHM_MAX_DEVICES,
                   (const struct ttshm_counters(*)[TTSHM_MEM_TYPE_COUNT])m->totals);
    if (m->prev_totals != NULL)
        rates_table(out, o, m);
}

/* ---- buffers ---- */

static const char *sort_text(enum stat_sort s)
{
    static const char *const names[] = {"in table order", "largest first", "oldest first",
                                        "by address"};
    return names[s];
}

/* Buffer rows are printed as they stream, in fixed columns (their widths
 * cannot be measured before the rows are seen); 79 columns for the usual
 * values. */
/* A buffer row is built field by field in fixed widths, without printf's
 * parsing: -b streams rows by the million. */
struct line {
    char b[256];
    size_t n;
};

/* s in a field of |width| columns: right-aligned when width > 0, left when
 * < 0; then one space. A longer s takes the room it needs. */
static void put(struct line *l, const char *s, int width)
{
    size_t len = strlen(s), w = (size_t)(width < 0 ? -width : width);
    size_t pad = len < w ? w - len : 0;
    if (l->n + len + pad + 1 >= sizeof l->b)
        return;
    if (width > 0) {
        memset(l->b + l->n, ' ', pad);
        l->n += pad;
    }
    memcpy(l->b + l->n, s, len);
    l->n += len;
    if (width < 0) {
        memset(l->b + l->n, ' ', pad);
        l->n += pad;
    }
    l->b[l->n++] = ' ';
}

static const char *dec(char buf[24], uint64_t v)
{
    char *p = buf + 23;
    *p = '\0';
    do
        *--p = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    return p;
}

/* "0x%08x" */
static const char *hex8(char buf[24], uint64_t v)
{
    char *p = buf + 23;
    *p = '\0';
    for (int digits = 0; digits < 8 || v != 0; digits++, v >>= 4)
        *--p = "0123456789abcdef"[v & 15];
    *--p = 'x';
    *--p = '0';
    return p;
}

/* PID DEV TYPE ADDRESS SIZE AGE TID STATUS TAG; pid NULL: no PID column (an
 * indent instead). */
static void buffer_line(FILE *out, const char *pid, const char *dev, const char *type,
                        const char *addr, const char *size, const char *age, const char *tid,
                        const char *on, const char *status, const char *off, const char *tag)
{
    struct line l = {.n = 0};
    put(&l, pid ? pid : "", pid ? 7 : 1);
    put(&l, dev, 3);
    put(&l, type, -13);
    put(&l, addr, -10);
    put(&l, size, 10);
    put(&l, age, 7);
    put(&l, tid, 7);
    put(&l, on, 0);
    l.n--; /* the colour codes take no column */
    put(&l, status, -6);
    l.n--;
    put(&l, off, 0);
    put(&l, tag, 0);
    l.b[l.n - 1] = '\n';
    fwrite(l.b, 1, l.n, out);
}

static void buffer_head(FILE *out, const struct stat_options *o, bool with_pid)
{
    fputs(color(o, C_BOLD), out);
    buffer_line(out, with_pid ? "PID" : NULL, "DEV", "TYPE", "ADDRESS", "SIZE", "AGE", "TID", "",
                "STATUS", "", "TAG");
    fputs(color(o, C_RESET), out);
}

struct buffer_rows {
    FILE *out;
    const struct stat_options *o;
    const struct stat_model *m;
    bool with_pid;
};

static int buffer_row(const struct stat_segment *s, const struct ttshm_entry *e, void *ctx)
{
    struct buffer_rows *x = ctx;
    char pid[24], dev[24], addr[24], size[32], age[32], tid[24], tag[24];
    buffer_line(x->out, x->with_pid ? dec(pid, s->st.pid) : NULL, dec(dev, e->device),
                ttshm_mem_type_name(e->type), hex8(addr, e->address), fmt_bytes(size, e->size),
                fmt_duration(age, stat_buffer_age_ns(x->m, e)), dec(tid, e->tid),
                color(x->o, state_color(s->st.state)), stat_buffer_status(s), color(x->o, C_RESET),
                e->tag ? dec(tag, e->tag) : "-");
    return 0;
}

static void buffers_view(FILE *out, const struct stat_options *o, struct stat_model *m)
{
    buffer_head(out, o, true);
    struct buffer_rows x = {out, o, m, true};
    uint64_t n = stat_rows(o, m, NULL, buffer_row, &x);
    uint64_t all = o->sort == SORT_NONE ? n : m->nrows_all;
    char a[32], b[32];
    if (n == 0)
        fputs("No buffers.\n", out);
    else if (n == all)
        fprintf(out, "%s %s, %s\n", fmt_count(a, n), plural(n, "buffer", "buffers"),
                sort_text(o->sort));
    else
        fprintf(out, "%s of %s buffers, %s\n", fmt_count(a, n), fmt_count(b, all),
                sort_text(o->sort));
    for (size_t i = 0; i < m->nseg; i++)
        if (m->seg[i].skipped)
            fprintf(out, "%s: %s half-written %s skipped\n", m->seg[i].info.segment,
                    fmt_count(a, m->seg[i].skipped), plural(m->seg[i].skipped, "entry", "entries"));
}

/* ---- leaks ---- */

static void leak_section(FILE *out, const struct stat_options *o, struct stat_model *m,
                         struct stat_segment *s)
{
    char n[32], b[32], t[32], st[64];
    uint64_t count, bytes;
    stat_segment_live(o, s, &count, &bytes);
    bool died = s->st.state == TTSHM_STATE_DIED;
    if (died)
        fprintf(out, "%sStale buffers (the writer died; not leaks)%s: ", color(o, C_BOLD),
                color(o, C_RESET));
    else
        fprintf(out, "%sLeaks at exit%s: ", color(o, C_BOLD), color(o, C_RESET));
    fprintf(out, "%s  pid %" PRIu32 "  %s  generation %" PRIu64, s->info.segment, s->st.pid,
            state_text(o, s->st.state, st), s->st.generation);
    if (!died)
        fprintf(out, "  exited %s", fmt_time_near(t, s->st.ended_ns, m->now_real_ns));
    fprintf(out, "\n  %s %s, %s\n", fmt_count(n, count), plural(count, "buffer", "buffers"),
            fmt_bytes(b, bytes));
    if (count == 0)
        return;
    buffer_head(out, o, false);
    struct buffer_rows x = {out, o, m, false};
    uint64_t shown = stat_rows(o, m, s, buffer_row, &x);
    if (shown < count)
        fprintf(out, "  ... %s more (see --top)\n", fmt_count(n, count - shown));
    if (s->skipped)
        fprintf(out, "  %s half-written %s skipped\n", fmt_count(n, s->skipped),
                plural(s->skipped, "entry", "entries"));
}

static void leaks_view(FILE *out, const struct stat_options *o, struct stat_model *m)
{
    uint64_t leaks = 0, leak_bytes = 0, stale = 0, running = 0;
    bool any = false;
    /* Leaks first, then stale buffers: they are different verdicts. */
    for (int pass = 0; pass < 2; pass++) {
        uint32_t want = pass == 0 ? TTSHM_STATE_EXITED : TTSHM_STATE_DIED;
        for (size_t i = 0; i < m->nseg; i++) {
            struct stat_segment *s = &m->seg[i];
            uint64_t count, bytes;
            if (s->st.state != want)
                continue;
            stat_segment_live(o, s, &count, &bytes);
            if (want == TTSHM_STATE_EXITED && count == 0) {
                fprintf(out,
                        "%s  pid %" PRIu32 "  generation %" PRIu64 ": exited cleanly, no leaks\n",
                        s->info.segment, s->st.pid, s->st.generation);
                continue;
            }
            if (any)
                fputc('\n', out);
            leak_section(out, o, m, s);
            any = true;
            if (want == TTSHM_STATE_EXITED) {
                leaks += count;
                leak_bytes += bytes;
            } else {
                stale += count;
            }
        }
    }
    for (size_t i = 0; i < m->nseg; i++) {
        const struct ttshm_session_summary *p = &m->seg[i].st.previous;
        char n[32], b[32];
        if (m->seg[i].st.state == TTSHM_STATE_ALIVE)
            running++;
        if (p->state == TTSHM_STATE_NONE || p->live_count == 0)
            continue;
        fprintf(out,
                "%s: earlier session (generation %" PRIu64 ", pid %" PRIu32
                ") %s with %s %s (%s) live: %s; details not kept\n",
                m->seg[i].info.segment, p->generation, p->pid,
                p->state == TTSHM_STATE_DIED ? "died" : "exited", fmt_count(n, p->live_count),
                plural(p->live_count, "buffer", "buffers"), fmt_bytes(b, p->live_bytes),
                p->state == TTSHM_STATE_DIED ? "stale" : "leaks");
    }
    char a[32], b[32];
    if (any)
        fputc('\n', out);
    if (leaks)
        fprintf(out, "%s%s leaked %s (%s)%s", color(o, C_YELLOW), fmt_count(a, leaks),
                plural(leaks, "buffer", "buffers"), fmt_bytes(b, leak_bytes), color(o, C_RESET));
    else
        fputs("No leaks", out);
    if (stale)
        fprintf(out, "; %s stale %s of dead writers (not leaks)", fmt_count(a, stale),
                plural(stale, "buffer", "buffers"));
    if (running)
        fprintf(out, "; %" PRIu64 " %s still running (leaks are known at exit)", running,
                plural(running, "writer", "writers"));
    fputs(".\n", out);
}

/* ---- segments ---- */

static void list_view(FILE *out, const struct stat_options *o, const struct stat_model *m)
{
    /* The segment name holds the registry and slot; OWNER only when several
     * users' segments may be listed. */
    static const char *const head[] = {"SEGMENT", "PID",  "STATE",    "GEN",   "STARTED",
                                       "BUFFERS", "LIVE", "PREVIOUS", "OWNER", NULL};
    struct table t;
    tbl_init(&t, head, "lrlrlrrlr");
    if (!o->all_users)
        t.ncols--;
    for (size_t i = 0; i < m->nseg; i++) {
        const struct stat_segment *s = &m->seg[i];
        struct cell *row = tbl_row(&t);
        if (row == NULL)
            break;
        uint64_t live, bytes;
        stat_segment_live(o, s, &live, &bytes);
        snprintf(row[0].text, sizeof row[0].text, "%s", s->info.segment);
        snprintf(row[1].text, sizeof row[1].text, "%" PRIu32, s->st.pid);
        snprintf(row[2].text, sizeof row[2].text, "%s",
                 ttshm_state_name((enum ttshm_writer_state)s->st.state));
        row[2].color = state_color(s->st.state);
        snprintf(row[3].text, sizeof row[3].text, "%" PRIu64, s->st.generation);
        fmt_time_near(row[4].text, s->st.started_ns, m->now_real_ns);
        fmt_count(row[5].text, live);
        fmt_bytes(row[6].text, bytes);
        const struct ttshm_session_summary *p = &s->st.previous;
        if (p->state == TTSHM_STATE_NONE)
            snprintf(row[7].text, sizeof row[7].text, "-");
        else
            snprintf(row[7].text, sizeof row[7].text, "gen %" PRIu64 " pid %" PRIu32 " %s",
                     p->generation, p->pid, ttshm_state_name((enum ttshm_writer_state)p->state));
        if (o->all_users)
            snprintf(row[8].text, sizeof row[8].text, "%" PRIu32, s->info.owner_uid);
    }
    tbl_print(out, o, &t, "");
}

/* Why nothing is shown: no segment at all, none of the selected pids, or
 * segments this user may not read. */
static void nothing_found(FILE *out, const struct stat_options *o, const struct stat_model *m)
{
    if (o->npids)
        fprintf(out, "No ttshm writer with the selected pid%s", o->npids == 1 ? "" : "s");
    else
        fputs("No ttshm segments found", out);
    if (o->name)
        fprintf(out, " in registry '%s'", o->name);
    fputs(".\n", out);
    if (m->unreadable)
        fprintf(out, "%zu ttshm %s of other users %s but %s not readable by this user.\n",
                m->unreadable, plural(m->unreadable, "segment", "segments"),
                m->unreadable == 1 ? "exists" : "exist", m->unreadable == 1 ? "is" : "are");
    if (m->others)
        fprintf(out, "%zu ttshm %s of other users left out: see --all-users.\n", m->others,
                plural(m->others, "segment", "segments"));
}

void stat_output_text(FILE *out, const struct stat_options *o, struct stat_model *m)
{
    if (m->nseg == 0) {
        if (m->nproblems == 0)
            nothing_found(out, o, m); /* bad segments have been named on stderr */
        return;
    }
    switch (o->view) {
    case VIEW_SUMMARY:
        summary_view(out, o, m);
        break;
    case VIEW_BUFFERS:
        buffers_view(out, o, m);
        break;
    case VIEW_LEAKS:
        leaks_view(out, o, m);
        break;
    case VIEW_LIST:
        list_view(out, o, m);
        break;
    }
}
