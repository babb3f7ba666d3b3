/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Seed inputs for the reader fuzz target, made from real segments: each
 * scenario runs a real writer in a child process, which then copies its own
 * objects into a fuzz input (format in fuzz_reader.h) and sends it through a
 * pipe. Trailing zeros are trimmed and the PAD flags set, so seeds stay small.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz_reader.h"
#include "layout.h"
#include "ttshm/reader.h"
#include "ttshm/writer.h"

static int read_file(const char *path, uint8_t **buf, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return -1;
    }
    *len = (size_t)st.st_size;
    *buf = malloc(*len ? *len : 1);
    size_t got = 0;
    while (*buf && got < *len) {
        ssize_t n = pread(fd, *buf + got, *len - got, (off_t)got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    *len = got;
    return *buf ? 0 : -1;
}

static size_t trimmed(const uint8_t *p, size_t n)
{
    while (n > 0 && p[n - 1] == 0)
        n--;
    return n;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16),
    p[3] = (uint8_t)(v >> 24);
}

/* In the writer child: builds the input from the registry's slot 0 and writes
 * [u32 name length][name][u32 size][input] to fd. */
static void dump(int fd, const char *registry, const char *name)
{
    char path[256];
    uint8_t *h = NULL, *t = NULL, *o = NULL;
    size_t hl = 0, tl = 0, ol = 0;
    snprintf(path, sizeof path, "/dev/shm/ttshm.%s.0", registry);
    if (read_file(path, &h, &hl) != 0 || hl < sizeof(struct ttshm_header))
        _exit(10);
    const struct ttshm_header *hdr = (const struct ttshm_header *)h;
    uint64_t epoch = hdr->table_epoch, old = hdr->old_epoch;
    snprintf(path, sizeof path, "/dev/shm/ttshm.%s.0.t%llu", registry, (unsigned long long)epoch);
    if (read_file(path, &t, &tl) != 0)
        _exit(11);
    if (old) {
        snprintf(path, sizeof path, "/dev/shm/ttshm.%s.0.t%llu", registry, (unsigned long long)old);
        if (read_file(path, &o, &ol) != 0)
            _exit(12);
    }
    /* Own registry name -> placeholder, so the fuzzer can substitute its own. */
    memset(h + offsetof(struct ttshm_header, registry), 0, 64);
    memcpy(h + offsetof(struct ttshm_header, registry), FUZZ_REGISTRY_PLACEHOLDER,
           sizeof FUZZ_REGISTRY_PLACEHOLDER);
    hl = trimmed(h, hl);
    tl = trimmed(t, tl);
    ol = o ? trimmed(o, ol) : 0;
    size_t size = FUZZ_HDR_BYTES + hl + tl + ol;
    uint8_t *in = calloc(1, size);
    if (in == NULL)
        _exit(13);
    in[0] = FUZZ_F_PAD_HEADER | FUZZ_F_PAD_TABLES;
    put32(in + 4, (uint32_t)hl);
    put32(in + 8, (uint32_t)tl);
    put32(in + 12, (uint32_t)ol);
    memcpy(in + FUZZ_HDR_BYTES, h, hl);
    memcpy(in + FUZZ_HDR_BYTES + hl, t, tl);
    if (ol)
        memcpy(in + FUZZ_HDR_BYTES + hl + tl, o, ol);
    uint8_t len[4];
    put32(len, (uint32_t)strlen(name));
    (void)!write(fd, len, 4);
    (void)!write(fd, name, strlen(name));
    put32(len, (uint32_t)size);
    (void)!write(fd, len, 4);
    size_t done = 0;
    while (done < size) {
        ssize_t n = write(fd, in + done, size - done);
        if (n <= 0)
            _exit(14);
        done += (size_t)n;
    }
    free(in);
    free(h);
    free(t);
    free(o);
}

static ttshm_writer *open_writer(const char *registry)
{
    ttshm_writer *w;
    struct ttshm_writer_config cfg = {
        .struct_size = sizeof cfg, .name = registry, .initial_slots = 1024};
    if (ttshm_writer_open(&cfg, &w) != 0)
        _exit(20);
    return w;
}

static void record_some(ttshm_writer *w, unsigned n, uint64_t base)
{
    for (unsigned i = 0; i < n; i++) {
        uint32_t dev = i % 4;
        enum ttshm_mem_type type = (enum ttshm_mem_type)(i % TTSHM_MEM_TYPE_COUNT);
        ttshm_record_alloc(w, dev, type, base + (uint64_t)i * 4096, 256 + i * 64, i);
    }
}

/* One scenario per child: what state the segment is left in. */
static void scenario(int fd, const char *registry, int which)
{
    ttshm_writer *w;
    switch (which) {
    case 0: /* a fresh, empty segment */
        w = open_writer(registry);
        dump(fd, registry, "empty");
        break;
    case 1: /* entries of every type on four devices, capacity, frees, CBs */
        w = open_writer(registry);
        for (uint32_t d = 0; d < 4; d++)
            ttshm_publish_capacity(w, d, TTSHM_DRAM, 12ull << 30, 12);
        record_some(w, 60, 0x10000);
        ttshm_record_free(w, 0, TTSHM_DRAM, 0x10000);
        ttshm_record_free(w, 3, TTSHM_DRAM, 0xdead000);     /* unknown free */
        ttshm_record_alloc(w, 1, TTSHM_L1, 0x11000, 64, 0); /* duplicate */
        ttshm_record_alloc(w, 2, TTSHM_CB, 0x20000, 1024, 0);
        ttshm_record_alloc(w, 2, TTSHM_CB, 0x20000, 1024, 0);
        ttshm_record_free_cbs(w, 1);
        dump(fd, registry, "entries");
        break;
    case 2: { /* caught in the middle of a table migration */
        w = open_writer(registry);
        ttshm_reader *r = NULL;
        char seg[96];
        snprintf(seg, sizeof seg, "ttshm.%s.0", registry);
        for (unsigned i = 0; i < 4000; i++) {
            ttshm_record_alloc(w, i % 2, TTSHM_DRAM, 0x100000 + (uint64_t)i * 64, 64, i);
            if (i > 600 && r == NULL && ttshm_reader_open(seg, &r) != 0)
                r = NULL;
            if (r != NULL) {
                struct ttshm_status st = {.struct_size = sizeof st};
                if (ttshm_reader_status(r, &st) == 0 && st.migrating_slots != 0)
                    break;
            }
        }
        ttshm_reader_close(r);
        dump(fd, registry, "migrating");
        break;
    }
    case 3: /* exited with leaks */
        w = open_writer(registry);
        record_some(w, 30, 0x40000);
        ttshm_writer_close(w);
        dump(fd, registry, "exited");
        break;
    case 4: { /* taken over after a SIGKILL: previous-session summary */
        pid_t pid = fork();
        if (pid == 0) {
            w = open_writer(registry);
            record_some(w, 40, 0x50000);
            raise(SIGKILL);
        }
        waitpid(pid, NULL, 0);
        w = open_writer(registry);
        record_some(w, 10, 0x60000);
        dump(fd, registry, "takeover");
        break;
    }
    case 5: /* died: the segment as the next reader finds it */
        w = open_writer(registry);
        record_some(w, 25, 0x70000);
        /* no close: the dump looks like any live or dead writer's */
        dump(fd, registry, "live");
        break;
    }
}

#define SCENARIOS 6

int fuzz_make_seeds(fuzz_seed_fn fn, void *ctx)
{
    int made = 0;
    for (int which = 0; which < SCENARIOS; which++) {
        char registry[48];
        snprintf(registry, sizeof registry, "fzs%ld_%d", (long)getpid(), which);
        int p[2];
        if (pipe(p) != 0)
            return -1;
        pid_t pid = fork();
        if (pid < 0)
            return -1;
        if (pid == 0) {
            close(p[0]);
            scenario(p[1], registry, which);
            _exit(0);
        }
        close(p[1]);
        /* Read [len][name][len][data] */
        uint8_t *buf = NULL;
        size_t len = 0, cap = 0;
        for (;;) {
            if (cap - len < 65536) {
                cap = cap ? cap * 2 : 1 << 20;
                uint8_t *nb = realloc(buf, cap);
                if (nb == NULL)
                    break;
                buf = nb;
            }
            ssize_t n = read(p[0], buf + len, cap - len);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            len += (size_t)n;
        }
        close(p[0]);
        int st = 0;
        waitpid(pid, &st, 0);
        /* remove what the scenario left */
        char prefix[80];
        snprintf(prefix, sizeof prefix, "ttshm.%s.", registry);
        DIR *d = opendir("/dev/shm");
        struct dirent *de;
        while (d != NULL && (de = readdir(d)) != NULL)
            if (strncmp(de->d_name, prefix, strlen(prefix)) == 0) {
                char path[512];
                snprintf(path, sizeof path, "/dev/shm/%s", de->d_name);
                unlink(path);
            }
        if (d != NULL)
            closedir(d);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || len < 8) {
            fprintf(stderr, "fuzz seeds: scenario %d failed (status 0x%x, %zu bytes)\n", which,
                    (unsigned)st, len);
            free(buf);
            return -1;
        }
        uint32_t nl = (uint32_t)buf[0] | (uint32_t)buf[1] << 8 | (uint32_t)buf[2] << 16 |
                      (uint32_t)buf[3] << 24;
        if (nl >= 64 || 8 + nl > len) {
            free(buf);
            return -1;
        }
        char name[64];
        memcpy(name, buf + 4, nl);
        name[nl] = '\0';
        const uint8_t *q = buf + 4 + nl;
        uint32_t dl =
            (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
        if (8 + nl + (size_t)dl > len) {
            free(buf);
            return -1;
        }
        fn(name, q + 4, dl, ctx);
        made++;
        /* Variants of the one with entries: sparse objects, and objects
         * shrunk (the table, then the header) while a foreach reads them. */
        static const struct {
            const char *suffix;
            uint8_t flags, pages;
        } variants[] = {{"-sparse", FUZZ_F_SPARSE, 0},
                        {"-shrink-table", FUZZ_F_SHRINK, 1},
                        {"-shrink-header", FUZZ_F_SHRINK | FUZZ_F_TRUNC_HDR, 0}};
        for (size_t v = 0; which == 1 && v < sizeof variants / sizeof variants[0]; v++) {
            uint8_t *in = malloc(dl);
            if (in == NULL)
                break;
            memcpy(in, q + 4, dl);
            in[0] |= variants[v].flags;
            in[1] = variants[v].pages;
            char vname[96];
            snprintf(vname, sizeof vname, "%s%s", name, variants[v].suffix);
            fn(vname, in, dl, ctx);
            made++;
            free(in);
        }
        free(buf);
    }
    return made;
}
