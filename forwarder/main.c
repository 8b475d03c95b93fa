/* pkdns-forwarder: a caching DNS forwarder that follows the resolv file resolvconf writes;
 * a drop-in for dnsmasq as a forwarder. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "conf.h"
#include "forwarder.h"
#include "fwd_config.h"
#include "log.h"
#include "sdnotify.h"

#define FWD_EXIT_USAGE 2

struct fwd_main {
    uv_loop_t loop;
    struct forwarder *fwd;
    int argc;
    char **argv;
    uv_signal_t sig_hup, sig_term, sig_int;
};

static void fwd_usage(FILE *to)
{
    fprintf(to,
            "Usage: pkdns-forwarder [-c FILE] [OPTIONS]\n"
            "A caching DNS forwarder that follows the resolv file resolvconf writes.\n\n"
            "  -c, --config FILE      read a dnsmasq-style config (also -C, --conf-file)\n"
            "      --check-config     check the configuration and exit (also --test)\n"
            "  -v, --verbose          log every query (debug level)\n"
            "  -h, --help             show this help\n"
            "      --version          show the version\n\n"
            "Every config option also works as --NAME[=VALUE], e.g. --port=5301,\n"
            "--listen-address=127.0.0.1, --interface=eth0, --resolv-file=FILE, --no-resolv,\n"
            "--server=192.0.2.1#53, --server=/example.com/192.0.2.2, --cache-size=10000,\n"
            "--no-negcache, --neg-ttl=N, --min-cache-ttl=N, --max-cache-ttl=N, --strict-order,\n"
            "--all-servers, --no-poll, --clear-on-reload, --domain-needed, --bogus-priv,\n"
            "--edns-packet-max=N, "
            "--use-stale-cache=SECONDS, --query-timeout-ms=N.\n"
            "Short forms as dnsmasq: -p port, -a listen-address, -i interface, -r resolv-file,\n"
            "-S server, -R no-resolv, -o strict-order, -N no-negcache, -D domain-needed,\n"
            "-b bogus-priv. Also --stop-dns-rebind, --rebind-localhost-ok,\n"
            "--rebind-domain-ok=/DOMAIN/.\n");
}

static const struct {
    char letter;
    const char *name;
} fwd_short_options[] = {
    {'p', "port"},         {'a', "listen-address"},
    {'i', "interface"},    {'r', "resolv-file"},
    {'S', "server"},       {'R', "no-resolv"},
    {'o', "strict-order"}, {'N', "no-negcache"},
    {'C', "conf-file"},    {'c', "config"},
    {'v', "verbose"},      {'h', "help"},
    {'V', "version"},      {'k', "keep-in-foreground"},
    {'d', "no-daemon"},    {'D', "domain-needed"},
    {'b', "bogus-priv"},
};

/* Options that never take a value on the command line. */
static bool fwd_is_bare(const char *name)
{
    static const char *const bare[] = {
        "no-resolv",
        "no-negcache",
        "strict-order",
        "all-servers",
        "no-poll",
        "clear-on-reload",
        "bind-interfaces",
        "bind-dynamic",
        "domain-needed",
        "bogus-priv",
        "stop-dns-rebind",
        "rebind-localhost-ok",
        "verbose",
        "help",
        "version",
        "check-config",
        "test",
        "keep-in-foreground",
        "no-daemon",
        "log-queries",
        "use-stale-cache",
    };
    for (size_t i = 0; i < sizeof(bare) / sizeof(bare[0]); i++) {
        if (strcmp(name, bare[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* One command-line option: its long name and value (NULL when bare). */
struct fwd_arg {
    char name[64];
    const char *value;
};

/* Reads the option at argv[*i] (advancing *i past a separate value). Returns 0, or -EINVAL
 * for something that is not an option. */
static int fwd_next_arg(int argc, char **argv, int *i, struct fwd_arg *out)
{
    const char *a = argv[*i];

    out->value = NULL;
    if (a[0] == '-' && a[1] == '-' && a[2] != '\0') {
        const char *eq = strchr(a + 2, '=');
        size_t len = eq != NULL ? (size_t)(eq - a - 2) : strlen(a + 2);
        if (len >= sizeof(out->name)) {
            return -EINVAL;
        }
        memcpy(out->name, a + 2, len);
        out->name[len] = '\0';
        if (eq != NULL) {
            out->value = eq + 1;
        } else if (!fwd_is_bare(out->name) && *i + 1 < argc) {
            out->value = argv[++*i];
        }
        return 0;
    }
    if (a[0] == '-' && a[1] != '\0') {
        for (size_t k = 0; k < sizeof(fwd_short_options) / sizeof(fwd_short_options[0]); k++) {
            if (fwd_short_options[k].letter != a[1]) {
                continue;
            }
            snprintf(out->name, sizeof(out->name), "%s", fwd_short_options[k].name);
            if (a[2] != '\0') {
                out->value = a + 2;
            } else if (!fwd_is_bare(out->name) && *i + 1 < argc) {
                out->value = argv[++*i];
            }
            return 0;
        }
    }
    return -EINVAL;
}

/* Builds a configuration from the file named with -c (if any) and the other options, which
 * override the file. Returns 0, 1 when help or version was printed, FWD_EXIT_USAGE, or
 * -EINVAL after reporting every error. */
static int fwd_load(struct fwd_config *cfg, int argc, char **argv)
{
    struct conf_ctx ctx = {.file = "command line"};
    struct fwd_arg arg;
    int rc = 0;

    fwd_config_defaults(cfg);
    for (int i = 1; i < argc; i++) {
        if (fwd_next_arg(argc, argv, &i, &arg) != 0) {
            fprintf(stderr, "pkdns-forwarder: unexpected argument '%s' (see --help)\n", argv[i]);
            return FWD_EXIT_USAGE;
        }
        if (strcmp(arg.name, "help") == 0) {
            fwd_usage(stdout);
            return 1;
        }
        if (strcmp(arg.name, "version") == 0) {
            printf("pkdns-forwarder %s\n", PKDNS_VERSION);
            return 1;
        }
        if (strcmp(arg.name, "config") == 0 || strcmp(arg.name, "conf-file") == 0) {
            if (arg.value == NULL) {
                fprintf(stderr, "pkdns-forwarder: --%s needs a file\n", arg.name);
                return FWD_EXIT_USAGE;
            }
            if (fwd_config_read_file(cfg, arg.value) != 0) {
                rc = -EINVAL;
            }
        }
    }
    for (int i = 1; i < argc; i++) {
        fwd_next_arg(argc, argv, &i, &arg);
        ctx.line = i;
        if (strcmp(arg.name, "config") == 0 || strcmp(arg.name, "conf-file") == 0 ||
            strcmp(arg.name, "keep-in-foreground") == 0 || strcmp(arg.name, "no-daemon") == 0) {
            continue;
        }
        if (strcmp(arg.name, "verbose") == 0 || strcmp(arg.name, "log-queries") == 0) {
            cfg->verbose++;
        } else if (strcmp(arg.name, "check-config") == 0 || strcmp(arg.name, "test") == 0) {
            cfg->check_only = true;
        } else if (fwd_config_apply(cfg, &ctx, arg.name, arg.value) != 0) {
            rc = -EINVAL;
        }
    }
    return rc;
}

static void fwd_on_stopped(void *arg)
{
    (void)arg;
}

static void fwd_close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}

static void fwd_log_stop(const struct forwarder_stats *st)
{
    log_info("fwd",
             "stopped after %llu queries: %llu from cache, %llu forwarded, %llu merged, "
             "%llu stale, %llu SERVFAIL, %llu REFUSED, %llu FORMERR, %llu dropped, "
             "%llu NXDOMAIN for private names, %llu rebinding answers stopped",
             (unsigned long long)st->queries, (unsigned long long)st->cache_hits,
             (unsigned long long)st->forwarded, (unsigned long long)st->merged,
             (unsigned long long)st->stale_answers, (unsigned long long)st->servfail,
             (unsigned long long)st->refused, (unsigned long long)st->formerr,
             (unsigned long long)st->dropped, (unsigned long long)st->local_nxdomain,
             (unsigned long long)st->rebind_blocked);
}

static void fwd_on_signal(uv_signal_t *s, int signum)
{
    struct fwd_main *m = s->data;
    struct fwd_config *cfg;

    if (signum == SIGHUP) {
        sdnotify_reloading();
        cfg = malloc(sizeof(*cfg));
        if (cfg != NULL && fwd_load(cfg, m->argc, m->argv) == 0) {
            forwarder_reload(m->fwd, cfg);
            log_info("fwd", "configuration reloaded");
        } else {
            log_err("fwd", "new configuration has errors; keeping the old one");
        }
        free(cfg);
        sdnotify_send("READY=1");
        return;
    }
    struct forwarder_stats st;
    log_info("fwd", "stopping on signal %d", signum);
    sdnotify_send("STOPPING=1");
    forwarder_stats(m->fwd, &st);
    fwd_log_stop(&st);
    forwarder_stop(m->fwd, fwd_on_stopped, m);
    m->fwd = NULL;
    uv_walk(&m->loop, fwd_close_walk, NULL);
}

static void fwd_log_start(const struct fwd_config *cfg, struct forwarder *f)
{
    char list[512] = "", text[ADDR_TEXT_MAX];
    struct addr a;
    size_t used = 0;

    for (size_t i = 0; forwarder_local_addr(f, i, &a) == 0 && used < sizeof(list); i++) {
        int n = snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
                         addr_format(&a, text, sizeof(text)));
        used += n > 0 ? (size_t)n : 0;
    }
    log_info("fwd", "pkdns-forwarder %s started, listening on %s, config %s", PKDNS_VERSION, list,
             cfg->config_file != NULL ? cfg->config_file : "(none)");
}

int main(int argc, char **argv)
{
    static struct fwd_main m;
    struct fwd_config *cfg = calloc(1, sizeof(*cfg));
    int rc;

    log_init();
    if (cfg == NULL) {
        return 1;
    }
    rc = fwd_load(cfg, argc, argv);
    if (rc == 1 || rc == FWD_EXIT_USAGE) {
        free(cfg);
        return rc == 1 ? 0 : FWD_EXIT_USAGE;
    }
    if (rc != 0) {
        free(cfg);
        return 1;
    }
    if (cfg->check_only) {
        printf("configuration OK\n");
        free(cfg);
        return 0;
    }
    log_set_level(cfg->verbose > 0 ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
    signal(SIGPIPE, SIG_IGN);

    m.argc = argc;
    m.argv = argv;
    uv_loop_init(&m.loop);
    rc = forwarder_new(&m.loop, cfg, &m.fwd);
    if (rc == 0) {
        rc = forwarder_start(m.fwd);
    }
    if (rc != 0) {
        log_err("fwd", "cannot start: %s", strerror(-rc));
        free(cfg);
        return 1;
    }
    fwd_log_start(cfg, m.fwd);
    free(cfg);

    uv_signal_t *sigs[] = {&m.sig_hup, &m.sig_term, &m.sig_int};
    int nums[] = {SIGHUP, SIGTERM, SIGINT};
    for (size_t i = 0; i < 3; i++) {
        uv_signal_init(&m.loop, sigs[i]);
        sigs[i]->data = &m;
        uv_signal_start(sigs[i], fwd_on_signal, nums[i]);
    }
    sdnotify_send("READY=1");

    uv_run(&m.loop, UV_RUN_DEFAULT);
    uv_loop_close(&m.loop);
    return 0;
}
