/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The reader's side and the memory figures: full-snapshot and foreach time at
 * several live counts, point-lookup time (hits and misses), shared-memory
 * bytes per live entry, and the footprint of an empty segment.
 *
 * The table is filled by a writer in this process and read through a separate
 * read-only mapping by the reader library, as tt-shm-stat would; the writer
 * is quiescent while the reader is timed, so these are the reader's own costs.
 * "shm bytes" is ttshm_status.shm_bytes (header + tables the reader maps);
 * "resident" is what tmpfs actually allocated to the segment's objects
 * (st_blocks), i.e. memory the machine really spends. With the largest size
 * still live, tt-shm-stat -b is timed as a user runs it (statrun.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "design.h"
#include "events.h"
#include "segments.h"
#include "ttshm/reader.h"
#include "ttshm/writer.h"

/* Key of the i-th filled buffer: spread over the devices, the type mix of the
 * stream, page-aligned distinct addresses. */
static void fill_key(uint64_t i, unsigned devices, unsigned *dev, unsigned *type, uint64_t *addr)
{
    *dev = (unsigned)(i % devices);
    uint64_t r = (i * 0x9e3779b97f4a7c15ull) >> 40;
    unsigned pm = (unsigned)(r % 1000);
    unsigned t = 0;
    while (t < 6 && pm >= bench_type_mix[t]) {
        pm -= bench_type_mix[t];
        t++;
    }
    *type = t;
    *addr = (i + 1) * 4096;
}

static int count_entry(const struct ttshm_entry *e, void *ctx)
{
    (void)e;
    (*(uint64_t *)ctx)++;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int run_size(const struct bench_config *cfg, unsigned k, uint64_t live,
                    struct snapshot_point *pt, struct stat_result *stat)
{
    memset(pt, 0, sizeof *pt);
    pt->live = live;
    char reg[TTSHM_NAME_MAX + 1], tag[16];
    snprintf(tag, sizeof tag, "snap%u", k);
    bench_registry(reg, sizeof reg, cfg->registry, tag);
    ttshm_writer *w = bench_ttshm_open(reg, 0);
    if (w == NULL)
        return -1;
    int failed = 0;
    unsigned devices = cfg->devices ? cfg->devices : 1;
    uint64_t t0 = bench_now_ns();
    uint64_t bad = 0;
    for (uint64_t i = 0; i < live; i++) {
        unsigned dev, type;
        uint64_t addr;
        fill_key(i, devices, &dev, &type, &addr);
        bad +=
            ttshm_record_alloc(w, dev, (enum ttshm_mem_type)type, addr, 4096, i) != TTSHM_RECORDED;
    }
    pt->fill_ns_event = live ? (double)(bench_now_ns() - t0) / (double)live : 0;
    if (bad) {
        fprintf(stderr, "tt-shm-bench: snapshot fill: %llu allocs not recorded\n",
                (unsigned long long)bad);
        failed = 1;
    }
    ttshm_reader *r = NULL;
    int rc = ttshm_reader_open(ttshm_writer_segment_name(w), &r);
    if (rc != 0) {
        fprintf(stderr, "tt-shm-bench: ttshm_reader_open: %s\n", ttshm_strerror(rc));
        ttshm_writer_close(w);
        bench_unlink_registry(reg);
        return -1;
    }
    unsigned reps = cfg->snapshot_reps ? cfg->snapshot_reps : 1;
    double *v = malloc((reps + 1) * sizeof *v);
    size_t nlook = cfg->lookups ? cfg->lookups : 1000;
    size_t batch = 1000;
    size_t nb = (nlook + batch - 1) / batch;
    double *lv = malloc((nb + 1) * sizeof *lv);
    uint64_t *idx = malloc(nlook * sizeof *idx);
    if (!v || !lv || !idx) {
        failed = 1;
        goto out;
    }
    /* Snapshots: one untimed first (maps the table, warms the allocator). */
    for (unsigned rep = 0; rep <= reps; rep++) {
        struct ttshm_entry *e = NULL;
        size_t n = 0;
        uint64_t a = bench_now_ns();
        rc = ttshm_reader_snapshot(r, &e, &n);
        uint64_t b = bench_now_ns();
        if (rc != 0) {
            fprintf(stderr, "tt-shm-bench: ttshm_reader_snapshot: %s\n", ttshm_strerror(rc));
            failed = 1;
            break;
        }
        if (e != NULL && n > 0 && rep == reps) {
            /* Every filled address must be there exactly once. */
            uint64_t *addrs = malloc(n * sizeof *addrs);
            if (addrs) {
                for (size_t i = 0; i < n; i++)
                    addrs[i] = e[i].address;
                qsort(addrs, n, sizeof *addrs, cmp_u64);
                for (size_t i = 0; i < n; i++)
                    if (addrs[i] != (i + 1) * 4096) {
                        failed = 1;
                        fprintf(stderr, "tt-shm-bench: snapshot content differs from the fill\n");
                        break;
                    }
                free(addrs);
            }
        }
        free(e);
        pt->seen = n;
        if (n != live)
            failed = 1;
        if (rep > 0)
            v[rep - 1] = (double)(b - a) / 1e6;
    }
    bench_summarize(v, reps, &pt->snapshot_ms);
    /* The same into one array kept between calls, as a polling monitor
     * does: the scan without the page faults of a fresh array. */
    size_t cap = live + live / 8 + 1024;
    struct ttshm_entry *into = malloc(cap * sizeof *into);
    for (unsigned rep = 0; into != NULL && rep <= reps; rep++) {
        size_t n = 0;
        uint64_t a = bench_now_ns();
        rc = ttshm_reader_snapshot_into(r, into, cap, &n);
        uint64_t b = bench_now_ns();
        if (rc != 0 || n != live) {
            fprintf(stderr, "tt-shm-bench: ttshm_reader_snapshot_into: %s, %zu entries\n",
                    ttshm_strerror(rc), n);
            failed = 1;
            break;
        }
        if (rep > 0)
            v[rep - 1] = (double)(b - a) / 1e6;
    }
    failed |= into == NULL;
    free(into);
    bench_summarize(v, reps, &pt->snapshot_into_ms);
    for (unsigned rep = 0; rep <= reps; rep++) {
        uint64_t n = 0;
        uint64_t a = bench_now_ns();
        rc = ttshm_reader_foreach(r, count_entry, &n);
        uint64_t b = bench_now_ns();
        if (rc != 0 || n != live) {
            fprintf(stderr, "tt-shm-bench: ttshm_reader_foreach: %s, %llu entries\n",
                    ttshm_strerror(rc), (unsigned long long)n);
            failed = 1;
            break;
        }
        if (rep > 0)
            v[rep - 1] = (double)(b - a) / 1e6;
    }
    bench_summarize(v, reps, &pt->foreach_ms);

    /* Lookups of random live keys, then of keys never allocated (odd
     * addresses), in batches so the clock is not what is measured. */
    uint64_t rng = cfg->seed ^ live;
    for (size_t i = 0; i < nlook; i++)
        idx[i] = bench_rand(&rng) % live;
    for (int miss = 0; miss < 2; miss++) {
        size_t ns = 0;
        for (size_t off = 0; off < nlook; off += batch) {
            size_t len = nlook - off < batch ? nlook - off : batch;
            uint64_t errs = 0;
            uint64_t a = bench_now_ns();
            for (size_t j = off; j < off + len; j++) {
                unsigned dev, type;
                uint64_t addr;
                fill_key(idx[j], devices, &dev, &type, &addr);
                struct ttshm_entry e;
                if (miss) {
                    errs += ttshm_reader_lookup(r, dev, (enum ttshm_mem_type)type, addr + 8, &e) !=
                            -TTSHM_E_NOTFOUND;
                } else {
                    errs += ttshm_reader_lookup(r, dev, (enum ttshm_mem_type)type, addr, &e) != 0 ||
                            e.address != addr || e.device != dev;
                }
            }
            uint64_t b = bench_now_ns();
            lv[ns++] = (double)(b - a) / (double)len;
            pt->lookup_errors += errs;
        }
        struct summary s;
        bench_summarize(lv, ns, &s);
        if (miss)
            pt->lookup_miss_ns = s.median;
        else
            pt->lookup_hit_ns = s.median;
    }
    if (pt->lookup_errors)
        failed = 1;

    struct ttshm_status st;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    if (ttshm_reader_status(r, &st) == 0) {
        pt->table_slots = st.table_slots;
        pt->shm_bytes = st.shm_bytes;
        pt->bytes_per_entry = live ? (double)st.shm_bytes / (double)live : 0;
    } else {
        failed = 1;
    }
    char prefix[96];
    snprintf(prefix, sizeof prefix, "ttshm.%s.", reg);
    pt->resident_bytes = bench_resident_prefix(prefix, NULL, NULL);
    pt->resident_per_entry = live ? (double)pt->resident_bytes / (double)live : 0;
    if (stat) {
        if (bench_time_stat(cfg, reg, live, stat) != 0) {
            fprintf(stderr, "tt-shm-bench: tt-shm-stat: %s\n", stat->error);
            failed = 1;
        } else {
            fprintf(stderr,
                    "  reader: tt-shm-stat -b with %llu live: %.2f s, %.0f MB peak RSS; --json -b "
                    "%.2f s, %.0f MB\n",
                    (unsigned long long)live, stat->seconds[0], stat->max_rss_mb[0],
                    stat->seconds[1], stat->max_rss_mb[1]);
        }
    }
out:
    free(v);
    free(lv);
    free(idx);
    ttshm_reader_close(r);
    ttshm_writer_close(w);
    bench_unlink_registry(reg);
    return failed ? -1 : 0;
}

static int run_empty(const struct bench_config *cfg, struct memory_result *m)
{
    memset(m, 0, sizeof *m);
    char reg[TTSHM_NAME_MAX + 1];
    bench_registry(reg, sizeof reg, cfg->registry, "empty");
    ttshm_writer *w = bench_ttshm_open(reg, 0);
    if (w == NULL)
        return -1;
    int failed = 0;
    ttshm_reader *r = NULL;
    struct ttshm_status st;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    if (ttshm_reader_open(ttshm_writer_segment_name(w), &r) != 0 || ttshm_reader_status(r, &st))
        failed = 1;
    m->empty_shm_bytes = st.shm_bytes;
    m->empty_table_slots = st.table_slots;
    char prefix[96];
    snprintf(prefix, sizeof prefix, "ttshm.%s.", reg);
    m->empty_resident_bytes =
        bench_resident_prefix(prefix, &m->empty_objects, &m->empty_apparent_bytes);
    ttshm_reader_close(r);
    ttshm_writer_close(w);
    bench_unlink_registry(reg);
    return failed ? -1 : 0;
}

int run_readside(const struct bench_config *cfg, struct bench_results *res)
{
    int failed = 0;
    if (run_empty(cfg, &res->memory) != 0)
        failed = 1;
    else
        res->memory_ran = 1;
    fprintf(stderr, "  memory: empty segment %llu B mapped, %llu B resident in %u objects\n",
            (unsigned long long)res->memory.empty_shm_bytes,
            (unsigned long long)res->memory.empty_resident_bytes, res->memory.empty_objects);
    res->nsnapshot = 0;
    unsigned largest = 0;
    for (unsigned k = 1; k < cfg->nsnapshot; k++)
        if (cfg->snapshot_sizes[k] > cfg->snapshot_sizes[largest])
            largest = k;
    for (unsigned k = 0; k < cfg->nsnapshot; k++) {
        struct snapshot_point *pt = &res->snapshot[res->nsnapshot++];
        if (run_size(cfg, k, cfg->snapshot_sizes[k], pt, k == largest ? &res->stat : NULL) != 0)
            failed = 1;
        fprintf(stderr,
                "  reader: %8llu live: snapshot %.2f ms, foreach %.2f ms, lookup %.0f/%.0f ns "
                "(hit/miss), %.1f B/entry (%.1f resident)\n",
                (unsigned long long)pt->live, pt->snapshot_into_ms.median, pt->foreach_ms.median,
                pt->lookup_hit_ns, pt->lookup_miss_ns, pt->bytes_per_entry, pt->resident_per_entry);
    }
    res->snapshot_ran = 1;
    return failed ? -1 : 0;
}
