/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the reader's open / validate / iterate path. The input
 * (format in fuzz_reader.h) becomes a header object and table objects in
 * /dev/shm under a registry of this process; then everything a monitor does
 * runs on it: ttshm_list, open, status, stats, snapshot, foreach, lookup,
 * skipped. Optionally the objects are truncated, grown or replaced while the
 * reader has them open, or shrunk while it reads them (in a foreach), and
 * everything runs again. Objects may be sparse.
 *
 * Beyond "no crash, no hang" (ASan+UBSan, libFuzzer's -timeout), the results
 * must keep the API's promises; a broken one aborts like a crash:
 * error codes in range, states in range, counters never negative, entries
 * with a valid device/type, lookups returning the key asked for, foreach and
 * snapshot agreeing on a segment that does not change.
 */
#include "fuzz_reader.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "layout.h"
#include "ttshm/reader.h"

#define PROMISE(c)                                                                                 \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_reader: broken promise: %s (%s:%d)\n", #c, __FILE__, __LINE__);  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define MAX_OBJECT (8u << 20) /* we never write objects larger than this */

#ifdef FUZZ_NO_SLEEP
/* In the libFuzzer binary only: the reader's bounded retries sleep between
 * tries (a hostile header can cost it ~0.2 s per call); here they spin through
 * the same tries without sleeping, so the fuzzer spends its time on inputs,
 * not on waiting. The retry counts, and so the paths taken, are unchanged. */
int nanosleep(const struct timespec *req, struct timespec *rem);
int nanosleep(const struct timespec *req, struct timespec *rem)
{
    (void)req;
    if (rem)
        rem->tv_sec = rem->tv_nsec = 0;
    return 0;
}
#endif

static char registry[48];

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t field_u64(const uint8_t *h, size_t hlen, size_t off)
{
    uint64_t v = 0;
    if (off + 8 <= hlen)
        memcpy(&v, h + off, 8);
    return v;
}

static void object_path(char *buf, size_t len, const char *suffix)
{
    snprintf(buf, len, "/dev/shm/ttshm.%s.0%s", registry, suffix);
}

/* Writes n bytes, then pads the object to `padded` bytes with zeros: holes
 * when sparse (no memory behind them), else allocated as a writer does. */
static int write_object(const char *path, const uint8_t *p, size_t n, size_t padded, bool sparse)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, p + done, n - done);
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    if (padded > n && padded <= MAX_OBJECT) {
        (void)!ftruncate(fd, (off_t)padded);
        if (!sparse)
            (void)!posix_fallocate(fd, 0, (off_t)padded);
    }
    close(fd);
    return 0;
}

static int ok_code(int rc)
{
    return rc == 0 || (rc <= -TTSHM_E_INVAL && rc >= -TTSHM_E_NOTFOUND);
}

struct each_ctx {
    size_t n;
};

static int each(const struct ttshm_entry *e, void *arg)
{
    struct each_ctx *c = arg;
    PROMISE(e->device < TTSHM_MAX_DEVICES && e->type < TTSHM_MEM_TYPE_COUNT);
    c->n++;
    return 0;
}

/* Orders by key: (device, type, address) for an ordinary buffer, the whole
 * entry for a CB (several live CB records may share device, address, owner). */
static int by_key(const void *a, const void *b)
{
    const struct ttshm_entry *x = a, *y = b;
    if (x->device != y->device)
        return x->device < y->device ? -1 : 1;
    if (x->type != y->type)
        return x->type < y->type ? -1 : 1;
    if (x->address != y->address)
        return x->address < y->address ? -1 : 1;
    if (x->type != TTSHM_CB)
        return 0;
    uint64_t kx[] = {x->tag, x->size, x->timestamp_ns, x->tid};
    uint64_t ky[] = {y->tag, y->size, y->timestamp_ns, y->tid};
    for (int i = 0; i < 4; i++)
        if (kx[i] != ky[i])
            return kx[i] < ky[i] ? -1 : 1;
    return 0;
}

static bool has_duplicate_keys(const struct ttshm_entry *e, size_t n)
{
    struct ttshm_entry *v = malloc(n * sizeof *v);
    PROMISE(v != NULL);
    memcpy(v, e, n * sizeof *v);
    qsort(v, n, sizeof *v, by_key);
    bool dup = false;
    for (size_t i = 1; i < n && !dup; i++)
        dup = by_key(&v[i - 1], &v[i]) == 0;
    free(v);
    return dup;
}

/* Everything a monitor does with an open reader. stable: nothing changes the
 * objects meanwhile, so results must agree with each other. */
static void exercise(ttshm_reader *r, int stable)
{
    struct ttshm_status st = {.struct_size = sizeof st};
    int rc = ttshm_reader_status(r, &st);
    PROMISE(ok_code(rc));
    if (rc == 0) {
        PROMISE(st.state <= TTSHM_STATE_STARTING);
        PROMISE(st.previous.state <= TTSHM_STATE_STARTING);
        PROMISE(memchr(st.registry, '\0', sizeof st.registry) != NULL);
        (void)ttshm_state_name((enum ttshm_writer_state)st.state);
    }
    struct ttshm_stats *s = calloc(1, sizeof *s);
    if (s == NULL)
        return;
    s->struct_size = sizeof *s;
    rc = ttshm_reader_stats(r, s);
    PROMISE(ok_code(rc));
    if (rc == 0) {
        PROMISE(s->device_count <= TTSHM_MAX_DEVICES);
        for (unsigned d = 0; d < TTSHM_MAX_DEVICES; d++)
            for (unsigned t = 0; t < TTSHM_MEM_TYPE_COUNT; t++) {
                const struct ttshm_counters *c = &s->dev[d][t];
                /* "Counters never go negative" */
                PROMISE(c->frees <= c->allocs);
                PROMISE(c->live_count <= c->allocs);
                PROMISE(c->live_bytes <= c->alloc_bytes);
            }
    }
    free(s);

    struct ttshm_entry *e = NULL;
    size_t n = 0;
    rc = ttshm_reader_snapshot(r, &e, &n);
    PROMISE(ok_code(rc));
    if (rc == 0) {
        PROMISE(n == 0 || e != NULL);
        for (size_t i = 0; i < n; i++)
            PROMISE(e[i].device < TTSHM_MAX_DEVICES && e[i].type < TTSHM_MEM_TYPE_COUNT);
        (void)ttshm_reader_skipped(r);
        struct each_ctx c = {0};
        int frc = ttshm_reader_foreach(r, each, &c);
        PROMISE(ok_code(frc));
        /* The same entries, each key once: a forged table may hold a key
         * twice, which only a snapshot taken under churn deduplicates. */
        if (stable && frc == 0)
            PROMISE(c.n == n || (c.n < n && has_duplicate_keys(e, n)));
    }
    /* Lookups: of entries the snapshot returned, and of keys that are not there. */
    for (size_t i = 0; i < 4; i++) {
        struct ttshm_entry out;
        uint32_t dev = rc == 0 && n ? e[(i * 31) % n].device : (uint32_t)i;
        uint32_t type = rc == 0 && n ? e[(i * 31) % n].type : (uint32_t)i % 7;
        uint64_t addr = rc == 0 && n ? e[(i * 31) % n].address : 0x1000 * i;
        int lr = ttshm_reader_lookup(r, dev, (enum ttshm_mem_type)type, addr, &out);
        PROMISE(ok_code(lr));
        if (lr == 0)
            PROMISE(out.device == dev && out.type == type && out.address == addr);
        if (stable && rc == 0 && n && lr != 0)
            PROMISE(lr == -TTSHM_E_NOTFOUND || lr == -TTSHM_E_CORRUPT || lr == -TTSHM_E_BUSY);
    }
    struct ttshm_entry out;
    PROMISE(ok_code(ttshm_reader_lookup(r, 99, TTSHM_DRAM, 0, &out)));
    PROMISE(ok_code(ttshm_reader_lookup(r, 0, (enum ttshm_mem_type)99, 0, &out)));
    free(e);
}

/* A foreach whose first entry shrinks an object the reader is reading. */
struct shrink_ctx {
    const char *path;
    off_t size;
    size_t seen;
};

static int shrink_at_first(const struct ttshm_entry *e, void *arg)
{
    struct shrink_ctx *c = arg;
    PROMISE(e->device < TTSHM_MAX_DEVICES && e->type < TTSHM_MEM_TYPE_COUNT);
    if (c->seen++ == 0)
        (void)!truncate(c->path, c->size);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (registry[0] == '\0')
        snprintf(registry, sizeof registry, "fz%ld", (long)getpid());
    uint8_t flags = size > 0 ? data[0] : 0, arg = size > 1 ? data[1] : 0;
#ifdef TTSHM_TSAN
    /* A SIGBUS taken inside ThreadSanitizer's own atomic-load hook kills the
     * process before the reader's guard can act: the shrinking-object inputs
     * run in the plain and ASan builds, the data-race checks here. */
    flags &= (uint8_t)~FUZZ_F_SHRINK;
#endif
    size_t hlen = size >= FUZZ_HDR_BYTES ? le32(data + 4) : 0;
    size_t tlen = size >= FUZZ_HDR_BYTES ? le32(data + 8) : 0;
    size_t olen = size >= FUZZ_HDR_BYTES ? le32(data + 12) : 0;
    const uint8_t *p = data + (size >= FUZZ_HDR_BYTES ? FUZZ_HDR_BYTES : size);
    size_t left = size - (size_t)(p - data);
    hlen = hlen < left ? hlen : left;
    left -= hlen;
    tlen = tlen < left ? tlen : left;
    left -= tlen;
    olen = olen < left ? olen : left;

    /* The header, with the placeholder registry replaced by ours. */
    uint8_t *h = malloc(hlen ? hlen : 1);
    if (h == NULL)
        return 0;
    memcpy(h, p, hlen);
    size_t roff = offsetof(struct ttshm_header, registry);
    if (hlen >= roff + sizeof FUZZ_REGISTRY_PLACEHOLDER &&
        memcmp(h + roff, FUZZ_REGISTRY_PLACEHOLDER, sizeof FUZZ_REGISTRY_PLACEHOLDER) == 0) {
        memset(h + roff, 0, hlen - roff < 64 ? hlen - roff : 64);
        memcpy(h + roff, registry, strlen(registry) < hlen - roff ? strlen(registry) : hlen - roff);
    }
    uint64_t epoch = field_u64(h, hlen, offsetof(struct ttshm_header, table_epoch));
    uint64_t slots = field_u64(h, hlen, offsetof(struct ttshm_header, table_slots));
    uint64_t old_epoch = field_u64(h, hlen, offsetof(struct ttshm_header, old_epoch));
    uint64_t old_slots = field_u64(h, hlen, offsetof(struct ttshm_header, old_slots));

    char hpath[160], tpath[160], opath[160], suffix[48];
    object_path(hpath, sizeof hpath, "");
    tpath[0] = opath[0] = '\0';
    bool sparse = flags & FUZZ_F_SPARSE;
    write_object(hpath, h, hlen, (flags & FUZZ_F_PAD_HEADER) ? TTSHM_HEADER_OBJECT_SIZE : 0,
                 sparse);
    if (epoch != 0) {
        snprintf(suffix, sizeof suffix, ".t%llu", (unsigned long long)epoch);
        object_path(tpath, sizeof tpath, suffix);
        write_object(tpath, p + hlen, tlen,
                     (flags & FUZZ_F_PAD_TABLES) && slots <= (1u << 16) ? ttshm_table_bytes(slots)
                                                                        : 0,
                     sparse);
    }
    if (old_epoch != 0 && old_epoch != epoch) {
        snprintf(suffix, sizeof suffix, ".t%llu", (unsigned long long)old_epoch);
        object_path(opath, sizeof opath, suffix);
        write_object(opath, p + hlen + tlen, olen,
                     (flags & FUZZ_F_PAD_TABLES) && old_slots <= (1u << 16)
                         ? ttshm_table_bytes(old_slots)
                         : 0,
                     sparse);
    }

    struct ttshm_segment_info info[4];
    size_t found = 0;
    for (unsigned i = 0; i < 4; i++)
        info[i].struct_size = sizeof info[i];
    PROMISE(ok_code(ttshm_list(registry, info, 4, &found)));

    char seg[96];
    snprintf(seg, sizeof seg, "ttshm.%s.0", registry);
    ttshm_reader *r = NULL;
    int rc = ttshm_reader_open(seg, &r);
    PROMISE(ok_code(rc));
    PROMISE((rc == 0) == (r != NULL));
    if (rc == 0) {
        exercise(r, 1);
        if (flags & FUZZ_F_SHRINK) {
            struct shrink_ctx c = {.path = (flags & FUZZ_F_TRUNC_HDR) || !tpath[0] ? hpath : tpath,
                                   .size = (off_t)arg * 4096};
            PROMISE(ok_code(ttshm_reader_foreach(r, shrink_at_first, &c)));
            exercise(r, 0);
        }
        unsigned changes =
            flags & (FUZZ_F_TRUNC_HDR | FUZZ_F_TRUNC_TAB | FUZZ_F_GROW | FUZZ_F_REPLACE);
        if (changes && !(flags & FUZZ_F_SHRINK)) {
            off_t pages = (off_t)arg * 4096;
            if (flags & FUZZ_F_TRUNC_HDR)
                (void)!truncate(hpath, pages);
            if ((flags & FUZZ_F_TRUNC_TAB) && tpath[0])
                (void)!truncate(tpath, pages);
            if (flags & FUZZ_F_GROW) {
                struct stat sb;
                if (stat(hpath, &sb) == 0 && sb.st_size + pages <= (off_t)MAX_OBJECT)
                    (void)!truncate(hpath, sb.st_size + pages + 4096);
                if (tpath[0] && stat(tpath, &sb) == 0 && sb.st_size + pages <= (off_t)MAX_OBJECT)
                    (void)!truncate(tpath, sb.st_size + pages + 4096);
            }
            if (flags & FUZZ_F_REPLACE) {
                unlink(hpath);
                for (size_t i = 0; i < hlen / 2; i++) {
                    uint8_t t = h[i];
                    h[i] = h[hlen - 1 - i];
                    h[hlen - 1 - i] = t;
                }
                write_object(hpath, h, hlen, TTSHM_HEADER_OBJECT_SIZE, sparse);
            }
            exercise(r, 0);
        }
        ttshm_reader_close(r);
    }
    unlink(hpath);
    if (tpath[0])
        unlink(tpath);
    if (opath[0])
        unlink(opath);
    free(h);
    return 0;
}
