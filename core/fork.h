/* SPDX-License-Identifier: Apache-2.0 */
/* The process's writers as a fork sees them (docs/design.md, "Fork"). */
#ifndef TTSHM_FORK_H
#define TTSHM_FORK_H

#include "writer_internal.h"

/* Holds off fork() while a writer's objects are being opened or closed,
 * so that a child sees either no object of it or a whole listed writer
 * whose objects it then drops. Registers the fork handlers on first use. */
void ttshm_fork_lock(void);
void ttshm_fork_unlock(void);
/* Caller holds the fork lock. */
void ttshm_fork_list_add(struct ttshm_writer *w);
void ttshm_fork_list_remove(struct ttshm_writer *w);

#endif
