/* SPDX-License-Identifier: Apache-2.0 */
/*
 * --csv (RFC 4180: CRLF line ends, a header row unless noheader; in watch mode
 * the header comes once, before the first frame). Every row starts with the
 * snapshot time (UTC, ISO 8601) so frames appended by -c N stay apart. The
 * default view has one row per segment x device x type plus "total" rows
 * over the live writers; -b and --leaks one row per buffer (streamed);
 * --list one row per segment.
 */
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "stat.h"

#define EOL "\r\n"

void stat_csv_field(FILE *out, const char *s)
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

/* The snapshot time as a field: UTC, ISO 8601, milliseconds. */
static const char *time_text(char buf[40], uint64_t realtime_ns)
{
    time_t t = (time_t)(realtime_ns / 1000000000u);
    struct tm tm;
    char day[32];
    if (gmtime_r(&t, &tm) == NULL || strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        day[0] = '\0';
    snprintf(buf, 40, "%s.%03" PRIu64 "Z", day, realtime_ns / 1000000u % 1000u);
    return buf;
}

/* time,segment,pid,generation,state */
static void segment_fields(FILE *out, const char *time, const struct stat_segment *s)
{
    fputs(time, out);
    fputc(',', out);
    stat_csv_field(out, s->info.segment);
    fprintf(out, ",%" PRIu32 ",%" PRIu64 ",%s", s->st.pid, s->st.generation,
            ttshm_state_name((enum ttshm_writer_state)s->st.state));
}

static void identity_fields(FILE *out, const struct ttshm_device_identity *id)
{
    char chip[32];
    fprintf(out, ",%s,", fmt_chip_id(chip, id->unique_id));
    stat_csv_field(out, id->name);
}

/* The counter columns of the default view: every counter -f lets through. */
static void counter_header(FILE *out, const struct stat_options *o)
{
    fputs("time,segment,pid,generation,state,device,chip_id,chip_name,type", out);
    for (size_t i = 0; i < stat_nfields; i++)
        if (stat_is_counter(&stat_fields[i]) && stat_counter_wanted(o, stat_fields[i].name))
            fprintf(out, ",%s", stat_fields[i].name);
    fputs(EOL, out);
}

static void counter_rows(FILE *out, const struct stat_options *o, const char *time,
                         const struct stat_segment *s, unsigned ndev,
                         const struct ttshm_counters (*dev)[TTSHM_MEM_TYPE_COUNT],
                         const struct ttshm_device_identity *ident)
{
    for (unsigned d = 0; d < ndev && d < TTSHM_MAX_DEVICES; d++) {
        if (!stat_device_selected(o, d))
            continue;
        for (unsigned t = 0; t < TTSHM_MEM_TYPE_COUNT; t++) {
            const struct ttshm_counters *c = &dev[d][t];
            if (!stat_type_selected(o, t) || !stat_counters_active(c))
                continue;
            if (o->nquery) {
                struct stat_query_row r = {time, s, d, t, c, &ident[d]};
                stat_query_row(out, o, &r);
                continue;
            }
            if (s != NULL)
                segment_fields(out, time, s);
            else
                fprintf(out, "%s,total,,,", time);
            fprintf(out, ",%u", d);
            identity_fields(out, &ident[d]);
            fprintf(out, ",%s", ttshm_mem_type_name(t));
            for (size_t i = 0; i < stat_nfields; i++)
                if (stat_is_counter(&stat_fields[i]) && stat_counter_wanted(o, stat_fields[i].name))
                    fprintf(out, ",%" PRIu64, stat_counter_value(c, &stat_fields[i]));
            fputs(EOL, out);
        }
    }
}

struct buffer_ctx {
    FILE *out;
    const struct stat_model *m;
    const char *time;
};

static int buffer_row(const struct stat_segment *s, const struct ttshm_entry *e, void *ctx)
{
    struct buffer_ctx *x = ctx;
    char age[32];
    segment_fields(x->out, x->time, s);
    fprintf(x->out,
            ",%" PRIu32 ",%s,0x%" PRIx64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu32 ",%" PRIu64
            ",%s,%" PRIu64 ",%s" EOL,
            e->device, ttshm_mem_type_name(e->type), e->address, e->size, e->generation, e->tid,
            e->timestamp_ns, fmt_seconds(age, stat_buffer_age_ns(x->m, e)), e->tag,
            stat_buffer_status(s));
    return 0;
}

void stat_output_csv(FILE *out, const struct stat_options *o, struct stat_model *m)
{
    static const char *const headers[] = {
        [VIEW_SUMMARY] = NULL, /* counter_header() */
        [VIEW_BUFFERS] = "time,segment,pid,generation,state,device,type,address,size,"
                         "buffer_generation,tid,timestamp_ns,age_s,tag,status",
        [VIEW_LEAKS] = "time,segment,pid,generation,state,device,type,address,size,"
                       "buffer_generation,tid,timestamp_ns,age_s,tag,status",
        [VIEW_LIST] = "time,segment,pid,generation,state,registry,slot,owner_uid,started_ns,"
                      "ended_ns,live_count,live_bytes,previous_generation,previous_pid,"
                      "previous_state",
    };
    char time[40];
    time_text(time, m->now_real_ns);
    if (!o->noheader && o->nquery)
        stat_query_header(out, o);
    else if (!o->noheader && o->view == VIEW_SUMMARY)
        counter_header(out, o);
    else if (!o->noheader)
        fprintf(out, "%s" EOL, headers[o->view]);
    switch (o->view) {
    case VIEW_SUMMARY:
        for (size_t i = 0; i < m->nseg; i++)
            counter_rows(out, o, time, &m->seg[i], m->seg[i].stats.device_count,
                         (const struct ttshm_counters(*)[TTSHM_MEM_TYPE_COUNT])m->seg[i].stats.dev,
                         m->seg[i].stats.identity);
        counter_rows(out, o, time, NULL, TTSHM_MAX_DEVICES,
                     (const struct ttshm_counters(*)[TTSHM_MEM_TYPE_COUNT])m->totals, m->identity);
        break;
    case VIEW_BUFFERS:
    case VIEW_LEAKS: {
        struct buffer_ctx x = {out, m, time};
        stat_rows(o, m, NULL, buffer_row, &x);
        break;
    }
    case VIEW_LIST:
        for (size_t i = 0; i < m->nseg; i++) {
            const struct stat_segment *s = &m->seg[i];
            uint64_t live, bytes;
            stat_segment_live(o, s, &live, &bytes);
            segment_fields(out, time, s);
            fputc(',', out);
            stat_csv_field(out, s->info.registry);
            const struct ttshm_session_summary *p = &s->st.previous;
            fprintf(out, ",%" PRIu32 ",%" PRIu32 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64,
                    s->info.slot, s->info.owner_uid, s->st.started_ns, s->st.ended_ns, live, bytes);
            if (p->state == TTSHM_STATE_NONE)
                fputs(",,," EOL, out);
            else
                fprintf(out, ",%" PRIu64 ",%" PRIu32 ",%s" EOL, p->generation, p->pid,
                        ttshm_state_name((enum ttshm_writer_state)p->state));
        }
        break;
    }
}
