// SPDX-License-Identifier: Apache-2.0
//
// ttshm for TT-Metal: the translation layer. It takes plain values (a chip or
// a mesh with its chips, buffer type, address, size, unique id, program key,
// capacity) and records what TT-Metal's allocator holds, per chip, through
// libttshm. It needs no TT-Metal header: the adapter (adapter.hpp) pulls these
// values out of TT-Metal objects; tests and tt-shm-sim drive it directly.
//
// What it decides, so that a reader sees what the allocator holds:
// - a mesh's events land on every chip of the mesh, never under the mesh id
//   (mesh ids are numbered from 0 like chip ids and would collide);
// - address 0 (a graph capture's NO_DISPATCH allocation), size 0 and
//   globally allocated CBs (their memory is an L1 buffer, already recorded)
//   are not recorded;
// - a chip's close frees everything of the chip at once; a free arriving for a
//   closed chip is not recorded (the close already freed it);
// - deallocate_buffers frees the allocator's buffers (DRAM, L1, L1_SMALL,
//   TRACE) at once and leaves the CBs of live programs;
// - every CB carries its owner, the adapter's number for the program whose CBs
//   they are (see program()), so freeing one program's CBs leaves the other
//   programs' CBs at the same addresses live.
//
// Thread-safe: buffer events take no lock; CB and program bookkeeping takes
// one mutex (CBs are allocated once per program and device, track_program
// comes once per launch).
#ifndef TTSHM_TT_METAL_TRANSLATOR_HPP
#define TTSHM_TT_METAL_TRANSLATOR_HPP

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "ttshm/writer.h"

namespace ttshm::tt_metal
{

// Where an event lands: one chip, or a mesh and the chips it spans.
class Target
{
  public:
    static Target chip(uint32_t chip_id);
    // chips: the mesh's chip ids (MeshDevice::get_device_ids()); at most
    // TTSHM_MAX_DEVICES are kept.
    static Target mesh(uint32_t mesh_id, const uint32_t *chips, size_t count);

    // Names the TT-Metal device object: chips and meshes never share a key.
    uint64_t key() const
    {
        return key_;
    }
    const uint32_t *begin() const
    {
        return chips_;
    }
    const uint32_t *end() const
    {
        return chips_ + count_;
    }

  private:
    uint64_t key_ = 0;
    size_t count_ = 0;
    uint32_t chips_[TTSHM_MAX_DEVICES] = {};
};

// What a chip publishes when it opens. capacity[type] = {bytes, banks}; zero
// bytes: not published. unique_id 0 and name nullptr: unknown.
struct ChipInfo {
    uint64_t unique_id = 0;
    const char *name = nullptr;
    std::pair<uint64_t, uint32_t> capacity[TTSHM_MEM_TYPE_COUNT] = {};
};

class Translator
{
  public:
    // Records into w (tests, tt-shm-sim).
    explicit Translator(ttshm_writer *w) : writer_(w) {}
    // Records into source()'s writer, asked at every event:
    // ttshm_default_writer, so a forked child records into its own segment.
    explicit Translator(ttshm_writer *(*source)(void)) : source_(source) {}

    // The process-wide translator over ttshm_default_writer(), used by the adapter.
    static Translator &process();

    // Device lifetime. open_chip publishes identity and capacity and may come
    // again (a reopened chip). close frees everything the target's chips hold.
    void open_chip(uint32_t chip, const ChipInfo &info);
    void close(const Target &t);
    // Allocator::deallocate_buffers() on the target: its DRAM, L1, L1_SMALL
    // and TRACE buffers are gone, CBs stay with their programs.
    void deallocate_buffers(const Target &t);

    // Buffers (track_allocate / track_deallocate). buffer_type is TT-Metal's
    // BufferType number (DRAM 0 ... TRACE 4); unique_id becomes the tag.
    void allocate(const Target &t, int buffer_type, uint64_t address, uint64_t size,
                  uint64_t unique_id);
    void deallocate(const Target &t, int buffer_type, uint64_t address);

    // Programs and their CBs. program() names the program whose CBs the
    // target allocates next on the calling thread (track_program comes before
    // the launch that allocates them, on the launching thread). program_key
    // is any value naming one live program: the adapter passes the Program's
    // address, a caller that has TT-Metal's program id may pass that.
    void program(const Target &t, uint64_t program_key);
    // One CB of the program named last by program() for this target on this
    // thread (none named: an anonymous program, one per target). The first CB after the
    // program was named again starts a new layout of its CBs (a CB added or
    // resized): the old ones go. Two CBs of one layout at one address (on
    // disjoint cores) are one record of the larger size: a CB is named by
    // (chip, address, owner).
    void allocate_cb(const Target &t, uint64_t address, uint64_t size, bool globally_allocated);
    // The CBs of the program program_key are freed (its destructor ran):
    // exact, for a caller that knows which program went.
    void destroy_program(const Target &t, uint64_t program_key);
    // track_deallocate_cb(device): one program of the target is gone but the
    // hook does not say which. The program whose CBs were allocated last
    // goes: exact when programs die in the reverse order of their first
    // launch (an uncached program dies right after its run; a program cache
    // is cleared whole), approximate otherwise until all are gone.
    void deallocate_cb(const Target &t);

    // Owner recorded with the CBs of program_key on t; 0 when it holds none.
    uint64_t cb_owner(const Target &t, uint64_t program_key) const;

  private:
    struct Program {
        uint64_t key;
        uint64_t owner;
        std::vector<uint32_t> chips;
        std::map<uint64_t, uint64_t> cbs; // address -> size, as recorded
        bool launched = false;            // named again since its CBs were laid out
    };
    ttshm_writer *writer() const
    {
        return source_ != nullptr ? source_() : writer_;
    }
    bool is_open(uint32_t chip) const;
    void set_open(uint32_t chip, bool open);
    void free_program(ttshm_writer *w, const Program &p) const;
    using ProgramList = std::vector<Program>; // per target, in the order of their first CB

    ttshm_writer *writer_ = nullptr;
    ttshm_writer *(*source_)(void) = nullptr;
    std::atomic<uint64_t> closed_{0}; // bit c: chip c closed since it was last seen
    mutable std::mutex mu_;
    // (thread, target key) -> program key named last
    std::map<std::pair<std::thread::id, uint64_t>, uint64_t> current_;
    std::map<uint64_t, ProgramList> cbs_; // target key -> programs holding CBs
    uint64_t next_owner_ = 1;
};

} // namespace ttshm::tt_metal

#endif
