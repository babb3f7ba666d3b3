# SPDX-License-Identifier: Apache-2.0
# Core tests (issue 2): the writer and reader libraries and the segment format.
add_library(ttshm_core_test_util STATIC test_core_util.c)
target_compile_options(ttshm_core_test_util PRIVATE ${TTSHM_WARNINGS})
target_link_libraries(ttshm_core_test_util PUBLIC ttshm_test_harness ttshm ttshm-reader)

ttshm_add_test(core_semantics SOURCES test_semantics.c LIBS ttshm_core_test_util TIMEOUT 120)
# CB owners, bulk frees, device identity, the 64-bit free-all epoch.
ttshm_add_test(core_runtime SOURCES test_runtime.c LIBS ttshm_core_test_util Threads::Threads
               TIMEOUT 120)
ttshm_add_test(core_concurrency SOURCES test_concurrency.c LIBS ttshm_core_test_util Threads::Threads
               TIMEOUT 300)
ttshm_add_test(core_growth SOURCES test_growth.c LIBS ttshm_core_test_util Threads::Threads
               TIMEOUT 300)
ttshm_add_test(core_restart SOURCES test_restart.c LIBS ttshm_core_test_util TIMEOUT 180)
# Links the layout objects too, to forge slots with a valid check word.
ttshm_add_test(core_hostile SOURCES test_hostile.c LIBS ttshm_core_test_util ttshm_layout
               TIMEOUT 300)
ttshm_add_test(core_permissions SOURCES test_permissions.c LIBS ttshm_core_test_util TIMEOUT 120)

# The public headers compile as C11 and C++17, pedantic and warning-free, and
# agree on every struct's layout.
add_library(ttshm_headers_cxx OBJECT test_headers_cxx.cpp)
target_include_directories(ttshm_headers_cxx PRIVATE ${PROJECT_SOURCE_DIR}/include)
target_compile_options(ttshm_headers_cxx PRIVATE -Wall -Wextra -Werror -pedantic)
set_target_properties(ttshm_headers_cxx PROPERTIES CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON
                                                   CXX_EXTENSIONS OFF)
ttshm_add_test(core_headers SOURCES test_headers.c $<TARGET_OBJECTS:ttshm_headers_cxx>
               LIBS ttshm TIMEOUT 30)
target_compile_options(core_headers PRIVATE -pedantic)
set_target_properties(core_headers PROPERTIES C_STANDARD 11 C_EXTENSIONS OFF LINKER_LANGUAGE CXX)

# The reader library needs no liburcu: no NEEDED entry, no urcu symbol; and it
# exports nothing but the ttshm_* API.
add_test(NAME core_reader_no_urcu
         COMMAND sh -c [=[
set -e
out=$(readelf -d "$1")
printf '%s\n' "$out" | grep NEEDED
printf '%s\n' "$out" | grep -q NEEDED || { echo "no NEEDED entries: readelf failed?"; exit 1; }
if printf '%s\n' "$out" | grep NEEDED | grep -qi urcu; then echo "FAIL: $1 needs liburcu"; exit 1; fi
if nm -D --undefined-only "$1" | grep -Eiq 'urcu|rcu_'; then
  echo "FAIL: $1 refers to liburcu symbols:"; nm -D --undefined-only "$1" | grep -Ei 'urcu|rcu_'; exit 1
fi
extra=$(nm -D --defined-only "$1" | awk '{print $3}' | grep -v '^ttshm_' || true)
if [ -n "$extra" ]; then echo "FAIL: $1 exports more than ttshm_*: $extra"; exit 1; fi
echo "ok: $1 needs no liburcu and exports only ttshm_*"
]=] sh $<TARGET_FILE:ttshm-reader>)
