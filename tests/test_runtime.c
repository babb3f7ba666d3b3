/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The calls a real runtime needs beyond alloc/free: CBs with an owner, bulk
 * frees of a device (one type or all, also while the table grows), device
 * identity, and header objects of older ABIs left alone.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "layout.h"
#include "test_core_util.h"

static char reg[48];

static int setup(const char *tag, uint64_t slots, ttshm_writer **w, ttshm_reader **r)
{
    ttshm_test_registry(reg, tag);
    ttshm_test_unlink_registry(reg);
    *r = NULL;
    int rc = tu_writer_open(reg, slots, w);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    rc = ttshm_reader_open(ttshm_writer_segment_name(*w), r);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    return 0;
}

static void teardown(ttshm_writer *w, ttshm_reader *r)
{
    ttshm_reader_close(r);
    ttshm_writer_close(w);
    ttshm_test_unlink_registry(reg);
}

static struct ttshm_stats *stats(ttshm_reader *r)
{
    static struct ttshm_stats st;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    CU_ASSERT_EQUAL(ttshm_reader_stats(r, &st), 0);
    return &st;
}

/* Live entries of (device, type) in a snapshot: count, and bytes in *bytes. */
static size_t live(ttshm_reader *r, uint32_t device, unsigned type, uint64_t *bytes)
{
    struct ttshm_entry *v;
    size_t n, count = 0;
    *bytes = 0;
    CU_ASSERT_EQUAL_FATAL(ttshm_reader_snapshot(r, &v, &n), 0);
    for (size_t i = 0; i < n; i++)
        if (v[i].device == device && v[i].type == type) {
            count++;
            *bytes += v[i].size;
        }
    free(v);
    return count;
}

/* Three programs' CBs start at the same L1 base, as TT-Metal lays them out:
 * destroying one program frees its CBs and only its CBs. */
static void test_cb_owners(void)
{
    ttshm_writer *w;
    ttshm_reader *r;
    setup("owner", 1024, &w, &r);
    for (uint64_t prog = 1; prog <= 3; prog++)
        for (uint64_t i = 0; i < 4; i++)
            CU_ASSERT_EQUAL(
                ttshm_record_alloc(w, 0, TTSHM_CB, 0x10000 + i * 0x1000, 100 * prog, prog),
                TTSHM_RECORDED);
    uint64_t bytes;
    CU_ASSERT_EQUAL(live(r, 0, TTSHM_CB, &bytes), 12);
    CU_ASSERT_EQUAL(bytes, 4 * (100 + 200 + 300));

    /* Program 2 destroyed. */
    for (uint64_t i = 0; i < 4; i++)
        CU_ASSERT_EQUAL(ttshm_record_free_cb(w, 0, 0x10000 + i * 0x1000, 2), TTSHM_RECORDED);
    CU_ASSERT_EQUAL(live(r, 0, TTSHM_CB, &bytes), 8);
    CU_ASSERT_EQUAL(bytes, 4 * (100 + 300));
    struct ttshm_stats *st = stats(r);
    CU_ASSERT_EQUAL(st->dev[0][TTSHM_CB].live_bytes, 4 * (100 + 300));
    CU_ASSERT_EQUAL(st->dev[0][TTSHM_CB].live_count, 8);
    CU_ASSERT_EQUAL(st->dev[0][TTSHM_CB].unknown_frees, 0);

    struct ttshm_entry e;
    CU_ASSERT_EQUAL(ttshm_reader_lookup_cb(r, 0, 0x11000, 2, &e), -TTSHM_E_NOTFOUND);
    CU_ASSERT_EQUAL(ttshm_reader_lookup_cb(r, 0, 0x11000, 3, &e), 0);
    CU_ASSERT(e.size == 300 && e.tag == 3 && e.type == TTSHM_CB);
    /* The same CB twice, or one of an owner that has none there: unknown. */
    CU_ASSERT_EQUAL(ttshm_record_free_cb(w, 0, 0x10000, 2), TTSHM_UNKNOWN);
    CU_ASSERT_EQUAL(ttshm_record_free_cb(w, 0, 0x10000, 9), TTSHM_UNKNOWN);
    /* ttshm_record_free of a CB names owner 0. */
    CU_ASSERT_EQUAL(ttshm_record_alloc(w, 0, TTSHM_CB, 0x10000, 7, 0), TTSHM_RECORDED);
    CU_ASSERT_EQUAL(ttshm_record_free(w, 0, TTSHM_CB, 0x10000), TTSHM_RECORDED);
    CU_ASSERT_EQUAL(ttshm_reader_lookup_cb(r, 0, 0x10000, 1, &e), 0);

    /* The old call still frees every CB of the device, whatever its owner. */
    CU_ASSERT_EQUAL(ttshm_record_free_cbs(w, 0), TTSHM_RECORDED);
    CU_ASSERT_EQUAL(live(r, 0, TTSHM_CB, &bytes), 0);
    st = stats(r);
    CU_ASSERT_EQUAL(st->dev[0][TTSHM_CB].live_count, 0);
    CU_ASSERT_EQUAL(st->dev[0][TTSHM_CB].bulk_freed, 8);
    CU_ASSERT_EQUAL(st->dev[0][TTSHM_CB].frees, 13);
    teardown(w, r);
}

/* deallocate_buffers(device) and device close: everything of a device, or
 * of one type, freed at once; nothing else touched; no false leaks. */
static void test_free_all(void)
{
    ttshm_writer *w;
    ttshm_reader *r;
    setup("freeall", 1024, &w, &r);
    for (uint32_t dev = 1; dev <= 2; dev++)
        for (uint64_t i = 0; i < 100; i++) {
            CU_ASSERT_EQUAL(ttshm_record_alloc(w, dev, TTSHM_DRAM, 0x100000 * i, 1000, i),
                            TTSHM_RECORDED);
            CU_ASSERT_EQUAL(ttshm_record_alloc(w, dev, TTSHM_L1, 0x1000 * i, 10, i),
                            TTSHM_RECORDED);
        }
    CU_ASSERT_EQUAL(ttshm_record_free(w, 1, TTSHM_DRAM, 0), TTSHM_RECORDED);

    CU_ASSERT_EQUAL(ttshm_record_free_all(w, 1, TTSHM_DRAM), TTSHM_RECORDED);
    uint64_t bytes;
    CU_ASSERT_EQUAL(live(r, 1, TTSHM_DRAM, &bytes), 0);
    CU_ASSERT_EQUAL(live(r, 1, TTSHM_L1, &bytes), 100);
    CU_ASSERT_EQUAL(live(r, 2, TTSHM_DRAM, &bytes), 100);
    struct ttshm_stats *st = stats(r);
    CU_ASSERT_EQUAL(st->dev[1][TTSHM_DRAM].live_bytes, 0);
    CU_ASSERT_EQUAL(st->dev[1][TTSHM_DRAM].frees, 100);
    CU_ASSERT_EQUAL(st->dev[1][TTSHM_DRAM].bulk_freed, 99);
    CU_ASSERT_EQUAL(st->dev[1][TTSHM_L1].live_count, 100);
    CU_ASSERT_EQUAL(st->dev[2][TTSHM_DRAM].live_count, 100);

    /* A freed address is free: a new buffer there is no duplicate, and a
     * late free of a bulk-freed buffer is an unknown free. */
    CU_ASSERT_EQUAL(ttshm_record_free(w, 1, TTSHM_DRAM, 0x100000), TTSHM_UNKNOWN);
    CU_ASSERT_EQUAL(ttshm_record_alloc(w, 1, TTSHM_DRAM, 0x200000, 5, 1), TTSHM_RECORDED);
    struct ttshm_entry e;
    CU_ASSERT_EQUAL(ttshm_reader_lookup(r, 1, TTSHM_DRAM, 0x200000, &e), 0);
    CU_ASSERT_EQUAL(e.size, 5);
    CU_ASSERT_EQUAL(ttshm_record_free(w, 1, TTSHM_DRAM, 0x200000), TTSHM_RECORDED);

    /* Device close: every type of device 1. */
    CU_ASSERT_EQUAL(ttshm_record_free_all(w, 1, TTSHM_ALL_TYPES), TTSHM_RECORDED);
    CU_ASSERT_EQUAL(live(r, 1, TTSHM_L1, &bytes), 0);
    st = stats(r);
    CU_ASSERT_EQUAL(st->dev[1][TTSHM_L1].live_count, 0);
    CU_ASSERT_EQUAL(st->dev[1][TTSHM_L1].bulk_freed, 100);
    CU_ASSERT_EQUAL(st->dev[2][TTSHM_L1].live_count, 100);

    CU_ASSERT_EQUAL(ttshm_record_free_all(w, 1, 7), TTSHM_DROPPED);
    CU_ASSERT_EQUAL(ttshm_record_free_all(w, 1, -2), TTSHM_DROPPED);
    CU_ASSERT_EQUAL(ttshm_record_free_all(w, TTSHM_MAX_DEVICES, TTSHM_ALL_TYPES), TTSHM_DROPPED);
    CU_ASSERT_EQUAL(ttshm_record_free_all(NULL, 1, TTSHM_DRAM), TTSHM_OFF);
    teardown(w, r);
}

/* Bulk-freed records leave slots behind: they are reused, and growth drops
 * them instead of moving them, so the table and the counters keep agreeing. */
static void test_free_all_then_growth(void)
{
    ttshm_writer *w;
    ttshm_reader *r;
    setup("fagrow", 1024, &w, &r);
    for (int round = 0; round < 6; round++) {
        for (uint64_t i = 0; i < 3000; i++)
            CU_ASSERT_EQUAL(ttshm_record_alloc(w, 3, TTSHM_DRAM, 0x1000 * i, 64, i),
                            TTSHM_RECORDED);
        uint64_t bytes;
        CU_ASSERT_EQUAL(live(r, 3, TTSHM_DRAM, &bytes), 3000);
        CU_ASSERT_EQUAL(stats(r)->dev[3][TTSHM_DRAM].live_count, 3000);
        CU_ASSERT_EQUAL(ttshm_record_free_all(w, 3, TTSHM_DRAM), TTSHM_RECORDED);
        CU_ASSERT_EQUAL(live(r, 3, TTSHM_DRAM, &bytes), 0);
        CU_ASSERT_EQUAL(stats(r)->dev[3][TTSHM_DRAM].live_count, 0);
    }
    struct ttshm_stats *st = stats(r);
    CU_ASSERT_EQUAL(st->dev[3][TTSHM_DRAM].duplicate_allocs, 0);
    CU_ASSERT_EQUAL(st->dev[3][TTSHM_DRAM].dropped, 0);
    teardown(w, r);
}

/* A free-all while a growth is moving records from the old table to the new
 * one: the sweep takes the old table first and waits out records being
 * moved, so no record of the device escapes into the new table, and every
 * record of another device is still there, once. */
static void test_free_all_during_migration(void)
{
    ttshm_writer *w;
    ttshm_reader *r;
    setup("famig", 1024, &w, &r);
    struct ttshm_status st = {.struct_size = sizeof st};
    uint64_t i = 0;
    /* Two devices, until a growth has begun (3/4 of 1024 slots used). */
    do {
        CU_ASSERT_EQUAL(ttshm_record_alloc(w, 5, TTSHM_DRAM, 0x1000 * i, 64, i), TTSHM_RECORDED);
        CU_ASSERT_EQUAL(ttshm_record_alloc(w, 6, TTSHM_DRAM, 0x1000 * i, 32, i), TTSHM_RECORDED);
        i++;
        CU_ASSERT_EQUAL_FATAL(ttshm_reader_status(r, &st), 0);
    } while (st.migrating_slots == 0 && i < 4096);
    CU_ASSERT_FATAL(st.migrating_slots != 0);
    CU_ASSERT_EQUAL(ttshm_record_free_all(w, 5, TTSHM_ALL_TYPES), TTSHM_RECORDED);
    /* Finish the migration with more recording calls of device 6. */
    for (uint64_t j = 0; j < 200; j++)
        CU_ASSERT_EQUAL(ttshm_record_free(w, 6, TTSHM_DRAM, 0x1000 * (i + j)), TTSHM_UNKNOWN);
    uint64_t bytes;
    CU_ASSERT_EQUAL(live(r, 5, TTSHM_DRAM, &bytes), 0);
    CU_ASSERT_EQUAL(live(r, 6, TTSHM_DRAM, &bytes), i);
    CU_ASSERT_EQUAL(bytes, 32 * i);
    struct ttshm_stats *s2 = stats(r);
    CU_ASSERT_EQUAL(s2->dev[5][TTSHM_DRAM].live_count, 0);
    CU_ASSERT_EQUAL(s2->dev[5][TTSHM_DRAM].bulk_freed, i);
    CU_ASSERT_EQUAL(s2->dev[6][TTSHM_DRAM].live_count, i);
    /* Each freed address can be used again, with no duplicate found. */
    for (uint64_t j = 0; j < i; j++)
        CU_ASSERT_EQUAL(ttshm_record_alloc(w, 5, TTSHM_DRAM, 0x1000 * j, 64, j), TTSHM_RECORDED);
    CU_ASSERT_EQUAL(stats(r)->dev[5][TTSHM_DRAM].duplicate_allocs, 0);
    teardown(w, r);
}

static void test_device_identity(void)
{
    ttshm_writer *w;
    ttshm_reader *r;
    setup("ident", 1024, &w, &r);
    struct ttshm_stats *st = stats(r);
    CU_ASSERT_EQUAL(st->device_count, 0);
    CU_ASSERT_EQUAL(st->identity[3].unique_id, 0);
    CU_ASSERT_STRING_EQUAL(st->identity[3].name, "");

    CU_ASSERT_EQUAL(ttshm_publish_device(w, 3, 0x8a1b2c3d4e5f6071ull, "0000:04:00.0 wormhole_b0"),
                    TTSHM_RECORDED);
    st = stats(r);
    CU_ASSERT_EQUAL(st->device_count, 4); /* a published device counts as present */
    CU_ASSERT_EQUAL(st->identity[3].unique_id, 0x8a1b2c3d4e5f6071ull);
    CU_ASSERT_STRING_EQUAL(st->identity[3].name, "0000:04:00.0 wormhole_b0");
    CU_ASSERT_EQUAL(st->identity[2].unique_id, 0);

    /* Cut at TTSHM_DEVICE_NAME_MAX; unprintable bytes shown as '?'; NULL: no name. */
    char longname[100];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    CU_ASSERT_EQUAL(ttshm_publish_device(w, 5, 1, longname), TTSHM_RECORDED);
    CU_ASSERT_EQUAL(ttshm_publish_device(w, 6, 2, "bad\x01name"), TTSHM_RECORDED);
    CU_ASSERT_EQUAL(ttshm_publish_device(w, 3, 7, NULL), TTSHM_RECORDED);
    st = stats(r);
    CU_ASSERT_EQUAL(strlen(st->identity[5].name), TTSHM_DEVICE_NAME_MAX);
    CU_ASSERT_STRING_EQUAL(st->identity[6].name, "bad?name");
    CU_ASSERT_EQUAL(st->identity[3].unique_id, 7);
    CU_ASSERT_STRING_EQUAL(st->identity[3].name, "");
    CU_ASSERT_EQUAL(ttshm_publish_device(w, TTSHM_MAX_DEVICES, 1, "x"), TTSHM_DROPPED);
    CU_ASSERT_EQUAL(ttshm_publish_device(NULL, 0, 1, "x"), TTSHM_OFF);
    teardown(w, r);
}

/* A reader never sees an identity mixed from two publications. */
struct republisher {
    ttshm_writer *w;
    _Atomic int stop;
};

static void *republish(void *arg)
{
    struct republisher *p = arg;
    for (uint64_t i = 0; !atomic_load(&p->stop); i++)
        ttshm_publish_device(p->w, 1, (i & 1) ? 0x1111111111111111ull : 0x2222222222222222ull,
                             (i & 1) ? "one-one-one-one-one-one-one-one-one-one-one"
                                     : "two-two-two-two-two-two-two-two-two-two-two");
    return NULL;
}

static void test_device_identity_never_torn(void)
{
    ttshm_writer *w;
    ttshm_reader *r;
    setup("identtorn", 1024, &w, &r);
    struct republisher p = {w, 0};
    pthread_t t;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, republish, &p), 0);
    int mixed = 0, seen = 0;
    for (int i = 0; i < 20000; i++) {
        struct ttshm_stats *st = stats(r);
        const struct ttshm_device_identity *id = &st->identity[1];
        if (id->unique_id == 0)
            continue; /* not published yet, or a writer mid-publication past the tries */
        seen++;
        bool one = id->unique_id == 0x1111111111111111ull &&
                   strcmp(id->name, "one-one-one-one-one-one-one-one-one-one-one") == 0;
        bool two = id->unique_id == 0x2222222222222222ull &&
                   strcmp(id->name, "two-two-two-two-two-two-two-two-two-two-two") == 0;
        mixed += !one && !two;
    }
    atomic_store(&p.stop, 1);
    pthread_join(t, NULL);
    CU_ASSERT(seen > 0);
    CU_ASSERT_EQUAL(mixed, 0);
    teardown(w, r);
}

/* A header object of an older segment ABI under our first slot (ABI 1's is
 * smaller than ours, ABI 2's larger): the writer records in the next slot
 * and leaves that object exactly as it was, for the tools of its ABI. */
static void older_abi_header(uint32_t abi_major, size_t object_size)
{
    ttshm_test_registry(reg, "oldabi");
    ttshm_test_unlink_registry(reg);
    char path[256], name[128];
    snprintf(name, sizeof name, "ttshm.%s.0", reg);
    tu_shm_path(path, sizeof path, name);
    unsigned char *old = calloc(1, object_size);
    uint64_t magic = TTSHM_HEADER_MAGIC;
    uint32_t abi[2] = {abi_major, 0};
    memcpy(old, &magic, sizeof magic);
    memcpy(old + 8, abi, sizeof abi);
    CU_ASSERT_EQUAL_FATAL(tu_write_file(path, old, object_size), 0);
    ttshm_writer *w = NULL;
    CU_ASSERT_EQUAL_FATAL(tu_writer_open(reg, 1024, &w), 0);
    char expect[128];
    snprintf(expect, sizeof expect, "ttshm.%s.1", reg);
    CU_ASSERT_STRING_EQUAL(ttshm_writer_segment_name(w), expect);
    size_t len = 0;
    unsigned char *now = tu_read_file(path, &len);
    CU_ASSERT_EQUAL(len, object_size);
    CU_ASSERT(now != NULL && memcmp(now, old, object_size) == 0);
    free(now);
    free(old);
    ttshm_writer_close(w);
    ttshm_test_unlink_registry(reg);
}

static void test_older_abi_header_left_as_is(void)
{
    older_abi_header(1, 69632); /* the sizes those ABIs' header objects had */
    older_abi_header(2, 77824);
}

/* A writer that died with buffers live; then a takeover that summarised it,
 * zeroed the counters and failed before its session began (here: its first
 * table does not fit under RLIMIT_FSIZE). The next writer must keep that
 * summary, not summarise the zeroed counters as "died with nothing live". */
static void test_failed_takeover_keeps_summary(void)
{
    ttshm_test_registry(reg, "failtake");
    ttshm_test_unlink_registry(reg);
    pid_t a = fork();
    CU_ASSERT_FATAL(a >= 0);
    if (a == 0) {
        ttshm_writer *w = NULL;
        if (tu_writer_open(reg, 1024, &w) != 0)
            _exit(1);
        for (uint64_t i = 0; i < 500; i++)
            ttshm_record_alloc(w, 2, TTSHM_DRAM, i << 12, 100, i);
        raise(SIGKILL);
    }
    int status;
    CU_ASSERT_EQUAL(waitpid(a, &status, 0), a);
    CU_ASSERT(WIFSIGNALED(status));

    pid_t b = fork();
    CU_ASSERT_FATAL(b >= 0);
    if (b == 0) {
        struct rlimit rl = {TTSHM_HEADER_OBJECT_SIZE + 4096, TTSHM_HEADER_OBJECT_SIZE + 4096};
        signal(SIGXFSZ, SIG_IGN);
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
            _exit(2);
        ttshm_writer *w = NULL;
        /* A first table of 4,096 slots (256 KiB) does not fit: it must fail. */
        _exit(tu_writer_open(reg, 4096, &w) == 0 ? 3 : 0);
    }
    CU_ASSERT_EQUAL(waitpid(b, &status, 0), b);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    ttshm_writer *w = NULL;
    CU_ASSERT_EQUAL_FATAL(tu_writer_open(reg, 1024, &w), 0);
    char expect[128];
    snprintf(expect, sizeof expect, "ttshm.%s.0", reg);
    CU_ASSERT_STRING_EQUAL(ttshm_writer_segment_name(w), expect);
    CU_ASSERT_EQUAL(ttshm_writer_generation(w), 2);
    ttshm_reader *r = NULL;
    CU_ASSERT_EQUAL_FATAL(ttshm_reader_open(ttshm_writer_segment_name(w), &r), 0);
    struct ttshm_status st = {.struct_size = sizeof st};
    CU_ASSERT_EQUAL(ttshm_reader_status(r, &st), 0);
    CU_ASSERT_EQUAL(st.previous.generation, 1);
    CU_ASSERT_EQUAL(st.previous.pid, (uint32_t)a);
    CU_ASSERT_EQUAL(st.previous.state, TTSHM_STATE_DIED);
    CU_ASSERT_EQUAL(st.previous.live_count, 500);
    CU_ASSERT_EQUAL(st.previous.live_bytes, 50000);
    CU_ASSERT_EQUAL(st.previous.device_live_count[2], 500);
    teardown(w, r);
}

int main(void)
{
    static const struct ttshm_test_case cases[] = {
        {"cb_owners", test_cb_owners},
        {"free_all", test_free_all},
        {"free_all_then_growth", test_free_all_then_growth},
        {"free_all_during_migration", test_free_all_during_migration},
        {"device_identity", test_device_identity},
        {"device_identity_never_torn", test_device_identity_never_torn},
        {"older_abi_header_left_as_is", test_older_abi_header_left_as_is},
        {"failed_takeover_keeps_summary", test_failed_takeover_keeps_summary},
    };
    TTSHM_TEST_SUITE("runtime", cases);
    int rc = ttshm_test_run();
    ttshm_test_unlink_own_registries();
    return rc;
}
