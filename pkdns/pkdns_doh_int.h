/* Internals of the DNS over HTTP server, shared by pkdns_doh.c (connections: accepting,
 * reading, writing, closing) and pkdns_doh_http.c (requests: routing, the DNS query, the
 * response). */
#ifndef PKDNS_DOH_INT_H
#define PKDNS_DOH_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "addr.h"
#include "dns.h"
#include "dns_listener.h"
#include "pk_http.h"
#include "pkdns_doh.h"

#define PKDNS_DOH_TAG "doh"
#define PKDNS_DOH_BACKLOG 128
#define PKDNS_DOH_IN_BYTES (PK_HTTP_HEAD_MAX + PK_HTTP_BODY_MAX)
#define PKDNS_DOH_HEAD_OUT_MAX 512                   /* our response heads are far shorter */
#define PKDNS_DOH_DNS_TYPE "application/dns-message" /* RFC 8484 6 */
#define PKDNS_DOH_ALLOW "GET, POST, OPTIONS"

/* A connection's buffers, allocated when it is accepted and freed when it is closed. */
struct pkdns_doh_buffers {
    uint8_t in[PKDNS_DOH_IN_BYTES];
    uint8_t out[PKDNS_DOH_HEAD_OUT_MAX + DNS_TCP_MAX];
};

struct pkdns_doh_conn {
    uv_tcp_t handle;
    uv_timer_t timer;
    uv_write_t write_req;
    uv_shutdown_t shutdown_req;
    struct pkdns_doh *owner;
    struct pkdns_doh_buffers *buf;
    struct pk_http_parser parser;
    struct addr peer;         /* the TCP peer */
    struct dns_client client; /* of the request being answered */
    uint32_t slot;
    uint32_t generation;
    size_t in_len;
    size_t request_len; /* bytes of buf->in the request being answered takes */
    int handles_open;
    bool in_use;
    bool closing;
    bool reading;
    bool busy;        /* a DNS query of this connection is in progress */
    bool writing;     /* a response is being written */
    bool close_after; /* the response being written is the last */
    bool peer_done;   /* the client sent its end of stream */
    bool lingering;   /* half-closed after the last response; what comes is dropped */
};

struct pkdns_doh {
    uv_loop_t *loop;
    dns_listener_query_cb cb;
    void *user;
    uv_tcp_t listener;
    struct pkdns_doh_stats stats;
    struct pkdns_doh_conn conns[PKDNS_DOH_MAX_CONNS];
    uint32_t free_slots[PKDNS_DOH_MAX_CONNS];
    uint32_t free_count;
    uint8_t dns[DNS_TCP_MAX]; /* a GET's decoded message, handed to cb at once */
    int handles_open;
    bool closing;
    bool full_logged;
    bool accept_failing;
    void (*close_cb)(void *arg);
    void *close_arg;
};

/* Closes the connection; an answer still to come for it finds it gone by its generation. */
void pkdns_doh_close_conn(struct pkdns_doh_conn *c);

/* Writes c->buf->out[0..len) and waits for it with the idle timer. */
void pkdns_doh_write(struct pkdns_doh_conn *c, size_t len);

/* Writes the status line, our headers, headers (each ending in CRLF) and the body. A 204 has
 * no Content-Length (RFC 9110 8.6) and the answer to a HEAD request no body. */
void pkdns_doh_respond(struct pkdns_doh_conn *c, int status, const char *headers, const void *body,
                       size_t body_len);

/* An error with its reason as a short text body. */
void pkdns_doh_respond_error(struct pkdns_doh_conn *c, int status, const char *headers);

/* A response with a text/plain body. */
void pkdns_doh_respond_text(struct pkdns_doh_conn *c, int status, const char *text);

/* Parses the next request in the buffer and answers it, unless one is being answered. */
void pkdns_doh_process(struct pkdns_doh_conn *c);

#endif
