/* pkdns-cli generate, publickey, publish and resolve: the everyday pkarr commands, on seeds
 * (z-base32 or hex), zone files and one short-lived, read-only DHT node. */
#ifndef PK_CLI_PKARR_H
#define PK_CLI_PKARR_H

/* Runs generate (argv[0] "generate"): writes a new random seed to FILE or stdout and prints
 * its public key. Returns the exit status: 0, 1 when the file cannot be written, 2 for usage. */
int cli_pkarr_generate_run(int argc, char **argv);

/* Runs publickey (argv[0] "publickey"): prints the z-base32 public key of a seed (a file
 * holding it, or the seed itself). Returns 0, 1 for a bad seed, 2 for usage. */
int cli_pkarr_publickey_run(int argc, char **argv);

/* Runs publish (argv[0] "publish"): signs the records of a zone file and stores the packet.
 * Returns 0 when at least one node stored it, 1 otherwise, 2 for usage. */
int cli_pkarr_publish_run(int argc, char **argv);

/* Runs resolve (argv[0] "resolve"): looks a public key's packet up, verifies and prints it.
 * Returns 0 when a packet was found and verified, 1 otherwise, 2 for usage. */
int cli_pkarr_resolve_run(int argc, char **argv);

/* Prints the help of the four commands. */
void cli_pkarr_usage(void);

#endif
