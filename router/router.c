/* The router's lifecycle: backends and their health, pools and their packet caches, the
 * listener; reloads that keep the backends (and their queries in flight) whose address did not
 * change, and the caches of pools whose cache settings and backends did not change. */
#include "router.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rt_internal.h"

static bool router_settled(const struct router *r)
{
    for (size_t i = 0; i < r->n_backends; i++) {
        if (!rt_health_settled(r->backends[i].health)) {
            return false;
        }
    }
    return true;
}

/* Once every backend has its first verdict: the listener starts reading (queries that came
 * before wait in its sockets, as dnsdist checks its servers before it serves), and READY=1. */
static void router_check_ready(struct router *r)
{
    void (*cb)(void *) = r->ready_cb;

    if (!router_settled(r)) {
        return;
    }
    if (!r->serving && r->started) {
        int rc = dns_listener_resume(r->listener);
        r->serving = true;
        if (rc != 0) {
            log_err(RT_TAG, "cannot read the listening sockets: %s", strerror(-rc));
        }
    }
    if (cb == NULL) {
        return;
    }
    r->ready_cb = NULL;
    cb(r->ready_arg);
}

static void router_check_staged(struct router *r);

static void router_on_health(void *user, struct rt_health *h, bool up)
{
    (void)h;
    (void)up;
    router_check_staged(user);
    router_check_ready(user);
}

void router_when_ready(struct router *r, void (*cb)(void *arg), void *arg)
{
    r->ready_cb = cb;
    r->ready_arg = arg;
    router_check_ready(r);
}

static void router_build_pools(struct router *r, const struct rt_config *cfg)
{
    memset(r->pools, 0, sizeof(r->pools));
    r->n_pools = cfg->n_pools;
    r->default_pool = -1;
    for (size_t p = 0; p < cfg->n_pools; p++) {
        r->pools[p].policy = cfg->pools[p].policy_set ? cfg->pools[p].policy : cfg->policy;
        if (cfg->pools[p].name[0] == '\0') {
            r->default_pool = (int)p;
        }
    }
    for (size_t i = 0; i < cfg->n_backends; i++) {
        for (size_t k = 0; k < cfg->backends[i].n_pools; k++) {
            struct rt_pool_entry *pool = &r->pools[cfg->backends[i].pools[k]];
            pool->members[pool->n++] = (uint16_t)i;
        }
    }
}

static int router_make_ratelimit(struct router *r, const struct rt_config *cfg)
{
    rt_ratelimit_free(r->ratelimit);
    r->ratelimit = NULL;
    if (cfg->rate_qps == 0) {
        return 0;
    }
    if (r->opts.ratelimit != NULL) {
        return rt_ratelimit_share_get(r->opts.ratelimit, cfg->rate_qps, cfg->rate_burst,
                                      cfg->rate_table_size, &r->ratelimit);
    }
    return rt_ratelimit_new(cfg->rate_qps, cfg->rate_burst, cfg->rate_table_size, &r->ratelimit);
}

/* The old backend at the address (and socket count) of b that no new one has taken yet. */
static int router_find_reusable(const struct router *r, const struct rt_backend_config *b,
                                const bool *taken)
{
    for (size_t i = 0; i < r->n_backends; i++) {
        const struct rt_backend_config *old = rt_backend_config(r->backends[i].io);
        if (!taken[i] && addr_equal(&old->addr, &b->addr) && old->sockets == b->sockets) {
            return (int)i;
        }
    }
    return -1;
}

/* Opens backend i of cfg (socket and health checks) into entry e. */
static int router_open_backend(struct router *r, const struct rt_config *cfg, size_t i,
                               struct rt_backend_entry *e)
{
    const struct rt_backend_config *bc = &cfg->backends[i];
    char text[ADDR_TEXT_MAX];
    int rc;

    e->owner = r;
    rc = rt_backend_new(r->loop, bc, cfg->max_outstanding, cfg->timeout_ms, r->rx,
                        rt_forward_on_answer, rt_forward_on_timeout, r, &e->io);
    if (rc == 0) {
        struct rt_health_opts ho = {
            .log_changes = !r->opts.quiet,
            .board = r->opts.health,
            .follow = r->opts.index > 0,
        };
        rc = rt_health_new(r->loop, r->upstream, bc, &ho, router_on_health, r, &e->health);
        if (rc != 0) {
            rt_backend_close(e->io);
        }
    }
    if (rc != 0) {
        log_err(RT_TAG, "backend %s (%s): %s", bc->name, addr_format(&bc->addr, text, sizeof(text)),
                strerror(-rc));
    }
    return rc;
}

static bool router_in_pool(const struct rt_backend_config *b, size_t pool)
{
    for (size_t k = 0; k < b->n_pools; k++) {
        if (b->pools[k] == pool) {
            return true;
        }
    }
    return false;
}

/* True when pool a of ca and pool b of cb have their backends at the same addresses. */
static bool router_same_members(const struct rt_config *ca, size_t a, const struct rt_config *cb,
                                size_t b)
{
    size_t n_a = 0, n_b = 0;

    for (size_t i = 0; i < ca->n_backends; i++) {
        n_a += router_in_pool(&ca->backends[i], a);
    }
    for (size_t i = 0; i < cb->n_backends; i++) {
        bool found = false;
        if (!router_in_pool(&cb->backends[i], b)) {
            continue;
        }
        n_b++;
        for (size_t j = 0; j < ca->n_backends && !found; j++) {
            found = router_in_pool(&ca->backends[j], a) &&
                    addr_equal(&ca->backends[j].addr, &cb->backends[i].addr);
        }
        if (!found) {
            return false;
        }
    }
    return n_a == n_b;
}

/* Gives each pool of r->cfg that wants a cache its cache: the one its namesake had under `old`
 * when the cache settings and the addresses of the pool's backends are unchanged (what it
 * holds is still what those backends said), else a new, empty one. The old caches not taken
 * are freed. */
static void router_carry_caches(struct router *r, const struct rt_config *old,
                                struct rt_cache **old_caches, size_t n_old)
{
    const struct rt_config *cfg = r->cfg;

    for (size_t p = 0; p < cfg->n_pools; p++) {
        const struct rt_cache_config *want = &cfg->pools[p].cache;
        for (size_t o = 0; o < n_old && want->size > 0; o++) {
            if (old_caches[o] != NULL && strcmp(old->pools[o].name, cfg->pools[p].name) == 0 &&
                memcmp(rt_cache_settings(old_caches[o]), want, sizeof(*want)) == 0 &&
                router_same_members(old, o, cfg, p)) {
                r->pools[p].cache = old_caches[o];
                old_caches[o] = NULL;
                break;
            }
        }
        if (want->size > 0 && r->pools[p].cache == NULL) {
            int rc = rt_cache_new(want, &r->pools[p].cache);
            if (rc != 0) {
                log_warn(RT_TAG, "pool '%s' runs without its packet cache: %s", cfg->pools[p].name,
                         strerror(-rc));
            } else if (old != NULL && !r->opts.quiet) {
                log_info(RT_TAG, "pool '%s': new packet cache of %u entries", cfg->pools[p].name,
                         want->size);
            }
        }
    }
    for (size_t o = 0; o < n_old; o++) {
        rt_cache_free(old_caches[o]);
    }
}

/* Drops a staged configuration that never came into force. */
static void router_discard_staged(struct router *r)
{
    struct rt_staged *st = &r->staged;

    if (st->cfg == NULL) {
        return;
    }
    for (size_t i = 0; i < st->cfg->n_backends; i++) {
        if (st->reuse[i] < 0 && st->entries[i].io != NULL) {
            rt_health_free(st->entries[i].health);
            rt_backend_close(st->entries[i].io);
        }
    }
    rt_rules_free(st->rules);
    free(st->cfg);
    memset(st, 0, sizeof(*st));
}

/* Puts the staged configuration in force: its backends (old ones at the same address kept,
 * with their queries in flight and their health), rules, pools (with their caches, kept where
 * nothing about them changed) and limits. Old backends no longer configured retire once
 * their queries are done. */
static void router_commit(struct router *r)
{
    struct rt_staged *st = &r->staged;
    struct rt_backend_entry fresh[RT_MAX_BACKENDS] = {{0}};
    bool taken[RT_MAX_BACKENDS] = {false};
    struct rt_config *cfg = st->cfg, *old_cfg = r->cfg;
    struct rt_cache *old_caches[RT_MAX_POOLS] = {NULL};
    size_t n_old_pools = r->n_pools;

    for (size_t p = 0; p < n_old_pools; p++) {
        old_caches[p] = r->pools[p].cache;
    }
    for (size_t i = 0; i < cfg->n_backends; i++) {
        if (st->reuse[i] < 0) {
            fresh[i] = st->entries[i];
            continue;
        }
        fresh[i] = r->backends[st->reuse[i]];
        taken[st->reuse[i]] = true;
        rt_backend_update(fresh[i].io, &cfg->backends[i], cfg->timeout_ms);
        rt_health_update(fresh[i].health, &cfg->backends[i]);
    }
    for (size_t i = 0; i < r->n_backends; i++) {
        if (!taken[i]) {
            rt_health_free(r->backends[i].health);
            rt_backend_retire(r->backends[i].io);
        }
    }
    memcpy(r->backends, fresh, sizeof(fresh));
    r->n_backends = cfg->n_backends;
    if (r->cfg == NULL || cfg->rate_qps != r->cfg->rate_qps ||
        cfg->rate_burst != r->cfg->rate_burst || cfg->rate_table_size != r->cfg->rate_table_size) {
        router_make_ratelimit(r, cfg);
    }
    rt_rules_free(r->rules);
    r->rules = st->rules;
    r->cfg = cfg;
    memset(r->rule_hits, 0, sizeof(r->rule_hits));
    router_build_pools(r, cfg);
    router_carry_caches(r, old_cfg, old_caches, n_old_pools);
    free(old_cfg);
    r->generation++;
    memset(st, 0, sizeof(*st));
}

/* Commits the staged configuration once every backend it opened has its first verdict, so
 * that a reload never routes to a backend whose health is not known yet. */
static void router_check_staged(struct router *r)
{
    struct rt_staged *st = &r->staged;

    /* Modes up and down give their verdict while the backends are still being opened. */
    if (st->cfg == NULL || st->opening || st->held) {
        return;
    }
    for (size_t i = 0; i < st->cfg->n_backends; i++) {
        if (st->reuse[i] < 0 && !rt_health_settled(st->entries[i].health)) {
            return;
        }
    }
    router_commit(r);
    if (!r->opts.quiet) {
        log_info(RT_TAG, "new configuration in force: %zu backends, %zu rules", r->n_backends,
                 r->cfg->n_rules);
    }
}

/* Stages cfg and rules (taking both): opens the backends it adds and starts their checks.
 * Returns 0 or an error, after which nothing changed. */
static int router_stage(struct router *r, struct rt_config *cfg, struct rt_rules *rules)
{
    struct rt_staged *st = &r->staged;
    bool taken[RT_MAX_BACKENDS] = {false};
    int rc = 0;

    router_discard_staged(r);
    st->cfg = cfg;
    st->rules = rules;
    st->opening = true;
    for (size_t i = 0; i < cfg->n_backends; i++) {
        st->reuse[i] = router_find_reusable(r, &cfg->backends[i], taken);
        if (st->reuse[i] >= 0) {
            taken[st->reuse[i]] = true;
        } else if (rc == 0) {
            rc = router_open_backend(r, cfg, i, &st->entries[i]);
        }
    }
    st->opening = false;
    if (rc != 0) {
        router_discard_staged(r);
    }
    return rc;
}

/* A private copy of cfg with compiled rules, for router_stage. */
static int router_prepare(const struct rt_config *cfg, struct rt_config **out_cfg,
                          struct rt_rules **out_rules)
{
    struct rt_config *copy = malloc(sizeof(*copy));
    int rc;

    if (copy == NULL) {
        return -ENOMEM;
    }
    memcpy(copy, cfg, sizeof(*copy));
    rc = rt_rules_new(copy, out_rules);
    if (rc != 0) {
        free(copy);
        return rc;
    }
    *out_cfg = copy;
    return 0;
}

int router_new(uv_loop_t *loop, const struct rt_config *cfg, const struct router_options *opts,
               struct router **out)
{
    struct router *r = calloc(1, sizeof(*r));
    struct dns_listener_config lc = {
        .max_tcp_clients = cfg->tcp_clients,
        .tcp_idle_timeout_ms = cfg->tcp_idle_timeout_ms,
        .tcp_max_pending = cfg->tcp_max_pending,
        .reuseport = opts != NULL && opts->reuseport,
        .start_paused = true, /* until the first health checks: router_check_ready */
    };
    struct rt_config *copy = NULL;
    struct rt_rules *rules = NULL;
    int rc;

    if (r == NULL) {
        return -ENOMEM;
    }
    r->loop = loop;
    r->opts = opts != NULL ? *opts : (struct router_options){.n_routers = 1};
    r->rx = rt_backend_rx_new();
    rc = r->rx != NULL ? upstream_new(loop, RT_UPSTREAM_MAX_INFLIGHT, &r->upstream) : -ENOMEM;
    if (rc == 0) {
        rc = dns_listener_new(loop, &lc, rt_forward_on_query, r, &r->listener);
    }
    if (rc == 0) {
        rc = router_prepare(cfg, &copy, &rules);
    }
    if (rc == 0) {
        rc = router_stage(r, copy, rules);
    }
    if (rc != 0) {
        log_err(RT_TAG, "cannot set up: %s", strerror(-rc));
        return rc; /* a failed start ends the process: what was opened is not worth unwinding */
    }
    /* Nothing is served yet, so the first configuration need not wait for health checks:
     * READY=1 does (router_when_ready). */
    router_commit(r);
    *out = r;
    return 0;
}

int router_start(struct router *r)
{
    for (size_t i = 0; i < r->cfg->n_listen; i++) {
        int rc = dns_listener_bind(r->listener, &r->cfg->listen[i]);
        if (rc != 0) {
            return rc;
        }
    }
    r->started = true;
    router_check_ready(r);
    return 0;
}

int router_reload_stage(struct router *r, const struct rt_config *cfg)
{
    struct rt_config *next = NULL;
    struct rt_rules *rules = NULL;
    int rc = router_prepare(cfg, &next, &rules);

    if (rc != 0) {
        if (r->staged.held) {
            router_discard_staged(r); /* an older one, held, is no longer wanted either */
        }
        return rc;
    }
    /* Where we listen is fixed at start: the sockets may need privileges we dropped since. */
    memcpy(next->listen, r->cfg->listen, sizeof(next->listen));
    next->n_listen = r->cfg->n_listen;
    rc = router_stage(r, next, rules);
    if (rc == 0) {
        r->staged.held = true;
    }
    return rc;
}

void router_reload_release(struct router *r)
{
    r->staged.held = false;
    router_check_staged(r);
}

void router_reload_discard(struct router *r)
{
    router_discard_staged(r);
}

int router_reload(struct router *r, const struct rt_config *cfg)
{
    int rc = router_reload_stage(r, cfg);

    if (rc == 0) {
        router_reload_release(r);
    }
    return rc;
}

int router_local_addr(const struct router *r, size_t i, struct addr *out)
{
    return dns_listener_local_addr(r->listener, i, out);
}

void router_follow_health(struct router *r)
{
    for (size_t i = 0; i < r->n_backends; i++) {
        rt_health_follow(r->backends[i].health);
    }
    /* The last staged backend to settle puts the staged configuration in force, which
     * clears r->staged: hence the check on every turn. */
    for (size_t i = 0; r->staged.cfg != NULL && i < r->staged.cfg->n_backends; i++) {
        if (r->staged.reuse[i] < 0 && r->staged.entries[i].health != NULL) {
            rt_health_follow(r->staged.entries[i].health);
        }
    }
}

void router_log_stats(const struct router *r)
{
    struct rt_stats *s = malloc(sizeof(*s));

    if (s == NULL) {
        log_err(RT_TAG, "no memory for the counters");
        return;
    }
    rt_stats_take(r, s);
    rt_stats_log(s, RT_STATS_TAG);
    free(s);
}

void router_stats(const struct router *r, struct rt_stats *out)
{
    rt_stats_take(r, out);
}

static void router_on_listener_closed(void *arg)
{
    struct router *r = arg;
    void (*cb)(void *) = r->stop_cb;
    void *cb_arg = r->stop_arg;

    for (size_t p = 0; p < r->n_pools; p++) {
        rt_cache_free(r->pools[p].cache);
    }
    rt_backend_rx_free(r->rx);
    rt_rules_free(r->rules);
    rt_ratelimit_free(r->ratelimit);
    free(r->cfg);
    free(r);
    if (cb != NULL) {
        cb(cb_arg);
    }
}

void router_stop(struct router *r, void (*cb)(void *arg), void *arg)
{
    r->stopping = true;
    r->stop_cb = cb;
    r->stop_arg = arg;
    router_discard_staged(r);
    for (size_t i = 0; i < r->n_backends; i++) {
        rt_health_free(r->backends[i].health);
        rt_backend_close(r->backends[i].io);
    }
    r->n_backends = 0;
    upstream_free(r->upstream);
    r->upstream = NULL;
    dns_listener_close(r->listener, router_on_listener_closed, r);
}
