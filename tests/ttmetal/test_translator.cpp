// SPDX-License-Identifier: Apache-2.0
//
// The TT-Metal translation layer against a model of what TT-Metal's allocator
// holds. Each case drives the translator in the order TT-Metal's hooks fire
// and the model as the allocator changes; after every step the registry's
// counters and live records must equal the model, chip by chip: CB bytes =
// the CBs of live programs, no false leaks after deallocate_buffers or a
// device close, mesh buffers once per chip, NO_DISPATCH captures absent.
#include <algorithm>
#include <cinttypes>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>
#include <vector>

extern "C" {
#include "harness.h"
}
#include "ttshm/reader.h"
#include "ttshm/tt_metal/translator.hpp"
#include "ttshm/writer.h"

using ttshm::tt_metal::ChipInfo;
using ttshm::tt_metal::Target;
using ttshm::tt_metal::Translator;

namespace
{

// (chip, type, address, size, tag): one live record.
using Record = std::tuple<uint32_t, uint32_t, uint64_t, uint64_t, uint64_t>;

constexpr uint64_t kCbBase = 0x19000; // every program's CBs start at the L1 base

// What TT-Metal holds: buffers by (target, type, address) and live programs' CBs.
struct Model {
    struct Buffer {
        std::vector<uint32_t> chips;
        uint64_t size, unique_id;
    };
    struct Program {
        std::vector<uint32_t> chips;
        std::vector<std::pair<uint64_t, uint64_t>> cbs; // address, size
    };
    std::map<std::tuple<uint64_t, int, uint64_t>, Buffer> buffers;
    std::map<std::pair<uint64_t, uint64_t>, Program> programs; // (target key, program key)
};

struct Fixture {
    char registry[48];
    ttshm_writer *w = nullptr;
    ttshm_reader *r = nullptr;
    Translator *t = nullptr;
    Model m;
    uint64_t next_unique = 1000;

    explicit Fixture(const char *tag)
    {
        ttshm_test_registry(registry, tag);
        ttshm_test_unlink_registry(registry);
        ttshm_writer_config cfg{};
        cfg.struct_size = sizeof cfg;
        cfg.name = registry;
        CU_ASSERT_FATAL(ttshm_writer_open(&cfg, &w) == 0);
        CU_ASSERT_FATAL(ttshm_reader_open(ttshm_writer_segment_name(w), &r) == 0);
        t = new Translator(w);
    }
    ~Fixture()
    {
        delete t;
        ttshm_reader_close(r);
        ttshm_writer_close(w);
        ttshm_test_unlink_registry(registry);
    }

    // --- TT-Metal's events, applied to the translator and to the model ---

    uint64_t alloc(const Target &tg, int type, uint64_t address, uint64_t size)
    {
        const uint64_t id = next_unique++;
        t->allocate(tg, type, address, size, id);
        if (address != 0)
            m.buffers[{tg.key(), type, address}] = {{tg.begin(), tg.end()}, size, id};
        return id;
    }
    void free(const Target &tg, int type, uint64_t address)
    {
        t->deallocate(tg, type, address);
        m.buffers.erase({tg.key(), type, address});
    }
    // track_program, then (first launch only) one track_allocate_cb per CB.
    void launch(const Target &tg, uint64_t program, const std::vector<uint64_t> &cb_sizes)
    {
        t->program(tg, program);
        auto key = std::make_pair(tg.key(), program);
        if (m.programs.count(key))
            return; // cached: its CBs are allocated already
        Model::Program &p = m.programs[key];
        p.chips.assign(tg.begin(), tg.end());
        uint64_t address = kCbBase;
        for (uint64_t size : cb_sizes) {
            t->allocate_cb(tg, address, size, false);
            p.cbs.push_back({address, size});
            address += size;
        }
    }
    void destroy(const Target &tg, uint64_t program)
    {
        t->destroy_program(tg, program);
        m.programs.erase({tg.key(), program});
    }
    void close(const Target &tg)
    {
        t->close(tg);
        auto on = [&tg](const std::vector<uint32_t> &chips) {
            return std::any_of(chips.begin(), chips.end(), [&tg](uint32_t c) {
                return std::find(tg.begin(), tg.end(), c) != tg.end();
            });
        };
        for (auto it = m.buffers.begin(); it != m.buffers.end();)
            it = on(it->second.chips) ? m.buffers.erase(it) : std::next(it);
        for (auto it = m.programs.begin(); it != m.programs.end();)
            it = on(it->second.chips) ? m.programs.erase(it) : std::next(it);
    }
    void deallocate_buffers(const Target &tg)
    {
        t->deallocate_buffers(tg);
        for (auto it = m.buffers.begin(); it != m.buffers.end();) {
            const auto &chips = it->second.chips;
            bool hit = std::any_of(chips.begin(), chips.end(), [&tg](uint32_t c) {
                return std::find(tg.begin(), tg.end(), c) != tg.end();
            });
            it = hit ? m.buffers.erase(it) : std::next(it);
        }
    }

    // --- the comparison ---

    std::set<Record> expected() const
    {
        std::set<Record> out;
        for (const auto &[k, b] : m.buffers)
            for (uint32_t chip : b.chips)
                out.insert({chip, static_cast<uint32_t>(std::get<1>(k)), std::get<2>(k), b.size,
                            b.unique_id});
        for (const auto &[k, p] : m.programs) {
            const Target tg = target_named(k.first, p.chips);
            const uint64_t owner = t->cb_owner(tg, k.second);
            CU_ASSERT(owner != 0);
            for (uint32_t chip : p.chips)
                for (const auto &[address, size] : p.cbs)
                    out.insert({chip, TTSHM_CB, address, size, owner});
        }
        return out;
    }
    static Target target_named(uint64_t key, const std::vector<uint32_t> &chips)
    {
        return key >> 32 ? Target::mesh(static_cast<uint32_t>(key), chips.data(), chips.size())
                         : Target::chip(static_cast<uint32_t>(key));
    }

    // The registry equals the model: live records, live counters per chip x
    // type, and no unknown free, duplicate or drop anywhere.
    void check(const char *step)
    {
        ttshm_entry *entries = nullptr;
        size_t n = 0;
        CU_ASSERT_FATAL(ttshm_reader_snapshot(r, &entries, &n) == 0);
        std::set<Record> got;
        for (size_t i = 0; i < n; i++)
            got.insert({entries[i].device, entries[i].type, entries[i].address, entries[i].size,
                        entries[i].tag});
        std::free(entries);
        const std::set<Record> want = expected();
        if (got != want)
            TTSHM_TEST_FAILF("%s: %zu live records, want %zu", step, got.size(), want.size());

        static ttshm_stats st;
        st.struct_size = sizeof st;
        CU_ASSERT_FATAL(ttshm_reader_stats(r, &st) == 0);
        std::map<std::pair<uint32_t, uint32_t>, std::pair<uint64_t, uint64_t>> live;
        for (const Record &rec : want) {
            auto &c = live[{std::get<0>(rec), std::get<1>(rec)}];
            c.first++;
            c.second += std::get<3>(rec);
        }
        for (uint32_t d = 0; d < TTSHM_MAX_DEVICES; d++)
            for (uint32_t ty = 0; ty < TTSHM_MEM_TYPE_COUNT; ty++) {
                const ttshm_counters &c = st.dev[d][ty];
                auto it = live.find({d, ty});
                const uint64_t count = it == live.end() ? 0 : it->second.first;
                const uint64_t bytes = it == live.end() ? 0 : it->second.second;
                if (c.live_count != count || c.live_bytes != bytes)
                    TTSHM_TEST_FAILF("%s: chip %u %s holds %" PRIu64 " buffers, %" PRIu64
                                     " bytes; the allocator %" PRIu64 ", %" PRIu64,
                                     step, d, ttshm_mem_type_name(ty), c.live_count, c.live_bytes,
                                     count, bytes);
                if (c.unknown_frees || c.duplicate_allocs || c.dropped)
                    TTSHM_TEST_FAILF("%s: chip %u %s unknown %" PRIu64 " duplicate %" PRIu64
                                     " dropped %" PRIu64,
                                     step, d, ttshm_mem_type_name(ty), c.unknown_frees,
                                     c.duplicate_allocs, c.dropped);
            }
    }

    uint64_t cb_bytes(uint32_t chip)
    {
        static ttshm_stats st;
        st.struct_size = sizeof st;
        CU_ASSERT_FATAL(ttshm_reader_stats(r, &st) == 0);
        return st.dev[chip][TTSHM_CB].live_bytes;
    }
    uint64_t bulk_freed(uint32_t chip, int type)
    {
        static ttshm_stats st;
        st.struct_size = sizeof st;
        CU_ASSERT_FATAL(ttshm_reader_stats(r, &st) == 0);
        return st.dev[chip][type].bulk_freed;
    }
};

const uint32_t kMeshChips[8] = {0, 1, 2, 3, 4, 5, 6, 7}; // a 2x4 mesh, row-major

Target mesh0()
{
    return Target::mesh(0, kMeshChips, 8);
}

// Several cached programs per chip, CBs at overlapping addresses, destroyed one
// at a time in an order unrelated to their creation: exact with destroy_program.
void test_cached_programs_exact()
{
    Fixture f("tm_cached");
    const Target c0 = Target::chip(0), c1 = Target::chip(1);
    f.launch(c0, 11, {4096, 2048, 8192});
    f.launch(c0, 12, {1024});
    f.launch(c1, 11, {512, 512}); // the same program key on another chip
    f.launch(c0, 13, {16384, 4096});
    f.launch(c0, 12, {1024}); // cached: no CB event
    f.launch(c0, 11, {4096, 2048, 8192});
    f.check("after launches");
    CU_ASSERT_EQUAL(f.cb_bytes(0), 4096u + 2048 + 8192 + 1024 + 16384 + 4096);
    for (uint64_t p : {12, 11, 13}) {
        f.destroy(c0, p);
        f.check("program destroyed");
    }
    CU_ASSERT_EQUAL(f.cb_bytes(0), 0u);
    CU_ASSERT_EQUAL(f.cb_bytes(1), 1024u);
    f.destroy(c1, 11);
    f.check("last program destroyed");
}

// track_deallocate_cb(device) names no program: the CBs allocated last go.
// Exact when programs die in reverse order of their first launch (uncached
// programs, each destroyed after its run, around cached ones).
void test_deallocate_cb_order()
{
    Fixture f("tm_order");
    const Target c3 = Target::chip(3);
    f.launch(c3, 1, {8192, 4096}); // cached, stays
    for (uint64_t p = 100; p < 110; p++) {
        f.launch(c3, p, {2048 * (p - 99)});
        f.launch(c3, 1, {8192, 4096}); // the cached one runs between them
        f.t->deallocate_cb(c3);        // ~ProgramImpl of the uncached program
        f.m.programs.erase({c3.key(), p});
        f.check("uncached program destroyed");
    }
    f.launch(c3, 2, {1024});
    f.launch(c3, 3, {1024, 1024});
    f.t->deallocate_cb(c3);
    f.m.programs.erase({c3.key(), 3});
    f.check("newest program destroyed");
    // A cleared program cache: every program goes, in any order.
    f.t->deallocate_cb(c3);
    f.t->deallocate_cb(c3);
    f.m.programs.clear();
    f.check("program cache cleared");
    CU_ASSERT_EQUAL(f.cb_bytes(3), 0u);
    f.t->deallocate_cb(c3); // nothing left: records nothing
    f.check("no program left");
}

// Mesh buffers on a 2x4 mesh: one record per chip, never under the mesh id
// (a mesh 0 spanning chips 4..11 leaves chip 0 empty).
void test_mesh_buffers()
{
    Fixture f("tm_mesh");
    const Target m = mesh0();
    const uint64_t id = f.alloc(m, TTSHM_DRAM, 0x100000, 1 << 20);
    f.alloc(m, TTSHM_L1, 0x80000, 65536);
    f.alloc(Target::chip(5), TTSHM_L1, 0x40000, 4096); // a single-chip buffer beside them
    f.launch(m, 7, {4096, 4096});                      // a mesh workload's CBs
    f.check("mesh buffers allocated");
    ttshm_entry e;
    CU_ASSERT_EQUAL(ttshm_reader_lookup(f.r, 6, TTSHM_DRAM, 0x100000, &e), 0);
    CU_ASSERT_EQUAL(e.tag, id);
    f.free(m, TTSHM_DRAM, 0x100000);
    f.check("mesh buffer freed");

    const uint32_t upper[8] = {4, 5, 6, 7, 8, 9, 10, 11};
    const Target other = Target::mesh(0, upper, 8);
    Fixture g("tm_meshid");
    g.alloc(other, TTSHM_DRAM, 0x200000, 4096);
    g.check("mesh 0 on chips 4..11");
    CU_ASSERT_EQUAL(ttshm_reader_lookup(g.r, 0, TTSHM_DRAM, 0x200000, &e), -TTSHM_E_NOTFOUND);
}

// A graph capture with NO_DISPATCH hands out address 0: nothing is recorded,
// and the frees of those buffers are no unknown frees.
void test_no_dispatch_capture()
{
    Fixture f("tm_nodisp");
    const Target m = mesh0();
    f.alloc(m, TTSHM_DRAM, 0x300000, 8192); // a real buffer first
    for (int i = 0; i < 5; i++) {
        f.alloc(m, TTSHM_L1, 0, 4096);
        f.alloc(Target::chip(2), TTSHM_DRAM, 0, 65536);
    }
    f.t->program(m, 42);
    f.t->allocate_cb(m, 0, 2048, false); // a capture's CB at address 0
    f.check("during the capture");
    for (int i = 0; i < 5; i++) {
        f.free(m, TTSHM_L1, 0);
        f.free(Target::chip(2), TTSHM_DRAM, 0);
    }
    f.check("after the capture");
    // A globally allocated CB lives in an L1 buffer already recorded.
    f.t->allocate_cb(m, 0x90000, 4096, true);
    f.check("globally allocated CB");
}

// deallocate_buffers on one chip: its allocator's buffers go at once, the CBs
// of its live programs stay, the other chips are untouched; the buffers'
// destructors fire nothing afterwards.
void test_deallocate_buffers()
{
    Fixture f("tm_dealloc");
    const Target c2 = Target::chip(2), c4 = Target::chip(4);
    for (int i = 0; i < 8; i++) {
        f.alloc(c2, TTSHM_DRAM, 0x100000 + 0x10000 * i, 0x10000);
        f.alloc(c2, TTSHM_L1, 0x80000 + 0x1000 * i, 0x1000);
        f.alloc(c4, TTSHM_DRAM, 0x100000 + 0x10000 * i, 0x10000);
    }
    f.alloc(c2, TTSHM_L1_SMALL, 0x20000, 512);
    f.alloc(c2, TTSHM_TRACE, 0x400000, 1 << 16);
    f.launch(c2, 5, {4096, 1024});
    f.check("before deallocate_buffers");
    f.deallocate_buffers(c2);
    f.check("after deallocate_buffers");
    CU_ASSERT_EQUAL(f.bulk_freed(2, TTSHM_DRAM), 8u);
    CU_ASSERT_EQUAL(f.bulk_freed(2, TTSHM_CB), 0u);
    CU_ASSERT_EQUAL(f.cb_bytes(2), 5120u);
    f.alloc(c2, TTSHM_DRAM, 0x100000, 0x20000); // the allocator hands the address out again
    f.check("allocated again");
}

// A device closed before its buffers: the close frees everything the mesh
// holds; the buffers' and programs' later destruction records nothing; the
// mesh reopened starts from nothing.
void test_close_before_buffers()
{
    Fixture f("tm_close");
    const Target m = mesh0();
    ChipInfo info;
    info.unique_id = 0x1234;
    info.name = "wormhole_b0";
    info.capacity[TTSHM_DRAM] = {12ull << 30, 12};
    for (uint32_t chip : kMeshChips)
        f.t->open_chip(chip, info);
    f.alloc(m, TTSHM_DRAM, 0x100000, 1 << 20);
    f.alloc(m, TTSHM_L1, 0x80000, 4096);
    f.alloc(Target::chip(9), TTSHM_DRAM, 0x100000, 4096); // another device stays open
    f.launch(m, 1, {4096});
    f.launch(m, 2, {2048, 2048});
    f.check("before close");
    f.close(m);
    f.check("closed");
    // What TT-Metal might still report after the close is not recorded.
    f.t->deallocate(m, TTSHM_DRAM, 0x100000);
    f.t->deallocate_cb(m);
    f.t->destroy_program(m, 2);
    f.check("frees after the close");
    // Reopened: a new buffer at the same address is a new, live record.
    for (uint32_t chip : kMeshChips)
        f.t->open_chip(chip, info);
    f.alloc(m, TTSHM_DRAM, 0x100000, 1 << 20);
    f.launch(m, 1, {4096});
    f.check("reopened");
    static ttshm_stats st;
    st.struct_size = sizeof st;
    CU_ASSERT_FATAL(ttshm_reader_stats(f.r, &st) == 0);
    CU_ASSERT_EQUAL(st.identity[3].unique_id, 0x1234u);
    CU_ASSERT_STRING_EQUAL(st.identity[3].name, "wormhole_b0");
    CU_ASSERT_EQUAL(st.dev[3][TTSHM_DRAM].capacity_bytes, 12ull << 30);
    CU_ASSERT_EQUAL(st.dev[3][TTSHM_CB].bulk_freed, 3u);
}

// A program's CBs laid out again on a later launch (a CB resized: the
// addresses move) replace the old layout; two CBs of one layout at one
// address (disjoint cores) are one record of the larger size.
void test_cb_relayout()
{
    Fixture f("tm_relayout");
    const Target c0 = Target::chip(0);
    f.launch(c0, 9, {4096, 4096});
    f.launch(c0, 9, {4096, 4096}); // cached launch: nothing new
    f.t->allocate_cb(c0, kCbBase, 8192, false);
    f.t->allocate_cb(c0, kCbBase + 8192, 4096, false);
    f.m.programs[{c0.key(), 9}].cbs = {{kCbBase, 8192}, {kCbBase + 8192, 4096}};
    f.check("laid out again");
    CU_ASSERT_EQUAL(f.cb_bytes(0), 12288u);

    f.t->program(c0, 10);
    f.t->allocate_cb(c0, kCbBase, 2048, false);
    f.t->allocate_cb(c0, kCbBase, 4096, false);
    f.t->allocate_cb(c0, kCbBase, 1024, false);
    f.m.programs[{c0.key(), 10}] = {{0}, {{kCbBase, 4096}}};
    f.check("CBs at one address on disjoint cores");
    f.destroy(c0, 9);
    f.destroy(c0, 10);
    f.check("destroyed");
}

// Waits until n threads have arrived (std::barrier is C++20).
class Barrier
{
  public:
    explicit Barrier(unsigned n) : n_(n) {}
    void wait()
    {
        std::unique_lock<std::mutex> lock(mu_);
        const uint64_t round = round_;
        if (++arrived_ == n_) {
            arrived_ = 0;
            round_++;
            cv_.notify_all();
            return;
        }
        cv_.wait(lock, [&] { return round_ != round; });
    }

  private:
    std::mutex mu_;
    std::condition_variable cv_;
    unsigned n_, arrived_ = 0;
    uint64_t round_ = 0;
};

// Threads launching programs on one mesh at once, every thread naming its
// program before any allocates CBs: each thread's CBs go to the program it
// named, and buffers on each thread's own chip are exact.
void test_threads()
{
    Fixture f("tm_threads");
    const Target m = mesh0();
    constexpr unsigned kThreads = 4, kPrograms = 60;
    auto cb_size = [](unsigned i, unsigned k) { return uint64_t{1024} * (1 + (i * 7 + k) % 13); };
    Barrier named(kThreads);
    std::vector<std::thread> threads;
    for (unsigned i = 0; i < kThreads; i++)
        threads.emplace_back([&, i] {
            const Target own = Target::chip(8 + i);
            for (unsigned k = 0; k < kPrograms; k++) {
                const uint64_t key = 1000 * (i + 1) + k;
                f.t->program(m, key);
                named.wait();
                f.t->allocate_cb(m, kCbBase, cb_size(i, k), false);
                f.t->allocate_cb(m, kCbBase + 0x10000, 2048, false);
                f.t->allocate(own, TTSHM_DRAM, 0x100000 + 0x1000 * k, 4096, key);
                if (k % 3 == 0) {
                    f.t->destroy_program(m, key);
                    f.t->deallocate(own, TTSHM_DRAM, 0x100000 + 0x1000 * k);
                }
            }
        });
    for (std::thread &th : threads)
        th.join();
    for (unsigned i = 0; i < kThreads; i++)
        for (unsigned k = 0; k < kPrograms; k++) {
            if (k % 3 == 0)
                continue;
            const uint64_t key = 1000 * (i + 1) + k;
            f.m.programs[{m.key(), key}] = {{kMeshChips, kMeshChips + 8},
                                            {{kCbBase, cb_size(i, k)}, {kCbBase + 0x10000, 2048}}};
            f.m.buffers[{Target::chip(8 + i).key(), TTSHM_DRAM, 0x100000 + 0x1000 * k}] = {
                {8 + i}, 4096, key};
        }
    f.check("after the threads");
}

} // namespace

int main()
{
    static const ttshm_test_case cases[] = {
        {"cached programs, exact frees", test_cached_programs_exact},
        {"track_deallocate_cb order", test_deallocate_cb_order},
        {"mesh buffers on a 2x4 mesh", test_mesh_buffers},
        {"NO_DISPATCH capture", test_no_dispatch_capture},
        {"deallocate_buffers", test_deallocate_buffers},
        {"device closed before its buffers", test_close_before_buffers},
        {"CBs laid out again", test_cb_relayout},
        {"threads", test_threads},
    };
    TTSHM_TEST_SUITE("tt-metal translator", cases);
    return ttshm_test_run();
}
