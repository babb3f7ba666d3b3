/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The reader fuzz target's input format, shared by the libFuzzer target
 * (fuzz_reader.c), the seed generator (fuzz_seeds.c) and the replay test.
 *
 *   byte 0      flags (FUZZ_F_*)
 *   byte 1      argument of the "under the reader" change (size in pages)
 *   bytes 2..3  reserved
 *   u32 LE      header object length H
 *   u32 LE      current table object length T
 *   u32 LE      old table object length O
 *   H bytes     the header object ("ttshm.<registry>.0")
 *   T bytes     the table object named by the header's table_epoch
 *   O bytes     the table object named by the header's old_epoch (if any)
 * Lengths are clamped to what the input holds. Objects shorter than their
 * natural size are zero-padded when the PAD flags say so (seeds are stored
 * with trailing zeros trimmed): with allocated zeros, as a writer reserves
 * its objects, or with holes (FUZZ_F_SPARSE), as a hostile one may. A header whose registry field
 * reads FUZZ_REGISTRY_PLACEHOLDER gets the fuzzing process's own registry name.
 */
#ifndef TTSHM_FUZZ_READER_H
#define TTSHM_FUZZ_READER_H

#include <stddef.h>
#include <stdint.h>

#define FUZZ_F_PAD_HEADER 0x01u /* zero-pad the header object to its natural size */
#define FUZZ_F_PAD_TABLES 0x02u /* zero-pad tables to the size their header announces */
#define FUZZ_F_TRUNC_HDR  0x04u /* after open: truncate the header object (byte 1 pages) */
#define FUZZ_F_TRUNC_TAB  0x08u /* after open: truncate the table object (byte 1 pages) */
#define FUZZ_F_GROW       0x10u /* after open: grow both objects by byte 1 pages */
#define FUZZ_F_REPLACE                                                                             \
    0x20u                   /* after open: unlink and recreate the header object with              \
                               its bytes reversed */
#define FUZZ_F_SPARSE 0x40u /* pad with holes (a sparse object) instead of allocated zeros */
#define FUZZ_F_SHRINK                                                                              \
    0x80u /* during a foreach: truncate the header (TRUNC_HDR) or the                              \
             table (otherwise) to byte 1 pages, under the reader's loads */
#define FUZZ_HDR_BYTES 16u

#define FUZZ_REGISTRY_PLACEHOLDER "FUZZREG"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Builds seed inputs from real segments made by real writers (in child
 * processes); calls fn for each. Returns the number of seeds or -1. */
typedef void (*fuzz_seed_fn)(const char *name, const uint8_t *data, size_t size, void *ctx);
int fuzz_make_seeds(fuzz_seed_fn fn, void *ctx);

#endif
