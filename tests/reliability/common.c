/* SPDX-License-Identifier: Apache-2.0 */
#include "common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ttshm/reader.h"

static bool long_flag;

void rel_parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--long") == 0)
            long_flag = true;
}

bool rel_long_mode(void)
{
    return long_flag || rel_env_long("TTSHM_LONG", 0) != 0;
}

long rel_env_long(const char *name, long def)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0')
        return def;
    char *end;
    long x = strtol(v, &end, 10);
    return *end == '\0' ? x : def;
}

bool rel_tsan(void)
{
#if defined(TTSHM_TSAN)
    return true;
#else
    return false;
#endif
}

bool rel_asan(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return true;
#else
    return false;
#endif
#else
    return false;
#endif
}

uint64_t rel_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void rel_sleep_us(uint64_t us)
{
    struct timespec ts = {.tv_sec = (time_t)(us / 1000000), .tv_nsec = (long)(us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

uint64_t rel_mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void rel_rng_seed(struct rel_rng *r, uint64_t seed)
{
    r->s = seed ? seed : 0x1234567;
}

uint64_t rel_rng_next(struct rel_rng *r)
{
    r->s += 0x9e3779b97f4a7c15ull;
    uint64_t z = r->s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t rel_rng_below(struct rel_rng *r, uint64_t n)
{
    return n ? rel_rng_next(r) % n : 0;
}

int rel_wait_child(pid_t pid, int timeout_ms, int *status)
{
    uint64_t deadline = rel_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    int st = 0;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            if (status)
                *status = st;
            return 0;
        }
        if (r < 0 && errno != EINTR) {
            if (status)
                *status = -1;
            return -1;
        }
        if (rel_now_ns() > deadline) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
            }
            if (status)
                *status = st;
            return -1;
        }
        rel_sleep_us(1000);
    }
}

const char *rel_describe_status(int status, char *buf, size_t len)
{
    if (status == -1)
        snprintf(buf, len, "not a child");
    else if (WIFEXITED(status))
        snprintf(buf, len, "exited %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(buf, len, "status 0x%x", (unsigned)status);
    return buf;
}

int rel_read_full(int fd, void *buf, size_t len, int timeout_ms)
{
    uint64_t deadline = rel_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    unsigned char *p = buf;
    size_t got = 0;
    while (got < len) {
        uint64_t now = rel_now_ns();
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int left = now >= deadline ? 0 : (int)((deadline - now) / 1000000ull) + 1;
        int pr = poll(&pfd, 1, left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            return -1;
        ssize_t n = read(fd, p + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

int rel_write_full(int fd, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int rel_run_capture(char *const argv[], char *const env_add[], char *out, size_t outlen,
                    int timeout_ms)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(p[1], 1);
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        for (size_t i = 0; env_add && env_add[i]; i++)
            putenv(env_add[i]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    size_t got = 0;
    uint64_t deadline = rel_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    bool timed_out = false;
    for (;;) {
        uint64_t now = rel_now_ns();
        if (now >= deadline) {
            timed_out = true;
            break;
        }
        struct pollfd pfd = {.fd = p[0], .events = POLLIN};
        int pr = poll(&pfd, 1, (int)((deadline - now) / 1000000ull) + 1);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0) {
            timed_out = true;
            break;
        }
        char tmp[4096];
        ssize_t n = read(p[0], tmp, sizeof tmp);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        size_t room = outlen > got + 1 ? outlen - got - 1 : 0;
        size_t take = (size_t)n < room ? (size_t)n : room;
        memcpy(out + got, tmp, take);
        got += take;
    }
    if (outlen)
        out[got < outlen ? got : outlen - 1] = '\0';
    close(p[0]);
    int st;
    if (rel_wait_child(pid, timed_out ? 0 : timeout_ms, &st) != 0 || timed_out)
        return -1;
    return st;
}

size_t rel_list_objects(const char *registry, struct rel_obj *out, size_t max)
{
    char prefix[96];
    snprintf(prefix, sizeof prefix, "ttshm.%s.", registry);
    size_t plen = strlen(prefix), n = 0;
    DIR *d = opendir("/dev/shm");
    if (d == NULL)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, plen) != 0)
            continue;
        if (n < max) {
            char path[300];
            struct stat st;
            snprintf(out[n].name, sizeof out[n].name, "%s", e->d_name);
            snprintf(path, sizeof path, "/dev/shm/%s", e->d_name);
            if (lstat(path, &st) == 0) {
                out[n].ino = st.st_ino;
                out[n].size = st.st_size;
                out[n].mode = st.st_mode;
                out[n].uid = st.st_uid;
            } else {
                memset(&out[n].ino, 0, sizeof *out - offsetof(struct rel_obj, ino));
            }
        }
        n++;
    }
    closedir(d);
    return n;
}

const char *rel_shm_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "/dev/shm/%s", name);
    return buf;
}

int rel_read_object(const char *name, unsigned char **buf, size_t *len)
{
    char path[300];
    int fd = open(rel_shm_path(path, sizeof path, name), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    size_t n = (size_t)st.st_size;
    unsigned char *b = malloc(n ? n : 1);
    if (b == NULL) {
        close(fd);
        return -ENOMEM;
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, b + got, n - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    *buf = b;
    *len = got;
    return 0;
}

int rel_write_object(const char *name, const void *buf, size_t len, mode_t mode)
{
    char path[300];
    int fd = open(rel_shm_path(path, sizeof path, name),
                  O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return -errno;
    const unsigned char *p = buf;
    size_t done = 0;
    while (done < len) {
        ssize_t w = pwrite(fd, p + done, len - done, (off_t)done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = errno ? errno : EIO;
            close(fd);
            return -e;
        }
        done += (size_t)w;
    }
    close(fd);
    return 0;
}

int rel_reader_open(const char *registry, unsigned slot, struct ttshm_reader **out, int timeout_ms)
{
    char seg[128];
    snprintf(seg, sizeof seg, "ttshm.%s.%u", registry, slot);
    uint64_t deadline = rel_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    for (;;) {
        int rc = ttshm_reader_open(seg, out);
        if (rc != -TTSHM_E_BUSY || rel_now_ns() > deadline)
            return rc;
        rel_sleep_us(200);
    }
}
