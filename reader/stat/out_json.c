/* SPDX-License-Identifier: Apache-2.0 */
/*
 * --json: one document per refresh, on one line, schema "ttshm.stat/1":
 * {"schema","segments":[{"name","pid","generation","state","started_ns","ended_ns",
 *   "previous":{...}|null,"devices":[{"device","types":{"DRAM":{...},...}}],
 *   "buffers":[...] (with -b or --leaks)}],"totals":{"devices":[...]}}
 * Numbers are unsigned 64-bit integers. Every selected type appears in each
 * listed device; a device is listed when one of its selected types has
 * activity or a published capacity.
 */
#include <inttypes.h>

#include "stat.h"

static void counters(FILE *out, const struct ttshm_counters *c)
{
    fprintf(out,
            "{\"live_bytes\":%" PRIu64 ",\"live_count\":%" PRIu64 ",\"peak_bytes\":%" PRIu64
            ",\"allocs\":%" PRIu64 ",\"frees\":%" PRIu64 ",\"alloc_bytes\":%" PRIu64
            ",\"unknown_frees\":%" PRIu64 ",\"duplicate_allocs\":%" PRIu64 ",\"dropped\":%" PRIu64
            ",\"capacity_bytes\":%" PRIu64 "}",
            c->live_bytes, c->live_count, c->peak_bytes, c->allocs, c->frees, c->alloc_bytes,
            c->unknown_frees, c->duplicate_allocs, c->dropped, c->capacity_bytes);
}

static void devices(FILE *out, const struct stat_options *o, unsigned ndev,
                    const struct ttshm_counters (*dev)[TTSHM_MEM_TYPE_COUNT])
{
    fputs("[", out);
    bool first = true;
    for (unsigned d = 0; d < ndev && d < TTSHM_MAX_DEVICES; d++) {
        if (!stat_device_selected(o, d) || !stat_device_active(o, dev[d]))
            continue;
        fprintf(out, "%s{\"device\":%u,\"types\":{", first ? "" : ",", d);
        first = false;
        bool first_type = true;
        for (unsigned t = 0; t < TTSHM_MEM_TYPE_COUNT; t++) {
            if (!stat_type_selected(o, t))
                continue;
            fprintf(out, "%s\"%s\":", first_type ? "" : ",", ttshm_mem_type_name(t));
            counters(out, &dev[d][t]);
            first_type = false;
        }
        fputs("}}", out);
    }
    fputs("]", out);
}

static void buffers(FILE *out, const struct stat_model *m, const struct stat_segment *s)
{
    fputs(",\"buffers\":[", out);
    bool first = true;
    for (size_t i = 0; i < m->nrows; i++) {
        const struct ttshm_entry *e = m->rows[i].e;
        if (m->rows[i].seg != s)
            continue;
        fprintf(out,
                "%s{\"device\":%" PRIu32 ",\"type\":\"%s\",\"address\":%" PRIu64
                ",\"size\":%" PRIu64 ",\"generation\":%" PRIu64 ",\"tid\":%" PRIu32
                ",\"timestamp_ns\":%" PRIu64 ",\"tag\":%" PRIu64 ",\"status\":\"%s\"}",
                first ? "" : ",", e->device, ttshm_mem_type_name(e->type), e->address, e->size,
                e->generation, e->tid, e->timestamp_ns, e->tag, stat_buffer_status(s));
        first = false;
    }
    fputs("]", out);
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

void stat_output_json(FILE *out, const struct stat_options *o, const struct stat_model *m)
{
    bool with_buffers = o->view == VIEW_BUFFERS || o->view == VIEW_LEAKS;
    fputs("{\"schema\":\"ttshm.stat/1\",\"segments\":[", out);
    for (size_t i = 0; i < m->nseg; i++) {
        const struct stat_segment *s = &m->seg[i];
        fputs(i ? ",{\"name\":" : "{\"name\":", out);
        json_string(out, s->info.segment);
        fprintf(out,
                ",\"pid\":%" PRIu32 ",\"generation\":%" PRIu64 ",\"state\":\"%s\""
                ",\"started_ns\":%" PRIu64 ",\"ended_ns\":%" PRIu64 ",\"previous\":",
                s->st.pid, s->st.generation, ttshm_state_name((enum ttshm_writer_state)s->st.state),
                s->st.started_ns, s->st.ended_ns);
        previous(out, &s->st.previous);
        fputs(",\"devices\":", out);
        devices(out, o, s->stats.device_count,
                (const struct ttshm_counters(*)[TTSHM_MEM_TYPE_COUNT])s->stats.dev);
        if (with_buffers)
            buffers(out, m, s);
        fputs("}", out);
    }
    fputs("],\"totals\":{\"devices\":", out);
    devices(out, o, TTSHM_MAX_DEVICES,
            (const struct ttshm_counters(*)[TTSHM_MEM_TYPE_COUNT])m->totals);
    fputs("}}\n", out);
}
