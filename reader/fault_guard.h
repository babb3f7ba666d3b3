/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fault-safe reads of mappings another process may shrink (docs/design.md,
 * "Read protocol"). A truncated shm object makes the next load past its new
 * end raise SIGBUS; no size check can close that race. A call that touches
 * such mappings runs under a guard: a SIGBUS on an address the guard's owner
 * claims, in the thread that armed it, jumps back to the guard and the call
 * fails instead of killing the host. Every other SIGBUS goes to the handler
 * installed before ours (or takes the default action).
 */
#ifndef TTSHM_READER_FAULT_GUARD_H
#define TTSHM_READER_FAULT_GUARD_H

#include <setjmp.h>
#include <stdbool.h>

/* Whether addr lies in a mapping the guarded call reads. Called from the
 * signal handler: it must only read memory. */
typedef bool (*fault_owns_fn)(const void *owner, const void *addr);

/* Installs the SIGBUS handler once per process (chaining to the one it
 * replaces). 0, or -TTSHM_E_IO when sigaction fails. */
int fault_guard_install(void);

/* Runs fn(arg) with a guard armed for owner's mappings. Returns true and
 * stores fn's result in *rc, or false when a load faulted (fn did not
 * finish: whatever it left half done must be owned by `owner`). Guards
 * nest; fault_guard_pause/resume disarm the innermost around user code. */
bool fault_guard_run(int (*fn)(void *arg), void *arg, fault_owns_fn owns, const void *owner,
                     int *rc);

/* Disarms this thread's guards while user code (a foreach callback) runs. */
void *fault_guard_pause(void);
void fault_guard_resume(void *token);

#endif
