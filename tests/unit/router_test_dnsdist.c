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

#define STACK_FILE "tests/data/stack/dnsdist.conf"

static void test_stack_dnsdist_conf_reads_unchanged(void)
{
    rt_config_defaults(cfg);
    memset(&ctx, 0, sizeof(ctx));
    unit_capture_begin();
    read_rc = rt_config_read_file(cfg, STACK_FILE, &ctx);
    logged = unit_capture_end();
    CHECK_INT(read_rc, 0);
    CHECK_INT(ctx.warnings, 0);
    CHECK_INT(cfg->format, RT_FORMAT_DNSDIST);
    CHECK_INT(cfg->n_listen, 1);
    CHECK_INT(addr_port(&cfg->listen[0]), 53);
    CHECK_INT(cfg->n_backends, 2);
    CHECK_INT(addr_port(&cfg->backends[0].addr), 5301);
    CHECK_STR(cfg->pools[cfg->backends[0].pools[0]].name, "default");
    CHECK_INT(cfg->backends[0].health, RT_HEALTH_AUTO);
    CHECK_INT(addr_port(&cfg->backends[1].addr), 5300);
    CHECK_STR(cfg->pools[cfg->backends[1].pools[0]].name, "pkdns");
    CHECK_INT(cfg->backends[1].health, RT_HEALTH_UP);
    CHECK_INT(cfg->n_rules, 2);
    CHECK_INT(cfg->rules[0].match[0].kind, RT_MATCH_REGEX);
    CHECK_STR(rt_config_text(cfg, cfg->rules[0].match[0].text),
              "^(([^.]+\\.)+)?[ybndrfg8ejkmcpqxot1uwisza345h769]{52}\\.?$");
    CHECK_STR(cfg->pools[cfg->rules[0].pool].name, "pkdns");
    CHECK_INT(cfg->rules[1].match[0].kind, RT_MATCH_ALL);
    CHECK_STR(cfg->pools[cfg->rules[1].pool].name, "default");
}

static void test_every_supported_call_is_understood(void)
{
    load("-- a comment\n"
         "--[[ a block\n comment ]]\n"
         "setLocal('127.0.0.1:5353')\n"
         "addLocal(\"[::1]:5353\")\n"
         "setACL({'127.0.0.0/8', '::1/128'})\n"
         "addACL('192.0.2.0/24')\n"
         "setServerPolicy(firstAvailable)\n"
         "setServFailWhenNoServer(false)\n"
         "setUDPTimeout(3)\n"
         "setSecurityPollSuffix('')\n"
         "newServer('192.0.2.1')\n"
         "newServer{address='192.0.2.2:5300', pool={'a', 'b'}, name='two',\n"
         "  healthCheckMode='lazy', checkName='example.com', checkType='MX', checkClass=3,\n"
         "  checkInterval=2, checkTimeout=500, maxCheckFailures=3, rise=2, order=4,\n"
         "  weight=9, tcpOnly=true, sockets=2}\n"
         "local srv = newServer{address='192.0.2.3', pool='b'}\n"
         "srv:setUp()\n"
         "addAction(RegexRule([[^www\\.]]), PoolAction('a'))\n"
         "addAction(SuffixMatchNodeRule({'x.test', 'y.test'}), DropAction())\n"
         "addAction(QTypeRule(DNSQType.AAAA), RCodeAction(DNSRCode.REFUSED), {name='v6'})\n"
         "addAction(QTypeRule('MX'), RCodeAction(dnsdist.NXDOMAIN))\n"
         "addAction('z.test', PoolAction('b', true));\n"
         "addAction(AndRule({QTypeRule(1), SuffixMatchNodeRule('w.test')}), PoolAction('a'))\n"
         "addAction(AllRule(), PoolAction(''))\n");
    CHECK_INT(read_rc, 0);
    CHECK_INT(cfg->n_listen, 2);
    CHECK_INT(cfg->n_acl, 3);
    CHECK_INT(cfg->policy, RT_POLICY_FIRST_AVAILABLE);
    CHECK(!cfg->servfail_no_server);
    CHECK_INT(cfg->timeout_ms, 3000);
    CHECK_INT(cfg->n_backends, 3);
    CHECK_STR(cfg->backends[0].name, "192.0.2.1:53");
    CHECK_STR(cfg->pools[cfg->backends[0].pools[0]].name, "");
    const struct rt_backend_config *b = &cfg->backends[1];
    uint8_t example_com[DNS_NAME_MAX];
    size_t example_com_len;
    CHECK_INT(dns_name_from_text("example.com", example_com, &example_com_len), 0);
    CHECK_STR(b->name, "two");
    CHECK_INT(addr_port(&b->addr), 5300);
    CHECK_INT(b->n_pools, 2);
    CHECK_STR(cfg->pools[b->pools[0]].name, "a");
    CHECK_STR(cfg->pools[b->pools[1]].name, "b");
    CHECK_INT(b->health, RT_HEALTH_LAZY);
    CHECK_INT(b->check_name_len, example_com_len);
    CHECK_MEM(b->check_name, example_com, example_com_len);
    CHECK_INT(b->check_type, DNS_TYPE_MX);
    CHECK_INT(b->check_class, DNS_CLASS_CH);
    CHECK_INT(b->check_interval_ms, 2000);
    CHECK_INT(b->check_timeout_ms, 500);
    CHECK_INT(b->max_check_failures, 3);
    CHECK_INT(b->rise, 2);
    CHECK_INT(b->order, 4);
    CHECK_INT(b->weight, 9);
    CHECK(b->tcp_only);
    CHECK_INT(b->sockets, 2);
    CHECK_STR(cfg->pools[cfg->backends[2].pools[0]].name, "b");
    CHECK_INT(cfg->backends[2].health, RT_HEALTH_UP); /* srv:setUp() */
    CHECK_INT(cfg->n_rules, 7);
    CHECK_STR(rt_config_text(cfg, cfg->rules[0].match[0].text), "^www\\.");
    CHECK_STR(rt_config_text(cfg, cfg->rules[1].match[0].text), "x.test y.test");
    CHECK_INT(cfg->rules[1].action, RT_ACTION_DROP);
    CHECK_STR(cfg->rules[2].name, "v6");
    CHECK_INT(cfg->rules[2].match[0].qtypes[0], DNS_TYPE_AAAA);
    CHECK_INT(cfg->rules[2].rcode, DNS_RCODE_REFUSED);
    CHECK_INT(cfg->rules[3].rcode, DNS_RCODE_NXDOMAIN);
    CHECK_INT(cfg->rules[4].match[0].kind, RT_MATCH_SUFFIX);
    CHECK_INT(cfg->rules[5].n_match, 2);
    CHECK_STR(cfg->pools[cfg->rules[6].pool].name, "");
}

/* The check query of backend i: its name as text, type and class. */
static bool check_query_is(size_t i, const char *name, uint16_t type, uint16_t cls)
{
    const struct rt_backend_config *b = &cfg->backends[i];
    uint8_t wire[DNS_NAME_MAX];
    size_t len;

    if (dns_name_from_text(name, wire, &len) != 0 || len != b->check_name_len ||
        memcmp(wire, b->check_name, len) != 0) {
        return false;
    }
    return b->check_type == type && b->check_class == cls;
}

static void test_check_name_alone_is_asked_as_a_in_as_dnsdist_does(void)
{
    load("newServer{address='192.0.2.1', checkName='probe.test'}\n"
         "newServer{address='192.0.2.2', checkName='probe.test', checkType='TXT'}\n"
         "newServer{address='192.0.2.3', checkClass=DNSClass.CHAOS, checkName='probe.test'}\n"
         "newServer{checkType='AAAA', checkName='probe.test', address='192.0.2.4'}\n");
    CHECK_INT(read_rc, 0);
    CHECK(check_query_is(0, "probe.test", DNS_TYPE_A, DNS_CLASS_IN));
    CHECK(check_query_is(1, "probe.test", DNS_TYPE_TXT, DNS_CLASS_IN));
    CHECK(check_query_is(2, "probe.test", DNS_TYPE_A, DNS_CLASS_CH));
    CHECK(check_query_is(3, "probe.test", DNS_TYPE_AAAA, DNS_CLASS_IN));
}

static void test_server_without_check_name_gets_the_identity_check(void)
{
    load("newServer('192.0.2.1')\n"
         "newServer{address='192.0.2.2'}\n"
         "newServer{address='192.0.2.3', checkType='A'}\n"
         "newServer{address='192.0.2.4', checkClass=DNSClass.IN}\n");
    CHECK_INT(read_rc, 0);
    CHECK(check_query_is(0, "id.server", DNS_TYPE_TXT, DNS_CLASS_CH));
    CHECK(check_query_is(1, "id.server", DNS_TYPE_TXT, DNS_CLASS_CH));
    CHECK(check_query_is(2, "id.server", DNS_TYPE_A, DNS_CLASS_CH));
    CHECK(check_query_is(3, "id.server", DNS_TYPE_TXT, DNS_CLASS_IN));
}

static void test_check_name_alone_prints_as_a_in(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out;

    load("newServer{address='192.0.2.1', checkName='probe.test'}\n");
    out = open_memstream(&text, &len);
    rt_config_print(cfg, out);
    fclose(out);
    CHECK(strstr(text, "check_name = probe.test.\ncheck_type = A\ncheck_class = IN\n") != NULL);
    free(text);
}

static void test_server_name_too_long_or_not_a_string_is_reported_as_such(void)
{
    load("newServer{address='192.0.2.1', name=5}\n"
         "newServer{address='192.0.2.2', "
         "name='a1234567890123456789012345678901234567890123456789012345678901234'}\n"
         "newServer{address='192.0.2.3', name=''}\n"
         "newServer{address='192.0.2.4', name='fine'}\n");
    CHECK_INT(read_rc, -EINVAL);
    CHECK(logged_error(1, "name must be a string of 1 to 63 characters"));
    CHECK(logged_error(2, "name must be a string of 1 to 63 characters"));
    CHECK(logged_error(3, "name must be a string of 1 to 63 characters"));
    CHECK(strstr(logged, "is not supported") == NULL);
    CHECK_INT(ctx.errors, 3);
    CHECK_INT(cfg->n_backends, 1);
    CHECK_STR(cfg->backends[0].name, "fine");
}

static void test_string_escapes_are_decoded(void)
{
    load("addAction(RegexRule(\"a\\\\.b\\x41\\65\\tc\"), DropAction())\n");
    CHECK_INT(read_rc, 0);
    CHECK_STR(rt_config_text(cfg, cfg->rules[0].match[0].text), "a\\.bAA\tc");
}

static void test_unsupported_calls_are_errors_naming_line_and_call(void)
{
    load("setLocal('127.0.0.1:53')\n"                      /* 1 */
         "controlSocket('127.0.0.1:5199')\n"               /* 2 */
         "newServer({address='127.0.0.1:5300', qps=10})\n" /* 3 */
         "addAction(MaxQPSIPRule(5), DropAction())\n"      /* 4 */
         "setServerPolicy(chashed)\n"                      /* 5 */
         "if true then setLocal('127.0.0.1:54') end\n"     /* 6 */
         "addAction(AllRule(), PoolAction('x'))\n"         /* 7 */
         "srv = newServer('127.0.0.1:5301')\n"             /* 8 */
         "srv:setQPS(10)\n"                                /* 9 */
         "x = 'a' .. 'b'\n");                              /* 10 */
    CHECK_INT(read_rc, -EINVAL);
    CHECK(logged_error(2, "controlSocket() is not supported"));
    CHECK(logged_error(3, "parameter 'qps' is not supported"));
    CHECK(logged_error(4, "MaxQPSIPRule() is not supported"));
    CHECK(logged_error(5, "chashed is not supported"));
    CHECK(logged_error(6, ""));
    CHECK(logged_error(9, ":setQPS() is not supported"));
    CHECK(logged_error(10, "unsupported symbol"));
    CHECK_INT(ctx.errors, 7);
    /* The good lines around the bad ones still count. */
    CHECK_INT(cfg->n_rules, 1);
}

static void test_syntax_errors_are_reported_and_reading_goes_on(void)
{
    load("setLocal('127.0.0.1:53'\n"                        /* 1: no ')' */
         "newServer{address='127.0.0.1:1'}\n"               /* 2 */
         "setACL('unterminated)\n"                          /* 3 */
         "setUDPTimeout(1.5)\n"                             /* 4 */
         "newServer{address='bad address'}\n"               /* 5 */
         "addAction(RegexRule('a(b'), PoolAction('p'))\n"); /* 6 */
    CHECK_INT(read_rc, -EINVAL);
    CHECK(logged_error(2, "expected ',' or ')'"));
    CHECK(logged_error(3, "unfinished string"));
    CHECK(logged_error(4, "whole number"));
    CHECK(logged_error(5, "bad address"));
    CHECK(logged_error(6, "regex 'a(b'"));
    CHECK_INT(cfg->n_backends, 1); /* line 2, after the error on line 1 */
}

static void test_wrong_argument_types_are_errors(void)
{
    load("setServFailWhenNoServer('yes')\n"
         "setServerPolicy('roundrobin')\n"
         "addAction(AllRule(), 'pool')\n"
         "newServer{address='127.0.0.1', tcpOnly='yes'}\n");
    CHECK_INT(read_rc, -EINVAL);
    CHECK(logged_error(1, "must be a boolean"));
    CHECK(logged_error(2, "must be a policy"));
    CHECK(logged_error(3, "must be a action"));
    CHECK(logged_error(4, "tcpOnly"));
}

static void test_packet_cache_calls_give_pools_their_caches(void)
{
    load("newServer{address='127.0.0.1:5301', pool='default'}\n"
         "newServer{address='127.0.0.1:5300', pool='pkdns'}\n"
         "pc = newPacketCache(10000, {maxTTL=3600, minTTL=5, temporaryFailureTTL=10,\n"
         "  maxNegativeTTL=300, numberOfShards=20, dontAge=false})\n"
         "getPool('default'):setCache(pc)\n"
         "local small = newPacketCache(100)\n"
         "getPool(''):setCache(small)\n"
         "getPool('pkdns'):setCache(newPacketCache(50, {maxTTL=60}))\n");
    CHECK_INT(read_rc, 0);
    CHECK_INT(cfg->n_pools, 3);
    const struct rt_cache_config *c = &cfg->pools[0].cache;
    CHECK_STR(cfg->pools[0].name, "default");
    CHECK_INT(c->size, 10000);
    CHECK_INT(c->max_ttl, 3600);
    CHECK_INT(c->min_ttl, 5);
    CHECK_INT(c->temp_failure_ttl, 10);
    CHECK_INT(c->max_negative_ttl, 300);
    c = &cfg->pools[1].cache;
    CHECK_STR(cfg->pools[1].name, "pkdns");
    CHECK_INT(c->size, 50);
    CHECK_INT(c->max_ttl, 60);
    CHECK_INT(c->temp_failure_ttl, 60); /* dnsdist's defaults for what is not given */
    CHECK_INT(c->max_negative_ttl, 3600);
    CHECK_STR(cfg->pools[2].name, "");
    CHECK_INT(cfg->pools[2].cache.size, 100);
    CHECK_INT(cfg->pools[2].cache.max_ttl, 86400);
}

static void test_packet_cache_errors_name_their_line(void)
{
    load("pc = newPacketCache(100)\n"                                  /* 1 */
         "bad = newPacketCache(0)\n"                                   /* 2 */
         "x = newPacketCache(10, {staleTTL=60, keepStaleData=true})\n" /* 3 */
         "y = newPacketCache(10, {maxTTL=60, ecsParsing=1})\n"         /* 4 */
         "getPool('p'):setCache('pc')\n"                               /* 5 */
         "getPool('p'):unsetCache()\n"                                 /* 6 */
         "getPool(5)\n"                                                /* 7 */
         "newPacketCache(10, {maxTTL=-1})\n"                           /* 8 */
         "getPool('p'):setCache(pc)\n");                               /* 9 */
    CHECK_INT(read_rc, -EINVAL);
    CHECK(logged_error(2, "newPacketCache"));
    CHECK(logged_error(3, "keepStaleData=false"));
    CHECK(logged_error(4, "parameter 'ecsParsing' is not supported"));
    CHECK(logged_error(5, "setCache: argument 1 must be a packet cache"));
    CHECK(logged_error(6, ":unsetCache() is not supported"));
    CHECK(logged_error(7, "getPool: argument 1 must be a string"));
    CHECK(logged_error(8, "maxTTL"));
    CHECK_INT(ctx.errors, 7);
    CHECK_INT(cfg->pools[0].cache.size, 100); /* line 9 still counts */
}

static void test_dnsdist_config_prints_as_native_ini(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out;
    rt_config_defaults(cfg);
    memset(&ctx, 0, sizeof(ctx));
    unit_capture_begin();
    read_rc = rt_config_read_file(cfg, STACK_FILE, &ctx);
    logged = unit_capture_end();
    out = open_memstream(&text, &len);
    rt_config_print(cfg, out);
    fclose(out);
    CHECK(strstr(text, "[backend 127.0.0.1:5300]\naddress = 127.0.0.1:5300\npool = pkdns\n"
                       "health_check = up\n") != NULL);
    CHECK(strstr(text, "match = regex ^(([^.]+\\.)+)?[ybndrfg8ejkmcpqxot1uwisza345h769]{52}"
                       "\\.?$\naction = pool pkdns\n") != NULL);
    CHECK(strstr(text, "match = all\naction = pool default\n") != NULL);
    load(text); /* and the printed form reads back */
    CHECK_INT(read_rc, 0);
    CHECK_INT(cfg->format, RT_FORMAT_INI);
    CHECK_INT(cfg->n_rules, 2);
    free(text);
}

static void test_listeners_repeated_with_reuseport_become_threads(void)
{
    load("setLocal('127.0.0.1:5353', {reusePort=true})\n"
         "addLocal('127.0.0.1:5353', {reusePort=true})\n"
         "addLocal('127.0.0.1:5353', {reusePort=true})\n"
         "addLocal('[::1]:5353', {reusePort=true})\n"
         "addLocal('[::1]:5353', {reusePort=true})\n");
    CHECK_INT(read_rc, 0);
    CHECK_INT(cfg->n_listen, 2);
    CHECK_INT(cfg->threads, 3); /* the most copies of one address */
}

static void test_setlocal_starts_the_listeners_and_threads_afresh(void)
{
    load("addLocal('127.0.0.1:5353', {reusePort=true})\n"
         "addLocal('127.0.0.1:5353', {reusePort=true})\n"
         "setLocal('127.0.0.1:5354')\n");
    CHECK_INT(read_rc, 0);
    CHECK_INT(cfg->n_listen, 1);
    CHECK_INT(addr_port(&cfg->listen[0]), 5354);
    CHECK_INT(cfg->threads, RT_DEFAULT_THREADS);
}

static void test_one_listener_runs_the_default_loops_and_a_cache_one(void)
{
    load("setLocal('127.0.0.1:5353')\n"
         "newServer({address='127.0.0.1:5301'})\n");
    CHECK_INT(read_rc, 0);
    CHECK_INT(cfg->threads, RT_DEFAULT_THREADS);
    load("setLocal('127.0.0.1:5353')\n"
         "newServer({address='127.0.0.1:5301'})\n"
         "pc = newPacketCache(1000)\n"
         "getPool(''):setCache(pc)\n");
    CHECK_INT(read_rc, 0);
    CHECK_INT(cfg->threads, 1);
}

static void test_listener_copies_without_reuseport_and_other_options_are_errors(void)
{
    load("setLocal('127.0.0.1:53')\n"                     /* 1 */
         "addLocal('127.0.0.1:53', {reusePort=true})\n"   /* 2: the first had none */
         "addLocal('127.0.0.1:54', {interface='eth0'})\n" /* 3 */
         "addLocal('127.0.0.1:55', {reusePort=1})\n"      /* 4 */
         "addLocal('127.0.0.1:56', {true})\n");           /* 5 */
    CHECK_INT(read_rc, -EINVAL);
    CHECK(logged_error(2, "127.0.0.1:53 is already a listen address"));
    CHECK(logged_error(3, "option 'interface' is not supported"));
    CHECK(logged_error(4, "reusePort must be true or false"));
    CHECK(logged_error(5, "options table needs named fields"));
    CHECK_INT(ctx.errors, 4);
    CHECK_INT(cfg->threads, RT_DEFAULT_THREADS);
}

/* dnsdist 1.7's own example form: an assignment without `local`, a ';' and a method call on
 * the one line. */
static void test_one_line_server_with_set_up_is_understood(void)
{
    load("srv = newServer({address=\"127.0.0.1:5301\", pool=\"default\"}); srv:setUp()\n"
         "addAction(AllRule(), PoolAction(\"default\"))\n");
    CHECK_INT(read_rc, 0);
    CHECK_INT(ctx.errors, 0);
    CHECK_INT(cfg->n_backends, 1);
    CHECK_INT(addr_port(&cfg->backends[0].addr), 5301);
    CHECK_STR(cfg->pools[cfg->backends[0].pools[0]].name, "default");
    CHECK_INT(cfg->backends[0].health, RT_HEALTH_UP);
    CHECK_INT(cfg->n_rules, 1);
}

static void test_every_bad_key_of_a_server_is_reported_at_its_line(void)
{
    load("newServer({address='192.0.2.1',\n"                          /* 1 */
         "  qps=10,\n"                                                /* 2 */
         "  checkType='NOPE',\n"                                      /* 3 */
         "  pool='x'})\n"                                             /* 4 */
         "newServer({name='a', weight=0})\n"                          /* 5 */
         "newServer({address='192.0.2.2', pool='p q', order=-1})\n"); /* 6 */
    CHECK_INT(read_rc, -EINVAL);
    CHECK(logged_error(2, "parameter 'qps' is not supported"));
    CHECK(logged_error(3, "checkType 'NOPE'"));
    CHECK(logged_error(5, "weight must be a whole number"));
    CHECK(logged_error(5, "no address"));
    CHECK(logged_error(6, "pool name 'p q'"));
    CHECK(logged_error(6, "order must be a whole number"));
    CHECK_INT(ctx.errors, 6);
    CHECK_INT(cfg->n_backends, 0);
}

static void test_lazy_health_check_keys_are_read(void)
{
    load("newServer({address='192.0.2.1', healthCheckMode='lazy',\n"
         "  lazyHealthCheckSampleSize=50, lazyHealthCheckMinSampleCount=10,\n"
         "  lazyHealthCheckThreshold=30, lazyHealthCheckFailedInterval=5,\n"
         "  lazyHealthCheckMode='TimeoutOnly', lazyHealthCheckUseExponentialBackOff=true,\n"
         "  lazyHealthCheckMaxBackOff=60})\n"
         "newServer({address='192.0.2.2', healthCheckMode='lazy'})\n");
    CHECK_INT(read_rc, 0);
    const struct rt_lazy_config *lazy = &cfg->backends[0].lazy;
    CHECK_INT(lazy->sample_size, 50);
    CHECK_INT(lazy->min_samples, 10);
    CHECK_INT(lazy->threshold, 30);
    CHECK_INT(lazy->failed_interval_ms, 5000);
    CHECK(!lazy->servfail_fails);
    CHECK(lazy->backoff);
    CHECK_INT(lazy->max_backoff_ms, 60000);
    lazy = &cfg->backends[1].lazy; /* dnsdist's defaults */
    CHECK_INT(lazy->sample_size, 100);
    CHECK_INT(lazy->min_samples, 1);
    CHECK_INT(lazy->threshold, 20);
    CHECK_INT(lazy->failed_interval_ms, 30000);
    CHECK(lazy->servfail_fails);
    CHECK(!lazy->backoff);
    CHECK_INT(lazy->max_backoff_ms, 3600000);
}

static void test_lazy_health_check_mode_timeout_or_servfail_is_read(void)
{
    load("newServer({address='192.0.2.1', lazyHealthCheckMode='TimeoutOrServFail'})\n");
    CHECK_INT(read_rc, 0);
    CHECK(cfg->backends[0].lazy.servfail_fails);
}

static void test_bad_lazy_health_check_keys_are_reported_at_their_lines(void)
{
    load("newServer({address='192.0.2.1',\n"           /* 1 */
         "  lazyHealthCheckSampleSize=0,\n"            /* 2 */
         "  lazyHealthCheckMinSampleCount=10001,\n"    /* 3 */
         "  lazyHealthCheckThreshold=101,\n"           /* 4 */
         "  lazyHealthCheckFailedInterval=0,\n"        /* 5 */
         "  lazyHealthCheckMode='Sometimes',\n"        /* 6 */
         "  lazyHealthCheckUseExponentialBackOff=1,\n" /* 7 */
         "  lazyHealthCheckMaxBackOff=1.5})\n");       /* 8 */
    CHECK_INT(read_rc, -EINVAL);
    CHECK(logged_error(2, "lazyHealthCheckSampleSize must be a whole number from 1 to 10000"));
    CHECK(logged_error(3, "lazyHealthCheckMinSampleCount must be a whole number"));
    CHECK(logged_error(4, "lazyHealthCheckThreshold must be a whole number from 1 to 100"));
    CHECK(logged_error(5, "lazyHealthCheckFailedInterval must be a whole number"));
    CHECK(logged_error(6, "lazyHealthCheckMode must be \"TimeoutOnly\" or"));
    CHECK(logged_error(7, "lazyHealthCheckUseExponentialBackOff must be true or false"));
    CHECK(logged_error(8, "lazyHealthCheckMaxBackOff must be a whole number"));
    CHECK_INT(ctx.errors, 7);
    CHECK_INT(cfg->n_backends, 0);
}

static void test_lazy_dnsdist_settings_print_as_ini_that_reads_back(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out;

    load("newServer({address='192.0.2.1', healthCheckMode='lazy', lazyHealthCheckThreshold=50,\n"
         "  lazyHealthCheckMode='TimeoutOnly', lazyHealthCheckMaxBackOff=600})\n");
    CHECK_INT(read_rc, 0);
    out = open_memstream(&text, &len);
    rt_config_print(cfg, out);
    fclose(out);
    CHECK(strstr(text, "lazy_threshold = 50\nlazy_mode = timeout-only\n"
                       "lazy_max_backoff_ms = 600000\n") != NULL);
    CHECK(strstr(text, "lazy_sample_size") == NULL); /* defaults are left out */
    load(text);
    CHECK_INT(read_rc, 0);
    CHECK_INT(cfg->backends[0].lazy.threshold, 50);
    CHECK(!cfg->backends[0].lazy.servfail_fails);
    CHECK_INT(cfg->backends[0].lazy.max_backoff_ms, 600000);
    free(text);
}

static void test_bad_pool_name_is_reported_at_its_call(void)
{
    load("newServer({address='192.0.2.1',\n" /* 1 */
         "  pool='a'})\n"                    /* 2 */
         "addAction(AllRule(),\n"            /* 3 */
         "  PoolAction('b c'))\n");          /* 4 */
    CHECK_INT(read_rc, -EINVAL);
    CHECK(logged_error(4, "pool name 'b c'"));
    CHECK_INT(ctx.errors, 1);
}

/* An error in the middle of a table spread over lines skips to the end of its statement: the
 * table's other lines are not read as statements of their own. */
static void test_error_inside_a_table_skips_to_the_end_of_the_statement(void)
{
    load("newServer({\n"                        /* 1 */
         "  address='192.0.2.1',\n"             /* 2 */
         "  checkType=DNSQType.BOGUS,\n"        /* 3 */
         "  pool='x',\n"                        /* 4 */
         "  name='n'\n"                         /* 5 */
         "})\n"                                 /* 6 */
         "newServer({\n"                        /* 7 */
         "  address='192.0.2.2'\n"              /* 8 */
         "  pool='y'\n"                         /* 9: no ',' before it */
         "})\n"                                 /* 10 */
         "addAction(AndRule({\n"                /* 11 */
         "  QTypeRule(DNSQType.NOPE),\n"        /* 12 */
         "  RegexRule('a')\n"                   /* 13 */
         "}), PoolAction('x'))\n"               /* 14 */
         "newServer({address='192.0.2.3'})\n"); /* 15 */
    CHECK_INT(read_rc, -EINVAL);
    CHECK(logged_error(3, "DNSQType.BOGUS"));
    CHECK(logged_error(9, "expected ',' or '}'"));
    CHECK(logged_error(12, "DNSQType.NOPE"));
    CHECK_INT(ctx.errors, 3);
    CHECK_INT(cfg->n_backends, 1);
    CHECK_INT(cfg->n_rules, 0);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_stack_dnsdist_conf_reads_unchanged),
        UNIT(test_every_supported_call_is_understood),
        UNIT(test_check_name_alone_is_asked_as_a_in_as_dnsdist_does),
        UNIT(test_server_without_check_name_gets_the_identity_check),
        UNIT(test_check_name_alone_prints_as_a_in),
        UNIT(test_server_name_too_long_or_not_a_string_is_reported_as_such),
        UNIT(test_string_escapes_are_decoded),
        UNIT(test_unsupported_calls_are_errors_naming_line_and_call),
        UNIT(test_syntax_errors_are_reported_and_reading_goes_on),
        UNIT(test_one_line_server_with_set_up_is_understood),
        UNIT(test_every_bad_key_of_a_server_is_reported_at_its_line),
        UNIT(test_lazy_health_check_keys_are_read),
        UNIT(test_lazy_health_check_mode_timeout_or_servfail_is_read),
        UNIT(test_bad_lazy_health_check_keys_are_reported_at_their_lines),
        UNIT(test_lazy_dnsdist_settings_print_as_ini_that_reads_back),
        UNIT(test_bad_pool_name_is_reported_at_its_call),
        UNIT(test_error_inside_a_table_skips_to_the_end_of_the_statement),
        UNIT(test_wrong_argument_types_are_errors),
        UNIT(test_packet_cache_calls_give_pools_their_caches),
        UNIT(test_packet_cache_errors_name_their_line),
        UNIT(test_dnsdist_config_prints_as_native_ini),
        UNIT(test_listeners_repeated_with_reuseport_become_threads),
        UNIT(test_setlocal_starts_the_listeners_and_threads_afresh),
        UNIT(test_one_listener_runs_the_default_loops_and_a_cache_one),
        UNIT(test_listener_copies_without_reuseport_and_other_options_are_errors),
    };
    int rc;

    cfg = malloc(sizeof(*cfg));
    rc = unit_run("router_dnsdist", tests, sizeof(tests) / sizeof(tests[0]));
    free(cfg);
    return rc;
}
