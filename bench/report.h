/* SPDX-License-Identifier: Apache-2.0 */
/* The bench's output: the human table, the JSON file, and the machine facts. */
#ifndef TTSHM_BENCH_REPORT_H
#define TTSHM_BENCH_REPORT_H

#include <stdio.h>

#include "bench.h"

/* CPU model, cores, kernel, date, compiler, load average. */
void machine_info_fill(struct machine_info *m);
void machine_loadavg(double *one_minute);

void report_print(FILE *f, const struct bench_config *cfg, const struct bench_results *res);

/* Writes every figure, the configuration and the machine. Returns 0 or -1. */
int report_json(const char *path, const struct bench_config *cfg, const struct bench_results *res);

/* The targets of issue 10 as judged from these results (shared by the table
 * and the JSON). A target is measured only where this run can judge it; else
 * reason says why ("2 cores", a size not run, a figure the library lacks). */
struct target {
    const char *what;
    const char *key; /* JSON key */
    double value;    /* measured (NAN when there is nothing to show) */
    const char *unit;
    double limit;
    int higher_better; /* value >= limit meets it; else value <= limit */
    int measured;      /* 0: not judged in this run */
    int met;
    char reason[112]; /* why not measured, or a note on the figure */
};
#define BENCH_MAX_TARGETS 16
unsigned bench_targets(const struct bench_config *cfg, const struct bench_results *res,
                       struct target *t);

/* Writes PNG plots (and their data and gnuplot scripts) into dir. Returns 0,
 * 1 when gnuplot is not installed (nothing drawn, a note printed), -1 on error. */
int plot_write(const char *dir, const struct bench_results *res);

#endif
