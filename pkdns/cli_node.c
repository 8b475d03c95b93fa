#include "cli_node.h"

#include "log.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

void cli_node_init(struct cli_node *n, const char *command, long long timeout_ms)
{
    memset(n, 0, sizeof(*n));
    n->exit_status = -1;
    n->command = command;
    n->bind = "0.0.0.0:0";
    n->rate = DHT_NODE_SEND_RATE;
    n->timeout_ms = timeout_ms;
}

int cli_node_option(struct cli_node *n, const struct cli_args_opt *o)
{
    if (strcmp(o->name, "bootstrap") == 0) {
        n->bootstrap = o->value;
        return 0;
    }
    if (strcmp(o->name, "bind") == 0) {
        n->bind = o->value;
        return 0;
    }
    if (strcmp(o->name, "rate-limit") == 0) {
        return cli_args_number(o->value, 1, 1000000, &n->rate);
    }
    if (strcmp(o->name, "timeout-ms") == 0) {
        return cli_args_number(o->value, 1, 3600000, &n->timeout_ms);
    }
    return 1;
}

const char *cli_node_lookup_error(int status)
{
    switch (status) {
    case -ENOENT:
        return "no node holds a value for this key";
    case -ETIMEDOUT:
        return "no node answered";
    case -ENETUNREACH:
        return "no node to ask";
    case -EREMOTEIO:
        return "every node refused it";
    default:
        return status < 0 ? strerror(-status) : "no answer";
    }
}

struct dht_node *cli_node_dht(struct cli_node *n)
{
    return dht_uv_node(n->uv);
}

uint64_t cli_node_now(struct cli_node *n)
{
    return uv_now(&n->loop);
}

/* ---- ending ---- */

static void cli_node_close(struct cli_node *n)
{
    if (n->closing) {
        return;
    }
    n->closing = true;
    if (n->uv != NULL) {
        dht_uv_close(n->uv, NULL, NULL);
        n->uv = NULL;
    }
    uv_close((uv_handle_t *)&n->sig_int, NULL);
    uv_close((uv_handle_t *)&n->sig_term, NULL);
    uv_close((uv_handle_t *)&n->deadline, NULL);
    uv_close((uv_handle_t *)&n->pause, NULL);
}

static void cli_node_on_deadline(uv_timer_t *timer)
{
    struct cli_node *n = timer->data;

    if (n->exit_status < 0) {
        fflush(stdout);
        fprintf(stderr, "pkdns-cli %s: timed out after %lld ms\n", n->command, n->timeout_ms);
        n->exit_status = 1;
    }
    cli_node_close(n);
}

/* The node may not be closed inside a lookup callback, so a zero timer does it. */
void cli_node_finish(struct cli_node *n, int status)
{
    n->exit_status = status;
    uv_timer_start(&n->deadline, cli_node_on_deadline, 0, 0);
}

static void cli_node_on_signal(uv_signal_t *sig, int signum)
{
    struct cli_node *n = sig->data;

    (void)signum;
    if (n->exit_status < 0) {
        n->exit_status = 1;
    }
    cli_node_close(n);
}

/* ---- starting ---- */

static void cli_node_start(struct cli_node *n)
{
    int rc = n->start(n, n->user);

    if (rc < 0) {
        fflush(stdout);
        fprintf(stderr, "pkdns-cli %s: cannot start the lookup: %s\n", n->command,
                rc == -ENETUNREACH ? "no bootstrap node" : strerror(-rc));
        cli_node_finish(n, 1);
    }
}

static void cli_node_on_pause(uv_timer_t *timer)
{
    cli_node_start(timer->data);
}

static void cli_node_on_ready(void *user, size_t nbootstrap)
{
    struct cli_node *n = user;

    log_debug("cli", "%zu bootstrap addresses", nbootstrap);
    if (n->warm_ms > 0) {
        uv_timer_start(&n->pause, cli_node_on_pause, (uint64_t)n->warm_ms, 0);
        return;
    }
    cli_node_start(n);
}

static int cli_node_open(struct cli_node *n)
{
    struct dht_uv_config cfg;
    int rc;

    memset(&cfg, 0, sizeof(cfg));
    cfg.bind = n->bind;
    cfg.bootstrap = n->bootstrap;
    cfg.ready = cli_node_on_ready;
    cfg.user = n;
    /* BEP 43: a client that leaves in a minute should not be in anyone's table. */
    cfg.node.read_only = true;
    cfg.node.send_rate_per_s = (unsigned)n->rate;
    cfg.node.send_burst = (unsigned)(2 * n->rate);
    cfg.node.put_nodes = (unsigned)n->put_nodes;
    rc = dht_uv_new(&n->loop, &cfg, &n->uv);
    if (rc < 0) {
        fprintf(stderr, "pkdns-cli %s: cannot start a DHT node on %s: %s\n", n->command, n->bind,
                strerror(-rc));
    }
    return rc;
}

int cli_node_run(struct cli_node *n, cli_node_start_fn start, void *user)
{
    n->start = start;
    n->user = user;
    if (uv_loop_init(&n->loop) != 0) {
        fprintf(stderr, "pkdns-cli %s: cannot initialise libuv\n", n->command);
        return 1;
    }
    uv_signal_init(&n->loop, &n->sig_int);
    uv_signal_init(&n->loop, &n->sig_term);
    uv_timer_init(&n->loop, &n->deadline);
    uv_timer_init(&n->loop, &n->pause);
    n->sig_int.data = n->sig_term.data = n->deadline.data = n->pause.data = n;
    uv_signal_start(&n->sig_int, cli_node_on_signal, SIGINT);
    uv_signal_start(&n->sig_term, cli_node_on_signal, SIGTERM);
    uv_timer_start(&n->deadline, cli_node_on_deadline, (uint64_t)n->timeout_ms, 0);
    if (cli_node_open(n) < 0) {
        n->exit_status = 1;
        cli_node_close(n);
    }
    uv_run(&n->loop, UV_RUN_DEFAULT);
    uv_loop_close(&n->loop);
    fflush(stdout);
    return n->exit_status < 0 ? 1 : n->exit_status;
}
