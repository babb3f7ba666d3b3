/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tt-shm-stat as a user runs it, on a writer that holds many live buffers:
 * `tt-shm-stat -b` and `tt-shm-stat --json -b` on the bench's registry, output
 * to /dev/null, wall time and peak RSS (ru_maxrss from wait4) of each.
 *
 * The child is forked from the bench, and Linux carries a process's peak RSS
 * across exec, so the figure can include the bench's own anonymous memory at
 * the fork (reported beside it): an upper bound on tt-shm-stat's own peak.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

/* The bench's own RssAnon in MB (what a forked child starts with). */
static double own_anon_mb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    double kb = 0;
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "RssAnon: %lf", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb / 1024.0;
}

static int run_once(const char *path, const char *registry, int json, double *seconds,
                    double *rss_mb, int *exit_status)
{
    char *argv[6];
    int n = 0;
    argv[n++] = (char *)path;
    if (json)
        argv[n++] = "--json";
    argv[n++] = "-b";
    argv[n++] = "--name";
    argv[n++] = (char *)registry;
    argv[n] = NULL;
    fflush(NULL);
    uint64_t t0 = bench_now_ns();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
        }
        execvp(path, argv);
        _exit(127);
    }
    int st = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    pid_t w;
    while ((w = wait4(pid, &st, 0, &ru)) < 0 && errno == EINTR)
        ;
    *seconds = (double)(bench_now_ns() - t0) / 1e9;
    if (w != pid)
        return -1;
    *rss_mb = (double)ru.ru_maxrss / 1024.0; /* kB on Linux */
    *exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return 0;
}

int bench_time_stat(const struct bench_config *cfg, const char *registry, uint64_t live,
                    struct stat_result *out)
{
    memset(out, 0, sizeof *out);
    out->live = live;
    /* The build's tt-shm-stat when it is there, else the one in PATH. */
    const char *path = cfg->stat_path;
    if (path == NULL || (strchr(path, '/') && access(path, X_OK) != 0))
        path = "tt-shm-stat";
    out->spawner_anon_mb = own_anon_mb();
    for (int json = 0; json < 2; json++) {
        if (run_once(path, registry, json, &out->seconds[json], &out->max_rss_mb[json],
                     &out->exit_status[json]) != 0) {
            snprintf(out->error, sizeof out->error, "cannot run %s: %s", path, strerror(errno));
            return -1;
        }
        if (out->exit_status[json] != 0) {
            snprintf(out->error, sizeof out->error, "%s%s -b exited with %d", path,
                     json ? " --json" : "", out->exit_status[json]);
            return -1;
        }
    }
    out->ran = 1;
    return 0;
}
