// SPDX-License-Identifier: Apache-2.0
//
// ttshm for TT-Metal: the adapter. It pulls plain values out of TT-Metal
// objects and hands them to the translation layer (translator.hpp), through
// either of two entry points with the same effect:
//
// - the direct hook: the on_* functions below, called from the bodies of
//   GraphTracker::track_* in TT-Metal's graph_tracking.cpp. They see every
//   event on every thread, whatever processors are pushed, and leave
//   GraphTracker::is_enabled() alone;
// - Processor, an IGraphProcessor whose overrides call the same functions,
//   installed with install() on each thread that allocates (see install()).
//
// TT-Metal has no hook for a device opening or closing, nor for
// Allocator::deallocate_buffers(): call on_device_open, on_device_close and
// on_deallocate_buffers where those happen (docs/integration.md, section 9).
//
// Built against TT-Metal's API headers (tt_metal/api, C++20), version
// 2025-09 or 2026-04 and later; it uses nothing outside those headers.
#ifndef TTSHM_TT_METAL_ADAPTER_HPP
#define TTSHM_TT_METAL_ADAPTER_HPP

#include <cstdint>
#include <memory>
#include <type_traits>

#include <tt-metalium/buffer.hpp>
#include <tt-metalium/core_coord.hpp>
#include <tt-metalium/device.hpp>
#include <tt-metalium/graph_tracking.hpp>

#include "ttshm/tt_metal/translator.hpp"

namespace ttshm::tt_metal
{

// TT-Metal's namespace, short.
namespace metal = ::tt::tt_metal;

// A chip (IDevice) or a mesh (MeshDevice) and its chips.
Target target_of(const metal::IDevice *device);

// The direct hook, one function per GraphTracker::track_*.
void on_allocate(const metal::Buffer *buffer);
void on_deallocate(metal::Buffer *buffer);
void on_allocate_cb(uint64_t address, uint64_t size, bool is_globally_allocated,
                    const metal::IDevice *device);
void on_deallocate_cb(const metal::IDevice *device);
void on_program(metal::Program *program, const metal::IDevice *device);

// Not hooked by TT-Metal. on_device_open: after a device or mesh is created;
// publishes each chip's capacity (banks x bank size from its allocator) and
// architecture. unique_id: the chip's unique id where the caller has it (the
// public API headers do not give it), 0 otherwise; ignored for a mesh.
void on_device_open(const metal::IDevice *device, uint64_t unique_id = 0);
// Before a device or mesh closes: whatever it still holds is freed at once,
// and frees TT-Metal would report later are not recorded.
void on_device_close(const metal::IDevice *device);
// With Allocator::deallocate_buffers() (ttnn::deallocate_buffers(device)).
void on_deallocate_buffers(const metal::IDevice *device);

namespace detail
{

// is_capture_processor() exists from TT-Metal 2026-04 on: a processor that
// returns false is always registered but does not make
// GraphTracker::is_enabled() true. Overridden where the base declares it.
template <class Base, class = void> struct Background : Base {
};
template <class Base>
struct Background<Base, std::void_t<decltype(&Base::is_capture_processor)>> : Base {
    bool is_capture_processor() const override
    {
        return false;
    }
};

} // namespace detail

// The adapter as a graph processor. Stateless: one instance serves every thread.
class Processor final : public detail::Background<metal::IGraphProcessor>
{
  public:
    void track_allocate(const metal::Buffer *buffer) override;
    void track_deallocate(metal::Buffer *buffer) override;
    void track_allocate_cb(const metal::CoreRangeSet &core_range_set, uint64_t addr, uint64_t size,
                           bool is_globally_allocated, const metal::IDevice *device) override;
    void track_deallocate_cb(const metal::IDevice *device) override;
    void track_program(metal::Program *program, const metal::IDevice *device) override;
};

// Pushes the process's one Processor on GraphTracker's list unless that list,
// as this thread sees it, already holds it. Where the list is process-wide
// (the 2025-09 and 2026-04 headers) the first call installs it for every
// thread and later calls do nothing; where it is thread_local, call it on
// every thread that allocates. Returns true when it pushed.
bool install();

} // namespace ttshm::tt_metal

#endif
