/* pkdns-cli: the companion tool of pkdns. The pkarr commands (generate, publickey, publish,
 * resolve) and the DHT tools: testnet (a loopback network of our nodes for tests and benches)
 * and the low-level dht-put and dht-get. */
#include "cli_dht.h"
#include "cli_pkarr.h"
#include "cli_testnet.h"
#include "log.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define CLI_MAIN_EXIT_USAGE 2

static void cli_main_usage(FILE *to)
{
    fprintf(to, "Usage: pkdns-cli COMMAND [OPTIONS]\n\n"
                "Commands:\n"
                "  generate  write a new random seed and print its public key\n"
                "  publickey print the public key of a seed\n"
                "  publish   sign the records of a zone file and store them on the DHT\n"
                "  resolve   look a public key's records up on the DHT and verify them\n"
                "  testnet   run N DHT nodes on loopback in one process\n"
                "  dht-put   store a signed BEP 44 mutable item (low-level)\n"
                "  dht-get   look a BEP 44 mutable item up (low-level)\n\n"
                "pkdns-cli COMMAND --help describes a command. --version prints the version.\n");
}

int main(int argc, char **argv)
{
    log_init();
    if (argc < 2) {
        cli_main_usage(stderr);
        return CLI_MAIN_EXIT_USAGE;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        cli_main_usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("pkdns-cli %s\n", PKDNS_VERSION);
        return 0;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "pkdns-cli: libsodium cannot be initialised\n");
        return 1;
    }
    if (strcmp(argv[1], "generate") == 0) {
        return cli_pkarr_generate_run(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "publickey") == 0) {
        return cli_pkarr_publickey_run(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "publish") == 0) {
        return cli_pkarr_publish_run(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "resolve") == 0) {
        return cli_pkarr_resolve_run(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "testnet") == 0) {
        return cli_testnet_run(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "dht-put") == 0) {
        return cli_dht_put_run(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "dht-get") == 0) {
        return cli_dht_get_run(argc - 1, argv + 1);
    }
    fprintf(stderr, "pkdns-cli: unknown command %s\n", argv[1]);
    cli_main_usage(stderr);
    return CLI_MAIN_EXIT_USAGE;
}
