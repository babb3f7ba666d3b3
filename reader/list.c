/* SPDX-License-Identifier: Apache-2.0 */
/* Enumerates the ttshm segments in /dev/shm that this user can read. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layout.h"
#include "ttshm/reader.h"

static int by_registry_then_slot(const void *a, const void *b)
{
    const struct ttshm_segment_info *x = a, *y = b;
    int c = strcmp(x->registry, y->registry);
    if (c)
        return c;
    return (x->slot > y->slot) - (x->slot < y->slot);
}

int ttshm_list(const char *registry, struct ttshm_segment_info *out, size_t max, size_t *found)
{
    if (found == NULL || (out == NULL && max > 0))
        return -TTSHM_E_INVAL;
    *found = 0;
    DIR *d = opendir("/dev/shm");
    if (d == NULL)
        return -TTSHM_E_NOENT;
    size_t n = 0, cap = 0;
    struct ttshm_segment_info *all = NULL;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        struct ttshm_segment_info info = {.struct_size = sizeof info};
        if (ttshm_parse_header_object_name(e->d_name, info.registry, sizeof info.registry,
                                           &info.slot) != 0)
            continue;
        if (registry != NULL && strcmp(registry, info.registry) != 0)
            continue;
        char path[320];
        snprintf(path, sizeof path, "/dev/shm/%s", e->d_name);
        if (access(path, R_OK) != 0)
            continue;
        size_t len = strlen(e->d_name); /* short: the name parsed as a segment's */
        if (len >= sizeof info.segment)
            continue;
        memcpy(info.segment, e->d_name, len + 1);
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            struct ttshm_segment_info *na = realloc(all, cap * sizeof *na);
            if (na == NULL) {
                rc = -TTSHM_E_NOMEM;
                break;
            }
            all = na;
        }
        all[n++] = info;
    }
    closedir(d);
    if (rc == 0) {
        if (n > 1)
            qsort(all, n, sizeof *all, by_registry_then_slot);
        for (size_t i = 0; i < n && i < max; i++)
            out[i] = all[i];
        *found = n;
    }
    free(all);
    return rc;
}
