/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RCU for the writer's own threads, from liburcu's urcu-bp flavour: it
 * registers a thread on its first read-side section, so the runtime's threads
 * need no registration. With _LGPL_SOURCE (allowed: Apache-2.0 code may link
 * LGPL-2.1 liburcu) the read-side lock and unlock are inlined, ~2 ns.
 *
 * ThreadSanitizer cannot see liburcu's grace periods, so TSan builds call the
 * library functions (uninstrumented, so invisible to it) and state the
 * happens-before edge the grace period provides: every read-side section ends
 * before a call_rcu callback runs.
 */
#ifndef TTSHM_RCU_H
#define TTSHM_RCU_H

#include <urcu-bp.h>

#ifdef TTSHM_TSAN
#include <sanitizer/tsan_interface.h>
extern char ttshm_rcu_tsan_sync;
static inline void ttshm_rcu_read_lock(void)
{
    urcu_bp_read_lock();
}
static inline void ttshm_rcu_read_unlock(void)
{
    __tsan_release(&ttshm_rcu_tsan_sync);
    urcu_bp_read_unlock();
}
/* First thing in a call_rcu callback. */
static inline void ttshm_rcu_after_grace_period(void)
{
    __tsan_acquire(&ttshm_rcu_tsan_sync);
}
#else
static inline void ttshm_rcu_read_lock(void)
{
    urcu_bp_read_lock();
}
static inline void ttshm_rcu_read_unlock(void)
{
    urcu_bp_read_unlock();
}
static inline void ttshm_rcu_after_grace_period(void) {}
#endif

/* Runs fn after a grace period, in liburcu's call_rcu worker thread, so no
 * recording thread ever waits for one. */
static inline void ttshm_call_rcu(struct rcu_head *head, void (*fn)(struct rcu_head *))
{
    urcu_bp_call_rcu(head, fn);
}

/* Around fork() without exec: liburcu's registry and call_rcu worker must be
 * quiesced in the parent and reset in the child. */
static inline void ttshm_rcu_before_fork(void)
{
    urcu_bp_call_rcu_before_fork();
    urcu_bp_before_fork();
}
static inline void ttshm_rcu_after_fork_parent(void)
{
    urcu_bp_after_fork_parent();
    urcu_bp_call_rcu_after_fork_parent();
}
static inline void ttshm_rcu_after_fork_child(void)
{
    urcu_bp_after_fork_child();
    urcu_bp_call_rcu_after_fork_child();
}

#endif
