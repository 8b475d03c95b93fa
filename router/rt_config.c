#include "rt_config.h"

#include <ctype.h>
#include <errno.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns_name.h"
#include "rt_ini.h"
#include "rt_lua.h"
#include "rt_regex.h"

/* dnsdist's default ACL (dnsdist 1.8 documentation, "Access Control"). */
static const char *const rt_config_default_acl[] = {
    "127.0.0.0/8",   "10.0.0.0/8", "100.64.0.0/10", "169.254.0.0/16", "192.168.0.0/16",
    "172.16.0.0/12", "::1/128",    "fc00::/7",      "fe80::/10",
};

void rt_config_backend_defaults(struct rt_backend_config *b)
{
    memset(b, 0, sizeof(*b));
    b->health = RT_HEALTH_AUTO;
    dns_name_from_text(RT_DEFAULT_CHECK_NAME, b->check_name, &b->check_name_len);
    b->check_type = DNS_TYPE_TXT;
    b->check_class = DNS_CLASS_CH;
    b->check_interval_ms = RT_DEFAULT_CHECK_INTERVAL_MS;
    b->check_timeout_ms = RT_DEFAULT_CHECK_TIMEOUT_MS;
    b->max_check_failures = 1;
    b->rise = 1;
    b->order = 1;
    b->weight = 1;
    b->sockets = 1;
    rt_config_lazy_defaults(&b->lazy);
}

void rt_config_lazy_defaults(struct rt_lazy_config *lazy)
{
    memset(lazy, 0, sizeof(*lazy));
    lazy->sample_size = RT_LAZY_DEFAULT_SAMPLE_SIZE;
    lazy->min_samples = RT_LAZY_DEFAULT_MIN_SAMPLES;
    lazy->threshold = RT_LAZY_DEFAULT_THRESHOLD;
    lazy->failed_interval_ms = RT_LAZY_DEFAULT_FAILED_INTERVAL_MS;
    lazy->max_backoff_ms = RT_LAZY_DEFAULT_MAX_BACKOFF_MS;
    lazy->servfail_fails = true;
}

void rt_config_defaults(struct rt_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->arena_used = 1; /* offset 0 is the empty text */
    for (size_t i = 0; i < sizeof(rt_config_default_acl) / sizeof(char *); i++) {
        addr_prefix_parse(rt_config_default_acl[i], &cfg->acl[cfg->n_acl++]);
    }
    cfg->policy = RT_POLICY_LEAST_OUTSTANDING;
    cfg->timeout_ms = RT_DEFAULT_TIMEOUT_MS;
    cfg->retry = true;
    cfg->servfail_timeout = true;
    cfg->servfail_no_server = true;
    cfg->max_outstanding = RT_DEFAULT_MAX_OUTSTANDING;
    cfg->rate_action = RT_LIMIT_DROP;
    cfg->rate_table_size = 65536;
    cfg->threads = 0; /* chosen by rt_config_finish */
}

uint32_t rt_config_keep(struct rt_config *cfg, struct conf_ctx *ctx, const char *s)
{
    size_t len = strlen(s) + 1;

    if (len == 1) {
        return 0;
    }
    if (sizeof(cfg->arena) - cfg->arena_used < len) {
        conf_error(ctx, "too much text in the configuration (over %d bytes)", RT_ARENA_BYTES);
        return 0;
    }
    memcpy(cfg->arena + cfg->arena_used, s, len);
    cfg->arena_used += len;
    return (uint32_t)(cfg->arena_used - len);
}

const char *rt_config_text(const struct rt_config *cfg, uint32_t offset)
{
    return offset < cfg->arena_used ? cfg->arena + offset : "";
}

void rt_config_cache_defaults(struct rt_cache_config *c, uint32_t size)
{
    c->size = size;
    c->max_ttl = RT_CACHE_DEFAULT_MAX_TTL;
    c->min_ttl = RT_CACHE_DEFAULT_MIN_TTL;
    c->temp_failure_ttl = RT_CACHE_DEFAULT_TEMP_FAILURE_TTL;
    c->max_negative_ttl = RT_CACHE_DEFAULT_MAX_NEGATIVE_TTL;
}

/* A pool name is a word of the INI file, in a section header and in lists: nothing there may
 * end it, start a comment or a quoted string, or break its line. */
static bool rt_config_pool_name_ok(const char *name)
{
    if (strlen(name) >= RT_NAME_MAX || name[strcspn(name, " \t,;[]\"")] != '\0') {
        return false;
    }
    for (const char *p = name; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            return false;
        }
    }
    return true;
}

int rt_config_pool(struct rt_config *cfg, struct conf_ctx *ctx, const char *name)
{
    for (size_t i = 0; i < cfg->n_pools; i++) {
        if (strcmp(cfg->pools[i].name, name) == 0) {
            return (int)i;
        }
    }
    if (cfg->n_pools == RT_MAX_POOLS) {
        conf_error(ctx, "more than %d pools", RT_MAX_POOLS);
        return -ENOSPC;
    }
    if (!rt_config_pool_name_ok(name)) {
        conf_error(ctx,
                   "pool name '%s': at most %d characters, no spaces, commas, semicolons, "
                   "quotes, brackets or control characters",
                   name, RT_NAME_MAX - 1);
        return -EINVAL;
    }
    struct rt_pool_config *p = &cfg->pools[cfg->n_pools];
    memset(p, 0, sizeof(*p));
    snprintf(p->name, sizeof(p->name), "%s", name);
    rt_config_cache_defaults(&p->cache, 0);
    return (int)cfg->n_pools++;
}

/* Compiles a rule's regular expression the way the router will, to report a bad one now. */
static void rt_config_check_regex(const struct rt_config *cfg, struct conf_ctx *ctx,
                                  const struct rt_match_config *m)
{
    const char *text = rt_config_text(cfg, m->text);
    uint64_t nodes = rt_regex_nodes(text);
    regex_t re;
    char msg[128];
    int rc;

    if (nodes == UINT64_MAX) {
        conf_error(ctx, "regex '%s': groups nested deeper than %d", text, RT_REGEX_DEPTH_MAX);
        return;
    }
    if (nodes > RT_REGEX_NODES_MAX) {
        conf_error(ctx,
                   "regex '%s': too costly to compile, its repetitions would expand to more "
                   "than %d nodes (each count of a repetition copies what it repeats, and "
                   "nested repetitions multiply)",
                   text, RT_REGEX_NODES_MAX);
        return;
    }
    rc = regcomp(&re, text, REG_EXTENDED | REG_ICASE | REG_NOSUB);
    if (rc != 0) {
        regerror(rc, &re, msg, sizeof(msg));
        conf_error(ctx, "regex '%s': %s", rt_config_text(cfg, m->text), msg);
        return;
    }
    regfree(&re);
}

/* Checks every name of a suffix list or a pkarr top-level domain. */
static void rt_config_check_names(const struct rt_config *cfg, struct conf_ctx *ctx,
                                  const struct rt_match_config *m)
{
    char buf[RT_ARENA_BYTES];
    char *item, *save = NULL;
    uint8_t wire[DNS_NAME_MAX];
    size_t len;

    snprintf(buf, sizeof(buf), "%s", rt_config_text(cfg, m->text));
    for (item = strtok_r(buf, " ,\t", &save); item != NULL; item = strtok_r(NULL, " ,\t", &save)) {
        if (dns_name_from_text(item, wire, &len) != 0) {
            conf_error(ctx, "'%s' is not a domain name", item);
        }
    }
}

static void rt_config_check_rule(const struct rt_config *cfg, struct conf_ctx *ctx,
                                 const struct rt_rule_config *r, const bool *pool_used)
{
    for (size_t m = 0; m < r->n_match; m++) {
        ctx->line = r->match[m].line != 0 ? r->match[m].line : r->line;
        if (r->match[m].kind == RT_MATCH_REGEX) {
            rt_config_check_regex(cfg, ctx, &r->match[m]);
        } else if (r->match[m].kind == RT_MATCH_SUFFIX || r->match[m].kind == RT_MATCH_PKARR) {
            rt_config_check_names(cfg, ctx, &r->match[m]);
        }
    }
    ctx->line = r->line;
    if (r->action == RT_ACTION_POOL && !pool_used[r->pool]) {
        conf_warn(ctx, "rule %s sends queries to pool '%s', which has no backend", r->name,
                  cfg->pools[r->pool].name);
    }
}

/* threads not given: two loops, so that a backend sharing the router's core does not take
 * the core from the one loop with each datagram it is sent (bench/RESULTS.md, Router vs
 * dnsdist); one when a pool has a packet cache or a backend is judged lazily, since each loop
 * would keep the cache, or count the lazy backend's failed queries, for itself. */
static uint32_t rt_config_default_threads(const struct rt_config *cfg)
{
    for (size_t p = 0; p < cfg->n_pools; p++) {
        if (cfg->pools[p].cache.size > 0) {
            return 1;
        }
    }
    for (size_t b = 0; b < cfg->n_backends; b++) {
        if (cfg->backends[b].health == RT_HEALTH_LAZY) {
            return 1;
        }
    }
    return RT_DEFAULT_THREADS;
}

int rt_config_finish(struct rt_config *cfg, struct conf_ctx *ctx)
{
    bool pool_used[RT_MAX_POOLS] = {false};
    int errors = ctx->errors, saved_line = ctx->line;

    if (cfg->n_listen == 0) {
        addr_parse("127.0.0.1", RT_DEFAULT_PORT, &cfg->listen[0]);
        cfg->n_listen = 1;
    }
    for (size_t i = 0; i < cfg->n_backends; i++) {
        const struct rt_backend_config *b = &cfg->backends[i];
        for (size_t p = 0; p < b->n_pools; p++) {
            pool_used[b->pools[p]] = true;
        }
        for (size_t j = 0; j < i; j++) {
            ctx->line = b->line;
            if (strcmp(cfg->backends[j].name, b->name) == 0) {
                conf_error(ctx, "a second backend named '%s'", b->name);
            }
        }
        if (b->check_timeout_ms == 0 || b->check_interval_ms == 0) {
            ctx->line = b->line;
            conf_error(ctx, "backend %s: check interval and timeout must be above 0", b->name);
        }
    }
    for (size_t i = 0; i < cfg->n_rules; i++) {
        rt_config_check_rule(cfg, ctx, &cfg->rules[i], pool_used);
    }
    if (cfg->threads == 0) {
        cfg->threads = rt_config_default_threads(cfg);
    }
    if (cfg->rate_qps > 0 && cfg->rate_burst < cfg->rate_qps) {
        cfg->rate_burst = cfg->rate_qps;
    }
    ctx->line = saved_line;
    return ctx->errors == errors ? 0 : -EINVAL;
}

/* A dnsdist file is Lua: its first statement is a call or an assignment, never "[section]". */
static bool rt_config_is_ini(FILE *fp)
{
    char line[512];

    while (fgets(line, sizeof(line), fp) != NULL) {
        char *s = line;
        while (isspace((unsigned char)*s)) {
            s++;
        }
        if (*s == '\0' || *s == ';' || *s == '#' || (s[0] == '-' && s[1] == '-')) {
            continue;
        }
        return *s == '[';
    }
    return true;
}

int rt_config_read_file(struct rt_config *cfg, const char *path, struct conf_ctx *ctx)
{
    FILE *fp = fopen(path, "r");
    bool ini;
    int rc, errors = ctx->errors;

    if (fp == NULL) {
        rc = -errno;
        conf_error(ctx, "cannot open %s: %s", path, strerror(errno));
        return rc;
    }
    ini = rt_config_is_ini(fp);
    fclose(fp);
    cfg->config_file = rt_config_keep(cfg, ctx, path);
    cfg->format = ini ? RT_FORMAT_INI : RT_FORMAT_DNSDIST;
    rc = ini ? rt_ini_read(cfg, path, ctx) : rt_lua_read(cfg, path, ctx);
    if (rc < 0 && rc != -EINVAL) {
        return rc;
    }
    ctx->file = path;
    rt_config_finish(cfg, ctx);
    ctx->file = NULL;
    return ctx->errors == errors ? 0 : -EINVAL;
}

static const char *const rt_config_policy_names[] = {
    [RT_POLICY_LEAST_OUTSTANDING] = "leastOutstanding",
    [RT_POLICY_FIRST_AVAILABLE] = "firstAvailable",
    [RT_POLICY_ROUNDROBIN] = "roundrobin",
    [RT_POLICY_WRANDOM] = "wrandom",
};

static const char *const rt_config_health_names[] = {
    [RT_HEALTH_AUTO] = "auto",
    [RT_HEALTH_UP] = "up",
    [RT_HEALTH_DOWN] = "down",
    [RT_HEALTH_LAZY] = "lazy",
};

const char *rt_config_policy_name(enum rt_policy p)
{
    return rt_config_policy_names[p];
}

const char *rt_config_health_name(enum rt_health_mode m)
{
    return rt_config_health_names[m];
}

int rt_config_parse_policy(const char *text, enum rt_policy *out)
{
    for (int i = 0; i <= RT_POLICY_WRANDOM; i++) {
        if (strcasecmp(text, rt_config_policy_names[i]) == 0) {
            *out = (enum rt_policy)i;
            return 0;
        }
    }
    return -EINVAL;
}

int rt_config_parse_health(const char *text, enum rt_health_mode *out)
{
    for (int i = 0; i <= RT_HEALTH_LAZY; i++) {
        if (strcasecmp(text, rt_config_health_names[i]) == 0) {
            *out = (enum rt_health_mode)i;
            return 0;
        }
    }
    return -EINVAL;
}
