/* SPDX-License-Identifier: Apache-2.0 */
/*
 * --listen: serves the Prometheus format on GET /metrics with libmicrohttpd.
 * One internal thread answers one request at a time; each scrape is one
 * refresh (read-only: the writers are never blocked or slowed). Bound to
 * 127.0.0.1 unless an address is given.
 */
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stat.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
                             char *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    if (r == NULL) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result serve(void *cls, struct MHD_Connection *c, const char *url,
                             const char *method, const char *version, const char *upload_data,
                             size_t *upload_data_size, void **req_cls)
{
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)req_cls;
    const struct stat_options *o = cls;
    static char not_allowed[] = "only GET and HEAD\n";
    static char not_found[] = "not found: the metrics are on /metrics\n";
    static char index_page[] = "tt-shm-stat: Prometheus metrics on /metrics\n";
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", not_allowed,
                     sizeof not_allowed - 1, MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/") == 0)
        return reply(c, MHD_HTTP_OK, "text/plain", index_page, sizeof index_page - 1,
                     MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/metrics") != 0)
        return reply(c, MHD_HTTP_NOT_FOUND, "text/plain", not_found, sizeof not_found - 1,
                     MHD_RESPMEM_PERSISTENT);
    char *body = NULL;
    size_t len = 0;
    /* A segment that cannot be read is counted in ttshm_segment_errors and
     * named on stderr; the scrape itself succeeds with the others. */
    if (stat_render(o, &body, &len) != 0) {
        static char oom[] = "out of memory\n";
        return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", oom, sizeof oom - 1,
                     MHD_RESPMEM_PERSISTENT);
    }
    return reply(c, MHD_HTTP_OK, CONTENT_TYPE, body, len, MHD_RESPMEM_MUST_FREE);
}

/* "PORT", "ADDR:PORT" or "[ADDR6]:PORT" -> a socket address. */
static int resolve(const char *listen, struct sockaddr_storage *sa, char *shown, size_t shown_len)
{
    char host[256] = "127.0.0.1";
    const char *port = listen;
    const char *colon = strrchr(listen, ':');
    if (colon != NULL) {
        size_t n = (size_t)(colon - listen);
        const char *h = listen;
        if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
            h++;
            n -= 2;
        }
        if (n == 0 || n >= sizeof host)
            return -1;
        memcpy(host, h, n);
        host[n] = '\0';
        port = colon + 1;
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (*port == '\0' || *end != '\0' || p < 1 || p > 65535)
        return -1;
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    if (getaddrinfo(host, port, &hints, &ai) != 0 || ai == NULL)
        return -1;
    memcpy(sa, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    snprintf(shown, shown_len, "%s%s%s:%ld", sa->ss_family == AF_INET6 ? "[" : "", host,
             sa->ss_family == AF_INET6 ? "]" : "", p);
    return 0;
}

int stat_listen_valid(const char *listen)
{
    struct sockaddr_storage sa;
    char shown[300];
    return resolve(listen, &sa, shown, sizeof shown);
}

int stat_serve(const struct stat_options *o)
{
    struct sockaddr_storage sa;
    char shown[300];
    if (resolve(o->listen, &sa, shown, sizeof shown) != 0) {
        fprintf(stderr, "tt-shm-stat: --listen %s: not [ADDR:]PORT\n", o->listen);
        return STAT_EXIT_USAGE;
    }
    /* Block the signals that end the server before its thread starts (it
     * inherits the mask), then wait for one of them here. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    /* No MHD_USE_ERROR_LOG: its bind message names "port 0" (the address is
     * passed whole); ours below names the address. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD;
    if (sa.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, serve, (void *)o, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_CONNECTION_LIMIT, 16u, MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "tt-shm-stat: --listen %s: cannot listen there (%s)\n", shown,
                errno ? strerror(errno) : "in use?");
        return STAT_EXIT_NOTHING;
    }
    fprintf(stderr, "tt-shm-stat: serving http://%s/metrics (Ctrl-C to stop)\n", shown);
    int sig = 0;
    sigwait(&stop, &sig);
    MHD_stop_daemon(d);
    return STAT_EXIT_OK;
}
