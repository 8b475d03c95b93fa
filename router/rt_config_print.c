/* --print-config: any configuration, whichever format it was read from, written back in the
 * native INI format, so that a dnsdist file can be converted once and for all. */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "dns_name.h"
#include "rt_config.h"
#include "rt_names.h"

static void rt_config_print_prefix(const struct addr_prefix *p, FILE *out)
{
    struct addr a = {0};
    char text[ADDR_TEXT_MAX];

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
    fprintf(out, "%s/%u", addr_format_ip(&a, text, sizeof(text)), (unsigned)p->bits);
}

static void rt_config_print_router(const struct rt_config *cfg, FILE *out)
{
    char text[ADDR_TEXT_MAX];

    fprintf(out, "[router]\nlisten =");
    for (size_t i = 0; i < cfg->n_listen; i++) {
        fprintf(out, " %s", addr_format(&cfg->listen[i], text, sizeof(text)));
    }
    /* A few per line: inih reads lines of at most 200 bytes. */
    for (size_t i = 0; i < cfg->n_acl; i++) {
        fprintf(out, i % 4 == 0 ? "\nacl = " : " ");
        rt_config_print_prefix(&cfg->acl[i], out);
    }
    fprintf(out, "\npolicy = %s\n", rt_config_policy_name(cfg->policy));
    fprintf(out, "timeout_ms = %u\n", cfg->timeout_ms);
    fprintf(out, "retry = %s\n", cfg->retry ? "yes" : "no");
    fprintf(out, "on_timeout = %s\n", cfg->servfail_timeout ? "servfail" : "drop");
    fprintf(out, "on_no_server = %s\n", cfg->servfail_no_server ? "servfail" : "drop");
    fprintf(out, "max_outstanding = %u\n", cfg->max_outstanding);
    if (cfg->rate_qps > 0) {
        fprintf(out, "rate_limit_qps = %u\nrate_limit_burst = %u\nrate_limit_action = %s\n",
                cfg->rate_qps, cfg->rate_burst,
                cfg->rate_action == RT_LIMIT_REFUSED ? "refused" : "drop");
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

static void rt_config_print_backend(const struct rt_config *cfg, const struct rt_backend_config *b,
                                    FILE *out)
{
    char text[DNS_NAME_TEXT_MAX];
    bool named_pool = false;

    fprintf(out, "\n[backend %s]\n", b->name);
    fprintf(out, "address = %s\n", addr_format(&b->addr, text, sizeof(text)));
    for (size_t p = 0; p < b->n_pools; p++) {
        named_pool = named_pool || cfg->pools[b->pools[p]].name[0] != '\0';
    }
    if (named_pool) {
        fprintf(out, "pool =");
        for (size_t p = 0; p < b->n_pools; p++) {
            fprintf(out, " %s", cfg->pools[b->pools[p]].name);
        }
        fputc('\n', out);
    }
    fprintf(out, "health_check = %s\n", rt_config_health_name(b->health));
    dns_name_to_text(b->check_name, b->check_name_len, text, sizeof(text));
    fprintf(out, "check_name = %s\n", text);
    fprintf(out, "check_type = %s\n", rt_names_qtype(b->check_type, text, sizeof(text)));
    if (b->check_class == DNS_CLASS_IN || b->check_class == DNS_CLASS_CH) {
        fprintf(out, "check_class = %s\n", b->check_class == DNS_CLASS_IN ? "IN" : "CH");
    } else {
        fprintf(out, "check_class = %u\n", b->check_class);
    }
    fprintf(out, "check_interval_ms = %u\ncheck_timeout_ms = %u\n", b->check_interval_ms,
            b->check_timeout_ms);
    fprintf(out, "max_check_failures = %u\nrise = %u\n", b->max_check_failures, b->rise);
    fprintf(out, "order = %d\nweight = %u\n", b->order, b->weight);
    fprintf(out, "tcp_only = %s\nsockets = %u\n", b->tcp_only ? "yes" : "no", b->sockets);
}

static void rt_config_print_rule(const struct rt_config *cfg, const struct rt_rule_config *r,
                                 FILE *out)
{
    static const char *const kinds[] = {"all", "regex", "suffix", "qtype", "pkarr"};
    char text[16];

    fprintf(out, "\n[rule %s]\n", r->name);
    for (size_t m = 0; m < r->n_match; m++) {
        const struct rt_match_config *mc = &r->match[m];
        fprintf(out, "match = %s", kinds[mc->kind]);
        if (mc->kind == RT_MATCH_QTYPE) {
            for (size_t q = 0; q < mc->n_qtypes; q++) {
                fprintf(out, " %s", rt_names_qtype(mc->qtypes[q], text, sizeof(text)));
            }
        } else if (mc->kind != RT_MATCH_ALL && mc->text != 0) {
            fprintf(out, " %s", rt_config_text(cfg, mc->text));
        }
        fputc('\n', out);
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

void rt_config_print(const struct rt_config *cfg, FILE *out)
{
    const char *file = rt_config_text(cfg, cfg->config_file);

    if (file[0] != '\0') {
        fprintf(out, "; pkdns-router configuration, from %s\n", file);
    }
    rt_config_print_router(cfg, out);
    for (size_t i = 0; i < cfg->n_pools; i++) {
        rt_config_print_pool(&cfg->pools[i], out);
    }
    for (size_t i = 0; i < cfg->n_backends; i++) {
        rt_config_print_backend(cfg, &cfg->backends[i], out);
    }
    for (size_t i = 0; i < cfg->n_rules; i++) {
        rt_config_print_rule(cfg, &cfg->rules[i], out);
    }
}
