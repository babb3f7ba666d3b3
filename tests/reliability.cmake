# SPDX-License-Identifier: Apache-2.0
# Reliability and security campaign (docs/reliability.md): crash/restart
# torture, cross-process stress, hostile segments and fuzzing, security,
# exhaustion. Short versions run in ctest; `make stress` and `make fuzz` run
# the long ones.
add_library(ttshm_rel_common STATIC reliability/common.c)
target_include_directories(ttshm_rel_common PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}
                           ${PROJECT_SOURCE_DIR}/include)
target_compile_options(ttshm_rel_common PRIVATE ${TTSHM_WARNINGS})
target_compile_definitions(ttshm_rel_common PUBLIC _GNU_SOURCE)

ttshm_add_test(torture_restart SOURCES torture_restart.c LIBS ttshm_rel_common ttshm ttshm-reader
               TIMEOUT 600)
ttshm_add_test(stress_validate SOURCES stress_validate.c LIBS ttshm_rel_common ttshm ttshm-reader
               TIMEOUT 600)

# The reader fuzz target: replayed with structure-aware mutations in every
# build; under libFuzzer (clang) when TTSHM_FUZZ is ON (`make fuzz`).
ttshm_add_test(fuzz_replay SOURCES fuzz_replay.c fuzz_reader.c fuzz_seeds.c
               LIBS ttshm_rel_common ttshm ttshm-reader TIMEOUT 600)

# Seed corpus generator (real segments) for the libFuzzer target.
add_executable(fuzz_seedgen fuzz_seedgen.c fuzz_seeds.c)
target_include_directories(fuzz_seedgen PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}
                           ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/core)
target_compile_options(fuzz_seedgen PRIVATE ${TTSHM_WARNINGS})
target_compile_definitions(fuzz_seedgen PRIVATE _GNU_SOURCE)
target_link_libraries(fuzz_seedgen PRIVATE ttshm ttshm-reader)

# TTSHM_FUZZ=ON (clang only; `make fuzz` configures build-fuzz with it, ASan+UBSan
# and -fsanitize=fuzzer-no-link for coverage of both libraries): the libFuzzer
# target, and a short fuzz run as a ctest.
option(TTSHM_FUZZ "Build the libFuzzer target (needs clang)" OFF)
if(TTSHM_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "TTSHM_FUZZ needs clang (configure with CC=clang)")
  endif()
  add_executable(fuzz_reader fuzz_reader.c)
  target_include_directories(fuzz_reader PRIVATE ${PROJECT_SOURCE_DIR}/include
                             ${PROJECT_SOURCE_DIR}/core)
  target_compile_options(fuzz_reader PRIVATE ${TTSHM_WARNINGS} -fsanitize=fuzzer)
  target_compile_definitions(fuzz_reader PRIVATE _GNU_SOURCE FUZZ_NO_SLEEP)
  target_link_options(fuzz_reader PRIVATE -fsanitize=fuzzer)
  target_link_libraries(fuzz_reader PRIVATE ttshm-reader)
  set(TTSHM_FUZZ_SHORT_RUNS 30000 CACHE STRING "libFuzzer executions of the ctest fuzz run")
  add_test(NAME fuzz_reader_short
           COMMAND sh -c "rm -rf corpus-ctest && mkdir corpus-ctest && ./fuzz_seedgen corpus-ctest >/dev/null && ./fuzz_reader -runs=${TTSHM_FUZZ_SHORT_RUNS} -max_total_time=300 -timeout=20 -print_final_stats=1 corpus-ctest"
           WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  set_tests_properties(fuzz_reader_short PROPERTIES TIMEOUT 600)
endif()

# Hostile segments changed under an open reader; tt-shm-stat on corrupt segments.
ttshm_add_test(torture_hostile SOURCES torture_hostile.c ${PROJECT_SOURCE_DIR}/core/layout.c
               LIBS ttshm_rel_common ttshm ttshm-reader TIMEOUT 300)

# Security: read-only readers, private segments, foreign/insecure objects
# refused (as root, with a second uid; skipped otherwise), names validated.
ttshm_add_test(test_security SOURCES test_security.c LIBS ttshm_rel_common ttshm ttshm-reader
               TIMEOUT 120)

# Exhaustion: a small tmpfs over /dev/shm in a private mount namespace (root;
# skipped otherwise).
ttshm_add_test(test_exhaustion SOURCES test_exhaustion.c LIBS ttshm_rel_common ttshm ttshm-reader
               TIMEOUT 300)
