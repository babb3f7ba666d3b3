/* SPDX-License-Identifier: Apache-2.0 */
/* Formatting helpers shared by the outputs: units, times, colours, JSON strings. */
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "stat.h"

const char *fmt_bytes(char buf[32], uint64_t bytes)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) {
        snprintf(buf, 32, "%" PRIu64 " B", bytes);
        return buf;
    }
    /* Integer tenths, rounded (no floating point: -b formats rows by the
     * million); a value that rounds to 1024.0 moves to the next unit. */
    unsigned u = 1;
    unsigned __int128 unit = 1024, tenths;
    for (;;) {
        tenths = ((unsigned __int128)bytes * 10 + unit / 2) / unit;
        if (tenths < 10240 || u + 1 == sizeof units / sizeof units[0])
            break;
        unit *= 1024;
        u++;
    }
    snprintf(buf, 32, "%" PRIu64 ".%" PRIu64 " %s", (uint64_t)(tenths / 10),
             (uint64_t)(tenths % 10), units[u]);
    return buf;
}

const char *fmt_count(char buf[32], uint64_t n)
{
    char digits[24];
    int len = snprintf(digits, sizeof digits, "%" PRIu64, n);
    char *p = buf;
    for (int i = 0; i < len; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            *p++ = ',';
        *p++ = digits[i];
    }
    *p = '\0';
    return buf;
}

const char *fmt_duration(char buf[32], uint64_t ns)
{
    uint64_t s = ns / 1000000000u;
    if (ns < 1000000000u)
        snprintf(buf, 32, "%" PRIu64 "ms", ns / 1000000u);
    else if (s < 60)
        snprintf(buf, 32, "%" PRIu64 ".%" PRIu64 "s", s, ns / 100000000u % 10);
    else if (s < 3600)
        snprintf(buf, 32, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, 32, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, s / 60 % 60);
    else
        snprintf(buf, 32, "%" PRIu64 "d%02" PRIu64 "h", s / 86400, s / 3600 % 24);
    return buf;
}

const char *fmt_time(char buf[32], uint64_t realtime_ns)
{
    time_t t = (time_t)(realtime_ns / 1000000000u);
    struct tm tm;
    if (realtime_ns == 0 || localtime_r(&t, &tm) == NULL ||
        strftime(buf, 32, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(buf, 32, "-");
    return buf;
}

const char *fmt_time_near(char buf[32], uint64_t realtime_ns, uint64_t now_ns)
{
    time_t t = (time_t)(realtime_ns / 1000000000u), now = (time_t)(now_ns / 1000000000u);
    struct tm tm, today;
    if (realtime_ns == 0 || localtime_r(&t, &tm) == NULL || localtime_r(&now, &today) == NULL)
        return fmt_time(buf, realtime_ns);
    if (tm.tm_year != today.tm_year || tm.tm_yday != today.tm_yday ||
        strftime(buf, 32, "%H:%M:%S", &tm) == 0)
        return fmt_time(buf, realtime_ns);
    return buf;
}

void json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f)
            fprintf(out, "\\u%04x", *p); /* names are ASCII; never emit invalid UTF-8 */
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

const char *color(const struct stat_options *o, enum stat_color c)
{
    static const char *const codes[] = {
        [C_RESET] = "\033[0m", [C_BOLD] = "\033[1m",   [C_DIM] = "\033[2m",
        [C_RED] = "\033[31m",  [C_GREEN] = "\033[32m", [C_YELLOW] = "\033[33m",
    };
    return o->color ? codes[c] : "";
}

enum stat_color state_color(uint32_t state)
{
    switch (state) {
    case TTSHM_STATE_ALIVE:
        return C_GREEN;
    case TTSHM_STATE_EXITED:
        return C_YELLOW;
    case TTSHM_STATE_DIED:
        return C_RED;
    default:
        return C_DIM;
    }
}

const char *fmt_seconds(char buf[32], uint64_t ns)
{
    snprintf(buf, 32, "%" PRIu64 ".%09" PRIu64, ns / 1000000000u, ns % 1000000000u);
    return buf;
}

const char *fmt_chip_id(char buf[32], uint64_t unique_id)
{
    if (unique_id == 0)
        buf[0] = '\0';
    else
        snprintf(buf, 32, "0x%016" PRIx64, unique_id);
    return buf;
}

uint64_t stat_buffer_age_ns(const struct stat_model *m, const struct ttshm_entry *e)
{
    return m->now_mono_ns > e->timestamp_ns ? m->now_mono_ns - e->timestamp_ns : 0;
}
