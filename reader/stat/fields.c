/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fields of a counters row (one segment x device x type, or a "total"
 * row over the live writers): their names and meaning (--list-fields), the
 * -f GLOB filter over the counters, and --query FIELDS output
 * (--format csv[,noheader][,nounits]), nvidia-smi style.
 */
#include <fnmatch.h>
#include <inttypes.h>
#include <stddef.h>
#include <string.h>

#include "stat.h"

#define COUNTER(f) offsetof(struct ttshm_counters, f)

const struct stat_field stat_fields[] = {
    {"time", "snapshot time, UTC, ISO 8601", FIELD_TEXT, 0},
    {"segment", "segment name (\"total\": all live writers)", FIELD_TEXT, 0},
    {"pid", "writer process id", FIELD_TEXT, 0},
    {"generation", "writer session number in the segment", FIELD_TEXT, 0},
    {"state", "alive, exited, died or starting", FIELD_TEXT, 0},
    {"owner_uid", "owner of the segment", FIELD_TEXT, 0},
    {"device", "device number", FIELD_TEXT, 0},
    {"chip_id", "chip unique id published by the writer", FIELD_TEXT, 0},
    {"chip_name", "device name published by the writer", FIELD_TEXT, 0},
    {"type", "memory type", FIELD_TEXT, 0},
    {"live_bytes", "bytes in live buffers", FIELD_BYTES, COUNTER(live_bytes)},
    {"live_count", "live buffers", FIELD_COUNT, COUNTER(live_count)},
    {"peak_bytes", "highest live bytes of the session", FIELD_BYTES, COUNTER(peak_bytes)},
    {"allocs", "allocations recorded", FIELD_COUNT, COUNTER(allocs)},
    {"frees", "frees recorded", FIELD_COUNT, COUNTER(frees)},
    {"alloc_bytes", "bytes allocated, summed over all allocations", FIELD_BYTES,
     COUNTER(alloc_bytes)},
    {"unknown_frees", "frees of buffers that were not registered", FIELD_COUNT,
     COUNTER(unknown_frees)},
    {"duplicate_allocs", "allocations of an address already live", FIELD_COUNT,
     COUNTER(duplicate_allocs)},
    {"dropped", "events the writer could not record", FIELD_COUNT, COUNTER(dropped)},
    {"bulk_freed", "buffers freed by a free-all call (also in frees)", FIELD_COUNT,
     COUNTER(bulk_freed)},
    {"capacity_bytes", "capacity published by the runtime (0: none)", FIELD_BYTES,
     COUNTER(capacity_bytes)},
    {"capacity_use", "live_bytes as a percentage of capacity_bytes", FIELD_PERCENT, 0},
};
const size_t stat_nfields = sizeof stat_fields / sizeof stat_fields[0];

int stat_field_find(const char *name)
{
    for (size_t i = 0; i < stat_nfields; i++)
        if (strcmp(stat_fields[i].name, name) == 0)
            return (int)i;
    return -1;
}

bool stat_is_counter(const struct stat_field *f)
{
    return f->kind == FIELD_COUNT || f->kind == FIELD_BYTES;
}

bool stat_counter_wanted(const struct stat_options *o, const char *name)
{
    if (o->nglobs == 0)
        return true;
    for (unsigned i = 0; i < o->nglobs; i++)
        if (fnmatch(o->globs[i], name, 0) == 0)
            return true;
    return false;
}

uint64_t stat_counter_value(const struct ttshm_counters *c, const struct stat_field *f)
{
    return *(const uint64_t *)((const char *)c + f->offset);
}

void stat_list_fields(FILE *out)
{
    fputs("Fields of a counters row, for --query; -f GLOB selects among those marked *:\n", out);
    for (size_t i = 0; i < stat_nfields; i++)
        fprintf(out, "%c %-17s %s\n", stat_is_counter(&stat_fields[i]) ? '*' : ' ',
                stat_fields[i].name, stat_fields[i].help);
}

/* One --query value. */
static void value(FILE *out, const struct stat_options *o, const struct stat_field *f,
                  const struct stat_query_row *r)
{
    const struct stat_segment *s = r->seg;
    char buf[48];
    const char *name = f->name;
    if (stat_is_counter(f)) {
        uint64_t v = stat_counter_value(r->c, f);
        if (f->kind == FIELD_BYTES && !o->nounits)
            fputs(fmt_bytes(buf, v), out);
        else
            fprintf(out, "%" PRIu64, v);
    } else if (f->kind == FIELD_PERCENT) {
        if (r->c->capacity_bytes != 0)
            fprintf(out, "%.1f%s", 100.0 * (double)r->c->live_bytes / (double)r->c->capacity_bytes,
                    o->nounits ? "" : " %");
    } else if (strcmp(name, "time") == 0) {
        fputs(r->time, out);
    } else if (strcmp(name, "segment") == 0) {
        stat_csv_field(out, s ? s->info.segment : "total");
    } else if (strcmp(name, "device") == 0) {
        fprintf(out, "%u", r->device);
    } else if (strcmp(name, "type") == 0) {
        fputs(ttshm_mem_type_name(r->type), out);
    } else if (strcmp(name, "chip_id") == 0) {
        fputs(fmt_chip_id(buf, r->id->unique_id), out);
    } else if (strcmp(name, "chip_name") == 0) {
        stat_csv_field(out, r->id->name);
    } else if (s == NULL) {
        return; /* per-writer fields are empty on a total row */
    } else if (strcmp(name, "pid") == 0) {
        fprintf(out, "%" PRIu32, s->st.pid);
    } else if (strcmp(name, "generation") == 0) {
        fprintf(out, "%" PRIu64, s->st.generation);
    } else if (strcmp(name, "state") == 0) {
        fputs(ttshm_state_name((enum ttshm_writer_state)s->st.state), out);
    } else if (strcmp(name, "owner_uid") == 0) {
        fprintf(out, "%" PRIu32, s->info.owner_uid);
    }
}

void stat_query_header(FILE *out, const struct stat_options *o)
{
    for (unsigned i = 0; i < o->nquery; i++)
        fprintf(out, "%s%s", i ? "," : "", stat_fields[o->query[i]].name);
    fputs("\r\n", out);
}

void stat_query_row(FILE *out, const struct stat_options *o, const struct stat_query_row *r)
{
    for (unsigned i = 0; i < o->nquery; i++) {
        if (i)
            fputc(',', out);
        value(out, o, &stat_fields[o->query[i]], r);
    }
    fputs("\r\n", out);
}
