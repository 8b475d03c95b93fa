#include "dns_name.h"
#include "fwd_config.h"
#include "log.h"
#include "unit.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define STACK_FILE "tests/data/stack/dnsmasq.conf"

/* ---- harness: a config file written from text, read with stderr captured ---- */

/* What the last load produced: the config, the reader's counts and everything it logged. */
static struct fwd_config cfg;
static struct conf_ctx ctx;
static char conf_path[64];
static char logged[8192];

static void capture_begin(void)
{
    unit_capture_begin();
}

static void capture_end(void)
{
    snprintf(logged, sizeof(logged), "%s", unit_capture_end());
}

static int apply_line(struct conf_ctx *c, const char *key, const char *value, void *user)
{
    return fwd_config_apply(user, c, key, value);
}

/* Reads `path` into a fresh default config with a context of our own, so that its error and
 * warning counts can be checked. */
static void load_path(const char *path)
{
    fwd_config_defaults(&cfg);
    memset(&ctx, 0, sizeof(ctx));
    capture_begin();
    (void)conf_read_kv_file(path, apply_line, &cfg, &ctx);
    capture_end();
}

/* Writes `text` to a temporary file (its name in conf_path) and reads it as load_path does. */
static void load(const char *text)
{
    int fd;

    snprintf(conf_path, sizeof(conf_path), "/tmp/pk-fwdconf-XXXXXX");
    fd = mkstemp(conf_path);
    CHECK(fd >= 0);
    CHECK_INT(write(fd, text, strlen(text)), (long long)strlen(text));
    close(fd);
    load_path(conf_path);
    unlink(conf_path);
}

/* Lines in the captured log that start with `level` ("ERROR", "WARNING"). */
static int logged_lines(const char *level)
{
    size_t n = strlen(level);
    int count = 0;

    for (const char *line = logged; *line != '\0';) {
        const char *end = strchr(line, '\n');
        if (strncmp(line, level, n) == 0 && line[n] == ' ') {
            count++;
        }
        if (end == NULL) {
            break;
        }
        line = end + 1;
    }
    return count;
}

/* True when the log holds "<conf_path>:<line>: <message>". */
static bool logged_at(int line, const char *message)
{
    char want[256];

    snprintf(want, sizeof(want), "%s:%d: %s", conf_path, line, message);
    return strstr(logged, want) != NULL;
}

static const char *addr_text(const struct addr *a)
{
    static char text[ADDR_TEXT_MAX];
    return addr_format(a, text, sizeof(text));
}

static const char *domain_text(const struct fwd_domain_server *ds)
{
    static char text[DNS_NAME_TEXT_MAX];

    if (dns_name_to_text(ds->domain, ds->domain_len, text, sizeof(text)) < 0) {
        return "(bad name)";
    }
    return text;
}

/* ---- defaults and the stack's file ---- */

static void test_defaults_follow_dnsmasq(void)
{
    fwd_config_defaults(&cfg);
    CHECK_INT(cfg.port, 53);
    CHECK_INT(cfg.cache_size, 150);
    CHECK_INT(cfg.edns_packet_max, 1232);
    CHECK_INT(cfg.n_servers, 0);
    CHECK_INT(cfg.n_domain_servers, 0);
    CHECK_INT(cfg.n_resolv_files, 0);
    CHECK_INT(cfg.n_listen, 0);
    CHECK(!cfg.no_resolv);
    CHECK(!cfg.no_negcache);
    CHECK_INT(cfg.min_cache_ttl, 0);
    CHECK_INT(cfg.max_cache_ttl, 0);
    CHECK_INT(cfg.max_stale_s, 86400);
    CHECK_INT(cfg.query_timeout_ms, 4000);
    CHECK(cfg.config_file == NULL);
}

static void test_stack_file_loads_with_one_warning_for_dhcp_leasefile(void)
{
    load_path(STACK_FILE);
    CHECK_INT(ctx.errors, 0);
    CHECK_INT(ctx.warnings, 1);
    CHECK_STR(logged, "WARNING [config] " STACK_FILE
                      ":1: dhcp-leasefile is not a forwarding option; ignored\n");
    CHECK_INT(cfg.port, 5301);
    CHECK_INT(cfg.n_resolv_files, 1);
    CHECK_STR(cfg.resolv_files[0], "/etc/dnsmasq-resolv.conf");
}

static void test_read_file_keeps_the_file_name_and_succeeds_on_the_stack_file(void)
{
    fwd_config_defaults(&cfg);
    capture_begin();
    int rc = fwd_config_read_file(&cfg, STACK_FILE);
    capture_end();
    CHECK_INT(rc, 0);
    CHECK_STR(cfg.config_file, STACK_FILE);
    CHECK_INT(cfg.port, 5301);
    CHECK_INT(logged_lines("WARNING"), 1);
    CHECK_INT(logged_lines("ERROR"), 0);
}

static void test_read_file_fails_on_a_file_with_errors(void)
{
    char path[] = "/tmp/pk-fwdconf-XXXXXX";
    const char *text = "port=5301\nno-such-option\n";
    int fd = mkstemp(path);

    CHECK_INT(write(fd, text, strlen(text)), (long long)strlen(text));
    close(fd);
    fwd_config_defaults(&cfg);
    capture_begin();
    int rc = fwd_config_read_file(&cfg, path);
    capture_end();
    unlink(path);
    CHECK_INT(rc, -EINVAL);
    CHECK_INT(logged_lines("ERROR"), 1);
}

static void test_read_file_reports_a_missing_file(void)
{
    fwd_config_defaults(&cfg);
    capture_begin();
    int rc = fwd_config_read_file(&cfg, "/nonexistent/dnsmasq.conf");
    capture_end();
    CHECK_INT(rc, -ENOENT);
    CHECK(strstr(logged, "/nonexistent/dnsmasq.conf: cannot open") != NULL);
}

/* ---- every supported option ---- */

static void test_port_sets_the_listen_port(void)
{
    load("port=5301\n");
    CHECK_INT(ctx.errors, 0);
    CHECK_INT(cfg.port, 5301);
}

static void test_listen_address_takes_a_comma_list_and_repeats(void)
{
    char ip[ADDR_TEXT_MAX];

    load("listen-address=127.0.0.1,::1\nlisten-address=192.0.2.53\n");
    CHECK_INT(ctx.errors, 0);
    CHECK_INT(cfg.n_listen, 3);
    CHECK_STR(addr_format_ip(&cfg.listen[0], ip, sizeof(ip)), "127.0.0.1");
    CHECK_STR(addr_format_ip(&cfg.listen[1], ip, sizeof(ip)), "::1");
    CHECK_STR(addr_format_ip(&cfg.listen[2], ip, sizeof(ip)), "192.0.2.53");
    CHECK_INT(addr_port(&cfg.listen[0]), 0);
}

static void test_interface_takes_a_comma_list_and_repeats(void)
{
    load("interface=eth0,wlan0\ninterface=lo\n");
    CHECK_INT(ctx.errors, 0);
    CHECK_INT(ctx.warnings, 0);
    CHECK_INT(cfg.n_interfaces, 3);
    CHECK_STR(cfg.interfaces[0], "eth0");
    CHECK_STR(cfg.interfaces[1], "wlan0");
    CHECK_STR(cfg.interfaces[2], "lo");
    CHECK_INT(cfg.n_listen, 0);
}

static void test_interface_name_too_long_or_missing_is_an_error(void)
{
    load("interface=averyveryverylongname0\ninterface=,,\n");
    CHECK_INT(ctx.errors, 2);
    CHECK(logged_at(1, "interface: 'averyveryverylongname0' is longer than an interface name"));
    CHECK(logged_at(2, "interface: no name in ',,'"));
    CHECK_INT(cfg.n_interfaces, 0);
}

static void test_listen_address_rejects_a_port(void)
{
    load("listen-address=127.0.0.1:53\n");
    CHECK_INT(ctx.errors, 1);
    CHECK_INT(cfg.n_listen, 0);
}

static void test_resolv_file_repeats_in_order(void)
{
    load("resolv-file=/run/a.conf\nresolv-file=/run/b.conf\n");
    CHECK_INT(ctx.errors, 0);
    CHECK_INT(cfg.n_resolv_files, 2);
    CHECK_STR(cfg.resolv_files[0], "/run/a.conf");
    CHECK_STR(cfg.resolv_files[1], "/run/b.conf");
}

static void test_no_resolv_is_a_bare_flag(void)
{
    load("no-resolv\n");
    CHECK_INT(ctx.errors, 0);
    CHECK(cfg.no_resolv);
}

static void test_server_ip_defaults_to_port_53(void)
{
    load("server=192.0.2.1\n");
    CHECK_INT(ctx.errors, 0);
    CHECK_INT(cfg.n_servers, 1);
    CHECK_STR(addr_text(&cfg.servers[0]), "192.0.2.1:53");
}

static void test_server_ip_hash_port_sets_the_port(void)
{
    load("server=192.0.2.1#5353\n");
    CHECK_INT(ctx.errors, 0);
    CHECK_INT(cfg.n_servers, 1);
    CHECK_STR(addr_text(&cfg.servers[0]), "192.0.2.1:5353");
}

static void test_server_takes_every_ipv6_form_addr_parse_accepts(void)
{
    load("server=2001:db8::1\n"
         "server=[2001:db8::2]\n"
         "server=[2001:db8::3]:5353\n"
         "server=2001:db8::4#5300\n");
    CHECK_INT(ctx.errors, 0);
    CHECK_INT(cfg.n_servers, 4);
    CHECK_STR(addr_text(&cfg.servers[0]), "[2001:db8::1]:53");
    CHECK_STR(addr_text(&cfg.servers[1]), "[2001:db8::2]:53");
    CHECK_STR(addr_text(&cfg.servers[2]), "[2001:db8::3]:5353");
    CHECK_STR(addr_text(&cfg.servers[3]), "[2001:db8::4]:5300");
}

static void test_server_for_two_domains_adds_one_entry_each(void)
{
    load("server=/a.example/b.example/192.0.2.7#5353\n");
    CHECK_INT(ctx.errors, 0);
    CHECK_INT(cfg.n_servers, 0);
    CHECK_INT(cfg.n_domain_servers, 2);
    CHECK_STR(domain_text(&cfg.domain_servers[0]), "a.example.");
    CHECK_STR(domain_text(&cfg.domain_servers[1]), "b.example.");
    for (size_t i = 0; i < 2; i++) {
        CHECK_INT(cfg.domain_servers[i].action, FWD_DOMAIN_SERVER);
        CHECK_STR(addr_text(&cfg.domain_servers[i].addr), "192.0.2.7:5353");
    }
}

static void test_server_domain_without_address_is_local(void)
{
    load("server=/lan/\n");
    CHECK_INT(ctx.errors, 0);
    CHECK_INT(cfg.n_domain_servers, 1);
    CHECK_STR(domain_text(&cfg.domain_servers[0]), "lan.");
    CHECK_INT(cfg.domain_servers[0].action, FWD_DOMAIN_LOCAL);
}

static void test_server_domain_hash_uses_the_ordinary_servers(void)
{
    load("server=/corp.example/#\n");
    CHECK_INT(ctx.errors, 0);
    CHECK_INT(cfg.n_domain_servers, 1);
    CHECK_STR(domain_text(&cfg.domain_servers[0]), "corp.example.");
    CHECK_INT(cfg.domain_servers[0].action, FWD_DOMAIN_DEFAULTS);
}

static void test_local_is_another_spelling_of_server(void)
{
    load("local=/home.arpa/\n");
    CHECK_INT(ctx.errors, 0);
    CHECK_INT(cfg.n_domain_servers, 1);
    CHECK_STR(domain_text(&cfg.domain_servers[0]), "home.arpa.");
    CHECK_INT(cfg.domain_servers[0].action, FWD_DOMAIN_LOCAL);
}

static void test_server_domains_are_lowercased(void)
{
    load("server=/Corp.EXAMPLE/#\n");
    CHECK_INT(ctx.errors, 0);
    CHECK_STR(domain_text(&cfg.domain_servers[0]), "corp.example.");
}

static void test_cache_options_parse(void)
{
    load("cache-size=10000\nno-negcache\nneg-ttl=60\nmin-cache-ttl=3600\nmax-cache-ttl=86400\n");
    CHECK_INT(ctx.errors, 0);
    CHECK_INT(cfg.cache_size, 10000);
    CHECK(cfg.no_negcache);
    CHECK_INT(cfg.neg_ttl, 60);
    CHECK_INT(cfg.min_cache_ttl, 3600);
    CHECK_INT(cfg.max_cache_ttl, 86400);
}

static void test_cache_size_zero_is_accepted(void)
{
    load("cache-size=0\n");
    CHECK_INT(ctx.errors, 0);
    CHECK_INT(cfg.cache_size, 0);
}

static void test_min_cache_ttl_over_an_hour_is_an_error(void)
{
    load("min-cache-ttl=3601\n");
    CHECK_INT(ctx.errors, 1);
    CHECK_INT(cfg.min_cache_ttl, 0);
}

static void test_server_order_and_reload_flags_parse(void)
{
    load("strict-order\nall-servers\nno-poll\nclear-on-reload\nbind-interfaces\n");
    CHECK_INT(ctx.errors, 0);
    CHECK(cfg.strict_order);
    CHECK(cfg.all_servers);
    CHECK(cfg.no_poll);
    CHECK(cfg.clear_on_reload);
    CHECK(cfg.bind_interfaces);
}

static void test_domain_needed_and_bogus_priv_are_bare_flags(void)
{
    load("domain-needed\nbogus-priv\n");
    CHECK_INT(ctx.errors, 0);
    CHECK_INT(ctx.warnings, 0);
    CHECK(cfg.domain_needed);
    CHECK(cfg.bogus_priv);
    load("bogus-priv=yes\n");
    CHECK_INT(ctx.errors, 1);
}

static void test_rebind_options_parse(void)
{
    char text[DNS_NAME_TEXT_MAX];

    load("stop-dns-rebind\nrebind-localhost-ok\nrebind-domain-ok=/Lan/home.arpa/\n"
         "rebind-domain-ok=corp.example\n");
    CHECK_INT(ctx.errors, 0);
    CHECK_INT(ctx.warnings, 0);
    CHECK(cfg.stop_dns_rebind);
    CHECK(cfg.rebind_localhost_ok);
    CHECK_INT(cfg.n_rebind_ok, 3);
    CHECK(dns_name_to_text(cfg.rebind_ok[0].name, cfg.rebind_ok[0].len, text, sizeof(text)) > 0);
    CHECK_STR(text, "lan.");
    CHECK(dns_name_to_text(cfg.rebind_ok[2].name, cfg.rebind_ok[2].len, text, sizeof(text)) > 0);
    CHECK_STR(text, "corp.example.");
    load("rebind-domain-ok=//\nrebind-domain-ok=a..b\n");
    CHECK_INT(ctx.errors, 2);
    CHECK(logged_at(1, "rebind-domain-ok: no domain in '//'"));
    CHECK(logged_at(2, "rebind-domain-ok: 'a..b' is not a domain name"));
}

static void test_bind_dynamic_counts_as_bind_interfaces(void)
{
    load("bind-dynamic\n");
    CHECK_INT(ctx.errors, 0);
    CHECK(cfg.bind_interfaces);
}

static void test_edns_packet_max_takes_512_to_65535(void)
{
    load("edns-packet-max=512\n");
    CHECK_INT(ctx.errors, 0);
    CHECK_INT(cfg.edns_packet_max, 512);

    load("edns-packet-max=65535\n");
    CHECK_INT(ctx.errors, 0);
    CHECK_INT(cfg.edns_packet_max, 65535);
}

static void test_edns_packet_max_outside_512_to_65535_is_an_error(void)
{
    load("edns-packet-max=511\n");
    CHECK_INT(ctx.errors, 1);
    CHECK(logged_at(1, "edns-packet-max: 511 is below 512"));
    CHECK_INT(cfg.edns_packet_max, 1232);

    load("edns-packet-max=65536\n");
    CHECK_INT(ctx.errors, 1);
    CHECK_INT(cfg.edns_packet_max, 1232);
}

static void test_use_stale_cache_bare_keeps_the_default_limit(void)
{
    load("use-stale-cache\n");
    CHECK_INT(ctx.errors, 0);
    CHECK_INT(cfg.max_stale_s, 86400);
}

static void test_use_stale_cache_with_a_value_sets_the_limit(void)
{
    load("use-stale-cache=3600\n");
    CHECK_INT(ctx.errors, 0);
    CHECK_INT(cfg.max_stale_s, 3600);
}

static void test_query_timeout_ms_parses_up_to_a_minute(void)
{
    load("query-timeout-ms=2500\n");
    CHECK_INT(ctx.errors, 0);
    CHECK_INT(cfg.query_timeout_ms, 2500);

    load("query-timeout-ms=60001\n");
    CHECK_INT(ctx.errors, 1);
    CHECK_INT(cfg.query_timeout_ms, 4000);
}

/* ---- errors ---- */

static void test_unknown_option_is_one_error_naming_file_and_line(void)
{
    load("port=5301\nfrobnicate=1\n");
    CHECK_INT(ctx.errors, 1);
    CHECK_INT(ctx.warnings, 0);
    CHECK_INT(logged_lines("ERROR"), 1);
    CHECK(logged_at(2, "unknown option 'frobnicate'"));
    CHECK_INT(cfg.port, 5301);
}

static void test_flag_given_a_value_is_an_error(void)
{
    load("no-resolv=yes\n");
    CHECK_INT(ctx.errors, 1);
    CHECK(logged_at(1, "no-resolv takes no value"));
    CHECK(!cfg.no_resolv);
}

static void test_number_with_junk_is_an_error(void)
{
    load("port=53x\n");
    CHECK_INT(ctx.errors, 1);
    CHECK(logged_at(1, "port: '53x' is not a number from 0 to 65535"));
    CHECK_INT(cfg.port, 53);

    load("cache-size=10k\n");
    CHECK_INT(ctx.errors, 1);
    CHECK_INT(cfg.cache_size, 150);
}

static void test_bad_server_address_is_an_error(void)
{
    load("server=resolver.example\n");
    CHECK_INT(ctx.errors, 1);
    CHECK(logged_at(1, "server: 'resolver.example' is not an address"));
    CHECK_INT(cfg.n_servers, 0);

    load("server=/a.example/192.0.2.300\n");
    CHECK_INT(ctx.errors, 1);
    CHECK(logged_at(1, "server: '192.0.2.300' is not an address"));
    CHECK_INT(cfg.n_domain_servers, 0);
}

static void test_server_domain_without_closing_slash_is_an_error(void)
{
    load("server=/a.example\n");
    CHECK_INT(ctx.errors, 1);
    CHECK_INT(cfg.n_domain_servers, 0);
}

/* dnsmasq's server=//IP (names without a dot go to IP) has no counterpart here; the line must
 * not vanish without a word. */
static void test_server_with_an_empty_domain_is_an_error(void)
{
    load("server=//192.0.2.1\n");
    CHECK_INT(ctx.errors, 1);
    CHECK(logged_at(1, "server: '//192.0.2.1' has an empty domain"));
    CHECK_INT(cfg.n_domain_servers, 0);

    load("server=/a.example//192.0.2.1\n");
    CHECK_INT(ctx.errors, 1);
    CHECK_INT(cfg.n_domain_servers, 0);

    load("server=/a.example//b.example/#\n");
    CHECK_INT(ctx.errors, 1);
    CHECK_INT(cfg.n_domain_servers, 0);
}

static void test_missing_value_is_an_error(void)
{
    load("port\n");
    CHECK_INT(ctx.errors, 1);
    CHECK(logged_at(1, "port needs a value"));

    load("server=\n");
    CHECK_INT(ctx.errors, 1);
    CHECK(logged_at(1, "server needs a value"));
}

static void test_every_error_in_a_file_is_reported(void)
{
    load("port=abc\n"
         "resolv-file=/run/a.conf\n"
         "no-poll=1\n"
         "server=not-an-address\n"
         "\n"
         "# a comment\n"
         "edns-packet-max=100\n"
         "bogus-option\n"
         "resolv-file\n"
         "cache-size=500\n");
    CHECK_INT(ctx.errors, 6);
    CHECK_INT(logged_lines("ERROR"), 6);
    CHECK(logged_at(1, "port: 'abc'"));
    CHECK(logged_at(3, "no-poll takes no value"));
    CHECK(logged_at(4, "server: 'not-an-address'"));
    CHECK(logged_at(7, "edns-packet-max: 100 is below 512"));
    CHECK(logged_at(8, "unknown option 'bogus-option'"));
    CHECK(logged_at(9, "resolv-file needs a value"));
    /* The good lines between the bad ones still apply. */
    CHECK_INT(cfg.n_resolv_files, 1);
    CHECK_INT(cfg.cache_size, 500);
}

static void test_non_forwarding_options_warn_once_each(void)
{
    load("dhcp-range=192.168.0.50,192.168.0.150,12h\n"
         "enable-tftp\n"
         "except-interface=eth0\n"
         "address=/ads.example/1.2.3.4\n");
    CHECK_INT(ctx.errors, 0);
    CHECK_INT(ctx.warnings, 4);
    CHECK_INT(logged_lines("WARNING"), 4);
    CHECK(logged_at(1, "dhcp-range is not a forwarding option; ignored"));
    CHECK(logged_at(2, "enable-tftp is not a forwarding option; ignored"));
    CHECK(logged_at(3, "except-interface is not a forwarding option; ignored"));
    CHECK(logged_at(4, "address is not a forwarding option; ignored"));
    CHECK_INT(cfg.n_servers, 0);
    CHECK_INT(cfg.n_domain_servers, 0);
}

/* ---- copies ---- */

static void test_copy_points_strings_into_its_own_arena(void)
{
    static struct fwd_config copy;

    load("resolv-file=/run/a.conf\n");
    fwd_config_copy(&copy, &cfg);
    memset(cfg.strings, 0, sizeof(cfg.strings)); /* the source goes away */
    CHECK(copy.resolv_files[0] >= copy.strings &&
          copy.resolv_files[0] < copy.strings + sizeof(copy.strings));
    CHECK_STR(copy.resolv_files[0], "/run/a.conf");
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_defaults_follow_dnsmasq),
        UNIT(test_stack_file_loads_with_one_warning_for_dhcp_leasefile),
        UNIT(test_read_file_keeps_the_file_name_and_succeeds_on_the_stack_file),
        UNIT(test_read_file_fails_on_a_file_with_errors),
        UNIT(test_read_file_reports_a_missing_file),
        UNIT(test_port_sets_the_listen_port),
        UNIT(test_listen_address_takes_a_comma_list_and_repeats),
        UNIT(test_interface_takes_a_comma_list_and_repeats),
        UNIT(test_interface_name_too_long_or_missing_is_an_error),
        UNIT(test_listen_address_rejects_a_port),
        UNIT(test_resolv_file_repeats_in_order),
        UNIT(test_no_resolv_is_a_bare_flag),
        UNIT(test_server_ip_defaults_to_port_53),
        UNIT(test_server_ip_hash_port_sets_the_port),
        UNIT(test_server_takes_every_ipv6_form_addr_parse_accepts),
        UNIT(test_server_for_two_domains_adds_one_entry_each),
        UNIT(test_server_domain_without_address_is_local),
        UNIT(test_server_domain_hash_uses_the_ordinary_servers),
        UNIT(test_local_is_another_spelling_of_server),
        UNIT(test_server_domains_are_lowercased),
        UNIT(test_cache_options_parse),
        UNIT(test_cache_size_zero_is_accepted),
        UNIT(test_min_cache_ttl_over_an_hour_is_an_error),
        UNIT(test_server_order_and_reload_flags_parse),
        UNIT(test_domain_needed_and_bogus_priv_are_bare_flags),
        UNIT(test_rebind_options_parse),
        UNIT(test_bind_dynamic_counts_as_bind_interfaces),
        UNIT(test_edns_packet_max_takes_512_to_65535),
        UNIT(test_edns_packet_max_outside_512_to_65535_is_an_error),
        UNIT(test_use_stale_cache_bare_keeps_the_default_limit),
        UNIT(test_use_stale_cache_with_a_value_sets_the_limit),
        UNIT(test_query_timeout_ms_parses_up_to_a_minute),
        UNIT(test_unknown_option_is_one_error_naming_file_and_line),
        UNIT(test_flag_given_a_value_is_an_error),
        UNIT(test_number_with_junk_is_an_error),
        UNIT(test_bad_server_address_is_an_error),
        UNIT(test_server_domain_without_closing_slash_is_an_error),
        UNIT(test_server_with_an_empty_domain_is_an_error),
        UNIT(test_missing_value_is_an_error),
        UNIT(test_every_error_in_a_file_is_reported),
        UNIT(test_non_forwarding_options_warn_once_each),
        UNIT(test_copy_points_strings_into_its_own_arena),
    };

    unsetenv("JOURNAL_STREAM");
    log_init();
    log_set_level(LOG_LEVEL_INFO);
    return unit_run("fwd_config", tests, sizeof(tests) / sizeof(tests[0]));
}
