/* pkdns-cli testnet: N nodes on one loop, bound to consecutive ports of one loopback address.
 * Node 0 starts alone; every other node bootstraps from node 0 and from a few random nodes
 * made before it, and node 0 from the first few after it. Since every node shares one IP,
 * the per-IP rate limits are raised far above their defaults. */
#include "cli_testnet.h"

#include "cli_args.h"
#include "dht_node.h"
#include "dht_store.h"
#include "dht_table.h"
#include "dht_uv.h"
#include "log.h"
#include "random.h"

#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define CLI_TESTNET_MAX_NODES 4096
#define CLI_TESTNET_PEERS 3           /* ours: random earlier nodes each node starts from */
#define CLI_TESTNET_RATE 100000       /* ours: per-IP limits on a network sharing one IP */
#define CLI_TESTNET_RCVBUF (1u << 20) /* ours: room for a whole network bootstrapping at once */
#define CLI_TESTNET_LOG_NODES 32      /* ours: counters logged at stop up to this size */
#define CLI_TESTNET_TAG "testnet"

struct cli_testnet {
    uv_loop_t loop;
    uv_signal_t sig_int, sig_term, sig_usr1;
    struct dht_uv **nodes;
    size_t count;
    size_t open;
    uv_timer_t stats_timer;
    uint64_t stats_ms;
    bool stopping;

    /* options */
    const char *bind_ip;
    const char *bind6_ip; /* BEP 32: every node also on this IPv6 address; NULL: none */
    long long base_port;
    const char *bootstrap;
    const char *state_dir;
};

void cli_testnet_usage(void)
{
    printf("Usage: pkdns-cli testnet --nodes N [--bind IP] [--port BASE] [OPTIONS]\n"
           "Runs N DHT nodes in one process on IP (default 127.0.0.1), ports BASE, BASE+1, ...\n"
           "(BASE 0, the default: any free ports). Prints one host:port per node, then\n"
           "\"testnet ready: N nodes\", and runs until SIGINT or SIGTERM. SIGUSR1 logs each\n"
           "node's counters.\n\n"
           "  --nodes N              number of nodes (1 to %d)\n"
           "  --bind IP              IPv4 address to bind (loopback only in tests)\n"
           "  --bind6 IP6            also bind each node to this IPv6 address (BASE+i too\n"
           "                         with --port; printed as [IP6]:port lines); nodes then\n"
           "                         start from each other's addresses in both families\n"
           "  --port BASE            first port\n"
           "  --bootstrap LIST       also bootstrap every node from these host:port entries\n"
           "  --state-dir DIR        keep node-I.state files there (warm restarts)\n"
           "  --stats-interval-ms N  log each node's counters every N ms\n"
           "  -v, --verbose          debug logging\n",
           CLI_TESTNET_MAX_NODES);
}

/* One line of counters for node i. */
static void cli_testnet_log_node(struct cli_testnet *t, size_t i)
{
    struct dht_node *node = dht_uv_node(t->nodes[i]);
    const struct dht_node_stats *s = dht_node_stats(node);
    const struct dht_uv_stats *u = dht_uv_stats(t->nodes[i]);
    char text[ADDR_TEXT_MAX];
    size_t good = 0, count = dht_table_count(dht_node_table(node), uv_now(&t->loop), &good);
    const struct dht_table *table6 = dht_node_table6(node);
    size_t count6 = table6 != NULL ? dht_table_count(table6, uv_now(&t->loop), NULL) : 0;

    log_notice(CLI_TESTNET_TAG,
               "node %zu %s: received=%llu malformed=%llu ignored=%llu rate_limited=%llu "
               "answered=%llu sent=%llu timeouts=%llu truncated=%llu send_errors=%llu "
               "table=%zu good=%zu table6=%zu items=%zu",
               i, addr_format(dht_uv_addr(t->nodes[i]), text, sizeof(text)),
               (unsigned long long)s->received, (unsigned long long)s->malformed,
               (unsigned long long)s->ignored, (unsigned long long)s->rate_limited,
               (unsigned long long)s->answered, (unsigned long long)u->sent,
               (unsigned long long)s->timeouts, (unsigned long long)u->truncated,
               (unsigned long long)u->send_errors, count, good, count6,
               dht_store_count(dht_node_store(node)));
}

static void cli_testnet_log_all(struct cli_testnet *t)
{
    for (size_t i = 0; i < t->count; i++) {
        if (t->nodes[i] != NULL) {
            cli_testnet_log_node(t, i);
        }
    }
}

static void cli_testnet_on_stats(uv_timer_t *timer)
{
    cli_testnet_log_all(timer->data);
}

static void cli_testnet_on_node_closed(void *user)
{
    struct cli_testnet *t = user;

    t->open--;
}

/* Closes everything; the loop ends when the last handle is closed. */
static void cli_testnet_stop(struct cli_testnet *t)
{
    if (t->stopping) {
        return;
    }
    t->stopping = true;
    log_info(CLI_TESTNET_TAG, "stopping %zu nodes", t->count);
    if (t->count <= CLI_TESTNET_LOG_NODES) {
        cli_testnet_log_all(t);
    }
    for (size_t i = 0; i < t->count; i++) {
        dht_uv_close(t->nodes[i], cli_testnet_on_node_closed, t);
        t->nodes[i] = NULL;
    }
    uv_close((uv_handle_t *)&t->sig_int, NULL);
    uv_close((uv_handle_t *)&t->sig_term, NULL);
    uv_close((uv_handle_t *)&t->sig_usr1, NULL);
    uv_close((uv_handle_t *)&t->stats_timer, NULL);
}

static void cli_testnet_on_signal(uv_signal_t *sig, int signum)
{
    struct cli_testnet *t = sig->data;

    if (signum == SIGUSR1) {
        cli_testnet_log_all(t);
        return;
    }
    cli_testnet_stop(t);
}

/* Writes the addresses other nodes start from to reach node i: its IPv4 one, and its IPv6
 * one when it has one (each family's table fills from its own family). Returns how many. */
static size_t cli_testnet_addrs(const struct cli_testnet *t, size_t i, struct addr *out)
{
    const struct addr *a6 = dht_uv_addr6(t->nodes[i]);

    out[0] = *dht_uv_addr(t->nodes[i]);
    if (a6 == NULL) {
        return 1;
    }
    out[1] = *a6;
    return 2;
}

/* The addresses node i starts from: node 0 and a few random earlier ones. */
static size_t cli_testnet_peers(struct cli_testnet *t, size_t i, struct addr *out)
{
    size_t n = 0;

    if (i == 0) {
        return 0;
    }
    n += cli_testnet_addrs(t, 0, out + n);
    for (size_t k = 0; k < CLI_TESTNET_PEERS && i > 1; k++) {
        n += cli_testnet_addrs(t, 1 + random_uniform((uint32_t)(i - 1)), out + n);
    }
    return n;
}

static int cli_testnet_start_node(struct cli_testnet *t, size_t i)
{
    struct addr peers[2 * (1 + CLI_TESTNET_PEERS)];
    struct dht_uv_config cfg;
    char bind_text[ADDR_TEXT_MAX + 8], bind6_text[ADDR_TEXT_MAX + 8], state[4096];
    long long port = t->base_port == 0 ? 0 : t->base_port + (long long)i;
    int rc;

    if (port > 65535) {
        return -EINVAL;
    }
    memset(&cfg, 0, sizeof(cfg));
    snprintf(bind_text, sizeof(bind_text), "%s:%lld", t->bind_ip, port);
    cfg.bind = bind_text;
    if (t->bind6_ip != NULL) {
        snprintf(bind6_text, sizeof(bind6_text), "[%s]:%lld", t->bind6_ip, port);
        cfg.bind6 = bind6_text;
    }
    cfg.bootstrap = t->bootstrap != NULL ? t->bootstrap : "";
    if (t->state_dir != NULL) {
        snprintf(state, sizeof(state), "%s/node-%zu.state", t->state_dir, i);
        cfg.state_file = state;
    }
    cfg.rcvbuf_bytes = CLI_TESTNET_RCVBUF;
    cfg.node.bootstrap = peers;
    cfg.node.nbootstrap = cli_testnet_peers(t, i, peers);
    cfg.node.query_rate_per_s = cfg.node.query_burst = CLI_TESTNET_RATE;
    cfg.node.send_rate_per_s = cfg.node.send_burst = CLI_TESTNET_RATE;
    rc = dht_uv_new(&t->loop, &cfg, &t->nodes[i]);
    if (rc < 0) {
        log_err(CLI_TESTNET_TAG, "node %zu on %s: %s", i, bind_text, strerror(-rc));
        return rc;
    }
    t->open++;
    return 0;
}

/* Node 0 learns of the first few nodes made after it. */
static void cli_testnet_link_first(struct cli_testnet *t)
{
    struct addr later[2 * CLI_TESTNET_PEERS];
    size_t n = 0;

    for (size_t i = 1; i < t->count && i <= CLI_TESTNET_PEERS; i++) {
        n += cli_testnet_addrs(t, i, later + n);
    }
    dht_node_add_bootstrap(dht_uv_node(t->nodes[0]), later, n, uv_now(&t->loop));
}

/* Takes one option with a value. Returns 0, or -EINVAL for a bad name or value. */
static int cli_testnet_option(struct cli_testnet *t, const struct cli_args_opt *o, long long *nodes)
{
    long long v;

    if (strcmp(o->name, "nodes") == 0) {
        return cli_args_number(o->value, 1, CLI_TESTNET_MAX_NODES, nodes);
    }
    if (strcmp(o->name, "port") == 0) {
        return cli_args_number(o->value, 0, 65535, &t->base_port);
    }
    if (strcmp(o->name, "stats-interval-ms") == 0) {
        if (cli_args_number(o->value, 0, 86400000, &v) < 0) {
            return -EINVAL;
        }
        t->stats_ms = (uint64_t)v;
        return 0;
    }
    if (strcmp(o->name, "bind") == 0) {
        t->bind_ip = o->value;
    } else if (strcmp(o->name, "bind6") == 0) {
        t->bind6_ip = o->value;
    } else if (strcmp(o->name, "bootstrap") == 0) {
        t->bootstrap = o->value;
    } else if (strcmp(o->name, "state-dir") == 0) {
        t->state_dir = o->value;
    } else {
        return -EINVAL;
    }
    return 0;
}

/* Returns 0, 1 when help was printed, or CLI_ARGS_EXIT_USAGE. */
static int cli_testnet_parse(struct cli_testnet *t, int argc, char **argv, long long *nodes)
{
    static const char *const bare[] = {"help", "verbose", NULL};
    struct cli_args_opt o;

    for (int i = 1; i < argc;) {
        if (cli_args_next(argc, argv, &i, bare, &o) < 0) {
            fprintf(stderr, "pkdns-cli testnet: unexpected argument %s\n", argv[i]);
            return CLI_ARGS_EXIT_USAGE;
        }
        if (strcmp(o.name, "help") == 0) {
            cli_testnet_usage();
            return 1;
        }
        if (strcmp(o.name, "verbose") == 0) {
            log_set_level(LOG_LEVEL_DEBUG);
            continue;
        }
        if (o.value == NULL || cli_testnet_option(t, &o, nodes) < 0) {
            fprintf(stderr, "pkdns-cli testnet: bad option --%s %s\n", o.name,
                    o.value != NULL ? o.value : "(no value)");
            return CLI_ARGS_EXIT_USAGE;
        }
    }
    if (*nodes == 0) {
        fprintf(stderr, "pkdns-cli testnet: --nodes N is required\n");
        return CLI_ARGS_EXIT_USAGE;
    }
    return 0;
}

static void cli_testnet_start_signals(struct cli_testnet *t)
{
    uv_signal_init(&t->loop, &t->sig_int);
    uv_signal_init(&t->loop, &t->sig_term);
    uv_signal_init(&t->loop, &t->sig_usr1);
    uv_timer_init(&t->loop, &t->stats_timer);
    t->sig_int.data = t->sig_term.data = t->sig_usr1.data = t->stats_timer.data = t;
    uv_signal_start(&t->sig_int, cli_testnet_on_signal, SIGINT);
    uv_signal_start(&t->sig_term, cli_testnet_on_signal, SIGTERM);
    uv_signal_start(&t->sig_usr1, cli_testnet_on_signal, SIGUSR1);
    if (t->stats_ms > 0) {
        uv_timer_start(&t->stats_timer, cli_testnet_on_stats, t->stats_ms, t->stats_ms);
    }
}

/* Starts every node and prints their addresses; returns 0 or the exit status. */
static int cli_testnet_start(struct cli_testnet *t)
{
    char text[ADDR_TEXT_MAX];

    for (size_t i = 0; i < t->count; i++) {
        if (cli_testnet_start_node(t, i) < 0) {
            cli_testnet_stop(t);
            return 1;
        }
    }
    cli_testnet_link_first(t);
    for (size_t i = 0; i < t->count; i++) {
        printf("%s\n", addr_format(dht_uv_addr(t->nodes[i]), text, sizeof(text)));
    }
    for (size_t i = 0; t->bind6_ip != NULL && i < t->count; i++) {
        printf("%s\n", addr_format(dht_uv_addr6(t->nodes[i]), text, sizeof(text)));
    }
    printf("testnet ready: %zu nodes\n", t->count);
    fflush(stdout);
    log_info(CLI_TESTNET_TAG, "%zu nodes on %s from port %u", t->count, t->bind_ip,
             (unsigned)addr_port(dht_uv_addr(t->nodes[0])));
    return 0;
}

int cli_testnet_run(int argc, char **argv)
{
    struct cli_testnet t = {.bind_ip = "127.0.0.1"};
    long long nodes = 0;
    int rc = cli_testnet_parse(&t, argc, argv, &nodes);

    if (rc != 0) {
        return rc == 1 ? 0 : rc;
    }
    t.count = (size_t)nodes;
    t.nodes = calloc(t.count, sizeof(*t.nodes));
    if (t.nodes == NULL || uv_loop_init(&t.loop) != 0) {
        free(t.nodes);
        fprintf(stderr, "pkdns-cli testnet: out of memory\n");
        return 1;
    }
    cli_testnet_start_signals(&t);
    rc = cli_testnet_start(&t);
    uv_run(&t.loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&t.loop) != 0) {
        log_warn(CLI_TESTNET_TAG, "loop closed with handles open");
    }
    free(t.nodes);
    if (rc == 0) {
        log_info(CLI_TESTNET_TAG, "stopped");
    }
    return rc;
}
