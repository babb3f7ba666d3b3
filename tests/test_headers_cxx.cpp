// SPDX-License-Identifier: Apache-2.0
// The public headers as C++17 sees them (-Wall -Wextra -Werror -pedantic).
// writer.h comes first here and reader.h first in test_headers.c, so each
// compiles without the other.
#include "ttshm/writer.h"
#include "ttshm/reader.h"
#include "ttshm/types.h"

#include <cstddef>
#include <cstdint>

extern "C" std::size_t ttshm_test_cxx_layout(std::size_t *out, std::size_t max);

#define L(x) static_cast<std::size_t>(x)
extern "C" std::size_t ttshm_test_cxx_layout(std::size_t *out, std::size_t max)
{
    const std::size_t v[] = {
        L(sizeof(ttshm_writer_config)),
        L(offsetof(ttshm_writer_config, name)),
        L(offsetof(ttshm_writer_config, initial_slots)),
        L(offsetof(ttshm_writer_config, mode)),
        L(offsetof(ttshm_writer_config, report_errors)),
        L(sizeof(ttshm_segment_info)),
        L(offsetof(ttshm_segment_info, registry)),
        L(offsetof(ttshm_segment_info, slot)),
        L(sizeof(ttshm_session_summary)),
        L(offsetof(ttshm_session_summary, device_live_bytes)),
        L(sizeof(ttshm_status)),
        L(offsetof(ttshm_status, generation)),
        L(offsetof(ttshm_status, registry)),
        L(offsetof(ttshm_status, table_slots)),
        L(offsetof(ttshm_status, previous)),
        L(sizeof(ttshm_counters)),
        L(offsetof(ttshm_counters, capacity_banks)),
        L(sizeof(ttshm_stats)),
        L(offsetof(ttshm_stats, dev)),
        L(sizeof(ttshm_entry)),
        L(offsetof(ttshm_entry, address)),
        L(offsetof(ttshm_entry, tid)),
        L(sizeof(ttshm_mem_type)),
        L(sizeof(ttshm_result)),
        L(TTSHM_MAX_DEVICES),
        L(TTSHM_MEM_TYPE_COUNT),
        L(TTSHM_NAME_MAX),
        L(TTSHM_E_NOTFOUND),
        L(TTSHM_OFF),
        L(TTSHM_STATE_STARTING),
    };
    // The API is callable from C++ as declared (extern "C", no casts needed).
    ttshm_writer *w = nullptr;
    (void)ttshm_record_alloc(w, 0, TTSHM_DRAM, 0, 0, 0);
    ttshm_entry_fn fn = [](const ttshm_entry *, void *) -> int { return 0; };
    (void)fn;
    const std::size_t n = sizeof v / sizeof v[0];
    for (std::size_t i = 0; i < n && i < max; i++)
        out[i] = v[i];
    return n;
}
