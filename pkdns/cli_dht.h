/* pkdns-cli dht-put and dht-get: low-level BEP 44 tools on a short-lived, read-only node. */
#ifndef PK_CLI_DHT_H
#define PK_CLI_DHT_H

/* Runs dht-put (argv[0] "dht-put"): signs a mutable item with an ed25519 seed and stores it.
 * Returns the exit status: 0 when at least one node stored it, 1 otherwise, 2 for usage. */
int cli_dht_put_run(int argc, char **argv);

/* Runs dht-get (argv[0] "dht-get"): prints the first verified value and the newest.
 * Returns the exit status: 0 when a value was found, 1 otherwise, 2 for usage. */
int cli_dht_get_run(int argc, char **argv);

/* Prints the help of both subcommands. */
void cli_dht_usage(void);

#endif
