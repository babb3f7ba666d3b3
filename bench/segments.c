/* SPDX-License-Identifier: Apache-2.0 */
#include "segments.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ttshm/types.h"

#define MAX_REMEMBERED 64

static char g_prefixes[MAX_REMEMBERED][96];
static unsigned g_nprefixes;
static pid_t g_owner; /* only the process that created them cleans up, not forked children */

static void remember(const char *prefix)
{
    for (unsigned i = 0; i < g_nprefixes; i++)
        if (strcmp(g_prefixes[i], prefix) == 0)
            return;
    if (g_nprefixes < MAX_REMEMBERED)
        snprintf(g_prefixes[g_nprefixes++], sizeof g_prefixes[0], "%s", prefix);
}

const char *bench_registry(char *buf, size_t len, const char *base, const char *tag)
{
    snprintf(buf, len < TTSHM_NAME_MAX + 1 ? len : TTSHM_NAME_MAX + 1, "%s_%s", base, tag);
    char prefix[96];
    snprintf(prefix, sizeof prefix, "ttshm.%s.", buf);
    remember(prefix);
    return buf;
}

void bench_remember_object(const char *shm_name)
{
    remember(shm_name[0] == '/' ? shm_name + 1 : shm_name);
}

void bench_unlink_prefix(const char *prefix)
{
    DIR *d = opendir("/dev/shm");
    if (d == NULL)
        return;
    size_t plen = strlen(prefix);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, plen) != 0)
            continue;
        char name[300];
        snprintf(name, sizeof name, "/%s", e->d_name);
        shm_unlink(name);
    }
    closedir(d);
}

void bench_unlink_registry(const char *registry)
{
    char prefix[96];
    snprintf(prefix, sizeof prefix, "ttshm.%s.", registry);
    bench_unlink_prefix(prefix);
}

uint64_t bench_resident_prefix(const char *prefix, unsigned *objects, uint64_t *apparent)
{
    uint64_t bytes = 0, size = 0;
    unsigned n = 0;
    DIR *d = opendir("/dev/shm");
    if (d != NULL) {
        size_t plen = strlen(prefix);
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strncmp(e->d_name, prefix, plen) != 0)
                continue;
            char path[300];
            struct stat st;
            snprintf(path, sizeof path, "/dev/shm/%s", e->d_name);
            if (stat(path, &st) == 0) {
                /* st_blocks: pages tmpfs really allocated, not the file size. */
                bytes += (uint64_t)st.st_blocks * 512u;
                size += (uint64_t)st.st_size;
                n++;
            }
        }
        closedir(d);
    }
    if (objects)
        *objects = n;
    if (apparent)
        *apparent = size;
    return bytes;
}

void bench_cleanup_all(void)
{
    if (getpid() != g_owner)
        return;
    for (unsigned i = 0; i < g_nprefixes; i++)
        bench_unlink_prefix(g_prefixes[i]);
}

static void on_signal(int sig)
{
    /* Not async-signal-safe (opendir), but the process is about to die
     * anyway and leaving segments in /dev/shm is the worse outcome. */
    bench_cleanup_all();
    signal(sig, SIG_DFL);
    raise(sig);
}

void bench_cleanup_install(void)
{
    g_owner = getpid();
    atexit(bench_cleanup_all);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
}
