// SPDX-License-Identifier: Apache-2.0
// Consumer reader (C++17, built with `pkg-config ttshm-reader` only): opens
// the segment consumer-writer left and checks what it recorded.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <ttshm/reader.h>

namespace
{

int failures = 0;

void expect(bool ok, const std::string &what)
{
    if (!ok) {
        std::fprintf(stderr, "consumer-reader: %s\n", what.c_str());
        failures++;
    }
}

} // namespace

int main(int argc, char **argv)
{
    if (argc != 2) {
        std::fputs("usage: consumer-reader SEGMENT\n", stderr);
        return 2;
    }
    ttshm_reader *r = nullptr;
    int rc = ttshm_reader_open(argv[1], &r);
    if (rc != 0) {
        std::fprintf(stderr, "consumer-reader: %s: %s\n", argv[1], ttshm_strerror(rc));
        return 1;
    }
    ttshm_status st{};
    st.struct_size = sizeof st;
    expect(ttshm_reader_status(r, &st) == 0, "status");
    expect(st.state == TTSHM_STATE_EXITED, "the writer exited cleanly");

    ttshm_stats stats{};
    stats.struct_size = sizeof stats;
    expect(ttshm_reader_stats(r, &stats) == 0, "stats");
    const ttshm_counters &dram = stats.dev[1][TTSHM_DRAM];
    expect(dram.allocs == 2 && dram.frees == 1 && dram.live_count == 1 && dram.live_bytes == 8192,
           "device 1 DRAM counters");
    expect(stats.dev[1][TTSHM_L1].live_bytes == 256, "device 1 L1 counters");
    expect(stats.identity[1].unique_id == 0x1234abcdu, "published unique id");
    expect(std::strcmp(stats.identity[1].name, "consumer-chip") == 0, "published name");

    std::vector<ttshm_entry> live;
    auto collect = [](const ttshm_entry *e, void *ctx) {
        static_cast<std::vector<ttshm_entry> *>(ctx)->push_back(*e);
        return 0;
    };
    expect(ttshm_reader_foreach(r, collect, &live) == 0, "foreach");
    expect(live.size() == 2, "two buffers left live, got " + std::to_string(live.size()));
    ttshm_entry e{};
    expect(ttshm_reader_lookup(r, 1, TTSHM_DRAM, 0x3000, &e) == 0 && e.size == 8192 && e.tag == 8,
           "lookup of the DRAM leak");
    ttshm_reader_close(r);
    if (failures == 0)
        std::puts("consumer-reader: ok");
    return failures ? 1 : 0;
}
