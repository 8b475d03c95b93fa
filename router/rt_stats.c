/* SIGUSR1: every counter to the log, named as dnsdist names its metrics (queries, responses,
 * acl-drops, rule-drop, no-policy, downstream-timeouts, cache-hits, ...), then one line per
 * rule, pool (with its packet cache's counters) and backend. */
#include <stdio.h>

#include "dns_listener.h"
#include "log.h"
#include "rt_internal.h"

#define RT_STATS_TAG "stats"

static void rt_stats_router(const struct router *r, const char *tag)
{
    const struct rt_counters *s = &r->stats;
    struct dns_listener_stats ls;

    dns_listener_stats(r->listener, &ls);
    log_notice(tag,
               "queries=%llu responses=%llu acl-drops=%llu rule-drop=%llu self-answered=%llu "
               "rate-limited=%llu no-policy=%llu downstream-timeouts=%llu retries=%llu "
               "servfail-responses=%llu frontend-formerr=%llu non-compliant-queries=%llu "
               "tcp-queries=%llu cache-hits=%llu cache-misses=%llu",
               (unsigned long long)s->queries, (unsigned long long)s->responses,
               (unsigned long long)s->acl_drops, (unsigned long long)s->rule_drops,
               (unsigned long long)s->self_answered, (unsigned long long)s->rate_limited,
               (unsigned long long)s->no_server, (unsigned long long)s->timeouts,
               (unsigned long long)s->retries, (unsigned long long)s->servfail,
               (unsigned long long)s->formerr, (unsigned long long)s->dropped_malformed,
               (unsigned long long)s->tcp_queries, (unsigned long long)s->cache_hits,
               (unsigned long long)s->cache_misses);
    log_notice(tag,
               "udp-in=%llu udp-out=%llu udp-send-errors=%llu udp-truncated=%llu "
               "tcp-accepted=%llu tcp-rejected=%llu tcp-idle-closed=%llu",
               (unsigned long long)ls.udp_received, (unsigned long long)ls.udp_sent,
               (unsigned long long)ls.udp_send_errors, (unsigned long long)ls.udp_truncated,
               (unsigned long long)ls.tcp_accepted, (unsigned long long)ls.tcp_rejected,
               (unsigned long long)ls.tcp_idle_closed);
}

static void rt_stats_backends(const struct router *r, const char *tag)
{
    char text[ADDR_TEXT_MAX];
    struct rt_backend_stats st;

    for (size_t i = 0; i < r->n_backends; i++) {
        const struct rt_backend_config *bc = rt_backend_config(r->backends[i].io);
        rt_backend_stats(r->backends[i].io, &st);
        log_notice(tag,
                   "server %s address=%s state=%s queries=%llu responses=%llu drops=%llu "
                   "mismatched=%llu send-errors=%llu send-batches=%llu full=%llu tcp-connects=%llu "
                   "tcp-resent=%llu refused=%llu outstanding=%u latency=%.1fms",
                   bc->name, addr_format(&bc->addr, text, sizeof(text)),
                   rt_health_is_up(r->backends[i].health) ? "up" : "down",
                   (unsigned long long)st.queries, (unsigned long long)st.responses,
                   (unsigned long long)st.timeouts, (unsigned long long)st.mismatched,
                   (unsigned long long)st.send_errors, (unsigned long long)st.send_batches,
                   (unsigned long long)st.full, (unsigned long long)st.tcp_connects,
                   (unsigned long long)st.tcp_resent, (unsigned long long)st.refused,
                   st.outstanding, st.latency_us / 1000.0);
    }
}

/* A pool's line; with a cache, its counters as dnsdist names a pool's cache metrics. */
static void rt_stats_pool(const struct router *r, size_t i, const char *tag)
{
    const struct rt_pool_entry *pool = &r->pools[i];
    const char *name = r->cfg->pools[i].name;
    struct rt_cache_stats cs;

    if (pool->cache == NULL) {
        log_notice(tag, "pool '%s' queries=%llu no-policy=%llu servers=%zu", name,
                   (unsigned long long)pool->queries, (unsigned long long)pool->no_server, pool->n);
        return;
    }
    rt_cache_stats(pool->cache, &cs);
    log_notice(tag,
               "pool '%s' queries=%llu no-policy=%llu servers=%zu cache-size=%u "
               "cache-entries=%llu cache-hits=%llu cache-misses=%llu cache-ttl-too-shorts=%llu",
               name, (unsigned long long)pool->queries, (unsigned long long)pool->no_server,
               pool->n, rt_cache_settings(pool->cache)->size, (unsigned long long)cs.entries,
               (unsigned long long)cs.hits, (unsigned long long)cs.misses,
               (unsigned long long)cs.ttl_too_short);
}

void rt_stats_log(const struct router *r)
{
    const struct rt_config *cfg = r->cfg;

    char tag[16] = RT_STATS_TAG;

    /* With several loops each logs its own counters, tagged stats1, stats2, ... */
    if (r->opts.n_routers > 1) {
        snprintf(tag, sizeof(tag), "%s%u", RT_STATS_TAG, r->opts.index + 1);
    }
    rt_stats_router(r, tag);
    for (size_t i = 0; i < cfg->n_rules; i++) {
        log_notice(tag, "rule %s matches=%llu", cfg->rules[i].name,
                   (unsigned long long)r->rule_hits[i]);
    }
    for (size_t i = 0; i < r->n_pools; i++) {
        rt_stats_pool(r, i, tag);
    }
    rt_stats_backends(r, tag);
}
