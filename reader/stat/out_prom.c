/* SPDX-License-Identifier: Apache-2.0 */
/*
 * --prometheus / --textfile: Prometheus text exposition format 0.0.4.
 * Per-process series carry segment, pid, device and type labels; per-device
 * series (no pid) sum the live writers. Sizes are in bytes (_bytes), times in
 * seconds, and only counters end in _total. Each family is written whole:
 * HELP, TYPE, then all its samples.
 */
#include <inttypes.h>
#include <stddef.h>

#include "stat.h"

enum kind { GAUGE, COUNTER };

struct family {
    const char *name;
    enum kind kind;
    const char *help;
    size_t offset; /* of the value in struct ttshm_counters */
};

#define FIELD(f) offsetof(struct ttshm_counters, f)

/* Per-process families, one sample per segment x device x type. */
static const struct family process_families[] = {
    {"ttshm_live_bytes", GAUGE, "Bytes in live buffers.", FIELD(live_bytes)},
    {"ttshm_live_buffers", GAUGE, "Live buffers.", FIELD(live_count)},
    {"ttshm_peak_live_bytes", GAUGE, "Highest live bytes seen by the writer.", FIELD(peak_bytes)},
    {"ttshm_allocations_total", COUNTER, "Buffer allocations recorded.", FIELD(allocs)},
    {"ttshm_frees_total", COUNTER, "Buffer frees recorded.", FIELD(frees)},
    {"ttshm_allocated_bytes_total", COUNTER, "Bytes allocated, summed over all allocations.",
     FIELD(alloc_bytes)},
    {"ttshm_unknown_frees_total", COUNTER, "Frees of buffers that were not registered.",
     FIELD(unknown_frees)},
    {"ttshm_duplicate_allocations_total", COUNTER,
     "Allocations of an address that was already live.", FIELD(duplicate_allocs)},
    {"ttshm_dropped_events_total", COUNTER, "Events the writer could not record.", FIELD(dropped)},
};

/* Per-device families over the live writers. */
static const struct family device_families[] = {
    {"ttshm_device_live_bytes", GAUGE, "Bytes in live buffers, all live writers.",
     FIELD(live_bytes)},
    {"ttshm_device_live_buffers", GAUGE, "Live buffers, all live writers.", FIELD(live_count)},
    {"ttshm_capacity_bytes", GAUGE, "Capacity published by the runtime.", FIELD(capacity_bytes)},
};

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

static void segment_labels(FILE *out, const struct stat_segment *s)
{
    char pid[16];
    snprintf(pid, sizeof pid, "%" PRIu32, s->st.pid);
    label(out, "segment", s->info.segment, true);
    label(out, "pid", pid, false);
}

static void writer_families(FILE *out, const struct stat_model *m)
{
    head(out, "ttshm_info", GAUGE, "Writer session of a ttshm segment; always 1.");
    for (size_t i = 0; i < m->nseg; i++) {
        const struct stat_segment *s = &m->seg[i];
        char gen[24];
        snprintf(gen, sizeof gen, "%" PRIu64, s->st.generation);
        fputs("ttshm_info{", out);
        segment_labels(out, s);
        label(out, "registry", s->info.registry, false);
        label(out, "generation", gen, false);
        label(out, "state", ttshm_state_name((enum ttshm_writer_state)s->st.state), false);
        label(out, "version", TTSHM_VERSION_STRING, false);
        fputs("} 1\n", out);
    }
    head(out, "ttshm_writer_alive", GAUGE, "1 while the writer process holds its segment.");
    for (size_t i = 0; i < m->nseg; i++) {
        fputs("ttshm_writer_alive{", out);
        segment_labels(out, &m->seg[i]);
        fprintf(out, "} %d\n", m->seg[i].st.state == TTSHM_STATE_ALIVE);
    }
    head(out, "ttshm_writer_generation", GAUGE, "Writer sessions seen by the segment.");
    for (size_t i = 0; i < m->nseg; i++) {
        fputs("ttshm_writer_generation{", out);
        segment_labels(out, &m->seg[i]);
        fprintf(out, "} %" PRIu64 "\n", m->seg[i].st.generation);
    }
    head(out, "ttshm_writer_start_time_seconds", GAUGE,
         "Start of the writer session, seconds since the epoch.");
    for (size_t i = 0; i < m->nseg; i++) {
        const struct stat_segment *s = &m->seg[i];
        fputs("ttshm_writer_start_time_seconds{", out);
        segment_labels(out, s);
        fprintf(out, "} %" PRIu64 ".%03" PRIu64 "\n", s->st.started_ns / 1000000000u,
                s->st.started_ns / 1000000u % 1000u);
    }
}

static void samples(FILE *out, const struct stat_options *o, const struct family *f,
                    const struct stat_segment *s, unsigned ndev,
                    const struct ttshm_counters (*dev)[TTSHM_MEM_TYPE_COUNT])
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
            char dv[16];
            snprintf(dv, sizeof dv, "%u", d);
            fprintf(out, "%s{", f->name);
            if (s != NULL) {
                segment_labels(out, s);
                label(out, "device", dv, false);
            } else {
                label(out, "device", dv, true);
            }
            label(out, "type", ttshm_mem_type_name(t), false);
            fprintf(out, "} %" PRIu64 "\n", value(c, f->offset));
        }
    }
}

void stat_output_prometheus(FILE *out, const struct stat_options *o, const struct stat_model *m)
{
    writer_families(out, m);
    for (size_t k = 0; k < sizeof process_families / sizeof process_families[0]; k++) {
        const struct family *f = &process_families[k];
        head(out, f->name, f->kind, f->help);
        for (size_t i = 0; i < m->nseg; i++)
            samples(out, o, f, &m->seg[i], m->seg[i].stats.device_count,
                    (const struct ttshm_counters(*)[TTSHM_MEM_TYPE_COUNT])m->seg[i].stats.dev);
    }
    for (size_t k = 0; k < sizeof device_families / sizeof device_families[0]; k++) {
        const struct family *f = &device_families[k];
        head(out, f->name, f->kind, f->help);
        samples(out, o, f, NULL, TTSHM_MAX_DEVICES,
                (const struct ttshm_counters(*)[TTSHM_MEM_TYPE_COUNT])m->totals);
    }
}
