// SPDX-License-Identifier: Apache-2.0
// The TT-Metal translation layer: plain values in, libttshm calls out.
#include "ttshm/tt_metal/translator.hpp"

#include <algorithm>

namespace ttshm::tt_metal
{

namespace
{

// Program key of CBs allocated with no program named before them.
constexpr uint64_t kAnonymous = ~uint64_t{0};
// Meshes get keys of their own: a mesh id is numbered like a chip id.
constexpr uint64_t kMeshKey = uint64_t{1} << 32;

// The types Allocator::deallocate_buffers() frees (CBs belong to programs).
constexpr ttshm_mem_type kAllocatorTypes[] = {TTSHM_DRAM, TTSHM_L1, TTSHM_L1_SMALL, TTSHM_TRACE};

bool buffer_type_ok(int t)
{
    return t >= TTSHM_DRAM && t <= TTSHM_TRACE;
}

} // namespace

Target Target::chip(uint32_t chip_id)
{
    Target t;
    t.key_ = chip_id;
    t.chips_[0] = chip_id;
    t.count_ = 1;
    return t;
}

Target Target::mesh(uint32_t mesh_id, const uint32_t *chips, size_t count)
{
    Target t;
    t.key_ = kMeshKey | mesh_id;
    t.count_ = std::min<size_t>(count, TTSHM_MAX_DEVICES);
    std::copy(chips, chips + t.count_, t.chips_);
    return t;
}

Translator &Translator::process()
{
    static Translator t(&ttshm_default_writer);
    return t;
}

bool Translator::is_open(uint32_t chip) const
{
    return chip >= TTSHM_MAX_DEVICES || !(closed_.load(std::memory_order_acquire) >> chip & 1);
}

void Translator::set_open(uint32_t chip, bool open)
{
    if (chip >= TTSHM_MAX_DEVICES)
        return;
    const uint64_t bit = uint64_t{1} << chip;
    // Every allocation reopens its chips: a load, not a write, when open.
    if (open && (closed_.load(std::memory_order_acquire) & bit))
        closed_.fetch_and(~bit, std::memory_order_acq_rel);
    else if (!open)
        closed_.fetch_or(bit, std::memory_order_acq_rel);
}

void Translator::open_chip(uint32_t chip, const ChipInfo &info)
{
    set_open(chip, true);
    ttshm_writer *w = writer();
    ttshm_publish_device(w, chip, info.unique_id, info.name);
    for (int type = 0; type < TTSHM_MEM_TYPE_COUNT; type++)
        if (info.capacity[type].first != 0)
            ttshm_publish_capacity(w, chip, static_cast<ttshm_mem_type>(type),
                                   info.capacity[type].first, info.capacity[type].second);
}

void Translator::close(const Target &t)
{
    ttshm_writer *w = writer();
    for (uint32_t chip : t) {
        ttshm_record_free_all(w, chip, TTSHM_ALL_TYPES);
        set_open(chip, false);
    }
    // The bulk free took the CBs too: forget the programs holding CBs on
    // these chips, and the program named last.
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = current_.begin(); it != current_.end();)
        it = it->first.second == t.key() ? current_.erase(it) : std::next(it);
    for (auto it = cbs_.begin(); it != cbs_.end();) {
        ProgramList &list = it->second;
        list.erase(std::remove_if(list.begin(), list.end(),
                                  [&t](const Program &p) {
                                      return std::any_of(
                                          p.chips.begin(), p.chips.end(), [&t](uint32_t c) {
                                              return std::find(t.begin(), t.end(), c) != t.end();
                                          });
                                  }),
                   list.end());
        it = list.empty() ? cbs_.erase(it) : std::next(it);
    }
}

void Translator::deallocate_buffers(const Target &t)
{
    ttshm_writer *w = writer();
    for (uint32_t chip : t)
        for (ttshm_mem_type type : kAllocatorTypes)
            ttshm_record_free_all(w, chip, type);
}

void Translator::allocate(const Target &t, int buffer_type, uint64_t address, uint64_t size,
                          uint64_t unique_id)
{
    if (address == 0 || size == 0 || !buffer_type_ok(buffer_type))
        return;
    ttshm_writer *w = writer();
    for (uint32_t chip : t) {
        set_open(chip, true);
        ttshm_record_alloc(w, chip, static_cast<ttshm_mem_type>(buffer_type), address, size,
                           unique_id);
    }
}

void Translator::deallocate(const Target &t, int buffer_type, uint64_t address)
{
    if (address == 0 || !buffer_type_ok(buffer_type))
        return;
    ttshm_writer *w = writer();
    for (uint32_t chip : t)
        if (is_open(chip))
            ttshm_record_free(w, chip, static_cast<ttshm_mem_type>(buffer_type), address);
}

void Translator::program(const Target &t, uint64_t program_key)
{
    std::lock_guard<std::mutex> lock(mu_);
    current_[{std::this_thread::get_id(), t.key()}] = program_key;
    auto it = cbs_.find(t.key());
    if (it != cbs_.end())
        for (Program &p : it->second)
            if (p.key == program_key)
                p.launched = true;
}

void Translator::allocate_cb(const Target &t, uint64_t address, uint64_t size,
                             bool globally_allocated)
{
    if (address == 0 || size == 0 || globally_allocated)
        return;
    ttshm_writer *w = writer();
    std::lock_guard<std::mutex> lock(mu_);
    auto cur = current_.find({std::this_thread::get_id(), t.key()});
    const uint64_t key = cur != current_.end() ? cur->second : kAnonymous;
    ProgramList &list = cbs_[t.key()];
    auto p =
        std::find_if(list.begin(), list.end(), [key](const Program &q) { return q.key == key; });
    if (p == list.end()) {
        list.push_back(Program{key, next_owner_++, std::vector<uint32_t>(t.begin(), t.end()), {}});
        p = std::prev(list.end());
    } else if (p->launched) {
        // Laid out again on a later launch: the old layout goes.
        free_program(w, *p);
        p->cbs.clear();
    }
    p->launched = false;
    auto [cb, added] = p->cbs.emplace(address, size);
    if (!added && cb->second >= size)
        return;
    cb->second = size;
    for (uint32_t chip : t) {
        set_open(chip, true);
        if (!added)
            ttshm_record_free_cb(w, chip, address, p->owner);
        ttshm_record_alloc(w, chip, TTSHM_CB, address, size, p->owner);
    }
}

void Translator::free_program(ttshm_writer *w, const Program &p) const
{
    for (uint32_t chip : p.chips)
        if (is_open(chip))
            for (const auto &cb : p.cbs)
                ttshm_record_free_cb(w, chip, cb.first, p.owner);
}

void Translator::destroy_program(const Target &t, uint64_t program_key)
{
    ttshm_writer *w = writer();
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cbs_.find(t.key());
    if (it == cbs_.end())
        return;
    ProgramList &list = it->second;
    auto p = std::find_if(list.begin(), list.end(),
                          [program_key](const Program &q) { return q.key == program_key; });
    if (p == list.end())
        return;
    free_program(w, *p);
    list.erase(p);
    if (list.empty())
        cbs_.erase(it);
}

void Translator::deallocate_cb(const Target &t)
{
    ttshm_writer *w = writer();
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cbs_.find(t.key());
    if (it == cbs_.end())
        return;
    ProgramList &list = it->second;
    free_program(w, list.back());
    list.pop_back();
    if (list.empty())
        cbs_.erase(it);
}

uint64_t Translator::cb_owner(const Target &t, uint64_t program_key) const
{
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cbs_.find(t.key());
    if (it == cbs_.end())
        return 0;
    for (const Program &p : it->second)
        if (p.key == program_key)
            return p.owner;
    return 0;
}

} // namespace ttshm::tt_metal
