/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SIGBUS guard (fault_guard.h). Why a handler and not pread(): the seqlocks
 * need ordered, 8-byte-atomic loads, which a kernel copy does not promise
 * (rep movsb may tear a counter or reorder a slot's words), and a lookup
 * would pay a system call per probe. A handler costs nothing until a fault;
 * arming a guard costs one sigsetjmp (without the signal mask: no system
 * call) per library call, not per load.
 *
 * The handler is process-wide, so it must not change what happens to any
 * SIGBUS that is not ours: it is installed with SA_NODEFER (the mask stays as
 * it was, so sigsetjmp need not save it) and SA_ONSTACK, and hands every
 * other SIGBUS to the previous disposition: the previous handler is called
 * with the same arguments; SIG_DFL (or SIG_IGN, which the kernel does not
 * honour for a fault) is restored and the signal taken again, so the process
 * dies with the same signal, address and core dump as without us.
 */
#include "fault_guard.h"

#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#include "ttshm/types.h"

struct guard {
    sigjmp_buf env;
    fault_owns_fn owns;
    const void *owner;
    struct guard *prev;
};

/* initial-exec: the handler must not allocate a TLS block (a dlopen'ed
 * library's global-dynamic TLS is allocated lazily). */
static _Thread_local struct guard *current __attribute__((tls_model("initial-exec")));

static struct sigaction previous;
static atomic_int installed; /* 0 no, 1 in progress, 2 yes */

static void chain(int sig, siginfo_t *si, void *uc)
{
    if (previous.sa_flags & SA_SIGINFO) {
        previous.sa_sigaction(sig, si, uc);
        return;
    }
    if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
        previous.sa_handler(sig);
        return;
    }
    if (previous.sa_handler == SIG_IGN && si->si_code <= 0)
        return; /* sent by a process, and ignored before us */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(sig, &dfl, NULL);
    if (si->si_code <= 0)
        raise(sig); /* sent by a process: deliver it again, now to the default */
    /* A fault: returning re-runs the load, which faults into the default. */
}

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    struct guard *g = current;
    /* si_code > 0: raised by the kernel for a load of this thread (not sent
     * with kill or sigqueue, which could not carry a meaningful address). */
    if (g != NULL && g->owns != NULL && si->si_code > 0 && g->owns(g->owner, si->si_addr)) {
        current = g->prev;
        siglongjmp(g->env, 1);
    }
    chain(sig, si, uc);
}

int fault_guard_install(void)
{
    int expect = 0;
    if (atomic_load_explicit(&installed, memory_order_acquire) == 2)
        return 0;
    if (!atomic_compare_exchange_strong(&installed, &expect, 1)) {
        while (atomic_load_explicit(&installed, memory_order_acquire) == 1)
            ; /* another thread is installing it: a few system calls */
        return atomic_load_explicit(&installed, memory_order_acquire) == 2 ? 0 : -TTSHM_E_IO;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, &previous) != 0) {
        atomic_store_explicit(&installed, 0, memory_order_release);
        return -TTSHM_E_IO;
    }
    atomic_store_explicit(&installed, 2, memory_order_release);
    return 0;
}

bool fault_guard_run(int (*fn)(void *arg), void *arg, fault_owns_fn owns, const void *owner,
                     int *rc)
{
    /* Not an initialiser: zeroing the 200-byte jump buffer that sigsetjmp
     * fills anyway cost a fifth of a lookup. */
    struct guard g;
    g.owns = owns;
    g.owner = owner;
    g.prev = current;
    if (sigsetjmp(g.env, 0) != 0)
        return false; /* the handler restored `current` */
    current = &g;
    *rc = fn(arg);
    current = g.prev;
    return true;
}

void *fault_guard_pause(void)
{
    struct guard *g = current;
    current = NULL;
    return g;
}

void fault_guard_resume(void *token)
{
    current = token;
}
