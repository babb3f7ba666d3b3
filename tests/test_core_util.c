/* SPDX-License-Identifier: Apache-2.0 */
#include "test_core_util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

uint64_t tu_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

uint64_t tu_tag(uint32_t device, uint32_t type, uint64_t address, uint64_t size)
{
    return tu_mix(tu_mix(((uint64_t)device << 8 | type) ^ tu_mix(address)) ^ size);
}

void tu_rng_seed(struct tu_rng *r, uint64_t seed)
{
    r->s = tu_mix(seed) | 1;
}

uint64_t tu_rng_next(struct tu_rng *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545f4914f6cdd1dull;
}

uint64_t tu_rng_below(struct tu_rng *r, uint64_t n)
{
    return n ? tu_rng_next(r) % n : 0;
}

int tu_writer_open(const char *registry, uint64_t initial_slots, ttshm_writer **w)
{
    struct ttshm_writer_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.struct_size = sizeof cfg;
    cfg.name = registry;
    cfg.initial_slots = initial_slots;
    *w = NULL;
    return ttshm_writer_open(&cfg, w);
}

void tu_shm_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "/dev/shm/%s", name);
}

void *tu_read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return NULL;
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n ? n : 1);
    size_t got = 0;
    while (buf && got < n) {
        ssize_t k = pread(fd, buf + got, n - got, (off_t)got);
        if (k <= 0) {
            free(buf);
            buf = NULL;
            break;
        }
        got += (size_t)k;
    }
    close(fd);
    if (buf)
        *len = n;
    return buf;
}

int tu_write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -1;
    int rc = ftruncate(fd, (off_t)len);
    size_t put = 0;
    while (rc == 0 && put < len) {
        ssize_t k = pwrite(fd, (const char *)data + put, len - put, (off_t)put);
        if (k <= 0)
            rc = -1;
        else
            put += (size_t)k;
    }
    close(fd);
    return rc;
}

int tu_wait_child(pid_t pid, int timeout_ms, int *status)
{
    struct timespec step = {0, 2 * 1000 * 1000};
    for (int waited = 0;; waited += 2) {
        pid_t p = waitpid(pid, status, WNOHANG);
        if (p == pid)
            return *status;
        if (p < 0 && errno != EINTR)
            return -1;
        if (waited >= timeout_ms) {
            kill(pid, SIGKILL);
            while (waitpid(pid, status, 0) < 0 && errno == EINTR)
                ;
            return -1;
        }
        nanosleep(&step, NULL);
    }
}

int tu_run_child(const char *what, tu_child_fn fn, void *arg, int timeout_s)
{
    int p[2];
    if (pipe(p) != 0) {
        TTSHM_TEST_FAILF("%s: pipe: %s", what, strerror(errno));
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        TTSHM_TEST_FAILF("%s: fork: %s", what, strerror(errno));
        return -1;
    }
    if (pid == 0) {
        close(p[0]);
        alarm((unsigned)timeout_s);
        char msg[768] = "";
        int rc = fn(arg, msg, sizeof msg);
        size_t n = strnlen(msg, sizeof msg);
        if (n && write(p[1], msg, n) < 0)
            rc = rc ? rc : 1;
        _exit(rc ? 1 : 0);
    }
    close(p[1]);
    char msg[800];
    size_t got = 0;
    for (;;) {
        struct pollfd pf = {.fd = p[0], .events = POLLIN};
        int k = poll(&pf, 1, (timeout_s + 5) * 1000);
        if (k <= 0)
            break;
        ssize_t r = read(p[0], msg + got, sizeof msg - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        if (got == sizeof msg - 1)
            break;
    }
    msg[got] = 0;
    close(p[0]);
    int status = 0;
    int w = tu_wait_child(pid, (timeout_s + 5) * 1000, &status);
    if (w == -1 || WIFSIGNALED(status)) {
        int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
        TTSHM_TEST_FAILF("%s: child killed by signal %d (%s)%s%s", what, sig,
                         sig == SIGALRM ? "hang: timed out" : strsignal(sig), got ? ": " : "", msg);
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        TTSHM_TEST_FAILF("%s: %s (child exit %d)", what, got ? msg : "failed",
                         WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return -1;
    }
    CU_PASS(what);
    return 0;
}

int tu_entry_cmp(const void *a, const void *b)
{
    const struct ttshm_entry *x = a, *y = b;
#define TU_CMP(f)                                                                                  \
    if (x->f != y->f)                                                                              \
        return x->f < y->f ? -1 : 1;
    TU_CMP(device)
    TU_CMP(type)
    TU_CMP(address)
    TU_CMP(size)
    TU_CMP(tag)
#undef TU_CMP
    return 0;
}

uint64_t tu_stats_live_count(const struct ttshm_stats *st)
{
    uint64_t n = 0;
    for (unsigned d = 0; d < TTSHM_MAX_DEVICES; d++)
        for (unsigned t = 0; t < TTSHM_MEM_TYPE_COUNT; t++)
            n += st->dev[d][t].live_count;
    return n;
}
