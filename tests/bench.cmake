# SPDX-License-Identifier: Apache-2.0
# tt-shm-bench smoke test: tiny sizes, every design and every section must run
# and report sane numbers (positive, finite, counts that add up, no segment
# left behind). It never judges a timing: speed goals are the bench's job,
# read from a real run (docs/performance.md), not a test's.
if(TARGET tt-shm-bench)
  find_package(Python3 COMPONENTS Interpreter)
  if(Python3_Interpreter_FOUND)
    add_test(NAME bench_smoke
             COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/bench_smoke.py
                     $<TARGET_FILE:tt-shm-bench> ${CMAKE_CURRENT_BINARY_DIR}/bench_smoke)
    set_tests_properties(bench_smoke PROPERTIES TIMEOUT 300)
  else()
    message(WARNING "python3 not found: the bench smoke test is not built (scripts/deps.sh installs it)")
  endif()
endif()
