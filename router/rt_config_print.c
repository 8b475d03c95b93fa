/* --print-config: any configuration, whichever format it was read from, written back in the
 * native INI format, so that a dnsdist file can be converted once and for all. What is
 * printed reads back as the same configuration: texts that a bare value cannot carry are
 * quoted (rt_ini_text.h), lists go over as many `key =` lines as inih's line length needs,
 * and a name that a section header cannot spell comes as a `name =` key. */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "dns_name.h"
#include "rt_config.h"
#include "rt_ini_text.h"
#include "rt_names.h"

#define RT_PRINT_COMMENT_CHUNK 96 /* bytes of the file name per comment line */

/* A list being written as `key = a b c` lines. */
struct rt_print_list {
    FILE *out;
    const char *key;
    size_t col;
    bool line_open;
};

/* Adds an item, starting another `key =` line when this one would grow past the print width
 * (the reader adds the items of every line to those before). */
static void rt_print_list_add(struct rt_print_list *l, const char *item)
{
    size_t width = rt_ini_item_width(item);

    if (l->line_open && l->col + 1 + width > RT_INI_PRINT_WIDTH) {
        fputc('\n', l->out);
        l->line_open = false;
    }
    if (!l->line_open) {
        fprintf(l->out, "%s =", l->key);
        l->col = strlen(l->key) + 2;
        l->line_open = true;
    }
    fputc(' ', l->out);
    l->col += 1 + rt_ini_print_item(l->out, item);
}

/* Ends the list; one with no items still gets its `key =` line (an empty ACL, say). */
static void rt_print_list_end(struct rt_print_list *l)
{
    if (!l->line_open) {
        fprintf(l->out, "%s =", l->key);
    }
    fputc('\n', l->out);
}

static void rt_config_print_prefix(const struct addr_prefix *p, char *text, size_t cap)
{
    struct addr a = {0};
    char ip[ADDR_TEXT_MAX];

    if (p->family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&a.sa;
        sin->sin_family = AF_INET;
        memcpy(&sin->sin_addr, p->bytes, 4);
        a.len = sizeof(*sin);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a.sa;
        sin6->sin6_family = AF_INET6;
        memcpy(&sin6->sin6_addr, p->bytes, 16);
        a.len = sizeof(*sin6);
    }
    snprintf(text, cap, "%s/%u", addr_format_ip(&a, ip, sizeof(ip)), (unsigned)p->bits);
}

static void rt_config_print_addresses(const struct rt_config *cfg, FILE *out)
{
    struct rt_print_list listen = {.out = out, .key = "listen"};
    struct rt_print_list acl = {.out = out, .key = "acl"};
    char text[ADDR_TEXT_MAX + 8];

    for (size_t i = 0; i < cfg->n_listen; i++) {
        rt_print_list_add(&listen, addr_format(&cfg->listen[i], text, sizeof(text)));
    }
    rt_print_list_end(&listen);
    for (size_t i = 0; i < cfg->n_acl; i++) {
        rt_config_print_prefix(&cfg->acl[i], text, sizeof(text));
        rt_print_list_add(&acl, text);
    }
    rt_print_list_end(&acl);
}

static void rt_config_print_router(const struct rt_config *cfg, FILE *out)
{
    fprintf(out, "[router]\n");
    rt_config_print_addresses(cfg, out);
    fprintf(out, "policy = %s\n", rt_config_policy_name(cfg->policy));
    fprintf(out, "timeout_ms = %u\n", cfg->timeout_ms);
    fprintf(out, "retry = %s\n", cfg->retry ? "yes" : "no");
    fprintf(out, "on_timeout = %s\n", cfg->servfail_timeout ? "servfail" : "drop");
    fprintf(out, "on_no_server = %s\n", cfg->servfail_no_server ? "servfail" : "drop");
    fprintf(out, "max_outstanding = %u\n", cfg->max_outstanding);
    if (cfg->rate_qps > 0) {
        fprintf(out, "rate_limit_qps = %u\nrate_limit_burst = %u\nrate_limit_action = %s\n",
                cfg->rate_qps, cfg->rate_burst,
                cfg->rate_action == RT_LIMIT_REFUSED ? "refused" : "drop");
        fprintf(out, "rate_limit_table = %u\n", cfg->rate_table_size);
    }
    if (cfg->tcp_clients > 0) {
        fprintf(out, "tcp_clients = %u\n", cfg->tcp_clients);
    }
    if (cfg->tcp_idle_timeout_ms > 0) {
        fprintf(out, "tcp_idle_timeout_ms = %u\n", cfg->tcp_idle_timeout_ms);
    }
    if (cfg->tcp_max_pending > 0) {
        fprintf(out, "tcp_max_pending = %u\n", cfg->tcp_max_pending);
    }
    fprintf(out, "threads = %u\n", cfg->threads);
}

/* A [pool] section, when the pool has a policy or a cache of its own. */
static void rt_config_print_pool(const struct rt_pool_config *p, FILE *out)
{
    const struct rt_cache_config *c = &p->cache;

    if (!p->policy_set && c->size == 0) {
        return;
    }
    fprintf(out, "\n[pool %s]\n", p->name);
    if (p->policy_set) {
        fprintf(out, "policy = %s\n", rt_config_policy_name(p->policy));
    }
    if (c->size > 0) {
        fprintf(out, "cache_size = %u\ncache_max_ttl = %u\ncache_min_ttl = %u\n", c->size,
                c->max_ttl, c->min_ttl);
        fprintf(out, "cache_temp_failure_ttl = %u\ncache_max_negative_ttl = %u\n",
                c->temp_failure_ttl, c->max_negative_ttl);
    }
}

/* "[kind NAME]", or, for a name the header cannot spell, "[kind kind-N]" and a `name` key. */
static void rt_config_print_header(const char *kind, size_t index, const char *name, FILE *out)
{
    if (rt_ini_bare_name(name)) {
        fprintf(out, "\n[%s %s]\n", kind, name);
        return;
    }
    fprintf(out, "\n[%s %s-%zu]\n", kind, kind, index + 1);
    rt_ini_print_text(out, "name = ", name);
}

/* The pools of a backend, the default pool spelled "" (none when that is its only pool). */
static void rt_config_print_backend_pools(const struct rt_config *cfg,
                                          const struct rt_backend_config *b, FILE *out)
{
    struct rt_print_list pools = {.out = out, .key = "pool"};

    if (b->n_pools == 1 && cfg->pools[b->pools[0]].name[0] == '\0') {
        return;
    }
    for (size_t p = 0; p < b->n_pools; p++) {
        rt_print_list_add(&pools, cfg->pools[b->pools[p]].name);
    }
    if (b->n_pools > 0) {
        rt_print_list_end(&pools);
    }
}

/* The lazy health check settings that differ from the defaults. */
static void rt_config_print_backend_lazy(const struct rt_lazy_config *lazy, FILE *out)
{
    struct rt_lazy_config def;

    rt_config_lazy_defaults(&def);
    if (lazy->sample_size != def.sample_size) {
        fprintf(out, "lazy_sample_size = %u\n", lazy->sample_size);
    }
    if (lazy->min_samples != def.min_samples) {
        fprintf(out, "lazy_min_samples = %u\n", lazy->min_samples);
    }
    if (lazy->threshold != def.threshold) {
        fprintf(out, "lazy_threshold = %u\n", lazy->threshold);
    }
    if (lazy->failed_interval_ms != def.failed_interval_ms) {
        fprintf(out, "lazy_failed_interval_ms = %u\n", lazy->failed_interval_ms);
    }
    if (lazy->servfail_fails != def.servfail_fails) {
        fprintf(out, "lazy_mode = %s\n",
                lazy->servfail_fails ? "timeout-or-servfail" : "timeout-only");
    }
    if (lazy->backoff != def.backoff) {
        fprintf(out, "lazy_backoff = %s\n", lazy->backoff ? "yes" : "no");
    }
    if (lazy->max_backoff_ms != def.max_backoff_ms) {
        fprintf(out, "lazy_max_backoff_ms = %u\n", lazy->max_backoff_ms);
    }
}

static void rt_config_print_backend(const struct rt_config *cfg, size_t index, FILE *out)
{
    const struct rt_backend_config *b = &cfg->backends[index];
    char text[DNS_NAME_TEXT_MAX];

    rt_config_print_header("backend", index, b->name, out);
    fprintf(out, "address = %s\n", addr_format(&b->addr, text, sizeof(text)));
    rt_config_print_backend_pools(cfg, b, out);
    fprintf(out, "health_check = %s\n", rt_config_health_name(b->health));
    dns_name_to_text(b->check_name, b->check_name_len, text, sizeof(text));
    rt_ini_print_text(out, "check_name = ", text);
    fprintf(out, "check_type = %s\n", rt_names_qtype(b->check_type, text, sizeof(text)));
    if (b->check_class == DNS_CLASS_IN || b->check_class == DNS_CLASS_CH) {
        fprintf(out, "check_class = %s\n", b->check_class == DNS_CLASS_IN ? "IN" : "CH");
    } else {
        fprintf(out, "check_class = %u\n", b->check_class);
    }
    fprintf(out, "check_interval_ms = %u\ncheck_timeout_ms = %u\n", b->check_interval_ms,
            b->check_timeout_ms);
    fprintf(out, "max_check_failures = %u\nrise = %u\n", b->max_check_failures, b->rise);
    rt_config_print_backend_lazy(&b->lazy, out);
    fprintf(out, "order = %d\nweight = %u\n", b->order, b->weight);
    fprintf(out, "tcp_only = %s\nsockets = %u\n", b->tcp_only ? "yes" : "no", b->sockets);
}

static void rt_config_print_match(const struct rt_config *cfg, const struct rt_match_config *mc,
                                  FILE *out)
{
    static const char *const kinds[] = {"all", "regex", "suffix", "qtype", "pkarr"};
    char text[16], prefix[32];

    if (mc->kind == RT_MATCH_QTYPE) {
        fprintf(out, "match = qtype");
        for (size_t q = 0; q < mc->n_qtypes; q++) {
            fprintf(out, " %s", rt_names_qtype(mc->qtypes[q], text, sizeof(text)));
        }
        fputc('\n', out);
    } else if (mc->kind == RT_MATCH_ALL || (mc->kind == RT_MATCH_PKARR && mc->text == 0)) {
        fprintf(out, "match = %s\n", kinds[mc->kind]);
    } else {
        /* An empty regex (it matches every name) is written "". */
        snprintf(prefix, sizeof(prefix), "match = %s ", kinds[mc->kind]);
        rt_ini_print_text(out, prefix, rt_config_text(cfg, mc->text));
    }
}

static void rt_config_print_rule(const struct rt_config *cfg, size_t index, FILE *out)
{
    const struct rt_rule_config *r = &cfg->rules[index];
    char text[16];

    rt_config_print_header("rule", index, r->name, out);
    for (size_t m = 0; m < r->n_match; m++) {
        rt_config_print_match(cfg, &r->match[m], out);
    }
    if (r->action == RT_ACTION_DROP) {
        fprintf(out, "action = drop\n");
    } else if (r->action == RT_ACTION_RCODE) {
        fprintf(out, "action = rcode %s\n", rt_names_rcode(r->rcode, text, sizeof(text)));
    } else if (cfg->pools[r->pool].name[0] == '\0') {
        fprintf(out, "action = pool\n");
    } else {
        fprintf(out, "action = pool %s\n", cfg->pools[r->pool].name);
    }
}

/* The file the configuration came from, as comment lines inih can read: a long name goes
 * over several, and a byte that is not printable is shown as '?'. */
static void rt_config_print_origin(const char *file, FILE *out)
{
    size_t len = strlen(file);

    fprintf(out, "; pkdns-router configuration, from%s", len > RT_PRINT_COMMENT_CHUNK ? "\n;" : "");
    for (size_t at = 0; at < len; at += RT_PRINT_COMMENT_CHUNK) {
        fputc(' ', out);
        for (size_t i = at; i < len && i < at + RT_PRINT_COMMENT_CHUNK; i++) {
            fputc(file[i] >= 0x20 && file[i] < 0x7f ? file[i] : '?', out);
        }
        fputs(at + RT_PRINT_COMMENT_CHUNK < len ? "\n;" : "\n", out);
    }
}

void rt_config_print(const struct rt_config *cfg, FILE *out)
{
    const char *file = rt_config_text(cfg, cfg->config_file);

    if (file[0] != '\0') {
        rt_config_print_origin(file, out);
    }
    rt_config_print_router(cfg, out);
    for (size_t i = 0; i < cfg->n_pools; i++) {
        rt_config_print_pool(&cfg->pools[i], out);
    }
    for (size_t i = 0; i < cfg->n_backends; i++) {
        rt_config_print_backend(cfg, i, out);
    }
    for (size_t i = 0; i < cfg->n_rules; i++) {
        rt_config_print_rule(cfg, i, out);
    }
}
