/* SPDX-License-Identifier: Apache-2.0 */
#include "report.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "ttshm/types.h"

/* ---------------- machine ---------------- */

void machine_loadavg(double *one_minute)
{
    *one_minute = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", one_minute) != 1)
            *one_minute = -1;
        fclose(f);
    }
}

/* The value of a "key : value" line of /proc/cpuinfo, or NULL. */
static const char *cpuinfo_value(const char *line, const char *key)
{
    size_t n = strlen(key);
    if (strncmp(line, key, n) != 0 || (line[n] != ' ' && line[n] != '\t' && line[n] != ':'))
        return NULL;
    const char *p = strchr(line, ':');
    if (p == NULL)
        return NULL;
    for (p++; *p == ' ' || *p == '\t'; p++)
        ;
    return p;
}

void machine_info_fill(struct machine_info *m)
{
    memset(m, 0, sizeof *m);
    snprintf(m->cpu_model, sizeof m->cpu_model, "unknown");
    m->cpu_family = m->cpu_model_id = m->cpu_stepping = -1;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        /* The first processor's block: every core of these machines is alike. */
        char line[512];
        while (fgets(line, sizeof line, f) && line[0] != '\n') {
            line[strcspn(line, "\n")] = 0;
            const char *v;
            if ((v = cpuinfo_value(line, "model name")))
                snprintf(m->cpu_model, sizeof m->cpu_model, "%s", v);
            else if ((v = cpuinfo_value(line, "vendor_id")))
                snprintf(m->cpu_vendor, sizeof m->cpu_vendor, "%s", v);
            else if ((v = cpuinfo_value(line, "cpu family")))
                m->cpu_family = atoi(v);
            else if ((v = cpuinfo_value(line, "model")))
                m->cpu_model_id = atoi(v);
            else if ((v = cpuinfo_value(line, "stepping")))
                m->cpu_stepping = atoi(v);
        }
        fclose(f);
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    m->cores_online = n > 0 ? (unsigned)n : 0;
    m->cores_allowed = bench_cpus_allowed();
    struct utsname u;
    if (uname(&u) == 0)
        snprintf(m->kernel, sizeof m->kernel, "%s %s %s", u.sysname, u.release, u.machine);
    gethostname(m->hostname, sizeof m->hostname - 1);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(m->date, sizeof m->date, "%Y-%m-%dT%H:%M:%SZ", &tm);
#if defined(__clang__)
    snprintf(m->compiler, sizeof m->compiler, "clang %s", __clang_version__);
#elif defined(__GNUC__)
    snprintf(m->compiler, sizeof m->compiler, "gcc %s", __VERSION__);
#endif
    machine_loadavg(&m->loadavg_start);
}

/* ---------------- targets ---------------- */

static const struct design_result *find_design(const struct bench_results *res, const char *name,
                                               int reuse)
{
    for (unsigned i = 0; i < res->ndesigns; i++) {
        const struct design_result *r = &res->designs[i];
        if (strcmp(r->name, name) == 0 && r->ran && (r->reuse_pct > 0) == reuse)
            return r;
    }
    return NULL;
}

static struct target *add_target(struct target *t, unsigned *n, const char *what, const char *key,
                                 double value, const char *unit, double limit, int higher_better)
{
    struct target *x = &t[(*n)++];
    memset(x, 0, sizeof *x);
    x->what = what;
    x->key = key;
    x->value = value;
    x->unit = unit;
    x->limit = limit;
    x->higher_better = higher_better;
    x->measured = isfinite(value);
    x->met = x->measured && (higher_better ? value >= limit : value <= limit);
    return x;
}

/* Marks a target not judged in this run, and why. */
static void not_measured(struct target *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void not_measured(struct target *x, const char *fmt, ...)
{
    x->measured = 0;
    x->met = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->reason, sizeof x->reason, fmt, ap);
    va_end(ap);
}

static double ratio(double a, double b)
{
    return isfinite(a) && isfinite(b) && b > 0 ? a / b : NAN;
}

/* ttshm's process CPU per event over a baseline's, in one comparison pass. */
static void cpu_target(const struct bench_config *cfg, const struct bench_results *res,
                       struct target *t, unsigned *n, const char *what, const char *key,
                       const char *base, int reuse, double limit)
{
    const struct design_result *tt = find_design(res, "ttshm", reuse);
    const struct design_result *b = find_design(res, base, reuse);
    struct target *x = add_target(
        t, n, what, key,
        ratio(tt ? tt->cpu_ns_event.median : NAN, b ? b->cpu_ns_event.median : NAN), "x", limit, 0);
    if (reuse && cfg->reuse_pct == 0)
        not_measured(x, "no reuse pass (--reuse 0)");
    else if (!tt || !b)
        not_measured(x, "ttshm or %s did not run", base);
    else if (cfg->live != 10000)
        not_measured(x, "run at %llu live; the target is at 10k", (unsigned long long)cfg->live);
}

static const struct snapshot_point *reader_at(const struct bench_results *res, uint64_t live)
{
    for (unsigned i = 0; i < res->nsnapshot; i++)
        if (res->snapshot[i].live == live && res->snapshot[i].seen == live)
            return &res->snapshot[i];
    return NULL;
}

unsigned bench_targets(const struct bench_config *cfg, const struct bench_results *res,
                       struct target *t)
{
    unsigned n = 0;
    struct target *x;
    cpu_target(cfg, res, t, &n, "ttshm process CPU/event vs floor, 10k live, churn", "cpu_vs_floor",
               "floor", 0, 1.5);
    cpu_target(cfg, res, t, &n, "ttshm process CPU/event vs mutex, 10k live, churn", "cpu_vs_mutex",
               "mutex", 0, 1.0);
    cpu_target(cfg, res, t, &n, "... the same with address reuse: vs floor", "cpu_vs_floor_reuse",
               "floor", 1, 1.5);
    cpu_target(cfg, res, t, &n, "... the same with address reuse: vs mutex", "cpu_vs_mutex_reuse",
               "mutex", 1, 1.0);

    /* Tables made in the timed phases (after the warm-up), both passes. */
    const struct design_result *tt0 = find_design(res, "ttshm", 0);
    const struct design_result *tt1 = find_design(res, "ttshm", 1);
    int tables_known = tt0 && tt0->has_tables && (!tt1 || tt1->has_tables);
    double made = tables_known ? (double)(tt0->tables_timed + (tt1 ? tt1->tables_timed : 0)) : NAN;
    x = add_target(t, &n, "tables created under steady churn after warm-up", "tables_steady", made,
                   "", 0, 0);
    if (!tt0)
        not_measured(x, "ttshm did not run in the comparison");
    else if (!tables_known)
        not_measured(x, "the reader library does not count tables (ttshm_status.tables_created: "
                        "segment ABI 2)");

    const struct snapshot_point *m1 = reader_at(res, 1000000);
    const char *no1m = res->snapshot_ran ? "1M is not among --snapshot-sizes" : "reader not run";
    x = add_target(t, &n, "snapshot of 1M entries (into a reused array)", "snapshot_1m_ms",
                   m1 ? m1->snapshot_into_ms.median : NAN, "ms", 12, 0);
    if (!m1)
        not_measured(x, "%s", no1m);
    else
        snprintf(x->reason, sizeof x->reason, "a new array per call: %.1f ms",
                 m1->snapshot_ms.median);
    x = add_target(t, &n, "lookup at 1M entries (hit)", "lookup_1m_ns",
                   m1 ? m1->lookup_hit_ns : NAN, "ns", 150, 0);
    if (!m1)
        not_measured(x, "%s", no1m);
    x = add_target(t, &n, "shm bytes per live entry at 1M (filled once)", "bytes_per_entry_1m",
                   m1 ? m1->bytes_per_entry : NAN, "B", 80, 0);
    if (!m1)
        not_measured(x, "%s", no1m);

    /* After churn: the median over the timed repetitions of each comparison
     * pass (a rebuild running at a repetition's end maps two tables), the
     * larger of the two passes. */
    double churn = NAN, churn_max = NAN;
    for (int reuse = 0; reuse < 2; reuse++) {
        const struct design_result *r = reuse ? tt1 : tt0;
        if (r && r->steady_bytes_per_entry.n > 0) {
            double b = r->steady_bytes_per_entry.median, m = r->steady_bytes_per_entry.max;
            churn = isfinite(churn) && churn > b ? churn : b;
            churn_max = isfinite(churn_max) && churn_max > m ? churn_max : m;
        }
    }
    x = add_target(t, &n, "shm bytes per live entry at 10k after churn",
                   "bytes_per_entry_10k_churn", churn, "B", 128, 0);
    if (isfinite(churn_max))
        snprintf(x->reason, sizeof x->reason,
                 "median over reps, max %.0f B (a rebuild maps 2 tables)", churn_max);
    if (!tt0)
        not_measured(x, "ttshm did not run in the comparison");
    else if (cfg->live != 10000)
        not_measured(x, "run at %llu live; the target is at 10k", (unsigned long long)cfg->live);

    double empty = NAN;
    if (res->memory_ran) {
        uint64_t e = res->memory.empty_shm_bytes > res->memory.empty_resident_bytes
                         ? res->memory.empty_shm_bytes
                         : res->memory.empty_resident_bytes;
        empty = (double)e / 1024.0;
    }
    x = add_target(t, &n, "empty writer (mapped or resident, the larger)", "empty_writer_kib",
                   empty, "KiB", 256, 0);
    if (!res->memory_ran)
        not_measured(x, "reader section not run");

    const struct growth_result *g = &res->growth;
    x = add_target(t, &n, "worst alloc growing 1k -> 1M, bins without preemption",
                   "growth_worst_unpreempted_ms",
                   res->growth_ran ? g->worst_unpreempted_ns / 1e6 : NAN, "ms", 1, 0);
    if (!res->growth_ran)
        not_measured(x, "growth not run");
    else if (g->from > 1000 || g->to < 1000000)
        not_measured(x, "grew %llu -> %llu; the target is 1k -> 1M", (unsigned long long)g->from,
                     (unsigned long long)g->to);
    else
        snprintf(x->reason, sizeof x->reason, "with preempted bins: %.2f ms",
                 g->worst_max_ns / 1e6);

    const struct stat_result *st = &res->stat;
    int stat1m = st->ran && st->live == 1000000;
    const char *nostat = !st->ran ? (st->error[0] ? st->error : "reader section not run")
                                  : "largest reader size is not 1M";
    x = add_target(t, &n, "tt-shm-stat -b with 1M live buffers: time", "stat_b_1m_s",
                   st->ran ? st->seconds[0] : NAN, "s", 1, 0);
    if (!stat1m)
        not_measured(x, "%s", nostat);
    else
        snprintf(x->reason, sizeof x->reason, "--json -b: %.2f s", st->seconds[1]);
    x = add_target(t, &n, "tt-shm-stat -b with 1M live buffers: peak RSS", "stat_b_1m_rss_mb",
                   st->ran ? st->max_rss_mb[0] : NAN, "MB", 200, 0);
    if (!stat1m)
        not_measured(x, "%s", nostat);
    else
        snprintf(x->reason, sizeof x->reason,
                 "--json -b: %.0f MB; may include %.0f MB of the bench forking it",
                 st->max_rss_mb[1], st->spawner_anon_mb);

    /* Only where 16 cores can run 16 threads (and a writer beside 4 readers). */
    unsigned cores = res->machine.cores_allowed;
    const struct scaling_point *s16 = NULL;
    for (unsigned i = 0; i < res->nscaling; i++)
        if (!res->scaling[i].one_device && res->scaling[i].threads == 16)
            s16 = &res->scaling[i];
    x = add_target(t, &n, "16 threads on 16 devices vs 1 thread", "scaling_16",
                   s16 ? s16->speedup : NAN, "x", 12, 1);
    if (cores < 16)
        not_measured(x, "not measured: %u cores (needs 16)", cores);
    else if (!s16)
        not_measured(x, "no 16-thread scaling point in this run");
    x = add_target(t, &n, "writer throughput with 4 readers vs none (wall)", "readers_wall",
                   res->interference_ran ? res->interference[1].ratio_wall : NAN, "x", 0.95, 1);
    if (cores < 16)
        not_measured(x, "not measured: %u cores (needs 16)", cores);
    else if (!res->interference_ran)
        not_measured(x, "readers section not run");
    return n;
}

static const char *target_status(const struct target *t)
{
    return !t->measured ? "not measured" : t->met ? "met" : "not met";
}

/* ---------------- table ---------------- */

/* The notes column of a design: appended pieces, cut at the buffer's end. */
struct note {
    char text[256];
    size_t len;
};

static void note_add(struct note *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note_add(struct note *n, const char *fmt, ...)
{
    if (n->len >= sizeof n->text - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(n->text + n->len, sizeof n->text - n->len, fmt, ap);
    va_end(ap);
    if (k > 0)
        n->len += (size_t)k < sizeof n->text - n->len ? (size_t)k : sizeof n->text - 1 - n->len;
}

static const char *fmt_ns(char *buf, size_t len, double ns)
{
    if (!isfinite(ns))
        snprintf(buf, len, "-");
    else if (ns < 10)
        snprintf(buf, len, "%.2f", ns);
    else if (ns < 1000)
        snprintf(buf, len, "%.1f", ns);
    else
        snprintf(buf, len, "%.0f", ns);
    return buf;
}

void report_print(FILE *f, const struct bench_config *cfg, const struct bench_results *res)
{
    const struct machine_info *m = &res->machine;
    char a[32], b[32], c[32], d[32], e[32];
    fprintf(f, "\ntt-shm-bench %s  %s\n", TTSHM_VERSION_STRING, m->date);
    fprintf(f,
            "machine: %s (%s family %d model %d stepping %d), %u CPUs online (%u allowed), %s; "
            "load %.2f at start, %.2f at end\n",
            m->cpu_model, m->cpu_vendor, m->cpu_family, m->cpu_model_id, m->cpu_stepping,
            m->cores_online, m->cores_allowed, m->kernel, m->loadavg_start, m->loadavg_end);
    if (m->loadavg_start > 0.5 * m->cores_online || m->loadavg_end > 0.5 * m->cores_online)
        fprintf(f, "note: the machine was busy with other work; figures are noisier than usual\n");
    fprintf(f,
            "clock: CLOCK_MONOTONIC per batch of %u events; growth ops by %s (%.2f GHz, "
            "%.1f ns timer overhead)\n",
            cfg->batch, res->tsc.source ? res->tsc.source : "-", res->tsc.ghz,
            res->tsc.overhead_ns);

    for (int reuse = 0; reuse < 2; reuse++) {
        const struct design_result *d0 = NULL;
        for (unsigned i = 0; i < res->ndesigns && !d0; i++)
            if ((res->designs[i].reuse_pct > 0) == reuse)
                d0 = &res->designs[i];
        if (d0 == NULL)
            continue;
        fprintf(f,
                "\n== Cost per event, same stream, one thread (%llu live, %u devices, %llu timed "
                "events x %u reps after %u warm-up reps)%s\n",
                (unsigned long long)cfg->live, cfg->devices, (unsigned long long)d0->events_per_rep,
                cfg->reps, d0->warmup_passes, reuse ? "" : "; no address reuse");
        if (reuse)
            fprintf(f, "-- with %u%% of allocs reusing the address just freed\n", d0->reuse_pct);
        else
            fprintf(f,
                    "ns/event = wall time of the timed thread over a whole repetition / its "
                    "events (median, p99 over reps);\nbatch = the same per %u events; CPU = "
                    "process CPU (all threads, helper processes) over the timed phase / events;\n"
                    "x floor = median / the floor design's median (wall, CPU)\n",
                    cfg->batch);
        fprintf(f, "%-9s %9s %9s %9s %9s %9s %8s %8s %8s  %-5s %s\n", "design", "ns/event", "p99",
                "batch med", "batch p99", "CPU ns", "x floor", "CPU x fl", "x ttshm", "check",
                "notes");
        for (unsigned i = 0; i < res->ndesigns; i++) {
            const struct design_result *r = &res->designs[i];
            if ((r->reuse_pct > 0) != reuse)
                continue;
            if (!r->ran) {
                fprintf(f, "%-9s  did not run: %s\n", r->name, r->error);
                continue;
            }
            struct note n = {"", 0};
            if (r->seen_steady.table_slots && r->seen_steady.live_count)
                note_add(&n, "%llu slots, %.0f B/entry; ",
                         (unsigned long long)r->seen_steady.table_slots,
                         (double)r->seen_steady.shm_bytes / (double)r->seen_steady.live_count);
            if (r->has_tables) {
                note_add(&n, "tables made per timed rep:");
                for (unsigned k = 0; k < r->reps; k++)
                    note_add(&n, "%s%llu", k ? "/" : " ", (unsigned long long)r->rep_tables[k]);
                note_add(&n, " (%.1f MB); ", (double)r->table_bytes_timed / 1e6);
            }
            if (r->has_e2e)
                note_add(&n, "end-to-end %s ns/event; ",
                         fmt_ns(c, sizeof c, r->e2e_ns_event.median));
            if (r->helpers_on_timed_cpu > 0)
                note_add(&n, "%d of its %d threads may run on the timed CPU",
                         r->helpers_on_timed_cpu, r->helper_threads);
            else if (r->helper_threads > 0)
                note_add(&n, "its %d threads kept off the timed CPU", r->helper_threads);
            char r1[16] = "-", r2[16] = "-", r3[16] = "-", bm[32], bp[32];
            if (r->ratio_to_floor > 0)
                snprintf(r1, sizeof r1, "%.2f", r->ratio_to_floor);
            if (r->cpu_ratio_to_floor > 0)
                snprintf(r2, sizeof r2, "%.2f", r->cpu_ratio_to_floor);
            if (r->ratio_to_ttshm > 0)
                snprintf(r3, sizeof r3, "%.2f", r->ratio_to_ttshm);
            fprintf(f, "%-9s %9s %9s %9s %9s %9s %8s %8s %8s  %-5s %s\n", r->name,
                    fmt_ns(a, sizeof a, r->ns_event.median), fmt_ns(b, sizeof b, r->ns_event.p99),
                    fmt_ns(bm, sizeof bm, r->batch_ns.median),
                    fmt_ns(bp, sizeof bp, r->batch_ns.p99),
                    fmt_ns(d, sizeof d, r->cpu_ns_event.median), r1, r2, r3,
                    r->check_ok ? "ok" : "FAIL", n.text);
        }
    }

    if (res->scaling_ran) {
        fprintf(f, "\n== ttshm thread scaling (%llu timed events per thread, %u CPUs allowed)\n",
                (unsigned long long)cfg->scaling_events, m->cores_allowed);
        fprintf(f, "%-8s %-12s %12s %14s %9s %14s %14s\n", "threads", "devices", "Mevents/s",
                "ns/event/thr", "speedup", "CPU-ns/event", "proc CPU-ns");
        for (unsigned i = 0; i < res->nscaling; i++) {
            const struct scaling_point *p = &res->scaling[i];
            fprintf(f, "%-8u %-12s %12.2f %14.1f %9.2f %14.1f %14.1f\n", p->threads,
                    p->one_device ? "all on 0" : "one each", p->mev_s, p->ns_event, p->speedup,
                    p->cpu_ns_event, p->proc_cpu_ns_event);
        }
    }

    if (res->interference_ran) {
        fprintf(f, "\n== ttshm writer with reader processes scanning nonstop\n");
        fprintf(f, "%-8s %14s %8s %16s %8s %12s %6s\n", "readers", "Mev/s (wall)", "ratio",
                "Mev/s (per CPU)", "ratio", "scans", "busy");
        for (int k = 0; k < 2; k++) {
            const struct interference_point *p = &res->interference[k];
            fprintf(f, "%-8u %14.2f %8.3f %16.2f %8.3f %12llu %6llu\n", p->readers, p->mev_s_wall,
                    p->ratio_wall, p->mev_s_cpu, p->ratio_cpu, (unsigned long long)p->reader_scans,
                    (unsigned long long)p->reader_busy);
        }
    }

    if (res->snapshot_ran || res->memory_ran) {
        fprintf(f, "\n== ttshm reader and memory\n");
        if (res->memory_ran)
            fprintf(f,
                    "empty segment: %llu B mapped by a reader (%llu table slots), %llu B resident "
                    "in tmpfs over %u objects (%llu B apparent)\n",
                    (unsigned long long)res->memory.empty_shm_bytes,
                    (unsigned long long)res->memory.empty_table_slots,
                    (unsigned long long)res->memory.empty_resident_bytes, res->memory.empty_objects,
                    (unsigned long long)res->memory.empty_apparent_bytes);
        fprintf(f, "%10s %12s %12s %12s %10s %10s %10s %10s %11s\n", "live", "snapshot ms",
                "reused ms", "foreach ms", "lookup ns", "miss ns", "slots", "B/entry",
                "resident B");
        for (unsigned i = 0; i < res->nsnapshot; i++) {
            const struct snapshot_point *p = &res->snapshot[i];
            fprintf(f, "%10llu %12.3f %12.3f %12.3f %10.1f %10.1f %10llu %10.1f %11.1f\n",
                    (unsigned long long)p->live, p->snapshot_ms.median, p->snapshot_into_ms.median,
                    p->foreach_ms.median, p->lookup_hit_ns, p->lookup_miss_ns,
                    (unsigned long long)p->table_slots, p->bytes_per_entry, p->resident_per_entry);
        }
        if (res->stat.ran)
            fprintf(f,
                    "tt-shm-stat with %llu live: -b %.2f s, %.0f MB peak RSS; --json -b %.2f s, "
                    "%.0f MB (the bench forking it had %.0f MB anonymous)\n",
                    (unsigned long long)res->stat.live, res->stat.seconds[0],
                    res->stat.max_rss_mb[0], res->stat.seconds[1], res->stat.max_rss_mb[1],
                    res->stat.spawner_anon_mb);
        else if (res->stat.error[0])
            fprintf(f, "tt-shm-stat: %s\n", res->stat.error);
    }

    if (res->growth_ran) {
        const struct growth_result *g = &res->growth;
        fprintf(
            f, "\n== ttshm writer latency per alloc while the table grows %llu -> %llu (%u reps)\n",
            (unsigned long long)g->from, (unsigned long long)g->to, g->reps);
        fprintf(f,
                "median %s ns, p99 %s ns, p99.9 %s ns, worst %s ns (median of reps' worst %s "
                "ns); final table %llu slots\n",
                fmt_ns(a, sizeof a, g->op_ns.median), fmt_ns(b, sizeof b, g->op_ns.p99),
                fmt_ns(c, sizeof c, g->op_ns.p999), fmt_ns(d, sizeof d, g->worst_max_ns),
                fmt_ns(e, sizeof e, g->worst_median_ns), (unsigned long long)g->final_table_slots);
        fprintf(f,
                "worst op in the %llu of %llu bins in which the thread was not preempted: %s ns "
                "(bin ending at %llu live)\n",
                (unsigned long long)((uint64_t)g->bins * g->reps - g->preempted_bins),
                (unsigned long long)((uint64_t)g->bins * g->reps),
                fmt_ns(a, sizeof a, g->worst_unpreempted_ns),
                (unsigned long long)g->worst_unpreempted_at);
    }

    struct target t[BENCH_MAX_TARGETS];
    unsigned nt = bench_targets(cfg, res, t);
    fprintf(f, "\n== Targets (issue 10)\n");
    fprintf(f, "%-55s %12s %12s  %-12s %s\n", "target", "measured", "limit", "status", "note");
    for (unsigned i = 0; i < nt; i++) {
        char v[32] = "-", l[32];
        if (isfinite(t[i].value))
            snprintf(v, sizeof v, "%.2f %s", t[i].value, t[i].unit);
        snprintf(l, sizeof l, "%s %g %s", t[i].higher_better ? ">=" : "<=", t[i].limit, t[i].unit);
        fprintf(f, "%-55s %12s %12s  %-12s %s\n", t[i].what, v, l, target_status(&t[i]),
                t[i].reason);
    }
    fprintf(f, "\n");
}

/* ---------------- JSON ---------------- */

/* A minimal streaming JSON writer: commas by nesting level. */
struct json {
    FILE *f;
    int depth;
    int first[32];
};

static void j_sep(struct json *j, const char *key)
{
    if (!j->first[j->depth])
        fputc(',', j->f);
    j->first[j->depth] = 0;
    fputc('\n', j->f);
    for (int i = 0; i < j->depth; i++)
        fputs("  ", j->f);
    if (key)
        fprintf(j->f, "\"%s\": ", key);
}

static void j_open(struct json *j, const char *key, char c)
{
    if (j->depth >= 0 && j->depth < 31 && (j->depth > 0 || key))
        j_sep(j, key);
    fputc(c, j->f);
    j->depth++;
    j->first[j->depth] = 1;
}

static void j_close(struct json *j, char c)
{
    j->depth--;
    fputc('\n', j->f);
    for (int i = 0; i < j->depth; i++)
        fputs("  ", j->f);
    fputc(c, j->f);
}

static void j_num(struct json *j, const char *key, double v)
{
    j_sep(j, key);
    if (isfinite(v))
        fprintf(j->f, "%.6g", v);
    else
        fputs("null", j->f); /* the smoke test treats null as a failure */
}

static void j_u64(struct json *j, const char *key, uint64_t v)
{
    j_sep(j, key);
    fprintf(j->f, "%llu", (unsigned long long)v);
}

static void j_str(struct json *j, const char *key, const char *s)
{
    j_sep(j, key);
    fputc('"', j->f);
    for (const char *p = s ? s : ""; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(j->f, "\\%c", *p);
        else if ((unsigned char)*p < 0x20)
            fprintf(j->f, "\\u%04x", *p);
        else
            fputc(*p, j->f);
    }
    fputc('"', j->f);
}

static void j_bool(struct json *j, const char *key, int v)
{
    j_sep(j, key);
    fputs(v ? "true" : "false", j->f);
}

static void j_summary(struct json *j, const char *key, const struct summary *s)
{
    j_open(j, key, '{');
    j_u64(j, "n", s->n);
    j_num(j, "min", s->min);
    j_num(j, "median", s->median);
    j_num(j, "mean", s->mean);
    j_num(j, "p90", s->p90);
    j_num(j, "p99", s->p99);
    j_num(j, "p999", s->p999);
    j_num(j, "max", s->max);
    j_close(j, '}');
}

static void j_check(struct json *j, const char *key, const struct design_check *c)
{
    j_open(j, key, '{');
    /* A field the design cannot tell (BENCH_NA) is left out. */
    if (c->live_count != BENCH_NA)
        j_u64(j, "live_count", c->live_count);
    if (c->live_bytes != BENCH_NA)
        j_u64(j, "live_bytes", c->live_bytes);
    if (c->events != BENCH_NA)
        j_u64(j, "events", c->events);
    j_u64(j, "anomalies", c->anomalies);
    if (c->table_slots) {
        j_u64(j, "table_slots", c->table_slots);
        j_u64(j, "shm_bytes", c->shm_bytes);
    }
    j_close(j, '}');
}

int report_json(const char *path, const struct bench_config *cfg, const struct bench_results *res)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        return -1;
    }
    struct json jj = {f, 0, {1}};
    struct json *j = &jj;
    j_open(j, NULL, '{');
    j_str(j, "schema", "tt-shm-bench/2");
    j_str(j, "version", TTSHM_VERSION_STRING);
    j_num(j, "wall_seconds", res->wall_seconds);
    j_u64(j, "failures", (uint64_t)res->failures);

    const struct machine_info *m = &res->machine;
    j_open(j, "machine", '{');
    j_str(j, "cpu_model", m->cpu_model);
    j_str(j, "cpu_vendor", m->cpu_vendor);
    j_num(j, "cpu_family", m->cpu_family >= 0 ? m->cpu_family : NAN);
    j_num(j, "cpu_model_id", m->cpu_model_id >= 0 ? m->cpu_model_id : NAN);
    j_num(j, "cpu_stepping", m->cpu_stepping >= 0 ? m->cpu_stepping : NAN);
    j_u64(j, "cores_online", m->cores_online);
    j_u64(j, "cores_allowed", m->cores_allowed);
    j_str(j, "kernel", m->kernel);
    j_str(j, "hostname", m->hostname);
    j_str(j, "date", m->date);
    j_str(j, "compiler", m->compiler);
    j_num(j, "loadavg_start", m->loadavg_start);
    j_num(j, "loadavg_end", m->loadavg_end);
    j_close(j, '}');

    j_open(j, "config", '{');
    j_u64(j, "events", cfg->events);
    j_u64(j, "live", cfg->live);
    j_u64(j, "devices", cfg->devices);
    j_u64(j, "reps", cfg->reps);
    j_u64(j, "warmup_events", cfg->warmup_events);
    j_u64(j, "batch", cfg->batch);
    j_open(j, "threads", '[');
    for (unsigned i = 0; i < cfg->nthreads; i++)
        j_u64(j, NULL, cfg->threads[i]);
    j_close(j, ']');
    j_u64(j, "scaling_events", cfg->scaling_events);
    j_u64(j, "scaling_reps", cfg->scaling_reps);
    j_u64(j, "readers", cfg->readers);
    j_num(j, "reader_seconds", cfg->reader_seconds);
    j_u64(j, "reader_reps", cfg->reader_reps);
    j_open(j, "snapshot_sizes", '[');
    for (unsigned i = 0; i < cfg->nsnapshot; i++)
        j_u64(j, NULL, cfg->snapshot_sizes[i]);
    j_close(j, ']');
    j_u64(j, "snapshot_reps", cfg->snapshot_reps);
    j_u64(j, "lookups", cfg->lookups);
    j_u64(j, "growth_from", cfg->growth_from);
    j_u64(j, "growth_to", cfg->growth_to);
    j_u64(j, "growth_reps", cfg->growth_reps);
    j_u64(j, "seed", cfg->seed);
    j_u64(j, "reuse_pct", cfg->reuse_pct);
    j_bool(j, "pinned", cfg->pin);
    j_bool(j, "full", cfg->full);
    j_close(j, '}');

    j_open(j, "clock", '{');
    j_str(j, "throughput", "CLOCK_MONOTONIC per batch");
    j_str(j, "per_op", res->tsc.source ? res->tsc.source : "");
    j_num(j, "tsc_ghz", res->tsc.ghz);
    j_num(j, "timer_overhead_ns", res->tsc.overhead_ns);
    j_close(j, '}');

    j_open(j, "designs", '[');
    for (unsigned i = 0; i < res->ndesigns; i++) {
        const struct design_result *r = &res->designs[i];
        j_open(j, NULL, '{');
        j_str(j, "name", r->name);
        j_str(j, "model", r->model);
        j_u64(j, "reuse_pct", r->reuse_pct);
        j_bool(j, "ran", r->ran);
        if (!r->ran)
            j_str(j, "error", r->error);
        j_u64(j, "reps", r->reps);
        j_u64(j, "warmup_passes", r->warmup_passes);
        j_u64(j, "events_per_rep", r->events_per_rep);
        if (r->ran) {
            j_summary(j, "ns_per_event", &r->ns_event);
            j_num(j, "ns_per_pair_median", 2 * r->ns_event.median);
            j_summary(j, "batch_ns_per_event", &r->batch_ns);
            j_summary(j, "process_cpu_ns_per_event", &r->cpu_ns_event);
            j_num(j, "ratio_to_ttshm", r->ratio_to_ttshm);
            j_num(j, "ratio_to_floor", r->ratio_to_floor);
            j_num(j, "cpu_ratio_to_floor", r->cpu_ratio_to_floor);
            if (r->has_tables) {
                double timed = (double)r->reps * (double)r->events_per_rep;
                j_open(j, "tables_created", '{');
                j_u64(j, "timed", r->tables_timed);
                j_u64(j, "timed_bytes", r->table_bytes_timed);
                j_num(j, "timed_per_million_events", 1e6 * (double)r->tables_timed / timed);
                j_num(j, "timed_bytes_per_million_events",
                      1e6 * (double)r->table_bytes_timed / timed);
                j_open(j, "timed_per_rep", '[');
                for (unsigned k = 0; k < r->reps; k++)
                    j_u64(j, NULL, r->rep_tables[k]);
                j_close(j, ']');
                j_u64(j, "whole_run", r->tables_total);
                j_u64(j, "whole_run_bytes", r->table_bytes_total);
                j_u64(j, "whole_run_events", r->events_total);
                j_close(j, '}');
            } else if (strcmp(r->name, "ttshm") == 0) {
                j_str(j, "tables_created", "unavailable: the reader library does not count them");
            }
            if (r->helpers_on_timed_cpu >= 0) {
                j_u64(j, "design_threads", (uint64_t)r->helper_threads);
                j_u64(j, "design_threads_on_timed_cpu", (uint64_t)r->helpers_on_timed_cpu);
            }
            if (r->has_e2e)
                j_summary(j, "end_to_end_ns_per_event", &r->e2e_ns_event);
        }
        j_bool(j, "check_ok", r->check_ok);
        j_check(j, "expected_steady", &r->expect_steady);
        j_check(j, "seen_steady", &r->seen_steady);
        j_check(j, "expected_empty", &r->expect_empty);
        j_check(j, "seen_empty", &r->seen_empty);
        j_close(j, '}');
    }
    j_close(j, ']');

    if (res->scaling_ran) {
        j_open(j, "scaling", '[');
        for (unsigned i = 0; i < res->nscaling; i++) {
            const struct scaling_point *p = &res->scaling[i];
            j_open(j, NULL, '{');
            j_u64(j, "threads", p->threads);
            j_str(j, "devices", p->one_device ? "one" : "distinct");
            j_u64(j, "events_per_rep", p->events_total);
            j_num(j, "mevents_per_s", p->mev_s);
            j_num(j, "ns_per_event_per_thread", p->ns_event);
            j_num(j, "cpu_ns_per_event", p->cpu_ns_event);
            j_num(j, "process_cpu_ns_per_event", p->proc_cpu_ns_event);
            j_num(j, "speedup", p->speedup);
            j_open(j, "mevents_per_s_reps", '[');
            for (unsigned k = 0; k < p->reps; k++)
                j_num(j, NULL, p->mev_s_reps[k]);
            j_close(j, ']');
            j_u64(j, "not_recorded", p->non_recorded);
            j_close(j, '}');
        }
        j_close(j, ']');
    }

    if (res->interference_ran) {
        j_open(j, "readers", '[');
        for (int k = 0; k < 2; k++) {
            const struct interference_point *p = &res->interference[k];
            j_open(j, NULL, '{');
            j_u64(j, "readers", p->readers);
            j_num(j, "mevents_per_s_wall", p->mev_s_wall);
            j_num(j, "mevents_per_cpu_s", p->mev_s_cpu);
            j_num(j, "ratio_wall", p->ratio_wall);
            j_num(j, "ratio_cpu", p->ratio_cpu);
            j_u64(j, "writer_events", p->events);
            j_u64(j, "reader_scans", p->reader_scans);
            j_u64(j, "reader_entries", p->reader_entries);
            j_u64(j, "reader_busy", p->reader_busy);
            j_u64(j, "reader_errors", p->reader_errors);
            j_u64(j, "reps", p->reps);
            j_close(j, '}');
        }
        j_close(j, ']');
    }

    if (res->memory_ran) {
        j_open(j, "empty_segment", '{');
        j_u64(j, "shm_bytes", res->memory.empty_shm_bytes);
        j_u64(j, "resident_bytes", res->memory.empty_resident_bytes);
        j_u64(j, "apparent_bytes", res->memory.empty_apparent_bytes);
        j_u64(j, "objects", res->memory.empty_objects);
        j_u64(j, "table_slots", res->memory.empty_table_slots);
        j_close(j, '}');
    }

    if (res->snapshot_ran) {
        j_open(j, "reader", '[');
        for (unsigned i = 0; i < res->nsnapshot; i++) {
            const struct snapshot_point *p = &res->snapshot[i];
            j_open(j, NULL, '{');
            j_u64(j, "live", p->live);
            j_u64(j, "snapshot_entries", p->seen);
            j_summary(j, "snapshot_ms", &p->snapshot_ms);
            j_summary(j, "snapshot_into_ms", &p->snapshot_into_ms);
            j_summary(j, "foreach_ms", &p->foreach_ms);
            j_num(j, "lookup_hit_ns", p->lookup_hit_ns);
            j_num(j, "lookup_miss_ns", p->lookup_miss_ns);
            j_u64(j, "lookup_errors", p->lookup_errors);
            j_u64(j, "table_slots", p->table_slots);
            j_u64(j, "shm_bytes", p->shm_bytes);
            j_num(j, "shm_bytes_per_entry", p->bytes_per_entry);
            j_u64(j, "resident_bytes", p->resident_bytes);
            j_num(j, "resident_bytes_per_entry", p->resident_per_entry);
            j_num(j, "fill_ns_per_alloc", p->fill_ns_event);
            j_close(j, '}');
        }
        j_close(j, ']');
    }

    if (res->stat.ran || res->stat.error[0]) {
        const struct stat_result *st = &res->stat;
        j_open(j, "tt_shm_stat", '{');
        j_bool(j, "ran", st->ran);
        if (st->error[0])
            j_str(j, "error", st->error);
        j_u64(j, "live", st->live);
        j_num(j, "buffers_seconds", st->seconds[0]);
        j_num(j, "buffers_max_rss_mb", st->max_rss_mb[0]);
        j_num(j, "json_buffers_seconds", st->seconds[1]);
        j_num(j, "json_buffers_max_rss_mb", st->max_rss_mb[1]);
        j_num(j, "forking_process_anon_mb", st->spawner_anon_mb);
        j_close(j, '}');
    }

    if (res->growth_ran) {
        const struct growth_result *g = &res->growth;
        j_open(j, "growth", '{');
        j_u64(j, "from", g->from);
        j_u64(j, "to", g->to);
        j_u64(j, "reps", g->reps);
        j_str(j, "clock", g->clock);
        j_num(j, "timer_overhead_ns", g->timer_overhead_ns);
        j_summary(j, "op_ns", &g->op_ns);
        j_num(j, "worst_ns", g->worst_max_ns);
        j_num(j, "worst_median_ns", g->worst_median_ns);
        j_open(j, "worst_ns_reps", '[');
        for (unsigned k = 0; k < g->reps; k++)
            j_num(j, NULL, g->worst_ns[k]);
        j_close(j, ']');
        j_open(j, "worst_at_live_reps", '[');
        for (unsigned k = 0; k < g->reps; k++)
            j_u64(j, NULL, g->worst_at_live[k]);
        j_close(j, ']');
        j_u64(j, "final_table_slots", g->final_table_slots);
        j_num(j, "worst_unpreempted_ns", g->worst_unpreempted_ns);
        j_u64(j, "worst_unpreempted_at_live", g->worst_unpreempted_at);
        j_u64(j, "preempted_bins", g->preempted_bins);
        j_u64(j, "bins_total", (uint64_t)g->bins * g->reps);
        j_u64(j, "not_recorded", g->non_recorded);
        j_open(j, "bins", '[');
        for (unsigned b = 0; b < g->bins; b++) {
            j_open(j, NULL, '[');
            j_u64(j, NULL, g->bin_live[b]);
            j_num(j, NULL, g->bin_max_ns[b]);
            j_num(j, NULL, g->bin_p50_ns[b]);
            j_u64(j, NULL, g->bin_table_slots[b]);
            j_close(j, ']');
        }
        j_close(j, ']');
        j_str(j, "bins_columns", "live, max_ns (all reps), median_ns (last rep), table_slots");
        j_close(j, '}');
    }

    struct target t[BENCH_MAX_TARGETS];
    unsigned nt = bench_targets(cfg, res, t);
    j_open(j, "targets", '{');
    for (unsigned i = 0; i < nt; i++) {
        j_open(j, t[i].key, '{');
        j_str(j, "what", t[i].what);
        j_str(j, "status", target_status(&t[i]));
        j_bool(j, "measured", t[i].measured);
        j_bool(j, "met", t[i].met);
        if (isfinite(t[i].value))
            j_num(j, "value", t[i].value);
        j_str(j, "unit", t[i].unit);
        j_str(j, "rule", t[i].higher_better ? ">=" : "<=");
        j_num(j, "limit", t[i].limit);
        if (t[i].reason[0])
            j_str(j, "reason", t[i].reason);
        j_close(j, '}');
    }
    j_close(j, '}');
    j_close(j, '}');
    fputc('\n', f);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        fprintf(stderr, "tt-shm-bench: writing %s failed\n", path);
        return -1;
    }
    return 0;
}
