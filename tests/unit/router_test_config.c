#include "dns_name.h"
#include "rt_config.h"
#include "rt_ini_text.h"
#include "unit.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- harness: a config written from text and read with stderr captured ---- */

static struct rt_config *cfg;
static struct conf_ctx ctx;
static char path[64];
static const char *logged = "";
static int read_rc;

/* Reads `text` as a configuration file (either format), keeping what was logged. */
static void load(const char *text)
{
    CHECK_INT(unit_write_temp(text, path, sizeof(path)), 0);
    rt_config_defaults(cfg);
    memset(&ctx, 0, sizeof(ctx));
    unit_capture_begin();
    read_rc = rt_config_read_file(cfg, path, &ctx);
    logged = unit_capture_end();
    unlink(path);
}

/* True when the log has an error naming line `line` of the file and containing `what`. */
static bool logged_error(int line, const char *what)
{
    return unit_logged_at(logged, path, line, what) != 0;
}

static const char *const full_ini = "; every key of the native format\n"
                                    "[router]\n"
                                    "listen = 127.0.0.1:5353, [::1]:5353\n"
                                    "acl = 127.0.0.0/8 ::1\n"
                                    "acl = 192.0.2.0/24\n"
                                    "policy = roundrobin\n"
                                    "timeout_ms = 1500\n"
                                    "retry = no\n"
                                    "on_timeout = drop\n"
                                    "on_no_server = drop\n"
                                    "max_outstanding = 100\n"
                                    "rate_limit_qps = 50\n"
                                    "rate_limit_burst = 100\n"
                                    "rate_limit_action = refused\n"
                                    "tcp_clients = 10\n"
                                    "tcp_idle_timeout_ms = 3000\n"
                                    "tcp_max_pending = 4\n"
                                    "threads = 1\n"
                                    "[pool pkdns]\n"
                                    "policy = firstAvailable\n"
                                    "cache_size = 5000\n"
                                    "cache_max_ttl = 3600\n"
                                    "cache_min_ttl = 5\n"
                                    "cache_temp_failure_ttl = 0\n"
                                    "cache_max_negative_ttl = 300\n"
                                    "[backend pk]\n"
                                    "address = 127.0.0.1:5300\n"
                                    "pool = pkdns\n"
                                    "health_check = lazy\n"
                                    "check_name = example.com\n"
                                    "check_type = A\n"
                                    "check_class = IN\n"
                                    "check_interval_ms = 500\n"
                                    "check_timeout_ms = 300\n"
                                    "max_check_failures = 3\n"
                                    "rise = 2\n"
                                    "order = 5\n"
                                    "weight = 7\n"
                                    "tcp_only = yes\n"
                                    "sockets = 4\n"
                                    "[backend fwd]\n"
                                    "address = 127.0.0.1\n"
                                    "[rule pkarr]\n"
                                    "match = pkarr key\n"
                                    "action = pool pkdns\n"
                                    "[rule six]\n"
                                    "match = qtype AAAA TYPE65\n"
                                    "match = suffix v6.test, other.test\n"
                                    "action = rcode NXDOMAIN\n"
                                    "[rule bad]\n"
                                    "match = regex ^bad\\.\n"
                                    "action = drop\n"
                                    "[rule rest]\n"
                                    "match = all\n"
                                    "action = pool\n";

static void test_ini_reads_every_key(void)
{
    load(full_ini);
    CHECK_INT(read_rc, 0);
    CHECK_INT(cfg->format, RT_FORMAT_INI);
    CHECK_INT(cfg->n_listen, 2);
    CHECK_INT(addr_port(&cfg->listen[1]), 5353);
    CHECK_INT(cfg->n_acl, 3);
    CHECK_INT(cfg->policy, RT_POLICY_ROUNDROBIN);
    CHECK_INT(cfg->timeout_ms, 1500);
    CHECK(!cfg->retry && !cfg->servfail_timeout && !cfg->servfail_no_server);
    CHECK_INT(cfg->rate_qps, 50);
    CHECK_INT(cfg->rate_action, RT_LIMIT_REFUSED);
    CHECK_INT(cfg->tcp_max_pending, 4);
    CHECK_INT(cfg->n_backends, 2);
    const struct rt_backend_config *b = &cfg->backends[0];
    CHECK_STR(b->name, "pk");
    CHECK_STR(cfg->pools[b->pools[0]].name, "pkdns");
    CHECK(cfg->pools[b->pools[0]].policy_set);
    const struct rt_cache_config *cache = &cfg->pools[b->pools[0]].cache;
    CHECK_INT(cache->size, 5000);
    CHECK_INT(cache->max_ttl, 3600);
    CHECK_INT(cache->min_ttl, 5);
    CHECK_INT(cache->temp_failure_ttl, 0);
    CHECK_INT(cache->max_negative_ttl, 300);
    CHECK_INT(b->health, RT_HEALTH_LAZY);
    CHECK_INT(b->check_type, DNS_TYPE_A);
    CHECK_INT(b->check_class, DNS_CLASS_IN);
    CHECK_INT(b->check_interval_ms, 500);
    CHECK_INT(b->max_check_failures, 3);
    CHECK_INT(b->rise, 2);
    CHECK_INT(b->order, 5);
    CHECK_INT(b->weight, 7);
    CHECK(b->tcp_only);
    CHECK_INT(b->sockets, 4);
    CHECK_INT(addr_port(&cfg->backends[1].addr), 53);
    CHECK_STR(cfg->pools[cfg->backends[1].pools[0]].name, "");
    CHECK_INT(cfg->n_rules, 4);
    CHECK_INT(cfg->rules[0].match[0].kind, RT_MATCH_PKARR);
    CHECK_STR(rt_config_text(cfg, cfg->rules[0].match[0].text), "key");
    CHECK_INT(cfg->rules[1].n_match, 2);
    CHECK_INT(cfg->rules[1].match[0].n_qtypes, 2);
    CHECK_INT(cfg->rules[1].match[0].qtypes[1], 65);
    CHECK_INT(cfg->rules[1].action, RT_ACTION_RCODE);
    CHECK_INT(cfg->rules[1].rcode, DNS_RCODE_NXDOMAIN);
    CHECK_INT(cfg->rules[2].action, RT_ACTION_DROP);
    CHECK_STR(cfg->pools[cfg->rules[3].pool].name, "");
}

static void test_ini_defaults_follow_dnsdist(void)
{
    load("[backend b]\naddress = 192.0.2.1:53\n");
    CHECK_INT(read_rc, 0);
    CHECK_INT(cfg->n_listen, 1);
    CHECK_INT(addr_port(&cfg->listen[0]), 53);
    CHECK_INT(cfg->n_acl, 9); /* dnsdist's default ACL */
    CHECK_INT(cfg->policy, RT_POLICY_LEAST_OUTSTANDING);
    CHECK_INT(cfg->timeout_ms, 2000);
    CHECK_INT(cfg->backends[0].check_type, DNS_TYPE_TXT);
    CHECK_INT(cfg->backends[0].check_class, DNS_CLASS_CH);
    CHECK_INT(cfg->backends[0].check_interval_ms, 1000);
    CHECK_INT(cfg->backends[0].max_check_failures, 1);
    CHECK_INT(cfg->pools[0].cache.size, 0); /* no packet cache */
}

static void test_threads_default_to_two_loops_one_with_a_cache_or_a_lazy_backend(void)
{
    load("[backend b]\naddress = 192.0.2.1\n");
    CHECK_INT(read_rc, 0);
    CHECK_INT(cfg->threads, 2);

    load("[pool]\ncache_size = 100\n[backend b]\naddress = 192.0.2.1\n");
    CHECK_INT(read_rc, 0);
    CHECK_INT(cfg->threads, 1); /* each loop would keep a cache of its own */

    load("[backend b]\naddress = 192.0.2.1\nhealth_check = lazy\n");
    CHECK_INT(read_rc, 0);
    CHECK_INT(cfg->threads, 1); /* each loop would count its own failed queries */

    load("[router]\nthreads = 1\n[backend b]\naddress = 192.0.2.1\n");
    CHECK_INT(cfg->threads, 1);
    load("[router]\nthreads = 3\n[pool]\ncache_size = 100\n[backend b]\naddress = 192.0.2.1\n");
    CHECK_INT(cfg->threads, 3); /* what the file says wins */
}

static void test_ini_pool_cache_defaults_are_dnsdists(void)
{
    load("[pool]\ncache_size = 100\n[backend b]\naddress = 192.0.2.1\n");
    CHECK_INT(read_rc, 0);
    CHECK_INT(cfg->pools[0].cache.size, 100);
    CHECK_INT(cfg->pools[0].cache.max_ttl, 86400);
    CHECK_INT(cfg->pools[0].cache.min_ttl, 0);
    CHECK_INT(cfg->pools[0].cache.temp_failure_ttl, 60);
    CHECK_INT(cfg->pools[0].cache.max_negative_ttl, 3600);
}

static void test_ini_bad_cache_values_are_errors_with_their_line(void)
{
    load("[pool p]\n"                            /* 1 */
         "cache_size = many\n"                   /* 2 */
         "cache_max_ttl = -1\n"                  /* 3 */
         "cache_max_negative_ttl = 3000000000\n" /* 4 */
         "cache_stale_ttl = 60\n");              /* 5 */
    CHECK_INT(read_rc, -EINVAL);
    CHECK(logged_error(2, "cache_size"));
    CHECK(logged_error(3, "cache_max_ttl"));
    CHECK(logged_error(4, "cache_max_negative_ttl"));
    CHECK(logged_error(5, "unknown key 'cache_stale_ttl'"));
}

static void test_ini_reports_every_error_with_its_line(void)
{
    load("[router]\n"                 /* 1 */
         "timeout_ms = soon\n"        /* 2 */
         "colour = blue\n"            /* 3 */
         "[backend b]\n"              /* 4 */
         "address = not-an-ip\n"      /* 5 */
         "health_check = sometimes\n" /* 6 */
         "[rule r]\n"                 /* 7 */
         "match = regex a(b\n"        /* 8 */
         "action = pool\n"            /* 9 */
         "[rule s]\n"                 /* 10 */
         "match = glob *.test\n"      /* 11 */
         "action = teleport\n"        /* 12 */
         "[mystery]\n"                /* 13 */
         "key = value\n");            /* 14 */
    CHECK_INT(read_rc, -EINVAL);
    CHECK(logged_error(2, "timeout_ms"));
    CHECK(logged_error(3, "unknown key 'colour'"));
    CHECK(logged_error(5, "not-an-ip"));
    CHECK(logged_error(6, "sometimes"));
    CHECK(logged_error(8, "regex 'a(b'"));
    CHECK(logged_error(11, "glob"));
    CHECK(logged_error(12, "teleport"));
    CHECK(logged_error(13, "unknown section [mystery]"));
    CHECK(ctx.errors >= 8);
}

static void test_ini_rule_needs_match_and_action(void)
{
    load("[rule r]\nmatch = all\n[rule s]\naction = drop\n");
    CHECK_INT(read_rc, -EINVAL);
    CHECK(logged_error(1, "[rule r] has no action"));
    CHECK(logged_error(3, "[rule s] has no match"));
    CHECK_INT(ctx.errors, 2);
}

static void test_ini_backend_needs_an_address(void)
{
    load("[backend b]\npool = x\n");
    CHECK_INT(read_rc, -EINVAL);
    CHECK(logged_error(1, "[backend b] has no address"));
    CHECK_INT(ctx.errors, 1);
}

static void test_ini_backend_section_without_keys_is_an_error_at_its_header(void)
{
    load("[backend x]\n"             /* 1 */
         "address = 192.0.2.1\n"     /* 2 */
         "\n"                        /* 3 */
         "[backend y]\n"             /* 4 */
         "; nothing but a comment\n" /* 5 */
         "[rule r]\n"                /* 6 */
         "match = all\n"             /* 7 */
         "action = pool\n");         /* 8 */
    CHECK_INT(read_rc, -EINVAL);
    CHECK(logged_error(4, "[backend y] has no address"));
    CHECK_INT(ctx.errors, 1);
}

static void test_ini_unknown_section_without_keys_is_an_error_at_its_header(void)
{
    load("[backend x]\naddress = 192.0.2.1\n[bogus]\n[]\n");
    CHECK_INT(read_rc, -EINVAL);
    CHECK(logged_error(3, "unknown section [bogus]"));
    CHECK(logged_error(4, "unknown section []"));
    CHECK_INT(ctx.errors, 2);
}

static void test_ini_rule_section_without_keys_is_an_error_at_its_header(void)
{
    load("[backend x]\naddress = 192.0.2.1\n[rule empty]\n");
    CHECK_INT(read_rc, -EINVAL);
    CHECK(logged_error(3, "[rule empty] has no action"));
    CHECK(logged_error(3, "[rule empty] has no match"));
}

static void test_ini_section_needs_a_name_that_fits(void)
{
    load("[backend]\n"
         "address = 192.0.2.1\n"
         "[rule a1234567890123456789012345678901234567890123456789012345678901234]\n"
         "match = all\n"
         "action = drop\n");
    CHECK_INT(read_rc, -EINVAL);
    CHECK(logged_error(1, "[backend NAME]: the name must have 1 to 63 characters"));
    CHECK(logged_error(3, "[rule NAME]: the name must have 1 to 63 characters"));
    CHECK_INT(ctx.errors, 2);
}

static void test_ini_repeated_header_is_a_second_backend(void)
{
    load("[backend b]\naddress = 192.0.2.1\n[backend b]\naddress = 192.0.2.2\n");
    CHECK_INT(cfg->n_backends, 2);
    CHECK_INT(read_rc, -EINVAL);
    CHECK(logged_error(3, "b"));
}

static void test_rule_to_empty_pool_is_a_warning(void)
{
    load("[rule r]\nmatch = all\naction = pool nowhere\n");
    CHECK_INT(read_rc, 0);
    CHECK_INT(ctx.warnings, 1);
    CHECK(strstr(logged, "no backend") != NULL);
}

static void test_printed_config_reads_back_the_same(void)
{
    char *first = NULL, *second = NULL;
    size_t first_len = 0, second_len = 0;
    FILE *out;

    load(full_ini);
    out = open_memstream(&first, &first_len);
    cfg->config_file = 0;
    rt_config_print(cfg, out);
    fclose(out);
    load(first);
    CHECK_INT(read_rc, 0);
    out = open_memstream(&second, &second_len);
    cfg->config_file = 0;
    rt_config_print(cfg, out);
    fclose(out);
    CHECK_STR(second, first);
    free(first);
    free(second);
}

/* ---- --print-config reads back as the same configuration ---- */

/* Appends printf output to the text being built in buf[0..cap). */
static void append(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void append(char *buf, size_t cap, const char *fmt, ...)
{
    size_t used = strlen(buf);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf + used, cap - used, fmt, ap);
    va_end(ap);
}

/* The configuration printed (without the name of its file), in a new string. */
static char *printed(struct rt_config *c)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    c->config_file = 0;
    rt_config_print(c, out);
    fclose(out);
    return text;
}

static void check_same_pool(const struct rt_config *a, uint16_t pa, const struct rt_config *b,
                            uint16_t pb)
{
    CHECK_STR(b->pools[pb].name, a->pools[pa].name);
    CHECK_INT(b->pools[pb].policy_set, a->pools[pa].policy_set);
    CHECK(!a->pools[pa].policy_set || b->pools[pb].policy == a->pools[pa].policy);
    CHECK_MEM(&b->pools[pb].cache, &a->pools[pa].cache, sizeof(a->pools[pa].cache));
}

static void check_same_backend(const struct rt_config *a, const struct rt_backend_config *x,
                               const struct rt_config *b, const struct rt_backend_config *y)
{
    CHECK_STR(y->name, x->name);
    CHECK(addr_equal(&y->addr, &x->addr));
    CHECK_INT(y->n_pools, x->n_pools);
    for (size_t p = 0; p < x->n_pools && p < y->n_pools; p++) {
        check_same_pool(a, x->pools[p], b, y->pools[p]);
    }
    CHECK_INT(y->check_name_len, x->check_name_len);
    CHECK_MEM(y->check_name, x->check_name, x->check_name_len);
    CHECK(y->health == x->health && y->check_type == x->check_type &&
          y->check_class == x->check_class && y->tcp_only == x->tcp_only);
    CHECK(y->check_interval_ms == x->check_interval_ms &&
          y->check_timeout_ms == x->check_timeout_ms &&
          y->max_check_failures == x->max_check_failures && y->rise == x->rise);
    CHECK(y->order == x->order && y->weight == x->weight && y->sockets == x->sockets);
    CHECK_MEM(&y->lazy, &x->lazy, sizeof(x->lazy));
}

static void check_same_rule(const struct rt_config *a, const struct rt_rule_config *x,
                            const struct rt_config *b, const struct rt_rule_config *y)
{
    CHECK_STR(y->name, x->name);
    CHECK_INT(y->n_match, x->n_match);
    for (size_t m = 0; m < x->n_match && m < y->n_match; m++) {
        CHECK_INT(y->match[m].kind, x->match[m].kind);
        CHECK_STR(rt_config_text(b, y->match[m].text), rt_config_text(a, x->match[m].text));
        CHECK_INT(y->match[m].n_qtypes, x->match[m].n_qtypes);
        CHECK_MEM(y->match[m].qtypes, x->match[m].qtypes, sizeof(x->match[m].qtypes));
    }
    CHECK(y->action == x->action && y->rcode == x->rcode);
    if (x->action == RT_ACTION_POOL) {
        check_same_pool(a, x->pool, b, y->pool);
    }
}

/* Everything a configuration says, compared field by field (lines, the file and the order of
 * pools aside). */
static void check_same_config(const struct rt_config *a, const struct rt_config *b)
{
    CHECK_INT(b->n_listen, a->n_listen);
    for (size_t i = 0; i < a->n_listen && i < b->n_listen; i++) {
        CHECK(addr_equal(&b->listen[i], &a->listen[i]));
    }
    CHECK_INT(b->n_acl, a->n_acl);
    CHECK_MEM(b->acl, a->acl, a->n_acl * sizeof(a->acl[0]));
    CHECK(b->policy == a->policy && b->timeout_ms == a->timeout_ms && b->retry == a->retry);
    CHECK(b->servfail_timeout == a->servfail_timeout &&
          b->servfail_no_server == a->servfail_no_server &&
          b->max_outstanding == a->max_outstanding);
    CHECK(b->rate_qps == a->rate_qps && b->rate_burst == a->rate_burst &&
          b->rate_action == a->rate_action && b->rate_table_size == a->rate_table_size);
    CHECK(b->tcp_clients == a->tcp_clients && b->tcp_idle_timeout_ms == a->tcp_idle_timeout_ms &&
          b->tcp_max_pending == a->tcp_max_pending && b->threads == a->threads);
    CHECK_INT(b->n_backends, a->n_backends);
    for (size_t i = 0; i < a->n_backends && i < b->n_backends; i++) {
        check_same_backend(a, &a->backends[i], b, &b->backends[i]);
    }
    CHECK_INT(b->n_rules, a->n_rules);
    for (size_t i = 0; i < a->n_rules && i < b->n_rules; i++) {
        check_same_rule(a, &a->rules[i], b, &b->rules[i]);
    }
}

/* Loads text, prints it, loads the print: both loads must hold the same configuration and
 * the second print must be the first. */
static void check_round_trip(const char *text)
{
    struct rt_config *first = malloc(sizeof(*first));
    char *first_text, *second_text;

    load(text);
    CHECK_INT(read_rc, 0);
    memcpy(first, cfg, sizeof(*first));
    first_text = printed(cfg);
    load(first_text);
    if (read_rc != 0) {
        fprintf(stderr, "  the printed configuration does not read back:\n%s\n%s", first_text,
                logged);
    }
    CHECK_INT(read_rc, 0);
    check_same_config(first, cfg);
    second_text = printed(cfg);
    CHECK_STR(second_text, first_text);
    free(first_text);
    free(second_text);
    free(first);
}

/* A dnsdist file with what one line of INI cannot hold bare: regexes with " ;", white space
 * at the ends, a leading quote, a backslash, or none at all; a suffix list, a regex and a
 * check name each longer than a line; a backend named by its IPv6 address (a ']' in it) and
 * one with a ';' in its name; a backend in the default pool and another, and one in eight
 * pools with long names; sixteen listen addresses; an empty ACL. */
static void test_printed_dnsdist_config_with_awkward_values_reads_back_the_same(void)
{
    static char text[16384];
    char name[64];

    text[0] = '\0';
    append(text, sizeof(text), "setLocal(\"127.0.0.1:5300\")\n");
    for (int i = 1; i < RT_MAX_LISTEN; i++) {
        append(text, sizeof(text), "addLocal(\"[2001:db8:1111:2222:3333:4444:5555:%x]:5301\")\n",
               i);
    }
    append(text, sizeof(text),
           "setACL({})\nnewServer({address=\"[::1]:5301\", pool={\"\", \"p\"}, "
           "checkName=\"");
    for (int label = 0; label < 4; label++) {
        append(text, sizeof(text), "%.60s.",
               "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghij");
    }
    append(text, sizeof(text),
           "test\"})\nnewServer({address=\"192.0.2.1\", name=\"odd ; one]\", "
           "pool={");
    for (int p = 0; p < RT_MAX_BACKEND_POOLS; p++) {
        snprintf(name, sizeof(name), "pool%d-%.57s", p,
                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        append(text, sizeof(text), "%s\"%s\"", p > 0 ? ", " : "", name);
    }
    append(text, sizeof(text),
           "}})\n"
           "addAction(RegexRule(\"^(a|b) ;x$\"), PoolAction(\"p\"), "
           "{name=\"[first ; rule]\"})\n"
           "addAction(RegexRule(\" spaced \"), PoolAction(\"\"))\n"
           "addAction(RegexRule(\"\\\"quoted\\\\.\"), DropAction())\n"
           "addAction(RegexRule(\"\"), PoolAction(\"p\"))\n"
           "addAction(RegexRule(\"^(");
    for (int i = 0; i < 30; i++) {
        append(text, sizeof(text), "alternative%02d|", i);
    }
    append(text, sizeof(text), "z) #x$\"), DropAction())\naddAction(SuffixMatchNodeRule({");
    for (int i = 0; i < 30; i++) {
        append(text, sizeof(text), "%s\"zone-%02d.example.org\"", i > 0 ? ", " : "", i);
    }
    append(text, sizeof(text), "}), PoolAction(\"p\"))\n");
    check_round_trip(text);
    CHECK_INT(cfg->n_listen, RT_MAX_LISTEN);
    CHECK_INT(cfg->n_acl, 0);
    CHECK_STR(cfg->backends[0].name, "[::1]:5301");
    CHECK_STR(cfg->rules[1].name, "rule2");
    CHECK_STR(rt_config_text(cfg, cfg->rules[0].match[0].text), "^(a|b) ;x$");
    CHECK_STR(rt_config_text(cfg, cfg->rules[1].match[0].text), " spaced ");
    CHECK_STR(rt_config_text(cfg, cfg->rules[2].match[0].text), "\"quoted\\.");
    CHECK_INT(cfg->rules[5].match[0].kind, RT_MATCH_SUFFIX);
}

/* The native keys --print-config leaves out when they are at their defaults come back too. */
static void test_printed_ini_with_rate_limits_reads_back_the_same(void)
{
    check_round_trip("[router]\nrate_limit_qps = 5\nrate_limit_table = 1000\n"
                     "[backend b]\naddress = 192.0.2.1\npool = a\npool = \"\" b\n"
                     "[rule r]\nmatch = pkarr\naction = pool a\n");
    CHECK_INT(cfg->rate_table_size, 1000);
    CHECK_INT(cfg->backends[0].n_pools, 3);
}

static void test_printed_ini_with_lazy_health_check_keys_reads_back_the_same(void)
{
    check_round_trip("[backend b]\naddress = 192.0.2.1\nhealth_check = lazy\n"
                     "lazy_sample_size = 40\nlazy_min_samples = 8\nlazy_threshold = 25\n"
                     "lazy_failed_interval_ms = 1500\nlazy_mode = timeout-only\n"
                     "lazy_backoff = yes\nlazy_max_backoff_ms = 90000\n");
    const struct rt_lazy_config *lazy = &cfg->backends[0].lazy;
    CHECK_INT(lazy->sample_size, 40);
    CHECK_INT(lazy->min_samples, 8);
    CHECK_INT(lazy->threshold, 25);
    CHECK_INT(lazy->failed_interval_ms, 1500);
    CHECK(!lazy->servfail_fails);
    CHECK(lazy->backoff);
    CHECK_INT(lazy->max_backoff_ms, 90000);
}

static void test_bad_lazy_health_check_keys_are_reported_at_their_lines(void)
{
    load("[backend b]\n"                      /* 1 */
         "address = 192.0.2.1\n"              /* 2 */
         "lazy_sample_size = 10001\n"         /* 3 */
         "lazy_min_samples = 0\n"             /* 4 */
         "lazy_threshold = 101\n"             /* 5 */
         "lazy_failed_interval_ms = 0\n"      /* 6 */
         "lazy_mode = servfail-only\n"        /* 7 */
         "lazy_backoff = sometimes\n"         /* 8 */
         "lazy_max_backoff_ms = 86400001\n"); /* 9 */
    CHECK_INT(read_rc, -EINVAL);
    CHECK(logged_error(3, "lazy_sample_size: '10001' is not a number from 1 to 10000"));
    CHECK(logged_error(4, "lazy_min_samples"));
    CHECK(logged_error(5, "lazy_threshold: '101' is not a number from 1 to 100"));
    CHECK(logged_error(6, "lazy_failed_interval_ms"));
    CHECK(logged_error(7, "lazy_mode: 'servfail-only' is neither timeout-only nor"));
    CHECK(logged_error(8, "lazy_backoff: 'sometimes' is not yes or no"));
    CHECK(logged_error(9, "lazy_max_backoff_ms"));
    CHECK_INT(ctx.errors, 7);
}

/* Texts of every length up to a few lines, of letters, runs of spaces, tabs, ';', '#' and
 * quotes (all of them literal characters to a regex), printed as a `match = regex` line and
 * read back: each is itself again. */
static void test_printed_texts_read_back_as_themselves(void)
{
    static const char alphabet[] = "ab.-    \t;#\"";
    char text[400], ini[4096];
    FILE *out;

    srandom(7);
    for (int i = 0; i < 300; i++) {
        size_t len = 1 + (size_t)random() % (sizeof(text) - 1);
        for (size_t k = 0; k < len; k++) {
            text[k] = alphabet[(size_t)random() % (sizeof(alphabet) - 1)];
        }
        text[len] = '\0';
        out = fmemopen(ini, sizeof(ini), "w");
        fputs("[backend b]\naddress = 192.0.2.1\n[rule r]\n", out);
        rt_ini_print_text(out, "match = regex ", text);
        fputs("action = drop\n", out);
        fclose(out);
        load(ini);
        CHECK_INT(read_rc, 0);
        CHECK_STR(rt_config_text(cfg, cfg->rules[0].match[0].text), text);
    }
}

static void test_quoted_value_goes_on_in_indented_lines(void)
{
    load("[backend b]\n"                     /* 1 */
         "address = 192.0.2.1\n"             /* 2 */
         "name = \"b \\x5b1\\x5d\"\n"        /* 3 */
         "[rule r]\n"                        /* 4 */
         "match = regex \"^a\n"              /* 5 */
         "    b\\x3b \\x20\\\\\\\"\\x23\"\n" /* 6 */
         "action = drop\n");                 /* 7 */
    CHECK_INT(read_rc, 0);
    CHECK_STR(cfg->backends[0].name, "b [1]");
    CHECK_STR(rt_config_text(cfg, cfg->rules[0].match[0].text), "^ab;  \\\"#");
    CHECK_INT(cfg->rules[0].match[0].line, 5);
}

static void test_unclosed_quoted_value_is_an_error_at_its_first_line(void)
{
    load("[backend b]\n"              /* 1 */
         "address = 192.0.2.1\n"      /* 2 */
         "[rule r]\n"                 /* 3 */
         "match = regex \"^a\n"       /* 4 */
         "action = drop\n"            /* 5 */
         "[rule s]\n"                 /* 6 */
         "match = suffix \"a\\qb\"\n" /* 7 */
         "action = drop\n");          /* 8 */
    CHECK_INT(read_rc, -EINVAL);
    CHECK(logged_error(4, "not closed"));
    CHECK(logged_error(7, "bad quoting"));
}

static void test_missing_file_is_an_error(void)
{
    rt_config_defaults(cfg);
    memset(&ctx, 0, sizeof(ctx));
    unit_capture_begin();
    read_rc = rt_config_read_file(cfg, "/nonexistent/router.ini", &ctx);
    logged = unit_capture_end();
    CHECK_INT(read_rc, -ENOENT);
    CHECK_INT(ctx.errors, 1);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_ini_reads_every_key),
        UNIT(test_ini_defaults_follow_dnsdist),
        UNIT(test_threads_default_to_two_loops_one_with_a_cache_or_a_lazy_backend),
        UNIT(test_ini_pool_cache_defaults_are_dnsdists),
        UNIT(test_ini_bad_cache_values_are_errors_with_their_line),
        UNIT(test_ini_reports_every_error_with_its_line),
        UNIT(test_ini_rule_needs_match_and_action),
        UNIT(test_ini_backend_needs_an_address),
        UNIT(test_ini_backend_section_without_keys_is_an_error_at_its_header),
        UNIT(test_ini_unknown_section_without_keys_is_an_error_at_its_header),
        UNIT(test_ini_rule_section_without_keys_is_an_error_at_its_header),
        UNIT(test_ini_section_needs_a_name_that_fits),
        UNIT(test_ini_repeated_header_is_a_second_backend),
        UNIT(test_rule_to_empty_pool_is_a_warning),
        UNIT(test_printed_config_reads_back_the_same),
        UNIT(test_printed_dnsdist_config_with_awkward_values_reads_back_the_same),
        UNIT(test_printed_ini_with_rate_limits_reads_back_the_same),
        UNIT(test_printed_ini_with_lazy_health_check_keys_reads_back_the_same),
        UNIT(test_bad_lazy_health_check_keys_are_reported_at_their_lines),
        UNIT(test_printed_texts_read_back_as_themselves),
        UNIT(test_quoted_value_goes_on_in_indented_lines),
        UNIT(test_unclosed_quoted_value_is_an_error_at_its_first_line),
        UNIT(test_missing_file_is_an_error),
    };
    int rc;

    cfg = malloc(sizeof(*cfg));
    rc = unit_run("router_config", tests, sizeof(tests) / sizeof(tests[0]));
    free(cfg);
    return rc;
}
