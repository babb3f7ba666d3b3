/* SPDX-License-Identifier: Apache-2.0 */
/* Cancellation off across the writer's slow paths (docs/design.md, "The
 * host"): a thread the host cancels at a cancellation point inside one
 * (an open, a write, a condition wait) would leave the growth lock or the
 * preparer's lock held, or an RCU read-side section open, for good, and
 * hang every other thread. The fast path holds no lock and reaches no
 * cancellation point, so it pays nothing. */
#ifndef TTSHM_NOCANCEL_H
#define TTSHM_NOCANCEL_H

#include <pthread.h>

/* Returns the state to give back to ttshm_nocancel_end. */
static inline int ttshm_nocancel_begin(void)
{
    int old = PTHREAD_CANCEL_ENABLE;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    return old;
}

static inline void ttshm_nocancel_end(int old)
{
    pthread_setcancelstate(old, NULL);
}

#endif
