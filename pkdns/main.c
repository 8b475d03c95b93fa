/* pkdns: a DNS server that resolves pkarr names (public keys) from the Mainline DHT and
 * forwards every other name; a drop-in for the Rust pkdns. */
#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "log.h"
#include "pk_args.h"
#include "pk_config.h"
#include "pkdns_server.h"
#include "sdnotify.h"

#define PKDNS_MAIN_TAG "pkdns"
#define PKDNS_EXIT_USAGE 2

struct pkdns_main {
    uv_loop_t loop;
    struct pkdns_server *server;
    struct pk_args args;
    uv_signal_t sig_hup, sig_term, sig_int;
};

static void pkdns_main_close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}

static void pkdns_main_on_stopped(void *user)
{
    struct pkdns_main *m = user;

    uv_walk(&m->loop, pkdns_main_close_walk, NULL);
}

static void pkdns_main_log_stop(const struct pkdns_server_stats *st)
{
    log_info(PKDNS_MAIN_TAG,
             "stopped after %llu queries: %llu pkarr, %llu forwarded, %llu from the ICANN "
             "cache, %llu timed out, %llu SERVFAIL, %llu REFUSED (%llu for lack of room), "
             "%llu FORMERR",
             (unsigned long long)st->queries, (unsigned long long)st->pkarr,
             (unsigned long long)st->forwarded, (unsigned long long)st->icann_hits,
             (unsigned long long)st->timeouts, (unsigned long long)st->servfail,
             (unsigned long long)st->refused, (unsigned long long)st->full,
             (unsigned long long)st->formerr);
    log_info(PKDNS_MAIN_TAG,
             "DHT lookups: %llu started, %llu joined by other queries, %llu found, %llu not "
             "found, %llu failed, %llu refused with the queue full, %llu dropped unwaited",
             (unsigned long long)st->lookups_started, (unsigned long long)st->lookups_joined,
             (unsigned long long)st->lookups_found, (unsigned long long)st->lookups_not_found,
             (unsigned long long)st->lookups_failed, (unsigned long long)st->lookups_refused,
             (unsigned long long)st->lookups_dropped);
    if (st->doh_enabled) {
        log_info(PKDNS_MAIN_TAG,
                 "DNS over HTTP: %llu requests on %llu connections (%llu refused at the limit); "
                 "responses %llu 2xx, %llu 4xx, %llu 5xx",
                 (unsigned long long)st->doh_requests, (unsigned long long)st->doh_connections,
                 (unsigned long long)st->doh_rejected, (unsigned long long)st->doh_2xx,
                 (unsigned long long)st->doh_4xx, (unsigned long long)st->doh_5xx);
    }
}

static void pkdns_main_on_signal(uv_signal_t *sig, int signum)
{
    struct pkdns_main *m = sig->data;
    struct pkdns_server_stats st;

    if (signum == SIGHUP) {
        struct pk_config *cfg = malloc(sizeof(*cfg));
        sdnotify_reloading();
        if (cfg != NULL && pk_config_load(cfg, &m->args) == 0) {
            pkdns_server_reload(m->server, cfg);
            log_set_level(cfg->verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
            log_info(PKDNS_MAIN_TAG, "configuration reloaded");
        } else {
            log_err(PKDNS_MAIN_TAG, "new configuration has errors; keeping the old one");
        }
        free(cfg);
        sdnotify_send("READY=1");
        return;
    }
    if (m->server == NULL) {
        return;
    }
    log_info(PKDNS_MAIN_TAG, "stopping on signal %d", signum);
    sdnotify_send("STOPPING=1");
    pkdns_server_stats(m->server, &st);
    pkdns_main_log_stop(&st);
    pkdns_server_stop(m->server, pkdns_main_on_stopped, m);
    m->server = NULL;
    uv_signal_stop(&m->sig_hup);
    uv_signal_stop(&m->sig_term);
    uv_signal_stop(&m->sig_int);
}

/* Reads the command line and the configuration. Returns 0 to run, or an exit status + 1. */
static int pkdns_main_load(struct pkdns_main *m, int argc, char **argv, struct pk_config *cfg)
{
    char err[256];

    if (pk_args_parse(argc, argv, &m->args, err, sizeof(err)) != 0) {
        fprintf(stderr, "pkdns: %s\n%s", err, pk_args_usage());
        return PKDNS_EXIT_USAGE + 1;
    }
    if (m->args.help) {
        fputs(pk_args_usage(), stdout);
        return 1;
    }
    if (m->args.version) {
        printf("pkdns %s\n", PKDNS_VERSION);
        return 1;
    }
    if (pk_config_load(cfg, &m->args) != 0) {
        return 2;
    }
    if (m->args.check_config) {
        printf("configuration OK\n");
        return 1;
    }
    return 0;
}

static int pkdns_main_run(struct pkdns_main *m, const struct pk_config *cfg)
{
    uv_signal_t *sigs[] = {&m->sig_hup, &m->sig_term, &m->sig_int};
    int nums[] = {SIGHUP, SIGTERM, SIGINT};
    char text[ADDR_TEXT_MAX], fwd[ADDR_TEXT_MAX];
    struct addr local;
    int rc;

    uv_loop_init(&m->loop);
    rc = pkdns_server_new(&m->loop, cfg, &m->server);
    if (rc == 0) {
        rc = pkdns_server_start(m->server);
        if (rc < 0) {
            pkdns_server_stop(m->server, NULL, NULL);
            m->server = NULL;
            uv_run(&m->loop, UV_RUN_DEFAULT);
        }
    }
    if (rc < 0) {
        log_err(PKDNS_MAIN_TAG, "cannot start: %s", strerror(-rc));
        uv_loop_close(&m->loop);
        return 1;
    }
    pkdns_server_local_addr(m->server, &local);
    log_info(PKDNS_MAIN_TAG, "pkdns %s started, listening on %s, forwarding to %s, config %s",
             PKDNS_VERSION, addr_format(&local, text, sizeof(text)),
             addr_format(&cfg->forward, fwd, sizeof(fwd)),
             cfg->config_file[0] != '\0' ? cfg->config_file : "(none)");
    for (size_t i = 0; i < 3; i++) {
        uv_signal_init(&m->loop, sigs[i]);
        sigs[i]->data = m;
        uv_signal_start(sigs[i], pkdns_main_on_signal, nums[i]);
    }
    sdnotify_send("READY=1");
    uv_run(&m->loop, UV_RUN_DEFAULT);
    uv_loop_close(&m->loop);
    return 0;
}

int main(int argc, char **argv)
{
    static struct pkdns_main m;
    struct pk_config *cfg = calloc(1, sizeof(*cfg));
    int rc;

    log_init();
    if (cfg == NULL || sodium_init() < 0) {
        free(cfg);
        return 1;
    }
    rc = pkdns_main_load(&m, argc, argv, cfg);
    if (rc != 0) {
        free(cfg);
        return rc - 1;
    }
    log_set_level(cfg->verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
    signal(SIGPIPE, SIG_IGN);
    rc = pkdns_main_run(&m, cfg);
    free(cfg);
    return rc;
}
