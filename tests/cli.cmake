# SPDX-License-Identifier: Apache-2.0
# CLI tests: python3 scripts that run tt-shm-sim and check tt-shm-stat against
# what it reports (tests/cli/test_*.py; helpers in tests/cli/clitest.py).
# Each script uses registries named after its own pid, so they run in parallel.
find_program(TTSHM_PYTHON3 python3)
if(NOT TTSHM_PYTHON3)
  message(WARNING "python3 not found: the CLI tests (cli_*) are not registered")
  return()
endif()

file(GLOB TTSHM_CLI_TESTS ${CMAKE_CURRENT_SOURCE_DIR}/cli/test_*.py)
list(SORT TTSHM_CLI_TESTS)
# test_identity.py loads libttshm into the (uninstrumented) interpreter with
# ctypes, which a sanitizer runtime refuses; identities are covered under the
# sanitizers by core_runtime.
if(NOT TTSHM_SANITIZE STREQUAL "")
  list(FILTER TTSHM_CLI_TESTS EXCLUDE REGEX "test_identity[.]py$")
endif()
foreach(script ${TTSHM_CLI_TESTS})
  get_filename_component(stem ${script} NAME_WE)
  string(REGEX REPLACE "^test_" "cli_" name ${stem})
  add_test(NAME ${name} COMMAND ${TTSHM_PYTHON3} ${script})
  set_tests_properties(${name} PROPERTIES TIMEOUT 180 LABELS cli
    ENVIRONMENT "TTSHM_TEST_BIN_DIR=${PROJECT_BINARY_DIR};TTSHM_TEST_SRC_DIR=${PROJECT_SOURCE_DIR};PYTHONDONTWRITEBYTECODE=1")
endforeach()
