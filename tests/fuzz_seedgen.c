/* SPDX-License-Identifier: Apache-2.0 */
/* Writes the reader fuzz target's seed corpus (real segments) into a directory. */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_reader.h"

static void save(const char *name, const uint8_t *data, size_t size, void *ctx)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/seed-%s", (const char *)ctx, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, size, f) != size) {
        perror(path);
        exit(1);
    }
    fclose(f);
    printf("%s: %zu bytes\n", path, size);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS-DIR\n", argv[0]);
        return 2;
    }
    int n = fuzz_make_seeds(save, argv[1]);
    return n > 0 ? 0 : 1;
}
