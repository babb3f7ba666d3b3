/* SPDX-License-Identifier: Apache-2.0 */
/* Table objects in /dev/shm: created, mapped, unmapped, unlinked. */
#ifndef TTSHM_TABLE_OBJECT_H
#define TTSHM_TABLE_OBJECT_H

#include <stdint.h>

#include "writer_internal.h"

/* Sizes an object of ours and reserves its pages (checked against the
 * host's limits first). 0 or -TTSHM_E_*. */
int ttshm_object_reserve(int fd, uint64_t bytes);
/* Creates, maps and faults in a new table of nslots under the writer's next
 * epoch. 0 or -TTSHM_E_*. */
int ttshm_table_create(struct ttshm_writer *w, uint64_t nslots, struct ttshm_table **out);
/* Unmaps a table and frees its handle (NULL: nothing). */
void ttshm_table_destroy(struct ttshm_table *t);
/* Removes the table object of `epoch` of this session from /dev/shm. */
void ttshm_table_unlink(struct ttshm_writer *w, uint64_t epoch);
/* Removes every table object of the writer's slot (any session's). */
void ttshm_unlink_slot_tables(struct ttshm_writer *w);

#endif
