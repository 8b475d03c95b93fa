/* Internals shared by pkdns_server.c (set-up and stop), pkdns_query.c (the query path) and
 * pkdns_forward.c (ICANN names). */
#ifndef PKDNS_SERVER_INT_H
#define PKDNS_SERVER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "dht_limit.h"
#include "dht_uv.h"
#include "dns_cache.h"
#include "dns_listener.h"
#include "dns_msg.h"
#include "pk_answer.h"
#include "pk_cache.h"
#include "pk_config.h"
#include "pkdns_doh.h"
#include "pkdns_lookup.h"
#include "pkdns_server.h"
#include "upstream.h"

#define PKDNS_SERVER_TAG "pkdns"
#define PKDNS_SERVER_UPSTREAM_MS 2500 /* ours: the forward server's budget per question */
#define PKDNS_SERVER_LIMIT_SLOTS 4096 /* ours: client IPs the rate limiters track */
#define PKDNS_SERVER_PREFETCH_MS 1000 /* ours: how often popular keys are refreshed */
#define PKDNS_SERVER_PREFETCH_MAX 16  /* ours: refreshes started per round at most */

/* One client query in progress. Answers are written in the server's scratch buffer, as each
 * is sent as soon as it is made: a waiting query holds only its own state. */
struct pkdns_query {
    struct pkdns_server *s;
    struct pkdns_query *prev, *next;
    struct dns_client client;
    struct dns_query q;
    uint8_t *msg; /* the client's query, for forwarding */
    size_t len;
    bool pkarr;
    struct pkdns_lookup_waiter waiter;
    struct upstream_req *req;
    uv_timer_t timer; /* set up at the first wait; data NULL before */
    bool timer_on;
    struct pk_answer a; /* last: pk_answer_start clears it */
};

struct pkdns_server {
    uv_loop_t *loop;
    struct pk_config cfg;
    struct pk_answer_config acfg;
    struct pkarr_known known; /* keys in the packet cache: their curve check is done */
    struct dns_listener *listener;
    struct pkdns_doh *doh; /* NULL: dns_over_http_socket not set */
    struct upstream *up;
    struct dns_cache *icann;
    struct pk_cache *pk;
    struct dht_uv *dht;
    struct pkdns_lookup *lookups;
    struct dht_limit *query_limit; /* NULL: off */
    struct dht_limit *dht_limit;   /* NULL: off */
    struct pkdns_query *queries;
    size_t n_waiting; /* queries with a timer: at most cfg.max_waiting_queries */
    bool full_logged; /* the burst of refusals at max_waiting_queries has been logged */
    uv_timer_t prefetch;
    struct pkdns_server_stats stats;
    struct pk_packet packet;           /* scratch for decoding a packet */
    uint8_t answer[PK_ANSWER_OUT_MAX]; /* scratch for the answer being made */
    uint8_t icann_answer[DNS_TCP_MAX]; /* scratch for an ICANN answer read from the cache */
    uint8_t reply[DNS_TCP_MAX];
    int closing; /* handles still closing after stop */
    void (*done)(void *user);
    void *done_user;
};

/* Sends answer[0..len) to the query's client (fitted to its UDP limit) and ends the query. */
void pkdns_query_reply(struct pkdns_query *qr, const uint8_t *answer, size_t len);

/* Makes the query wait (for a lookup, a server, the forward server): at its first wait it
 * takes one of max_waiting_queries places and, for a pkarr name, its budget of
 * answer_timeout_ms starts, which covers every later wait of its answer too. Returns false
 * after answering REFUSED when every place is taken. */
bool pkdns_query_wait(struct pkdns_query *qr);

/* Answers the query with rcode (and an Extended DNS Error) and ends it. */
void pkdns_query_error(struct pkdns_query *qr, uint16_t rcode, uint16_t ede, const char *text);

/* Ends the query without an answer (the server is stopping). */
void pkdns_query_drop(struct pkdns_query *qr);

/* The query callback of the listener and of the DNS over HTTP server. */
void pkdns_query_received(void *user, const struct dns_client *c, const uint8_t *msg, size_t len);

/* Forwards a query for an ICANN name, answering from the cache when it can. */
void pkdns_forward_query(struct pkdns_query *qr);

/* Copies the ICANN cache's answer to the question the resolution a asks the forward server
 * (pk_answer_write_query) into out[0..cap), its TTLs counted down. Returns its length, or
 * -ENOENT when none is cached (-ENOSPC when cap is too small). */
int pkdns_forward_cached(struct pkdns_server *s, const struct pk_answer *a, uint8_t *out,
                         size_t cap);

/* Caches the forward server's answer to the question the resolution a asked, when it is
 * cacheable (as a forwarded answer is). */
void pkdns_forward_remember(struct pkdns_server *s, const struct pk_answer *a,
                            const uint8_t *answer, size_t len);

/* Creates the ICANN cache of cfg->icann_cache_mb. Returns 0 or -errno. */
int pkdns_forward_cache_new(const struct pk_config *cfg, struct dns_cache **out);

#endif
