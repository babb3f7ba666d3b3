/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Permissions: segments are created 0600 (0640 on request) whatever the
 * umask; the writer refuses a pre-existing header object owned by another
 * user or writable by group or others, follows no symlink, and then leaves
 * the object untouched and reports once on stderr; the reader maps read-only
 * and writes nothing.
 */
#include "test_core_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char reg[48];
static char seg[128];
static char hpath[200];

static void fresh(const char *tag)
{
    ttshm_test_registry(reg, tag);
    ttshm_test_unlink_registry(reg);
    snprintf(seg, sizeof seg, "ttshm.%s.0", reg);
    tu_shm_path(hpath, sizeof hpath, seg);
}

/* Makes a real, closed segment (header + table) under reg, slot 0. */
static int make_closed_segment(void)
{
    ttshm_writer *w = NULL;
    int rc = tu_writer_open(reg, 1024, &w);
    CU_ASSERT_EQUAL(rc, 0);
    if (rc)
        return rc;
    ttshm_record_alloc(w, 0, TTSHM_DRAM, 0x1000, 64, 1);
    ttshm_writer_close(w);
    return 0;
}

/* Mode bits of every object of reg; 0 if one differs from want. */
static int all_modes_are(mode_t want, int *count)
{
    char prefix[80];
    snprintf(prefix, sizeof prefix, "ttshm.%s.", reg);
    *count = 0;
    int ok = 1;
    DIR *d = opendir("/dev/shm");
    if (d == NULL)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char p[300];
        struct stat st;
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
            continue;
        snprintf(p, sizeof p, "/dev/shm/%s", e->d_name);
        if (stat(p, &st) != 0)
            continue;
        (*count)++;
        if ((st.st_mode & 07777) != want || st.st_uid != geteuid() || !S_ISREG(st.st_mode))
            ok = 0;
    }
    closedir(d);
    return ok;
}

/* The path of the one table object of slot 0 (its epoch is the session's). */
static bool table_path(char *buf, int len)
{
    char prefix[200];
    snprintf(prefix, sizeof prefix, "%s.t", seg);
    bool found = false;
    DIR *d = opendir("/dev/shm");
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            found = snprintf(buf, (size_t)len, "/dev/shm/%.*s", len - 10, e->d_name) < len;
        }
    if (d != NULL)
        closedir(d);
    return found;
}

struct mode_case {
    uint32_t mode;
    mode_t umask_, want;
};

/* In a child: growing starts threads (table preparer, RCU callbacks), and the
 * tests after this one fork; keep this process single-threaded. */
static int modes_child(void *arg, char *msg, size_t len)
{
    const struct mode_case *c = arg;
    umask(c->umask_);
    struct ttshm_writer_config cfg = {
        .struct_size = sizeof cfg, .name = reg, .initial_slots = 1024, .mode = c->mode};
    ttshm_writer *w = NULL;
    int rc = ttshm_writer_open(&cfg, &w);
    if (rc != 0) {
        snprintf(msg, len, "writer_open returned %d", rc);
        return 1;
    }
    /* Grow so that more table objects are made. */
    for (uint64_t a = 0; a < 3000; a++)
        ttshm_record_alloc(w, 0, TTSHM_DRAM, a << 6, 1, 0);
    int n = 0;
    int ok = all_modes_are(c->want, &n);
    ttshm_writer_close(w);
    if (!ok || n < 2) {
        struct stat st;
        stat(hpath, &st);
        snprintf(msg, len, "mode 0%o umask 0%o: objects not all 0%o (header is 0%o, %d objects)",
                 c->mode, c->umask_, c->want, st.st_mode & 07777, n);
        return 1;
    }
    return 0;
}

static void test_created_modes(void)
{
    static const struct mode_case c[] = {
        {0, 0, 0600},      /* umask 0 must not widen it */
        {0, 077, 0600},    /* nor a strict umask narrow it below usable */
        {0640, 0, 0640},   /* group read on request */
        {0640, 077, 0640}, /* even under umask 077: the writer sets it */
        {0666, 0, 0640},   /* never writable by others: at most group read */
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        fresh("mode");
        tu_run_child("modes of created objects", modes_child, (void *)&c[i], 30);
        ttshm_test_unlink_registry(reg);
    }
}

/* The writer must leave the pre-existing object as it was: refuse it, or
 * (issue 11, item 19) go on to another slot. */
static void expect_refused(const char *what, int allow_access)
{
    size_t before_len = 0, after_len = 0;
    unsigned char *before = tu_read_file(hpath, &before_len);
    struct stat st0, st1;
    CU_ASSERT_FATAL(before != NULL && lstat(hpath, &st0) == 0);
    int objects = ttshm_test_count_objects(reg);
    ttshm_writer *w = (ttshm_writer *)&w;
    int rc = tu_writer_open(reg, 1024, &w);
    bool other_slot = rc == 0 && strcmp(ttshm_writer_segment_name(w), seg) != 0;
    if (!(other_slot || rc == -TTSHM_E_INSECURE || (allow_access && rc == -TTSHM_E_ACCESS)))
        TTSHM_TEST_FAILF("%s: writer_open returned %d (writer %p on %s); want another slot or "
                         "-TTSHM_E_INSECURE%s",
                         what, rc, (void *)w, rc == 0 ? ttshm_writer_segment_name(w) : "-",
                         allow_access ? " or -TTSHM_E_ACCESS" : "");
    if (rc == 0)
        ttshm_writer_close(w);
    unsigned char *after = tu_read_file(hpath, &after_len);
    CU_ASSERT_FATAL(after != NULL && lstat(hpath, &st1) == 0);
    if (before_len != after_len || memcmp(before, after, before_len) != 0 ||
        st0.st_mode != st1.st_mode || st0.st_uid != st1.st_uid)
        TTSHM_TEST_FAILF("%s: the refused object was modified", what);
    if (!other_slot && ttshm_test_count_objects(reg) != objects)
        TTSHM_TEST_FAILF("%s: objects in /dev/shm went from %d to %d", what, objects,
                         ttshm_test_count_objects(reg));
    free(before);
    free(after);
}

static void test_refuse_writable_by_others(void)
{
    static const mode_t modes[] = {0666, 0620, 0602, 0660, 0622, 0646};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        for (int valid = 0; valid < 2; valid++) {
            fresh("insecure");
            if (valid) {
                if (make_closed_segment())
                    return; /* a real segment others could have written into */
            } else {
                int fd = open(hpath, O_RDWR | O_CREAT | O_EXCL, 0600);
                CU_ASSERT_FATAL(fd >= 0);
                CU_ASSERT_EQUAL(write(fd, "planted", 7), 7);
                close(fd);
            }
            CU_ASSERT_EQUAL(chmod(hpath, modes[i]), 0);
            char what[96];
            snprintf(what, sizeof what, "pre-existing %s header object, mode 0%o",
                     valid ? "valid" : "planted", (unsigned)modes[i]);
            expect_refused(what, 0);
            ttshm_test_unlink_registry(reg);
        }
    }
}

static void test_accept_own_group_readable(void)
{
    fresh("grpread");
    if (make_closed_segment())
        return;
    CU_ASSERT_EQUAL(chmod(hpath, 0640), 0);
    ttshm_writer *w = NULL;
    CU_ASSERT_EQUAL(tu_writer_open(reg, 1024, &w), 0);
    if (w) {
        CU_ASSERT_STRING_EQUAL(ttshm_writer_segment_name(w), seg);
        CU_ASSERT_EQUAL(ttshm_writer_generation(w), 2);
    }
    ttshm_writer_close(w);
    ttshm_test_unlink_registry(reg);
}

static void test_refuse_other_owner(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "SKIPPED refuse_other_owner: creating a file owned by another user "
                        "needs root\n");
        CU_PASS("skipped: needs root to create an object owned by another user");
        return;
    }
    for (int valid = 0; valid < 2; valid++) {
        fresh("owner");
        unsigned char *content = NULL;
        size_t len = 7;
        if (valid) {
            if (make_closed_segment())
                return;
            content = tu_read_file(hpath, &len);
            ttshm_test_unlink_registry(reg);
        }
        /* Another user (nobody) creates the name first, 0600 and valid-looking. */
        fflush(NULL);
        pid_t pid = fork();
        CU_ASSERT_FATAL(pid >= 0);
        if (pid == 0) {
            if (setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) != 0 ||
                setresuid(65534, 65534, 65534) != 0)
                _exit(2);
            int fd = open(hpath, O_RDWR | O_CREAT | O_EXCL, 0600);
            if (fd < 0)
                _exit(3);
            ssize_t k = write(fd, content ? (const void *)content : "planted", len);
            _exit(k == (ssize_t)len ? 0 : 4);
        }
        int status;
        tu_wait_child(pid, 10000, &status);
        CU_ASSERT_FATAL(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        struct stat st;
        CU_ASSERT_FATAL(stat(hpath, &st) == 0 && st.st_uid == 65534);
        expect_refused(valid ? "valid segment owned by uid 65534" : "object owned by uid 65534", 1);
        free(content);
        ttshm_test_unlink_registry(reg);
    }
}

static void test_no_symlink_followed(void)
{
    char victim[128];
    snprintf(victim, sizeof victim, "/tmp/ttshm-victim-%ld", (long)getpid());
    for (int dangling = 0; dangling < 2; dangling++) {
        fresh("symlink");
        unlink(victim);
        if (!dangling) {
            int fd = open(victim, O_RDWR | O_CREAT | O_EXCL, 0644);
            CU_ASSERT_FATAL(fd >= 0);
            CU_ASSERT_EQUAL(write(fd, "precious", 8), 8);
            close(fd);
        }
        CU_ASSERT_FATAL(symlink(victim, hpath) == 0);
        ttshm_writer *w = NULL;
        int rc = tu_writer_open(reg, 1024, &w);
        if (rc == 0) {
            /* If it went on elsewhere, its own object must be a regular file. */
            char p[200];
            struct stat st;
            tu_shm_path(p, sizeof p, ttshm_writer_segment_name(w));
            CU_ASSERT(lstat(p, &st) == 0 && S_ISREG(st.st_mode));
            ttshm_writer_close(w);
        } else {
            CU_ASSERT_PTR_NULL(w);
        }
        struct stat st;
        if (dangling) {
            CU_ASSERT_EQUAL(lstat(victim, &st), -1); /* not created through the link */
        } else {
            size_t len = 0;
            char *c = tu_read_file(victim, &len);
            CU_ASSERT(c != NULL && len == 8 && memcmp(c, "precious", 8) == 0);
            CU_ASSERT(stat(victim, &st) == 0 && (st.st_mode & 07777) == 0644);
            free(c);
        }
        unlink(victim);
        ttshm_test_unlink_registry(reg);
    }
}

/* ---- reported once on stderr, then tracking off ---- */

/* A registry name the writer refuses: the default writer is off. */
static const char bad_name[] = "no/such name";

static int report_child(void *arg, char *msg, size_t len)
{
    (void)arg;
    int fd = memfd_create("stderr", 0);
    if (fd < 0 || dup2(fd, 2) < 0)
        return 1;
    setenv("TT_SHM_NAME", bad_name, 1);
    unsetenv("TT_SHM_TRACKING");
    ttshm_writer *w = ttshm_default_writer();
    off_t first = lseek(fd, 0, SEEK_CUR);
    ttshm_writer *w2 = ttshm_default_writer();
    int rc = ttshm_record_alloc(w2, 0, TTSHM_DRAM, 1, 1, 0);
    off_t second = lseek(fd, 0, SEEK_CUR);
    /* An explicit writer reports only when asked to. */
    ttshm_writer *w3 = NULL;
    int orc = tu_writer_open(bad_name, 0, &w3);
    off_t third = lseek(fd, 0, SEEK_CUR);
    if (w != NULL || w2 != NULL || rc != TTSHM_OFF) {
        snprintf(msg, len, "default writer on an invalid name: %p, record %d", (void *)w, rc);
        return 1;
    }
    if (first <= 0 || second != first) {
        snprintf(msg, len,
                 "stderr: %lld bytes after the first use, %lld after the second "
                 "(want a report, once)",
                 (long long)first, (long long)second);
        return 1;
    }
    if (orc >= 0 || third != second) {
        snprintf(msg, len, "explicit writer without report_errors: rc %d, wrote %lld bytes", orc,
                 (long long)(third - second));
        return 1;
    }
    return 0;
}

/* An insecure object under slot 0's name does not switch tracking off: the
 * default writer records into the next slot (issue 11, item 19). */
static int insecure_slot_child(void *arg, char *msg, size_t len)
{
    (void)arg;
    setenv("TT_SHM_NAME", reg, 1);
    unsetenv("TT_SHM_TRACKING");
    ttshm_writer *w = ttshm_default_writer();
    int rc = ttshm_record_alloc(w, 0, TTSHM_DRAM, 1, 1, 0);
    if (w == NULL || rc != TTSHM_RECORDED || strcmp(ttshm_writer_segment_name(w), seg) == 0) {
        snprintf(msg, len, "default writer over an insecure slot 0: %s, record %d",
                 w ? ttshm_writer_segment_name(w) : "off", rc);
        return 1;
    }
    return 0;
}

static void test_reported_once(void)
{
    fresh("report");
    if (make_closed_segment())
        return;
    CU_ASSERT_EQUAL(chmod(hpath, 0666), 0);
    tu_run_child("default writer past an insecure segment", insecure_slot_child, NULL, 20);
    tu_run_child("default writer on an invalid name", report_child, NULL, 20);
    ttshm_test_unlink_registry(reg);
}

/* ---- the reader: read-only mappings, writes nothing ---- */

static int maps_child(void *arg, char *msg, size_t len)
{
    (void)arg;
    ttshm_reader *r = NULL;
    if (ttshm_reader_open(seg, &r) != 0) {
        snprintf(msg, len, "reader_open failed");
        return 1;
    }
    struct ttshm_entry *v = NULL;
    size_t n = 0;
    struct ttshm_status s = {.struct_size = sizeof s};
    if (ttshm_reader_snapshot(r, &v, &n) != 0 || n != 1 || ttshm_reader_status(r, &s) != 0) {
        snprintf(msg, len, "reader calls failed");
        return 1;
    }
    free(v);
    char needle[128];
    snprintf(needle, sizeof needle, "/dev/shm/ttshm.%s.", reg);
    FILE *f = fopen("/proc/self/maps", "r");
    char line[1024];
    int maps = 0;
    while (f && fgets(line, sizeof line, f)) {
        if (strstr(line, needle) == NULL)
            continue;
        maps++;
        char perms[8] = "";
        sscanf(line, "%*s %7s", perms);
        if (strchr(perms, 'w') != NULL) {
            snprintf(msg, len, "writable mapping: %s", line);
            return 1;
        }
    }
    if (f)
        fclose(f);
    if (maps < 2) {
        snprintf(msg, len, "%d mappings of the segment found (want header and table)", maps);
        return 1;
    }
    /* Any descriptor it keeps on the segment is read-only. */
    for (int fd = 0; fd < 1024; fd++) {
        char p[64], target[512];
        snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
        ssize_t k = readlink(p, target, sizeof target - 1);
        if (k <= 0)
            continue;
        target[k] = 0;
        if (strstr(target, needle) == NULL)
            continue;
        int fl = fcntl(fd, F_GETFL);
        if ((fl & O_ACCMODE) != O_RDONLY) {
            snprintf(msg, len, "descriptor %d on %s is not O_RDONLY", fd, target);
            return 1;
        }
    }
    ttshm_reader_close(r);
    return 0;
}

static int writes_nothing_child(void *arg, char *msg, size_t len)
{
    (void)arg;
    for (int i = 0; i < 3; i++) {
        ttshm_reader *r = NULL;
        if (ttshm_reader_open(seg, &r) != 0) {
            snprintf(msg, len, "reader_open failed");
            return 1;
        }
        struct ttshm_entry *v = NULL, e;
        size_t n = 0;
        struct ttshm_status s = {.struct_size = sizeof s};
        struct ttshm_stats *st = calloc(1, sizeof *st);
        st->struct_size = sizeof *st;
        ttshm_reader_status(r, &s);
        ttshm_reader_stats(r, st);
        ttshm_reader_snapshot(r, &v, &n);
        ttshm_reader_lookup(r, 0, TTSHM_DRAM, 0x1000, &e);
        ttshm_reader_lookup(r, 0, TTSHM_DRAM, 0x2000, &e);
        size_t found;
        ttshm_list(reg, NULL, 0, &found);
        free(v);
        free(st);
        ttshm_reader_close(r);
    }
    return 0;
}

static void test_reader_read_only(void)
{
    fresh("ro");
    /* The writer lives in another process, so that the reader's process has
     * no mapping of the segment but its own. */
    int p[2], q[2]; /* p: child -> parent, q: parent -> child */
    CU_ASSERT_FATAL(pipe(p) == 0 && pipe(q) == 0);
    fflush(NULL);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        ttshm_writer *w = NULL;
        if (tu_writer_open(reg, 1024, &w) != 0)
            _exit(1);
        ttshm_record_alloc(w, 0, TTSHM_DRAM, 0x1000, 64, 1);
        if (write(p[1], "r", 1) != 1)
            _exit(1);
        char c;
        if (read(q[0], &c, 1) != 1)
            _exit(1);
        ttshm_writer_close(w);
        _exit(0);
    }
    char c = 0;
    CU_ASSERT_FATAL(read(p[0], &c, 1) == 1 && c == 'r');
    tu_run_child("reader maps read-only", maps_child, NULL, 20);
    CU_ASSERT_EQUAL(write(q[1], "x", 1), 1);
    int status;
    tu_wait_child(pid, 10000, &status);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(p[0]);
    close(p[1]);
    close(q[0]);
    close(q[1]);

    /* On a closed segment nothing changes: bytes, times, objects. */
    char tpath[256];
    CU_ASSERT_FATAL(table_path(tpath, sizeof tpath));
    size_t hl = 0, tl = 0, hl2 = 0, tl2 = 0;
    unsigned char *h0 = tu_read_file(hpath, &hl), *t0 = tu_read_file(tpath, &tl);
    struct stat sh0, st0, sh1, st1;
    CU_ASSERT_FATAL(h0 && t0 && stat(hpath, &sh0) == 0 && stat(tpath, &st0) == 0);
    int objects = ttshm_test_count_objects(reg);
    tu_run_child("reader writes nothing", writes_nothing_child, NULL, 20);
    unsigned char *h1 = tu_read_file(hpath, &hl2), *t1 = tu_read_file(tpath, &tl2);
    CU_ASSERT_FATAL(h1 && t1 && stat(hpath, &sh1) == 0 && stat(tpath, &st1) == 0);
    CU_ASSERT(hl == hl2 && memcmp(h0, h1, hl) == 0);
    CU_ASSERT(tl == tl2 && memcmp(t0, t1, tl) == 0);
    CU_ASSERT(sh0.st_mtim.tv_sec == sh1.st_mtim.tv_sec &&
              sh0.st_mtim.tv_nsec == sh1.st_mtim.tv_nsec);
    CU_ASSERT(st0.st_mtim.tv_sec == st1.st_mtim.tv_sec &&
              st0.st_mtim.tv_nsec == st1.st_mtim.tv_nsec);
    CU_ASSERT_EQUAL(ttshm_test_count_objects(reg), objects);
    free(h0);
    free(t0);
    free(h1);
    free(t1);
    ttshm_test_unlink_registry(reg);
}

int main(void)
{
    static const struct ttshm_test_case cases[] = {
        {"created_0600_or_0640_whatever_the_umask", test_created_modes},
        {"refuse_group_or_world_writable", test_refuse_writable_by_others},
        {"accept_own_group_readable", test_accept_own_group_readable},
        {"refuse_other_owner", test_refuse_other_owner},
        {"no_symlink_followed", test_no_symlink_followed},
        {"refusal_reported_once_insecure_slot_skipped", test_reported_once},
        {"reader_read_only", test_reader_read_only},
    };
    TTSHM_TEST_SUITE("permissions", cases);
    int rc = ttshm_test_run();
    ttshm_test_unlink_own_registries();
    return rc;
}
