/* SPDX-License-Identifier: Apache-2.0 */
/* The limits the host process runs under, checked before the writer sizes
 * a shared-memory object (docs/design.md, "Growth failure"). */
#ifndef TTSHM_HOST_LIMITS_H
#define TTSHM_HOST_LIMITS_H

#include <stdint.h>

/* Whether an object of `bytes` may be created now: 0, or -TTSHM_E_NOSPC
 * past RLIMIT_FSIZE (ftruncate would raise SIGXFSZ), -TTSHM_E_NOMEM past
 * RLIMIT_AS or when the memory cgroup would keep less than an eighth of its
 * limit free (its OOM killer would kill the host). */
int ttshm_host_limits_allow(uint64_t bytes);

#endif
