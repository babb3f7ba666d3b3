/* SPDX-License-Identifier: Apache-2.0 */
/*
 * --prometheus, --textfile and --listen: Prometheus text exposition format
 * 0.0.4 (docs/tt-shm-stat.md, "Prometheus").
 *
 * Series are named by stable labels: a writer's series by its segment (the
 * registry slot, reused by the next writer of that slot) and device/type,
 * the per-device series by device/type (and the chip id where published).
 * The pid, which changes at every restart, is only a label of ttshm_info,
 * so a restart makes one new info series, not a new series per counter;
 * join on `segment` to get it. Live memory counts only writers that are
 * alive; what exited writers left is leaked, what dead ones left is stale.
 * Sizes are in bytes (_bytes), times in seconds, counters end in _total.
 */
#include <inttypes.h>
#include <stddef.h>

#include "stat.h"

enum kind { GAUGE, COUNTER };

/* Which writers a family's samples come from. */
enum from { ALIVE, EXITED, DIED, ANY };

struct family {
    const char *name;
    enum kind kind;
    enum from from;
    const char *help;
    size_t offset; /* of the value in struct ttshm_counters */
};

#define FIELD(f) offsetof(struct ttshm_counters, f)

/* Per-writer families, one sample per segment x device x type. */
static const struct family writer_families[] = {
    {"ttshm_live_bytes", GAUGE, ALIVE, "Bytes in live buffers of a running writer.",
     FIELD(live_bytes)},
    {"ttshm_live_buffers", GAUGE, ALIVE, "Live buffers of a running writer.", FIELD(live_count)},
    {"ttshm_leaked_bytes", GAUGE, EXITED, "Bytes left live by a writer that exited (leaks).",
     FIELD(live_bytes)},
    {"ttshm_leaked_buffers", GAUGE, EXITED, "Buffers left live by a writer that exited (leaks).",
     FIELD(live_count)},
    {"ttshm_stale_bytes", GAUGE, DIED, "Bytes left by a writer that died (stale, not leaks).",
     FIELD(live_bytes)},
    {"ttshm_stale_buffers", GAUGE, DIED, "Buffers left by a writer that died (stale, not leaks).",
     FIELD(live_count)},
    {"ttshm_peak_live_bytes", GAUGE, ANY, "Highest live bytes seen by the writer session.",
     FIELD(peak_bytes)},
    {"ttshm_allocations_total", COUNTER, ANY, "Buffer allocations recorded.", FIELD(allocs)},
    {"ttshm_frees_total", COUNTER, ANY, "Buffer frees recorded.", FIELD(frees)},
    {"ttshm_bulk_frees_total", COUNTER, ANY,
     "Buffers freed at once by a free-all call (also in ttshm_frees_total).", FIELD(bulk_freed)},
    {"ttshm_allocated_bytes_total", COUNTER, ANY, "Bytes allocated, summed over all allocations.",
     FIELD(alloc_bytes)},
    {"ttshm_unknown_frees_total", COUNTER, ANY, "Frees of buffers that were not registered.",
     FIELD(unknown_frees)},
    {"ttshm_duplicate_allocations_total", COUNTER, ANY,
     "Allocations of an address that was already live.", FIELD(duplicate_allocs)},
    {"ttshm_dropped_events_total", COUNTER, ANY, "Events the writer could not record.",
     FIELD(dropped)},
};

/* Per-device families over the live writers. */
static const struct family device_families[] = {
    {"ttshm_device_live_bytes", GAUGE, ALIVE, "Bytes in live buffers, all running writers.",
     FIELD(live_bytes)},
    {"ttshm_device_live_buffers", GAUGE, ALIVE, "Live buffers, all running writers.",
     FIELD(live_count)},
    {"ttshm_capacity_bytes", GAUGE, ALIVE, "Capacity published by the runtime.",
     FIELD(capacity_bytes)},
};

/* -f GLOB filters families by the counter they show (see --list-fields). */
static bool family_wanted(const struct stat_options *o, const struct family *f)
{
    for (size_t i = 0; i < stat_nfields; i++)
        if (stat_is_counter(&stat_fields[i]) && stat_fields[i].offset == f->offset)
            return stat_counter_wanted(o, stat_fields[i].name);
    return true;
}

static bool from_matches(enum from f, uint32_t state)
{
    switch (f) {
    case ALIVE:
        return state == TTSHM_STATE_ALIVE;
    case EXITED:
        return state == TTSHM_STATE_EXITED;
    case DIED:
        return state == TTSHM_STATE_DIED;
    case ANY:
        break;
    }
    return true;
}

static uint64_t value(const struct ttshm_counters *c, size_t offset)
{
    return *(const uint64_t *)((const char *)c + offset);
}

static void head(FILE *out, const char *name, enum kind kind, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
            kind == COUNTER ? "counter" : "gauge");
}

/* Label values are escaped as the format requires (\\, \" and \n). */
static void label(FILE *out, const char *name, const char *v, bool first)
{
    fprintf(out, "%s%s=\"", first ? "" : ",", name);
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            fprintf(out, "\\%c", *v);
        else if (*v == '\n')
            fputs("\\n", out);
        else
            fputc(*v, out);
    }
    fputc('"', out);
}

static void label_u64(FILE *out, const char *name, uint64_t v, bool first)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    label(out, name, buf, first);
}

/* chip_id (and chip_name) of a device, only where its writer published them. */
static void identity_labels(FILE *out, const struct ttshm_device_identity *id)
{
    char chip[32];
    if (id->unique_id != 0)
        label(out, "chip_id", fmt_chip_id(chip, id->unique_id), false);
    if (id->name[0] != '\0')
        label(out, "chip_name", id->name, false);
}

static void writer_info(FILE *out, const struct stat_model *m)
{
    head(out, "ttshm_info", GAUGE,
         "Writer session of a ttshm segment; always 1. The only series with the pid.");
    for (size_t i = 0; i < m->nseg; i++) {
        const struct stat_segment *s = &m->seg[i];
        fputs("ttshm_info{", out);
        label(out, "segment", s->info.segment, true);
        label(out, "registry", s->info.registry, false);
        label_u64(out, "pid", s->st.pid, false);
        label_u64(out, "uid", s->info.owner_uid, false);
        label_u64(out, "generation", s->st.generation, false);
        label(out, "state", ttshm_state_name((enum ttshm_writer_state)s->st.state), false);
        label(out, "version", TTSHM_VERSION_STRING, false);
        fputs("} 1\n", out);
    }
    head(out, "ttshm_writer_alive", GAUGE, "1 while the writer process holds its segment.");
    for (size_t i = 0; i < m->nseg; i++) {
        fputs("ttshm_writer_alive{", out);
        label(out, "segment", m->seg[i].info.segment, true);
        fprintf(out, "} %d\n", m->seg[i].st.state == TTSHM_STATE_ALIVE);
    }
    head(out, "ttshm_writer_generation", GAUGE, "Writer sessions seen by the segment.");
    for (size_t i = 0; i < m->nseg; i++) {
        fputs("ttshm_writer_generation{", out);
        label(out, "segment", m->seg[i].info.segment, true);
        fprintf(out, "} %" PRIu64 "\n", m->seg[i].st.generation);
    }
    head(out, "ttshm_writer_start_time_seconds", GAUGE,
         "Start of the writer session, seconds since the epoch.");
    for (size_t i = 0; i < m->nseg; i++) {
        const struct stat_segment *s = &m->seg[i];
        fputs("ttshm_writer_start_time_seconds{", out);
        label(out, "segment", s->info.segment, true);
        fprintf(out, "} %" PRIu64 ".%03" PRIu64 "\n", s->st.started_ns / 1000000000u,
                s->st.started_ns / 1000000u % 1000u);
    }
}

/* Samples of one family: a segment's (s set) or the per-device totals. */
static void samples(FILE *out, const struct stat_options *o, const struct family *f,
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
            if (f->offset == FIELD(capacity_bytes) && c->capacity_bytes == 0)
                continue; /* unpublished: absent, not zero */
            fprintf(out, "%s{", f->name);
            if (s != NULL)
                label(out, "segment", s->info.segment, true);
            label_u64(out, "device", d, s == NULL);
            label(out, "type", ttshm_mem_type_name(t), false);
            if (ident != NULL)
                identity_labels(out, &ident[d]);
            fprintf(out, "} %" PRIu64 "\n", value(c, f->offset));
        }
    }
}

static void device_info(FILE *out, const struct stat_model *m)
{
    head(out, "ttshm_device_info", GAUGE,
         "Identity a running writer published for a device (chip_id, chip_name); always 1.");
    for (unsigned d = 0; d < TTSHM_MAX_DEVICES; d++) {
        const struct ttshm_device_identity *id = &m->identity[d];
        if (id->unique_id == 0 && id->name[0] == '\0')
            continue;
        fputs("ttshm_device_info{", out);
        label_u64(out, "device", d, true);
        identity_labels(out, id);
        fputs("} 1\n", out);
    }
}

static void reader_families(FILE *out, const struct stat_model *m)
{
    head(out, "ttshm_segment_errors", GAUGE,
         "Segments that could not be read at this scrape (busy, corrupt, incompatible).");
    fprintf(out, "ttshm_segment_errors %zu\n", m->nproblems);
    head(out, "ttshm_segments_unreadable", GAUGE,
         "Segments that exist but that this user may not open.");
    fprintf(out, "ttshm_segments_unreadable %zu\n", m->unreadable);
}

void stat_output_prometheus(FILE *out, const struct stat_options *o, const struct stat_model *m)
{
    writer_info(out, m);
    for (size_t k = 0; k < sizeof writer_families / sizeof writer_families[0]; k++) {
        const struct family *f = &writer_families[k];
        if (!family_wanted(o, f))
            continue;
        head(out, f->name, f->kind, f->help);
        for (size_t i = 0; i < m->nseg; i++)
            if (from_matches(f->from, m->seg[i].st.state))
                samples(out, o, f, &m->seg[i], m->seg[i].stats.device_count,
                        (const struct ttshm_counters(*)[TTSHM_MEM_TYPE_COUNT])m->seg[i].stats.dev,
                        NULL);
    }
    for (size_t k = 0; k < sizeof device_families / sizeof device_families[0]; k++) {
        const struct family *f = &device_families[k];
        if (!family_wanted(o, f))
            continue;
        head(out, f->name, f->kind, f->help);
        samples(out, o, f, NULL, TTSHM_MAX_DEVICES,
                (const struct ttshm_counters(*)[TTSHM_MEM_TYPE_COUNT])m->totals, m->identity);
    }
    device_info(out, m);
    reader_families(out, m);
}
