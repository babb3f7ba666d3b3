/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RCU for the writer's own threads, from liburcu's urcu-bp flavour: it
 * registers a thread on its first read-side section, so the runtime's threads
 * need no registration. With _LGPL_SOURCE (allowed: Apache-2.0 code may link
 * LGPL-2.1 liburcu) the read-side lock and unlock are inlined, ~2 ns.
 * Grace periods are waited for only in the writer's background thread
 * (prepare.c), never in a recording call. liburcu's call_rcu is not used: its
 * worker thread would be re-created in every forked child.
 *
 * ThreadSanitizer cannot see liburcu's grace periods, so TSan builds call the
 * library functions (uninstrumented, so invisible to it) and state the
 * happens-before edge the grace period provides: every read-side section
 * that began before synchronize_rcu() ends before it returns.
 */
#ifndef TTSHM_RCU_H
#define TTSHM_RCU_H

#include <urcu-bp.h>

#ifdef TTSHM_TSAN
#include <sanitizer/tsan_interface.h>
extern char ttshm_rcu_tsan_sync;
static inline void ttshm_rcu_read_unlock(void)
{
    __tsan_release(&ttshm_rcu_tsan_sync);
    urcu_bp_read_unlock();
}
static inline void ttshm_synchronize_rcu(void)
{
    urcu_bp_synchronize_rcu();
    __tsan_acquire(&ttshm_rcu_tsan_sync);
}
#else
static inline void ttshm_rcu_read_unlock(void)
{
    urcu_bp_read_unlock();
}
static inline void ttshm_synchronize_rcu(void)
{
    urcu_bp_synchronize_rcu();
}
#endif

static inline void ttshm_rcu_read_lock(void)
{
    urcu_bp_read_lock();
}

/* Around fork() without exec: liburcu's registry of reader threads must be
 * quiesced in the parent and reset in the child. */
static inline void ttshm_rcu_before_fork(void)
{
    urcu_bp_before_fork();
}
static inline void ttshm_rcu_after_fork_parent(void)
{
    urcu_bp_after_fork_parent();
}
static inline void ttshm_rcu_after_fork_child(void)
{
    urcu_bp_after_fork_child();
}

#endif
