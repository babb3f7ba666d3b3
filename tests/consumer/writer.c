/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Consumer writer: records a few buffers into registry argv[1] on device 1,
 * publishes the device's identity, frees one buffer and closes cleanly, so the
 * two left are leaks that the consumer reader must find.
 */
#include <stdio.h>

#include <ttshm/writer.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fputs("usage: consumer-writer REGISTRY\n", stderr);
        return 2;
    }
    struct ttshm_writer_config cfg = {.struct_size = sizeof cfg, .name = argv[1]};
    ttshm_writer *w = NULL;
    int rc = ttshm_writer_open(&cfg, &w);
    if (rc != 0) {
        fprintf(stderr, "consumer-writer: ttshm_writer_open: %s\n", ttshm_strerror(rc));
        return 1;
    }
    int bad = 0;
    bad |= ttshm_publish_device(w, 1, UINT64_C(0x1234abcd), "consumer-chip") != TTSHM_RECORDED;
    bad |= ttshm_record_alloc(w, 1, TTSHM_DRAM, 0x1000, 4096, 7) != TTSHM_RECORDED;
    bad |= ttshm_record_alloc(w, 1, TTSHM_DRAM, 0x3000, 8192, 8) != TTSHM_RECORDED;
    bad |= ttshm_record_alloc(w, 1, TTSHM_L1, 0x100, 256, 9) != TTSHM_RECORDED;
    bad |= ttshm_record_free(w, 1, TTSHM_DRAM, 0x1000) != TTSHM_RECORDED;
    printf("%s\n", ttshm_writer_segment_name(w));
    ttshm_writer_close(w);
    return bad;
}
