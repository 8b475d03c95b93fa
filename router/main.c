/* pkdns-router: the DNS front end that sends pkarr names to pkdns and the rest to the
 * forwarder; a drop-in for dnsdist as the stack configures it. */
#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "conf.h"
#include "log.h"
#include "router.h"
#include "rt_config.h"
#include "rt_threads.h"
#include "sdnotify.h"

#define RT_MAIN_TAG "router"
#define RT_EXIT_USAGE 2

struct rt_main {
    uv_loop_t loop;
    struct router *router;    /* threads = 1 */
    struct rt_threads *loops; /* threads > 1 */
    const char *config_file;
    const char *locals[RT_MAX_LISTEN];
    size_t n_locals;
    unsigned threads_override; /* --threads; 0: the file's (or its default) */
    unsigned threads;          /* the loops running */
    int verbose;
    bool check_only, print_config;
    uv_signal_t sig_hup, sig_term, sig_int, sig_usr1;
};

static void rt_main_usage(FILE *to)
{
    fprintf(to, "Usage: pkdns-router [-c FILE] [OPTIONS]\n"
                "Routes DNS queries by name: pkarr keys to pkdns, the rest to the forwarder.\n\n"
                "  -c, --config FILE   the native INI file or a dnsdist.conf (told apart by "
                "content)\n"
                "      --check-config  check the configuration, report every error, and exit\n"
                "      --print-config  print the configuration in the native INI format and "
                "exit\n"
                "  -l, --local ADDR    listen on ADDR (IP[:PORT]) instead of the configured\n"
                "                      addresses; may be repeated\n"
                "  -t, --threads N     run N loops (1 to 64), whatever the file says\n"
                "  -v, --verbose       log every query (debug level)\n"
                "  -h, --help          show this help\n"
                "      --version       show the version\n\n"
                "Signals: SIGHUP reloads the configuration, SIGUSR1 logs the counters,\n"
                "SIGTERM and SIGINT stop. See docs/router.md.\n");
}

/* --threads N: 1 to RT_MAX_THREADS. Returns 0 or RT_EXIT_USAGE after saying why. */
static int rt_main_threads_arg(struct rt_main *m, const char *text)
{
    uint64_t n;

    if (conf_parse_uint(text, 1, RT_MAX_THREADS, &n) != 0) {
        fprintf(stderr, "pkdns-router: --threads takes a number from 1 to %d, not '%s'\n",
                RT_MAX_THREADS, text);
        return RT_EXIT_USAGE;
    }
    m->threads_override = (unsigned)n;
    return 0;
}

/* Reads the command line into m. Returns 0, 1 after --help or --version, or RT_EXIT_USAGE. */
static int rt_main_args(struct rt_main *m, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_next = i + 1 < argc;
        if ((strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) && has_next) {
            if (rt_main_threads_arg(m, argv[++i]) != 0) {
                return RT_EXIT_USAGE;
            }
        } else if (strncmp(a, "--threads=", 10) == 0) {
            if (rt_main_threads_arg(m, a + 10) != 0) {
                return RT_EXIT_USAGE;
            }
        } else if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) && has_next) {
            m->config_file = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            m->config_file = a + 9;
        } else if ((strcmp(a, "-l") == 0 || strcmp(a, "--local") == 0) && has_next &&
                   m->n_locals < RT_MAX_LISTEN) {
            m->locals[m->n_locals++] = argv[++i];
        } else if (strncmp(a, "--local=", 8) == 0 && m->n_locals < RT_MAX_LISTEN) {
            m->locals[m->n_locals++] = a + 8;
        } else if (strcmp(a, "--check-config") == 0) {
            m->check_only = true;
        } else if (strcmp(a, "--print-config") == 0) {
            m->print_config = true;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            m->verbose++;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            rt_main_usage(stdout);
            return 1;
        } else if (strcmp(a, "--version") == 0) {
            printf("pkdns-router %s\n", PKDNS_VERSION);
            return 1;
        } else {
            fprintf(stderr, "pkdns-router: unexpected argument '%s' (see --help)\n", a);
            return RT_EXIT_USAGE;
        }
    }
    return 0;
}

/* Builds the configuration from the file and the --local and --threads options. Returns 0 or
 * -EINVAL after reporting every error. */
static int rt_main_load(const struct rt_main *m, struct rt_config *cfg)
{
    struct conf_ctx ctx = {0};

    rt_config_defaults(cfg);
    if (m->config_file != NULL) {
        rt_config_read_file(cfg, m->config_file, &ctx);
    } else {
        rt_config_finish(cfg, &ctx);
    }
    if (m->n_locals > 0) {
        ctx.file = "command line";
        cfg->n_listen = 0;
        for (size_t i = 0; i < m->n_locals; i++) {
            if (addr_parse(m->locals[i], 53, &cfg->listen[cfg->n_listen]) != 0) {
                conf_error(&ctx, "--local: '%s' is not an address (IP or IP:PORT)", m->locals[i]);
                continue;
            }
            cfg->n_listen++;
        }
    }
    if (m->threads_override > 0) {
        cfg->threads = m->threads_override;
    }
    return ctx.errors == 0 ? 0 : -EINVAL;
}

static void rt_main_close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}

/* Reports a reload once every loop has taken it (rc 0) or, when one could not (loop, from
 * 1) or the file was bad (loop 0), none has. */
static void rt_main_reloaded(void *arg, int rc, unsigned loop)
{
    const struct rt_main *m = arg;

    if (rc == 0) {
        log_info(RT_MAIN_TAG, "configuration reloaded from %s",
                 m->config_file != NULL ? m->config_file : "(none)");
    } else if (loop > 0) {
        log_err(RT_MAIN_TAG,
                "new configuration not applied: loop %u could not take it (%s); every loop is "
                "keeping the old one",
                loop, strerror(-rc));
    } else {
        log_err(RT_MAIN_TAG, "new configuration not applied; keeping the old one");
    }
    sdnotify_send("READY=1");
}

/* The loops are made at start: a reload cannot add or take away any. */
static void rt_main_warn_threads(const struct rt_main *m, const struct rt_config *cfg)
{
    if (cfg->threads != m->threads) {
        log_warn(RT_MAIN_TAG,
                 "the new configuration would run %u loop%s (threads, or its default) where %u "
                 "run: a change of threads needs a restart, so the %u go on",
                 cfg->threads, cfg->threads > 1 ? "s" : "", m->threads, m->threads);
    }
}

static void rt_main_reload(struct rt_main *m)
{
    struct rt_config *cfg = malloc(sizeof(*cfg));
    int rc;

    sdnotify_reloading();
    rc = cfg != NULL ? rt_main_load(m, cfg) : -ENOMEM;
    if (rc == 0) {
        rt_main_warn_threads(m, cfg);
    }
    if (rc == 0 && m->loops != NULL) {
        rt_threads_reload(m->loops, cfg, rt_main_reloaded, m); /* reports when all have answered */
    } else {
        if (rc == 0) {
            rc = router_reload(m->router, cfg);
        }
        rt_main_reloaded(m, rc, 0);
    }
    free(cfg);
}

static void rt_main_on_signal(uv_signal_t *s, int signum)
{
    struct rt_main *m = s->data;

    if (signum == SIGHUP) {
        rt_main_reload(m);
        return;
    }
    if (signum == SIGUSR1) {
        if (m->loops != NULL) {
            rt_threads_log_stats(m->loops);
        } else {
            router_log_stats(m->router);
        }
        return;
    }
    log_info(RT_MAIN_TAG, "stopping on signal %d", signum);
    sdnotify_send("STOPPING=1");
    if (m->loops != NULL) {
        rt_threads_stop(m->loops); /* logs the workers' counters once they have stopped */
        m->loops = NULL;
    } else {
        router_log_stats(m->router);
        router_stop(m->router, NULL, NULL);
        m->router = NULL;
    }
    uv_walk(&m->loop, rt_main_close_walk, NULL);
}

static void rt_main_on_ready(void *arg)
{
    (void)arg;
    log_info(RT_MAIN_TAG, "first health checks done; ready");
    sdnotify_send("READY=1");
}

static void rt_main_log_start(const struct rt_main *m, const struct rt_config *cfg)
{
    char list[512] = "", text[ADDR_TEXT_MAX];
    struct addr a;
    size_t used = 0;

    for (size_t i = 0; used < sizeof(list); i++) {
        if (m->router != NULL ? router_local_addr(m->router, i, &a) != 0 : i >= cfg->n_listen) {
            break;
        }
        int n = snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
                         addr_format(m->router != NULL ? &a : &cfg->listen[i], text, sizeof(text)));
        used += n > 0 ? (size_t)n : 0;
    }
    log_info(RT_MAIN_TAG, "pkdns-router %s started, listening on %s, config %s, %u loop%s",
             PKDNS_VERSION, list, m->config_file != NULL ? m->config_file : "(none)", cfg->threads,
             cfg->threads > 1 ? "s" : "");
}

static int rt_main_run(struct rt_main *m, const struct rt_config *cfg)
{
    uv_signal_t *sigs[] = {&m->sig_hup, &m->sig_term, &m->sig_int, &m->sig_usr1};
    int nums[] = {SIGHUP, SIGTERM, SIGINT, SIGUSR1};
    int rc;

    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&m->loop);
    m->threads = cfg->threads;
    if (cfg->threads > 1) {
        rc = rt_threads_start(&m->loop, cfg, cfg->threads, rt_main_on_ready, m, &m->loops);
    } else {
        rc = router_new(&m->loop, cfg, NULL, &m->router);
        if (rc == 0) {
            rc = router_start(m->router);
        }
    }
    if (rc != 0) {
        log_err(RT_MAIN_TAG, "cannot start: %s", strerror(-rc));
        return 1;
    }
    rt_main_log_start(m, cfg);
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        uv_signal_init(&m->loop, sigs[i]);
        sigs[i]->data = m;
        uv_signal_start(sigs[i], rt_main_on_signal, nums[i]);
    }
    if (m->router != NULL) {
        router_when_ready(m->router, rt_main_on_ready, m);
    }
    uv_run(&m->loop, UV_RUN_DEFAULT);
    uv_loop_close(&m->loop);
    log_info(RT_MAIN_TAG, "stopped");
    return 0;
}

int main(int argc, char **argv)
{
    static struct rt_main m;
    struct rt_config *cfg;
    int rc;

    log_init();
    rc = rt_main_args(&m, argc, argv);
    if (rc != 0) {
        return rc == 1 ? 0 : RT_EXIT_USAGE;
    }
    if (sodium_init() < 0) {
        log_err(RT_MAIN_TAG, "libsodium cannot start");
        return 1;
    }
    cfg = malloc(sizeof(*cfg));
    if (cfg == NULL || rt_main_load(&m, cfg) != 0) {
        free(cfg);
        return 1;
    }
    if (m.check_only || m.print_config) {
        if (m.print_config) {
            rt_config_print(cfg, stdout);
        } else {
            printf("configuration OK\n");
        }
        free(cfg);
        return 0;
    }
    log_set_level(m.verbose > 0 ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
    rc = rt_main_run(&m, cfg);
    free(cfg);
    return rc;
}
