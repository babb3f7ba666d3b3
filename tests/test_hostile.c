/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Hostile segments: the reader treats /dev/shm as untrusted input. Starting
 * from a real segment (a writer that recorded K buffers and closed), each case
 * corrupts one thing (magic, ABI, word size, sizes, offsets, truncation, table
 * object missing / short / forged, slot contents) and a forked child opens and
 * reads it with every reader call. It must get a clear error code (or skip the
 * bad slot), never crash, hang, or return an entry the writer did not write.
 * Children are killed after a timeout, so a hang is a failure too. Run under
 * ASan/UBSan by `make asan`.
 */
#include "test_core_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout.h"

#define K 16 /* buffers in the template segment */

static char reg[48];
static char seg[128];   /* "ttshm.<reg>.0" */
static char hpath[200]; /* its header object */
static char tpath[200]; /* its table object */
static unsigned char *tmpl_hdr, *tmpl_tab;
static size_t hdr_len, tab_len;
static uint64_t tmpl_epoch, tmpl_slots, tmpl_instance;
static uint64_t live_slot[K]; /* table slot index of each buffer */
static struct ttshm_entry tmpl_entry[K];
static int template_ok;

#define E(code) (1u << (code))

enum mode {
    OPEN_FAILS,      /* ttshm_reader_open must fail with a code in `allowed` */
    FAILS_SOMEWHERE, /* open, or else snapshot and lookup, fail with a code in `allowed` */
    WORKS,           /* everything works and returns the K buffers */
    BAD_SLOT,        /* open works; the bad slot is skipped (or snapshot says CORRUPT) */
    FORGED_LISTED,   /* a stable in-range forgery: listed as it reads, nothing skipped */
    ANY,             /* any outcome, as long as nothing crashes, hangs or lies */
};

struct hcase {
    const char *name;
    enum mode mode;
    unsigned allowed;
    int bad_index; /* BAD_SLOT, FORGED_LISTED: which template buffer was spoiled */
};

/* ---- the template ---- */

static void build_template(void)
{
    ttshm_test_registry(reg, "hostile");
    ttshm_test_unlink_registry(reg);
    ttshm_writer *w = NULL;
    CU_ASSERT_EQUAL_FATAL(tu_writer_open(reg, 1024, &w), 0);
    snprintf(seg, sizeof seg, "%s", ttshm_writer_segment_name(w));
    for (int k = 0; k < K; k++) {
        struct ttshm_entry *e = &tmpl_entry[k];
        e->device = (uint32_t)(k % 4);
        e->type = k % 2 ? TTSHM_L1 : TTSHM_DRAM;
        e->address = 0x1000 * (uint64_t)(k + 1);
        e->size = 100 + (uint64_t)k;
        e->tag = tu_tag(e->device, e->type, e->address, e->size);
        CU_ASSERT_EQUAL(ttshm_record_alloc(w, e->device, (enum ttshm_mem_type)e->type, e->address,
                                           e->size, e->tag),
                        TTSHM_RECORDED);
    }
    ttshm_writer_close(w);
    tu_shm_path(hpath, sizeof hpath, seg);
    tmpl_hdr = tu_read_file(hpath, &hdr_len);
    CU_ASSERT_FATAL(tmpl_hdr != NULL && hdr_len >= sizeof(struct ttshm_header));
    const struct ttshm_header *h = (const void *)tmpl_hdr;
    tmpl_epoch = atomic_load_explicit(&h->table_epoch, memory_order_relaxed);
    tmpl_slots = atomic_load_explicit(&h->table_slots, memory_order_relaxed);
    tmpl_instance = atomic_load_explicit(&h->instance_id, memory_order_relaxed);
    CU_ASSERT_EQUAL_FATAL(atomic_load_explicit(&h->old_epoch, memory_order_relaxed), 0);
    char tname[160];
    snprintf(tname, sizeof tname, "%s.t%llu", seg, (unsigned long long)tmpl_epoch);
    tu_shm_path(tpath, sizeof tpath, tname);
    tmpl_tab = tu_read_file(tpath, &tab_len);
    CU_ASSERT_FATAL(tmpl_tab != NULL && tab_len == ttshm_table_bytes(tmpl_slots));
    /* Where each buffer sits. */
    int found = 0;
    _Atomic uint32_t *ctl = ttshm_table_ctl(tmpl_tab);
    struct ttshm_slot *slots = ttshm_table_slots(tmpl_tab, tmpl_slots);
    for (uint64_t i = 0; i < tmpl_slots; i++) {
        uint32_t c = atomic_load_explicit(&ctl[i], memory_order_relaxed);
        if (TTSHM_CTL_STATE(c) != TTSHM_SLOT_LIVE)
            continue;
        uint64_t a = atomic_load_explicit(&slots[i].address, memory_order_relaxed);
        for (int k = 0; k < K; k++)
            if (tmpl_entry[k].address == a) {
                live_slot[k] = i;
                found++;
            }
    }
    CU_ASSERT_EQUAL_FATAL(found, K);
    template_ok = 1;
}

static void restore(void)
{
    CU_ASSERT_FATAL(template_ok); /* the template segment could not be made */
    ttshm_test_unlink_registry(reg);
    CU_ASSERT_EQUAL(tu_write_file(hpath, tmpl_hdr, hdr_len), 0);
    CU_ASSERT_EQUAL(tu_write_file(tpath, tmpl_tab, tab_len), 0);
}

static void pwrite_at(const char *path, uint64_t off, const void *p, size_t n)
{
    int fd = open(path, O_RDWR);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(pwrite(fd, p, n, (off_t)off), (ssize_t)n);
    close(fd);
}

static void hdr32(size_t off, uint32_t v)
{
    pwrite_at(hpath, off, &v, sizeof v);
}

static void hdr64(size_t off, uint64_t v)
{
    pwrite_at(hpath, off, &v, sizeof v);
}

static void tab32(size_t off, uint32_t v)
{
    pwrite_at(tpath, off, &v, sizeof v);
}

static void tab64(size_t off, uint64_t v)
{
    pwrite_at(tpath, off, &v, sizeof v);
}

/* Where template buffer k's slot (a field of it) and control word are. */
static uint64_t slot_off(int k, size_t field)
{
    return ttshm_slots_offset(tmpl_slots) + live_slot[k] * sizeof(struct ttshm_slot) + field;
}

static uint64_t ctl_off(int k)
{
    return TTSHM_CTL_OFFSET + live_slot[k] * sizeof(uint32_t);
}

static uint64_t tmpl_slot(int k, size_t field)
{
    uint64_t v;
    memcpy(&v, tmpl_tab + slot_off(k, field), sizeof v);
    return v;
}

static uint32_t tmpl_ctl(int k)
{
    uint32_t v;
    memcpy(&v, tmpl_tab + ctl_off(k), sizeof v);
    return v;
}

static void truncate_to(const char *path, off_t len)
{
    CU_ASSERT_EQUAL(truncate(path, len), 0);
}

#define HOFF(f) offsetof(struct ttshm_header, f)
#define SOFF(f) offsetof(struct ttshm_slot, f)
#define TOFF(f) offsetof(struct ttshm_table_header, f)

/* ---- the child that reads ---- */

static int tmpl_index(const struct ttshm_entry *e)
{
    for (int k = 0; k < K; k++)
        if (tmpl_entry[k].device == e->device && tmpl_entry[k].type == e->type &&
            tmpl_entry[k].address == e->address && tmpl_entry[k].size == e->size &&
            tmpl_entry[k].tag == e->tag)
            return k;
    return -1;
}

static int in(unsigned allowed, int rc)
{
    return rc < 0 && -rc < 32 && (allowed & E(-rc)) != 0;
}

static int read_child(void *arg, char *msg, size_t len)
{
    const struct hcase *c = arg;
    ttshm_reader *r = NULL;
    int orc = ttshm_reader_open(seg, &r);
    if (orc != 0) {
        if (orc > 0 || r != NULL) {
            snprintf(msg, len, "open returned %d with reader %p", orc, (void *)r);
            return 1;
        }
        if (c->mode == ANY)
            return 0;
        if ((c->mode == OPEN_FAILS || c->mode == FAILS_SOMEWHERE) && in(c->allowed, orc))
            return 0;
        snprintf(msg, len, "open returned %d (%s)", orc, ttshm_strerror(orc));
        return 1;
    }
    if (c->mode == OPEN_FAILS) {
        snprintf(msg, len, "open succeeded");
        ttshm_reader_close(r);
        return 1;
    }
    /* Every call, and sanity of everything returned. */
    struct ttshm_status s = {.struct_size = sizeof s};
    int src = ttshm_reader_status(r, &s);
    if (src == 0 && (s.state > TTSHM_STATE_STARTING || s.previous.state > TTSHM_STATE_STARTING ||
                     strnlen(s.registry, sizeof s.registry) == sizeof s.registry)) {
        snprintf(msg, len, "status: state %u previous.state %u or registry unterminated", s.state,
                 s.previous.state);
        return 1;
    }
    struct ttshm_stats *st = calloc(1, sizeof *st);
    st->struct_size = sizeof *st;
    int strc = ttshm_reader_stats(r, st);
    if (strc == 0 && st->device_count > TTSHM_MAX_DEVICES) {
        snprintf(msg, len, "stats: device_count %u", st->device_count);
        return 1;
    }
    if (strc == 0)
        for (int d = 0; d < TTSHM_MAX_DEVICES; d++)
            for (int t = 0; t < TTSHM_MEM_TYPE_COUNT; t++)
                if (st->dev[d][t].live_count > st->dev[d][t].allocs) {
                    snprintf(msg, len, "stats: live count above allocs (negative)");
                    return 1;
                }
    free(st);
    struct ttshm_entry *v = NULL;
    size_t n = 0;
    int snrc = ttshm_reader_snapshot(r, &v, &n);
    int ours = 0, foreign = 0, bad_seen = 0;
    for (size_t i = 0; snrc == 0 && i < n; i++) {
        if (v[i].device >= TTSHM_MAX_DEVICES || v[i].type >= TTSHM_MEM_TYPE_COUNT) {
            snprintf(msg, len, "snapshot returned device %u type %u", v[i].device, v[i].type);
            return 1;
        }
        int k = tmpl_index(&v[i]);
        if (k < 0)
            foreign++;
        else
            ours++;
        if (k >= 0 && k == c->bad_index)
            bad_seen++;
    }
    free(v);
    uint64_t skipped = ttshm_reader_skipped(r);
    int erc = 0;
    size_t visited = 0;
    {
        struct ttshm_entry *tmp = NULL;
        size_t tn = 0;
        erc = ttshm_reader_snapshot(r, &tmp, &tn);
        visited = tn;
        free(tmp);
    }
    (void)visited;
    int lrc[K];
    int lookups_ok = 0;
    for (int k = 0; k < K; k++) {
        struct ttshm_entry e;
        lrc[k] =
            ttshm_reader_lookup(r, tmpl_entry[k].device, (enum ttshm_mem_type)tmpl_entry[k].type,
                                tmpl_entry[k].address, &e);
        if (lrc[k] == 0) {
            if (e.device != tmpl_entry[k].device || e.type != tmpl_entry[k].type ||
                e.address != tmpl_entry[k].address) {
                snprintf(msg, len, "lookup returned another key");
                return 1;
            }
            if (tmpl_index(&e) == k)
                lookups_ok++;
        }
    }
    struct ttshm_entry e;
    int mrc = ttshm_reader_lookup(r, 5, TTSHM_TRACE, 0xdeadbeef000ull, &e);
    ttshm_reader_close(r);

    switch (c->mode) {
    case ANY:
        return 0;
    case WORKS:
        if (src || strc || snrc || erc || n != K || ours != K || lookups_ok != K ||
            mrc != -TTSHM_E_NOTFOUND || skipped) {
            snprintf(msg, len,
                     "expected a working segment: status %d stats %d snapshot %d (%zu entries, "
                     "%d ours) lookups ok %d/%d, missing-key lookup %d, skipped %llu",
                     src, strc, snrc, n, ours, lookups_ok, K, mrc, (unsigned long long)skipped);
            return 1;
        }
        return 0;
    case FAILS_SOMEWHERE:
        if (in(c->allowed, snrc) && in(c->allowed, erc)) {
            for (int k = 0; k < K; k++)
                if (lrc[k] == 0) {
                    snprintf(msg, len, "snapshot failed (%d) but lookup found buffer %d", snrc, k);
                    return 1;
                }
            return 0;
        }
        snprintf(msg, len, "open succeeded, snapshot returned %d (%zu entries), expected an error",
                 snrc, n);
        return 1;
    case BAD_SLOT:
        if (snrc == -TTSHM_E_CORRUPT)
            return 0;
        if (snrc != 0 || bad_seen || foreign || ours != K - 1 || n != K - 1 || skipped < 1 ||
            lrc[c->bad_index] == 0) {
            snprintf(msg, len,
                     "bad slot: snapshot %d with %zu entries (%d ours, %d foreign, bad one seen "
                     "%d), skipped %llu, lookup of the bad one %d",
                     snrc, n, ours, foreign, bad_seen, (unsigned long long)skipped,
                     lrc[c->bad_index]);
            return 1;
        }
        for (int k = 0; k < K; k++)
            if (k != c->bad_index && lrc[k] != 0) {
                snprintf(msg, len, "bad slot: lookup of good buffer %d returned %d", k, lrc[k]);
                return 1;
            }
        return 0;
    case FORGED_LISTED:
        /* ABI 3 has no check word: a record that is stable, in range and
         * in a LIVE slot is what the writer wrote, as far as a reader can
         * tell. It is listed as it reads (the forged fields), never as the
         * original, and costs no other record anything. */
        if (src || strc || snrc || erc || n != K || ours != K - 1 || foreign != 1 || bad_seen ||
            skipped || lookups_ok != K - 1 || mrc != -TTSHM_E_NOTFOUND) {
            snprintf(msg, len,
                     "forged slot: snapshot %d with %zu entries (%d ours, %d foreign, original "
                     "seen %d), skipped %llu, lookups ok %d/%d, missing-key lookup %d",
                     snrc, n, ours, foreign, bad_seen, (unsigned long long)skipped, lookups_ok, K,
                     mrc);
            return 1;
        }
        return 0;
    case OPEN_FAILS:
        break;
    }
    return 1;
}

static void run_case(const struct hcase *c)
{
    char what[160];
    snprintf(what, sizeof what, "hostile case \"%s\"", c->name);
    tu_run_child(what, read_child, (void *)c, 20);
}

#define CASE(nm, md, al)   (&(struct hcase){nm, md, al, -1})
#define CORRUPT_OR_VERSION (E(TTSHM_E_CORRUPT) | E(TTSHM_E_VERSION))

/* ---- header ---- */

static void test_template_is_readable(void)
{
    restore();
    run_case(CASE("unmodified template", WORKS, 0));
    /* A newer minor version only adds: still readable. */
    restore();
    hdr32(HOFF(abi_minor), TTSHM_ABI_MINOR + 7);
    run_case(CASE("abi minor + 7", WORKS, 0));
}

static void test_bad_magic(void)
{
    restore();
    hdr64(HOFF(magic), 0x0123456789abcdefull);
    run_case(CASE("wrong magic", OPEN_FAILS, E(TTSHM_E_BADMAGIC)));
    restore();
    hdr64(HOFF(magic), TTSHM_TABLE_MAGIC);
    run_case(CASE("table magic in a header", OPEN_FAILS, E(TTSHM_E_BADMAGIC)));
    restore();
    hdr64(HOFF(magic), 0);
    run_case(
        CASE("zero magic (never initialised)", OPEN_FAILS, E(TTSHM_E_BADMAGIC) | E(TTSHM_E_BUSY)));
    /* Not ttshm at all. */
    ttshm_test_unlink_registry(reg);
    unsigned char junk[8192];
    memset(junk, 0xff, sizeof junk);
    CU_ASSERT_EQUAL(tu_write_file(hpath, junk, sizeof junk), 0);
    run_case(CASE("8 KiB of 0xff", OPEN_FAILS, E(TTSHM_E_BADMAGIC)));
    /* The magic right, everything else zero. */
    unsigned char *z = calloc(1, hdr_len);
    memcpy(z, tmpl_hdr, 8);
    CU_ASSERT_EQUAL(tu_write_file(hpath, z, hdr_len), 0);
    free(z);
    run_case(CASE("magic then zeros", OPEN_FAILS, CORRUPT_OR_VERSION));
}

static void test_bad_version(void)
{
    restore();
    hdr32(HOFF(abi_major), TTSHM_ABI_MAJOR + 1);
    run_case(CASE("abi major + 1", OPEN_FAILS, E(TTSHM_E_VERSION)));
    restore();
    hdr32(HOFF(abi_major), 0);
    run_case(CASE("abi major 0", OPEN_FAILS, E(TTSHM_E_VERSION)));
    restore();
    hdr32(HOFF(word_size), 4);
    run_case(CASE("word size 4", OPEN_FAILS, E(TTSHM_E_VERSION)));
    restore();
    hdr32(HOFF(word_size), 16);
    run_case(CASE("word size 16", OPEN_FAILS, E(TTSHM_E_VERSION)));
}

static void test_bad_sizes_and_offsets(void)
{
    static const struct {
        const char *name;
        size_t off;
        uint32_t value;
    } c[] = {
        {"header_size 8", HOFF(header_size), 8},
        {"header_size 1 GiB", HOFF(header_size), 1u << 30},
        {"header_size 0xffffffff", HOFF(header_size), 0xffffffffu},
        {"slot_size 64 (ABI 2)", HOFF(slot_size), 64},
        {"slot_size 16", HOFF(slot_size), 16},
        {"slot_size 0", HOFF(slot_size), 0},
        {"slot_size 1 MiB", HOFF(slot_size), 1u << 20},
        {"max_devices 0", HOFF(max_devices), 0},
        {"max_devices 1M", HOFF(max_devices), 1u << 20},
        {"type_slots 0", HOFF(type_slots), 0},
        {"type_slots 4096", HOFF(type_slots), 4096},
        {"counters_offset past the end", HOFF(counters_offset), 0xfffffff0u},
        {"counters_offset misaligned", HOFF(counters_offset),
         offsetof(struct ttshm_header, counters) + 4},
        {"counters_offset 0", HOFF(counters_offset), 0},
        {"prev_offset past the end", HOFF(prev_offset), 0x7ffffff0u},
        {"prev_offset inside the counters", HOFF(prev_offset),
         offsetof(struct ttshm_header, counters) + 8},
        {"object_size larger than the file", HOFF(object_size), 0x7fffffffu},
        {"object_size 0", HOFF(object_size), 0},
        {"object_size 100", HOFF(object_size), 100},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        restore();
        hdr32(c[i].off, c[i].value);
        run_case(CASE(c[i].name, FAILS_SOMEWHERE, CORRUPT_OR_VERSION));
    }
}

static void test_truncated_header(void)
{
    static const off_t lens[] = {
        0, 4, 7, 8, 47, 48, 200, 4096, (off_t)sizeof(struct ttshm_header) - 64};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        restore();
        truncate_to(hpath, lens[i]);
        char name[64];
        snprintf(name, sizeof name, "header truncated to %lld bytes", (long long)lens[i]);
        run_case(CASE(name, OPEN_FAILS, E(TTSHM_E_BADMAGIC) | E(TTSHM_E_CORRUPT)));
    }
    /* A huge sparse header object: read what is known, no more. */
    restore();
    truncate_to(hpath, (off_t)1 << 36);
    run_case(CASE("header object of 64 GiB (sparse)", ANY, 0));
}

/* ---- the table ---- */

static void test_bad_table_fields(void)
{
    static const struct {
        const char *name;
        uint64_t slots;
    } c[] = {
        {"table_slots 1000 (not a power of two)", 1000},
        {"table_slots 0", 0},
        {"table_slots 1", 1},
        {"table_slots 2^40 (over the maximum)", 1ull << 40},
        {"table_slots 2^63", 1ull << 63},
        {"table_slots 2^29 (larger than the object)", 1ull << 29},
        {"table_slots 2048 (not the object's)", 2048},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        restore();
        hdr64(HOFF(table_slots), c[i].slots);
        run_case(CASE(c[i].name, FAILS_SOMEWHERE, E(TTSHM_E_CORRUPT)));
    }
    restore();
    hdr64(HOFF(table_epoch), 999);
    run_case(CASE("table_epoch names no object", FAILS_SOMEWHERE,
                  E(TTSHM_E_CORRUPT) | E(TTSHM_E_NOENT) | E(TTSHM_E_BUSY)));
    restore();
    hdr64(HOFF(table_epoch), 0);
    run_case(CASE("table_epoch 0", FAILS_SOMEWHERE,
                  E(TTSHM_E_CORRUPT) | E(TTSHM_E_NOENT) | E(TTSHM_E_BUSY)));
    restore();
    hdr64(HOFF(old_epoch), 77);
    hdr64(HOFF(old_slots), 1024);
    run_case(CASE("old_epoch names no object", ANY, 0));
    restore();
    hdr64(HOFF(old_epoch), tmpl_epoch);
    hdr64(HOFF(old_slots), tmpl_slots);
    run_case(CASE("old table is the current table", ANY, 0));
    restore();
    hdr64(HOFF(old_epoch), tmpl_epoch);
    hdr64(HOFF(old_slots), 3);
    run_case(CASE("old_slots 3", ANY, 0));
    restore();
    hdr64(HOFF(seq), 12345); /* odd forever: a writer died mid-change */
    run_case(CASE("seq stuck odd", ANY, 0));
    restore();
    hdr64(HOFF(state), 77);
    run_case(CASE("state 77", ANY, 0));
    restore();
    char name[64];
    memset(name, 'A', sizeof name);
    pwrite_at(hpath, HOFF(registry), name, sizeof name);
    run_case(CASE("registry name not terminated", ANY, 0));
    restore();
    hdr64(HOFF(prev.generation), 5);
    hdr64(HOFF(prev.state), 99);
    run_case(CASE("previous session state 99", ANY, 0));
}

static void test_bad_table_object(void)
{
    restore();
    CU_ASSERT_EQUAL(unlink(tpath), 0);
    run_case(CASE("table object missing", FAILS_SOMEWHERE,
                  E(TTSHM_E_CORRUPT) | E(TTSHM_E_NOENT) | E(TTSHM_E_BUSY)));
    static const off_t lens[] = {0, 32, 64, 64 + 64 * 512};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        restore();
        truncate_to(tpath, lens[i]);
        char nm[64];
        snprintf(nm, sizeof nm, "table object truncated to %lld", (long long)lens[i]);
        run_case(CASE(nm, FAILS_SOMEWHERE, E(TTSHM_E_CORRUPT) | E(TTSHM_E_BADMAGIC)));
    }
    restore();
    tab64(TOFF(magic), TTSHM_HEADER_MAGIC);
    run_case(CASE("table magic wrong", FAILS_SOMEWHERE, E(TTSHM_E_CORRUPT) | E(TTSHM_E_BADMAGIC)));
    restore();
    tab64(TOFF(nslots), tmpl_slots * 2);
    run_case(CASE("table nslots disagrees", FAILS_SOMEWHERE, E(TTSHM_E_CORRUPT)));
    restore();
    tab64(TOFF(slot_size), 128);
    run_case(CASE("table slot_size 128", FAILS_SOMEWHERE, CORRUPT_OR_VERSION));
    restore();
    tab64(TOFF(slot_size), 64);
    run_case(CASE("table slot_size 64 (ABI 2)", FAILS_SOMEWHERE, CORRUPT_OR_VERSION));
    /* The control words and the slots are where the layout puts them: a
     * table saying otherwise is not one this reader can read. */
    const struct {
        const char *name;
        size_t off;
        uint64_t value;
    } offs[] = {
        {"table ctl_offset 0", TOFF(ctl_offset), 0},
        {"table ctl_offset 128", TOFF(ctl_offset), 128},
        {"table slots_offset 64 (ABI 2)", TOFF(slots_offset), 64},
        {"table slots_offset 0", TOFF(slots_offset), 0},
        {"table slots_offset one slot on", TOFF(slots_offset),
         ttshm_slots_offset(tmpl_slots) + sizeof(struct ttshm_slot)},
        {"table slots_offset past the end", TOFF(slots_offset), UINT64_MAX - 63},
    };
    for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
        restore();
        tab64(offs[i].off, offs[i].value);
        run_case(CASE(offs[i].name, FAILS_SOMEWHERE, E(TTSHM_E_CORRUPT)));
    }
    restore();
    tab64(TOFF(instance_id), tmpl_instance ^ 1);
    run_case(
        CASE("table of another session", FAILS_SOMEWHERE, E(TTSHM_E_CORRUPT) | E(TTSHM_E_BUSY)));
    restore();
    tab64(TOFF(epoch), tmpl_epoch + 1);
    run_case(CASE("table epoch disagrees", FAILS_SOMEWHERE, E(TTSHM_E_CORRUPT) | E(TTSHM_E_BUSY)));
    /* The header object itself given as a table. */
    restore();
    CU_ASSERT_EQUAL(tu_write_file(tpath, tmpl_hdr, hdr_len), 0);
    run_case(
        CASE("header object as table", FAILS_SOMEWHERE, E(TTSHM_E_CORRUPT) | E(TTSHM_E_BADMAGIC)));
}

/* ---- slots ---- */

static void test_bad_slots(void)
{
    /* Forged: a type out of range in a stable LIVE slot (the 6 device
     * bits cannot name a device past TTSHM_MAX_DEVICES, the 3 type bits
     * can name type 7), and control words no writer stores. */
    restore();
    {
        int k = 5;
        uint64_t key = tmpl_slot(k, SOFF(key));
        tab64(slot_off(k, SOFF(key)), TTSHM_KEY(TTSHM_KEY_DEVICE(key), 7, TTSHM_KEY_SIZE(key)));
        run_case(&(struct hcase){"forged slot: type 7", BAD_SLOT, 0, k});
    }
    for (unsigned st = 5; st <= 7; st++) {
        restore();
        uint32_t c = tmpl_ctl(3);
        tab32(ctl_off(3), ttshm_ctl_next(c, st, TTSHM_CTL_FRAG(c)));
        char nm[48];
        snprintf(nm, sizeof nm, "slot in state %u", st);
        run_case(&(struct hcase){nm, BAD_SLOT, 0, 3});
    }

    /* Stable, in range, forged: listed as it reads (FORGED_LISTED). */
    restore();
    tab64(slot_off(4, SOFF(key)), tmpl_slot(4, SOFF(key)) + 1); /* size + 1 */
    run_case(&(struct hcase){"forged slot: size changed", FORGED_LISTED, 0, 4});
    restore();
    {
        uint64_t key = tmpl_slot(4, SOFF(key));
        tab64(slot_off(4, SOFF(key)), TTSHM_KEY(63, TTSHM_KEY_TYPE(key), TTSHM_KEY_SIZE(key)));
        run_case(&(struct hcase){"forged slot: device 63", FORGED_LISTED, 0, 4});
    }
    restore();
    tab64(slot_off(2, SOFF(tag)), tmpl_slot(2, SOFF(tag)) ^ 0x10);
    run_case(&(struct hcase){"forged slot: tag changed", FORGED_LISTED, 0, 2});

    /* Left half-written by a writer that died: skipped after bounded retries. */
    restore();
    {
        uint32_t c = tmpl_ctl(6);
        tab32(ctl_off(6), ttshm_ctl_next(c, TTSHM_SLOT_BUSY, TTSHM_CTL_FRAG(c)));
        run_case(&(struct hcase){"slot left BUSY", BAD_SLOT, 0, 6});
    }

    /* MOVING is live (being copied to a new table that a dead writer never
     * named): listed and found like LIVE. */
    restore();
    {
        uint32_t c = tmpl_ctl(7);
        tab32(ctl_off(7), ttshm_ctl_next(c, TTSHM_SLOT_MOVING, TTSHM_CTL_FRAG(c)));
        run_case(CASE("slot MOVING with no migration", WORKS, 0));
    }

    /* A LIVE slot's hash fragment that disagrees with its key: scans list
     * it, lookups (which compare the fragment first) do not find it. */
    restore();
    {
        uint32_t c = tmpl_ctl(8);
        tab32(ctl_off(8), ttshm_ctl_next(c, TTSHM_SLOT_LIVE, (TTSHM_CTL_FRAG(c) + 1) & 0x7f));
        run_case(CASE("slot with a wrong hash fragment", ANY, 0));
    }
}

/* Every slot LIVE (or TOMB) with junk: probes must end, scans must not lie. */
static void fill_table(unsigned state, int junk)
{
    restore();
    unsigned char *t = malloc(tab_len);
    memcpy(t, tmpl_tab, tab_len);
    unsigned char *ctl = t + TTSHM_CTL_OFFSET, *s = t + ttshm_slots_offset(tmpl_slots);
    struct tu_rng rng;
    tu_rng_seed(&rng, 99);
    for (uint64_t i = 0; i < tmpl_slots; i++) {
        uint64_t f[4];
        for (int j = 0; j < 4; j++)
            f[j] = junk ? tu_rng_next(&rng) : 0;
        memcpy(s + i * sizeof(struct ttshm_slot), f, sizeof f);
        /* Any fragment: a probe meets slots of its own fragment too. */
        uint32_t c = ((uint32_t)(i + 1) << 10) | (uint32_t)(i % 128) << 3 | state;
        memcpy(ctl + i * sizeof c, &c, sizeof c);
    }
    CU_ASSERT_EQUAL(tu_write_file(tpath, t, tab_len), 0);
    free(t);
}

static void test_full_tables(void)
{
    fill_table(TTSHM_SLOT_LIVE, 1);
    run_case(CASE("every slot LIVE with junk", ANY, 0));
    fill_table(TTSHM_SLOT_TOMB, 0);
    run_case(CASE("every slot a tombstone", ANY, 0));
    fill_table(TTSHM_SLOT_BUSY, 1);
    run_case(CASE("every slot BUSY", ANY, 0));
}

/* ---- objects changed under an open reader ---- */

static int shrink_child(void *arg, char *msg, size_t len)
{
    int which = *(int *)arg;
    ttshm_reader *r = NULL;
    int rc = ttshm_reader_open(seg, &r);
    if (rc != 0) {
        snprintf(msg, len, "open returned %d", rc);
        return 1;
    }
    struct ttshm_entry *v = NULL;
    size_t n = 0;
    if ((rc = ttshm_reader_snapshot(r, &v, &n)) != 0 || n != K) {
        snprintf(msg, len, "snapshot before: %d, %zu entries", rc, n);
        return 1;
    }
    free(v);
    if (truncate(which ? tpath : hpath, 4096) != 0)
        return 1;
    struct ttshm_status s = {.struct_size = sizeof s};
    struct ttshm_stats *st = calloc(1, sizeof *st);
    st->struct_size = sizeof *st;
    struct ttshm_entry e;
    int a = ttshm_reader_status(r, &s);
    int b = ttshm_reader_stats(r, st);
    int c = ttshm_reader_snapshot(r, &v, &n);
    int d = ttshm_reader_lookup(r, tmpl_entry[0].device, (enum ttshm_mem_type)tmpl_entry[0].type,
                                tmpl_entry[0].address, &e);
    ttshm_reader_close(r);
    free(st);
    /* The header shrunk: every call says so. The table shrunk: reads of it do. */
    if (which == 0 && (a != -TTSHM_E_CORRUPT || b != -TTSHM_E_CORRUPT || c != -TTSHM_E_CORRUPT ||
                       d != -TTSHM_E_CORRUPT)) {
        snprintf(msg, len,
                 "header shrunk under the reader: status %d stats %d snapshot %d "
                 "lookup %d (want -%d)",
                 a, b, c, d, TTSHM_E_CORRUPT);
        return 1;
    }
    if (which == 1 && (c != -TTSHM_E_CORRUPT || d != -TTSHM_E_CORRUPT)) {
        snprintf(msg, len, "table shrunk under the reader: snapshot %d lookup %d (want -%d)", c, d,
                 TTSHM_E_CORRUPT);
        return 1;
    }
    return 0;
}

static void test_shrunk_under_reader(void)
{
    int which = 0;
    restore();
    tu_run_child("header object shrunk under an open reader", shrink_child, &which, 20);
    which = 1;
    restore();
    tu_run_child("table object shrunk under an open reader", shrink_child, &which, 20);
}

/* ---- not regular files, odd names ---- */

static int open_name_child(void *arg, char *msg, size_t len)
{
    const char *name = arg;
    ttshm_reader *r = NULL;
    int rc = ttshm_reader_open(name, &r);
    if (rc >= 0) {
        snprintf(msg, len, "ttshm_reader_open(\"%s\") returned %d", name, rc);
        ttshm_reader_close(r);
        return 1;
    }
    return 0;
}

static int list_child(void *arg, char *msg, size_t len)
{
    (void)arg;
    struct ttshm_segment_info info[16];
    for (int i = 0; i < 16; i++)
        info[i].struct_size = sizeof info[i];
    size_t found = 0;
    int rc = ttshm_list(reg, info, 16, &found);
    if (rc != 0) {
        snprintf(msg, len, "ttshm_list returned %d", rc);
        return 1;
    }
    for (size_t i = 0; i < found && i < 16; i++) {
        if (strcmp(info[i].registry, reg) != 0 || info[i].slot > TTSHM_MAX_SLOTS) {
            snprintf(msg, len, "ttshm_list returned \"%s\" slot %u", info[i].segment, info[i].slot);
            return 1;
        }
        ttshm_reader *r = NULL;
        if (ttshm_reader_open(info[i].segment, &r) == 0)
            ttshm_reader_close(r);
    }
    return 0;
}

static void test_odd_objects(void)
{
    restore();
    char path[256], name[160];
    /* A FIFO, a directory, a symlink to a real file, a symlink to the segment. */
    snprintf(name, sizeof name, "ttshm.%s.5", reg);
    tu_shm_path(path, sizeof path, name);
    CU_ASSERT_EQUAL(mkfifo(path, 0600), 0);
    tu_run_child("reader_open on a FIFO (must not block in open(2))", open_name_child, name, 5);
    snprintf(name, sizeof name, "ttshm.%s.6", reg);
    tu_shm_path(path, sizeof path, name);
    CU_ASSERT_EQUAL(mkdir(path, 0700), 0);
    tu_run_child("reader_open on a directory", open_name_child, name, 10);
    snprintf(name, sizeof name, "ttshm.%s.7", reg);
    tu_shm_path(path, sizeof path, name);
    CU_ASSERT_EQUAL(symlink(hpath, path), 0);
    tu_run_child("reader_open on a symlink", open_name_child, name, 10);
    /* Malformed names next to them. */
    static const char *odd[] = {"x", "99999999999999999999", "-1", "0x1", "1.t", ""};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        snprintf(name, sizeof name, "ttshm.%s.%s", reg, odd[i]);
        tu_shm_path(path, sizeof path, name);
        CU_ASSERT_EQUAL(tu_write_file(path, tmpl_hdr, 64), 0);
    }
    /* What a monitor does: list, then open each one listed. */
    tu_run_child("ttshm_list, then open each listed, over odd objects", list_child, NULL, 5);
    static const char *bad_names[] = {"",
                                      "/",
                                      "ttshm",
                                      "ttshm..0",
                                      "../../etc/passwd",
                                      "ttshm.x/../../../etc/passwd.0",
                                      "ttshm.hostile.0.t1",
                                      "ttshm.a.99999999999999999999"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        char what[160];
        snprintf(what, sizeof what, "reader_open(\"%s\")", bad_names[i]);
        tu_run_child(what, open_name_child, (void *)bad_names[i], 10);
    }
    /* Entries of a real registry's table object opened as a segment. */
    const char *tname = strrchr(tpath, '/') + 1;
    tu_run_child("reader_open on a table object", open_name_child, (void *)tname, 10);
    ttshm_reader *r = NULL;
    CU_ASSERT_EQUAL(ttshm_reader_open(NULL, &r), -TTSHM_E_INVAL);
    CU_ASSERT_EQUAL(ttshm_reader_open(seg, NULL), -TTSHM_E_INVAL);
    CU_ASSERT_EQUAL(ttshm_reader_status(NULL, NULL), -TTSHM_E_INVAL);
    CU_ASSERT_EQUAL(ttshm_reader_snapshot(NULL, NULL, NULL), -TTSHM_E_INVAL);
    ttshm_test_unlink_registry(reg);
    snprintf(name, sizeof name, "ttshm.%s.6", reg);
    tu_shm_path(path, sizeof path, name);
    rmdir(path);
}

/* ---- the writer meets junk under its own name ---- */

static int writer_junk_child(void *arg, char *msg, size_t len)
{
    (void)arg;
    ttshm_writer *w = NULL;
    int rc = tu_writer_open(reg, 1024, &w);
    if (rc == 0) {
        /* It took a slot over (or another one): it must work. */
        if (ttshm_record_alloc(w, 0, TTSHM_DRAM, 1, 1, 0) != TTSHM_RECORDED) {
            snprintf(msg, len, "writer opened but could not record");
            return 1;
        }
        ttshm_reader *r = NULL;
        struct ttshm_entry e;
        if (ttshm_reader_open(ttshm_writer_segment_name(w), &r) != 0 ||
            ttshm_reader_lookup(r, 0, TTSHM_DRAM, 1, &e) != 0) {
            snprintf(msg, len, "writer opened but a reader cannot see its record");
            return 1;
        }
        ttshm_reader_close(r);
        ttshm_writer_close(w);
    } else if (w != NULL) {
        snprintf(msg, len, "open failed (%d) but returned a writer", rc);
        return 1;
    }
    return 0;
}

static int writer_zero_child(void *arg, char *msg, size_t len)
{
    int rc = writer_junk_child(arg, msg, len);
    if (rc)
        return rc;
    ttshm_writer *w = NULL;
    rc = tu_writer_open(reg, 1024, &w);
    if (rc != 0) {
        snprintf(msg, len,
                 "a zero-length header object left by a writer that died while "
                 "creating it blocks the registry: open returned %d",
                 rc);
        return 1;
    }
    ttshm_writer_close(w);
    return 0;
}

static void test_writer_meets_junk(void)
{
    /* A zero-length object: a writer died between creating and sizing it. */
    ttshm_test_unlink_registry(reg);
    CU_ASSERT_EQUAL(tu_write_file(hpath, "", 0), 0);
    tu_run_child("writer over a zero-length header object", writer_zero_child, NULL, 20);
    static const off_t lens[] = {5, 100, 4096};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        restore();
        truncate_to(hpath, lens[i]);
        char what[96];
        snprintf(what, sizeof what, "writer over a header truncated to %lld", (long long)lens[i]);
        tu_run_child(what, writer_junk_child, NULL, 20);
    }
    restore();
    hdr32(HOFF(abi_major), 9);
    tu_run_child("writer over a header of ABI 9", writer_junk_child, NULL, 20);
    restore();
    hdr32(HOFF(object_size), 0x7fffffff);
    tu_run_child("writer over a header claiming 2 GiB", writer_junk_child, NULL, 20);
    restore();
    hdr64(HOFF(seq), 12345);
    hdr64(HOFF(generation), UINT64_MAX);
    tu_run_child("writer over a header with seq odd, generation max", writer_junk_child, NULL, 20);
    ttshm_test_unlink_registry(reg);
    unsigned char junk[4096];
    memset(junk, 0x5a, sizeof junk);
    CU_ASSERT_EQUAL(tu_write_file(hpath, junk, sizeof junk), 0);
    tu_run_child("writer over 4 KiB of junk", writer_junk_child, NULL, 20);
    ttshm_test_unlink_registry(reg);
}

/* ---- random corruption ---- */

static void test_fuzz(void)
{
#if defined(TTSHM_TSAN)
    const int rounds = 60;
#else
    const int rounds = 200;
#endif
    struct tu_rng rng;
    tu_rng_seed(&rng, 2024);
    for (int i = 0; i < rounds; i++) {
        restore();
        int flips = 1 + (int)tu_rng_below(&rng, 8);
        for (int f = 0; f < flips; f++) {
            uint64_t where = tu_rng_below(&rng, 5);
            unsigned char b = (unsigned char)tu_rng_next(&rng);
            if (where == 0) /* fixed part, identity, table fields */
                pwrite_at(hpath, tu_rng_below(&rng, HOFF(device_ident) + 64), &b, 1);
            else if (where == 1) /* anywhere in the header object */
                pwrite_at(hpath, tu_rng_below(&rng, hdr_len), &b, 1);
            else if (where == 2) /* the table header */
                pwrite_at(tpath, tu_rng_below(&rng, 64), &b, 1);
            else if (where == 3) /* a live slot */
                pwrite_at(tpath,
                          slot_off((int)tu_rng_below(&rng, K),
                                   tu_rng_below(&rng, sizeof(struct ttshm_slot))),
                          &b, 1);
            else /* a live slot's control word */
                pwrite_at(tpath, ctl_off((int)tu_rng_below(&rng, K)) + tu_rng_below(&rng, 4), &b,
                          1);
        }
        char name[64];
        snprintf(name, sizeof name, "fuzz round %d (seed 2024)", i);
        struct hcase c = {name, ANY, 0, -1};
        if (tu_run_child(name, read_child, &c, 20) != 0)
            break;
    }
}

int main(void)
{
    static const struct ttshm_test_case cases[] = {
        {"make_template_segment", build_template},
        {"template_is_readable", test_template_is_readable},
        {"bad_magic", test_bad_magic},
        {"bad_abi_version_or_word_size", test_bad_version},
        {"bad_sizes_and_offsets", test_bad_sizes_and_offsets},
        {"truncated_header", test_truncated_header},
        {"bad_table_fields_in_header", test_bad_table_fields},
        {"bad_table_object", test_bad_table_object},
        {"bad_slots", test_bad_slots},
        {"full_tables_bounded", test_full_tables},
        {"objects_shrunk_under_reader", test_shrunk_under_reader},
        {"odd_objects_and_names", test_odd_objects},
        {"writer_meets_junk", test_writer_meets_junk},
        {"random_corruption", test_fuzz},
    };
    TTSHM_TEST_SUITE("hostile", cases);
    int rc = ttshm_test_run();
    ttshm_test_unlink_own_registries();
    ttshm_test_unlink_registry(reg);
    free(tmpl_hdr);
    free(tmpl_tab);
    return rc;
}
