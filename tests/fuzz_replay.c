/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The reader fuzz target in every build (gcc included, and under ASan/UBSan
 * and TSan): seeds made from real segments, then structure-aware mutations
 * from a fixed-seed generator (header fields set to edge values, slot words
 * forged, objects shortened, truncated/grown/replaced under the reader).
 * A crash, a hang (alarm) or a broken API promise (the target aborts) fails
 * the test. `make fuzz` runs the same target under libFuzzer for 10M+ execs.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_reader.h"
#include "harness.h"
#include "layout.h"
#include "reliability/common.h"

struct seed {
    char name[64];
    uint8_t *data;
    size_t size;
};
static struct seed seeds[16];
static int nseeds;

static void keep(const char *name, const uint8_t *data, size_t size, void *ctx)
{
    (void)ctx;
    if (nseeds >= 16)
        return;
    snprintf(seeds[nseeds].name, sizeof seeds[nseeds].name, "%s", name);
    seeds[nseeds].data = malloc(size);
    memcpy(seeds[nseeds].data, data, size);
    seeds[nseeds].size = size;
    nseeds++;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16),
    p[3] = (uint8_t)(v >> 24);
}

static uint64_t interesting(struct rel_rng *r, uint64_t old)
{
    static const uint64_t v[] = {0,
                                 1,
                                 2,
                                 3,
                                 4,
                                 7,
                                 8,
                                 63,
                                 64,
                                 1023,
                                 1024,
                                 1025,
                                 4096,
                                 65536,
                                 1u << 20,
                                 1ull << 30,
                                 1ull << 31,
                                 1ull << 32,
                                 1ull << 40,
                                 1ull << 62,
                                 1ull << 63,
                                 ~0ull,
                                 ~0ull - 1,
                                 0x7fffffffffffffffull,
                                 TTSHM_HEADER_OBJECT_SIZE,
                                 sizeof(struct ttshm_header)};
    switch (rel_rng_below(r, 4)) {
    case 0:
        return old + 1;
    case 1:
        return old - 1;
    case 2:
        return rel_rng_next(r);
    default:
        return v[rel_rng_below(r, sizeof v / sizeof v[0])];
    }
}

static void mutate(struct rel_rng *r, uint8_t *in, size_t size)
{
    size_t hl = get32(in + 4), tl = get32(in + 8);
    size_t hoff = FUZZ_HDR_BYTES, toff = hoff + hl;
    unsigned k = 1 + (unsigned)rel_rng_below(r, 3);
    for (unsigned i = 0; i < k; i++) {
        switch (rel_rng_below(r, 9)) {
        case 0:
        case 1:
        case 2: { /* a header word: identity, tables, fixed part */
            size_t lim = hl < 512 ? hl : 512;
            if (lim < 8)
                break;
            size_t off = hoff + 8 * rel_rng_below(r, lim / 8);
            uint64_t v;
            memcpy(&v, in + off, 8);
            v = interesting(r, v);
            /* An odd seq (a writer that died mid-start) costs the reader its
             * full retry budget on every call: keep a few, not a flood. */
            if (off == hoff + offsetof(struct ttshm_header, seq) && (v & 1) &&
                rel_rng_below(r, 8) != 0)
                v &= ~1ull;
            memcpy(in + off, &v, 8);
            break;
        }
        case 3: { /* a 32-bit field of the fixed part */
            if (hl < 48)
                break;
            size_t off = hoff + 8 + 4 * rel_rng_below(r, 10);
            uint32_t v = (uint32_t)interesting(r, get32(in + off));
            put32(in + off, v);
            break;
        }
        case 4: { /* a table word: table header or a slot */
            if (tl < 8)
                break;
            size_t off = toff + 8 * rel_rng_below(r, tl / 8);
            uint64_t v;
            memcpy(&v, in + off, 8);
            v = rel_rng_below(r, 2) ? interesting(r, v) : (v & ~7ull) | rel_rng_below(r, 8);
            memcpy(in + off, &v, 8);
            break;
        }
        case 5: { /* a slot's control word: another state (any of 8), or junk */
            size_t ctl = TTSHM_CTL_OFFSET;
            uint64_t nslots = 0;
            if (tl < ctl + 4)
                break;
            memcpy(&nslots, in + toff + offsetof(struct ttshm_table_header, nslots), 8);
            if (nslots == 0 || nslots > (tl - ctl) / 4)
                nslots = (tl - ctl) / 4;
            size_t off = toff + ctl + 4 * rel_rng_below(r, nslots);
            uint32_t v = get32(in + off);
            v = rel_rng_below(r, 4) ? (v & ~7u) | (uint32_t)rel_rng_below(r, 8)
                                    : (uint32_t)interesting(r, v);
            put32(in + off, v);
            break;
        }
        case 6: /* shorter objects */
            put32(in + 4 + 4 * rel_rng_below(r, 3),
                  (uint32_t)rel_rng_below(r, get32(in + 4 + 4 * rel_rng_below(r, 3)) + 1));
            break;
        case 7: /* padding and changes under the reader */
            in[0] = (uint8_t)rel_rng_next(r);
            in[1] = (uint8_t)rel_rng_below(r, 24);
            break;
        default: /* random bytes anywhere */
            for (int j = 0; j < 4; j++)
                in[rel_rng_below(r, size)] ^= (uint8_t)(1u << rel_rng_below(r, 8));
            break;
        }
    }
}

static void test_replay(void)
{
    nseeds = 0;
    int made = fuzz_make_seeds(keep, NULL);
    CU_ASSERT_FATAL(made >= 6);
    /* Bounded by time as well as count: some hostile inputs legitimately make
     * the reader retry for a while. */
    long max_execs = rel_long_mode() ? 2000000 : 20000;
    max_execs = rel_env_long("TTSHM_FUZZ_REPLAY_EXECS", max_execs);
    long budget_s = rel_env_long("TTSHM_FUZZ_REPLAY_SECONDS", rel_long_mode() ? 3600 : 20);
    struct rel_rng rng;
    uint64_t seed = (uint64_t)rel_env_long("TTSHM_SEED", 20261125);
    rel_rng_seed(&rng, seed);
    uint64_t t0 = rel_now_ns(), execs = 0, slow = 0, slowest_ns = 0;
    uint64_t deadline = t0 + (uint64_t)budget_s * 1000000000ull;
    size_t maxsize = 0;
    for (int s = 0; s < nseeds; s++) {
        alarm(30);
        LLVMFuzzerTestOneInput(seeds[s].data, seeds[s].size);
        execs++;
        if (seeds[s].size > maxsize)
            maxsize = seeds[s].size;
    }
    uint8_t *buf = malloc(maxsize);
    while ((long)execs < max_execs && rel_now_ns() < deadline) {
        int s = (int)(execs % (uint64_t)nseeds);
        memcpy(buf, seeds[s].data, seeds[s].size);
        mutate(&rng, buf, seeds[s].size);
        alarm(30); /* one input may not take longer: a hang is a failure */
        uint64_t t1 = rel_now_ns();
        LLVMFuzzerTestOneInput(buf, seeds[s].size);
        uint64_t dt = rel_now_ns() - t1;
        if (dt > slowest_ns)
            slowest_ns = dt;
        if (dt > 20000000ull) {
            slow++;
            if (getenv("TTSHM_FUZZ_DEBUG")) {
                fprintf(stderr, "slow input (%.1f ms) from seed %s, flags %#x, bytes changed:",
                        (double)dt / 1e6, seeds[s].name, buf[0]);
                for (size_t j = 0; j < seeds[s].size; j++)
                    if (buf[j] != seeds[s].data[j])
                        fprintf(stderr, " @%zu", j);
                fputc('\n', stderr);
            }
        }
        execs++;
    }
    alarm(0);
    free(buf);
    fprintf(stderr, "fuzz replay: %d seeds (", nseeds);
    for (int s = 0; s < nseeds; s++)
        fprintf(stderr, "%s%s %zu B", s ? ", " : "", seeds[s].name, seeds[s].size);
    fprintf(stderr,
            "), %llu execs, generator seed %llu, %.1f s; %llu inputs took over 20 ms, the "
            "slowest %.1f ms\n",
            (unsigned long long)execs, (unsigned long long)seed, (double)(rel_now_ns() - t0) / 1e9,
            (unsigned long long)slow, (double)slowest_ns / 1e6);
    for (int s = 0; s < nseeds; s++)
        free(seeds[s].data);
    CU_ASSERT(execs > (uint64_t)nseeds);
}

int main(int argc, char **argv)
{
    rel_parse_args(argc, argv);
    static const struct ttshm_test_case cases[] = {
        {"seeds_and_mutations", test_replay},
    };
    TTSHM_TEST_SUITE("fuzz_replay", cases);
    return ttshm_test_run();
}
