# SPDX-License-Identifier: Apache-2.0
# Python package tests: pytest (Debian python3-pytest) runs each
# tests/python/test_*.py against the package in python/ (not an installed
# copy: PYTHONPATH, no plugin autoload) and the libraries of this build tree
# (TTSHM_READER_LIB / TTSHM_WRITER_LIB, set by tests/python/conftest.py).
# Each test uses registries named after its own pid, so they run in parallel.
# A python3 without pytest is still registered: the tests then fail saying so.
find_program(TTSHM_PYTEST_SYSTEM_PYTHON3 python3 PATHS /usr/bin NO_DEFAULT_PATH)
find_program(TTSHM_PYTEST_PATH_PYTHON3 python3)
set(TTSHM_PYTEST_PYTHON3 "")
foreach(candidate ${TTSHM_PYTEST_PATH_PYTHON3} ${TTSHM_PYTEST_SYSTEM_PYTHON3})
  execute_process(COMMAND ${candidate} -c "import pytest" RESULT_VARIABLE no_pytest OUTPUT_QUIET ERROR_QUIET)
  if(no_pytest EQUAL 0)
    set(TTSHM_PYTEST_PYTHON3 ${candidate})
    break()
  endif()
endforeach()
if(NOT TTSHM_PYTEST_PYTHON3)
  message(WARNING "no python3 with pytest (scripts/deps.sh installs python3-pytest): the python_* tests will fail")
  set(TTSHM_PYTEST_PYTHON3 ${TTSHM_PYTEST_PATH_PYTHON3})
endif()
if(NOT TTSHM_PYTEST_PYTHON3)
  message(WARNING "python3 not found: the Python package tests (python_*) are not registered")
  return()
endif()

# An uninstrumented interpreter loading the sanitized libraries: under ASan the
# runtime must be loaded first (LD_PRELOAD; Python's own allocations are not
# leak-checked); TSan cannot start inside a running process, so the Python
# tests are left to the other builds.
set(TTSHM_PYTEST_SANITIZER_ENV "")
if(TTSHM_SANITIZE STREQUAL "address")
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so OUTPUT_VARIABLE asan_runtime
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  set(TTSHM_PYTEST_SANITIZER_ENV ";LD_PRELOAD=${asan_runtime};ASAN_OPTIONS=detect_leaks=0")
elseif(TTSHM_SANITIZE STREQUAL "thread")
  message(STATUS "TSan build: the Python package tests (python_*) are not registered")
  return()
endif()

file(GLOB TTSHM_PYTHON_TESTS ${CMAKE_CURRENT_SOURCE_DIR}/python/test_*.py)
if(NOT TTSHM_PYTHON_TESTS)
  message(FATAL_ERROR "no tests/python/test_*.py: the Python package would go untested")
endif()
list(SORT TTSHM_PYTHON_TESTS)
foreach(script ${TTSHM_PYTHON_TESTS})
  get_filename_component(stem ${script} NAME_WE)
  string(REGEX REPLACE "^test_" "python_" name ${stem})
  # pytest exits 5 when it collects nothing: ctest counts that as a failure.
  add_test(NAME ${name} COMMAND ${TTSHM_PYTEST_PYTHON3} -m pytest -q -rs -p no:cacheprovider ${script})
  set_tests_properties(${name} PROPERTIES TIMEOUT 600 LABELS python
    ENVIRONMENT "TTSHM_TEST_BIN_DIR=${PROJECT_BINARY_DIR};TTSHM_TEST_SRC_DIR=${PROJECT_SOURCE_DIR};PYTHONPATH=${PROJECT_SOURCE_DIR}/python;PYTEST_DISABLE_PLUGIN_AUTOLOAD=1;PYTHONDONTWRITEBYTECODE=1${TTSHM_PYTEST_SANITIZER_ENV}")
endforeach()
