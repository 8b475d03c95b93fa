/* Queries to upstream DNS servers, one request at a time per call: UDP from a fresh socket
 * (so a fresh, kernel-chosen random source port) with a random ID, connected to the server so
 * the kernel drops datagrams from anyone else; the answer must carry that ID and the same
 * question; a truncated answer is retried over TCP. Used by the forwarder and the router's
 * TCP path. */
#ifndef PK_UPSTREAM_H
#define PK_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "addr.h"

struct upstream;
struct upstream_req;

/* Delivers the outcome of one request, exactly once unless it was cancelled. status is 0 with
 * the answer (valid during the call only, which the callback may rewrite in place; its ID already
 * the one the caller's query had), or -ETIMEDOUT, -ECONNREFUSED (the server's port is closed),
 * -EBADMSG (a malformed TCP answer), -ECONNRESET, or another negative errno from the sockets. */
typedef void (*upstream_cb)(void *user, int status, uint8_t *answer, size_t len);

struct upstream_stats {
    uint64_t sent_udp;
    uint64_t sent_tcp;
    uint64_t answers;
    uint64_t timeouts;
    uint64_t mismatched; /* datagrams ignored: wrong ID, wrong question, not a response */
    uint64_t truncated;  /* TC answers retried over TCP */
    uint64_t errors;
};

/* Creates a client on `loop` allowing at most max_inflight requests at once (0: 4096). */
int upstream_new(uv_loop_t *loop, uint32_t max_inflight, struct upstream **out);

/* Cancels every request (their callbacks do not run) and frees the client once all handles
 * are closed. NULL is a no-op. */
void upstream_free(struct upstream *u);

/* Sends `query` (a complete query with one question; copied) to `server`. The answer must
 * come within timeout_ms, a TCP retry gets a fresh timeout_ms. *req (may be NULL) identifies
 * the request for upstream_cancel until the callback runs. Returns 0, -EBUSY at
 * max_inflight, -EINVAL for a query without a readable question, or a socket error. */
int upstream_query(struct upstream *u, const struct addr *server, const uint8_t *query, size_t len,
                   uint32_t timeout_ms, upstream_cb cb, void *user, struct upstream_req **req);

/* As upstream_query, but over TCP from the start (RFC 7766), for TCP clients and TCP-only
 * servers. An error returned here means the callback will not run. */
int upstream_query_tcp(struct upstream *u, const struct addr *server, const uint8_t *query,
                       size_t len, uint32_t timeout_ms, upstream_cb cb, void *user,
                       struct upstream_req **req);

/* Stops a request; its callback will not run. */
void upstream_cancel(struct upstream_req *r);

void upstream_stats(const struct upstream *u, struct upstream_stats *out);

#endif
