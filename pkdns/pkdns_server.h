/* The pkdns daemon's query path: the DNS listener on [general] socket and, when set, DNS
 * over HTTP on dns_over_http_socket (pkdns_doh.h); identity queries
 * (id.server) answered; queries for pkarr names resolved with pk_answer from the packet cache
 * and the DHT (one get per key, shared by every query that waits for it), names the answer
 * follows to ICANN or to delegated servers asked through common/upstream.h, a client waiting
 * answer_timeout_ms at most for all of it (then SERVFAIL, while the lookup goes on); every
 * other name forwarded to [general] forward with a cache of icann_cache_mb. At most
 * max_waiting_queries queries wait at once; more are REFUSED. */
#ifndef PKDNS_SERVER_H
#define PKDNS_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "addr.h"
#include "pk_config.h"

struct pkdns_server_stats {
    uint64_t queries;
    uint64_t pkarr;      /* queries for pkarr names */
    uint64_t forwarded;  /* queries sent to the forward server */
    uint64_t icann_hits; /* ICANN names answered from the cache (asked, or behind a CNAME) */
    uint64_t timeouts;   /* pkarr queries answered SERVFAIL at answer_timeout_ms */
    uint64_t servfail;
    uint64_t formerr;
    uint64_t refused;
    uint64_t rate_limited;
    uint64_t full; /* REFUSED for lack of room: max_waiting_queries, max_queued_lookups */
    uint64_t lookups_started; /* DHT lookups, one per key at a time */
    uint64_t lookups_joined;  /* queries that waited for a lookup already running */
    uint64_t lookups_found;
    uint64_t lookups_not_found;
    uint64_t lookups_failed;  /* too few responses to tell */
    uint64_t lookups_refused; /* keys that found the queue full (max_queued_lookups) */
    uint64_t lookups_dropped; /* queued lookups every waiter left before they started */
    bool doh_enabled;         /* the DNS over HTTP counters below mean something */
    uint64_t doh_connections;
    uint64_t doh_rejected; /* connections closed at once: the table was full */
    uint64_t doh_requests;
    uint64_t doh_2xx;
    uint64_t doh_4xx;
    uint64_t doh_5xx;
};

struct pkdns_server;

/* Creates the server on loop from cfg (copied): caches, DHT node, upstream client, listener
 * and, with dns_over_http_socket, the DNS over HTTP server (neither bound yet). Returns 0 or
 * -errno, after logging why. */
int pkdns_server_new(uv_loop_t *loop, const struct pk_config *cfg, struct pkdns_server **out);

/* Binds the listener and the DNS over HTTP server. Returns 0 or the bind error. */
int pkdns_server_start(struct pkdns_server *s);

/* The address the listener is bound to. Returns 0 or -ENOENT. */
int pkdns_server_local_addr(const struct pkdns_server *s, struct addr *out);

/* Takes new settings from cfg that apply without a restart: TTLs, limits, ACL, timeouts, the
 * cache sizes (a new icann_cache_mb starts that cache afresh). Logs a warning naming the
 * changed keys that need a restart, which keep their old values. */
void pkdns_server_reload(struct pkdns_server *s, const struct pk_config *cfg);

/* Copies the counters into *out. */
void pkdns_server_stats(const struct pkdns_server *s, struct pkdns_server_stats *out);

/* Drops every query in progress, closes every handle and frees the server; done(user) runs
 * when all is closed. */
void pkdns_server_stop(struct pkdns_server *s, void (*done)(void *user), void *user);

#endif
