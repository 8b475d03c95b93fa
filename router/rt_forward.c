/* The query path: ACL, parse, rate limit, rules, the pool's packet cache, a backend chosen by
 * the pool's policy; and what comes back: answers relayed with the client's ID (and stored in
 * the pool's cache), timeouts retried once elsewhere. */
#include <errno.h>
#include <string.h>

#include "dns_reply.h"
#include "log.h"
#include "rt_internal.h"
#include "rt_policy.h"

static void rt_forward_send_client(struct router *r, const struct dns_client *c, const uint8_t *msg,
                                   size_t len)
{
    if (dns_listener_send(r->listener, c, msg, len) != 0) {
        dns_listener_done(r->listener, c);
    }
}

/* Answers p's client with rcode (SERVFAIL, REFUSED, ...), an OPT record when it sent one. */
static void rt_forward_reply_rcode(struct router *r, const struct rt_pending *p, uint16_t rcode)
{
    int n = dns_reply_error(&p->q, rcode, DNS_EDE_NONE, NULL, r->out, sizeof(r->out));

    if (rcode == DNS_RCODE_SERVFAIL) {
        r->stats.servfail++;
    }
    if (n > 0) {
        rt_forward_send_client(r, &p->client, r->out, (size_t)n);
    } else {
        dns_listener_done(r->listener, &p->client);
    }
}

/* A query that cannot be answered: SERVFAIL, or silence as dnsdist would. */
static void rt_forward_give_up(struct router *r, const struct rt_pending *p, bool servfail)
{
    if (servfail) {
        rt_forward_reply_rcode(r, p, DNS_RCODE_SERVFAIL);
    } else {
        dns_listener_done(r->listener, &p->client);
    }
}

static int rt_forward_entry_index(const struct router *r, const struct rt_backend *b)
{
    for (size_t i = 0; i < r->n_backends; i++) {
        if (r->backends[i].io == b) {
            return (int)i;
        }
    }
    return -1;
}

/* The pool's policy over its live members, leaving out those in `excluded` (bits by member
 * position). Returns an index into r->backends, or -1. */
static int rt_forward_pick(struct router *r, struct rt_pool_entry *pool, uint64_t excluded)
{
    struct rt_policy_candidate c[RT_MAX_BACKENDS];
    struct rt_backend_stats st;
    int pick;

    for (size_t i = 0; i < pool->n; i++) {
        const struct rt_backend_entry *e = &r->backends[pool->members[i]];
        const struct rt_backend_config *bc = rt_backend_config(e->io);
        rt_backend_stats(e->io, &st);
        c[i] = (struct rt_policy_candidate){
            .up = rt_health_is_up(e->health) && !(excluded & (1ull << i)),
            .outstanding = st.outstanding,
            .order = bc->order,
            .weight = bc->weight,
            .latency_us = st.latency_us,
        };
    }
    pick = rt_policy_pick(pool->policy, c, pool->n, -1, &pool->rr_next);
    return pick < 0 ? -1 : pool->members[pick];
}

/* Sends p to a live backend of its pool, other than the member at `avoid` (-1: none); a
 * backend whose socket refuses is skipped for the next. Returns 0, or -ENOENT when no backend
 * took it. */
static int rt_forward_try(struct router *r, const struct rt_pending *p, const uint8_t *msg,
                          size_t len, int avoid)
{
    struct rt_pool_entry *pool = &r->pools[p->pool];
    uint64_t excluded = 0;

    for (size_t i = 0; i < pool->n; i++) {
        if (pool->members[i] == avoid) {
            excluded |= 1ull << i;
        }
    }
    for (size_t attempt = 0; attempt < pool->n; attempt++) {
        int idx = rt_forward_pick(r, pool, excluded);
        if (idx < 0) {
            return -ENOENT;
        }
        struct rt_backend_entry *e = &r->backends[idx];
        int rc = p->client.transport == DNS_TRANSPORT_TCP || rt_backend_config(e->io)->tcp_only
                     ? rt_backend_send_tcp(e->io, p, msg, len)
                     : rt_backend_send(e->io, p, msg, len);
        if (rc == 0) {
            return 0;
        }
        for (size_t i = 0; i < pool->n; i++) {
            if (pool->members[i] == idx) {
                excluded |= 1ull << i;
            }
        }
    }
    return -ENOENT;
}

/* A backend failed p (timeout or TCP error): one more try elsewhere in the pool when allowed,
 * else SERVFAIL or silence. */
static void rt_forward_failed(struct router *r, struct rt_backend *b, const struct rt_pending *p,
                              const uint8_t *msg, size_t len)
{
    int idx = rt_forward_entry_index(r, b);

    if (idx >= 0) {
        rt_health_query_result(r->backends[idx].health, RT_QUERY_TIMED_OUT);
    }
    if (r->cfg->retry && p->attempt == 0 && len > 0 && p->generation == r->generation &&
        !r->stopping) {
        struct rt_pending next = *p;
        next.attempt = 1;
        if (rt_forward_try(r, &next, msg, len, idx) == 0) {
            r->stats.retries++;
            return;
        }
    }
    r->stats.timeouts++;
    rt_forward_give_up(r, p, r->cfg->servfail_timeout);
}

static void rt_forward_relay(struct router *r, const struct rt_pending *p, const uint8_t *answer,
                             size_t len)
{
    bool udp = p->client.transport == DNS_TRANSPORT_UDP;
    int n = dns_reply_for_client(&p->q, udp, answer, len, r->out, sizeof(r->out));

    if (n < 0) {
        dns_listener_done(r->listener, &p->client);
        return;
    }
    r->stats.responses++;
    rt_forward_send_client(r, &p->client, r->out, (size_t)n);
}

/* Stores a backend's answer in the cache of the pool that p went to, if it has one. */
static void rt_forward_store(struct router *r, const struct rt_pending *p, const uint8_t *answer,
                             size_t len)
{
    struct rt_cache *cache;

    /* A reload since p was routed may have renumbered the pools. */
    if (!p->cacheable || p->generation != r->generation) {
        return;
    }
    cache = r->pools[p->pool].cache;
    if (cache != NULL) {
        rt_cache_put(cache, &p->q, answer, len, uv_now(r->loop));
    }
}

/* What an answer tells lazy health checking: SERVFAIL or not. */
static enum rt_query_outcome rt_forward_outcome(const uint8_t *answer, size_t len)
{
    if (len >= DNS_HEADER_LEN && (answer[3] & DNS_RCODE_MASK) == DNS_RCODE_SERVFAIL) {
        return RT_QUERY_SERVFAIL;
    }
    return RT_QUERY_ANSWERED;
}

void rt_forward_on_answer(void *user, struct rt_backend *b, const struct rt_pending *p,
                          uint8_t *answer, size_t len)
{
    struct router *r = user;
    int idx = rt_forward_entry_index(r, b);

    if (idx >= 0) {
        rt_health_query_result(r->backends[idx].health, rt_forward_outcome(answer, len));
    }
    rt_forward_relay(r, p, answer, len);
    rt_forward_store(r, p, answer, len);
}

void rt_forward_on_timeout(void *user, struct rt_backend *b, const struct rt_pending *p,
                           const uint8_t *query, size_t len)
{
    rt_forward_failed(user, b, p, query, len);
}

static bool rt_forward_acl_allows(const struct router *r, const struct addr *peer)
{
    for (size_t i = 0; i < r->cfg->n_acl; i++) {
        if (addr_prefix_match(&r->cfg->acl[i], peer)) {
            return true;
        }
    }
    return false;
}

/* A query that did not parse: FORMERR when its header was readable and it is not a
 * response (answering responses is how reflection loops start), else silence. */
static void rt_forward_malformed(struct router *r, const struct dns_client *c, const uint8_t *msg,
                                 size_t len, int rc)
{
    if (rc == -EBADMSG && !(msg[2] & (DNS_FLAG_QR >> 8))) {
        int n = dns_reply_formerr(msg, len, r->out, sizeof(r->out));
        if (n > 0) {
            r->stats.formerr++;
            rt_forward_send_client(r, c, r->out, (size_t)n);
            return;
        }
    }
    r->stats.dropped_malformed++;
    dns_listener_done(r->listener, c);
}

/* Answers what the router answers itself: id.server and friends (RFC 4892). */
static bool rt_forward_identity(struct router *r, const struct dns_client *c,
                                const struct dns_query *q)
{
    int n;

    if (!dns_reply_is_identity(q)) {
        return false;
    }
    r->stats.self_answered++;
    n = dns_reply_identity(q, RT_IDENTITY, PKDNS_VERSION, r->out, sizeof(r->out));
    if (n > 0) {
        rt_forward_send_client(r, c, r->out, (size_t)n);
    } else {
        dns_listener_done(r->listener, c);
    }
    return true;
}

/* Answers p from its pool's cache when that holds a fresh answer, and marks p cacheable so
 * that a backend's answer is stored. This comes before a backend is picked: a fresh answer
 * is served even while every backend is down, as dnsdist does. */
static bool rt_forward_from_cache(struct router *r, struct rt_pending *p, const uint8_t *msg,
                                  size_t len)
{
    struct rt_cache *cache = r->pools[p->pool].cache;
    bool udp = p->client.transport == DNS_TRANSPORT_UDP;
    int n;

    if (cache == NULL || !rt_cache_query_cacheable(&p->q, msg, len)) {
        return false;
    }
    p->cacheable = true;
    n = rt_cache_get(cache, &p->q, uv_now(r->loop), r->out, sizeof(r->out));
    if (n < 0) {
        r->stats.cache_misses++;
        return false;
    }
    r->stats.cache_hits++;
    /* In place: too large for a UDP client, it becomes a TC reply, as a backend's would. */
    n = dns_reply_for_client(&p->q, udp, r->out, (size_t)n, r->out, sizeof(r->out));
    if (n < 0) {
        dns_listener_done(r->listener, &p->client);
    } else {
        rt_forward_send_client(r, &p->client, r->out, (size_t)n);
    }
    return true;
}

/* The rate limit, when one is set: false when the query was dropped or REFUSED. */
static bool rt_forward_within_rate(struct router *r, const struct rt_pending *p)
{
    if (r->ratelimit == NULL ||
        rt_ratelimit_allow(r->ratelimit, &p->client.peer, uv_now(r->loop))) {
        return true;
    }
    r->stats.rate_limited++;
    if (r->cfg->rate_action == RT_LIMIT_REFUSED) {
        rt_forward_reply_rcode(r, p, DNS_RCODE_REFUSED);
    } else {
        dns_listener_done(r->listener, &p->client);
    }
    return false;
}

void rt_forward_on_query(void *user, const struct dns_client *c, const uint8_t *msg, size_t len)
{
    struct router *r = user;
    struct rt_pending p;
    int rc, rule;

    r->stats.queries++;
    if (c->transport == DNS_TRANSPORT_TCP) {
        r->stats.tcp_queries++;
    }
    if (!rt_forward_acl_allows(r, &c->peer)) {
        r->stats.acl_drops++;
        dns_listener_done(r->listener, c);
        return;
    }
    rc = dns_msg_parse_query(msg, len, &p.q);
    if (rc != 0 || (p.q.hdr.flags & DNS_FLAG_QR)) {
        rt_forward_malformed(r, c, msg, len, rc != 0 ? rc : -EINVAL);
        return;
    }
    p.client = *c;
    p.generation = r->generation;
    p.attempt = 0;
    p.query_len = 0;
    p.cacheable = false;
    if (!rt_forward_within_rate(r, &p) || rt_forward_identity(r, c, &p.q)) {
        return;
    }

    rule = rt_rules_match(r->rules, &p.q);
    int pool = r->default_pool;
    if (rule >= 0) {
        const struct rt_rule_config *rc_rule = &r->cfg->rules[rule];
        r->rule_hits[rule]++;
        if (rc_rule->action == RT_ACTION_DROP) {
            r->stats.rule_drops++;
            dns_listener_done(r->listener, c);
            return;
        }
        if (rc_rule->action == RT_ACTION_RCODE) {
            r->stats.self_answered++;
            rt_forward_reply_rcode(r, &p, rc_rule->rcode);
            return;
        }
        pool = rc_rule->pool;
    }
    if (pool >= 0) {
        p.pool = (uint16_t)pool;
        r->pools[pool].queries++;
        if (rt_forward_from_cache(r, &p, msg, len) || rt_forward_try(r, &p, msg, len, -1) == 0) {
            return;
        }
        r->pools[pool].no_server++;
    }
    r->stats.no_server++;
    rt_forward_give_up(r, &p, r->cfg->servfail_no_server);
}
