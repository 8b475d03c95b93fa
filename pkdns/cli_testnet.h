/* pkdns-cli testnet: N of our DHT nodes on loopback in one process, for tests and benches. */
#ifndef PK_CLI_TESTNET_H
#define PK_CLI_TESTNET_H

/* Runs the testnet subcommand with its arguments (argv[0] is "testnet"); returns the exit
 * status: 0 after SIGINT or SIGTERM, 1 on a startup error, 2 on a usage error. */
int cli_testnet_run(int argc, char **argv);

/* Prints the subcommand's help. */
void cli_testnet_usage(void);

#endif
