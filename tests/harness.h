/* SPDX-License-Identifier: Apache-2.0 */
/* Shared CUnit runner and helpers for the ttshm test programs. */
#ifndef TTSHM_TEST_HARNESS_H
#define TTSHM_TEST_HARNESS_H

#include <CUnit/Basic.h>
#include <stddef.h>

/* Runs the registered suites. Returns 0 only when at least one test ran and
 * none failed (CU_basic_run_tests's own return value is not the failure count). */
int ttshm_test_run(void);

/* Registers a suite with its tests; aborts the program on a CUnit error. */
struct ttshm_test_case {
    const char *name;
    void (*fn)(void);
};
void ttshm_test_add_suite(const char *suite, const struct ttshm_test_case *cases, size_t n);
#define TTSHM_TEST_SUITE(name, cases)                                                              \
    ttshm_test_add_suite((name), (cases), sizeof(cases) / sizeof((cases)[0]))

/* A registry name unique to this test process ("t<pid>_<tag>"), so parallel
 * tests and earlier runs never collide. buf must hold 48 bytes. */
const char *ttshm_test_registry(char *buf, const char *tag);

/* Removes every segment of a registry from /dev/shm (test cleanup). */
void ttshm_test_unlink_registry(const char *registry);

/* Records a CUnit failure with a formatted message (CU_FAIL only takes a
 * literal) and echoes it on stderr. */
void ttshm_test_failf(const char *file, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define TTSHM_TEST_FAILF(...) ttshm_test_failf(__FILE__, __LINE__, __VA_ARGS__)

/* Number of objects in /dev/shm whose name starts with "ttshm.<registry>.". */
int ttshm_test_count_objects(const char *registry);

/* Removes every segment of every registry ttshm_test_registry() made in this
 * process ("ttshm.t<pid>_*"): cleanup after a test that stopped half-way. */
void ttshm_test_unlink_own_registries(void);

#endif
