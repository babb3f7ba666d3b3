/* SPDX-License-Identifier: Apache-2.0 */
/*
 * BASELINE "cds_lfht": liburcu's RCU lock-free resizable hash table, in
 * process memory: the best general-purpose concurrent table to compare the
 * writer's fast path with. It cannot be a cross-process registry (absolute
 * pointers, heap nodes, RCU that sees only this process's threads), so it is
 * a bound on what an in-process structure costs, not a rival design.
 *
 * Built as well as the library allows: the default urcu flavour (urcu-memb,
 * membarrier-based, the fastest read side that needs no quiescent-state
 * calls) with _LGPL_SOURCE so rcu_read_lock/unlock are inlined; the thread is
 * registered; the table starts with 16384 buckets (ttshm's default slot
 * count) and auto-resizes. Nodes carry the same fields a ttshm record does.
 * An alloc is malloc + cds_lfht_add (the plain add, cheaper than add_unique:
 * we give the baseline the benefit of skipping duplicate detection); a free is
 * lookup + cds_lfht_del, the node going back through call_rcu.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <urcu.h>
#include <urcu/rculfhash.h>

#include "design.h"

/* ThreadSanitizer cannot see that call_rcu hands a node to liburcu's worker
 * thread only after a grace period (liburcu is not instrumented): state the
 * happens-before edge, as core/rcu.h does for the writer. */
#ifdef TTSHM_TSAN
#include <sanitizer/tsan_interface.h>
#define LF_HANDOFF(p)  __tsan_release(p)
#define LF_TAKEOVER(p) __tsan_acquire(p)
/* liburcu's own worker threads free what its callers allocated (resize and
 * call_rcu bookkeeping), synchronised by futexes TSan cannot see: not ours
 * to annotate, so allocations freed from inside liburcu are not reported. */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void)
{
    return "called_from_lib:liburcu-cds.so\n"
           "called_from_lib:liburcu.so\n";
}
#else
#define LF_HANDOFF(p)  ((void)(p))
#define LF_TAKEOVER(p) ((void)(p))
#endif

struct lf_node {
    struct cds_lfht_node node;
    uint64_t address;
    uint64_t size;
    uint64_t tag;
    uint64_t timestamp_ns;
    uint32_t device, type, tid, reserved;
    struct rcu_head rcu;
    struct lf_node *dead_next; /* only while closing */
};

struct lf_key {
    uint64_t address;
    uint32_t device, type;
};

struct lf_state {
    struct cds_lfht *ht;
    uint64_t adds, dels, unknown, nomem;
};

static int lf_match(struct cds_lfht_node *node, const void *key)
{
    const struct lf_node *n = caa_container_of(node, struct lf_node, node);
    const struct lf_key *k = key;
    return n->address == k->address && n->device == k->device && n->type == k->type;
}

static void lf_free_node(struct rcu_head *head)
{
    struct lf_node *n = caa_container_of(head, struct lf_node, rcu);
    LF_TAKEOVER(n);
    free(n);
}

/* The table (and its resize worker) and the call_rcu worker, made with the
 * main thread's CPUs so the workers are not pinned to the timed CPU: the
 * same placement ttshm's background threads get. */
static void lf_make(void *arg)
{
    struct lf_state *s = arg;
    s->ht = cds_lfht_new(16384, 1, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, NULL);
    (void)get_default_call_rcu_data();
}

static int lf_open(void **state, const struct bench_config *cfg, uint64_t max_live, char *err,
                   size_t errlen)
{
    (void)cfg;
    (void)max_live;
    struct lf_state *s = calloc(1, sizeof *s);
    if (s == NULL)
        return -1;
    rcu_register_thread();
    bench_with_main_cpus(lf_make, s);
    if (s->ht == NULL) {
        snprintf(err, errlen, "cds_lfht_new failed");
        rcu_unregister_thread();
        free(s);
        return -1;
    }
    *state = s;
    return 0;
}

static void lf_apply(void *state, const struct bench_event *ev, size_t n)
{
    struct lf_state *s = state;
    unsigned tid = bench_gettid();
    for (size_t i = 0; i < n; i++) {
        const struct bench_event *e = &ev[i];
        unsigned long hash = (unsigned long)bench_key_hash(e->device, e->type, e->address);
        if (e->op == EV_ALLOC) {
            struct lf_node *nd = malloc(sizeof *nd);
            if (nd == NULL) {
                s->nomem++;
                continue;
            }
            cds_lfht_node_init(&nd->node);
            nd->address = e->address;
            nd->size = e->size;
            nd->tag = 0;
            nd->timestamp_ns = bench_coarse_ns();
            nd->device = e->device;
            nd->type = e->type;
            nd->tid = tid;
            nd->reserved = 0;
            rcu_read_lock();
            cds_lfht_add(s->ht, hash, &nd->node);
            rcu_read_unlock();
            s->adds++;
        } else {
            struct lf_key k = {e->address, e->device, e->type};
            struct cds_lfht_iter it;
            struct lf_node *victim = NULL;
            rcu_read_lock();
            cds_lfht_lookup(s->ht, hash, lf_match, &k, &it);
            struct cds_lfht_node *node = cds_lfht_iter_get_node(&it);
            if (node != NULL && cds_lfht_del(s->ht, node) == 0)
                victim = caa_container_of(node, struct lf_node, node);
            rcu_read_unlock();
            if (victim != NULL) {
                LF_HANDOFF(victim);
                call_rcu(&victim->rcu, lf_free_node);
                s->dels++;
            } else {
                s->unknown++;
            }
        }
    }
}

static int lf_check(void *state, struct design_check *out)
{
    struct lf_state *s = state;
    memset(out, 0, sizeof *out);
    struct cds_lfht_iter it;
    struct lf_node *nd;
    long before, after;
    unsigned long count;
    rcu_read_lock();
    cds_lfht_count_nodes(s->ht, &before, &count, &after);
    cds_lfht_for_each_entry(s->ht, &it, nd, node)
    {
        out->live_count++;
        out->live_bytes += nd->size;
    }
    rcu_read_unlock();
    if (count != out->live_count)
        out->anomalies++;
    out->events = s->adds + s->dels + s->unknown;
    out->anomalies += s->unknown + s->nomem;
    return 0;
}

static void lf_close(void *state)
{
    struct lf_state *s = state;
    struct cds_lfht_iter it;
    struct lf_node *nd;
    /* Unlink every node, wait one grace period, then free them here: no
     * rcu_barrier(), whose internal allocation TSan would see freed by
     * liburcu's worker thread. Nodes queued earlier are freed by the worker. */
    struct lf_node *dead = NULL;
    rcu_read_lock();
    cds_lfht_for_each_entry(s->ht, &it, nd, node)
    {
        if (cds_lfht_del(s->ht, &nd->node) == 0) {
            nd->dead_next = dead;
            dead = nd;
        }
    }
    rcu_read_unlock();
    synchronize_rcu();
    while (dead != NULL) {
        struct lf_node *next = dead->dead_next;
        free(dead);
        dead = next;
    }
    cds_lfht_destroy(s->ht, NULL);
    rcu_unregister_thread();
    free(s);
}

const struct design_ops baseline_cds_lfht = {
    .name = "cds_lfht",
    .model = "liburcu cds_lfht in process memory (urcu-memb, inlined read side): malloc+add, "
             "lookup+del+call_rcu",
    .open = lf_open,
    .apply = lf_apply,
    .sync = NULL,
    .check = lf_check,
    .close = lf_close,
};
