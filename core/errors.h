/* SPDX-License-Identifier: Apache-2.0 */
/* The writer's errors: system errors as -TTSHM_E_* codes, and the one
 * stderr report a writer makes. */
#ifndef TTSHM_ERRORS_H
#define TTSHM_ERRORS_H

struct ttshm_writer;

/* errno value e as -TTSHM_E_*. */
int ttshm_errno_code(int e);
/* One line on stderr, the first time only, if the writer reports errors. */
void ttshm_report(struct ttshm_writer *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
