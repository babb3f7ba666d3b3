/* SPDX-License-Identifier: Apache-2.0 */
/* tt-shm-stat command line: parsing, --help and --version. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stat.h"

static void usage(FILE *out)
{
    fputs("Usage: tt-shm-stat [OPTION]...\n"
          "Shows the device-buffer allocations that ttshm writers (TT-Metal runtimes)\n"
          "record in shared memory: per process, device and memory type; live buffers;\n"
          "leaks.\n"
          "\n"
          "Views (default: one table per process and a per-device total):\n"
          "  -b, --buffers          live buffers, one per line (streamed, table order)\n"
          "      --sort KEY         order buffers by size (largest first), age (oldest\n"
          "                         first) or address\n"
          "      --top N            only the first N buffers, largest first unless\n"
          "                         --sort (implies -b)\n"
          "      --leaks            buffers left at a clean exit (leaks); buffers of\n"
          "                         writers that died are shown apart as stale\n"
          "      --list             the segments found, their writers and states\n"
          "\n"
          "Filters:\n"
          "  -d, --device LIST      devices, e.g. 0 or 0,2-3\n"
          "  -t, --type LIST        memory types: DRAM, L1, SYSTEM_MEMORY, L1_SMALL,\n"
          "                         TRACE, CB, KERNEL (names or numbers)\n"
          "  -p, --pid LIST         writer process ids\n"
          "      --name REGISTRY    only this registry (default $TT_SHM_NAME, else all)\n"
          "      --all-users        every user's segments, with their owners\n"
          "\n"
          "Fields (nvidia-smi and varnishstat style):\n"
          "      --query FIELDS     CSV of these fields of each counters row, e.g.\n"
          "                         --query device,type,live_bytes\n"
          "      --format csv[,noheader][,nounits]  CSV without a header / with raw\n"
          "                         numbers (default: sizes with units)\n"
          "  -f, --fields GLOB      only the counters whose name matches (repeatable;\n"
          "                         JSON, CSV, Prometheus)\n"
          "      --list-fields      the fields and what they mean\n"
          "\n"
          "Output:\n"
          "      --json             JSON (schema \"ttshm.stat/2\")\n"
          "      --csv              CSV (RFC 4180) with a header row\n"
          "      --prometheus       Prometheus text exposition format\n"
          "      --textfile PATH    write the Prometheus format to PATH atomically (for\n"
          "                         node_exporter's textfile collector)\n"
          "      --listen [[ADDR:]PORT]  serve the Prometheus format on\n"
          "                         http://ADDR:PORT/metrics (default 127.0.0.1:" STAT_DEFAULT_PORT
          ")\n"
          "  -w, --watch [SECONDS]  refresh every SECONDS (default 2); piped, frames\n"
          "                         follow one another\n"
          "  -c, --count N          N refreshes, then exit (implies --watch)\n"
          "      --wait[=SECONDS]   first wait for a selected writer to be alive (at most\n"
          "                         SECONDS; exit 1 if none came)\n"
          "  -h, --help             this help\n"
          "  -V, --version          version\n"
          "\n"
          "Colour is used on a terminal unless NO_COLOR is set or TERM is dumb.\n"
          "Exit status: 0 ok, 1 nothing found (or output not written), 2 usage error,\n"
          "3 a segment could not be read (the others are still shown).\n",
          out);
}

static void __attribute__((format(printf, 1, 2), noreturn)) usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("tt-shm-stat: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'tt-shm-stat --help' for more information.\n", stderr);
    exit(STAT_EXIT_USAGE);
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

static int parse_seconds(const char *s, double *out)
{
    char *end;
    if (s == NULL || *s == '\0' || *s == '-')
        return -1;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end != '\0' || !(v >= 0.1) || v > 86400)
        return -1;
    *out = v;
    return 0;
}

/* An empty value (e.g. an unset shell variable) is refused, not taken as
 * "no filter": that would show every device to a script that meant one. */
static void require_value(const char *what, const char *arg)
{
    if (*arg == '\0' || strspn(arg, ", ") == strlen(arg))
        usage_error("empty %s list (leave the option out to select every one)", what);
}

/* "0,2-3" -> bits 0, 2 and 3. */
static void parse_devices(const char *arg, uint64_t *mask)
{
    require_value("device", arg);
    char *copy = strdup(arg), *save = NULL;
    if (copy == NULL)
        usage_error("out of memory");
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        uint64_t lo, hi;
        char *dash = strchr(tok, '-');
        if (dash != NULL) {
            *dash = '\0';
            if (parse_u64(tok, &lo) || parse_u64(dash + 1, &hi) || lo > hi)
                usage_error("invalid device range '%s-%s'", tok, dash + 1);
        } else if (parse_u64(tok, &lo)) {
            usage_error("invalid device '%s' (expected a number, a list or a range)", tok);
        } else {
            hi = lo;
        }
        if (hi >= TTSHM_MAX_DEVICES)
            usage_error("device %llu out of range (0..%d)", (unsigned long long)hi,
                        TTSHM_MAX_DEVICES - 1);
        for (uint64_t d = lo; d <= hi; d++)
            *mask |= UINT64_C(1) << d;
    }
    free(copy);
}

static void parse_types(const char *arg, unsigned *mask)
{
    require_value("type", arg);
    char *copy = strdup(arg), *save = NULL;
    if (copy == NULL)
        usage_error("out of memory");
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int t = ttshm_mem_type_parse(tok);
        if (t < 0)
            usage_error("unknown memory type '%s' (expected DRAM, L1, SYSTEM_MEMORY, L1_SMALL, "
                        "TRACE, CB or KERNEL)",
                        tok);
        *mask |= 1u << t;
    }
    free(copy);
}

static void parse_pids(const char *arg, struct stat_options *o)
{
    require_value("pid", arg);
    char *copy = strdup(arg), *save = NULL;
    if (copy == NULL)
        usage_error("out of memory");
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        uint64_t pid;
        if (parse_u64(tok, &pid) || pid == 0 || pid > UINT32_MAX)
            usage_error("invalid pid '%s'", tok);
        if (o->npids == STAT_MAX_PIDS)
            usage_error("too many pids (at most %d)", STAT_MAX_PIDS);
        o->pids[o->npids++] = (uint32_t)pid;
    }
    free(copy);
}

/* --query a,b,c: fields by name (see --list-fields). */
static void parse_query(const char *arg, struct stat_options *o)
{
    require_value("--query field", arg);
    char *copy = strdup(arg), *save = NULL;
    if (copy == NULL)
        usage_error("out of memory");
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int f = stat_field_find(tok);
        if (f < 0)
            usage_error("unknown field '%s' (see --list-fields)", tok);
        if (o->nquery == STAT_MAX_FIELDS)
            usage_error("too many --query fields (at most %d)", STAT_MAX_FIELDS);
        o->query[o->nquery++] = (unsigned)f;
    }
    free(copy);
}

/* --format csv[,noheader][,nounits], as nvidia-smi spells it. */
static void parse_format(const char *arg, struct stat_options *o)
{
    require_value("--format", arg);
    char *copy = strdup(arg), *save = NULL;
    if (copy == NULL)
        usage_error("out of memory");
    bool csv = false;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (strcmp(tok, "csv") == 0)
            csv = true;
        else if (strcmp(tok, "noheader") == 0)
            o->noheader = true;
        else if (strcmp(tok, "nounits") == 0)
            o->nounits = true;
        else
            usage_error("invalid --format item '%s' (expected csv, noheader, nounits)", tok);
    }
    free(copy);
    if (!csv)
        usage_error("--format must name csv (e.g. --format csv,noheader,nounits)");
    o->format_given = true;
}

static bool registry_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > TTSHM_NAME_MAX)
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-'))
            return false;
    return true;
}

static const char *format_flag(enum stat_format f)
{
    static const char *const names[] = {"", "--json", "--csv", "--prometheus"};
    return names[f];
}

static const char *view_flag(enum stat_view v)
{
    static const char *const names[] = {"", "--buffers", "--leaks", "--list"};
    return names[v];
}

static void set_format(struct stat_options *o, enum stat_format f)
{
    if (o->format != FMT_TEXT && o->format != f)
        usage_error("%s and %s exclude each other", format_flag(o->format), format_flag(f));
    o->format = f;
}

static void set_view(struct stat_options *o, enum stat_view v)
{
    if (o->view != VIEW_SUMMARY && o->view != v)
        usage_error("%s and %s exclude each other", view_flag(o->view), view_flag(v));
    o->view = v;
}

static bool want_color(void)
{
    /* https://no-color.org: any non-empty NO_COLOR turns colour off. */
    const char *nc = getenv("NO_COLOR");
    const char *term = getenv("TERM");
    if (nc != NULL && *nc != '\0')
        return false;
    if (term != NULL && strcmp(term, "dumb") == 0)
        return false;
    return isatty(STDOUT_FILENO);
}

void stat_parse_options(int argc, char **argv, struct stat_options *o)
{
    enum {
        OPT_SORT = 256,
        OPT_TOP,
        OPT_LEAKS,
        OPT_LIST,
        OPT_NAME,
        OPT_JSON,
        OPT_CSV,
        OPT_PROM,
        OPT_TEXTFILE,
        OPT_LISTEN,
        OPT_ALL_USERS,
        OPT_WAIT,
        OPT_QUERY,
        OPT_FORMAT,
        OPT_LIST_FIELDS,
    };
    static const struct option longopts[] = {
        {"buffers", no_argument, NULL, 'b'},
        {"sort", required_argument, NULL, OPT_SORT},
        {"top", required_argument, NULL, OPT_TOP},
        {"leaks", no_argument, NULL, OPT_LEAKS},
        {"list", no_argument, NULL, OPT_LIST},
        {"device", required_argument, NULL, 'd'},
        {"type", required_argument, NULL, 't'},
        {"pid", required_argument, NULL, 'p'},
        {"name", required_argument, NULL, OPT_NAME},
        {"json", no_argument, NULL, OPT_JSON},
        {"csv", no_argument, NULL, OPT_CSV},
        {"prometheus", no_argument, NULL, OPT_PROM},
        {"textfile", required_argument, NULL, OPT_TEXTFILE},
        {"listen", optional_argument, NULL, OPT_LISTEN},
        {"all-users", no_argument, NULL, OPT_ALL_USERS},
        {"wait", optional_argument, NULL, OPT_WAIT},
        {"fields", required_argument, NULL, 'f'},
        {"query", required_argument, NULL, OPT_QUERY},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"list-fields", no_argument, NULL, OPT_LIST_FIELDS},
        {"watch", optional_argument, NULL, 'w'},
        {"count", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->interval_s = 2.0;
    opterr = 0; /* our own messages, named "tt-shm-stat" whatever argv[0] is */
    int c;
    while ((c = getopt_long(argc, argv, ":bd:t:p:f:w::c:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'b':
            set_view(o, VIEW_BUFFERS);
            break;
        case OPT_SORT:
            if (strcmp(optarg, "size") == 0)
                o->sort = SORT_SIZE;
            else if (strcmp(optarg, "age") == 0)
                o->sort = SORT_AGE;
            else if (strcmp(optarg, "address") == 0)
                o->sort = SORT_ADDRESS;
            else
                usage_error("invalid sort key '%s' (expected size, age or address)", optarg);
            break;
        case OPT_TOP:
            if (parse_u64(optarg, &o->top) || o->top == 0)
                usage_error("invalid --top '%s' (expected a positive number)", optarg);
            break;
        case OPT_LEAKS:
            set_view(o, VIEW_LEAKS);
            break;
        case OPT_LIST:
            set_view(o, VIEW_LIST);
            break;
        case 'd':
            parse_devices(optarg, &o->device_mask);
            break;
        case 't':
            parse_types(optarg, &o->type_mask);
            break;
        case 'p':
            parse_pids(optarg, o);
            break;
        case OPT_NAME:
            if (!registry_valid(optarg))
                usage_error("invalid registry name '%s' (letters, digits, '_' and '-'; at most "
                            "%d)",
                            optarg, TTSHM_NAME_MAX);
            o->name = optarg;
            break;
        case OPT_JSON:
            set_format(o, FMT_JSON);
            break;
        case OPT_CSV:
            set_format(o, FMT_CSV);
            break;
        case OPT_PROM:
            set_format(o, FMT_PROM);
            break;
        case OPT_TEXTFILE:
            if (*optarg == '\0')
                usage_error("--textfile needs a path");
            o->textfile = optarg;
            break;
        case OPT_LISTEN:
#ifdef TTSHM_HTTP
            /* Optional argument: take "--listen 9000" as well as "--listen=9000". */
            if (optarg == NULL && optind < argc && argv[optind][0] != '-')
                optarg = argv[optind++];
            o->listen = optarg ? optarg : STAT_DEFAULT_PORT;
            if (stat_listen_valid(o->listen) != 0)
                usage_error("invalid --listen '%s' (expected PORT, ADDR:PORT or [ADDR6]:PORT)",
                            o->listen);
            break;
#else
            usage_error("--listen is not available: this tt-shm-stat was built without "
                        "libmicrohttpd");
#endif
        case 'f':
            if (*optarg == '\0')
                usage_error("empty -f pattern (leave the option out to show every counter)");
            if (o->nglobs == STAT_MAX_GLOBS)
                usage_error("too many -f patterns (at most %d)", STAT_MAX_GLOBS);
            o->globs[o->nglobs++] = optarg;
            break;
        case OPT_QUERY:
            parse_query(optarg, o);
            break;
        case OPT_FORMAT:
            parse_format(optarg, o);
            break;
        case OPT_LIST_FIELDS:
            stat_list_fields(stdout);
            exit(STAT_EXIT_OK);
        case OPT_WAIT:
            o->wait = true;
            if (optarg != NULL && (parse_seconds(optarg, &o->wait_s) != 0))
                usage_error("invalid --wait '%s' (expected 0.1..86400 seconds)", optarg);
            break;
        case OPT_ALL_USERS:
            o->all_users = true;
            break;
        case 'w':
            o->watch = true;
            /* The interval is optional; take "-w 5" as well as "-w5"/"--watch=5". */
            if (optarg == NULL && optind < argc && argv[optind][0] >= '0' && argv[optind][0] <= '9')
                optarg = argv[optind++];
            if (optarg != NULL && parse_seconds(optarg, &o->interval_s))
                usage_error("invalid watch interval '%s' (expected 0.1..86400 seconds)", optarg);
            break;
        case 'c':
            if (parse_u64(optarg, &o->count) || o->count == 0)
                usage_error("invalid count '%s' (expected a positive number)", optarg);
            o->watch = true;
            break;
        case 'h':
            usage(stdout);
            exit(STAT_EXIT_OK);
        case 'V':
            printf("tt-shm-stat (ttshm) %s\n", TTSHM_VERSION_STRING);
            exit(STAT_EXIT_OK);
        case ':':
            if (strncmp(argv[optind - 1], "--", 2) == 0)
                usage_error("option '%s' needs an argument", argv[optind - 1]);
            usage_error("option '-%c' needs an argument", optopt);
        default:
            /* A long option is named by argv; a short one (maybe in a cluster) by optopt. */
            if (strncmp(argv[optind - 1], "--", 2) == 0 && strchr(argv[optind - 1], '=')) {
                const char *a = argv[optind - 1];
                int n = (int)(strchr(a, '=') - a);
                for (const struct option *lo = longopts; lo->name; lo++)
                    if ((int)strlen(lo->name) == n - 2 && strncmp(lo->name, a + 2, n - 2) == 0)
                        usage_error("option '%.*s' takes no argument", n, a);
            }
            if (optopt == 0 || strncmp(argv[optind - 1], "--", 2) == 0)
                usage_error("unknown option '%s'", argv[optind - 1]);
            usage_error("unknown option '-%c'", optopt);
        }
    }
    if (optind < argc)
        usage_error("unexpected argument '%s'", argv[optind]);

    if (o->top && o->sort == SORT_NONE)
        o->sort = SORT_SIZE; /* "--top 10": the 10 largest */
    if (o->sort != SORT_NONE && o->view == VIEW_SUMMARY)
        o->view = VIEW_BUFFERS;
    if (o->sort != SORT_NONE && o->view == VIEW_LIST)
        usage_error("--sort and --top apply to --buffers and --leaks, not --list");
    if (o->textfile != NULL) {
        if (o->format != FMT_TEXT && o->format != FMT_PROM)
            usage_error("--textfile writes the Prometheus format; it excludes %s",
                        format_flag(o->format));
        o->format = FMT_PROM;
    }
    if (o->format_given || o->nquery) {
        if (o->format != FMT_TEXT && o->format != FMT_CSV)
            usage_error("--query and --format write CSV; they exclude %s", format_flag(o->format));
        if (o->nquery && o->view != VIEW_SUMMARY)
            usage_error("--query selects fields of the counters rows; it excludes %s",
                        view_flag(o->view));
        o->format = FMT_CSV;
    }
    if (o->listen != NULL) {
        if (o->wait)
            usage_error("--listen serves whatever is there; it excludes --wait");
        if (o->textfile != NULL || o->watch)
            usage_error("--listen serves each scrape fresh; it excludes %s",
                        o->textfile ? "--textfile" : "--watch and --count");
        if (o->format != FMT_TEXT && o->format != FMT_PROM)
            usage_error("--listen serves the Prometheus format; it excludes %s",
                        format_flag(o->format));
        o->format = FMT_PROM;
    }
    if (o->format == FMT_PROM && o->view != VIEW_SUMMARY)
        usage_error("the Prometheus format has counters only; it excludes %s", view_flag(o->view));
    if (o->name == NULL) {
        const char *env = getenv("TT_SHM_NAME");
        if (env != NULL && *env != '\0') {
            if (!registry_valid(env))
                usage_error("TT_SHM_NAME='%s' is not a valid registry name", env);
            o->name = env;
        }
    }
    if (o->device_mask == 0)
        o->device_mask = ~UINT64_C(0);
    if (o->type_mask == 0)
        o->type_mask = (1u << TTSHM_MEM_TYPE_COUNT) - 1;
    o->color = o->format == FMT_TEXT && o->textfile == NULL && want_color();
}
