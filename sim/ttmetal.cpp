// SPDX-License-Identifier: Apache-2.0
//
// tt-shm-sim --profile tt-metal: TT-Metal's event patterns, driven through the
// TT-Metal translation layer (integrations/tt-metal) in the order TT-Metal's
// hooks fire, beside a model of what TT-Metal's allocator holds. The "steady"
// report is the model, so a reader can be checked against the allocator's
// truth rather than against what was recorded:
// - a 2x4 mesh (mesh id 0, chips 0..7), a 1x2 mesh (mesh id 1, chips 8..9)
//   and a single-chip device (chip 10), capacities and identities published;
// - ops: each launches one of 24 cached programs (track_program, then its CBs
//   on first launch, every program's CBs from the same L1 base) and allocates
//   and frees mesh buffers;
// - now and then an uncached program, destroyed right after its run
//   (track_deallocate_cb), and a cached program destroyed on its own (the
//   exact destroy_program path);
// - graph captures with NO_DISPATCH: allocations, frees and CBs at address 0;
// - deallocate_buffers on chip 10; mesh 1 closed before its buffers;
// - at a clean exit, the program caches cleared and the devices closed.
#include <cinttypes>
#include <cstdio>
#include <map>
#include <string>
#include <unistd.h>
#include <vector>

extern "C" {
#include "sim.h"
}
#include "ttshm/tt_metal/translator.hpp"

using ttshm::tt_metal::ChipInfo;
using ttshm::tt_metal::Target;
using ttshm::tt_metal::Translator;

namespace
{

constexpr unsigned kChips = 11;
constexpr unsigned kCachedPrograms = 24;
constexpr unsigned kLiveBuffers = 48; // per device: older outputs are freed
constexpr uint64_t kCbBase = 0x19000;
constexpr uint64_t kSlot[TTSHM_MEM_TYPE_COUNT] = {4 << 20, 64 << 10};
constexpr uint64_t kBase[TTSHM_MEM_TYPE_COUNT] = {0x40000000, 0x200000};
const uint32_t kMesh0[] = {0, 1, 2, 3, 4, 5, 6, 7};
const uint32_t kMesh1[] = {8, 9};

struct Counts {
    uint64_t live_count = 0, live_bytes = 0, allocs = 0, frees = 0, alloc_bytes = 0;
    uint64_t capacity_bytes = 0;
    uint32_t capacity_banks = 0;
};

struct Buffer {
    int type;
    uint64_t address, size;
};

struct Program {
    std::vector<uint64_t> cb_sizes;
    bool allocated = false; // its CBs are live
};

// One TT-Metal device object (a mesh or a chip) and what it holds.
struct Device {
    explicit Device(const Target &t) : target(t) {}
    Target target;
    bool open = true;
    std::vector<Buffer> live;            // in allocation order
    std::vector<uint64_t> free_slots[2]; // per DRAM, L1
    uint64_t next_slot[2] = {0, 0};
    std::map<uint64_t, Program> programs; // cached, by program key
};

class Run
{
  public:
    Run(const sim_options &o, ttshm_writer *w) : o_(o), t_(w), rng_(o.seed * 2 + 1)
    {
        devices_.emplace_back(Target::mesh(0, kMesh0, 8));
        devices_.emplace_back(Target::mesh(1, kMesh1, 2));
        devices_.emplace_back(Target::chip(10));
    }

    void open()
    {
        ChipInfo info;
        info.name = "wormhole_b0";
        info.capacity[TTSHM_DRAM] = {12ull << 30, 12};
        info.capacity[TTSHM_L1] = {64ull * 1363968, 64};
        for (unsigned c = 0; c < kChips; c++) {
            info.unique_id = 0x0100000000000000ull + 0x1000 * c; // as the cluster reports it
            t_.open_chip(c, info);
            for (int ty : {TTSHM_DRAM, TTSHM_L1}) {
                counts_[c][ty].capacity_bytes = info.capacity[ty].first;
                counts_[c][ty].capacity_banks = info.capacity[ty].second;
            }
        }
    }

    void ops()
    {
        for (uint64_t i = 0; i < o_.events && !sim_stop; i++) {
            Device &d = devices_[pick_device()];
            launch(d, 1 + below(kCachedPrograms));
            if (i % 50 == 49)
                uncached(d, 1000000 + i);
            if (i % 200 == 199)
                destroy_one(d);
            if (i % 300 == 299)
                capture(d);
            for (uint64_t n = 1 + below(2); n > 0; n--)
                allocate(d, below(100) < 60 ? TTSHM_DRAM : TTSHM_L1);
            while (d.live.size() > kLiveBuffers)
                deallocate(d, below(d.live.size() / 2)); // older outputs go first
        }
    }

    // Chip 10's allocator drops every buffer; its programs keep their CBs.
    void deallocate_buffers_chip10()
    {
        Device &d = devices_[2];
        t_.deallocate_buffers(d.target);
        for (const Buffer &b : d.live)
            forget(d, b);
        d.live.clear();
    }

    // A device closed before its buffers and programs: one bulk free, then
    // their destructors fire nothing.
    void close(Device &d)
    {
        t_.close(d.target);
        for (const Buffer &b : d.live)
            forget(d, b);
        d.live.clear();
        for (auto &[key, p] : d.programs)
            if (p.allocated)
                forget_cbs(d, p);
        d.programs.clear();
        d.open = false;
    }
    Device &mesh1()
    {
        return devices_[1];
    }

    // Exit: each open device's program cache is cleared (one
    // track_deallocate_cb per program), then the device closes.
    void shutdown()
    {
        for (Device &d : devices_) {
            if (!d.open)
                continue;
            for (auto &[key, p] : d.programs)
                if (p.allocated) {
                    t_.deallocate_cb(d.target);
                    forget_cbs(d, p);
                    p.allocated = false;
                }
            close(d);
        }
    }

    void report(const char *phase, ttshm_writer *w) const
    {
        std::printf("{\"tool\":\"tt-shm-sim\",\"phase\":\"%s\",\"segment\":", phase);
        if (w != nullptr)
            std::printf("\"%s\"", ttshm_writer_segment_name(w));
        else
            std::fputs("null", stdout);
        std::printf(",\"generation\":%" PRIu64 ",\"pid\":%ld,\"profile\":\"tt-metal\","
                    "\"device_count\":%u,\"events\":%" PRIu64 ",\"seed\":%" PRIu64,
                    w ? ttshm_writer_generation(w) : 0, static_cast<long>(getpid()), kChips,
                    o_.events, o_.seed);
        std::fputs(",\"devices\":[", stdout);
        uint64_t live_count = 0, live_bytes = 0;
        for (unsigned c = 0; c < kChips; c++) {
            std::printf("%s{\"device\":%u,\"types\":{", c ? "," : "", c);
            bool first = true;
            for (unsigned ty = 0; ty < TTSHM_MEM_TYPE_COUNT; ty++) {
                const Counts &k = counts_[c][ty];
                if (k.allocs == 0 && k.capacity_bytes == 0)
                    continue;
                std::printf("%s\"%s\":{\"live_count\":%" PRIu64 ",\"live_bytes\":%" PRIu64
                            ",\"allocs\":%" PRIu64 ",\"frees\":%" PRIu64 ",\"alloc_bytes\":%" PRIu64
                            ",\"capacity_bytes\":%" PRIu64 ",\"capacity_banks\":%" PRIu32 "}",
                            first ? "" : ",", ttshm_mem_type_name(ty), k.live_count, k.live_bytes,
                            k.allocs, k.frees, k.alloc_bytes, k.capacity_bytes, k.capacity_banks);
                first = false;
                live_count += k.live_count;
                live_bytes += k.live_bytes;
            }
            std::fputs("}}", stdout);
        }
        std::printf("],\"live_count\":%" PRIu64 ",\"live_bytes\":%" PRIu64
                    ",\"captured_allocations\":%" PRIu64 ",\"leaked\":[]}\n",
                    live_count, live_bytes, captured_);
        std::fflush(stdout);
    }

    uint64_t live_count() const
    {
        uint64_t n = 0;
        for (const auto &chip : counts_)
            for (const Counts &k : chip)
                n += k.live_count;
        return n;
    }

  private:
    uint64_t next()
    {
        // xorshift64*
        rng_ ^= rng_ >> 12;
        rng_ ^= rng_ << 25;
        rng_ ^= rng_ >> 27;
        return rng_ * 0x2545F4914F6CDD1Dull;
    }
    uint64_t below(uint64_t n)
    {
        return next() % n;
    }
    size_t pick_device()
    {
        const uint64_t r = below(100);
        if (r < 70 || !devices_[1].open)
            return r < 85 ? 0 : 2;
        return r < 85 ? 1 : 2;
    }

    void add(const Device &d, int type, uint64_t size)
    {
        for (uint32_t c : d.target) {
            Counts &k = counts_[c][type];
            k.live_count++;
            k.live_bytes += size;
            k.allocs++;
            k.alloc_bytes += size;
        }
    }
    void remove(const Device &d, int type, uint64_t size)
    {
        for (uint32_t c : d.target) {
            Counts &k = counts_[c][type];
            k.live_count--;
            k.live_bytes -= size;
            k.frees++;
        }
    }
    void forget(Device &d, const Buffer &b)
    {
        remove(d, b.type, b.size);
        d.free_slots[b.type].push_back((b.address - kBase[b.type]) / kSlot[b.type]);
    }
    void forget_cbs(const Device &d, const Program &p)
    {
        for (uint64_t size : p.cb_sizes)
            remove(d, TTSHM_CB, size);
    }

    // track_program, then the CBs on the program's first launch on the device.
    void launch(Device &d, uint64_t key)
    {
        t_.program(d.target, key);
        Program &p = d.programs[key];
        if (p.cb_sizes.empty())
            for (uint64_t n = 1 + below(SIM_MAX_CBS); n > 0; n--)
                p.cb_sizes.push_back((1 + below(32)) * 2048);
        if (p.allocated)
            return;
        uint64_t address = kCbBase;
        for (uint64_t size : p.cb_sizes) {
            t_.allocate_cb(d.target, address, size, false);
            add(d, TTSHM_CB, size);
            address += size;
        }
        p.allocated = true;
    }
    // An uncached program: run, then destroyed (track_deallocate_cb).
    void uncached(Device &d, uint64_t key)
    {
        launch(d, key);
        t_.deallocate_cb(d.target);
        forget_cbs(d, d.programs[key]);
        d.programs.erase(key);
    }
    // One cached program destroyed on its own; it is compiled again on its next launch.
    void destroy_one(Device &d)
    {
        auto it = d.programs.begin();
        std::advance(it, below(d.programs.size()));
        if (!it->second.allocated)
            return;
        t_.destroy_program(d.target, it->first);
        forget_cbs(d, it->second);
        it->second.allocated = false;
    }
    // A graph capture with NO_DISPATCH: everything at address 0, nothing real.
    void capture(Device &d)
    {
        t_.program(d.target, 2000000);
        t_.allocate_cb(d.target, 0, 4096, false);
        for (int i = 0; i < 8; i++)
            t_.allocate(d.target, i % 2 ? TTSHM_L1 : TTSHM_DRAM, 0, 65536, 0);
        for (int i = 0; i < 8; i++)
            t_.deallocate(d.target, i % 2 ? TTSHM_L1 : TTSHM_DRAM, 0);
        captured_ += 8;
    }
    void allocate(Device &d, int type)
    {
        uint64_t slot;
        if (!d.free_slots[type].empty()) {
            slot = d.free_slots[type].back();
            d.free_slots[type].pop_back();
        } else {
            slot = d.next_slot[type]++;
        }
        const uint64_t size =
            type == TTSHM_DRAM ? (1 + below(1024)) * 4096 : (1 + below(64)) * 1024;
        const Buffer b{type, kBase[type] + slot * kSlot[type], size};
        t_.allocate(d.target, type, b.address, b.size, next_unique_++);
        add(d, type, size);
        d.live.push_back(b);
    }
    void deallocate(Device &d, size_t index)
    {
        const Buffer b = d.live[index];
        t_.deallocate(d.target, b.type, b.address);
        forget(d, b);
        d.live.erase(d.live.begin() + static_cast<long>(index));
    }

    const sim_options &o_;
    Translator t_;
    uint64_t rng_;
    uint64_t next_unique_ = 1;
    uint64_t captured_ = 0;
    std::vector<Device> devices_;
    Counts counts_[kChips][TTSHM_MEM_TYPE_COUNT];
};

} // namespace

extern "C" int sim_ttmetal_main(const struct sim_options *o, ttshm_writer *w)
{
    Run run(*o, w);
    run.open();
    run.ops();
    run.deallocate_buffers_chip10();
    run.close(run.mesh1());
    run.report("steady", w);
    if (!o->quiet)
        std::fprintf(stderr,
                     "tt-shm-sim: %s generation %" PRIu64 " pid %ld: tt-metal profile, %" PRIu64
                     " ops on a 2x4 mesh, a 1x2 mesh (closed) and a chip; %" PRIu64
                     " buffers and CBs live\n",
                     w ? ttshm_writer_segment_name(w) : "(tracking off)",
                     w ? ttshm_writer_generation(w) : 0, static_cast<long>(getpid()), o->events,
                     run.live_count());
    if (o->hold_s > 0)
        sim_hold(o->hold_s);
    run.shutdown();
    run.report("final", w);
    if (!o->quiet)
        std::fputs("tt-shm-sim: program caches cleared and devices closed; exiting cleanly\n",
                   stderr);
    return 0;
}
