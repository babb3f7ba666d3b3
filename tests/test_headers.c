/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The public headers compile as C11 with -Wall -Wextra -Werror -pedantic (this
 * file) and as C++17 (test_headers_cxx.cpp, same flags); both see the same
 * layout of every public struct and the same constants.
 */
#include "ttshm/reader.h"
#include "ttshm/types.h"
#include "ttshm/writer.h"

#include "harness.h"

#include <stddef.h>
#include <stdint.h>

/* test_headers_cxx.cpp: sizes and offsets as C++ sees them. */
size_t ttshm_test_cxx_layout(size_t *out, size_t max);

#define L(x) (size_t)(x)
static size_t c_layout(size_t *out, size_t max)
{
    const size_t v[] = {
        L(sizeof(struct ttshm_writer_config)),
        L(offsetof(struct ttshm_writer_config, name)),
        L(offsetof(struct ttshm_writer_config, initial_slots)),
        L(offsetof(struct ttshm_writer_config, mode)),
        L(offsetof(struct ttshm_writer_config, report_errors)),
        L(sizeof(struct ttshm_segment_info)),
        L(offsetof(struct ttshm_segment_info, registry)),
        L(offsetof(struct ttshm_segment_info, slot)),
        L(sizeof(struct ttshm_session_summary)),
        L(offsetof(struct ttshm_session_summary, device_live_bytes)),
        L(sizeof(struct ttshm_status)),
        L(offsetof(struct ttshm_status, generation)),
        L(offsetof(struct ttshm_status, registry)),
        L(offsetof(struct ttshm_status, table_slots)),
        L(offsetof(struct ttshm_status, previous)),
        L(sizeof(struct ttshm_counters)),
        L(offsetof(struct ttshm_counters, capacity_banks)),
        L(sizeof(struct ttshm_stats)),
        L(offsetof(struct ttshm_stats, dev)),
        L(sizeof(struct ttshm_entry)),
        L(offsetof(struct ttshm_entry, address)),
        L(offsetof(struct ttshm_entry, tid)),
        L(sizeof(enum ttshm_mem_type)),
        L(sizeof(enum ttshm_result)),
        L(TTSHM_MAX_DEVICES),
        L(TTSHM_MEM_TYPE_COUNT),
        L(TTSHM_NAME_MAX),
        L(TTSHM_E_NOTFOUND),
        L(TTSHM_OFF),
        L(TTSHM_STATE_STARTING),
    };
    size_t n = sizeof v / sizeof v[0];
    for (size_t i = 0; i < n && i < max; i++)
        out[i] = v[i];
    return n;
}

static void test_c_and_cxx_agree(void)
{
    size_t c[64], cxx[64];
    size_t nc = c_layout(c, 64), ncxx = ttshm_test_cxx_layout(cxx, 64);
    CU_ASSERT_EQUAL(nc, ncxx);
    for (size_t i = 0; i < nc && i < ncxx; i++)
        if (c[i] != cxx[i])
            TTSHM_TEST_FAILF("layout item %zu: C says %zu, C++ says %zu", i, c[i], cxx[i]);
}

static void test_constants(void)
{
    /* Memory types numbered as TT-Metal's BufferType. */
    CU_ASSERT_EQUAL(TTSHM_DRAM, 0);
    CU_ASSERT_EQUAL(TTSHM_L1, 1);
    CU_ASSERT_EQUAL(TTSHM_SYSTEM_MEMORY, 2);
    CU_ASSERT_EQUAL(TTSHM_L1_SMALL, 3);
    CU_ASSERT_EQUAL(TTSHM_TRACE, 4);
    CU_ASSERT_EQUAL(TTSHM_CB, 5);
    CU_ASSERT_EQUAL(TTSHM_KERNEL, 6);
    CU_ASSERT_EQUAL(TTSHM_MEM_TYPE_COUNT, 7);
    CU_ASSERT(TTSHM_MAX_DEVICES >= 32); /* a Galaxy host */
    CU_ASSERT_EQUAL(sizeof(struct ttshm_status) % 8, 0);
    CU_ASSERT_EQUAL(sizeof(struct ttshm_entry) % 8, 0);
}

int main(void)
{
    static const struct ttshm_test_case cases[] = {
        {"c11_and_cxx17_see_the_same_layout", test_c_and_cxx_agree},
        {"constants", test_constants},
    };
    TTSHM_TEST_SUITE("headers", cases);
    return ttshm_test_run();
}
