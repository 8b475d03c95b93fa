/* generate, publickey, publish and resolve. publish and resolve run one read-only node
 * (BEP 43) that bootstraps, runs one put or get lookup and stops; a deadline, SIGINT or
 * SIGTERM ends it early. A pkarr packet is a BEP 44 mutable item without salt: seq is the
 * packet's timestamp and v the DNS message, so the packet's signature is the item's. */
#include "cli_pkarr.h"

#include "bencode.h"
#include "bep44.h"
#include "cli_args.h"
#include "cli_node.h"
#include "cli_records.h"
#include "dht_lookup.h"
#include "log.h"
#include "pk_packet.h"
#include "pk_seed.h"
#include "pk_zone.h"
#include "zbase32.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CLI_PKARR_TIMEOUT_MS 30000                   /* ours: the default --timeout-ms */
#define CLI_PKARR_ZONE_MAX 65536                     /* ours: a zone file larger is refused */
#define CLI_PKARR_SEED_FILE_MAX 256                  /* ours: a seed file holds one line */
#define CLI_PKARR_KEY_TEXT (ZBASE32_ENCODED_LEN(32)) /* 52 */

/* The DHT side of publish and resolve, with what the lookup found. */
struct cli_pkarr_dht {
    struct cli_node node;
    bool put;
    uint32_t handle;

    /* publish: the item to store; resolve: the newest item found */
    uint8_t key[BEP44_KEY_LEN];
    uint8_t sig[BEP44_SIG_LEN];
    int64_t seq;
    uint8_t value[BEP44_VALUE_MAX]; /* bencoded */
    size_t value_len;
    bool found;
    size_t stored;
};

/* Everything a command reads from its command line. */
struct cli_pkarr_cmd {
    const char *positional[2];
    int npositional;
    bool hex;
};

void cli_pkarr_usage(void)
{
    printf("Usage: pkdns-cli generate [FILE] [--hex]\n"
           "Writes a new random seed (z-base32 as the released Rust pkdns-cli; --hex for 64\n"
           "hex digits) to FILE (created, never overwritten) or stdout; prints the public key.\n\n"
           "Usage: pkdns-cli publickey SEED\n"
           "Prints the z-base32 public key of SEED: a file holding the seed, or the seed.\n\n"
           "Usage: pkdns-cli publish SEED ZONEFILE [OPTIONS]\n"
           "Signs the records of ZONEFILE (implicit $ORIGIN <key>. and $TTL 300) with the\n"
           "timestamp now and stores the packet on the DHT's closest nodes (--nodes N of them,\n"
           "default %d, at most %d); prints \"stored on N nodes\".\n\n"
           "Usage: pkdns-cli resolve KEY [OPTIONS]\n"
           "Looks the packet of KEY (z-base32, \"pk:\" allowed) up, verifies its signature and\n"
           "prints its records, timestamp and age.\n\n"
           "publish and resolve take:\n"
           "  --bootstrap LIST   comma-separated host:port (default: the public routers)\n"
           "  --bind ADDR        local IPv4 address and port (default 0.0.0.0:0)\n"
           "  --rate-limit N     queries per second to one IP (default %d)\n"
           "  --timeout-ms N     give up after N ms (default %d)\n"
           "  -v, --verbose      debug logging\n",
           DHT_LOOKUP_PUT_NODES, DHT_LOOKUP_PUT_NODES_MAX, DHT_NODE_SEND_RATE,
           CLI_PKARR_TIMEOUT_MS);
}

/* ---- the DHT node ---- */

static void cli_pkarr_on_put(void *user, const struct dht_lookup_event *ev)
{
    struct cli_pkarr_dht *d = user;

    if (ev->type != DHT_LOOKUP_DONE) {
        return;
    }
    d->stored = ev->stored;
    printf("stored on %zu nodes\n", ev->stored);
    if (ev->stored == 0) {
        fprintf(stderr, "pkdns-cli publish: no node stored the packet (%s)\n",
                cli_node_lookup_error(ev->status));
    }
    cli_node_finish(&d->node, ev->stored > 0 ? 0 : 1);
}

/* Keeps the newest value (pkarr: the highest timestamp) until the lookup ends. */
static void cli_pkarr_on_get(void *user, const struct dht_lookup_event *ev)
{
    struct cli_pkarr_dht *d = user;
    const struct dht_store_item *item = ev->item;

    if (ev->type == DHT_LOOKUP_VALUE) {
        if (item->value_len > sizeof(d->value) || (d->found && item->seq <= d->seq)) {
            return;
        }
        memcpy(d->sig, item->sig, sizeof(d->sig));
        memcpy(d->value, item->value, item->value_len);
        d->value_len = item->value_len;
        d->seq = item->seq;
        d->found = true;
        return;
    }
    if (!d->found) {
        fprintf(stderr, "pkdns-cli resolve: no packet found (%s)\n",
                cli_node_lookup_error(ev->status < 0 ? ev->status : -ENOENT));
    }
    cli_node_finish(&d->node, d->found ? 0 : 1);
}

static int cli_pkarr_start(struct cli_node *n, void *user)
{
    struct cli_pkarr_dht *d = user;

    if (d->put) {
        struct dht_store_item item = {
            .k = d->key,
            .sig = d->sig,
            .seq = d->seq,
            .value = d->value,
            .value_len = d->value_len,
        };
        return dht_lookup_put(cli_node_dht(n), &item, NULL, cli_pkarr_on_put, d, cli_node_now(n),
                              &d->handle);
    }
    struct dht_lookup_get_args args = {.k = d->key};
    return dht_lookup_get(cli_node_dht(n), &args, cli_pkarr_on_get, d, cli_node_now(n), &d->handle);
}

/* ---- the command line ---- */

/* Takes one option of publish or resolve. Returns 0, or -EINVAL. */
static int cli_pkarr_option(struct cli_pkarr_dht *d, const struct cli_args_opt *o)
{
    if (d == NULL) {
        return -EINVAL;
    }
    if (d->put && strcmp(o->name, "nodes") == 0) {
        return cli_args_number(o->value, 1, DHT_LOOKUP_PUT_NODES_MAX, &d->node.put_nodes);
    }
    return cli_node_option(&d->node, o) == 0 ? 0 : -EINVAL;
}

/* Reads positional arguments (between want_min and want_max) and options; d is NULL for
 * commands that take no DHT options. Returns 0, 1 when help was printed, or
 * CLI_ARGS_EXIT_USAGE. */
static int cli_pkarr_parse(int argc, char **argv, int want_min, int want_max,
                           struct cli_pkarr_cmd *cmd, struct cli_pkarr_dht *d)
{
    static const char *const bare[] = {"help", "verbose", "hex", NULL};
    struct cli_args_opt o;

    for (int i = 1; i < argc;) {
        if (argv[i][0] != '-' || strcmp(argv[i], "-") == 0) {
            if (cmd->npositional == want_max) {
                fprintf(stderr, "pkdns-cli %s: unexpected argument %s\n", argv[0], argv[i]);
                return CLI_ARGS_EXIT_USAGE;
            }
            cmd->positional[cmd->npositional++] = argv[i++];
            continue;
        }
        if (strcmp(argv[i], "-v") == 0) {
            log_set_level(LOG_LEVEL_DEBUG);
            i++;
            continue;
        }
        if (cli_args_next(argc, argv, &i, bare, &o) < 0) {
            fprintf(stderr, "pkdns-cli %s: unexpected argument %s\n", argv[0], argv[i]);
            return CLI_ARGS_EXIT_USAGE;
        }
        if (strcmp(o.name, "help") == 0) {
            cli_pkarr_usage();
            return 1;
        }
        if (strcmp(o.name, "verbose") == 0) {
            log_set_level(LOG_LEVEL_DEBUG);
            continue;
        }
        if (strcmp(o.name, "hex") == 0 && d == NULL) {
            cmd->hex = true;
            continue;
        }
        if (o.value == NULL || cli_pkarr_option(d, &o) < 0) {
            fprintf(stderr, "pkdns-cli %s: bad option --%s %s\n", argv[0], o.name,
                    o.value != NULL ? o.value : "(no value)");
            return CLI_ARGS_EXIT_USAGE;
        }
    }
    if (cmd->npositional < want_min) {
        fprintf(stderr, "pkdns-cli %s: missing argument (see --help)\n", argv[0]);
        return CLI_ARGS_EXIT_USAGE;
    }
    return 0;
}

/* ---- seeds, keys and files ---- */

/* Reads up to cap - 1 bytes of a file and a NUL. Returns the length, or -errno (-EFBIG when
 * the file is longer). */
static int cli_pkarr_read_file(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "rb");
    size_t len;
    int rc;

    if (f == NULL) {
        return -errno;
    }
    len = fread(out, 1, cap, f);
    rc = ferror(f) ? -EIO : len == cap ? -EFBIG : (int)len;
    fclose(f);
    if (rc >= 0) {
        out[len] = '\0';
    }
    return rc;
}

/* Reads SEED: a file holding the seed, or else the seed itself. Prints why on failure.
 * Returns 0, or -EINVAL. */
static int cli_pkarr_seed(const char *arg, uint8_t seed[PK_SEED_LEN])
{
    char text[CLI_PKARR_SEED_FILE_MAX];
    int n = cli_pkarr_read_file(arg, text, sizeof(text));
    int rc;

    if (n >= 0) {
        rc = pk_seed_parse(text, (size_t)n, seed);
        sodium_memzero(text, sizeof(text));
        if (rc < 0) {
            fprintf(stderr,
                    "pkdns-cli: %s does not hold a seed (52 z-base32 characters or "
                    "64 hex digits)\n",
                    arg);
        }
        return rc;
    }
    if (pk_seed_parse(arg, strlen(arg), seed) < 0) {
        fprintf(stderr,
                "pkdns-cli: %s is neither a readable file nor a seed (52 z-base32 "
                "characters or 64 hex digits)\n",
                arg);
        return -EINVAL;
    }
    return 0;
}

static void cli_pkarr_key_text(const uint8_t key[PK_PACKET_KEY_LEN], char *out, size_t cap)
{
    if (zbase32_encode(key, PK_PACKET_KEY_LEN, out, cap) < 0) {
        out[0] = '\0';
    }
}

/* Reads a public key: 52 z-base32 characters, optionally after "pk:". Returns 0, -EINVAL. */
static int cli_pkarr_parse_key(const char *text, uint8_t key[PK_PACKET_KEY_LEN])
{
    if (strncmp(text, "pk:", 3) == 0) {
        text += 3;
    }
    if (strlen(text) != CLI_PKARR_KEY_TEXT) {
        return -EINVAL;
    }
    return zbase32_decode(text, CLI_PKARR_KEY_TEXT, key, PK_PACKET_KEY_LEN) == PK_PACKET_KEY_LEN
               ? 0
               : -EINVAL;
}

/* ---- generate and publickey ---- */

/* Writes the seed text and a newline to a new file only its owner reads. Returns 0, -errno. */
static int cli_pkarr_write_seed(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    size_t len = strlen(text);
    ssize_t n;

    if (fd < 0) {
        return -errno;
    }
    n = write(fd, text, len);
    if (n == (ssize_t)len) {
        n = write(fd, "\n", 1) == 1 ? n : -1;
    }
    if (n != (ssize_t)len || close(fd) != 0) {
        int err = errno != 0 ? -errno : -EIO;
        unlink(path);
        return err;
    }
    return 0;
}

int cli_pkarr_generate_run(int argc, char **argv)
{
    struct cli_pkarr_cmd cmd = {0};
    uint8_t seed[PK_SEED_LEN], key[PK_PACKET_KEY_LEN], secret[PK_PACKET_SECRET_LEN];
    char text[PK_SEED_HEX_LEN + 1], key_text[CLI_PKARR_KEY_TEXT + 1];
    int rc = cli_pkarr_parse(argc, argv, 0, 1, &cmd, NULL);

    if (rc != 0) {
        return rc == 1 ? 0 : rc;
    }
    randombytes_buf(seed, sizeof(seed));
    if (cmd.hex) {
        pk_seed_to_hex(seed, text);
    } else {
        zbase32_encode(seed, sizeof(seed), text, sizeof(text));
    }
    pk_seed_keypair(seed, key, secret);
    sodium_memzero(seed, sizeof(seed));
    sodium_memzero(secret, sizeof(secret));
    cli_pkarr_key_text(key, key_text, sizeof(key_text));

    if (cmd.npositional == 0) {
        printf("%s\n", text);
        fprintf(stderr, "public key: %s\n", key_text);
        sodium_memzero(text, sizeof(text));
        return 0;
    }
    rc = cli_pkarr_write_seed(cmd.positional[0], text);
    sodium_memzero(text, sizeof(text));
    if (rc < 0) {
        fprintf(stderr, "pkdns-cli generate: cannot create %s: %s\n", cmd.positional[0],
                strerror(-rc));
        return 1;
    }
    printf("seed written to %s\npublic key: %s\n", cmd.positional[0], key_text);
    return 0;
}

int cli_pkarr_publickey_run(int argc, char **argv)
{
    struct cli_pkarr_cmd cmd = {0};
    uint8_t seed[PK_SEED_LEN], key[PK_PACKET_KEY_LEN], secret[PK_PACKET_SECRET_LEN];
    char key_text[CLI_PKARR_KEY_TEXT + 1];
    int rc = cli_pkarr_parse(argc, argv, 1, 1, &cmd, NULL);

    if (rc != 0) {
        return rc == 1 ? 0 : rc;
    }
    if (cmd.hex) {
        fprintf(stderr, "pkdns-cli publickey: bad option --hex\n");
        return CLI_ARGS_EXIT_USAGE;
    }
    if (cli_pkarr_seed(cmd.positional[0], seed) < 0) {
        return 1;
    }
    pk_seed_keypair(seed, key, secret);
    sodium_memzero(seed, sizeof(seed));
    sodium_memzero(secret, sizeof(secret));
    cli_pkarr_key_text(key, key_text, sizeof(key_text));
    printf("%s\n", key_text);
    return 0;
}

/* ---- publish ---- */

static uint64_t cli_pkarr_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Reads the zone file into records for the key. Prints why on failure. Returns 0, -errno. */
static int cli_pkarr_zone(const char *path, const uint8_t key[PK_PACKET_KEY_LEN],
                          struct pk_rr_set *records)
{
    struct pk_zone_error err;
    char *text = malloc(CLI_PKARR_ZONE_MAX);
    int n, rc;

    if (text == NULL) {
        return -ENOMEM;
    }
    n = cli_pkarr_read_file(path, text, CLI_PKARR_ZONE_MAX);
    if (n < 0) {
        fprintf(stderr, "pkdns-cli publish: cannot read %s: %s\n", path,
                n == -EFBIG ? "larger than 64 KiB" : strerror(-n));
        free(text);
        return n;
    }
    rc = pk_zone_read(text, (size_t)n, key, records, &err);
    free(text);
    if (rc < 0 && err.line > 0) {
        fprintf(stderr, "pkdns-cli publish: %s:%d: %s\n", path, err.line, err.message);
    } else if (rc < 0) {
        fprintf(stderr, "pkdns-cli publish: %s: %s\n", path, err.message);
    }
    return rc;
}

/* Signs the records into a packet and turns it into the item to store. Returns 0, -errno. */
static int cli_pkarr_sign(struct cli_pkarr_dht *d, const struct pk_rr_set *records,
                          const uint8_t secret[PK_PACKET_SECRET_LEN])
{
    uint8_t packet[PK_PACKET_MAX];
    struct bencode_writer w;
    uint64_t now_us = cli_pkarr_now_us();
    int msg_len, len;

    msg_len =
        pk_packet_build_message(records, d->key, packet + PK_PACKET_HEAD_LEN, PK_PACKET_MSG_MAX);
    if (msg_len < 0 || msg_len > PK_PACKET_PUBLISH_MAX) {
        fprintf(stderr, "pkdns-cli publish: the records do not fit a %d-byte packet\n",
                PK_PACKET_PUBLISH_MAX);
        return msg_len < 0 ? msg_len : -EMSGSIZE;
    }
    len = pk_packet_sign(secret, now_us, packet + PK_PACKET_HEAD_LEN, (size_t)msg_len, packet,
                         sizeof(packet));
    if (len < 0) {
        return len;
    }
    memcpy(d->sig, packet + PK_PACKET_KEY_LEN, PK_PACKET_SIG_LEN);
    d->seq = (int64_t)now_us;
    bencode_writer_init(&w, d->value, sizeof(d->value));
    bencode_write_str(&w, packet + PK_PACKET_HEAD_LEN, (size_t)msg_len);
    if (w.err < 0) {
        return w.err;
    }
    d->value_len = w.len;
    printf("packet: %d bytes (DNS message %d bytes, %zu records)\n", len, msg_len, records->count);
    return 0;
}

static int cli_pkarr_publish(struct cli_pkarr_dht *d, const struct cli_pkarr_cmd *cmd)
{
    uint8_t seed[PK_SEED_LEN], secret[PK_PACKET_SECRET_LEN];
    char key_text[CLI_PKARR_KEY_TEXT + 1];
    struct pk_rr_set *records;
    int rc;

    if (cli_pkarr_seed(cmd->positional[0], seed) < 0) {
        return 1;
    }
    pk_seed_keypair(seed, d->key, secret);
    sodium_memzero(seed, sizeof(seed));
    records = malloc(sizeof(*records));
    rc = records != NULL ? cli_pkarr_zone(cmd->positional[1], d->key, records) : -ENOMEM;
    if (rc == 0) {
        cli_pkarr_key_text(d->key, key_text, sizeof(key_text));
        printf("public key: %s\n", key_text);
        rc = cli_pkarr_sign(d, records, secret);
    }
    sodium_memzero(secret, sizeof(secret));
    free(records);
    if (rc < 0) {
        return 1;
    }
    fflush(stdout);
    return cli_node_run(&d->node, cli_pkarr_start, d);
}

/* Builds, verifies and prints the packet found. Returns the exit status. */
static int cli_pkarr_show(const struct cli_pkarr_dht *d)
{
    uint8_t packet[PK_PACKET_MAX];
    struct pk_packet *p = malloc(sizeof(*p));
    uint64_t now_us = cli_pkarr_now_us();
    time_t when;
    struct tm tm;
    char stamp[32];
    int len, rc;

    if (p == NULL) {
        return 1;
    }
    len =
        pk_packet_from_item(d->key, d->sig, d->seq, d->value, d->value_len, packet, sizeof(packet));
    rc = len < 0 ? len : pk_packet_decode(packet, (size_t)len, true, p);
    if (rc < 0) {
        fprintf(stderr, "pkdns-cli resolve: the packet found is not valid: %s\n",
                rc == -EBADMSG ? "bad signature or DNS message" : strerror(-rc));
        free(p);
        return 1;
    }
    for (size_t i = 0; i < p->records.count; i++) {
        cli_records_print(&p->records.rr[i]);
    }
    when = (time_t)(p->timestamp_us / 1000000u);
    gmtime_r(&when, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("timestamp: %s (%llu us)\n", stamp, (unsigned long long)p->timestamp_us);
    if (now_us >= p->timestamp_us) {
        printf("age: %llu s\n", (unsigned long long)((now_us - p->timestamp_us) / 1000000u));
    } else {
        printf("age: %llu s in the future\n",
               (unsigned long long)((p->timestamp_us - now_us) / 1000000u));
    }
    printf("packet: %d bytes, %zu records\nsignature verified\n", len, p->records.count);
    free(p);
    return 0;
}

/* ---- publish and resolve ---- */

static int cli_pkarr_dht_main(bool put, int argc, char **argv)
{
    struct cli_pkarr_cmd cmd = {0};
    struct cli_pkarr_dht *d = calloc(1, sizeof(*d));
    int status;

    if (d == NULL) {
        return 1;
    }
    d->put = put;
    cli_node_init(&d->node, argv[0], CLI_PKARR_TIMEOUT_MS);
    status = cli_pkarr_parse(argc, argv, put ? 2 : 1, put ? 2 : 1, &cmd, d);
    if (status != 0) {
        free(d);
        return status == 1 ? 0 : status;
    }
    if (put) {
        status = cli_pkarr_publish(d, &cmd);
    } else if (cli_pkarr_parse_key(cmd.positional[0], d->key) < 0) {
        fprintf(stderr, "pkdns-cli resolve: %s is not a public key (52 z-base32 characters)\n",
                cmd.positional[0]);
        status = 1;
    } else {
        status = cli_node_run(&d->node, cli_pkarr_start, d);
        status = status == 0 ? cli_pkarr_show(d) : status;
    }
    free(d);
    return status;
}

int cli_pkarr_publish_run(int argc, char **argv)
{
    return cli_pkarr_dht_main(true, argc, argv);
}

int cli_pkarr_resolve_run(int argc, char **argv)
{
    return cli_pkarr_dht_main(false, argc, argv);
}
