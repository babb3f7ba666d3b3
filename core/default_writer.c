/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The process-wide writer. Whether tracking is on is decided at its first use,
 * not at library load, so a runtime that sets TT_SHM_TRACKING or TT_SHM_NAME
 * before its first allocation gets what it asked for.
 *
 * At exit the segment is marked "exited" but stays mapped: other threads may
 * still be recording. It is marked as late as the process allows, so that
 * the frees of the host's own teardown are recorded and what it reports as
 * leaks is what that teardown left live: in the library's destructor, which
 * runs after every atexit handler registered once the process started (the
 * dynamic linker's own handler, registered before any of them, runs the
 * destructors) and after the destructors of every library that uses this
 * one. An atexit handler registered at first use would run before the
 * host's handlers registered earlier (they run in reverse order).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "nocancel.h"
#include "session.h"

static pthread_mutex_t default_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(ttshm_writer *) default_writer;
static _Atomic int default_decided; /* 1 once the first use decided on or off */
static bool fork_hook_registered;

__attribute__((destructor)) static void mark_default_exited(void)
{
    ttshm_writer *w = atomic_load(&default_writer);
    if (w != NULL)
        ttshm_mark_exited(w);
}

/* A forked child starts undecided: its first use opens its own segment. */
static void reset_in_child(void)
{
    atomic_store(&default_writer, NULL);
    atomic_store(&default_decided, 0);
    pthread_mutex_init(&default_lock, NULL);
}

static bool tracking_enabled(void)
{
    const char *v = getenv("TT_SHM_TRACKING");
    return v == NULL || (strcmp(v, "0") != 0 && strcmp(v, "off") != 0 && strcmp(v, "false") != 0);
}

ttshm_writer *ttshm_default_writer(void)
{
    if (__builtin_expect(atomic_load_explicit(&default_decided, memory_order_acquire), 1))
        return atomic_load_explicit(&default_writer, memory_order_relaxed);
    int cancel = ttshm_nocancel_begin(); /* the lock must not stay held */
    pthread_mutex_lock(&default_lock);
    if (!atomic_load_explicit(&default_decided, memory_order_relaxed)) {
        ttshm_writer *w = NULL;
        if (tracking_enabled()) {
            struct ttshm_writer_config cfg = {.struct_size = sizeof cfg, .report_errors = 1};
            if (ttshm_writer_open(&cfg, &w) != 0)
                w = NULL; /* reported on stderr; the runtime goes on untracked */
        }
        if (!fork_hook_registered) {
            pthread_atfork(NULL, NULL, reset_in_child);
            fork_hook_registered = true;
        }
        atomic_store_explicit(&default_writer, w, memory_order_relaxed);
        atomic_store_explicit(&default_decided, 1, memory_order_release);
    }
    pthread_mutex_unlock(&default_lock);
    ttshm_nocancel_end(cancel);
    return atomic_load_explicit(&default_writer, memory_order_relaxed);
}
