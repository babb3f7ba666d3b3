/* SPDX-License-Identifier: Apache-2.0 */
/*
 * --json: one document per refresh, on one line, schema "ttshm.stat/2"
 * (docs/tt-shm-stat.md, "JSON"). Counts and sizes are JSON integers. Values
 * that may pass 2^53, where JavaScript and jq lose digits, are decimal strings:
 * every *_ns time, tags and chip ids; times also come as exact decimal
 * seconds (*_s numbers). Buffers are streamed, never held all at once.
 */
#include <inttypes.h>

#include "stat.h"

/* The counters -f lets through (all of them without -f). */
static void counters(FILE *out, const struct stat_options *o, const struct ttshm_counters *c)
{
    bool first = true;
    fputc('{', out);
    for (size_t i = 0; i < stat_nfields; i++) {
        const struct stat_field *f = &stat_fields[i];
        if (!stat_is_counter(f) || !stat_counter_wanted(o, f->name))
            continue;
        fprintf(out, "%s\"%s\":%" PRIu64, first ? "" : ",", f->name, stat_counter_value(c, f));
        first = false;
    }
    fputc('}', out);
}

/* "unique_id" and "name" of a device: strings, null when not published. */
static void identity(FILE *out, const struct ttshm_device_identity *id)
{
    char chip[32];
    if (id->unique_id == 0) {
        fputs(",\"unique_id\":null", out);
    } else {
        fputs(",\"unique_id\":", out);
        json_string(out, fmt_chip_id(chip, id->unique_id));
    }
    fputs(",\"name\":", out);
    if (id->name[0] == '\0')
        fputs("null", out);
    else
        json_string(out, id->name);
}

static void devices(FILE *out, const struct stat_options *o, unsigned ndev,
                    const struct ttshm_counters (*dev)[TTSHM_MEM_TYPE_COUNT],
                    const struct ttshm_device_identity *ident)
{
    fputs("[", out);
    bool first = true;
    for (unsigned d = 0; d < ndev && d < TTSHM_MAX_DEVICES; d++) {
        if (!stat_device_selected(o, d) || !stat_device_active(o, dev[d]))
            continue;
        fprintf(out, "%s{\"device\":%u", first ? "" : ",", d);
        identity(out, &ident[d]);
        fputs(",\"types\":{", out);
        first = false;
        bool first_type = true;
        for (unsigned t = 0; t < TTSHM_MEM_TYPE_COUNT; t++) {
            if (!stat_type_selected(o, t))
                continue;
            fprintf(out, "%s\"%s\":", first_type ? "" : ",", ttshm_mem_type_name(t));
            counters(out, o, &dev[d][t]);
            first_type = false;
        }
        fputs("}}", out);
    }
    fputs("]", out);
}

struct buffers_ctx {
    FILE *out;
    const struct stat_model *m;
    bool first;
};

static int buffer(const struct stat_segment *s, const struct ttshm_entry *e, void *ctx)
{
    struct buffers_ctx *x = ctx;
    char age[32];
    fprintf(x->out,
            "%s{\"device\":%" PRIu32 ",\"type\":\"%s\",\"address\":%" PRIu64 ",\"size\":%" PRIu64
            ",\"generation\":%" PRIu64 ",\"tid\":%" PRIu32 ",\"timestamp_ns\":\"%" PRIu64
            "\",\"age_s\":%s,\"tag\":\"%" PRIu64 "\",\"status\":\"%s\"}",
            x->first ? "" : ",", e->device, ttshm_mem_type_name(e->type), e->address, e->size,
            e->generation, e->tid, e->timestamp_ns, fmt_seconds(age, stat_buffer_age_ns(x->m, e)),
            e->tag, stat_buffer_status(s));
    x->first = false;
    return 0;
}

static void previous(FILE *out, const struct ttshm_session_summary *p)
{
    if (p->state == TTSHM_STATE_NONE) {
        fputs("null", out);
        return;
    }
    fprintf(out,
            "{\"generation\":%" PRIu64 ",\"pid\":%" PRIu32
            ",\"state\":\"%s\",\"live_count\":%" PRIu64 ",\"live_bytes\":%" PRIu64 "}",
            p->generation, p->pid, ttshm_state_name((enum ttshm_writer_state)p->state),
            p->live_count, p->live_bytes);
}

/* "NAME_ns":"decimal","NAME_s":seconds */
static void time_pair(FILE *out, const char *name, uint64_t ns)
{
    char s[32];
    fprintf(out, ",\"%s_ns\":\"%" PRIu64 "\",\"%s_s\":%s", name, ns, name, fmt_seconds(s, ns));
}

static void segment(FILE *out, const struct stat_options *o, struct stat_model *m,
                    struct stat_segment *s)
{
    fputs("{\"name\":", out);
    json_string(out, s->info.segment);
    fputs(",\"registry\":", out);
    json_string(out, s->info.registry);
    fprintf(out,
            ",\"slot\":%" PRIu32 ",\"owner_uid\":%" PRIu32 ",\"pid\":%" PRIu32
            ",\"generation\":%" PRIu64 ",\"state\":\"%s\"",
            s->info.slot, s->info.owner_uid, s->st.pid, s->st.generation,
            ttshm_state_name((enum ttshm_writer_state)s->st.state));
    time_pair(out, "started", s->st.started_ns);
    time_pair(out, "ended", s->st.ended_ns);
    fputs(",\"previous\":", out);
    previous(out, &s->st.previous);
    fputs(",\"devices\":", out);
    devices(out, o, s->stats.device_count,
            (const struct ttshm_counters(*)[TTSHM_MEM_TYPE_COUNT])s->stats.dev, s->stats.identity);
    if (o->view == VIEW_BUFFERS || o->view == VIEW_LEAKS) {
        struct buffers_ctx x = {out, m, true};
        fputs(",\"buffers\":[", out);
        stat_rows(o, m, s, buffer, &x);
        fputs("]", out);
    }
    /* After the buffers: streaming them is what counts the skipped slots. */
    fprintf(out, ",\"skipped\":%" PRIu64 "}", s->skipped);
}

static void problems(FILE *out, const struct stat_model *m)
{
    fputs(",\"errors\":[", out);
    for (size_t i = 0; i < m->nproblems; i++) {
        const struct stat_problem *p = &m->problems[i];
        fputs(i ? ",{\"name\":" : "{\"name\":", out);
        json_string(out, p->info.segment);
        fprintf(out, ",\"owner_uid\":%" PRIu32 ",\"error\":", p->info.owner_uid);
        json_string(out, ttshm_strerror(p->err));
        fputs("}", out);
    }
    fprintf(out, "],\"unreadable\":%zu,\"other_users\":%zu", m->unreadable, m->others);
}

void stat_output_json(FILE *out, const struct stat_options *o, struct stat_model *m)
{
    fputs("{\"schema\":\"ttshm.stat/2\"", out);
    time_pair(out, "time", m->now_real_ns);
    fputs(",\"segments\":[", out);
    for (size_t i = 0; i < m->nseg; i++) {
        if (i)
            fputc(',', out);
        segment(out, o, m, &m->seg[i]);
    }
    fputc(']', out);
    problems(out, m);
    fputs(",\"totals\":{\"devices\":", out);
    devices(out, o, TTSHM_MAX_DEVICES,
            (const struct ttshm_counters(*)[TTSHM_MEM_TYPE_COUNT])m->totals, m->identity);
    fputs("}}\n", out);
}
