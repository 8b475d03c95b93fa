/* dht-put and dht-get: one read-only node (BEP 43) that bootstraps, runs one lookup, prints
 * what it found and stops. The lookup starts as soon as the bootstrap names are resolved; a
 * deadline, SIGINT or SIGTERM ends it early. */
#include "cli_dht.h"

#include "bencode.h"
#include "bep44.h"
#include "cli_args.h"
#include "cli_node.h"
#include "dht_lookup.h"
#include "log.h"

#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLI_DHT_TAG "cli"
#define CLI_DHT_TIMEOUT_MS 60000 /* ours: the default --timeout-ms */
#define CLI_DHT_HEX_MAX (2 * BEP44_VALUE_MAX + 1)
#define CLI_DHT_KEYS_MAX 1000 /* ours: --key given this many times at most */

struct cli_dht {
    struct cli_node node;
    bool put;
    uint64_t started_ms;
    uint32_t handle;

    /* options */
    const char *salt;
    long long seq;
    bool has_cas;
    long long cas;
    bool have_seed, have_seq, have_value;
    uint8_t key[BEP44_KEY_LEN];                    /* dht-put: the public key of the seed */
    uint8_t keys[CLI_DHT_KEYS_MAX][BEP44_KEY_LEN]; /* dht-get: looked up one after another */
    size_t nkeys;
    size_t next_key;
    size_t not_found;
    uint8_t secret[crypto_sign_SECRETKEYBYTES];
    uint8_t value[BEP44_VALUE_MAX]; /* bencoded */
    size_t value_len;
    bool got_value;
};

void cli_dht_usage(void)
{
    printf("Low-level tools; pkdns-cli publish and resolve are the everyday commands.\n\n"
           "Usage: pkdns-cli dht-put --seed HEX --seq N --value-hex HEX [OPTIONS]\n"
           "Signs a BEP 44 mutable item (v = the bytes of --value-hex as a string) with the\n"
           "ed25519 seed (32 bytes, hex) and stores it on the closest nodes (--nodes N of\n"
           "them, default %d, at most %d). Prints \"stored on N nodes\"; exit 0 when N > 0.\n\n"
           "Usage: pkdns-cli dht-get --key HEX [OPTIONS]\n"
           "Looks the mutable item of the public key (32 bytes, hex) up. Prints\n"
           "\"first seq=N value=HEX from=ADDR ms=T\" when a verified value comes, then\n"
           "\"newest seq=N value=HEX ...\" when the lookup ends; exit 0 when found.\n\n"
           "Both take:\n"
           "  --bootstrap LIST   comma-separated host:port (default: the public routers)\n"
           "  --salt TEXT        BEP 44 salt (up to 64 bytes)\n"
           "  --bind ADDR        local IPv4 address and port (default 0.0.0.0:0)\n"
           "  --rate-limit N     queries per second to one IP (default %d; raise it on\n"
           "                     a loopback network where every node shares one IP)\n"
           "  --timeout-ms N     give up after N ms (default %d)\n"
           "  -v, --verbose      debug logging\n"
           "dht-put also takes --cas N (BEP 44 compare-and-swap). dht-get takes --key up to\n"
           "%d times (looked up one after another on the same node) and --warm-ms N (wait\n"
           "N ms after bootstrapping starts before the first lookup).\n"
           "A value that is not a string is printed as bencoded=HEX instead of value=HEX.\n",
           DHT_LOOKUP_PUT_NODES, DHT_LOOKUP_PUT_NODES_MAX, DHT_NODE_SEND_RATE, CLI_DHT_TIMEOUT_MS,
           CLI_DHT_KEYS_MAX);
}

/* ---- printing ---- */

/* Prints " value=HEX" for a string value, " bencoded=HEX" for anything else. */
static void cli_dht_print_value(const uint8_t *value, size_t value_len)
{
    struct bencode_tok toks[2];
    struct bencode doc;
    const uint8_t *str = value;
    size_t len = value_len;
    const char *name = "bencoded";
    char hex[CLI_DHT_HEX_MAX];

    if (bencode_parse(&doc, value, value_len, toks, 2) >= 0 &&
        bencode_str(&doc, 0, &str, &len) == 0) {
        name = "value";
    } else {
        str = value;
        len = value_len;
    }
    cli_args_to_hex(str, len, hex);
    printf(" %s=%s", name, hex);
}

static int cli_dht_start_get(struct cli_dht *c);

static void cli_dht_on_get(void *user, const struct dht_lookup_event *ev)
{
    struct cli_dht *c = user;
    uint64_t ms = cli_node_now(&c->node) - c->started_ms;
    char from[ADDR_TEXT_MAX];

    if (ev->type == DHT_LOOKUP_VALUE) {
        c->seq = ev->item->seq;
        memcpy(c->value, ev->item->value, ev->item->value_len);
        c->value_len = ev->item->value_len;
        printf("%s seq=%lld", c->got_value ? "newer" : "first", c->seq);
        cli_dht_print_value(c->value, c->value_len);
        printf(" from=%s ms=%llu\n", addr_format(ev->from, from, sizeof(from)),
               (unsigned long long)ms);
        fflush(stdout);
        c->got_value = true;
        return;
    }
    if (ev->status == 0) {
        printf("newest seq=%lld", c->seq);
        cli_dht_print_value(c->value, c->value_len);
    } else {
        printf("not found (%s)", strerror(-ev->status));
    }
    /* bad_values: values whose signature or target did not verify, dropped. */
    printf(" queried=%zu responded=%zu bad_values=%llu ms=%llu\n", ev->queried, ev->responded,
           (unsigned long long)dht_node_stats(cli_node_dht(&c->node))->bad_values,
           (unsigned long long)ev->elapsed_ms);
    fflush(stdout);
    c->not_found += ev->status == 0 ? 0 : 1;
    c->got_value = false;
    if (++c->next_key < c->nkeys && cli_dht_start_get(c) == 0) {
        return;
    }
    cli_node_finish(&c->node, c->not_found == 0 && c->next_key == c->nkeys ? 0 : 1);
}

static void cli_dht_on_put(void *user, const struct dht_lookup_event *ev)
{
    struct cli_dht *c = user;

    if (ev->type != DHT_LOOKUP_DONE) {
        return;
    }
    printf("stored on %zu nodes", ev->stored);
    if (ev->refused > 0) {
        printf("; refused by %zu:", ev->refused);
        for (size_t i = 0; i < ev->refused && i < DHT_LOOKUP_PUT_NODES_MAX; i++) {
            printf(" %lld", (long long)ev->errors[i]);
        }
    }
    printf(" (queried=%zu responded=%zu ms=%llu)\n", ev->queried, ev->responded,
           (unsigned long long)ev->elapsed_ms);
    if (ev->status < 0 && ev->stored == 0) {
        printf("put failed: %s\n", strerror(-ev->status));
    }
    cli_node_finish(&c->node, ev->stored > 0 ? 0 : 1);
}

/* ---- the lookup ---- */

static int cli_dht_start_put(struct cli_dht *c)
{
    size_t salt_len = c->salt != NULL ? strlen(c->salt) : 0;
    uint8_t sig[BEP44_SIG_LEN];
    struct dht_store_item item = {
        .k = c->key,
        .sig = sig,
        .seq = c->seq,
        .salt = (const uint8_t *)c->salt,
        .salt_len = salt_len,
        .value = c->value,
        .value_len = c->value_len,
    };
    int64_t cas = c->cas;
    int rc = bep44_sign(c->secret, item.salt, salt_len, c->seq, c->value, c->value_len, sig);

    if (rc < 0) {
        return rc;
    }
    return dht_lookup_put(cli_node_dht(&c->node), &item, c->has_cas ? &cas : NULL, cli_dht_on_put,
                          c, cli_node_now(&c->node), &c->handle);
}

static int cli_dht_start_get(struct cli_dht *c)
{
    struct dht_lookup_get_args args = {
        .k = c->keys[c->next_key],
        .salt = (const uint8_t *)c->salt,
        .salt_len = c->salt != NULL ? strlen(c->salt) : 0,
    };

    c->started_ms = cli_node_now(&c->node);
    return dht_lookup_get(cli_node_dht(&c->node), &args, cli_dht_on_get, c, cli_node_now(&c->node),
                          &c->handle);
}

static int cli_dht_start(struct cli_node *n, void *user)
{
    struct cli_dht *c = user;

    (void)n;
    return c->put ? cli_dht_start_put(c) : cli_dht_start_get(c);
}

/* ---- options ---- */

static int cli_dht_take_hex(const char *text, uint8_t *out, size_t want)
{
    size_t len;

    return cli_args_hex(text, out, want, &len) == 0 && len == want ? 0 : -EINVAL;
}

/* Takes a --value-hex: its bytes become a bencoded string. */
static int cli_dht_take_value(struct cli_dht *c, const char *text)
{
    uint8_t raw[BEP44_VALUE_MAX];
    struct bencode_writer w;
    size_t len;

    if (cli_args_hex(text, raw, sizeof(raw), &len) < 0) {
        return -EINVAL;
    }
    bencode_writer_init(&w, c->value, sizeof(c->value));
    bencode_write_str(&w, raw, len);
    if (w.err < 0) {
        return -EINVAL;
    }
    c->value_len = w.len;
    c->have_value = true;
    return 0;
}

static int cli_dht_take_seed(struct cli_dht *c, const char *text)
{
    uint8_t seed[crypto_sign_SEEDBYTES];

    if (cli_dht_take_hex(text, seed, sizeof(seed)) < 0) {
        return -EINVAL;
    }
    crypto_sign_seed_keypair(c->key, c->secret, seed);
    sodium_memzero(seed, sizeof(seed));
    c->have_seed = true;
    return 0;
}

/* Takes one option with a value. Returns 0, or -EINVAL for a bad name or value. */
static int cli_dht_option(struct cli_dht *c, const struct cli_args_opt *o)
{
    const char *n = o->name, *v = o->value;

    int rc = cli_node_option(&c->node, o);

    if (rc <= 0) {
        return rc;
    }
    if (strcmp(n, "salt") == 0) {
        c->salt = v;
        return strlen(v) <= BEP44_SALT_MAX ? 0 : -EINVAL;
    }
    if (!c->put && strcmp(n, "key") == 0) {
        if (c->nkeys == CLI_DHT_KEYS_MAX) {
            return -EINVAL;
        }
        return cli_dht_take_hex(v, c->keys[c->nkeys++], BEP44_KEY_LEN);
    }
    if (!c->put && strcmp(n, "warm-ms") == 0) {
        return cli_args_number(v, 0, 3600000, &c->node.warm_ms);
    }
    if (c->put && strcmp(n, "seed") == 0) {
        return cli_dht_take_seed(c, v);
    }
    if (c->put && strcmp(n, "seq") == 0) {
        c->have_seq = true;
        return cli_args_number(v, INT64_MIN, INT64_MAX, &c->seq);
    }
    if (c->put && strcmp(n, "cas") == 0) {
        c->has_cas = true;
        return cli_args_number(v, INT64_MIN, INT64_MAX, &c->cas);
    }
    if (c->put && strcmp(n, "nodes") == 0) {
        return cli_args_number(v, 1, DHT_LOOKUP_PUT_NODES_MAX, &c->node.put_nodes);
    }
    if (c->put && strcmp(n, "value-hex") == 0) {
        return cli_dht_take_value(c, v);
    }
    return -EINVAL;
}

/* Returns 0, 1 when help was printed, or CLI_ARGS_EXIT_USAGE. */
static int cli_dht_parse(struct cli_dht *c, int argc, char **argv)
{
    static const char *const bare[] = {"help", "verbose", NULL};
    struct cli_args_opt o;

    for (int i = 1; i < argc;) {
        if (cli_args_next(argc, argv, &i, bare, &o) < 0) {
            fprintf(stderr, "pkdns-cli %s: unexpected argument %s\n", argv[0], argv[i]);
            return CLI_ARGS_EXIT_USAGE;
        }
        if (strcmp(o.name, "help") == 0) {
            cli_dht_usage();
            return 1;
        }
        if (strcmp(o.name, "verbose") == 0) {
            log_set_level(LOG_LEVEL_DEBUG);
            continue;
        }
        if (o.value == NULL || cli_dht_option(c, &o) < 0) {
            fprintf(stderr, "pkdns-cli %s: bad option --%s %s\n", argv[0], o.name,
                    o.value != NULL ? o.value : "(no value)");
            return CLI_ARGS_EXIT_USAGE;
        }
    }
    if (c->put ? !(c->have_seed && c->have_seq && c->have_value) : c->nkeys == 0) {
        fprintf(stderr, "pkdns-cli %s: %s required (see --help)\n", argv[0],
                c->put ? "--seed, --seq and --value-hex are" : "--key is");
        return CLI_ARGS_EXIT_USAGE;
    }
    return 0;
}

/* ---- running ---- */

static int cli_dht_main(bool put, int argc, char **argv)
{
    struct cli_dht *c = calloc(1, sizeof(*c));
    int status;

    if (c == NULL) {
        return 1;
    }
    c->put = put;
    cli_node_init(&c->node, argv[0], CLI_DHT_TIMEOUT_MS);
    status = cli_dht_parse(c, argc, argv);
    if (status == 0) {
        status = cli_node_run(&c->node, cli_dht_start, c);
    } else if (status == 1) {
        status = 0;
    }
    sodium_memzero(c->secret, sizeof(c->secret));
    free(c);
    return status;
}

int cli_dht_put_run(int argc, char **argv)
{
    return cli_dht_main(true, argc, argv);
}

int cli_dht_get_run(int argc, char **argv)
{
    return cli_dht_main(false, argc, argv);
}
