/* The router's counters as a self-contained snapshot: taken from one router (one loop), summed
 * over the loops of threads = N, and logged (SIGUSR1, stop) with the names dnsdist gives its
 * metrics. A snapshot holds copies of the names it needs, so it may cross threads. */
#ifndef PK_RT_STATS_H
#define PK_RT_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "dns_listener.h"
#include "rt_backend.h"
#include "rt_cache.h"
#include "rt_config.h"

#define RT_STATS_TAG "stats" /* the log tag of the counters' lines */

/* Router-wide counters, named in the log as dnsdist names its metrics. */
struct rt_counters {
    uint64_t queries;
    uint64_t responses;
    uint64_t acl_drops;
    uint64_t rule_drops;
    uint64_t self_answered; /* rcode rules, identity queries */
    uint64_t rate_limited;
    uint64_t no_server; /* dnsdist: no-policy */
    uint64_t timeouts;  /* queries given up after their last try */
    uint64_t retries;
    uint64_t servfail; /* SERVFAILs we produced */
    uint64_t formerr;
    uint64_t dropped_malformed; /* unreadable datagrams, responses sent to us */
    uint64_t tcp_queries;
    uint64_t cache_hits;   /* over every pool's cache */
    uint64_t cache_misses; /* lookups in a cache that found nothing fresh */
};

struct rt_stats_rule {
    char name[RT_NAME_MAX];
    uint64_t matches;
};

struct rt_stats_pool {
    char name[RT_NAME_MAX];
    uint64_t queries;
    uint64_t no_server;
    size_t servers;
    bool cached;         /* the pool has a packet cache */
    uint32_t cache_size; /* its entries, summed over the loops */
    struct rt_cache_stats cache;
};

struct rt_stats_backend {
    char name[RT_NAME_MAX];
    struct addr addr;
    bool up; /* in every loop */
    struct rt_backend_stats st;
};

struct rt_stats {
    unsigned loops; /* how many routers the figures are summed over */
    struct rt_counters counters;
    struct dns_listener_stats listener;
    size_t n_rules, n_pools, n_backends;
    struct rt_stats_rule rules[RT_MAX_RULES];
    struct rt_stats_pool pools[RT_MAX_POOLS];
    struct rt_stats_backend backends[RT_MAX_BACKENDS];
};

/* Adds `more` to `sum`: counters summed, a backend up only when up in both, latencies
 * weighted by responses. Returns false, changing nothing, when the two were taken under
 * different configurations (rules, pools or backends differ, as during a reload). */
bool rt_stats_merge(struct rt_stats *sum, const struct rt_stats *more);

/* Writes every counter of s to the log under `tag`: a router line, a listener line, then a
 * line per rule, pool and backend. */
void rt_stats_log(const struct rt_stats *s, const char *tag);

#endif
