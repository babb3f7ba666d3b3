# SPDX-License-Identifier: Apache-2.0
# The host process is never killed or hung by the writer (issue 11; table in
# docs/reliability.md): one ctest per item, each a case of test_host run in a
# child process of its own.
add_executable(test_host test_host.c)
target_compile_options(test_host PRIVATE ${TTSHM_WARNINGS})
target_link_libraries(test_host PRIVATE ttshm_test_harness ttshm_rel_common ttshm ttshm-reader
                                        Threads::Threads)
foreach(item sigxfsz memcg cancel fork_open fork_close full_shm exit_teardown huge_sizes
             squatted_names)
  add_test(NAME host_${item} COMMAND test_host ${item})
  set_tests_properties(host_${item} PROPERTIES TIMEOUT 300)
endforeach()

# dlclose while the background threads work: the test loads the library itself.
add_executable(test_dlclose test_dlclose.c)
target_compile_options(test_dlclose PRIVATE ${TTSHM_WARNINGS})
target_include_directories(test_dlclose PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}
                                                ${PROJECT_SOURCE_DIR}/include)
target_compile_definitions(test_dlclose PRIVATE _GNU_SOURCE)
target_link_libraries(test_dlclose PRIVATE ttshm_rel_common ttshm-reader ${CMAKE_DL_LIBS})
add_dependencies(test_dlclose ttshm)
add_test(NAME host_dlclose COMMAND test_dlclose $<TARGET_FILE:ttshm>)
set_tests_properties(host_dlclose PROPERTIES TIMEOUT 300)

# One overfull probe run (many CBs of one owner at one address) costs only
# that run (issue 11, item 8).
ttshm_add_test(growth_overfull_run SOURCES test_overfull_run.c LIBS ttshm_rel_common ttshm
               ttshm-reader TIMEOUT 120)
