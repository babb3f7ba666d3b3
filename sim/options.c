/* SPDX-License-Identifier: Apache-2.0 */
/* tt-shm-sim command line. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

static void usage(FILE *out)
{
    fputs("Usage: tt-shm-sim [OPTION]...\n"
          "Simulates a TT-Metal-like runtime recording device-buffer allocations with libttshm,\n"
          "so tt-shm-stat (or any reader) has something real to look at.\n"
          "\n"
          "  -n, --devices N      devices to allocate on (default 1, at most 64)\n"
          "  -T, --threads T      runtime threads (default: one per device, at most 256);\n"
          "                       each thread drives its own devices when T <= N\n"
          "  -e, --events E       buffer allocations in all (default 83416, the Llama run);\n"
          "                       CBs and kernel binaries come on top\n"
          "  -P, --profile NAME   llama (default: 59% DRAM, 41% L1, a few TRACE, CBs per\n"
          "                       program, kernel binaries), uniform (every type alike) or\n"
          "                       tt-metal: TT-Metal's event patterns through the TT-Metal\n"
          "                       adapter's translation layer (a 2x4 mesh, a 1x2 mesh and a\n"
          "                       chip: cached programs with overlapping CBs, NO_DISPATCH\n"
          "                       captures, deallocate_buffers, a device closed before its\n"
          "                       buffers); -e is then its op count (default 2000) and its\n"
          "                       reports give what TT-Metal's allocator holds\n"
          "      --capacity       publish Wormhole capacities (DRAM 12 x 1 GiB, L1 64 x 1.3 MiB)\n"
          "      --hold SECONDS   stay alive this long after the events, buffers live\n"
          "      --leak N         exit cleanly with exactly N non-CB buffers still live\n"
          "      --crash[=HOW]    die with buffers live instead of exiting: kill (SIGKILL,\n"
          "                       default) or abort\n"
          "  -s, --seed S         random seed (default 1): same seed, same buffers\n"
          "      --name REGISTRY  registry to record into (default $TT_SHM_NAME, else per user)\n"
          "  -q, --quiet          no summary on stderr\n"
          "  -h, --help           this help\n"
          "\n"
          "Stdout gets one JSON line per phase (\"steady\" after the events, then \"final\" at a\n"
          "clean exit or \"crash\" just before dying): segment, generation and per device x\n"
          "type live_count, live_bytes, allocs, frees, alloc_bytes as recorded.\n"
          "SIGINT/SIGTERM end the events or the hold early; the sim then exits cleanly.\n",
          out);
}

static void usage_error(const char *fmt, const char *arg)
{
    fputs("tt-shm-sim: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\nTry 'tt-shm-sim --help'.\n", stderr);
    exit(2);
}

static uint64_t parse_u64(const char *opt, const char *arg, uint64_t min, uint64_t max)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 10);
    if (errno || end == arg || *end != '\0' || arg[0] == '-' || v < min || v > max) {
        char msg[160];
        snprintf(msg, sizeof msg, "invalid %s '%%s' (expected %llu..%llu)", opt,
                 (unsigned long long)min, (unsigned long long)max);
        usage_error(msg, arg);
    }
    return v;
}

static int registry_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > TTSHM_NAME_MAX)
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-'))
            return 0;
    return 1;
}

void sim_parse_options(int argc, char **argv, struct sim_options *o)
{
    enum { OPT_CAPACITY = 256, OPT_HOLD, OPT_LEAK, OPT_CRASH, OPT_NAME };
    static const struct option longopts[] = {
        {"devices", required_argument, NULL, 'n'},
        {"threads", required_argument, NULL, 'T'},
        {"events", required_argument, NULL, 'e'},
        {"profile", required_argument, NULL, 'P'},
        {"capacity", no_argument, NULL, OPT_CAPACITY},
        {"hold", required_argument, NULL, OPT_HOLD},
        {"leak", required_argument, NULL, OPT_LEAK},
        {"crash", optional_argument, NULL, OPT_CRASH},
        {"seed", required_argument, NULL, 's'},
        {"name", required_argument, NULL, OPT_NAME},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool shaped = false; /* --devices, --threads, --leak or --crash given */
    bool events_set = false;
    memset(o, 0, sizeof *o);
    o->devices = 1;
    o->events = 83416;
    o->seed = SIM_DEFAULT_SEED;
    int c;
    while ((c = getopt_long(argc, argv, "n:T:e:P:s:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'n':
            o->devices = (unsigned)parse_u64("device count", optarg, 1, TTSHM_MAX_DEVICES);
            shaped = true;
            break;
        case 'T':
            o->threads = (unsigned)parse_u64("thread count", optarg, 1, SIM_MAX_THREADS);
            shaped = true;
            break;
        case 'e':
            o->events = parse_u64("event count", optarg, 0, UINT64_C(1) << 40);
            events_set = true;
            break;
        case 'P':
            if (strcmp(optarg, "llama") == 0)
                o->profile = SIM_LLAMA;
            else if (strcmp(optarg, "uniform") == 0)
                o->profile = SIM_UNIFORM;
            else if (strcmp(optarg, "tt-metal") == 0)
                o->profile = SIM_TT_METAL;
            else
                usage_error("unknown profile '%s' (expected llama, uniform or tt-metal)", optarg);
            break;
        case OPT_CAPACITY:
            o->capacity = true;
            break;
        case OPT_HOLD: {
            char *end;
            errno = 0;
            o->hold_s = strtod(optarg, &end);
            if (errno || end == optarg || *end != '\0' || !(o->hold_s >= 0) || o->hold_s > 86400)
                usage_error("invalid hold time '%s' (expected 0..86400 seconds)", optarg);
            break;
        }
        case OPT_LEAK:
            o->leak = parse_u64("leak count", optarg, 0, 10000000);
            shaped = true;
            break;
        case OPT_CRASH:
            if (optarg == NULL || strcmp(optarg, "kill") == 0)
                o->crash = SIM_CRASH_KILL;
            else if (strcmp(optarg, "abort") == 0)
                o->crash = SIM_CRASH_ABORT;
            else
                usage_error("unknown crash mode '%s' (expected kill or abort)", optarg);
            break;
        case 's':
            o->seed = parse_u64("seed", optarg, 0, UINT64_MAX);
            break;
        case OPT_NAME:
            if (!registry_valid(optarg))
                usage_error("invalid registry name '%s' (letters, digits, '_' and '-', at most "
                            "48)",
                            optarg);
            o->name = optarg;
            break;
        case 'q':
            o->quiet = true;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            fputs("Try 'tt-shm-sim --help'.\n", stderr);
            exit(2);
        }
    }
    if (optind < argc)
        usage_error("unexpected argument '%s'", argv[optind]);
    if (o->threads == 0)
        o->threads = o->devices;
    if (o->crash != SIM_CRASH_NONE)
        shaped = true;
    if (o->profile == SIM_TT_METAL) {
        /* Its devices and its exit are those of TT-Metal's patterns. */
        if (shaped)
            usage_error("%s", "--devices, --threads, --leak and --crash do not apply to the "
                              "tt-metal profile");
        if (!events_set)
            o->events = 2000;
    }
    if (o->crash != SIM_CRASH_NONE && o->leak != 0)
        usage_error("%s", "--leak and --crash exclude each other (a crash leaves stale buffers)");
}
