/* SPDX-License-Identifier: Apache-2.0 */
#include "harness.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void die_cunit(const char *what)
{
    fprintf(stderr, "CUnit error in %s: %s\n", what, CU_get_error_msg());
    exit(2);
}

void ttshm_test_add_suite(const char *suite, const struct ttshm_test_case *cases, size_t n)
{
    if (CU_get_registry() == NULL && CU_initialize_registry() != CUE_SUCCESS)
        die_cunit("CU_initialize_registry");
    CU_pSuite s = CU_add_suite(suite, NULL, NULL);
    if (s == NULL)
        die_cunit("CU_add_suite");
    for (size_t i = 0; i < n; i++)
        if (CU_add_test(s, cases[i].name, cases[i].fn) == NULL)
            die_cunit("CU_add_test");
}

int ttshm_test_run(void)
{
    if (CU_get_registry() == NULL) {
        fprintf(stderr, "no test suites registered\n");
        return 1;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned ran = CU_get_number_of_tests_run();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    unsigned suites_failed = CU_get_number_of_suites_failed();
    CU_cleanup_registry();
    if (ran == 0) {
        fprintf(stderr, "no test ran\n");
        return 1;
    }
    return (failed || suites_failed) ? 1 : 0;
}

const char *ttshm_test_registry(char *buf, const char *tag)
{
    snprintf(buf, 48, "t%ld_%s", (long)getpid(), tag);
    return buf;
}

void ttshm_test_unlink_registry(const char *registry)
{
    char prefix[80];
    snprintf(prefix, sizeof prefix, "ttshm.%s.", registry);
    DIR *d = opendir("/dev/shm");
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            char path[512];
            snprintf(path, sizeof path, "/dev/shm/%s", e->d_name);
            unlink(path);
        }
    }
    closedir(d);
}

void ttshm_test_failf(const char *file, unsigned line, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s:%u: FAIL: %s\n", file, line, msg);
    CU_assertImplementation(CU_FALSE, line, msg, file, "", CU_FALSE);
}

int ttshm_test_count_objects(const char *registry)
{
    char prefix[80];
    snprintf(prefix, sizeof prefix, "ttshm.%s.", registry);
    DIR *d = opendir("/dev/shm");
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(d);
    return n;
}

void ttshm_test_unlink_own_registries(void)
{
    char prefix[48];
    snprintf(prefix, sizeof prefix, "t%ld_", (long)getpid());
    /* ttshm_test_unlink_registry matches "ttshm.<prefix>." only: do it by hand. */
    char full[80];
    snprintf(full, sizeof full, "ttshm.%s", prefix);
    DIR *d = opendir("/dev/shm");
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, full, strlen(full)) == 0) {
            char path[512];
            snprintf(path, sizeof path, "/dev/shm/%s", e->d_name);
            unlink(path);
        }
    }
    closedir(d);
}
