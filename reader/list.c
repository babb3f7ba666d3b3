/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Enumerates the ttshm segments in /dev/shm. Whose: a name proves nothing
 * (any user may create "ttshm.u1000.0" in the sticky /dev/shm), so the
 * owner of each object decides. A user lists their own objects (root
 * everyone's); TTSHM_LIST_ALL_USERS lists everyone's, with their owner, and
 * flags those this user may not open.
 */
#include <dirent.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
    return ttshm_list_flags(registry, 0, out, max, found);
}

int ttshm_list_flags(const char *registry, unsigned flags, struct ttshm_segment_info *out,
                     size_t max, size_t *found)
{
    if (found == NULL || (out == NULL && max > 0) || (flags & ~TTSHM_LIST_ALL_USERS) != 0)
        return -TTSHM_E_INVAL;
    *found = 0;
    uid_t me = geteuid();
    bool everyone = me == 0 || (flags & TTSHM_LIST_ALL_USERS);
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
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (!everyone && st.st_uid != me)
            continue;
        info.owner_uid = (uint32_t)st.st_uid;
        if (faccessat(dirfd(d), e->d_name, R_OK, AT_EACCESS) != 0)
            info.flags |= TTSHM_SEGMENT_UNREADABLE;
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
