/* Fuzzes the whole node: datagrams from four addresses, with time moving on, while a get, a
 * put and a find_node run. The input is a list of records:
 *   byte 0: bits 0-1 the source (10.0.0.1 to .3, and 2001:db8::4, port 6881; the first two
 *           bootstrap the node, which speaks IPv6 too, BEP 32), bit 2 reply mode, bits 3-7 the
 *           time that passes first (in 100 ms steps);
 *   bytes 1-2: payload length (big-endian), then the payload.
 * A raw record is one datagram as it is. A reply-mode record answers the node's latest query
 * to that source with a response built from the payload (ID, flags, nodes, seq, value), so
 * that the lookups get deep; its value is signed with the test key when the flags ask, and its
 * contacts go in "nodes6" (38 bytes each) when the flags say so.
 * The checks: every datagram the node sends parses as KRPC, every value a get delivers
 * verifies, the node never crashes, and an export of its table imports again. */
#include "bep44.h"
#include "dht_lookup.h"
#include "dht_node.h"
#include "krpc.h"
#include "log.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_SOURCES 4
#define FUZZ_STEP_MS 100
#define FUZZ_DRAIN_MS 70000 /* past DHT_LOOKUP_MAX_MS: every lookup ends */
#define FUZZ_REPLY_MIN 22   /* ID and the flags and node-count bytes */

enum fuzz_reply_flags {
    FUZZ_WITH_VALUE = 1,
    FUZZ_WITH_TOKEN = 2,
    FUZZ_AS_ERROR = 4,
    FUZZ_SIGNED = 8,
    FUZZ_NODES6 = 16,
};

struct fuzz_state {
    uint64_t rng;
    uint64_t now_ms;
    struct addr sources[FUZZ_SOURCES];
    /* the transaction ID of the latest query sent to each source */
    uint8_t tid[FUZZ_SOURCES][KRPC_TID_MAX];
    size_t tid_len[FUZZ_SOURCES];
    enum krpc_method method[FUZZ_SOURCES];
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
};

static struct fuzz_state fz;

/* A repeatable generator, so a crash replays exactly (splitmix64). */
static void fuzz_random(void *ctx, void *buf, size_t len)
{
    uint8_t *out = buf;

    (void)ctx;
    for (size_t i = 0; i < len; i++) {
        uint64_t z = (fz.rng += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        out[i] = (uint8_t)(z ^ (z >> 31));
    }
}

static void fuzz_setup(void)
{
    uint8_t seed[crypto_sign_SEEDBYTES] = {7};

    memset(&fz, 0, sizeof(fz));
    fz.now_ms = 1000;
    for (uint32_t i = 0; i < FUZZ_SOURCES - 1; i++) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&fz.sources[i].sa;
        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = htonl(0x0a000001u + i);
        sin->sin_port = htons(6881);
        fz.sources[i].len = sizeof(*sin);
    }
    {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&fz.sources[FUZZ_SOURCES - 1].sa;
        static const uint8_t ip6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 4};
        sin6->sin6_family = AF_INET6;
        memcpy(&sin6->sin6_addr, ip6, sizeof(ip6));
        sin6->sin6_port = htons(6881);
        fz.sources[FUZZ_SOURCES - 1].len = sizeof(*sin6);
    }
    crypto_sign_seed_keypair(fz.pk, fz.sk, seed);
}

static int fuzz_source_of(const struct addr *to)
{
    for (int i = 0; i < FUZZ_SOURCES; i++) {
        if (addr_equal(to, &fz.sources[i])) {
            return i;
        }
    }
    return -1;
}

/* Takes every queued datagram; each must parse, and queries to a source are remembered. */
static void fuzz_drain(struct dht_node *node)
{
    uint8_t buf[DHT_NODE_DATAGRAM_MAX];
    struct krpc_msg m;
    struct addr to;
    int len;

    while ((len = dht_node_next_output(node, buf, sizeof(buf), &to)) > 0) {
        int src = fuzz_source_of(&to);
        if (krpc_parse(&m, buf, (size_t)len) != 0) {
            abort();
        }
        if (src >= 0 && m.type == KRPC_QUERY && m.t.len <= KRPC_TID_MAX) {
            memcpy(fz.tid[src], m.t.data, m.t.len);
            fz.tid_len[src] = m.t.len;
            fz.method[src] = m.method;
        }
    }
    if (len < 0) {
        abort();
    }
}

static void fuzz_tick(struct dht_node *node)
{
    if (dht_node_timeout_ms(node, fz.now_ms) == 0) {
        dht_node_tick(node, fz.now_ms);
    }
    fuzz_drain(node);
}

static void fuzz_on_event(void *user, const struct dht_lookup_event *ev)
{
    const struct dht_store_item *item = ev->item;

    (void)user;
    if (ev->type != DHT_LOOKUP_VALUE || item->k == NULL) {
        return;
    }
    /* BEP 44: a value reaches the caller only once its signature verifies. */
    if (bep44_verify(item->k, item->sig, item->salt, item->salt_len, item->seq, item->value,
                     item->value_len) != 0) {
        abort();
    }
}

/* Fills the value part of a reply from p[0..len): seq (8 bytes) then the value bytes. */
static void fuzz_reply_value(struct krpc_msg *r, const uint8_t *p, size_t len, bool sign,
                             uint8_t *value, uint8_t *sig)
{
    uint64_t seq = 0;
    size_t vlen;

    for (size_t i = 0; i < 8 && i < len; i++) {
        seq = seq << 8 | p[i];
    }
    p += len < 8 ? len : 8;
    len -= len < 8 ? len : 8;
    vlen = len < 900 ? len : 900;
    value[0] = '0' + (uint8_t)(vlen / 100);
    value[1] = '0' + (uint8_t)(vlen / 10 % 10);
    value[2] = '0' + (uint8_t)(vlen % 10);
    value[3] = ':';
    memcpy(value + 4, p, vlen);
    r->value.data = value;
    r->value.len = vlen + 4;
    r->has_seq = true;
    r->seq = (int64_t)(seq >> 1);
    r->k = fz.pk;
    memset(sig, 0x5a, BEP44_SIG_LEN);
    if (sign) {
        bep44_sign(fz.sk, NULL, 0, r->seq, value, r->value.len, sig);
    }
    r->sig = sig;
}

/* Answers the latest query to source src with what p[0..len) describes. */
static void fuzz_reply(struct dht_node *node, int src, const uint8_t *p, size_t len)
{
    uint8_t buf[DHT_NODE_DATAGRAM_MAX], value[4 + 900], sig[BEP44_SIG_LEN];
    struct krpc_msg query = {.t = {fz.tid[src], fz.tid_len[src]}, .method = fz.method[src]};
    struct krpc_msg r;
    size_t nodes, out_len, node_len;
    uint8_t flags;

    if (len < FUZZ_REPLY_MIN || fz.tid_len[src] == 0) {
        return;
    }
    flags = p[20];
    node_len = flags & FUZZ_NODES6 ? KRPC_NODE6_LEN : KRPC_NODE_LEN;
    nodes = (size_t)(p[21] % (DHT_LOOKUP_CANDIDATES / 4 + 1)) * node_len;
    if (flags & FUZZ_AS_ERROR) {
        krpc_msg_init_error(&r, &query, 200 + p[21] % 110, NULL);
    } else {
        krpc_msg_init_response(&r, &query, p);
    }
    p += FUZZ_REPLY_MIN;
    len -= FUZZ_REPLY_MIN;
    if (!(flags & FUZZ_AS_ERROR)) {
        struct krpc_span *list = flags & FUZZ_NODES6 ? &r.nodes6 : &r.nodes;
        nodes = nodes < len ? nodes : len - len % node_len;
        list->data = nodes > 0 ? p : NULL;
        list->len = nodes;
        r.token.data = flags & FUZZ_WITH_TOKEN ? (const uint8_t *)"tok" : NULL;
        r.token.len = flags & FUZZ_WITH_TOKEN ? 3 : 0;
        if (flags & FUZZ_WITH_VALUE) {
            fuzz_reply_value(&r, p + nodes, len - nodes, flags & FUZZ_SIGNED, value, sig);
        }
    }
    if (krpc_write(&r, buf, sizeof(buf), &out_len) == 0) {
        dht_node_input(node, buf, out_len, &fz.sources[src], fz.now_ms);
    }
}

static void fuzz_start_lookups(struct dht_node *node)
{
    static const uint8_t value[] = "5:hello", target[KRPC_ID_LEN] = {0x80};
    struct dht_lookup_get_args args = {.k = fz.pk};
    uint8_t sig[BEP44_SIG_LEN];
    struct dht_store_item item = {
        .k = fz.pk, .sig = sig, .seq = 3, .value = value, .value_len = sizeof(value) - 1};

    bep44_sign(fz.sk, NULL, 0, item.seq, value, item.value_len, sig);
    dht_lookup_get(node, &args, fuzz_on_event, NULL, fz.now_ms, NULL);
    dht_lookup_put(node, &item, NULL, fuzz_on_event, NULL, fz.now_ms, NULL);
    dht_lookup_find_node(node, target, fuzz_on_event, NULL, fz.now_ms, NULL);
}

/* What an export holds must import into a fresh node, for both families. */
static void fuzz_check_export(struct dht_node *node)
{
    static uint8_t buf[200 * KRPC_NODE_LEN], buf6[200 * KRPC_NODE6_LEN];
    struct dht_node_config cfg = {.random = fuzz_random, .ipv6 = true};
    struct dht_node *fresh = NULL;
    size_t len = dht_node_export_nodes(node, buf, sizeof(buf));
    size_t len6 = dht_node_export_nodes6(node, buf6, sizeof(buf6));

    if (len % KRPC_NODE_LEN != 0 || len6 % KRPC_NODE6_LEN != 0 ||
        dht_node_new(&cfg, fz.now_ms, &fresh) != 0) {
        abort();
    }
    if (dht_node_import_nodes(fresh, buf, len) < 0 ||
        dht_node_import_nodes6(fresh, buf6, len6) < 0) {
        abort();
    }
    dht_node_free(fresh);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dht_node_config cfg = {.random = fuzz_random, .nbootstrap = 2, .ipv6 = true};
    struct dht_node *node = NULL;
    size_t off = 0;

    log_set_level(LOG_LEVEL_ERR);
    if (sodium_init() < 0) {
        abort();
    }
    fuzz_setup();
    cfg.bootstrap = fz.sources;
    if (dht_node_new(&cfg, fz.now_ms, &node) != 0) {
        abort();
    }
    fuzz_tick(node);
    fuzz_start_lookups(node);
    fuzz_drain(node);
    while (off + 3 <= size) {
        uint8_t head = data[off];
        size_t len = (size_t)data[off + 1] << 8 | data[off + 2];
        int src = head & 3;
        off += 3;
        len = len < size - off ? len : size - off;
        fz.now_ms += (uint64_t)(head >> 3) * FUZZ_STEP_MS;
        fuzz_tick(node);
        if (head & 4) {
            fuzz_reply(node, src, data + off, len);
        } else {
            dht_node_input(node, data + off, len, &fz.sources[src], fz.now_ms);
        }
        fuzz_drain(node);
        off += len;
    }
    for (uint64_t end = fz.now_ms + FUZZ_DRAIN_MS; fz.now_ms < end; fz.now_ms += 1000) {
        fuzz_tick(node);
    }
    fuzz_check_export(node);
    dht_node_free(node);
    return 0;
}
