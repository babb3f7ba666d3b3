/* SPDX-License-Identifier: Apache-2.0 */
/* tt-shm-stat: declarations shared by its parts (options, collection, outputs). */
#ifndef TTSHM_STAT_H
#define TTSHM_STAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ttshm/reader.h"

/* Exit codes, as documented in tt-shm-stat(1). */
enum {
    STAT_EXIT_OK = 0,
    STAT_EXIT_NOTHING = 1, /* no segment matched, or output could not be written */
    STAT_EXIT_USAGE = 2,
    STAT_EXIT_BAD = 3, /* a bad, busy or incompatible segment was found (the good ones are
                        * still shown) */
};

enum stat_view { VIEW_SUMMARY, VIEW_BUFFERS, VIEW_LEAKS, VIEW_LIST };
enum stat_format { FMT_TEXT, FMT_JSON, FMT_CSV, FMT_PROM };
enum stat_sort { SORT_NONE, SORT_SIZE, SORT_AGE, SORT_ADDRESS };

#define STAT_MAX_PIDS   64
#define STAT_MAX_GLOBS  16
#define STAT_MAX_FIELDS 32

struct stat_options {
    enum stat_view view;
    enum stat_format format;
    enum stat_sort sort; /* SORT_NONE: table order, streamed */
    uint64_t top;        /* 0: every buffer */
    uint64_t device_mask;
    unsigned type_mask;
    uint32_t pids[STAT_MAX_PIDS];
    unsigned npids;
    const char *name; /* registry, or NULL for every registry */
    bool watch;
    double interval_s;
    uint64_t count; /* frames; 0: until interrupted */
    const char *textfile;
    bool color;
    bool all_users;     /* --all-users: every user's segments, with their owners */
    bool noheader;      /* CSV: no header row (set after the first frame of a loop) */
    const char *listen; /* --listen [ADDR:]PORT: serve /metrics; NULL: no server */
    const char *globs[STAT_MAX_GLOBS]; /* -f: counters shown (fnmatch), all when none */
    unsigned nglobs;
    unsigned query[STAT_MAX_FIELDS]; /* --query: indexes in stat_fields */
    unsigned nquery;
    bool nounits;      /* --format ...,nounits: raw numbers in --query output */
    bool format_given; /* --format */
    bool wait;         /* --wait: first wait for a live writer */
    double wait_s;     /* ... at most this long; 0: no limit */
};

/* Parses argv into o. Exits 0 after --help/--version and 2 on a usage error. */
void stat_parse_options(int argc, char **argv, struct stat_options *o);

/* ---- what one refresh collected ---- */

struct stat_segment {
    struct ttshm_segment_info info;
    struct ttshm_status st;
    struct ttshm_stats stats;
    uint64_t skipped; /* half-written slots the reader gave up on (last scan) */
};

/* A segment that could not be read this refresh: named in every format, the
 * others are still shown. */
struct stat_problem {
    struct ttshm_segment_info info;
    int err; /* -TTSHM_E_* */
};

/* One buffer of a sorted buffers/leaks view. */
struct stat_row {
    struct ttshm_entry e;
    uint32_t seg; /* index in stat_model.seg */
};

struct stat_model {
    struct stat_segment *seg;
    size_t nseg;
    /* Per device x type over the live writers (see stat_sum_live()). */
    struct ttshm_counters totals[TTSHM_MAX_DEVICES][TTSHM_MEM_TYPE_COUNT];
    unsigned live_writers;
    /* Per device: the identity the first live writer published (if any). */
    struct ttshm_device_identity identity[TTSHM_MAX_DEVICES];
    /* Sorted views (--sort/--top) only: their rows, collected with a bounded
     * heap of --top rows, sorted. Otherwise rows are streamed (stat_rows). */
    struct stat_row *rows;
    size_t nrows;
    uint64_t nrows_all; /* rows seen, before --top */
    struct stat_problem *problems;
    size_t nproblems;
    size_t unreadable; /* segments listed that this user may not open */
    size_t others;     /* other users' segments left out (no --all-users) */
    uint64_t now_mono_ns, now_real_ns;
    bool bad; /* a segment could not be read: exit 3 */
    /* Watch mode: the totals of the previous frame and the time between the
     * two, for per-second rates (NULL on the first frame). */
    const struct ttshm_counters (*prev_totals)[TTSHM_MEM_TYPE_COUNT];
    double prev_dt_s;
};

/* Fills m from the segments selected by o. Returns a STAT_EXIT_* code; the
 * model holds whatever could be read even when the code is not 0. */
int stat_collect(const struct stat_options *o, struct stat_model *m);
void stat_model_free(struct stat_model *m);

bool stat_device_selected(const struct stat_options *o, unsigned device);
bool stat_type_selected(const struct stat_options *o, unsigned type);
/* A device x type with any activity or published capacity. */
bool stat_counters_active(const struct ttshm_counters *c);
/* Whether a device has an active type among those selected. */
bool stat_device_active(const struct stat_options *o, const struct ttshm_counters dev[]);
/* Live buffers and bytes of a segment over the selected devices and types. */
void stat_segment_live(const struct stat_options *o, const struct stat_segment *s, uint64_t *count,
                       uint64_t *bytes);
/* "live", "leaked" or "stale": what a buffer of this segment is. */
const char *stat_buffer_status(const struct stat_segment *s);
/* Whether the view shows buffers of this segment. */
bool stat_segment_has_rows(const struct stat_options *o, const struct stat_segment *s);

/* Visits the buffer rows of the buffers/leaks view in the view's order: those
 * of segment `only`, or of every segment when it is NULL. A sorted view visits
 * the collected rows; an unsorted one reads each segment again and streams its
 * live entries without holding them (updating the segment's skipped count).
 * fn returns non-zero to stop. Returns the number of rows visited. */
typedef int (*stat_row_fn)(const struct stat_segment *s, const struct ttshm_entry *e, void *ctx);
uint64_t stat_rows(const struct stat_options *o, struct stat_model *m,
                   const struct stat_segment *only, stat_row_fn fn, void *ctx);

/* ---- fields of a counters row (fields.c) ---- */

enum stat_field_kind { FIELD_TEXT, FIELD_COUNT, FIELD_BYTES, FIELD_PERCENT };

struct stat_field {
    const char *name;
    const char *help;
    enum stat_field_kind kind;
    size_t offset; /* counters: of the value in struct ttshm_counters */
};

extern const struct stat_field stat_fields[];
extern const size_t stat_nfields;

/* Index of a field by name, -1 if none. */
int stat_field_find(const char *name);
bool stat_is_counter(const struct stat_field *f);
uint64_t stat_counter_value(const struct ttshm_counters *c, const struct stat_field *f);
/* Whether -f lets counter `name` through (every counter without -f). */
bool stat_counter_wanted(const struct stat_options *o, const char *name);
/* --list-fields */
void stat_list_fields(FILE *out);

/* One counters row for --query: a segment's (seg set) or a total (seg NULL). */
struct stat_query_row {
    const char *time;
    const struct stat_segment *seg;
    unsigned device, type;
    const struct ttshm_counters *c;
    const struct ttshm_device_identity *id;
};
void stat_query_header(FILE *out, const struct stat_options *o);
void stat_query_row(FILE *out, const struct stat_options *o, const struct stat_query_row *r);
/* A CSV field, quoted when it holds a separator, a quote or a line break. */
void stat_csv_field(FILE *out, const char *s);

/* ---- formatting helpers (units.c) ---- */

/* 1536 -> "1.5 KiB" (IEC units, one decimal). */
const char *fmt_bytes(char buf[32], uint64_t bytes);
/* 83416 -> "83,416". */
const char *fmt_count(char buf[32], uint64_t n);
/* 95e9 -> "1m35s". */
const char *fmt_duration(char buf[32], uint64_t ns);
/* CLOCK_REALTIME ns -> "2026-11-25 21:18:27" (local time). */
const char *fmt_time(char buf[32], uint64_t realtime_ns);
/* As fmt_time, but only "21:18:27" when that is today (the header lines fit
 * in 80 columns). */
const char *fmt_time_near(char buf[32], uint64_t realtime_ns, uint64_t now_ns);
/* A valid UTF-8-free JSON string literal of s (quotes included). */
void json_string(FILE *out, const char *s);
/* 1764878400123456789 -> "1764878400.123456789" (exact decimal seconds). */
const char *fmt_seconds(char buf[32], uint64_t ns);
/* A device's published chip id, "0x%016x"; "" when not published. */
const char *fmt_chip_id(char buf[32], uint64_t unique_id);
/* Snapshot age of a buffer allocated at monotonic time ts (0 if in the future). */
uint64_t stat_buffer_age_ns(const struct stat_model *m, const struct ttshm_entry *e);

/* ANSI colours; "" when colour is off. */
enum stat_color { C_RESET, C_BOLD, C_DIM, C_RED, C_GREEN, C_YELLOW };
const char *color(const struct stat_options *o, enum stat_color c);
/* Colour of a writer state (alive green, exited yellow, died red). */
enum stat_color state_color(uint32_t state);

/* ---- outputs: one file per format ---- */

/* Outputs of the buffers/leaks views stream their rows (see stat_rows). */
void stat_output_text(FILE *out, const struct stat_options *o, struct stat_model *m);
void stat_output_json(FILE *out, const struct stat_options *o, struct stat_model *m);
void stat_output_csv(FILE *out, const struct stat_options *o, struct stat_model *m);
void stat_output_prometheus(FILE *out, const struct stat_options *o, const struct stat_model *m);

/* One refresh rendered into a malloc'd buffer (for the HTTP server).
 * Returns 0, or -1 when out of memory. */
int stat_render(const struct stat_options *o, char **buf, size_t *len);

/* --listen (http.c, built with libmicrohttpd): default port, a check of the
 * argument, and the server (returns when SIGINT or SIGTERM arrives). */
#define STAT_DEFAULT_PORT "10140"
int stat_listen_valid(const char *listen);
int stat_serve(const struct stat_options *o);

/* Replaces path with data atomically (temp file in the same directory, then
 * rename). Returns 0, or -1 with a message on stderr. */
int stat_write_atomic(const char *path, const char *data, size_t len);

#endif
