// SPDX-License-Identifier: Apache-2.0
// The adapter as an IGraphProcessor: each override is one direct-hook call.
#include <algorithm>

#include "ttshm/tt_metal/adapter.hpp"

namespace ttshm::tt_metal
{

void Processor::track_allocate(const metal::Buffer *buffer)
{
    on_allocate(buffer);
}

void Processor::track_deallocate(metal::Buffer *buffer)
{
    on_deallocate(buffer);
}

void Processor::track_allocate_cb(const metal::CoreRangeSet & /*core_range_set*/, uint64_t addr,
                                  uint64_t size, bool is_globally_allocated,
                                  const metal::IDevice *device)
{
    on_allocate_cb(addr, size, is_globally_allocated, device);
}

void Processor::track_deallocate_cb(const metal::IDevice *device)
{
    on_deallocate_cb(device);
}

void Processor::track_program(metal::Program *program, const metal::IDevice *device)
{
    on_program(program, device);
}

bool install()
{
    static const std::shared_ptr<metal::IGraphProcessor> processor = std::make_shared<Processor>();
    metal::GraphTracker &tracker = metal::GraphTracker::instance();
    const auto &list = tracker.get_processors();
    if (std::find(list.begin(), list.end(), processor) != list.end())
        return false;
    tracker.push_processor(processor);
    return true;
}

} // namespace ttshm::tt_metal
