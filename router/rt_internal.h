/* What router.c (lifecycle, backends, reload), rt_forward.c (the query path) and rt_stats.c
 * (counters) share; not for other users. */
#ifndef PK_RT_INTERNAL_H
#define PK_RT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "dns_listener.h"
#include "router.h"
#include "rt_backend.h"
#include "rt_cache.h"
#include "rt_config.h"
#include "rt_health.h"
#include "rt_ratelimit.h"
#include "rt_rules.h"
#include "rt_stats.h"
#include "upstream.h"

#define RT_TAG "router"
#define RT_IDENTITY "pkdns-router"
#define RT_UPSTREAM_MAX_INFLIGHT 4096 /* health checks at once */

struct rt_backend_entry {
    struct rt_backend *io;
    struct rt_health *health;
    struct router *owner;
};

struct rt_pool_entry {
    uint16_t members[RT_MAX_BACKENDS]; /* indices into router.backends */
    size_t n;
    enum rt_policy policy;
    uint32_t rr_next;
    uint64_t queries;
    uint64_t no_server;
    struct rt_cache *cache; /* NULL: the pool has none */
};

/* A configuration read on SIGHUP, waiting for the first verdict on the backends it adds. */
struct rt_staged {
    struct rt_config *cfg; /* NULL when nothing is staged */
    struct rt_rules *rules;
    struct rt_backend_entry entries[RT_MAX_BACKENDS]; /* the backends it opened */
    int reuse[RT_MAX_BACKENDS]; /* index of the running backend it keeps, or -1 */
    bool opening;               /* router_stage is still opening backends */
    bool held;                  /* not to come into force before router_reload_release */
};

struct router {
    uv_loop_t *loop;
    struct router_options opts;
    struct rt_config *cfg;
    uint32_t generation;
    struct rt_rules *rules;
    uint64_t rule_hits[RT_MAX_RULES];
    struct dns_listener *listener;
    struct upstream *upstream;
    struct rt_backend_rx *rx;
    struct rt_backend_entry backends[RT_MAX_BACKENDS];
    size_t n_backends;
    struct rt_pool_entry pools[RT_MAX_POOLS];
    size_t n_pools;
    int default_pool; /* the pool named "", or -1 */
    struct rt_ratelimit *ratelimit;
    struct rt_counters stats;
    struct rt_staged staged;
    void (*ready_cb)(void *arg);
    void *ready_arg;
    bool stopping;
    bool started; /* router_start bound the listening addresses */
    bool serving; /* the listener reads them: every backend had its first verdict */
    void (*stop_cb)(void *arg);
    void *stop_arg;
    uint8_t out[DNS_TCP_MAX + 64]; /* replies are shaped here, one at a time */
};

/* The listener's query callback: ACL, parse, rate limit, rules, forwarding. */
void rt_forward_on_query(void *user, const struct dns_client *c, const uint8_t *msg, size_t len);

/* rt_backend's answer callback: relays the answer to p's client with its own ID. */
void rt_forward_on_answer(void *user, struct rt_backend *b, const struct rt_pending *p,
                          uint8_t *answer, size_t len);

/* rt_backend's timeout callback: one more try elsewhere when allowed, else SERVFAIL/silence. */
void rt_forward_on_timeout(void *user, struct rt_backend *b, const struct rt_pending *p,
                           const uint8_t *query, size_t len);

/* Copies r's counters, with the names of its rules, pools and backends, into out. */
void rt_stats_take(const struct router *r, struct rt_stats *out);

#endif
