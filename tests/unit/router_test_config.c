#include "dns_name.h"
#include "rt_config.h"
#include "unit.h"

#include <errno.h>
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
        UNIT(test_missing_file_is_an_error),
    };
    int rc;

    cfg = malloc(sizeof(*cfg));
    rc = unit_run("router_config", tests, sizeof(tests) / sizeof(tests[0]));
    free(cfg);
    return rc;
}
