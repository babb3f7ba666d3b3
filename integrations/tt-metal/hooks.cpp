// SPDX-License-Identifier: Apache-2.0
// The direct hook: values out of TT-Metal objects, into the translation layer.
#include <algorithm>
#include <exception>
#include <string>
#include <vector>

#include <tt-metalium/allocator.hpp>
#include <tt-metalium/mesh_device.hpp>

#include "ttshm/tt_metal/adapter.hpp"

namespace ttshm::tt_metal
{

namespace
{

// BufferType and ttshm_mem_type number DRAM..TRACE alike.
static_assert(static_cast<int>(metal::BufferType::DRAM) == TTSHM_DRAM);
static_assert(static_cast<int>(metal::BufferType::L1) == TTSHM_L1);
static_assert(static_cast<int>(metal::BufferType::SYSTEM_MEMORY) == TTSHM_SYSTEM_MEMORY);
static_assert(static_cast<int>(metal::BufferType::L1_SMALL) == TTSHM_L1_SMALL);
static_assert(static_cast<int>(metal::BufferType::TRACE) == TTSHM_TRACE);

constexpr metal::BufferType kCapacityTypes[] = {metal::BufferType::DRAM, metal::BufferType::L1,
                                                metal::BufferType::L1_SMALL,
                                                metal::BufferType::TRACE};

Translator &translator()
{
    return Translator::process();
}

// Capacity and name of one chip, from the allocator that serves it.
ChipInfo chip_info(const metal::IDevice *device, uint64_t unique_id, const std::string &name)
{
    ChipInfo info;
    info.unique_id = unique_id;
    info.name = name.c_str();
    const auto &allocator = device->allocator();
    if (!allocator)
        return info;
    for (metal::BufferType type : kCapacityTypes) {
        // A type the allocator has no region for (no trace region, no
        // L1_SMALL) is an error in TT-Metal: no capacity to publish.
        try {
            const uint64_t banks = allocator->get_num_banks(type);
            const uint64_t bytes = banks * allocator->get_bank_size(type);
            info.capacity[static_cast<int>(type)] = {bytes, static_cast<uint32_t>(banks)};
        } catch (const std::exception &) {
        }
    }
    return info;
}

} // namespace

Target target_of(const metal::IDevice *device)
{
    if (const auto *mesh = dynamic_cast<const metal::distributed::MeshDevice *>(device)) {
        const std::vector<int> ids = mesh->get_device_ids();
        uint32_t chips[TTSHM_MAX_DEVICES];
        const size_t n = std::min<size_t>(ids.size(), TTSHM_MAX_DEVICES);
        std::transform(ids.begin(), ids.begin() + static_cast<long>(n), chips,
                       [](int id) { return static_cast<uint32_t>(id); });
        return Target::mesh(static_cast<uint32_t>(mesh->id()), chips, n);
    }
    return Target::chip(static_cast<uint32_t>(device->id()));
}

void on_allocate(const metal::Buffer *buffer)
{
    // A NO_DISPATCH capture's allocation is marked allocated at address 0.
    if (!buffer->is_allocated() || buffer->address() == 0)
        return;
    translator().allocate(target_of(buffer->device()), static_cast<int>(buffer->buffer_type()),
                          buffer->address(), buffer->size(), buffer->unique_id());
}

void on_deallocate(metal::Buffer *buffer)
{
    if (buffer->address() == 0)
        return;
    translator().deallocate(target_of(buffer->device()), static_cast<int>(buffer->buffer_type()),
                            buffer->address());
}

void on_allocate_cb(uint64_t address, uint64_t size, bool is_globally_allocated,
                    const metal::IDevice *device)
{
    translator().allocate_cb(target_of(device), address, size, is_globally_allocated);
}

void on_deallocate_cb(const metal::IDevice *device)
{
    translator().deallocate_cb(target_of(device));
}

void on_program(metal::Program *program, const metal::IDevice *device)
{
    translator().program(target_of(device), reinterpret_cast<uintptr_t>(program));
}

void on_device_open(const metal::IDevice *device, uint64_t unique_id)
{
    const std::string arch = ::tt::arch_to_str(device->arch());
    if (const auto *mesh = dynamic_cast<const metal::distributed::MeshDevice *>(device)) {
        for (const metal::IDevice *chip : mesh->get_devices())
            translator().open_chip(static_cast<uint32_t>(chip->id()), chip_info(chip, 0, arch));
        return;
    }
    translator().open_chip(static_cast<uint32_t>(device->id()), chip_info(device, unique_id, arch));
}

void on_device_close(const metal::IDevice *device)
{
    translator().close(target_of(device));
}

void on_deallocate_buffers(const metal::IDevice *device)
{
    translator().deallocate_buffers(target_of(device));
}

} // namespace ttshm::tt_metal
