/* SPDX-License-Identifier: Apache-2.0 */
/* Names: registries, shared-memory objects, memory types, errors. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "layout.h"

static const char *const type_names[TTSHM_MEM_TYPE_COUNT] = {
    "DRAM", "L1", "SYSTEM_MEMORY", "L1_SMALL", "TRACE", "CB", "KERNEL",
};

const char *ttshm_mem_type_name(unsigned type)
{
    return type < TTSHM_MEM_TYPE_COUNT ? type_names[type] : "?";
}

int ttshm_mem_type_parse(const char *text)
{
    if (text == NULL || *text == '\0')
        return -1;
    for (unsigned i = 0; i < TTSHM_MEM_TYPE_COUNT; i++)
        if (strcasecmp(text, type_names[i]) == 0)
            return (int)i;
    char *end;
    long v = strtol(text, &end, 10);
    if (*end == '\0' && v >= 0 && v < TTSHM_MEM_TYPE_COUNT)
        return (int)v;
    return -1;
}

const char *ttshm_strerror(int err)
{
    switch (err < 0 ? -err : err) {
    case TTSHM_OK:
        return "success";
    case TTSHM_E_INVAL:
        return "invalid argument";
    case TTSHM_E_NOENT:
        return "no such segment";
    case TTSHM_E_ACCESS:
        return "permission denied (segment owned by another user?)";
    case TTSHM_E_NOSPC:
        return "no space left in /dev/shm";
    case TTSHM_E_NOMEM:
        return "out of memory";
    case TTSHM_E_IO:
        return "system call failed";
    case TTSHM_E_BADMAGIC:
        return "not a ttshm segment (bad magic)";
    case TTSHM_E_VERSION:
        return "incompatible segment ABI version or word size";
    case TTSHM_E_CORRUPT:
        return "corrupt segment (sizes, offsets or contents invalid)";
    case TTSHM_E_BUSY:
        return "segment kept changing while being read";
    case TTSHM_E_INSECURE:
        return "segment is writable by other users: refused";
    case TTSHM_E_DISABLED:
        return "tracking is disabled";
    case TTSHM_E_FULL:
        return "every registry slot is held by a live writer";
    case TTSHM_E_NOTFOUND:
        return "no such live buffer";
    default:
        return "unknown error";
    }
}

int ttshm_registry_name_valid(const char *name)
{
    if (name == NULL)
        return 0;
    size_t n = strlen(name);
    if (n == 0 || n > TTSHM_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i]; /* ASCII only, whatever the locale */
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

void ttshm_default_registry(char *buf, size_t len)
{
    snprintf(buf, len, "u%lu", (unsigned long)geteuid());
}

int ttshm_header_object_name(char *buf, size_t len, const char *registry, unsigned slot)
{
    int n = snprintf(buf, len, "/ttshm.%s.%u", registry, slot);
    return (n < 0 || (size_t)n >= len) ? -TTSHM_E_INVAL : 0;
}

int ttshm_table_object_name(char *buf, size_t len, const char *registry, unsigned slot,
                            uint64_t epoch)
{
    int n = snprintf(buf, len, "/ttshm.%s.%u.t%llu", registry, slot, (unsigned long long)epoch);
    return (n < 0 || (size_t)n >= len) ? -TTSHM_E_INVAL : 0;
}

int ttshm_parse_header_object_name(const char *name, char *registry, size_t reglen, unsigned *slot)
{
    static const char prefix[] = "ttshm.";
    if (strncmp(name, prefix, sizeof prefix - 1) != 0)
        return -1;
    const char *reg = name + sizeof prefix - 1;
    const char *dot = strchr(reg, '.');
    if (dot == NULL || (size_t)(dot - reg) >= reglen)
        return -1;
    const char *num = dot + 1;
    if (*num == '\0' || strlen(num) > 3)
        return -1;
    unsigned v = 0;
    for (const char *p = num; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return -1; /* table objects ("<slot>.t<epoch>") and strangers */
        v = v * 10 + (unsigned)(*p - '0');
    }
    if (v >= TTSHM_MAX_SLOTS || (num[0] == '0' && num[1] != '\0'))
        return -1;
    memcpy(registry, reg, (size_t)(dot - reg));
    registry[dot - reg] = '\0';
    if (!ttshm_registry_name_valid(registry))
        return -1;
    *slot = v;
    return 0;
}
