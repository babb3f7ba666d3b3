/* SPDX-License-Identifier: Apache-2.0 */
/*
 * --textfile: node_exporter's textfile collector may read the file at any
 * moment, so it must never see a half-written one. The data goes to a hidden
 * temporary file in the same directory (rename is atomic only within one
 * file system; the leading '.' and the random suffix keep the collector, which
 * reads only *.prom, away from it), then replaces the target by rename().
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stat.h"

int stat_write_atomic(const char *path, const char *data, size_t len)
{
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
    const char *base = slash ? slash + 1 : path;
    if (*base == '\0') {
        fprintf(stderr, "tt-shm-stat: --textfile %s: not a file name\n", path);
        return -1;
    }
    size_t n = dirlen + strlen(base) + 16;
    char *tmp = malloc(n);
    if (tmp == NULL) {
        fputs("tt-shm-stat: out of memory\n", stderr);
        return -1;
    }
    snprintf(tmp, n, "%.*s.%s.XXXXXX", (int)dirlen, path, base);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        fprintf(stderr, "tt-shm-stat: --textfile %s: cannot create a temporary file: %s\n", path,
                strerror(errno));
        free(tmp);
        return -1;
    }
    const char *what = NULL;
    int err = 0;
    for (size_t done = 0; done < len && what == NULL;) {
        ssize_t w = write(fd, data + done, len - done);
        if (w < 0 && errno != EINTR) {
            what = "write";
            err = errno;
        } else if (w > 0) {
            done += (size_t)w;
        }
    }
    /* mkstemp makes the file 0600; exporters usually run as another user. */
    if (what == NULL && fchmod(fd, 0644) != 0) {
        what = "chmod";
        err = errno;
    }
    /* The data must be on disk before the name points to it. */
    if (what == NULL && fsync(fd) != 0) {
        what = "fsync";
        err = errno;
    }
    if (close(fd) != 0 && what == NULL) {
        what = "close";
        err = errno;
    }
    if (what == NULL && rename(tmp, path) != 0) {
        what = "rename";
        err = errno;
    }
    if (what != NULL) {
        fprintf(stderr, "tt-shm-stat: --textfile %s: %s failed: %s\n", path, what, strerror(err));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}
