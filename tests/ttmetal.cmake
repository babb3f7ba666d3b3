# SPDX-License-Identifier: Apache-2.0
# TT-Metal integration (integrations/tt-metal, issue 8).
if(NOT TARGET ttshm_tt_metal_translator)
  message(STATUS "integrations/tt-metal absent: the ttmetal_* tests are not registered")
  return()
endif()

# The translation layer against a model of TT-Metal's allocator: no TT-Metal needed.
add_executable(ttmetal_translator ttmetal/test_translator.cpp)
target_compile_options(ttmetal_translator PRIVATE -Wall -Wextra -Werror -Wshadow)
set_target_properties(ttmetal_translator PROPERTIES CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON
  CXX_EXTENSIONS OFF)
target_link_libraries(ttmetal_translator PRIVATE ttshm_tt_metal_translator ttshm-reader
  ttshm_test_harness Threads::Threads)
add_test(NAME ttmetal_translator COMMAND ttmetal_translator)
set_tests_properties(ttmetal_translator PROPERTIES TIMEOUT 120 LABELS ttmetal)

# The adapter compiled against real TT-Metal API headers, both versions; each
# test says SKIPPED (ctest: skipped) when ../shared/tt-metal-api is missing.
set(TTSHM_TT_METAL_API ${PROJECT_SOURCE_DIR}/../shared/tt-metal-api CACHE PATH
  "tt-metal-api folder (TT-Metal API headers and check.sh) for the ttmetal_compile_* tests")
set(_tm_check ${CMAKE_CURRENT_SOURCE_DIR}/ttmetal/compile_check.sh)
set(_tm_flags -I ${PROJECT_SOURCE_DIR}/include -I ${PROJECT_SOURCE_DIR}/integrations/tt-metal/include
  -Wall -Wextra -Werror)
set(_tm_src ${PROJECT_SOURCE_DIR}/integrations/tt-metal)
set(_tm_tests ${CMAKE_CURRENT_SOURCE_DIR}/ttmetal)
# Compiling is the same in a sanitizer build: the checks run in the plain one.
if(TTSHM_SANITIZE STREQUAL "")
# version;has is_capture_processor()
foreach(version_flag "2025-09;0" "2026-04;1")
  list(GET version_flag 0 v)
  list(GET version_flag 1 flag)
  set(_tm_cases
    # The adapter's sources to object code; the checks below only to syntax.
    "hooks|pass|${_tm_src}/hooks.cpp|--object"
    "processor|pass|${_tm_src}/processor.cpp|--object"
    "processor_use|pass|${_tm_tests}/check_processor.cpp|-DTTSHM_EXPECT_CAPTURE_FLAG=${flag}"
    "hook_site|pass|${_tm_tests}/hook_site.cpp"
    # Negative controls: the same sources with one signature wrong must be rejected.
    "reject_wrong_override|fail=marked .override., but does not override|${_tm_tests}/check_processor.cpp|-DTTSHM_EXPECT_CAPTURE_FLAG=${flag}|-DTTSHM_WRONG_OVERRIDE"
    "reject_wrong_hook|fail=no declaration matches|${_tm_tests}/hook_site.cpp|-DTTSHM_WRONG_HOOK_SIGNATURE"
    # The version check is real: claiming the other version's API fails.
    "reject_wrong_version|fail=is_capture_processor\\(\\) is not where|${_tm_tests}/check_processor.cpp|-DTTSHM_EXPECT_CAPTURE_FLAG=$<NOT:${flag}>")
  foreach(case ${_tm_cases})
    string(REPLACE "|" ";" parts "${case}")
    list(POP_FRONT parts name expect source)
    add_test(NAME ttmetal_compile_${name}_${v}
      COMMAND bash ${_tm_check} ${TTSHM_TT_METAL_API} ${v} ${expect} ${source} ${_tm_flags} ${parts})
    set_tests_properties(ttmetal_compile_${name}_${v} PROPERTIES TIMEOUT 300 LABELS ttmetal
      SKIP_RETURN_CODE 77)
  endforeach()
endforeach()
endif()

# tt-shm-sim --profile tt-metal read back with tt-shm-stat.
find_program(TTSHM_PYTHON3 python3)
if(TTSHM_PYTHON3)
  add_test(NAME ttmetal_sim COMMAND ${TTSHM_PYTHON3} ${_tm_tests}/test_sim_ttmetal.py)
  set_tests_properties(ttmetal_sim PROPERTIES TIMEOUT 180 LABELS ttmetal
    ENVIRONMENT "TTSHM_TEST_BIN_DIR=${PROJECT_BINARY_DIR};TTSHM_TEST_SRC_DIR=${PROJECT_SOURCE_DIR};PYTHONDONTWRITEBYTECODE=1")
endif()
