/* The pkdns server's life (see pkdns_server.h): caches, rate limiters, DHT node, upstream
 * client, listener and DNS over HTTP server made from the configuration; reloads; the stop that
 * closes them all. The query path is in pkdns_query.c, forwarding in pkdns_forward.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "random.h"
#include "pkdns_server_int.h"

/* The loop's clock, which the DHT node runs on. */
static uint64_t pkdns_server_clock_ms(void *user)
{
    const struct pkdns_server *s = user;

    return uv_now(s->loop);
}

static int pkdns_server_dht(struct pkdns_server *s)
{
    struct pkdns_lookup_config lc;
    struct dht_uv_config dc;
    char bind[32], bind6[ADDR_TEXT_MAX + 8], state[PK_CONFIG_PATH_MAX + 16];
    int rc;

    memset(&dc, 0, sizeof(dc));
    snprintf(bind, sizeof(bind), "0.0.0.0:%u", (unsigned)s->cfg.dht_port);
    dc.bind = bind;
    if (s->cfg.dht_ipv6_set) {
        char ip[ADDR_TEXT_MAX];
        snprintf(bind6, sizeof(bind6), "[%s]:%u", addr_format_ip(&s->cfg.dht_ipv6, ip, sizeof(ip)),
                 (unsigned)s->cfg.dht_port);
        dc.bind6 = bind6;
    }
    dc.bootstrap = s->cfg.bootstrap_set ? s->cfg.bootstrap : NULL;
    if (s->cfg.state_dir[0] != '\0') {
        snprintf(state, sizeof(state), "%s/dht.state", s->cfg.state_dir);
        dc.state_file = state;
    }
    dc.node.read_only = s->cfg.read_only;
    if (s->cfg.node_rate_limit > 0) {
        dc.node.query_rate_per_s = dc.node.query_burst = s->cfg.node_rate_limit;
        dc.node.send_rate_per_s = dc.node.send_burst = s->cfg.node_rate_limit;
    }
    rc = dht_uv_new(s->loop, &dc, &s->dht);
    if (rc < 0) {
        log_err(PKDNS_SERVER_TAG, "cannot start the DHT node on %s: %s", bind, strerror(-rc));
        return rc;
    }
    lc = (struct pkdns_lookup_config){
        .node = dht_uv_node(s->dht),
        .cache = s->pk,
        .clock_ms = pkdns_server_clock_ms,
        .clock_user = s,
        .max_queued = s->cfg.max_queued_lookups,
    };
    return pkdns_lookup_new(&lc, &s->lookups);
}

/* Refreshes popular keys whose packets are about to expire, before anyone asks again. */
static void pkdns_server_on_prefetch(uv_timer_t *t)
{
    struct pkdns_server *s = t->data;
    uint8_t keys[PKDNS_SERVER_PREFETCH_MAX][PK_PACKET_KEY_LEN];
    size_t n = pk_cache_prefetch(s->pk, pkdns_lookup_wall_ms(), keys, PKDNS_SERVER_PREFETCH_MAX);

    for (size_t i = 0; i < n; i++) {
        pkdns_lookup_key(s->lookups, keys[i], NULL, uv_now(s->loop));
    }
}

/* The packet cache's settings from the configuration. */
static void pkdns_server_pk_cache_config(const struct pk_config *cfg, struct pk_cache_config *pc)
{
    *pc = (struct pk_cache_config){
        .max_bytes = (size_t)cfg->dht_cache_mb * 1024u * 1024u,
        .min_ttl_s = cfg->min_ttl,
        .max_ttl_s = cfg->max_ttl,
        .negative_ttl_s = cfg->min_ttl,
        .max_stale_s = PK_CACHE_MAX_STALE_S,
        .refresh_retry_s = PK_CACHE_REFRESH_RETRY_S,
        .prefetch_hits = PK_CACHE_PREFETCH_HITS,
        .prefetch_pct = PK_CACHE_PREFETCH_PCT,
    };
    if (pc->max_bytes < PK_CACHE_MIN_BYTES) {
        pc->max_bytes = PK_CACHE_MIN_BYTES;
    }
}

static int pkdns_server_caches(struct pkdns_server *s)
{
    struct pk_cache_config pc;
    int rc;

    pkdns_server_pk_cache_config(&s->cfg, &pc);
    rc = pk_cache_new(&pc, &s->pk);
    if (rc == 0) {
        rc = pkdns_forward_cache_new(&s->cfg, &s->icann);
    }
    if (rc < 0) {
        log_err(PKDNS_SERVER_TAG, "cannot create the caches: %s", strerror(-rc));
    }
    return rc;
}

/* A key with an entry in the packet cache passed the curve check when it was first asked for:
 * asking again spares it (it costs as much as a signature check). */
static bool pkdns_server_key_known(void *user, const uint8_t key[PKARR_KEY_LEN])
{
    const struct pkdns_server *s = user;

    return s->pk != NULL && pk_cache_holds(s->pk, key);
}

static void pkdns_server_answer_config(struct pkdns_server *s)
{
    s->known.vouch = pkdns_server_key_known;
    s->known.user = s;
    s->acfg.known = &s->known;
    s->acfg.min_ttl = s->cfg.min_ttl;
    s->acfg.max_ttl = s->cfg.max_ttl;
    s->acfg.max_recursion_depth = s->cfg.max_recursion_depth;
    s->acfg.disable_any_queries = s->cfg.disable_any_queries;
    s->acfg.tld = s->cfg.tld_len > 0 ? s->cfg.tld : NULL;
    s->acfg.tld_len = s->cfg.tld_len;
}

/* (Re)creates a limiter of rate per second and burst; rate 0: none. */
static int pkdns_server_limit(struct dht_limit **l, uint32_t rate, uint32_t burst)
{
    uint8_t key[DHT_LIMIT_KEY_LEN];

    dht_limit_free(*l);
    *l = NULL;
    if (rate == 0) {
        return 0;
    }
    random_bytes(key, sizeof(key));
    return dht_limit_new(rate, burst > 0 ? burst : rate, PKDNS_SERVER_LIMIT_SLOTS, key, l);
}

static int pkdns_server_limits(struct pkdns_server *s)
{
    int rc =
        pkdns_server_limit(&s->query_limit, s->cfg.query_rate_limit, s->cfg.query_rate_limit_burst);

    if (rc == 0) {
        rc = pkdns_server_limit(&s->dht_limit, s->cfg.dht_query_rate_limit,
                                s->cfg.dht_query_rate_limit_burst);
    }
    if (rc < 0) {
        log_err(PKDNS_SERVER_TAG, "cannot create the rate limiters: %s", strerror(-rc));
    }
    return rc;
}

static void pkdns_server_free(struct pkdns_server *s)
{
    dht_limit_free(s->query_limit);
    dht_limit_free(s->dht_limit);
    pkdns_lookup_free(s->lookups);
    upstream_free(s->up);
    dns_cache_free(s->icann);
    pk_cache_free(s->pk);
    free(s);
}

int pkdns_server_new(uv_loop_t *loop, const struct pk_config *cfg, struct pkdns_server **out)
{
    struct pkdns_server *s = calloc(1, sizeof(*s));
    int rc;

    if (s == NULL) {
        return -ENOMEM;
    }
    s->loop = loop;
    s->cfg = *cfg;
    pkdns_server_answer_config(s);
    rc = pkdns_server_caches(s);
    if (rc == 0) {
        rc = pkdns_server_limits(s);
    }
    if (rc == 0) {
        rc = upstream_new(loop, 0, &s->up);
    }
    if (rc == 0) {
        rc = dns_listener_new(loop, NULL, pkdns_query_received, s, &s->listener);
    }
    if (rc == 0) {
        rc = pkdns_server_dht(s);
    }
    if (rc == 0 && s->cfg.doh_enabled) {
        rc = pkdns_doh_new(loop, pkdns_query_received, s, &s->doh);
    }
    if (rc < 0) {
        if (s->listener != NULL) {
            dns_listener_close(s->listener, NULL, NULL);
        }
        if (s->dht != NULL) {
            dht_uv_close(s->dht, NULL, NULL);
        }
        pkdns_server_free(s);
        return rc;
    }
    uv_timer_init(loop, &s->prefetch);
    s->prefetch.data = s;
    uv_timer_start(&s->prefetch, pkdns_server_on_prefetch, PKDNS_SERVER_PREFETCH_MS,
                   PKDNS_SERVER_PREFETCH_MS);
    *out = s;
    return 0;
}

int pkdns_server_start(struct pkdns_server *s)
{
    int rc = dns_listener_bind(s->listener, &s->cfg.socket);

    if (rc == 0 && s->doh != NULL) {
        rc = pkdns_doh_bind(s->doh, &s->cfg.dns_over_http_socket);
    }
    return rc;
}

int pkdns_server_local_addr(const struct pkdns_server *s, struct addr *out)
{
    return dns_listener_local_addr(s->listener, 0, out);
}

/* Applies new cache settings: the packet cache keeps its entries (the least recently used go
 * when it shrinks); the ICANN cache, which cannot be resized, starts afresh at its new size. */
static void pkdns_server_reload_caches(struct pkdns_server *s, const struct pk_config *cfg)
{
    struct pk_cache_config pc;
    struct dns_cache *icann;
    int rc;

    pkdns_server_pk_cache_config(cfg, &pc);
    rc = pk_cache_configure(s->pk, &pc);
    if (rc < 0) {
        log_warn(PKDNS_SERVER_TAG, "packet cache keeps its old settings: %s", strerror(-rc));
    } else if (cfg->dht_cache_mb != s->cfg.dht_cache_mb) {
        log_info(PKDNS_SERVER_TAG, "packet cache now %u MiB", cfg->dht_cache_mb);
    }
    s->cfg.dht_cache_mb = cfg->dht_cache_mb;
    if (cfg->icann_cache_mb == s->cfg.icann_cache_mb) {
        return;
    }
    rc = pkdns_forward_cache_new(cfg, &icann);
    if (rc < 0) {
        log_warn(PKDNS_SERVER_TAG, "ICANN cache keeps %u MiB: %s", s->cfg.icann_cache_mb,
                 strerror(-rc));
        return;
    }
    dns_cache_free(s->icann);
    s->icann = icann;
    s->cfg.icann_cache_mb = cfg->icann_cache_mb;
    log_info(PKDNS_SERVER_TAG, "ICANN cache now %u MiB, started empty", cfg->icann_cache_mb);
}

void pkdns_server_reload(struct pkdns_server *s, const struct pk_config *cfg)
{
    char restart[160];
    bool limits = s->cfg.query_rate_limit != cfg->query_rate_limit ||
                  s->cfg.query_rate_limit_burst != cfg->query_rate_limit_burst ||
                  s->cfg.dht_query_rate_limit != cfg->dht_query_rate_limit ||
                  s->cfg.dht_query_rate_limit_burst != cfg->dht_query_rate_limit_burst;

    s->cfg.forward = cfg->forward;
    s->cfg.verbose = cfg->verbose;
    memcpy(s->cfg.acl, cfg->acl, sizeof(s->cfg.acl));
    s->cfg.n_acl = cfg->n_acl;
    s->cfg.rate_limit_loopback = cfg->rate_limit_loopback;
    s->cfg.min_ttl = cfg->min_ttl;
    s->cfg.max_ttl = cfg->max_ttl;
    s->cfg.query_rate_limit = cfg->query_rate_limit;
    s->cfg.query_rate_limit_burst = cfg->query_rate_limit_burst;
    s->cfg.disable_any_queries = cfg->disable_any_queries;
    s->cfg.max_recursion_depth = cfg->max_recursion_depth;
    s->cfg.answer_timeout_ms = cfg->answer_timeout_ms;
    s->cfg.max_waiting_queries = cfg->max_waiting_queries;
    s->cfg.max_queued_lookups = cfg->max_queued_lookups;
    pkdns_lookup_set_max_queued(s->lookups, cfg->max_queued_lookups);
    s->cfg.dht_query_rate_limit = cfg->dht_query_rate_limit;
    s->cfg.dht_query_rate_limit_burst = cfg->dht_query_rate_limit_burst;
    memcpy(s->cfg.top_level_domain, cfg->top_level_domain, sizeof(s->cfg.top_level_domain));
    memcpy(s->cfg.tld, cfg->tld, sizeof(s->cfg.tld));
    s->cfg.tld_len = cfg->tld_len;
    pkdns_server_answer_config(s);
    if (limits) {
        pkdns_server_limits(s);
    }
    pkdns_server_reload_caches(s, cfg);
    if (pk_config_restart_keys(&s->cfg, cfg, restart, sizeof(restart)) > 0) {
        log_warn(PKDNS_SERVER_TAG, "changed, but applied only after a restart: %s", restart);
    }
}

void pkdns_server_stats(const struct pkdns_server *s, struct pkdns_server_stats *out)
{
    struct pkdns_lookup_stats ls = {0};

    *out = s->stats;
    if (s->lookups != NULL) {
        pkdns_lookup_stats(s->lookups, &ls);
    }
    out->lookups_started = ls.started;
    out->lookups_joined = ls.joined;
    out->lookups_found = ls.found;
    out->lookups_not_found = ls.not_found;
    out->lookups_failed = ls.failed;
    out->lookups_refused = ls.refused;
    out->lookups_dropped = ls.dropped;
    if (s->doh != NULL) {
        struct pkdns_doh_stats ds;

        pkdns_doh_stats(s->doh, &ds);
        out->doh_enabled = true;
        out->doh_connections = ds.connections;
        out->doh_rejected = ds.rejected;
        out->doh_requests = ds.requests;
        out->doh_2xx = ds.responses_2xx;
        out->doh_4xx = ds.responses_4xx;
        out->doh_5xx = ds.responses_5xx;
    }
}

static void pkdns_server_on_closed(void *user)
{
    struct pkdns_server *s = user;
    void (*done)(void *) = s->done;
    void *done_user = s->done_user;

    if (--s->closing > 0) {
        return;
    }
    pkdns_server_free(s);
    if (done != NULL) {
        done(done_user);
    }
}

static void pkdns_server_on_prefetch_closed(uv_handle_t *h)
{
    pkdns_server_on_closed(h->data);
}

void pkdns_server_stop(struct pkdns_server *s, void (*done)(void *user), void *user)
{
    while (s->queries != NULL) {
        pkdns_query_drop(s->queries);
    }
    s->done = done;
    s->done_user = user;
    s->closing = s->doh != NULL ? 4 : 3;
    pkdns_lookup_free(s->lookups);
    s->lookups = NULL;
    upstream_free(s->up);
    s->up = NULL;
    uv_close((uv_handle_t *)&s->prefetch, pkdns_server_on_prefetch_closed);
    dht_uv_close(s->dht, pkdns_server_on_closed, s);
    dns_listener_close(s->listener, pkdns_server_on_closed, s);
    if (s->doh != NULL) {
        pkdns_doh_close(s->doh, pkdns_server_on_closed, s);
        s->doh = NULL;
    }
}
