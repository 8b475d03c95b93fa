#include "dns_name.h"
#include "log.h"
#include "pk_args.h"
#include "pk_config.h"
#include "unit.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define STACK_FILE "tests/data/stack/pkdns.toml"

/* ---- harness: config files written from text, read with stderr captured ---- */

static struct pk_config cfg;
static struct conf_ctx ctx;
static char dir[] = "/tmp/pk-config-XXXXXX";
static char path[256];
static char logged[8192];
static int capture_fd = -1;
static int saved_stderr = -1;

static void capture_begin(void)
{
    char tmp[] = "/tmp/pk-config-log-XXXXXX";

    capture_fd = mkstemp(tmp);
    unlink(tmp);
    fflush(stderr);
    saved_stderr = dup(2);
    dup2(capture_fd, 2);
}

static void capture_end(void)
{
    ssize_t n;

    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    lseek(capture_fd, 0, SEEK_SET);
    n = read(capture_fd, logged, sizeof(logged) - 1);
    logged[n > 0 ? n : 0] = '\0';
    close(capture_fd);
}

static void write_file(const char *name, const char *text)
{
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    CHECK(f != NULL);
    fputs(text, f);
    fclose(f);
}

/* Reads text as a config file into a fresh default config; returns the reader's result. */
static int load_text(const char *text)
{
    int rc;

    write_file("pkdns.toml", text);
    pk_config_defaults(&cfg);
    memset(&ctx, 0, sizeof(ctx));
    capture_begin();
    rc = pk_config_read_file(&cfg, path, &ctx);
    capture_end();
    return rc;
}

static const char *fmt(const struct addr *a)
{
    static char text[ADDR_TEXT_MAX];

    return addr_format(a, text, sizeof(text));
}

static bool logged_has(const char *s)
{
    return strstr(logged, s) != NULL;
}

/* ---- the file ---- */

static void test_config_defaults_are_the_rust_pkdns_defaults(void)
{
    pk_config_defaults(&cfg);
    CHECK_STR(fmt(&cfg.socket), "0.0.0.0:53");
    CHECK_STR(fmt(&cfg.forward), "8.8.8.8:53");
    CHECK(!cfg.doh_enabled);
    CHECK(!cfg.verbose);
    CHECK_INT(cfg.min_ttl, 60);
    CHECK_INT(cfg.max_ttl, 86400);
    CHECK_INT(cfg.query_rate_limit, 100);
    CHECK_INT(cfg.query_rate_limit_burst, 200);
    CHECK(!cfg.disable_any_queries);
    CHECK_INT(cfg.icann_cache_mb, 100);
    CHECK_INT(cfg.max_recursion_depth, 15);
    CHECK_INT(cfg.dht_cache_mb, 100);
    CHECK_INT(cfg.dht_query_rate_limit, 5);
    CHECK_INT(cfg.dht_query_rate_limit_burst, 25);
    CHECK_STR(cfg.top_level_domain, "key");
    CHECK_INT(cfg.tld_len, 5);
    CHECK_MEM(cfg.tld, "\x03key\x00", 5);
}

static void test_config_extension_defaults(void)
{
    struct addr a;

    pk_config_defaults(&cfg);
    CHECK_INT(cfg.answer_timeout_ms, 1500);
    CHECK_INT(cfg.max_waiting_queries, 1024);
    CHECK(cfg.read_only);
    CHECK(!cfg.bootstrap_set);
    CHECK_INT(cfg.dht_port, 0);
    CHECK_INT(cfg.node_rate_limit, 0);
    CHECK_INT(cfg.max_queued_lookups, 256);
    CHECK_INT(cfg.n_acl, 9);
    addr_parse("192.168.1.7", 53, &a);
    CHECK(addr_prefix_match(&cfg.acl[4], &a));
}

static void test_config_stack_file_loads_unchanged(void)
{
    pk_config_defaults(&cfg);
    memset(&ctx, 0, sizeof(ctx));
    capture_begin();
    CHECK_INT(pk_config_read_file(&cfg, STACK_FILE, &ctx), 0);
    capture_end();
    CHECK_INT(ctx.errors, 0);
    CHECK_INT(ctx.warnings, 0);
    CHECK_STR(fmt(&cfg.socket), "0.0.0.0:5300");
    CHECK_STR(fmt(&cfg.forward), "8.8.8.8:53");
    CHECK_STR(cfg.config_file, STACK_FILE);
}

static void test_config_reads_every_rust_key(void)
{
    CHECK_INT(load_text("# a comment\n"
                        "[general]\n"
                        "socket = \"127.0.0.1:5300\"  # trailing comment\n"
                        "forward = '9.9.9.9:53'\n"
                        "dns_over_http_socket = \"127.0.0.1:3000\"\n"
                        "verbose = true\n"
                        "[dns]\n"
                        "min_ttl = 30\n"
                        "max_ttl = 3600\n"
                        "query_rate_limit = 0\n"
                        "query_rate_limit_burst = 5\n"
                        "disable_any_queries = true\n"
                        "icann_cache_mb = 7\n"
                        "max_recursion_depth = 3\n"
                        "[dht]\n"
                        "dht_cache_mb = 9\n"
                        "dht_query_rate_limit = 1\n"
                        "dht_query_rate_limit_burst = 2\n"
                        "top_level_domain = \"pkd\"\n"),
              0);
    CHECK_INT(ctx.errors + ctx.warnings, 0);
    CHECK_STR(fmt(&cfg.socket), "127.0.0.1:5300");
    CHECK_STR(fmt(&cfg.forward), "9.9.9.9:53");
    CHECK(cfg.doh_enabled);
    CHECK_STR(fmt(&cfg.dns_over_http_socket), "127.0.0.1:3000");
    CHECK(cfg.verbose);
    CHECK_INT(cfg.min_ttl, 30);
    CHECK_INT(cfg.max_ttl, 3600);
    CHECK_INT(cfg.query_rate_limit, 0);
    CHECK_INT(cfg.query_rate_limit_burst, 5);
    CHECK(cfg.disable_any_queries);
    CHECK_INT(cfg.icann_cache_mb, 7);
    CHECK_INT(cfg.max_recursion_depth, 3);
    CHECK_INT(cfg.dht_cache_mb, 9);
    CHECK_INT(cfg.dht_query_rate_limit, 1);
    CHECK_INT(cfg.dht_query_rate_limit_burst, 2);
    CHECK_STR(cfg.top_level_domain, "pkd");
    CHECK_MEM(cfg.tld, "\x03pkd\x00", 5);
}

static void test_config_reads_the_extensions(void)
{
    struct addr a;

    CHECK_INT(load_text("[general]\n"
                        "acl = [\"10.1.0.0/16\", \"::1\"]\n"
                        "[dns]\n"
                        "answer_timeout_ms = 800\n"
                        "max_waiting_queries = 10\n"
                        "[dht]\n"
                        "bootstrap = [\"127.0.0.1:6881\", \"dht.example.org:25401\"]\n"
                        "port = 6881\n"
                        "state_dir = \"/var/lib/pkdns\"\n"
                        "read_only = false\n"
                        "node_rate_limit = 100000\n"
                        "max_queued_lookups = 0\n"),
              0);
    CHECK_INT(ctx.errors + ctx.warnings, 0);
    CHECK_INT(cfg.n_acl, 2);
    addr_parse("10.1.2.3", 53, &a);
    CHECK(addr_prefix_match(&cfg.acl[0], &a));
    addr_parse("10.2.0.1", 53, &a);
    CHECK(!addr_prefix_match(&cfg.acl[0], &a));
    CHECK_INT(cfg.answer_timeout_ms, 800);
    CHECK_INT(cfg.max_waiting_queries, 10);
    CHECK(cfg.bootstrap_set);
    CHECK_STR(cfg.bootstrap, "127.0.0.1:6881,dht.example.org:25401");
    CHECK_INT(cfg.dht_port, 6881);
    CHECK_STR(cfg.state_dir, "/var/lib/pkdns");
    CHECK(!cfg.read_only);
    CHECK_INT(cfg.node_rate_limit, 100000);
    CHECK_INT(cfg.max_queued_lookups, 0);
}

static void test_config_ipv6_takes_an_ipv6_address_only(void)
{
    char ip[ADDR_TEXT_MAX];

    CHECK_INT(load_text("[dht]\nipv6 = \"::1\"\n"), 0);
    CHECK(cfg.dht_ipv6_set);
    CHECK_STR(addr_format_ip(&cfg.dht_ipv6, ip, sizeof(ip)), "::1");
    CHECK_INT(load_text("[dht]\nipv6 = \"::\"\n"), 0);
    CHECK(cfg.dht_ipv6_set);
    CHECK_INT(load_text("[dht]\nport = 6881\n"), 0);
    CHECK(!cfg.dht_ipv6_set);
    CHECK_INT(load_text("[dht]\n\nipv6 = \"127.0.0.1\"\n"), -EINVAL);
    CHECK(logged_has("pkdns.toml:3: ipv6: '127.0.0.1' is not an IPv6 address"));
    CHECK_INT(load_text("[dht]\nipv6 = \"[::1]:6881\"\n"), -EINVAL);
    CHECK(logged_has("pkdns.toml:2: ipv6: '[::1]:6881' is not an IPv6 address"));
}

static void test_config_bootstrap_takes_a_comma_list(void)
{
    CHECK_INT(load_text("[dht]\nbootstrap = \"a.example:1, b.example:2\"\n"), 0);
    CHECK_STR(cfg.bootstrap, "a.example:1,b.example:2");
}

static void test_config_bootstrap_array_may_span_indented_lines(void)
{
    CHECK_INT(load_text("[dht]\n"
                        "bootstrap = [\n"
                        "    \"a.example:1\",  # first\n"
                        "    \"b.example:2\",\n"
                        "    ]\n"
                        "port = 7000\n"),
              0);
    CHECK_INT(ctx.errors, 0);
    CHECK_STR(cfg.bootstrap, "a.example:1,b.example:2");
    CHECK_INT(cfg.dht_port, 7000);
}

static void test_config_empty_bootstrap_means_none(void)
{
    CHECK_INT(load_text("[dht]\nbootstrap = []\n"), 0);
    CHECK(cfg.bootstrap_set);
    CHECK_STR(cfg.bootstrap, "");
}

static void test_config_unclosed_array_is_an_error_with_its_line(void)
{
    CHECK_INT(load_text("[dht]\n"
                        "bootstrap = [\n"
                        "    \"a.example:1\",\n"
                        "port = 7000\n"),
              -EINVAL);
    CHECK(logged_has("pkdns.toml:2: bootstrap: the array begun here has no closing ']'"));
}

static void test_config_bad_bootstrap_entry_is_an_error(void)
{
    CHECK_INT(load_text("[dht]\nbootstrap = [\"nohostport\"]\n"), -EINVAL);
    CHECK(logged_has("pkdns.toml:2: bootstrap: 'nohostport' is not host:port"));
}

static void test_config_empty_tld_disables_it(void)
{
    CHECK_INT(load_text("[dht]\ntop_level_domain = \"\"\n"), 0);
    CHECK_INT(cfg.tld_len, 0);
    CHECK_STR(cfg.top_level_domain, "");
}

static void test_config_tld_of_two_labels_is_an_error(void)
{
    CHECK_INT(load_text("[dht]\ntop_level_domain = \"a.b\"\n"), -EINVAL);
    CHECK(logged_has("pkdns.toml:2: top_level_domain: 'a.b' is not one DNS label"));
}

static void test_config_unknown_key_warns_with_file_and_line(void)
{
    CHECK_INT(load_text("[general]\nsocket = \"127.0.0.1:53\"\nsockte = \"x\"\n[extra]\nk = 1\n"),
              0);
    CHECK_INT(ctx.warnings, 2);
    CHECK_INT(ctx.errors, 0);
    CHECK(logged_has("pkdns.toml:3: unknown key 'sockte' in [general]; ignored"));
    CHECK(logged_has("pkdns.toml:5: unknown key 'k' in [extra]; ignored"));
}

static void test_config_bad_values_are_errors_with_lines(void)
{
    CHECK_INT(load_text("[general]\n"
                        "socket = \"not an address\"\n"
                        "verbose = maybe\n"
                        "[dns]\n"
                        "max_recursion_depth = 256\n"
                        "min_ttl = -1\n"
                        "[dht]\n"
                        "dht_cache_mb = 0\n"),
              -EINVAL);
    CHECK_INT(ctx.errors, 5);
    CHECK(logged_has("pkdns.toml:2: socket: 'not an address' is not an address"));
    CHECK(logged_has("pkdns.toml:3: verbose: 'maybe' is not true or false"));
    CHECK(logged_has("pkdns.toml:5: max_recursion_depth: '256' is not a number from 0 to 255"));
    CHECK(logged_has("pkdns.toml:6: min_ttl"));
    CHECK(logged_has("pkdns.toml:8: dht_cache_mb: '0' is not a number from 1"));
}

static void test_config_unterminated_string_is_an_error(void)
{
    CHECK_INT(load_text("[general]\nforward = \"8.8.8.8:53\n"), -EINVAL);
    CHECK(logged_has("pkdns.toml:2: forward"));
}

/* ---- the command line and the whole load ---- */

/* argv as main gets it: writable strings. */
static int parse(struct pk_args *a, const char *const *argv, int argc, char *err)
{
    static char copies[8][64];
    static char *args[8];

    for (int i = 0; i < argc && i < 8; i++) {
        snprintf(copies[i], sizeof(copies[i]), "%s", argv[i]);
        args[i] = copies[i];
    }
    return pk_args_parse(argc, args, a, err, 128);
}

static void test_args_read_the_rust_flags(void)
{
    static const char *const argv[] = {"pkdns",      "-c", "/etc/pkdns.toml",       "-f",
                                       "1.1.1.1:53", "-v", "--pkdns-dir=/srv/pkdns"};
    struct pk_args a;
    char err[128];

    CHECK_INT(parse(&a, argv, 7, err), 0);
    CHECK_STR(a.config_file, "/etc/pkdns.toml");
    CHECK_STR(a.forward, "1.1.1.1:53");
    CHECK_STR(a.pkdns_dir, "/srv/pkdns");
    CHECK(a.verbose);
    CHECK(!a.check_config);
}

static void test_args_read_the_suite_flags(void)
{
    static const char *const argv[] = {"pkdns",    "--check-config", "--version", "-h",
                                       "--config", "x.toml",         "-pdir"};
    struct pk_args a;
    char err[128];

    CHECK_INT(parse(&a, argv, 7, err), 0);
    CHECK(a.check_config && a.version && a.help);
    CHECK_STR(a.config_file, "x.toml");
    CHECK_STR(a.pkdns_dir, "dir");
}

static void test_args_refuse_unknown_and_incomplete_options(void)
{
    static const char *const unknown[] = {"pkdns", "--frobnicate"};
    static const char *const missing[] = {"pkdns", "-c"};
    static const char *const stray[] = {"pkdns", "file.toml"};
    static const char *const valued[] = {"pkdns", "--verbose=yes"};
    struct pk_args a;
    char err[128];

    CHECK_INT(parse(&a, unknown, 2, err), -EINVAL);
    CHECK_STR(err, "unknown argument '--frobnicate'");
    CHECK_INT(parse(&a, missing, 2, err), -EINVAL);
    CHECK_STR(err, "--config needs a value");
    CHECK_INT(parse(&a, stray, 2, err), -EINVAL);
    CHECK_INT(parse(&a, valued, 2, err), -EINVAL);
    CHECK(strlen(pk_args_usage()) > 100);
}

static void test_load_reads_pkdns_toml_in_the_pkdns_dir(void)
{
    struct pk_args a = {.pkdns_dir = dir};
    char want[300];

    write_file("pkdns.toml", "[general]\nsocket = \"127.0.0.1:5353\"\n");
    capture_begin();
    CHECK_INT(pk_config_load(&cfg, &a), 0);
    capture_end();
    CHECK_STR(fmt(&cfg.socket), "127.0.0.1:5353");
    CHECK_STR(cfg.config_file, path);
    CHECK_STR(cfg.pkdns_dir, dir);
    CHECK_STR(cfg.state_dir, dir);
    snprintf(want, sizeof(want), "%s/pkdns.toml", dir);
    CHECK_STR(cfg.config_file, want);
}

static void test_load_without_a_default_file_uses_the_defaults(void)
{
    char empty[300];
    struct pk_args a = {.pkdns_dir = empty};

    snprintf(empty, sizeof(empty), "%s/empty", dir);
    mkdir(empty, 0700);
    capture_begin();
    CHECK_INT(pk_config_load(&cfg, &a), 0);
    capture_end();
    CHECK_STR(cfg.config_file, "");
    CHECK_STR(fmt(&cfg.socket), "0.0.0.0:53");
    CHECK(logged_has("does not exist; using the defaults"));
}

static void test_load_with_a_missing_config_file_fails(void)
{
    struct pk_args a = {.config_file = "/nonexistent/pkdns.toml"};

    capture_begin();
    CHECK_INT(pk_config_load(&cfg, &a), -ENOENT);
    capture_end();
    CHECK(logged_has("/nonexistent/pkdns.toml: cannot open"));
}

static void test_load_command_line_overrides_the_file(void)
{
    struct pk_args a = {.forward = "1.0.0.1:5353", .verbose = true};

    write_file("other.toml", "[general]\nforward = \"9.9.9.9:53\"\nverbose = false\n");
    a.config_file = path;
    capture_begin();
    CHECK_INT(pk_config_load(&cfg, &a), 0);
    capture_end();
    CHECK_STR(fmt(&cfg.forward), "1.0.0.1:5353");
    CHECK(cfg.verbose);

    a.forward = "nowhere";
    capture_begin();
    CHECK_INT(pk_config_load(&cfg, &a), -EINVAL);
    capture_end();
    CHECK(logged_has("--forward: 'nowhere' is not an address"));
}

static void test_load_expands_the_home_directory(void)
{
    struct pk_args a = {.pkdns_dir = "~/.pkdns-test-none"};
    char want[300];

    setenv("HOME", dir, 1);
    capture_begin();
    CHECK_INT(pk_config_load(&cfg, &a), 0);
    capture_end();
    snprintf(want, sizeof(want), "%s/.pkdns-test-none", dir);
    CHECK_STR(cfg.pkdns_dir, want);
    CHECK_STR(cfg.state_dir, want);
}

static void test_load_warns_when_min_ttl_exceeds_max_ttl(void)
{
    struct pk_args a = {0};

    write_file("ttl.toml", "[dns]\nmin_ttl = 600\nmax_ttl = 60\n");
    a.config_file = path;
    capture_begin();
    CHECK_INT(pk_config_load(&cfg, &a), 0);
    capture_end();
    CHECK(logged_has("min_ttl 600 is above max_ttl 60"));
}

static void test_load_takes_the_state_directory_systemd_gives(void)
{
    struct pk_args a = {.pkdns_dir = dir};

    write_file("pkdns.toml", "[general]\nsocket = \"127.0.0.1:5353\"\n");
    setenv("STATE_DIRECTORY", "/var/lib/pkdns:/var/lib/other", 1);
    capture_begin();
    CHECK_INT(pk_config_load(&cfg, &a), 0);
    capture_end();
    CHECK_STR(cfg.state_dir, "/var/lib/pkdns");

    setenv("STATE_DIRECTORY", "relative/dir", 1);
    capture_begin();
    CHECK_INT(pk_config_load(&cfg, &a), 0);
    capture_end();
    CHECK_STR(cfg.state_dir, dir);
    unsetenv("STATE_DIRECTORY");
}

/* systemd gives a DynamicUser= service no $HOME: with -c and a state directory, the unused
 * default ~/.pkdns is no reason to fail; without either, the message says what to give. */
static void test_load_without_home_needs_only_what_it_uses(void)
{
    struct pk_args with_file = {0}, without_file = {0};
    char *saved = getenv("HOME") != NULL ? strdup(getenv("HOME")) : NULL;

    write_file("pkdns.toml", "[general]\nsocket = \"127.0.0.1:5353\"\n");
    with_file.config_file = path;
    unsetenv("HOME");
    setenv("STATE_DIRECTORY", "/var/lib/pkdns", 1);
    capture_begin();
    CHECK_INT(pk_config_load(&cfg, &with_file), 0);
    capture_end();
    CHECK_STR(cfg.state_dir, "/var/lib/pkdns");

    unsetenv("STATE_DIRECTORY");
    capture_begin();
    CHECK_INT(pk_config_load(&cfg, &with_file), -EINVAL);
    capture_end();
    CHECK(logged_has("no directory for the DHT state"));

    capture_begin();
    CHECK_INT(pk_config_load(&cfg, &without_file), -EINVAL);
    capture_end();
    CHECK(logged_has("pkdns-dir: cannot expand '~/.pkdns' (is HOME set?)"));
    if (saved != NULL) {
        setenv("HOME", saved, 1);
        free(saved);
    }
}

static void test_load_state_dir_in_the_file_wins_over_systemd(void)
{
    struct pk_args a = {.pkdns_dir = dir};

    write_file("pkdns.toml", "[dht]\nstate_dir = \"/srv/pkdns-state\"\n");
    setenv("STATE_DIRECTORY", "/var/lib/pkdns", 1);
    capture_begin();
    CHECK_INT(pk_config_load(&cfg, &a), 0);
    capture_end();
    CHECK_STR(cfg.state_dir, "/srv/pkdns-state");
    unsetenv("STATE_DIRECTORY");
}

static void test_restart_keys_name_what_a_reload_cannot_apply(void)
{
    static struct pk_config old;
    char keys[256];

    pk_config_defaults(&old);
    cfg = old;
    CHECK_INT(pk_config_restart_keys(&old, &cfg, keys, sizeof(keys)), 0);
    CHECK_STR(keys, "");

    /* What a reload applies is not listed. */
    cfg.min_ttl = 5;
    cfg.dht_cache_mb = 7;
    cfg.icann_cache_mb = 9;
    cfg.query_rate_limit = 1;
    CHECK_INT(pk_config_restart_keys(&old, &cfg, keys, sizeof(keys)), 0);

    addr_parse("127.0.0.1:5353", 53, &cfg.socket);
    cfg.dht_port = 6881;
    cfg.read_only = false;
    cfg.node_rate_limit = 50;
    cfg.dht_ipv6_set = true;
    CHECK_INT(pk_config_restart_keys(&old, &cfg, keys, sizeof(keys)), 5);
    CHECK_STR(keys, "socket, port, read_only, node_rate_limit, ipv6");

    cfg = old;
    cfg.bootstrap_set = true;
    snprintf(cfg.state_dir, sizeof(cfg.state_dir), "/elsewhere");
    CHECK_INT(pk_config_restart_keys(&old, &cfg, keys, sizeof(keys)), 2);
    CHECK_STR(keys, "bootstrap, state_dir");
    CHECK_INT(pk_config_restart_keys(&old, &cfg, keys, 12), 2);
    CHECK_STR(keys, "bootstrap, ");
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_config_defaults_are_the_rust_pkdns_defaults),
        UNIT(test_config_extension_defaults),
        UNIT(test_config_stack_file_loads_unchanged),
        UNIT(test_config_reads_every_rust_key),
        UNIT(test_config_reads_the_extensions),
        UNIT(test_config_ipv6_takes_an_ipv6_address_only),
        UNIT(test_config_bootstrap_takes_a_comma_list),
        UNIT(test_config_bootstrap_array_may_span_indented_lines),
        UNIT(test_config_empty_bootstrap_means_none),
        UNIT(test_config_unclosed_array_is_an_error_with_its_line),
        UNIT(test_config_bad_bootstrap_entry_is_an_error),
        UNIT(test_config_empty_tld_disables_it),
        UNIT(test_config_tld_of_two_labels_is_an_error),
        UNIT(test_config_unknown_key_warns_with_file_and_line),
        UNIT(test_config_bad_values_are_errors_with_lines),
        UNIT(test_config_unterminated_string_is_an_error),
        UNIT(test_args_read_the_rust_flags),
        UNIT(test_args_read_the_suite_flags),
        UNIT(test_args_refuse_unknown_and_incomplete_options),
        UNIT(test_load_reads_pkdns_toml_in_the_pkdns_dir),
        UNIT(test_load_without_a_default_file_uses_the_defaults),
        UNIT(test_load_with_a_missing_config_file_fails),
        UNIT(test_load_command_line_overrides_the_file),
        UNIT(test_load_expands_the_home_directory),
        UNIT(test_load_warns_when_min_ttl_exceeds_max_ttl),
        UNIT(test_load_takes_the_state_directory_systemd_gives),
        UNIT(test_load_without_home_needs_only_what_it_uses),
        UNIT(test_load_state_dir_in_the_file_wins_over_systemd),
        UNIT(test_restart_keys_name_what_a_reload_cannot_apply),
    };
    char cmd[64];
    int rc;

    unsetenv("STATE_DIRECTORY"); /* as systemd may have set it for whoever runs the tests */
    if (mkdtemp(dir) == NULL) {
        return 1;
    }
    rc = unit_run("pk_config", tests, sizeof(tests) / sizeof(tests[0]));
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0) {
        rc = 1;
    }
    return rc;
}
