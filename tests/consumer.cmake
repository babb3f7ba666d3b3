# SPDX-License-Identifier: Apache-2.0
# The consumer-project test (tests/consumer): a staged install of this build
# used by an outside project through find_package and pkg-config.
add_test(NAME consumer_project
         COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/consumer/run.sh ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR})
set_tests_properties(consumer_project PROPERTIES TIMEOUT 300 LABELS packaging)
