/* SPDX-License-Identifier: Apache-2.0 */
/* A writer's session in its segment (the public part is ttshm/writer.h). */
#ifndef TTSHM_SESSION_H
#define TTSHM_SESSION_H

#include "writer_internal.h"

/* Marks the segment "exited" and stops recording into it. */
void ttshm_mark_exited(struct ttshm_writer *w);

#endif
