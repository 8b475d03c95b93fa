/* SIGUSR1: every counter to the log, named as dnsdist names its metrics (queries, responses,
 * acl-drops, rule-drop, no-policy, downstream-timeouts, cache-hits, ...), then one line per
 * rule, pool (with its packet cache's counters) and backend. */
#include "rt_stats.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "rt_internal.h"

static void rt_stats_take_pools(const struct router *r, struct rt_stats *out)
{
    out->n_pools = r->n_pools;
    for (size_t i = 0; i < r->n_pools; i++) {
        const struct rt_pool_entry *pool = &r->pools[i];
        struct rt_stats_pool *p = &out->pools[i];

        snprintf(p->name, sizeof(p->name), "%s", r->cfg->pools[i].name);
        p->queries = pool->queries;
        p->no_server = pool->no_server;
        p->servers = pool->n;
        p->cached = pool->cache != NULL;
        if (p->cached) {
            p->cache_size = rt_cache_settings(pool->cache)->size;
            rt_cache_stats(pool->cache, &p->cache);
        }
    }
}

static void rt_stats_take_backends(const struct router *r, struct rt_stats *out)
{
    out->n_backends = r->n_backends;
    for (size_t i = 0; i < r->n_backends; i++) {
        const struct rt_backend_config *bc = rt_backend_config(r->backends[i].io);
        struct rt_stats_backend *b = &out->backends[i];

        snprintf(b->name, sizeof(b->name), "%s", bc->name);
        b->addr = bc->addr;
        b->up = rt_health_is_up(r->backends[i].health);
        rt_backend_stats(r->backends[i].io, &b->st);
    }
}

void rt_stats_take(const struct router *r, struct rt_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->loops = 1;
    out->counters = r->stats;
    dns_listener_stats(r->listener, &out->listener);
    out->n_rules = r->cfg->n_rules;
    for (size_t i = 0; i < r->cfg->n_rules; i++) {
        snprintf(out->rules[i].name, sizeof(out->rules[i].name), "%s", r->cfg->rules[i].name);
        out->rules[i].matches = r->rule_hits[i];
    }
    rt_stats_take_pools(r, out);
    rt_stats_take_backends(r, out);
}

/* True when a and b count the same rules, pools and backends, in the same order. */
static bool rt_stats_same_shape(const struct rt_stats *a, const struct rt_stats *b)
{
    if (a->n_rules != b->n_rules || a->n_pools != b->n_pools || a->n_backends != b->n_backends) {
        return false;
    }
    for (size_t i = 0; i < a->n_rules; i++) {
        if (strcmp(a->rules[i].name, b->rules[i].name) != 0) {
            return false;
        }
    }
    for (size_t i = 0; i < a->n_pools; i++) {
        if (strcmp(a->pools[i].name, b->pools[i].name) != 0 ||
            a->pools[i].cached != b->pools[i].cached) {
            return false;
        }
    }
    for (size_t i = 0; i < a->n_backends; i++) {
        if (strcmp(a->backends[i].name, b->backends[i].name) != 0 ||
            !addr_equal(&a->backends[i].addr, &b->backends[i].addr)) {
            return false;
        }
    }
    return true;
}

/* Every field of struct rt_counters, of the listener's and of the cache's counters is a
 * uint64_t: they are summed as arrays. */
_Static_assert(sizeof(struct rt_counters) % sizeof(uint64_t) == 0, "rt_counters: uint64_t only");
_Static_assert(sizeof(struct dns_listener_stats) % sizeof(uint64_t) == 0,
               "listener: uint64_t only");
_Static_assert(sizeof(struct rt_cache_stats) % sizeof(uint64_t) == 0, "cache: uint64_t only");
static void rt_stats_add_u64(void *sum, const void *more, size_t size)
{
    uint64_t *s = sum;
    const uint64_t *m = more;

    for (size_t i = 0; i < size / sizeof(uint64_t); i++) {
        s[i] += m[i];
    }
}

static void rt_stats_add_backend(struct rt_backend_stats *s, const struct rt_backend_stats *m)
{
    uint64_t answered = s->responses + m->responses;

    if (answered > 0) {
        s->latency_us = (uint32_t)(((uint64_t)s->latency_us * s->responses +
                                    (uint64_t)m->latency_us * m->responses) /
                                   answered);
    }
    s->queries += m->queries;
    s->responses += m->responses;
    s->timeouts += m->timeouts;
    s->mismatched += m->mismatched;
    s->send_errors += m->send_errors;
    s->send_batches += m->send_batches;
    s->tcp_connects += m->tcp_connects;
    s->tcp_blocks += m->tcp_blocks;
    s->tcp_resent += m->tcp_resent;
    s->full += m->full;
    s->refused += m->refused;
    s->outstanding += m->outstanding;
}

bool rt_stats_merge(struct rt_stats *sum, const struct rt_stats *more)
{
    if (!rt_stats_same_shape(sum, more)) {
        return false;
    }
    sum->loops += more->loops;
    rt_stats_add_u64(&sum->counters, &more->counters, sizeof(sum->counters));
    rt_stats_add_u64(&sum->listener, &more->listener, sizeof(sum->listener));
    for (size_t i = 0; i < sum->n_rules; i++) {
        sum->rules[i].matches += more->rules[i].matches;
    }
    for (size_t i = 0; i < sum->n_pools; i++) {
        struct rt_stats_pool *p = &sum->pools[i];
        const struct rt_stats_pool *m = &more->pools[i];

        p->queries += m->queries;
        p->no_server += m->no_server;
        p->cache_size += m->cache_size;
        rt_stats_add_u64(&p->cache, &m->cache, sizeof(p->cache));
    }
    for (size_t i = 0; i < sum->n_backends; i++) {
        sum->backends[i].up = sum->backends[i].up && more->backends[i].up;
        rt_stats_add_backend(&sum->backends[i].st, &more->backends[i].st);
    }
    return true;
}

static void rt_stats_log_router(const struct rt_stats *st, const char *tag)
{
    const struct rt_counters *s = &st->counters;
    const struct dns_listener_stats *ls = &st->listener;

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
               (unsigned long long)ls->udp_received, (unsigned long long)ls->udp_sent,
               (unsigned long long)ls->udp_send_errors, (unsigned long long)ls->udp_truncated,
               (unsigned long long)ls->tcp_accepted, (unsigned long long)ls->tcp_rejected,
               (unsigned long long)ls->tcp_idle_closed);
}

/* A pool's line; with a cache, its counters as dnsdist names a pool's cache metrics. */
static void rt_stats_log_pool(const struct rt_stats_pool *p, const char *tag)
{
    if (!p->cached) {
        log_notice(tag, "pool '%s' queries=%llu no-policy=%llu servers=%zu", p->name,
                   (unsigned long long)p->queries, (unsigned long long)p->no_server, p->servers);
        return;
    }
    log_notice(tag,
               "pool '%s' queries=%llu no-policy=%llu servers=%zu cache-size=%u "
               "cache-entries=%llu cache-hits=%llu cache-misses=%llu cache-ttl-too-shorts=%llu",
               p->name, (unsigned long long)p->queries, (unsigned long long)p->no_server,
               p->servers, p->cache_size, (unsigned long long)p->cache.entries,
               (unsigned long long)p->cache.hits, (unsigned long long)p->cache.misses,
               (unsigned long long)p->cache.ttl_too_short);
}

static void rt_stats_log_backend(const struct rt_stats_backend *b, const char *tag)
{
    const struct rt_backend_stats *st = &b->st;
    char text[ADDR_TEXT_MAX];

    log_notice(tag,
               "server %s address=%s state=%s queries=%llu responses=%llu drops=%llu "
               "mismatched=%llu send-errors=%llu send-batches=%llu full=%llu tcp-connects=%llu "
               "tcp-resent=%llu refused=%llu outstanding=%u latency=%.1fms",
               b->name, addr_format(&b->addr, text, sizeof(text)), b->up ? "up" : "down",
               (unsigned long long)st->queries, (unsigned long long)st->responses,
               (unsigned long long)st->timeouts, (unsigned long long)st->mismatched,
               (unsigned long long)st->send_errors, (unsigned long long)st->send_batches,
               (unsigned long long)st->full, (unsigned long long)st->tcp_connects,
               (unsigned long long)st->tcp_resent, (unsigned long long)st->refused, st->outstanding,
               st->latency_us / 1000.0);
}

void rt_stats_log(const struct rt_stats *s, const char *tag)
{
    rt_stats_log_router(s, tag);
    for (size_t i = 0; i < s->n_rules; i++) {
        log_notice(tag, "rule %s matches=%llu", s->rules[i].name,
                   (unsigned long long)s->rules[i].matches);
    }
    for (size_t i = 0; i < s->n_pools; i++) {
        rt_stats_log_pool(&s->pools[i], tag);
    }
    for (size_t i = 0; i < s->n_backends; i++) {
        rt_stats_log_backend(&s->backends[i], tag);
    }
}
