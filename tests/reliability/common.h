/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the reliability tests (torture, stress, hostile segments,
 * security, exhaustion): processes, /dev/shm objects, randomness, modes. */
#ifndef TTSHM_REL_COMMON_H
#define TTSHM_REL_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- run modes ---- */

/* True when the test runs its long version: argv has "--long" (see
 * rel_parse_args) or $TTSHM_LONG is set to a non-zero value. */
bool rel_long_mode(void);
/* Looks at argv for "--long"; call first thing in main. */
void rel_parse_args(int argc, char **argv);
/* $name as a number, or def when unset or not a number. */
long rel_env_long(const char *name, long def);
/* True in a TSan build (slower: scale down). */
bool rel_tsan(void);
/* True in an ASan build. */
bool rel_asan(void);

/* ---- time and randomness ---- */
uint64_t rel_now_ns(void); /* CLOCK_MONOTONIC */
void rel_sleep_us(uint64_t us);
uint64_t rel_mix64(uint64_t x);
struct rel_rng {
    uint64_t s;
};
void rel_rng_seed(struct rel_rng *r, uint64_t seed);
uint64_t rel_rng_next(struct rel_rng *r);
uint64_t rel_rng_below(struct rel_rng *r, uint64_t n); /* [0, n) */

/* ---- processes ---- */

/* Waits for pid up to timeout_ms; on timeout kills it with SIGKILL, reaps it and
 * returns -1 (with *status the kill status). 0 when it ended by itself. */
int rel_wait_child(pid_t pid, int timeout_ms, int *status);
/* "exited 0", "killed by SIGBUS", ... in buf. */
const char *rel_describe_status(int status, char *buf, size_t len);
/* Reads exactly len bytes from fd, waiting at most timeout_ms in all.
 * Returns 0, or -1 on EOF/timeout/error. */
int rel_read_full(int fd, void *buf, size_t len, int timeout_ms);
/* Writes all of buf (retrying on EINTR/short writes). 0 or -1. */
int rel_write_full(int fd, const void *buf, size_t len);
/* Runs argv[0] with argv, env additions (NULL-terminated "K=V" list, may be
 * NULL) and returns its exit status; its stdout and stderr are captured into
 * out (NUL-terminated, truncated to outlen). -1 if it could not run or ran
 * past timeout_ms (then it is killed). */
int rel_run_capture(char *const argv[], char *const env_add[], char *out, size_t outlen,
                    int timeout_ms);

/* ---- /dev/shm objects of a registry ---- */
struct rel_obj {
    char name[256]; /* without "/dev/shm/" */
    ino_t ino;
    off_t size;
    mode_t mode;
    uid_t uid;
};
/* Lists the objects "ttshm.<registry>.*" in /dev/shm; returns how many exist
 * (fills at most max entries of out, which may be NULL). */
size_t rel_list_objects(const char *registry, struct rel_obj *out, size_t max);
/* Object path in /dev/shm: "/dev/shm/<name>". */
const char *rel_shm_path(char *buf, size_t len, const char *name);
/* Reads a whole /dev/shm object into a malloc'd buffer. 0 or -errno. */
int rel_read_object(const char *name, unsigned char **buf, size_t *len);
/* Creates or replaces (O_TRUNC) a /dev/shm object with these bytes. 0 or -errno. */
int rel_write_object(const char *name, const void *buf, size_t len, mode_t mode);

/* ---- reader helpers ---- */
/* Opens the segment "ttshm.<registry>.<slot>", retrying on -TTSHM_E_BUSY for
 * up to timeout_ms. Returns 0 or -TTSHM_E_*. */
struct ttshm_reader;
int rel_reader_open(const char *registry, unsigned slot, struct ttshm_reader **out, int timeout_ms);

#endif
