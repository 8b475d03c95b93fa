/* The short-lived DHT node of pkdns-cli's dht-put, dht-get, publish and resolve: read-only
 * (BEP 43), it bootstraps, runs the command's lookups and stops when the command finishes, at
 * its deadline, or on SIGINT or SIGTERM. */
#ifndef PK_CLI_NODE_H
#define PK_CLI_NODE_H

#include "cli_args.h"
#include "dht_node.h"
#include "dht_uv.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct cli_node;

/* Starts the command's first lookup once the bootstrap names are resolved. Returns 0, or
 * -errno (the node then stops with exit status 1). */
typedef int (*cli_node_start_fn)(struct cli_node *n, void *user);

struct cli_node {
    uv_loop_t loop;
    struct dht_uv *uv;
    uv_signal_t sig_int, sig_term;
    uv_timer_t deadline;
    uv_timer_t pause; /* warm_ms: the wait between bootstrapping and the first lookup */
    bool closing;
    int exit_status; /* -1 while running */
    const char *command;
    cli_node_start_fn start;
    void *user;

    /* the options every such command takes */
    const char *bootstrap;
    const char *bind;
    long long rate;
    long long timeout_ms;
    long long warm_ms;
    long long put_nodes; /* dht-put --nodes: stores on this many nodes; 0: the node's default */
};

/* Sets the defaults; `command` (argv[0]) names the command in messages. */
void cli_node_init(struct cli_node *n, const char *command, long long timeout_ms);

/* Takes --bootstrap, --bind, --rate-limit and --timeout-ms. Returns 0 when taken, 1 when the
 * option is not one of these, -EINVAL for a bad value. */
int cli_node_option(struct cli_node *n, const struct cli_args_opt *o);

/* Runs the node until the command finishes. Returns the exit status (1 when it never did). */
int cli_node_run(struct cli_node *n, cli_node_start_fn start, void *user);

/* Ends the command with `status`; may be called from a lookup callback. */
void cli_node_finish(struct cli_node *n, int status);

struct dht_node *cli_node_dht(struct cli_node *n);
uint64_t cli_node_now(struct cli_node *n);

/* Why a lookup ended without a result, in words. */
const char *cli_node_lookup_error(int status);

#endif
