// SPDX-License-Identifier: Apache-2.0
//
// Compile check (against TT-Metal's API headers, via check.sh): the direct
// hook as it sits in TT-Metal's tt_metal/impl/graph/graph_tracking.cpp, one
// adapter call at the top of each GraphTracker::track_* body, before the
// existing fan-out to the processors (shown here as it is upstream). These
// definitions must match GraphTracker's declarations exactly.
// -DTTSHM_WRONG_HOOK_SIGNATURE defines track_deallocate with a const Buffer*
// instead: the compiler must reject it (negative control).
#include "ttshm/tt_metal/adapter.hpp"

namespace tt::tt_metal
{

void GraphTracker::track_allocate(const Buffer *buffer)
{
    ttshm::tt_metal::on_allocate(buffer);
    for (auto &it : processors)
        it->track_allocate(buffer);
}

#ifdef TTSHM_WRONG_HOOK_SIGNATURE
void GraphTracker::track_deallocate(const Buffer *buffer)
#else
void GraphTracker::track_deallocate(Buffer *buffer)
#endif
{
    ttshm::tt_metal::on_deallocate(buffer);
    for (auto &it : processors)
        it->track_deallocate(buffer);
}

void GraphTracker::track_allocate_cb(const CoreRangeSet &core_range_set, uint64_t addr,
                                     uint64_t size, bool is_globally_allocated,
                                     const IDevice *device)
{
    ttshm::tt_metal::on_allocate_cb(addr, size, is_globally_allocated, device);
    for (auto &it : processors)
        it->track_allocate_cb(core_range_set, addr, size, is_globally_allocated, device);
}

void GraphTracker::track_deallocate_cb(const IDevice *device)
{
    ttshm::tt_metal::on_deallocate_cb(device);
    for (auto &it : processors)
        it->track_deallocate_cb(device);
}

void GraphTracker::track_program(Program *program, const IDevice *device)
{
    ttshm::tt_metal::on_program(program, device);
    for (auto &it : processors)
        it->track_program(program, device);
}

} // namespace tt::tt_metal
