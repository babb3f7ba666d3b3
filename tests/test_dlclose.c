/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dlclose of libttshm while its background threads work (issue 11, item 3):
 * the host goes on running and exits normally. Not linked with libttshm: it
 * loads the library given as argv[1] with dlopen, grows a writer (which
 * starts the threads that make and reclaim tables), and unloads the library
 * at once, in several child processes. The library must stay resident.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "reliability/common.h"
#include "ttshm/writer.h"

typedef int (*open_fn)(const struct ttshm_writer_config *, ttshm_writer **);
typedef enum ttshm_result (*alloc_fn)(ttshm_writer *, uint32_t, enum ttshm_mem_type, uint64_t,
                                      uint64_t, uint64_t);
typedef enum ttshm_result (*free_fn)(ttshm_writer *, uint32_t, enum ttshm_mem_type, uint64_t);

static int host(const char *lib, const char *registry, int round)
{
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        fprintf(stderr, "dlclose: dlopen %s: %s\n", lib, dlerror());
        return 2;
    }
    open_fn open_writer = (open_fn)dlsym(h, "ttshm_writer_open");
    alloc_fn record_alloc = (alloc_fn)dlsym(h, "ttshm_record_alloc");
    free_fn record_free = (free_fn)dlsym(h, "ttshm_record_free");
    if (!open_writer || !record_alloc || !record_free)
        return 2;
    struct ttshm_writer_config cfg = {
        .struct_size = sizeof cfg, .name = registry, .initial_slots = 1024};
    ttshm_writer *w = NULL;
    if (open_writer(&cfg, &w) != 0)
        return 2;
    /* Growth on growth, each retiring tables for the reclaiming thread;
     * the last rounds stop at different points of the next growth. */
    uint64_t n = 20000 + (uint64_t)round * 7919;
    for (uint64_t i = 0; i < n; i++)
        record_alloc(w, 0, TTSHM_DRAM, i << 6, 64, 0);
    for (uint64_t i = 0; i < n; i += 2)
        record_free(w, 0, TTSHM_DRAM, i << 6);
    /* The host forgets the writer and unloads the library at once. */
    if (dlclose(h) != 0)
        return 2;
    if (dlopen(lib, RTLD_NOW | RTLD_NOLOAD) == NULL) {
        fprintf(stderr, "dlclose: the library was unloaded under its threads\n");
        return 1;
    }
    /* The host goes on: the threads finish their work meanwhile. */
    for (int i = 0; i < 50; i++) {
        void *p = malloc(1 << 20);
        memset(p, i, 1 << 20);
        free(p);
        rel_sleep_us(2000);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s libttshm.so\n", argv[0]);
        return 2;
    }
    char registry[48];
    snprintf(registry, sizeof registry, "t%d_dlclose", (int)getpid());
    int bad = 0;
    for (int round = 0; round < 8; round++) {
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0)
            _exit(host(argv[1], registry, round));
        int st;
        char desc[64];
        if (rel_wait_child(pid, 60000, &st) != 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "dlclose: round %d: the host %s\n", round,
                    rel_describe_status(st, desc, sizeof desc));
            bad++;
        }
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -f /dev/shm/ttshm.%s.*", registry);
    if (system(cmd) != 0)
        fprintf(stderr, "dlclose: cleanup failed\n");
    printf("dlclose: %d of 8 hosts failed\n", bad);
    return bad ? 1 : 0;
}
