/* SPDX-License-Identifier: Apache-2.0 */
/*
 * --csv (RFC 4180, header row first). The default view has one row per
 * segment x device x type plus "total" rows over the live writers; -b and
 * --leaks one row per buffer; --list one row per segment.
 */
#include <inttypes.h>
#include <string.h>

#include "stat.h"

/* Quotes a field when it holds a separator, a quote or a line break. */
static void field(FILE *out, const char *s)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

static void segment_fields(FILE *out, const struct stat_segment *s)
{
    field(out, s->info.segment);
    fprintf(out, ",%" PRIu32 ",%" PRIu64 ",%s", s->st.pid, s->st.generation,
            ttshm_state_name((enum ttshm_writer_state)s->st.state));
}

static void counter_rows(FILE *out, const struct stat_options *o, const struct stat_segment *s,
                         unsigned ndev, const struct ttshm_counters (*dev)[TTSHM_MEM_TYPE_COUNT])
{
    for (unsigned d = 0; d < ndev && d < TTSHM_MAX_DEVICES; d++) {
        if (!stat_device_selected(o, d))
            continue;
        for (unsigned t = 0; t < TTSHM_MEM_TYPE_COUNT; t++) {
            const struct ttshm_counters *c = &dev[d][t];
            if (!stat_type_selected(o, t) || !stat_counters_active(c))
                continue;
            if (s != NULL)
                segment_fields(out, s);
            else
                fputs("total,,,", out);
            fprintf(out,
                    ",%u,%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
                    ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "\n",
                    d, ttshm_mem_type_name(t), c->live_bytes, c->live_count, c->peak_bytes,
                    c->allocs, c->frees, c->alloc_bytes, c->unknown_frees, c->duplicate_allocs,
                    c->dropped, c->capacity_bytes);
        }
    }
}

void stat_output_csv(FILE *out, const struct stat_options *o, const struct stat_model *m)
{
    switch (o->view) {
    case VIEW_SUMMARY:
        fputs("segment,pid,generation,state,device,type,live_bytes,live_count,peak_bytes,allocs,"
              "frees,alloc_bytes,unknown_frees,duplicate_allocs,dropped,capacity_bytes\n",
              out);
        for (size_t i = 0; i < m->nseg; i++)
            counter_rows(out, o, &m->seg[i], m->seg[i].stats.device_count,
                         (const struct ttshm_counters(*)[TTSHM_MEM_TYPE_COUNT])m->seg[i].stats.dev);
        counter_rows(out, o, NULL, TTSHM_MAX_DEVICES,
                     (const struct ttshm_counters(*)[TTSHM_MEM_TYPE_COUNT])m->totals);
        break;
    case VIEW_BUFFERS:
    case VIEW_LEAKS:
        fputs("segment,pid,generation,state,device,type,address,size,buffer_generation,tid,"
              "timestamp_ns,tag,status\n",
              out);
        for (size_t i = 0; i < m->nrows; i++) {
            const struct ttshm_entry *e = m->rows[i].e;
            segment_fields(out, m->rows[i].seg);
            fprintf(out,
                    ",%" PRIu32 ",%s,0x%" PRIx64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu32 ",%" PRIu64
                    ",%" PRIu64 ",%s\n",
                    e->device, ttshm_mem_type_name(e->type), e->address, e->size, e->generation,
                    e->tid, e->timestamp_ns, e->tag, stat_buffer_status(m->rows[i].seg));
        }
        break;
    case VIEW_LIST:
        fputs("segment,pid,generation,state,registry,slot,started_ns,ended_ns,live_count,"
              "live_bytes,previous_generation,previous_pid,previous_state\n",
              out);
        for (size_t i = 0; i < m->nseg; i++) {
            const struct stat_segment *s = &m->seg[i];
            uint64_t live, bytes;
            stat_segment_live(o, s, &live, &bytes);
            segment_fields(out, s);
            fputc(',', out);
            field(out, s->info.registry);
            const struct ttshm_session_summary *p = &s->st.previous;
            fprintf(out, ",%" PRIu32 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64, s->info.slot,
                    s->st.started_ns, s->st.ended_ns, live, bytes);
            if (p->state == TTSHM_STATE_NONE)
                fputs(",,,\n", out);
            else
                fprintf(out, ",%" PRIu64 ",%" PRIu32 ",%s\n", p->generation, p->pid,
                        ttshm_state_name((enum ttshm_writer_state)p->state));
        }
        break;
    }
}
