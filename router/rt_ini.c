#include "rt_ini.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns_name.h"
#include "rt_ini_text.h"
#include "rt_names.h"

/* Where the reader is: the section being filled, so that keys land in the right object. */
struct rt_ini_state {
    struct rt_config *cfg;
    int kind; /* RT_INI_* */
    int index;
    bool acl_replaced; /* the first `acl` line drops dnsdist's defaults */
    bool listen_seen;
    bool rule_has_action[RT_MAX_RULES];
    char pending_key[16]; /* a key whose quoted value goes on in the next line ("": none) */
    int pending_line;     /* where that value started */
    size_t pending_len;
    char pending[RT_INI_VALUE_MAX];
};

enum { RT_INI_NONE, RT_INI_ROUTER, RT_INI_POOL, RT_INI_BACKEND, RT_INI_RULE, RT_INI_BAD };

/* What went wrong with a quoted value (rt_ini_text.h). */
static const char *rt_ini_text_error(int rc)
{
    switch (rc) {
    case -EAGAIN:
        return "a quoted value is not closed";
    case -ENOSPC:
        return "the value is too long";
    default:
        return "bad quoting (a quoted value ends at its closing quote; escapes are \\\\, \\\" and "
               "\\xHH)";
    }
}

/* A list value into items (decoded into buf), at most max: the caller passes one more than
 * it takes, to tell too many. Returns the count, or -EINVAL after reporting. */
static int rt_ini_split(struct conf_ctx *ctx, const char *key, const char *value, char *buf,
                        size_t cap, char **items, size_t max)
{
    int n = rt_ini_list_decode(value, buf, cap, items, max);

    if (n == -E2BIG) {
        return (int)max;
    }
    if (n < 0) {
        conf_error(ctx, "%s: %s", key, rt_ini_text_error(n));
        return -EINVAL;
    }
    return n;
}

/* A single text value, quoted or bare, decoded into out. Returns 0 or -EINVAL after
 * reporting. */
static int rt_ini_text(struct conf_ctx *ctx, const char *key, const char *value, char *out,
                       size_t cap)
{
    int rc = rt_ini_text_decode(value, out, cap);

    if (rc != 0) {
        conf_error(ctx, "%s: %s", key, rt_ini_text_error(rc));
        return -EINVAL;
    }
    return 0;
}

static int rt_ini_uint(struct conf_ctx *ctx, const char *key, const char *value, uint64_t min,
                       uint64_t max, uint32_t *out)
{
    uint64_t v;

    if (conf_parse_uint(value, min, max, &v) != 0) {
        conf_error(ctx, "%s: '%s' is not a number from %llu to %llu", key, value,
                   (unsigned long long)min, (unsigned long long)max);
        return -EINVAL;
    }
    *out = (uint32_t)v;
    return 0;
}

static int rt_ini_bool(struct conf_ctx *ctx, const char *key, const char *value, bool *out)
{
    if (conf_parse_bool(value, out) != 0) {
        conf_error(ctx, "%s: '%s' is not yes or no", key, value);
        return -EINVAL;
    }
    return 0;
}

/* servfail or drop: what to do with a query that cannot be answered. */
static int rt_ini_fail_action(struct conf_ctx *ctx, const char *key, const char *value, bool *out)
{
    if (strcasecmp(value, "servfail") == 0) {
        *out = true;
    } else if (strcasecmp(value, "drop") == 0) {
        *out = false;
    } else {
        conf_error(ctx, "%s: '%s' is neither servfail nor drop", key, value);
        return -EINVAL;
    }
    return 0;
}

static int rt_ini_addresses(struct rt_ini_state *st, struct conf_ctx *ctx, const char *value)
{
    struct rt_config *cfg = st->cfg;
    char buf[CONF_LINE_MAX], *items[RT_MAX_LISTEN + 1];
    int n = rt_ini_split(ctx, "listen", value, buf, sizeof(buf), items, RT_MAX_LISTEN + 1);

    if (n < 0) {
        return -EINVAL;
    }
    if (!st->listen_seen) {
        cfg->n_listen = 0;
        st->listen_seen = true;
    }
    for (int i = 0; i < n; i++) {
        if (cfg->n_listen == RT_MAX_LISTEN) {
            conf_error(ctx, "more than %d listen addresses", RT_MAX_LISTEN);
            return -EINVAL;
        }
        if (addr_parse(items[i], RT_DEFAULT_PORT, &cfg->listen[cfg->n_listen]) != 0) {
            conf_error(ctx, "listen: '%s' is not an address (IP or IP:PORT)", items[i]);
            return -EINVAL;
        }
        cfg->n_listen++;
    }
    return 0;
}

static int rt_ini_acl(struct rt_ini_state *st, struct conf_ctx *ctx, const char *value)
{
    struct rt_config *cfg = st->cfg;
    char buf[CONF_LINE_MAX], *items[RT_MAX_ACL + 1];
    int n = rt_ini_split(ctx, "acl", value, buf, sizeof(buf), items, RT_MAX_ACL + 1);

    if (n < 0) {
        return -EINVAL;
    }
    if (!st->acl_replaced) {
        cfg->n_acl = 0;
        st->acl_replaced = true;
    }
    for (int i = 0; i < n; i++) {
        if (cfg->n_acl == RT_MAX_ACL) {
            conf_error(ctx, "more than %d ACL entries", RT_MAX_ACL);
            return -EINVAL;
        }
        if (addr_prefix_parse(items[i], &cfg->acl[cfg->n_acl]) != 0) {
            conf_error(ctx, "acl: '%s' is not an address or prefix", items[i]);
            return -EINVAL;
        }
        cfg->n_acl++;
    }
    return 0;
}

static int rt_ini_router_key(struct rt_ini_state *st, struct conf_ctx *ctx, const char *key,
                             const char *value)
{
    struct rt_config *c = st->cfg;

    if (strcmp(key, "listen") == 0) {
        return rt_ini_addresses(st, ctx, value);
    }
    if (strcmp(key, "acl") == 0) {
        return rt_ini_acl(st, ctx, value);
    }
    if (strcmp(key, "policy") == 0) {
        if (rt_config_parse_policy(value, &c->policy) != 0) {
            conf_error(ctx,
                       "policy: '%s' is not leastOutstanding, firstAvailable, roundrobin "
                       "or wrandom",
                       value);
            return -EINVAL;
        }
        return 0;
    }
    static const struct {
        const char *key;
        uint32_t min, max;
        size_t offset;
    } numbers[] = {
        {"timeout_ms", 1, 600000, offsetof(struct rt_config, timeout_ms)},
        {"max_outstanding", 1, 65536, offsetof(struct rt_config, max_outstanding)},
        {"rate_limit_qps", 0, 1000000000, offsetof(struct rt_config, rate_qps)},
        {"rate_limit_burst", 0, 1000000000, offsetof(struct rt_config, rate_burst)},
        {"rate_limit_table", 1, 16777216, offsetof(struct rt_config, rate_table_size)},
        {"tcp_clients", 1, 65536, offsetof(struct rt_config, tcp_clients)},
        {"tcp_idle_timeout_ms", 1, 3600000, offsetof(struct rt_config, tcp_idle_timeout_ms)},
        {"tcp_max_pending", 1, 65536, offsetof(struct rt_config, tcp_max_pending)},
        {"threads", 1, RT_MAX_THREADS, offsetof(struct rt_config, threads)},
    };
    for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
        if (strcmp(key, numbers[i].key) == 0) {
            return rt_ini_uint(ctx, key, value, numbers[i].min, numbers[i].max,
                               (uint32_t *)((char *)c + numbers[i].offset));
        }
    }
    if (strcmp(key, "retry") == 0) {
        return rt_ini_bool(ctx, key, value, &c->retry);
    }
    if (strcmp(key, "on_timeout") == 0) {
        return rt_ini_fail_action(ctx, key, value, &c->servfail_timeout);
    }
    if (strcmp(key, "on_no_server") == 0) {
        return rt_ini_fail_action(ctx, key, value, &c->servfail_no_server);
    }
    if (strcmp(key, "rate_limit_action") == 0) {
        bool refused = strcasecmp(value, "refused") == 0;
        if (!refused && strcasecmp(value, "drop") != 0) {
            conf_error(ctx, "rate_limit_action: '%s' is neither drop nor refused", value);
            return -EINVAL;
        }
        c->rate_action = refused ? RT_LIMIT_REFUSED : RT_LIMIT_DROP;
        return 0;
    }
    conf_error(ctx, "unknown key '%s' in [router]", key);
    return -EINVAL;
}

static int rt_ini_pool_key(struct rt_ini_state *st, struct conf_ctx *ctx, const char *key,
                           const char *value)
{
    struct rt_pool_config *p = &st->cfg->pools[st->index];
    static const struct {
        const char *key;
        uint32_t max;
        size_t offset;
    } cache_numbers[] = {
        {"cache_size", RT_CACHE_MAX_ENTRIES, offsetof(struct rt_cache_config, size)},
        {"cache_max_ttl", RT_CACHE_TTL_MAX, offsetof(struct rt_cache_config, max_ttl)},
        {"cache_min_ttl", RT_CACHE_TTL_MAX, offsetof(struct rt_cache_config, min_ttl)},
        {"cache_temp_failure_ttl", RT_CACHE_TTL_MAX,
         offsetof(struct rt_cache_config, temp_failure_ttl)},
        {"cache_max_negative_ttl", RT_CACHE_TTL_MAX,
         offsetof(struct rt_cache_config, max_negative_ttl)},
    };

    for (size_t i = 0; i < sizeof(cache_numbers) / sizeof(cache_numbers[0]); i++) {
        if (strcmp(key, cache_numbers[i].key) == 0) {
            return rt_ini_uint(ctx, key, value, 0, cache_numbers[i].max,
                               (uint32_t *)((char *)&p->cache + cache_numbers[i].offset));
        }
    }
    if (strcmp(key, "policy") != 0) {
        conf_error(ctx, "unknown key '%s' in [pool]", key);
        return -EINVAL;
    }
    if (rt_config_parse_policy(value, &p->policy) != 0) {
        conf_error(ctx, "policy: '%s' is not a server policy", value);
        return -EINVAL;
    }
    p->policy_set = true;
    return 0;
}

/* `pool = a b`: the backend joins each pool named (`""` is the default pool); a second pool
 * line adds to the first. */
static int rt_ini_backend_pools(struct rt_ini_state *st, struct conf_ctx *ctx,
                                struct rt_backend_config *b, const char *value)
{
    char buf[CONF_LINE_MAX], *items[RT_MAX_BACKEND_POOLS + 1];
    int n = rt_ini_split(ctx, "pool", value, buf, sizeof(buf), items, RT_MAX_BACKEND_POOLS + 1);

    for (int i = 0; i < n; i++) {
        int idx = rt_config_pool(st->cfg, ctx, items[i]);
        bool member = false;
        if (idx < 0) {
            return -EINVAL;
        }
        for (size_t k = 0; k < b->n_pools; k++) {
            member = member || b->pools[k] == idx;
        }
        if (!member && b->n_pools == RT_MAX_BACKEND_POOLS) {
            conf_error(ctx, "a backend may be in at most %d pools", RT_MAX_BACKEND_POOLS);
            return -EINVAL;
        }
        if (!member) {
            b->pools[b->n_pools++] = (uint16_t)idx;
        }
    }
    return n < 0 ? -EINVAL : 0;
}

static int rt_ini_check_key(struct conf_ctx *ctx, struct rt_backend_config *b, const char *key,
                            const char *value)
{
    char name[DNS_NAME_TEXT_MAX];
    uint16_t v;

    if (strcmp(key, "check_name") == 0) {
        if (rt_ini_text(ctx, key, value, name, sizeof(name)) != 0) {
            return -EINVAL;
        }
        if (dns_name_from_text(name, b->check_name, &b->check_name_len) != 0) {
            conf_error(ctx, "check_name: '%s' is not a domain name", name);
            return -EINVAL;
        }
        return 0;
    }
    if (strcmp(key, "check_type") == 0) {
        if (rt_names_parse_qtype(value, &b->check_type) != 0) {
            conf_error(ctx, "check_type: '%s' is not a query type", value);
            return -EINVAL;
        }
        return 0;
    }
    v = strcasecmp(value, "IN") == 0   ? DNS_CLASS_IN
        : strcasecmp(value, "CH") == 0 ? DNS_CLASS_CH
                                       : 0;
    if (v != 0) {
        b->check_class = v;
        return 0;
    }
    uint32_t number;
    if (rt_ini_uint(ctx, key, value, 1, 65535, &number) != 0) {
        return -EINVAL;
    }
    b->check_class = (uint16_t)number;
    return 0;
}

/* `name = TEXT`: the object's name, for one its section header cannot spell (a `]` in it,
 * say, as in the default name of a backend at [::1]:53). */
static int rt_ini_name(struct conf_ctx *ctx, const char *value, char name[RT_NAME_MAX])
{
    char text[RT_NAME_MAX + 1];

    if (rt_ini_text(ctx, "name", value, text, sizeof(text)) != 0) {
        return -EINVAL;
    }
    if (text[0] == '\0' || strlen(text) >= RT_NAME_MAX) {
        conf_error(ctx, "name: must have 1 to %d characters", RT_NAME_MAX - 1);
        return -EINVAL;
    }
    memcpy(name, text, strlen(text) + 1);
    return 0;
}

/* lazy_mode (timeout-only or timeout-or-servfail) and lazy_backoff (yes or no). */
static int rt_ini_lazy_key(struct conf_ctx *ctx, struct rt_lazy_config *lazy, const char *key,
                           const char *value)
{
    if (strcmp(key, "lazy_backoff") == 0) {
        return rt_ini_bool(ctx, key, value, &lazy->backoff);
    }
    if (strcasecmp(value, "timeout-only") == 0) {
        lazy->servfail_fails = false;
    } else if (strcasecmp(value, "timeout-or-servfail") == 0) {
        lazy->servfail_fails = true;
    } else {
        conf_error(ctx, "lazy_mode: '%s' is neither timeout-only nor timeout-or-servfail", value);
        return -EINVAL;
    }
    return 0;
}

static int rt_ini_backend_key(struct rt_ini_state *st, struct conf_ctx *ctx, const char *key,
                              const char *value)
{
    struct rt_backend_config *b = &st->cfg->backends[st->index];
    uint32_t v;

    if (strcmp(key, "address") == 0) {
        if (addr_parse(value, RT_DEFAULT_PORT, &b->addr) != 0) {
            conf_error(ctx, "address: '%s' is not an address (IP or IP:PORT)", value);
            return -EINVAL;
        }
        return 0;
    }
    if (strcmp(key, "pool") == 0) {
        return rt_ini_backend_pools(st, ctx, b, value);
    }
    if (strcmp(key, "name") == 0) {
        return rt_ini_name(ctx, value, b->name);
    }
    if (strcmp(key, "health_check") == 0) {
        if (rt_config_parse_health(value, &b->health) != 0) {
            conf_error(ctx, "health_check: '%s' is not auto, up, down or lazy", value);
            return -EINVAL;
        }
        return 0;
    }
    if (strcmp(key, "check_name") == 0 || strcmp(key, "check_type") == 0 ||
        strcmp(key, "check_class") == 0) {
        return rt_ini_check_key(ctx, b, key, value);
    }
    if (strcmp(key, "tcp_only") == 0) {
        return rt_ini_bool(ctx, key, value, &b->tcp_only);
    }
    if (strcmp(key, "lazy_mode") == 0 || strcmp(key, "lazy_backoff") == 0) {
        return rt_ini_lazy_key(ctx, &b->lazy, key, value);
    }
    static const struct {
        const char *key;
        uint32_t min, max;
        size_t offset;
    } numbers[] = {
        {"check_interval_ms", 1, 86400000, offsetof(struct rt_backend_config, check_interval_ms)},
        {"check_timeout_ms", 1, 600000, offsetof(struct rt_backend_config, check_timeout_ms)},
        {"max_check_failures", 1, 1000, offsetof(struct rt_backend_config, max_check_failures)},
        {"rise", 1, 1000, offsetof(struct rt_backend_config, rise)},
        {"weight", 1, 1000000, offsetof(struct rt_backend_config, weight)},
        {"sockets", 1, RT_MAX_SOCKETS, offsetof(struct rt_backend_config, sockets)},
        {"lazy_sample_size", 1, RT_LAZY_MAX_SAMPLES,
         offsetof(struct rt_backend_config, lazy.sample_size)},
        {"lazy_min_samples", 1, RT_LAZY_MAX_SAMPLES,
         offsetof(struct rt_backend_config, lazy.min_samples)},
        {"lazy_threshold", 1, 100, offsetof(struct rt_backend_config, lazy.threshold)},
        {"lazy_failed_interval_ms", 1, RT_LAZY_MAX_INTERVAL_MS,
         offsetof(struct rt_backend_config, lazy.failed_interval_ms)},
        {"lazy_max_backoff_ms", 1, RT_LAZY_MAX_INTERVAL_MS,
         offsetof(struct rt_backend_config, lazy.max_backoff_ms)},
    };
    for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
        if (strcmp(key, numbers[i].key) == 0) {
            return rt_ini_uint(ctx, key, value, numbers[i].min, numbers[i].max,
                               (uint32_t *)((char *)b + numbers[i].offset));
        }
    }
    if (strcmp(key, "order") == 0) {
        if (rt_ini_uint(ctx, key, value, 0, INT32_MAX, &v) != 0) {
            return -EINVAL;
        }
        b->order = (int32_t)v;
        return 0;
    }
    conf_error(ctx, "unknown key '%s' in [backend]", key);
    return -EINVAL;
}

/* "qtype A AAAA" */
static int rt_ini_match_qtypes(struct conf_ctx *ctx, struct rt_match_config *m, const char *list)
{
    char buf[CONF_LINE_MAX], *items[RT_MAX_QTYPES + 1];
    int n = rt_ini_split(ctx, "match qtype", list, buf, sizeof(buf), items, RT_MAX_QTYPES + 1);

    if (n < 0) {
        return -EINVAL;
    }
    if (n == 0 || n > RT_MAX_QTYPES) {
        conf_error(ctx, "match qtype needs 1 to %d types", RT_MAX_QTYPES);
        return -EINVAL;
    }
    for (int i = 0; i < n; i++) {
        if (rt_names_parse_qtype(items[i], &m->qtypes[i]) != 0) {
            conf_error(ctx, "match qtype: '%s' is not a query type", items[i]);
            return -EINVAL;
        }
    }
    m->n_qtypes = (uint8_t)n;
    return 0;
}

/* Where the text of a `match` value starts: after its kind word and the white space. */
static const char *rt_ini_match_text(const char *value)
{
    size_t wlen = strcspn(value, " \t");

    return value + wlen + strspn(value + wlen, " \t");
}

/* The kind a `match` value names, with the text that goes with it (decoded into text);
 * false after reporting when the two do not go together. */
static bool rt_ini_match_kind(struct conf_ctx *ctx, const char *value, struct rt_match_config *m,
                              char *text, size_t cap)
{
    const char *rest = rt_ini_match_text(value);
    size_t wlen = strcspn(value, " \t");
    bool has_rest = rest[0] != '\0';

    text[0] = '\0';
    if (wlen == 3 && strncmp(value, "all", 3) == 0 && !has_rest) {
        m->kind = RT_MATCH_ALL;
    } else if (wlen == 5 && strncmp(value, "pkarr", 5) == 0) {
        m->kind = RT_MATCH_PKARR;
    } else if (wlen == 5 && strncmp(value, "regex", 5) == 0 && has_rest) {
        m->kind = RT_MATCH_REGEX;
    } else if (wlen == 6 && strncmp(value, "suffix", 6) == 0 && has_rest) {
        m->kind = RT_MATCH_SUFFIX;
    } else if (wlen == 5 && strncmp(value, "qtype", 5) == 0) {
        m->kind = RT_MATCH_QTYPE;
        return rt_ini_match_qtypes(ctx, m, rest) == 0;
    } else {
        conf_error(ctx,
                   "match: '%s' is not all, pkarr [TLD], regex EXPR, suffix NAMES or "
                   "qtype TYPES",
                   value);
        return false;
    }
    return rt_ini_text(ctx, "match", rest, text, cap) == 0;
}

static int rt_ini_match(struct rt_config *cfg, struct conf_ctx *ctx, struct rt_rule_config *r,
                        const char *value)
{
    char text[RT_INI_VALUE_MAX];
    struct rt_match_config *m;

    if (r->n_match == RT_MAX_MATCHES) {
        conf_error(ctx, "a rule may have at most %d match lines", RT_MAX_MATCHES);
        return -EINVAL;
    }
    m = &r->match[r->n_match];
    memset(m, 0, sizeof(*m));
    m->line = ctx->line;
    if (!rt_ini_match_kind(ctx, value, m, text, sizeof(text))) {
        return -EINVAL;
    }
    if (m->kind != RT_MATCH_QTYPE) {
        m->text = rt_config_keep(cfg, ctx, text);
    }
    r->n_match++;
    return 0;
}

static int rt_ini_action(struct rt_config *cfg, struct conf_ctx *ctx, struct rt_rule_config *r,
                         const char *value)
{
    if (strcmp(value, "drop") == 0) {
        r->action = RT_ACTION_DROP;
        return 0;
    }
    if (strncmp(value, "rcode ", 6) == 0) {
        r->action = RT_ACTION_RCODE;
        if (rt_names_parse_rcode(value + 6, &r->rcode) != 0) {
            conf_error(ctx, "action: '%s' is not an rcode", value + 6);
            return -EINVAL;
        }
        return 0;
    }
    if (strcmp(value, "pool") == 0 || strncmp(value, "pool ", 5) == 0) {
        int idx = rt_config_pool(cfg, ctx, value[4] != '\0' ? value + 5 : "");
        if (idx < 0) {
            return -EINVAL;
        }
        r->action = RT_ACTION_POOL;
        r->pool = (uint16_t)idx;
        return 0;
    }
    conf_error(ctx, "action: '%s' is not pool [NAME], drop or rcode RCODE", value);
    return -EINVAL;
}

/* A quoted value left open ends the file or its section, or a line with another key comes:
 * reported at the line where it started, and dropped. */
static void rt_ini_drop_pending(struct rt_ini_state *st, struct conf_ctx *ctx)
{
    int line = ctx->line;

    if (st->pending_key[0] == '\0') {
        return;
    }
    ctx->line = st->pending_line;
    conf_error(ctx, "%s: the quoted value that starts here is not closed", st->pending_key);
    ctx->line = line;
    st->pending_key[0] = '\0';
}

/* [backend NAME] and [rule NAME]: a new object, remembering the header's line for the
 * messages about it. */
static void rt_ini_enter_named(struct rt_ini_state *st, struct conf_ctx *ctx, int kind,
                               const char *name)
{
    struct rt_config *cfg = st->cfg;
    const char *what = kind == RT_INI_RULE ? "rule" : "backend";

    if (name[0] == '\0' || strlen(name) >= RT_NAME_MAX) {
        conf_error(ctx, "[%s NAME]: the name must have 1 to %d characters", what, RT_NAME_MAX - 1);
        return;
    }
    if (kind == RT_INI_BACKEND) {
        if (cfg->n_backends == RT_MAX_BACKENDS) {
            conf_error(ctx, "more than %d backends", RT_MAX_BACKENDS);
            return;
        }
        struct rt_backend_config *b = &cfg->backends[cfg->n_backends];
        rt_config_backend_defaults(b);
        snprintf(b->name, sizeof(b->name), "%s", name);
        b->line = ctx->line;
        st->index = (int)cfg->n_backends++;
    } else {
        if (cfg->n_rules == RT_MAX_RULES) {
            conf_error(ctx, "more than %d rules", RT_MAX_RULES);
            return;
        }
        struct rt_rule_config *r = &cfg->rules[cfg->n_rules];
        memset(r, 0, sizeof(*r));
        snprintf(r->name, sizeof(r->name), "%s", name);
        r->line = ctx->line;
        st->index = (int)cfg->n_rules++;
    }
    st->kind = kind;
}

/* Starts the object a section header names: [router], [pool NAME], [backend NAME],
 * [rule NAME], with ctx->line on the header. Anything else is reported here, and its keys are
 * skipped (st->kind RT_INI_BAD). */
static int rt_ini_enter(struct conf_ctx *ctx, const char *section, void *user)
{
    struct rt_ini_state *st = user;
    struct rt_config *cfg = st->cfg;
    const char *name = section + strcspn(section, " \t");
    size_t word = (size_t)(name - section);

    rt_ini_drop_pending(st, ctx);
    name += strspn(name, " \t");
    st->kind = RT_INI_BAD;
    if (strcmp(section, "router") == 0) {
        st->kind = RT_INI_ROUTER;
    } else if (word == 4 && strncmp(section, "pool", 4) == 0) {
        int idx = rt_config_pool(cfg, ctx, name);
        if (idx >= 0) {
            st->kind = RT_INI_POOL;
            st->index = idx;
        }
    } else if ((word == 7 && strncmp(section, "backend", 7) == 0) ||
               (word == 4 && strncmp(section, "rule", 4) == 0)) {
        rt_ini_enter_named(st, ctx, word == 4 ? RT_INI_RULE : RT_INI_BACKEND, name);
    } else {
        conf_error(ctx,
                   "unknown section [%s]: expected [router], [pool NAME], [backend NAME] "
                   "or [rule NAME]",
                   section);
    }
    return 0;
}

/* Hands one whole key and value to the section being filled. */
static int rt_ini_dispatch(struct rt_ini_state *st, struct conf_ctx *ctx, const char *key,
                           const char *value)
{
    struct rt_rule_config *r;

    switch (st->kind) {
    case RT_INI_NONE:
        conf_error(ctx, "'%s' before any [section]", key);
        return -EINVAL;
    case RT_INI_ROUTER:
        return rt_ini_router_key(st, ctx, key, value);
    case RT_INI_POOL:
        return rt_ini_pool_key(st, ctx, key, value);
    case RT_INI_BACKEND:
        return rt_ini_backend_key(st, ctx, key, value);
    case RT_INI_RULE:
        r = &st->cfg->rules[st->index];
        if (strcmp(key, "match") == 0) {
            return rt_ini_match(st->cfg, ctx, r, value);
        }
        if (strcmp(key, "action") == 0) {
            st->rule_has_action[st->index] = true;
            return rt_ini_action(st->cfg, ctx, r, value);
        }
        if (strcmp(key, "name") == 0) {
            return rt_ini_name(ctx, value, r->name);
        }
        conf_error(ctx, "unknown key '%s' in [rule]", key);
        return -EINVAL;
    default:
        return 0; /* the section was reported once */
    }
}

/* Where the quotable text of a key's value starts (NULL for keys that take none): only a
 * quote there may leave the value open at the end of its line. */
static const char *rt_ini_quotable(const char *key, const char *value)
{
    if (strcmp(key, "match") == 0) {
        return rt_ini_match_text(value);
    }
    if (strcmp(key, "check_name") == 0 || strcmp(key, "name") == 0) {
        return value;
    }
    return NULL;
}

/* The next line of an open quoted value: added to it, and once the quote is closed, the
 * whole value is read as if it had come on its first line. */
static int rt_ini_continue(struct rt_ini_state *st, struct conf_ctx *ctx, const char *value)
{
    size_t len = strlen(value);
    int line = ctx->line, rc;

    if (st->pending_len + len >= sizeof(st->pending)) {
        ctx->line = st->pending_line;
        conf_error(ctx, "%s: the value is longer than %d bytes", st->pending_key,
                   RT_INI_VALUE_MAX - 1);
        ctx->line = line;
        st->pending_key[0] = '\0';
        return -EINVAL;
    }
    memcpy(st->pending + st->pending_len, value, len + 1);
    st->pending_len += len;
    if (rt_ini_text_open(rt_ini_quotable(st->pending_key, st->pending))) {
        return 0;
    }
    ctx->line = st->pending_line;
    rc = rt_ini_dispatch(st, ctx, st->pending_key, st->pending);
    ctx->line = line;
    st->pending_key[0] = '\0';
    return rc;
}

static int rt_ini_key(struct conf_ctx *ctx, const char *section, const char *key, const char *value,
                      void *user)
{
    struct rt_ini_state *st = user;
    const char *quotable = rt_ini_quotable(key, value);

    (void)section; /* rt_ini_enter saw the header */
    if (st->pending_key[0] != '\0' && strcmp(key, st->pending_key) == 0) {
        return rt_ini_continue(st, ctx, value);
    }
    rt_ini_drop_pending(st, ctx);
    if (quotable != NULL && rt_ini_text_open(quotable) && strlen(key) < sizeof(st->pending_key) &&
        strlen(value) < sizeof(st->pending)) {
        snprintf(st->pending_key, sizeof(st->pending_key), "%s", key);
        st->pending_line = ctx->line;
        st->pending_len = strlen(value);
        memcpy(st->pending, value, st->pending_len + 1);
        return 0;
    }
    return rt_ini_dispatch(st, ctx, key, value);
}

/* Backends without an address or pool, rules without a match or an action. */
static void rt_ini_check_objects(struct rt_ini_state *st, struct conf_ctx *ctx)
{
    struct rt_config *cfg = st->cfg;
    int idx;

    for (size_t i = 0; i < cfg->n_backends; i++) {
        struct rt_backend_config *b = &cfg->backends[i];
        ctx->line = b->line;
        if (b->addr.len == 0) {
            conf_error(ctx, "[backend %s] has no address", b->name);
        }
        if (b->n_pools == 0 && (idx = rt_config_pool(cfg, ctx, "")) >= 0) {
            b->pools[b->n_pools++] = (uint16_t)idx;
        }
    }
    for (size_t i = 0; i < cfg->n_rules; i++) {
        ctx->line = cfg->rules[i].line;
        if (cfg->rules[i].n_match == 0) {
            conf_error(ctx, "[rule %s] has no match line", cfg->rules[i].name);
        }
        if (!st->rule_has_action[i]) {
            conf_error(ctx, "[rule %s] has no action line", cfg->rules[i].name);
        }
    }
}

int rt_ini_read(struct rt_config *cfg, const char *path, struct conf_ctx *ctx)
{
    struct rt_ini_state *st = calloc(1, sizeof(*st));
    const char *saved_file = ctx->file;
    int rc, errors = ctx->errors;

    if (st == NULL) {
        return -ENOMEM;
    }
    st->cfg = cfg;
    rc = conf_read_ini_sections(path, rt_ini_enter, rt_ini_key, st, ctx);
    if (rc == 0 || rc == -EINVAL) {
        ctx->file = path;
        rt_ini_drop_pending(st, ctx);
        rt_ini_check_objects(st, ctx);
        ctx->file = saved_file;
        ctx->line = 0;
    }
    free(st);
    if (rc < 0 && rc != -EINVAL) {
        return rc;
    }
    return ctx->errors == errors ? 0 : -EINVAL;
}
