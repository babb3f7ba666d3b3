# SPDX-License-Identifier: Apache-2.0
# The reader against hostile and dying writers (issue 11 items 12-18, 20;
# issue 10 item 4). Links the layout objects to forge slots and tables.
ttshm_add_test(reader_hardening SOURCES test_reader_hardening.c
               LIBS ttshm_core_test_util ttshm_layout Threads::Threads TIMEOUT 300)
target_compile_definitions(reader_hardening PRIVATE _GNU_SOURCE)

# Races and time bounds, made deterministic by interposing fcntl, clock_gettime
# and nanosleep (items 16, 17).
ttshm_add_test(reader_interpose SOURCES test_reader_interpose.c
               LIBS ttshm_core_test_util ttshm_layout TIMEOUT 120)
target_compile_definitions(reader_interpose PRIVATE _GNU_SOURCE)
target_include_directories(reader_interpose PRIVATE ${PROJECT_SOURCE_DIR}/reader)
