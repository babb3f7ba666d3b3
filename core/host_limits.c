/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The writer must never get the host killed for an object it sizes: a file
 * size past RLIMIT_FSIZE raises SIGXFSZ (which kills by default), and the
 * pages of a shared-memory object are charged to the memory cgroup of the
 * process that touches them, whose OOM killer kills the host rather than
 * failing posix_fallocate. So every object is checked against the limits
 * first, and a growth that would come near one fails like one that found
 * /dev/shm full: its records are counted as dropped.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "host_limits.h"
#include "layout.h"

/* A memory cgroup keeps this fraction of its limit free of our objects: the
 * host's own allocations need room too, and the kernel reclaims to the
 * limit before it fails, not after. */
#define CGROUP_HEADROOM_DIV 8

static bool read_u64_file(const char *path, uint64_t *v)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return false;
    char buf[64];
    bool ok = fgets(buf, sizeof buf, f) != NULL;
    fclose(f);
    if (!ok)
        return false;
    if (strncmp(buf, "max", 3) == 0) { /* cgroup v2: no limit */
        *v = UINT64_MAX;
        return true;
    }
    unsigned long long x;
    if (sscanf(buf, "%llu", &x) != 1)
        return false;
    *v = x;
    return true;
}

/* False when `bytes` more would leave the cgroup at dir (and each of its
 * ancestors, whose limits bind too) with less than its headroom. */
static bool cgroup_allows(const char *root, const char *path, const char *limit_file,
                          const char *usage_file, uint64_t bytes)
{
    char dir[512];
    int n = snprintf(dir, sizeof dir, "%s%s", root, path);
    if (n < 0 || (size_t)n >= sizeof dir)
        return true;
    size_t root_len = strlen(root);
    for (;;) {
        char file[600];
        uint64_t limit, usage;
        snprintf(file, sizeof file, "%s/%s", dir, limit_file);
        bool have_limit = read_u64_file(file, &limit);
        snprintf(file, sizeof file, "%s/%s", dir, usage_file);
        if (have_limit && read_u64_file(file, &usage) && limit < (UINT64_MAX >> 1)) {
            uint64_t room = limit - limit / CGROUP_HEADROOM_DIV;
            if (usage > room || bytes > room - usage)
                return false;
        }
        char *slash = strrchr(dir + root_len, '/');
        if (slash == NULL)
            return true;
        *slash = '\0';
    }
}

/* The process's memory cgroups, v2 ("0::/path") and v1 ("N:...memory...:/path"). */
static bool memory_cgroups_allow(uint64_t bytes)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (f == NULL)
        return true;
    char line[1024];
    bool ok = true;
    while (ok && fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        char *controllers = strchr(line, ':');
        char *path = controllers ? strchr(controllers + 1, ':') : NULL;
        if (path == NULL)
            continue;
        *path++ = '\0';
        controllers++;
        if (*controllers == '\0') {
            ok = cgroup_allows("/sys/fs/cgroup", path, "memory.max", "memory.current", bytes);
        } else {
            for (char *save, *c = strtok_r(controllers, ",", &save); c;
                 c = strtok_r(NULL, ",", &save))
                if (strcmp(c, "memory") == 0)
                    ok = cgroup_allows("/sys/fs/cgroup/memory", path, "memory.limit_in_bytes",
                                       "memory.usage_in_bytes", bytes);
        }
    }
    fclose(f);
    return ok;
}

/* The process's address space in bytes (/proc/self/statm, first field). */
static uint64_t address_space_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "re");
    if (f == NULL)
        return 0;
    unsigned long long pages = 0;
    if (fscanf(f, "%llu", &pages) != 1)
        pages = 0;
    fclose(f);
    return pages * (uint64_t)sysconf(_SC_PAGESIZE);
}

int ttshm_host_limits_allow(uint64_t bytes)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && bytes > rl.rlim_cur)
        return -TTSHM_E_NOSPC;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        uint64_t used = address_space_bytes();
        if (used > rl.rlim_cur || bytes > rl.rlim_cur - used)
            return -TTSHM_E_NOMEM;
    }
    return memory_cgroups_allow(bytes) ? 0 : -TTSHM_E_NOMEM;
}
