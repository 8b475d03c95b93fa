/* What forwarder.c and fwd_inflight.c share; not for other users. */
#ifndef PK_FWD_INTERNAL_H
#define PK_FWD_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "dns_cache.h"
#include "dns_listener.h"
#include "dns_msg.h"
#include "forwarder.h"
#include "fwd_config.h"
#include "fwd_servers.h"
#include "resolv_watch.h"
#include "upstream.h"

/* Cache and in-flight key: DO and CD flags, type, class, then the lowercased name. */
#define FWD_KEY_MAX (1 + 2 + 2 + DNS_NAME_MAX)

/* Bound on resolutions in flight; beyond it new questions get SERVFAIL. */
#define FWD_MAX_INFLIGHT 4096
#define FWD_INFLIGHT_BUCKETS 1024

/* A client waiting for an answer: what is needed to shape the answer for it. */
struct fwd_waiter {
    struct dns_client client;
    uint16_t id;
    uint16_t udp_payload;
    bool has_edns;
    bool edns_do;
    uint8_t name[DNS_NAME_MAX]; /* the question name as the client spelled it */
    uint8_t name_len;
};

struct fwd_inflight;

struct forwarder {
    uv_loop_t *loop;
    struct fwd_config cfg;
    struct dns_listener *listener;
    struct upstream *upstream;
    struct resolv_watch *resolv;
    struct dns_cache *cache;
    struct fwd_servers servers;
    size_t n_default; /* servers[0..n_default) take names no `server=/d/` claims */
    struct resolv_servers resolv_current;
    struct fwd_inflight *inflight[FWD_INFLIGHT_BUCKETS];
    size_t n_inflight;
    uint32_t hash_seed;
    struct forwarder_stats stats;
    bool stopping;
    void (*stop_cb)(void *arg);
    void *stop_arg;
    int closing_handles;           /* handles (and holds) still to close before f can be freed */
    uint64_t rebind_logged_ms;     /* when stop-dns-rebind last logged */
    uint8_t out[DNS_TCP_MAX + 64]; /* answers are shaped here, one at a time */
    uint8_t rebind[DNS_TCP_MAX];   /* an upstream answer without its addresses */
};

/* Starts (or joins) the resolution of `key` for waiter w, sending `query` upstream to the
 * servers in `subset` (NULL: the default ones). */
void fwd_inflight_join(struct forwarder *f, const uint8_t *key, size_t key_len,
                       const uint8_t *query, size_t query_len, const uint8_t *subset,
                       size_t n_subset, const struct fwd_waiter *w);

/* Abandons everything in flight (shutdown); waiters get nothing. */
void fwd_inflight_abandon_all(struct forwarder *f);

/* Called by fwd_inflight.c with a good upstream answer (or, answer NULL, after every server
 * failed; `last_rcode` then says what the last reply was, or -1 for none). Caches it and
 * answers the waiters. */
void fwd_deliver(struct forwarder *f, const uint8_t *key, size_t key_len, uint8_t *answer,
                 size_t len, const struct fwd_waiter *waiters, size_t n_waiters);

/* Sends `answer` (normalized: no OPT record) shaped for waiter w. */
void fwd_serve(struct forwarder *f, const struct fwd_waiter *w, const uint8_t *answer, size_t len);

/* Answers w with rcode and an Extended DNS Error when it asked with EDNS. */
void fwd_serve_error(struct forwarder *f, const struct fwd_waiter *w, uint16_t qtype,
                     uint16_t qclass, uint16_t rcode, uint16_t ede, const char *text);

/* Drops one of the holds counted in closing_handles (see forwarder_stop). */
void fwd_release(struct forwarder *f);

/* Tries the cache for a stale answer to key for w; true when one was sent. */
bool fwd_serve_stale(struct forwarder *f, const uint8_t *key, size_t key_len,
                     const struct fwd_waiter *w);

#endif
