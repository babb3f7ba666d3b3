/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Security promises:
 *  - readers map read-only and write nothing: every ttshm mapping of a reader
 *    process is without 'w' in /proc/self/maps, cannot be made writable
 *    (mprotect fails: the objects are opened O_RDONLY), a write through it
 *    faults, and the objects' bytes and times are unchanged by reading;
 *  - segments are private: 0600 (0640 when configured), also the tables made
 *    by growth, whatever the umask;
 *  - the writer refuses what it does not own or what others can write: a
 *    header pre-created by another user (root and non-root victims), one
 *    writable by group or others, table names squatted by another user, a
 *    symlink planted under the segment's name -- never writing into them;
 *  - registry names from the environment are validated ('/', '..', length,
 *    characters): the writer fails with -TTSHM_E_INVAL, the default writer is
 *    NULL and says so once on stderr, and nothing is created.
 * Tests needing a second uid skip with a reason when not run as root.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "reliability/common.h"
#include "ttshm/reader.h"
#include "ttshm/writer.h"

#define NOBODY 65534 /* the other user (the attacker) */
#define VICTIM 4242  /* an ordinary user (the writer), when we are root */

/* A closed segment with a few entries, made in a child. */
static void make_segment(const char *reg, unsigned n, uint32_t mode)
{
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        ttshm_writer *w;
        struct ttshm_writer_config cfg = {
            .struct_size = sizeof cfg, .name = reg, .initial_slots = 1024, .mode = mode};
        if (ttshm_writer_open(&cfg, &w) != 0)
            _exit(2);
        for (unsigned i = 0; i < n; i++)
            ttshm_record_alloc(w, 0, TTSHM_DRAM, 0x1000 + (uint64_t)i * 64, 64, i);
        ttshm_writer_close(w);
        _exit(0);
    }
    int st;
    rel_wait_child(pid, 30000, &st);
    CU_ASSERT_FATAL(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* ---- readers cannot write ---- */

struct mapping {
    uintptr_t lo, hi;
    char perms[8];
    char path[256];
};

static size_t ttshm_mappings(const char *reg, struct mapping *out, size_t max)
{
    char want[128];
    snprintf(want, sizeof want, "/dev/shm/ttshm.%s.", reg);
    FILE *f = fopen("/proc/self/maps", "r");
    if (f == NULL)
        return 0;
    char line[1024];
    size_t n = 0;
    while (fgets(line, sizeof line, f)) {
        char *p = strstr(line, want);
        if (p == NULL || n >= max)
            continue;
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, out[n].perms) != 3)
            continue;
        out[n].lo = lo;
        out[n].hi = hi;
        snprintf(out[n].path, sizeof out[n].path, "%s", p);
        out[n].path[strcspn(out[n].path, "\n")] = '\0';
        n++;
    }
    fclose(f);
    return n;
}

#define FAULT_EXIT 42
static void on_fault(int sig)
{
    (void)sig;
    _exit(FAULT_EXIT);
}

static void reader_cannot_write_child(const char *reg)
{
#define FAIL(...)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "security: " __VA_ARGS__);                                                 \
        fputc('\n', stderr);                                                                       \
        _exit(1);                                                                                  \
    } while (0)
    char seg[96];
    snprintf(seg, sizeof seg, "ttshm.%s.0", reg);
    ttshm_reader *r;
    if (ttshm_reader_open(seg, &r) != 0)
        FAIL("reader open");
    struct ttshm_entry *e = NULL;
    size_t n = 0;
    struct ttshm_status st = {.struct_size = sizeof st};
    if (ttshm_reader_snapshot(r, &e, &n) != 0 || n != 8 || ttshm_reader_status(r, &st) != 0)
        FAIL("reader snapshot/status");
    free(e);
    struct mapping m[16];
    size_t nm = ttshm_mappings(reg, m, 16);
    if (nm < 2)
        FAIL("expected the header and a table mapped, found %zu mappings", nm);
    bool header = false, table = false;
    for (size_t i = 0; i < nm; i++) {
        fprintf(stderr, "security: reader mapping %s %s\n", m[i].perms, m[i].path);
        if (strchr(m[i].perms, 'w') != NULL)
            FAIL("reader mapping %s is writable (%s)", m[i].path, m[i].perms);
        const char *last = strrchr(m[i].path, '.');
        if (last != NULL && last[1] == 't')
            table = true;
        else
            header = true;
        /* A shared mapping of an O_RDONLY descriptor can never become writable. */
        if (mprotect((void *)m[i].lo, m[i].hi - m[i].lo, PROT_READ | PROT_WRITE) == 0)
            FAIL("mprotect(PROT_WRITE) on the reader's mapping of %s succeeded: the object was "
                 "not opened read-only",
                 m[i].path);
        if (errno != EACCES)
            FAIL("mprotect failed with %s, expected EACCES", strerror(errno));
        /* And a store through it faults. */
        pid_t pid = fork();
        if (pid == 0) {
            /* our own handler: sanitizers would otherwise report and exit */
            struct sigaction sa = {.sa_handler = on_fault};
            sigaction(SIGSEGV, &sa, NULL);
            sigaction(SIGBUS, &sa, NULL);
            *(volatile unsigned char *)m[i].lo = 0x5a;
            _exit(0);
        }
        int ws;
        rel_wait_child(pid, 10000, &ws);
        bool faulted = (WIFEXITED(ws) && WEXITSTATUS(ws) == FAULT_EXIT) ||
                       (WIFSIGNALED(ws) && (WTERMSIG(ws) == SIGSEGV || WTERMSIG(ws) == SIGBUS));
        if (!faulted)
            FAIL("a store through the reader's mapping of %s did not fault", m[i].path);
    }
    if (!header || !table)
        FAIL("header mapped: %d, table mapped: %d", header, table);
    /* Descriptors the reader keeps are read-only. */
    for (int fd = 0; fd < 1024; fd++) {
        char link[64], target[512];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t l = readlink(link, target, sizeof target - 1);
        if (l <= 0)
            continue;
        target[l] = '\0';
        if (strstr(target, "/dev/shm/ttshm.") == NULL)
            continue;
        int fl = fcntl(fd, F_GETFL);
        if ((fl & O_ACCMODE) != O_RDONLY)
            FAIL("reader descriptor %d on %s is not O_RDONLY", fd, target);
    }
    ttshm_reader_close(r);
    _exit(0);
#undef FAIL
}

static void test_reader_cannot_write(void)
{
    char reg[48];
    ttshm_test_registry(reg, "rdonly");
    make_segment(reg, 8, 0);
    /* What a reader can do, it does without the right to write... */
    char h[128];
    snprintf(h, sizeof h, "/dev/shm/ttshm.%s.0", reg);
    int fd = open(h, O_RDONLY);
    CU_ASSERT_FATAL(fd >= 0);
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CU_ASSERT(p == MAP_FAILED && errno == EACCES);
    close(fd);
    /* ...and changes nothing. */
    struct rel_obj before[8], after[8];
    size_t nb = rel_list_objects(reg, before, 8);
    unsigned char *bytes_before[8];
    size_t len_before[8];
    struct stat sb_before[8];
    for (size_t i = 0; i < nb; i++) {
        CU_ASSERT_FATAL(rel_read_object(before[i].name, &bytes_before[i], &len_before[i]) == 0);
        char path[300];
        stat(rel_shm_path(path, sizeof path, before[i].name), &sb_before[i]);
    }
    pid_t pid = fork();
    if (pid == 0)
        reader_cannot_write_child(reg);
    int st;
    rel_wait_child(pid, 30000, &st);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    size_t na = rel_list_objects(reg, after, 8);
    CU_ASSERT_EQUAL(na, nb);
    for (size_t i = 0; i < nb && i < na; i++) {
        unsigned char *b;
        size_t len;
        char path[300];
        struct stat sb;
        CU_ASSERT_FATAL(rel_read_object(before[i].name, &b, &len) == 0);
        stat(rel_shm_path(path, sizeof path, before[i].name), &sb);
        CU_ASSERT(len == len_before[i] && memcmp(b, bytes_before[i], len) == 0);
        CU_ASSERT(sb.st_mtim.tv_sec == sb_before[i].st_mtim.tv_sec &&
                  sb.st_mtim.tv_nsec == sb_before[i].st_mtim.tv_nsec);
        free(b);
        free(bytes_before[i]);
    }
    ttshm_test_unlink_registry(reg);
}

/* ---- segment modes ---- */

static void modes_child(const char *reg, uint32_t mode, mode_t umask_value)
{
    umask(umask_value);
    ttshm_writer *w;
    struct ttshm_writer_config cfg = {
        .struct_size = sizeof cfg, .name = reg, .initial_slots = 1024, .mode = mode};
    if (ttshm_writer_open(&cfg, &w) != 0)
        _exit(2);
    /* Grow a few times: new table objects must get the same mode. */
    for (unsigned i = 0; i < 6000; i++)
        ttshm_record_alloc(w, 0, TTSHM_DRAM, (uint64_t)i * 64, 64, 0);
    struct rel_obj o[8];
    size_t n = rel_list_objects(reg, o, 8);
    mode_t want = mode ? (mode_t)mode : 0600;
    int bad = 0;
    for (size_t i = 0; i < n && i < 8; i++) {
        fprintf(stderr, "security: mode %04o umask %03o: %s is %04o, owner %u\n", mode,
                (unsigned)umask_value, o[i].name, (unsigned)(o[i].mode & 07777),
                (unsigned)o[i].uid);
        if ((o[i].mode & 07777) != want || o[i].uid != geteuid())
            bad = 1;
    }
    ttshm_writer_close(w);
    _exit(bad ? 1 : n >= 2 ? 0 : 3);
}

static void test_segment_modes(void)
{
    static const struct {
        uint32_t mode;
        mode_t umask;
    } cases[] = {{0, 022}, {0, 0}, {0640, 0}, {0640, 027}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char reg[48], tag[16];
        snprintf(tag, sizeof tag, "mode%zu", k);
        ttshm_test_registry(reg, tag);
        pid_t pid = fork();
        if (pid == 0)
            modes_child(reg, cases[k].mode, cases[k].umask);
        int st;
        rel_wait_child(pid, 30000, &st);
        CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        ttshm_test_unlink_registry(reg);
    }
}

/* ---- foreign and insecure objects ---- */

static bool am_root(const char *what)
{
    if (geteuid() == 0)
        return true;
    fprintf(stderr, "security: SKIP %s: needs root to act as a second user (uid %d)\n", what,
            NOBODY);
    return false;
}

/* Runs fn(arg) in a child as uid; returns its exit status. */
static int as_user(uid_t uid, void (*fn)(const char *), const char *arg)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (setgroups(0, NULL) != 0 || setgid(uid) != 0 || setuid(uid) != 0)
            _exit(99);
        fn(arg);
        _exit(0);
    }
    int st;
    rel_wait_child(pid, 30000, &st);
    return st;
}

static const char *plant_name;
static mode_t plant_mode;
static void plant(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        _exit(2);
    char junk[8192];
    memset(junk, 0x5a, sizeof junk);
    if (write(fd, junk, sizeof junk) != (ssize_t)sizeof junk || fchmod(fd, plant_mode) != 0)
        _exit(3);
    close(fd);
    (void)plant_name;
}

struct fingerprint {
    bool exists;
    uid_t uid;
    mode_t mode;
    off_t size;
    ino_t ino;
    uint64_t hash;
};

static struct fingerprint fingerprint(const char *path)
{
    struct fingerprint f = {0};
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return f;
    f.exists = true;
    f.uid = sb.st_uid;
    f.mode = sb.st_mode;
    f.size = sb.st_size;
    f.ino = sb.st_ino;
    int fd = open(path, O_RDONLY | O_NOFOLLOW);
    if (fd >= 0) {
        unsigned char buf[4096];
        ssize_t n;
        f.hash = 1469598103934665603ull;
        while ((n = read(fd, buf, sizeof buf)) > 0)
            for (ssize_t i = 0; i < n; i++)
                f.hash = (f.hash ^ buf[i]) * 1099511628211ull;
        close(fd);
    }
    return f;
}

static bool same(const struct fingerprint *a, const struct fingerprint *b)
{
    return a->exists == b->exists && a->uid == b->uid && a->mode == b->mode && a->size == b->size &&
           a->ino == b->ino && a->hash == b->hash;
}

/* The victim's writer: tries the registry; exits 0 if it did not use slot 0
 * (refused with ACCESS/INSECURE, or took another slot), 1 if it took slot 0. */
static const char *victim_reg;
static void victim(const char *expect_fail_codes)
{
    (void)expect_fail_codes;
    ttshm_writer *w = NULL;
    struct ttshm_writer_config cfg = {.struct_size = sizeof cfg, .name = victim_reg};
    int rc = ttshm_writer_open(&cfg, &w);
    if (rc != 0) {
        fprintf(stderr, "security: victim uid %u: writer_open refused: %s\n", (unsigned)getuid(),
                ttshm_strerror(rc));
        _exit(rc == -TTSHM_E_ACCESS || rc == -TTSHM_E_INSECURE ? 0 : 10 + -rc);
    }
    const char *name = ttshm_writer_segment_name(w);
    fprintf(stderr, "security: victim uid %u: writer_open took %s\n", (unsigned)getuid(), name);
    size_t len = strlen(name);
    bool slot0 = len >= 2 && strcmp(name + len - 2, ".0") == 0;
    ttshm_record_alloc(w, 0, TTSHM_DRAM, 0x1000, 64, 0);
    ttshm_writer_close(w);
    _exit(slot0 ? 1 : 0);
}

static void check_refused(const char *what, uid_t owner, mode_t mode, uid_t victim_uid)
{
    char reg[48], path[128];
    ttshm_test_registry(reg, "foreign");
    ttshm_test_unlink_registry(reg);
    snprintf(path, sizeof path, "/dev/shm/ttshm.%s.0", reg);
    plant_mode = mode;
    int st = as_user(owner, plant, path);
    CU_ASSERT_FATAL(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    struct fingerprint before = fingerprint(path);
    victim_reg = reg;
    st = as_user(victim_uid, victim, NULL);
    struct fingerprint after = fingerprint(path);
    char buf[64];
    bool ok = WIFEXITED(st) && WEXITSTATUS(st) == 0 && same(&before, &after);
    fprintf(stderr, "security: %s (owner %u, mode %04o, victim uid %u): %s, object %s\n", what,
            (unsigned)owner, (unsigned)mode, (unsigned)victim_uid,
            rel_describe_status(st, buf, sizeof buf),
            same(&before, &after) ? "untouched" : "MODIFIED");
    CU_ASSERT(ok);
    ttshm_test_unlink_registry(reg);
}

static void test_refuses_foreign_or_insecure(void)
{
    if (!am_root("foreign-owner tests"))
        return;
    /* Another user's object under our name: root and ordinary victims. */
    check_refused("header pre-created by another user", NOBODY, 0600, 0);
    check_refused("header pre-created by another user, world-writable", NOBODY, 0666, VICTIM);
    check_refused("header pre-created by another user, world-writable", NOBODY, 0666, 0);
    /* Our own object, but others or the group can write it. */
    check_refused("own header writable by others", VICTIM, 0606, VICTIM);
    check_refused("own header writable by the group", VICTIM, 0620, VICTIM);
    check_refused("own header writable by others (root)", 0, 0666, 0);
}

/* Table names squatted by another user before the victim creates them. */
static void test_squatted_tables(void)
{
    if (!am_root("table squatting test"))
        return;
    static const uid_t victims[] = {VICTIM, 0};
    for (size_t v = 0; v < 2; v++) {
        char reg[48], path[8][128];
        ttshm_test_registry(reg, "squat");
        ttshm_test_unlink_registry(reg);
        struct fingerprint fp[8];
        plant_mode = 0666;
        for (int e = 1; e <= 4; e++) {
            snprintf(path[e], sizeof path[e], "/dev/shm/ttshm.%s.0.t%d", reg, e);
            int st = as_user(NOBODY, plant, path[e]);
            CU_ASSERT_FATAL(WIFEXITED(st) && WEXITSTATUS(st) == 0);
            fp[e] = fingerprint(path[e]);
        }
        victim_reg = reg;
        pid_t pid = fork();
        if (pid == 0) {
            if (setgroups(0, NULL) != 0 || setgid(victims[v]) != 0 || setuid(victims[v]) != 0)
                _exit(99);
            ttshm_writer *w;
            struct ttshm_writer_config cfg = {
                .struct_size = sizeof cfg, .name = reg, .initial_slots = 1024};
            int rc = ttshm_writer_open(&cfg, &w);
            fprintf(stderr, "security: squatted tables, victim uid %u: writer_open: %s\n",
                    (unsigned)victims[v], rc ? ttshm_strerror(rc) : "ok");
            if (rc == 0) {
                /* grow through the squatted epochs */
                for (unsigned i = 0; i < 6000; i++)
                    ttshm_record_alloc(w, 0, TTSHM_DRAM, (uint64_t)i * 64, 64, 0);
                ttshm_writer_close(w);
            }
            _exit(0);
        }
        int st;
        rel_wait_child(pid, 30000, &st);
        CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        for (int e = 1; e <= 4; e++) {
            struct fingerprint now = fingerprint(path[e]);
            /* Removed (root may unlink it) or untouched; never written. */
            bool ok = !now.exists || same(&fp[e], &now) || now.ino != fp[e].ino;
            if (now.exists && now.ino == fp[e].ino && !same(&fp[e], &now))
                fprintf(stderr, "security: the victim WROTE INTO the squatted %s\n", path[e]);
            CU_ASSERT(ok);
            /* Whatever exists now under the name is either the squatter's untouched
             * object or the victim's own private one. */
            if (now.exists && now.ino != fp[e].ino)
                CU_ASSERT(now.uid == victims[v] && (now.mode & 077) == 0);
        }
        ttshm_test_unlink_registry(reg);
    }
}

/* A symlink planted under the header's name must not be followed. */
static const char *symlink_target;
static void plant_symlink(const char *path)
{
    if (symlink(symlink_target, path) != 0)
        _exit(2);
}

static void test_symlink_not_followed(void)
{
    if (!am_root("symlink test"))
        return;
    char reg[48], path[128], target[128];
    ttshm_test_registry(reg, "symlink");
    ttshm_test_unlink_registry(reg);
    snprintf(path, sizeof path, "/dev/shm/ttshm.%s.0", reg);
    snprintf(target, sizeof target, "/tmp/ttshm-victim-%d", (int)getpid());
    int fd = open(target, O_RDWR | O_CREAT | O_TRUNC, 0600);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT(write(fd, "precious", 8) == 8);
    CU_ASSERT(fchown(fd, VICTIM, VICTIM) == 0);
    close(fd);
    symlink_target = target;
    int st = as_user(NOBODY, plant_symlink, path);
    CU_ASSERT_FATAL(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    struct fingerprint before = fingerprint(target);
    victim_reg = reg;
    st = as_user(VICTIM, victim, NULL);
    struct fingerprint after = fingerprint(target);
    char buf[64];
    fprintf(stderr, "security: symlink planted as the header: victim %s, target %s\n",
            rel_describe_status(st, buf, sizeof buf),
            same(&before, &after) ? "untouched" : "MODIFIED");
    CU_ASSERT(same(&before, &after));
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) != 1); /* never "took slot 0" through the link */
    unlink(path);
    unlink(target);
    ttshm_test_unlink_registry(reg);
}

/* ---- names from the environment ---- */

/* Nothing was created from a bad name, anywhere it could have pointed. */
static bool created_from(const char *bad)
{
    char path[512];
    struct stat sb;
    snprintf(path, sizeof path, "/dev/shm/ttshm.%s.0", bad);
    if (lstat(path, &sb) == 0)
        return true;
    snprintf(path, sizeof path, "/dev/shm/ttshm.%s", bad);
    return lstat(path, &sb) == 0 || lstat("/tmp/ttshm-escape.0", &sb) == 0 ||
           lstat("/tmp/ttshm-escape", &sb) == 0 || lstat("/dev/shm/ttshm.a", &sb) == 0 ||
           lstat("/dev/shm/ttshm.", &sb) == 0;
}

static void test_env_names(void)
{
    char longname[TTSHM_NAME_MAX + 2];
    memset(longname, 'a', TTSHM_NAME_MAX + 1);
    longname[TTSHM_NAME_MAX + 1] = '\0';
    const char *bad[] = {"a/b",       "..",        "../../tmp/ttshm-escape",
                         "/abs",      "dot.name",  "sp ace",
                         "tab\tname", "new\nline", "pct%s%n",
                         "\xc3\xbc",  longname,    "ttshm.x.0"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        int errp[2];
        CU_ASSERT_FATAL(pipe(errp) == 0);
        pid_t pid = fork();
        if (pid == 0) {
            close(errp[0]);
            dup2(errp[1], 2);
            setenv("TT_SHM_NAME", bad[k], 1);
            unsetenv("TT_SHM_TRACKING");
            ttshm_writer *w = (ttshm_writer *)1;
            struct ttshm_writer_config cfg = {.struct_size = sizeof cfg};
            int rc = ttshm_writer_open(&cfg, &w);
            if (rc != -TTSHM_E_INVAL || w != NULL)
                _exit(1);
            /* The same name given directly. */
            cfg.name = bad[k];
            rc = ttshm_writer_open(&cfg, &w);
            if (rc != -TTSHM_E_INVAL || w != NULL)
                _exit(2);
            if (ttshm_default_writer() != NULL || ttshm_default_writer() != NULL)
                _exit(3);
            if (ttshm_record_alloc(ttshm_default_writer(), 0, TTSHM_DRAM, 1, 1, 0) != TTSHM_OFF)
                _exit(4);
            _exit(0);
        }
        close(errp[1]);
        char out[4096];
        size_t got = 0;
        ssize_t n;
        while (got < sizeof out - 1 && (n = read(errp[0], out + got, sizeof out - 1 - got)) > 0)
            got += (size_t)n;
        out[got] = '\0';
        close(errp[0]);
        int st;
        rel_wait_child(pid, 30000, &st);
        size_t lines = 0;
        for (size_t i = 0; i < got; i++)
            lines += out[i] == '\n';
        fprintf(stderr, "security: TT_SHM_NAME=\"%s\": child %s, stderr %zu line(s): %s",
                k == 10 ? "a x 49" : bad[k], WIFEXITED(st) ? "exited" : "killed", lines,
                got ? out : "(nothing)\n");
        CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        CU_ASSERT_EQUAL(lines, 1);
        CU_ASSERT(!created_from(bad[k]));
    }
    /* The longest valid name works. */
    char reg[TTSHM_NAME_MAX + 1];
    int plen = snprintf(reg, sizeof reg, "v%d_", (int)getpid());
    memset(reg + plen, 'b', TTSHM_NAME_MAX - (size_t)plen);
    reg[TTSHM_NAME_MAX] = '\0';
    pid_t pid = fork();
    if (pid == 0) {
        setenv("TT_SHM_NAME", reg, 1);
        ttshm_writer *w = ttshm_default_writer();
        _exit(w != NULL && ttshm_record_alloc(w, 0, TTSHM_DRAM, 1, 1, 0) == TTSHM_RECORDED ? 0 : 1);
    }
    int st;
    rel_wait_child(pid, 30000, &st);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    ttshm_test_unlink_registry(reg);
}

int main(int argc, char **argv)
{
    rel_parse_args(argc, argv);
    static const struct ttshm_test_case cases[] = {
        {"reader_cannot_write", test_reader_cannot_write},
        {"segments_are_private", test_segment_modes},
        {"refuses_foreign_or_insecure_header", test_refuses_foreign_or_insecure},
        {"squatted_table_names_not_written", test_squatted_tables},
        {"symlink_not_followed", test_symlink_not_followed},
        {"env_names_validated", test_env_names},
    };
    TTSHM_TEST_SUITE("security", cases);
    return ttshm_test_run();
}
