/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sim's report: one JSON line per phase on stdout, so a test can compare a
 * reader against exactly what the writer was asked to record. Its "devices"
 * array has the shape of tt-shm-stat --json's.
 */
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "sim.h"

static const char *const profile_names[] = {"llama", "uniform", "tt-metal"};

void sim_totals(const struct sim *s, unsigned device, struct sim_counts out[TTSHM_MEM_TYPE_COUNT],
                struct sim_results *res)
{
    memset(out, 0, sizeof(struct sim_counts) * TTSHM_MEM_TYPE_COUNT);
    unsigned lanes = 0;
    for (unsigned i = 0; i < s->nlanes; i++) {
        const struct sim_lane *l = &s->lanes[i];
        if (l->device != device)
            continue;
        lanes++;
        for (uint32_t t = 0; t < TTSHM_MEM_TYPE_COUNT; t++) {
            const struct sim_counts *c = &l->counts[t];
            out[t].allocs += c->allocs;
            out[t].frees += c->frees;
            out[t].alloc_bytes += c->alloc_bytes;
            out[t].freed_bytes += c->freed_bytes;
            out[t].peak_bytes += c->peak_bytes;
            if (c->capacity_bytes) {
                out[t].capacity_bytes = c->capacity_bytes;
                out[t].capacity_banks = c->capacity_banks;
            }
        }
        if (res != NULL)
            for (int r = 0; r <= TTSHM_OFF; r++)
                res->n[r] += l->results.n[r];
    }
    const struct sim_device *d = &s->dev[device];
    out[TTSHM_CB].allocs = d->cb.allocs;
    out[TTSHM_CB].frees = d->cb.frees;
    out[TTSHM_CB].alloc_bytes = d->cb.alloc_bytes;
    out[TTSHM_CB].freed_bytes = d->cb.freed_bytes;
    out[TTSHM_CB].peak_bytes = d->cb.peak_bytes;
    if (res != NULL)
        for (int r = 0; r <= TTSHM_OFF; r++)
            res->n[r] += d->results.n[r];
    /* Lanes sharing a device peak at different moments: the sum of their
     * peaks is not the device's peak, so none is reported. */
    if (lanes > 1)
        for (uint32_t t = 0; t < TTSHM_MEM_TYPE_COUNT; t++)
            if (t != TTSHM_CB)
                out[t].peak_bytes = UINT64_MAX;
}

static void print_counts(FILE *out, const struct sim_counts *c)
{
    fprintf(out,
            "{\"live_count\":%" PRIu64 ",\"live_bytes\":%" PRIu64 ",\"allocs\":%" PRIu64
            ",\"frees\":%" PRIu64 ",\"alloc_bytes\":%" PRIu64,
            c->allocs - c->frees, c->alloc_bytes - c->freed_bytes, c->allocs, c->frees,
            c->alloc_bytes);
    if (c->peak_bytes != UINT64_MAX)
        fprintf(out, ",\"peak_bytes\":%" PRIu64, c->peak_bytes);
    fprintf(out, ",\"capacity_bytes\":%" PRIu64 ",\"capacity_banks\":%" PRIu32 "}",
            c->capacity_bytes, c->capacity_banks);
}

void sim_report(const struct sim *s, const char *phase, FILE *out)
{
    const struct sim_options *o = &s->opt;
    const char *segment = s->w ? ttshm_writer_segment_name(s->w) : NULL;
    fprintf(out, "{\"tool\":\"tt-shm-sim\",\"phase\":\"%s\",\"segment\":", phase);
    if (segment != NULL)
        fprintf(out, "\"%s\"", segment);
    else
        fputs("null", out);
    fprintf(out,
            ",\"generation\":%" PRIu64 ",\"pid\":%ld,\"profile\":\"%s\",\"device_count\":%u"
            ",\"threads\":%u,\"events\":%" PRIu64 ",\"seed\":%" PRIu64 ",\"elapsed_s\":%.6f",
            s->w ? ttshm_writer_generation(s->w) : 0, (long)getpid(), profile_names[o->profile],
            o->devices, o->threads, o->events, o->seed, s->elapsed_s);

    struct sim_results all = {{0}};
    uint64_t live_count = 0, live_bytes = 0;
    fputs(",\"devices\":[", out);
    for (unsigned d = 0; d < o->devices; d++) {
        struct sim_counts c[TTSHM_MEM_TYPE_COUNT];
        sim_totals(s, d, c, &all);
        fprintf(out, "%s{\"device\":%u,\"types\":{", d ? "," : "", d);
        int first = 1;
        for (uint32_t t = 0; t < TTSHM_MEM_TYPE_COUNT; t++) {
            if (c[t].allocs == 0 && c[t].capacity_bytes == 0)
                continue; /* untouched types are left out */
            fprintf(out, "%s\"%s\":", first ? "" : ",", ttshm_mem_type_name(t));
            print_counts(out, &c[t]);
            first = 0;
            live_count += c[t].allocs - c[t].frees;
            live_bytes += c[t].alloc_bytes - c[t].freed_bytes;
        }
        fputs("}}", out);
    }
    fprintf(out, "],\"live_count\":%" PRIu64 ",\"live_bytes\":%" PRIu64, live_count, live_bytes);
    fprintf(out,
            ",\"results\":{\"recorded\":%" PRIu64 ",\"duplicate\":%" PRIu64 ",\"unknown\":%" PRIu64
            ",\"dropped\":%" PRIu64 ",\"off\":%" PRIu64 "}",
            all.n[TTSHM_RECORDED], all.n[TTSHM_DUPLICATE], all.n[TTSHM_UNKNOWN],
            all.n[TTSHM_DROPPED], all.n[TTSHM_OFF]);

    fputs(",\"leaked\":[", out);
    for (uint64_t i = 0; i < s->nleaked; i++) {
        const struct sim_buffer *b = &s->leaked[i];
        fprintf(out,
                "%s{\"device\":%u,\"type\":\"%s\",\"address\":%" PRIu64 ",\"size\":%" PRIu64
                ",\"tag\":%" PRIu64 "}",
                i ? "," : "", s->leaked_device[i], ttshm_mem_type_name(b->type), b->address,
                b->size, b->tag);
    }
    fputs("]}\n", out);
    fflush(out);
}
