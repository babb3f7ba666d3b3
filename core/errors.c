/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "errors.h"
#include "writer_internal.h"

void ttshm_report(struct ttshm_writer *w, const char *fmt, ...)
{
    if (!w->report_errors || atomic_exchange(&w->reported, 1))
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "ttshm: %s: %s (tracking continues with what fits)\n", w->segment, msg);
}

int ttshm_errno_code(int e)
{
    switch (e) {
    case ENOSPC:
    case EFBIG:
        return -TTSHM_E_NOSPC;
    case ENOMEM:
        return -TTSHM_E_NOMEM;
    case EACCES:
    case EPERM:
        return -TTSHM_E_ACCESS;
    case ENOENT:
        return -TTSHM_E_NOENT;
    default:
        return -TTSHM_E_IO;
    }
}
