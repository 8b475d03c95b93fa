#include "bep44.h"
#include "dht_contact.h"
#include "dht_lookup.h"
#include "dht_node.h"
#include "dht_rpc.h"
#include "dht_sim.h"
#include "dht_table.h"
#include "krpc.h"
#include "log.h"
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>

#define SECOND_MS 1000ull
#define MINUTE_MS (60 * SECOND_MS)

static const uint8_t peer_id[KRPC_ID_LEN] = {0x42, 0x42, 0x42};

/* A node on its own at 192.0.2.1:6881 with ID 11 11 ... 11, fed by hand. */
static struct dht_node *node_alone(bool read_only, const struct addr *bootstrap)
{
    struct dht_node_config cfg;
    struct dht_node *node = NULL;

    memset(&cfg, 0, sizeof(cfg));
    memset(cfg.id, 0x11, sizeof(cfg.id));
    cfg.read_only = read_only;
    cfg.own_addr = dht_sim_ip4(0xc0000201u, 6881);
    cfg.bootstrap = bootstrap;
    cfg.nbootstrap = bootstrap != NULL ? 1 : 0;
    CHECK_INT(dht_node_new(&cfg, 0, &node), 0);
    return node;
}

static void feed(struct dht_node *node, const struct krpc_msg *m, const struct addr *from,
                 uint64_t now_ms)
{
    uint8_t buf[DHT_NODE_DATAGRAM_MAX];
    size_t len;

    CHECK_INT(krpc_write(m, buf, sizeof(buf), &len), 0);
    dht_node_input(node, buf, len, from, now_ms);
}

/* Takes the node's next datagram into buf and parses it into m. */
static bool next_msg(struct dht_node *node, uint8_t buf[DHT_NODE_DATAGRAM_MAX], struct krpc_msg *m,
                     struct addr *to)
{
    int len = dht_node_next_output(node, buf, DHT_NODE_DATAGRAM_MAX, to);

    return len > 0 && krpc_parse(m, buf, (size_t)len) == 0;
}

static size_t drain(struct dht_node *node)
{
    uint8_t buf[DHT_NODE_DATAGRAM_MAX];
    struct addr to;
    size_t n = 0;

    while (dht_node_next_output(node, buf, sizeof(buf), &to) > 0) {
        n++;
    }
    return n;
}

static void ping_from(struct dht_node *node, const struct addr *from, uint64_t now_ms)
{
    struct krpc_msg q;

    krpc_msg_init_query(&q, KRPC_PING, (const uint8_t *)"pp", 2, peer_id);
    feed(node, &q, from, now_ms);
}

/* ---- a signed item for get and put ---- */

struct signed_item {
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
    uint8_t sig[BEP44_SIG_LEN];
    uint8_t value[BEP44_VALUE_MAX + 16];
    size_t value_len;
    int64_t seq;
    const uint8_t *salt; /* NULL: none */
    size_t salt_len;
    uint8_t target[BEP44_TARGET_LEN];
};

static void item_make(struct signed_item *it, uint8_t key_seed, int64_t seq, const char *text)
{
    uint8_t seed[crypto_sign_SEEDBYTES];

    memset(seed, key_seed, sizeof(seed));
    crypto_sign_seed_keypair(it->pk, it->sk, seed);
    it->value_len =
        (size_t)snprintf((char *)it->value, sizeof(it->value), "%zu:%s", strlen(text), text);
    it->seq = seq;
    it->salt = NULL;
    it->salt_len = 0;
    if (it->value_len <= BEP44_VALUE_MAX) {
        CHECK_INT(bep44_sign(it->sk, NULL, 0, seq, it->value, it->value_len, it->sig), 0);
    }
    bep44_mutable_target(it->pk, NULL, 0, it->target);
}

/* Asks the node for a token with get and returns the response's token length. */
static size_t get_token(struct dht_node *node, const struct addr *from, uint64_t now_ms,
                        uint8_t token[64])
{
    uint8_t buf[DHT_NODE_DATAGRAM_MAX];
    struct krpc_msg q, r;
    struct addr to;
    uint8_t target[KRPC_ID_LEN] = {7};

    krpc_msg_init_query(&q, KRPC_GET, (const uint8_t *)"gt", 2, peer_id);
    q.target = target;
    feed(node, &q, from, now_ms);
    if (!next_msg(node, buf, &r, &to) || r.token.len == 0 || r.token.len > 64) {
        return 0;
    }
    memcpy(token, r.token.data, r.token.len);
    return r.token.len;
}

/* Sends put and returns 0 for a response or the error code of an error reply. */
static int64_t put_item(struct dht_node *node, const struct signed_item *it, const uint8_t *token,
                        size_t token_len, const int64_t *cas, const struct addr *from,
                        uint64_t now_ms)
{
    uint8_t buf[DHT_NODE_DATAGRAM_MAX];
    struct krpc_msg q, r;
    struct addr to;

    krpc_msg_init_query(&q, KRPC_PUT, (const uint8_t *)"pu", 2, peer_id);
    q.token.data = token;
    q.token.len = token_len;
    q.k = it->pk;
    q.sig = it->sig;
    q.has_seq = true;
    q.seq = it->seq;
    q.value.data = it->value;
    q.value.len = it->value_len;
    q.salt.data = it->salt;
    q.salt.len = it->salt_len;
    q.has_cas = cas != NULL;
    q.cas = cas != NULL ? *cas : 0;
    feed(node, &q, from, now_ms);
    if (!next_msg(node, buf, &r, &to)) {
        return -1;
    }
    return r.type == KRPC_ERROR ? r.error_code : 0;
}

/* Gives it a salt of salt_len bytes (any length, past BEP 44's limit too) and signs
 * "4:salt<len>:<salt>3:seqi<seq>e1:v<value>" by hand, as bep44_sign refuses a long salt. */
static void item_salt(struct signed_item *it, const uint8_t *salt, size_t salt_len)
{
    uint8_t msg[BEP44_SIGNED_MAX + 64];
    int n = snprintf((char *)msg, sizeof(msg), "4:salt%zu:", salt_len);

    CHECK(n > 0 && (size_t)n + salt_len < sizeof(msg));
    memcpy(msg + n, salt, salt_len);
    n += (int)salt_len;
    n += snprintf((char *)msg + n, sizeof(msg) - (size_t)n, "3:seqi%llde1:v", (long long)it->seq);
    CHECK((size_t)n + it->value_len <= sizeof(msg));
    memcpy(msg + n, it->value, it->value_len);
    n += (int)it->value_len;
    CHECK_INT(crypto_sign_detached(it->sig, NULL, msg, (unsigned long long)n, it->sk), 0);
    it->salt = salt;
    it->salt_len = salt_len;
}

/* ---- answering queries ---- */

static void test_node_answers_ping_with_requester_address(void)
{
    struct dht_node *node = node_alone(false, NULL);
    struct addr from = dht_sim_ip4(0xc6336407u, 4000), to;
    uint8_t buf[DHT_NODE_DATAGRAM_MAX];
    struct krpc_msg r;

    ping_from(node, &from, 0);
    CHECK(next_msg(node, buf, &r, &to));
    CHECK(addr_equal(&to, &from));
    CHECK_INT(r.type, KRPC_RESPONSE);
    CHECK_INT(r.t.len, 2);
    CHECK_MEM(r.t.data, "pp", 2);
    CHECK_MEM(r.id, dht_node_id(node), KRPC_ID_LEN);
    /* BEP 42: 198.51.100.7:4000 as seen. */
    CHECK_INT(r.ip.len, KRPC_PEER_LEN);
    CHECK_MEM(r.ip.data, "\xc6\x33\x64\x07\x0f\xa0", KRPC_PEER_LEN);
    CHECK_INT(dht_node_stats(node)->answered, 1);
    dht_node_free(node);
}

/* Twenty contacts at 10.0.0.1.. with IDs 01 01 .., 0e 0e .., ... */
static void contacts_make(struct dht_contact *c, size_t n, uint8_t *saved)
{
    for (size_t i = 0; i < n; i++) {
        memset(c[i].id, (int)(i * 13 + 1), KRPC_ID_LEN);
        c[i].addr = dht_sim_ip4(0x0a000001u + (uint32_t)i, 6881);
        CHECK_INT(dht_contact_write(&c[i], saved + i * KRPC_NODE_LEN), 0);
    }
}

/* Runs the node for `ms`, answering every query it sends to one of the contacts. */
static void answer_contacts(struct dht_node *node, const struct dht_contact *c, size_t n,
                            uint64_t ms)
{
    uint8_t buf[DHT_NODE_DATAGRAM_MAX];
    struct krpc_msg q, r;
    struct addr to;

    for (uint64_t t = 0; t < ms; t += 100) {
        dht_node_tick(node, t);
        while (next_msg(node, buf, &q, &to)) {
            for (size_t i = 0; i < n; i++) {
                if (q.type == KRPC_QUERY && addr_equal(&to, &c[i].addr)) {
                    krpc_msg_init_response(&r, &q, c[i].id);
                    feed(node, &r, &to, t);
                }
            }
        }
    }
}

static void test_node_answers_find_node_with_closest_contacts(void)
{
    struct dht_node *node = node_alone(false, NULL);
    uint8_t saved[20 * KRPC_NODE_LEN], target[KRPC_ID_LEN] = {0x80};
    uint8_t buf[DHT_NODE_DATAGRAM_MAX];
    struct addr from = dht_sim_ip4(0xc6336407u, 4000), to;
    struct dht_contact c[20];
    struct krpc_msg q, r;

    contacts_make(c, 20, saved);
    CHECK_INT(dht_node_import_nodes(node, saved, sizeof(saved)), 20);
    krpc_msg_init_query(&q, KRPC_FIND_NODE, (const uint8_t *)"fn", 2, peer_id);
    q.target = target;

    /* Contacts that never answered us are not handed out... */
    feed(node, &q, &from, 0);
    CHECK(next_msg(node, buf, &r, &to));
    CHECK_INT(r.nodes.len, 0);

    /* ...those that did are, the closest to the target first. */
    answer_contacts(node, c, 20, 10 * SECOND_MS);
    feed(node, &q, &from, 10 * SECOND_MS);
    CHECK(next_msg(node, buf, &r, &to));
    CHECK_INT(r.nodes.len, DHT_TABLE_K * KRPC_NODE_LEN);
    for (size_t i = 0; i + 1 < r.nodes.len / KRPC_NODE_LEN; i++) {
        CHECK(dht_contact_cmp(target, r.nodes.data + i * KRPC_NODE_LEN,
                              r.nodes.data + (i + 1) * KRPC_NODE_LEN) < 0);
    }
    dht_node_free(node);
}

static void test_node_answers_unknown_method_with_error_204(void)
{
    static const char raw[] = "d1:ad2:id20:BBBBBBBBBBBBBBBBBBBBe1:q4:vote1:t2:uu1:y1:qe";
    struct dht_node *node = node_alone(false, NULL);
    struct addr from = dht_sim_ip4(0xc6336407u, 4000), to;
    uint8_t buf[DHT_NODE_DATAGRAM_MAX];
    struct krpc_msg r;

    dht_node_input(node, (const uint8_t *)raw, sizeof(raw) - 1, &from, 0);
    CHECK(next_msg(node, buf, &r, &to));
    CHECK_INT(r.type, KRPC_ERROR);
    CHECK_INT(r.error_code, KRPC_ERR_METHOD);
    CHECK_MEM(r.t.data, "uu", 2);
    CHECK_INT(dht_node_stats(node)->malformed, 1);
    dht_node_free(node);
}

static void test_node_put_needs_token_from_get(void)
{
    struct dht_node *node = node_alone(false, NULL);
    struct addr from = dht_sim_ip4(0xc6336407u, 4000), other = dht_sim_ip4(0xc6336408u, 4000);
    struct signed_item it;
    uint8_t token[64];
    size_t token_len;

    item_make(&it, 1, 1, "hello");
    token_len = get_token(node, &from, 0, token);
    CHECK_INT(token_len, 8);
    CHECK_INT(put_item(node, &it, (const uint8_t *)"nope", 4, NULL, &from, 0), KRPC_ERR_PROTOCOL);
    /* A token is bound to the IP it was given to. */
    CHECK_INT(put_item(node, &it, token, token_len, NULL, &other, 0), KRPC_ERR_PROTOCOL);
    CHECK_INT(dht_store_count(dht_node_store(node)), 0);
    CHECK_INT(put_item(node, &it, token, token_len, NULL, &from, 0), 0);
    CHECK_INT(dht_store_count(dht_node_store(node)), 1);
    dht_node_free(node);
}

static void test_node_put_answers_bep44_error_codes(void)
{
    struct dht_node *node = node_alone(false, NULL);
    struct addr from = dht_sim_ip4(0xc6336407u, 4000);
    struct signed_item it, older, forged, big, salted;
    uint8_t token[64], salt[BEP44_SALT_MAX + 1];
    size_t token_len = get_token(node, &from, 0, token);
    int64_t wrong_cas = 1;
    char text[BEP44_VALUE_MAX + 1];

    item_make(&it, 1, 5, "five");
    CHECK_INT(put_item(node, &it, token, token_len, NULL, &from, 0), 0);

    item_make(&older, 1, 4, "four");
    CHECK_INT(put_item(node, &older, token, token_len, NULL, &from, 0), BEP44_ERR_SEQ_TOO_LOW);

    item_make(&forged, 1, 6, "six");
    forged.sig[0] ^= 1;
    CHECK_INT(put_item(node, &forged, token, token_len, NULL, &from, 0), BEP44_ERR_BAD_SIGNATURE);

    item_make(&forged, 1, 6, "six");
    CHECK_INT(put_item(node, &forged, token, token_len, &wrong_cas, &from, 0),
              BEP44_ERR_CAS_MISMATCH);

    memset(text, 'x', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    item_make(&big, 1, 7, text);
    CHECK_INT(put_item(node, &big, token, token_len, NULL, &from, 0), BEP44_ERR_VALUE_TOO_BIG);

    /* A salt of 64 bytes is the most BEP 44 allows; one byte more is refused with 207, though
     * the signature over it is good. */
    memset(salt, 's', sizeof(salt));
    item_make(&salted, 1, 8, "salted");
    item_salt(&salted, salt, BEP44_SALT_MAX);
    CHECK_INT(put_item(node, &salted, token, token_len, NULL, &from, 0), 0);
    item_salt(&salted, salt, BEP44_SALT_MAX + 1);
    CHECK_INT(put_item(node, &salted, token, token_len, NULL, &from, 0), BEP44_ERR_SALT_TOO_BIG);
    CHECK_INT(dht_store_count(dht_node_store(node)), 2);
    dht_node_free(node);
}

static void test_node_get_returns_stored_item_and_skips_unchanged(void)
{
    struct dht_node *node = node_alone(false, NULL);
    struct addr from = dht_sim_ip4(0xc6336407u, 4000), to;
    uint8_t buf[DHT_NODE_DATAGRAM_MAX], token[64];
    size_t token_len = get_token(node, &from, 0, token);
    struct signed_item it;
    struct krpc_msg q, r;

    item_make(&it, 3, 9, "nine");
    CHECK_INT(put_item(node, &it, token, token_len, NULL, &from, 0), 0);

    krpc_msg_init_query(&q, KRPC_GET, (const uint8_t *)"g1", 2, peer_id);
    q.target = it.target;
    feed(node, &q, &from, 0);
    CHECK(next_msg(node, buf, &r, &to));
    CHECK(r.k != NULL && r.sig != NULL && r.has_seq && r.seq == 9);
    CHECK_INT(r.value.len, it.value_len);
    CHECK_INT(bep44_verify(r.k, r.sig, NULL, 0, r.seq, r.value.data, r.value.len), 0);

    /* BEP 44: with seq 9 the value is not newer and is left out. */
    q.has_seq = true;
    q.seq = 9;
    feed(node, &q, &from, 0);
    CHECK(next_msg(node, buf, &r, &to));
    CHECK(r.has_seq && r.seq == 9);
    CHECK(r.value.data == NULL);
    CHECK(r.token.len > 0);
    dht_node_free(node);
}

/* Ticks the node once a second from `from_ms` up to `to_ms`, dropping what it sends. */
static void run_alone(struct dht_node *node, uint64_t from_ms, uint64_t to_ms)
{
    for (uint64_t t = from_ms; t <= to_ms; t += SECOND_MS) {
        dht_node_tick(node, t);
        drain(node);
    }
}

static void test_node_tokens_survive_one_rotation_of_five_minutes(void)
{
    struct dht_node *node = node_alone(false, NULL);
    struct addr from = dht_sim_ip4(0xc6336407u, 4000);
    struct signed_item first, second, third;
    uint8_t token[64];
    size_t token_len;

    item_make(&first, 1, 1, "a");
    item_make(&second, 1, 2, "b");
    item_make(&third, 1, 3, "c");
    run_alone(node, 0, 4 * MINUTE_MS);
    token_len = get_token(node, &from, 4 * MINUTE_MS, token);

    /* Made at 4 min: good after one rotation (at 5 min), not after two (at 10 min). */
    run_alone(node, 4 * MINUTE_MS, 6 * MINUTE_MS);
    CHECK_INT(put_item(node, &first, token, token_len, NULL, &from, 6 * MINUTE_MS), 0);
    run_alone(node, 6 * MINUTE_MS, 9 * MINUTE_MS);
    CHECK_INT(put_item(node, &second, token, token_len, NULL, &from, 9 * MINUTE_MS), 0);
    run_alone(node, 9 * MINUTE_MS, 11 * MINUTE_MS);
    CHECK_INT(put_item(node, &third, token, token_len, NULL, &from, 11 * MINUTE_MS),
              KRPC_ERR_PROTOCOL);
    token_len = get_token(node, &from, 11 * MINUTE_MS, token);
    CHECK_INT(put_item(node, &third, token, token_len, NULL, &from, 11 * MINUTE_MS), 0);
    dht_node_free(node);
}

/* True when m carries our client version: "PK" and two version bytes (BEP 5 "v"). */
static bool has_our_version(const struct krpc_msg *m)
{
    return m->version.len == 4 && memcmp(m->version.data, "PK", 2) == 0;
}

static void test_node_sends_client_version_in_queries_and_replies(void)
{
    static const char unknown[] = "d1:ad2:id20:BBBBBBBBBBBBBBBBBBBBe1:q4:vote1:t2:uu1:y1:qe";
    struct addr boot = dht_sim_ip4(0xcb007109u, 6881), from = dht_sim_ip4(0xc6336407u, 4000), to;
    struct dht_node *node = node_alone(false, &boot);
    uint8_t buf[DHT_NODE_DATAGRAM_MAX];
    struct krpc_msg m;

    dht_node_tick(node, 0);
    CHECK(next_msg(node, buf, &m, &to));
    CHECK(m.type == KRPC_QUERY && has_our_version(&m));

    ping_from(node, &from, 0);
    CHECK(next_msg(node, buf, &m, &to));
    CHECK(m.type == KRPC_RESPONSE && has_our_version(&m));

    dht_node_input(node, (const uint8_t *)unknown, sizeof(unknown) - 1, &from, 0);
    CHECK(next_msg(node, buf, &m, &to));
    CHECK(m.type == KRPC_ERROR && has_our_version(&m));
    dht_node_free(node);
}

/* ---- limits and bad input ---- */

static void test_node_rate_limit_refuses_flooding_ip(void)
{
    struct dht_node *node = node_alone(false, NULL);
    struct addr flooder = dht_sim_ip4(0xcb007101u, 1234), quiet = dht_sim_ip4(0xcb007102u, 1234);
    const struct dht_node_stats *st = dht_node_stats(node);

    for (int i = 0; i < 100; i++) {
        ping_from(node, &flooder, 1000);
    }
    CHECK_INT(st->answered, DHT_NODE_QUERY_BURST);
    CHECK_INT(st->rate_limited, 100 - DHT_NODE_QUERY_BURST);
    ping_from(node, &quiet, 1000);
    CHECK_INT(st->answered, DHT_NODE_QUERY_BURST + 1);

    /* One second later the flooder has earned DHT_NODE_QUERY_RATE more. */
    for (int i = 0; i < 20; i++) {
        ping_from(node, &flooder, 2000);
    }
    CHECK_INT(st->answered, DHT_NODE_QUERY_BURST + 1 + DHT_NODE_QUERY_RATE);
    CHECK_INT(drain(node), DHT_NODE_QUERY_BURST + 1 + DHT_NODE_QUERY_RATE);
    dht_node_free(node);
}

static void noop_cb(void *user, const struct dht_lookup_event *ev)
{
    (void)ev;
    (*(int *)user)++;
}

static void test_node_spaces_queries_to_one_destination(void)
{
    struct addr only = dht_sim_ip4(0xcb007109u, 6881);
    struct dht_node *node = node_alone(false, &only);
    uint8_t target[KRPC_ID_LEN];
    size_t sent_at_once, sent_in_5s;
    int done = 0;

    /* 30 lookups whose only candidate is the bootstrap node. */
    for (int i = 0; i < 30; i++) {
        memset(target, i + 1, sizeof(target));
        CHECK_INT(dht_lookup_find_node(node, target, noop_cb, &done, 0, NULL), 0);
    }
    sent_at_once = drain(node);
    CHECK_INT(sent_at_once, DHT_NODE_SEND_BURST);
    CHECK(dht_node_stats(node)->deferred > 0);

    sent_in_5s = sent_at_once;
    for (uint64_t t = 100; t <= 5000; t += 100) {
        dht_node_tick(node, t);
        sent_in_5s += drain(node);
    }
    /* 10 at once, then 3 a second (a bootstrap ping or two come out of the same budget). */
    CHECK(sent_in_5s <= DHT_NODE_SEND_BURST + 5 * DHT_NODE_SEND_RATE);
    CHECK(sent_in_5s >= DHT_NODE_SEND_BURST + 4 * DHT_NODE_SEND_RATE);
    dht_node_free(node);
}

static void test_node_drops_and_counts_malformed_datagrams(void)
{
    static const char *const garbage[] = {
        "",
        "d",
        "i42e",
        "le",
        "d1:t2:aa1:y1:re",                             /* a response without r */
        "d1:rd2:id3:abce1:t2:aa1:y1:re",               /* an ID of 3 bytes */
        "d1:t2:aa1:y1:xe",                             /* an unknown y */
        "d1:y1:q1:t2:aae",                             /* keys out of order */
        "d1:ad2:id20:BBBBBBBBBBBBBBBBBBBBe1:q4:pinge", /* no t */
    };
    struct dht_node *node = node_alone(false, NULL);
    struct addr from = dht_sim_ip4(0xc6336407u, 4000);
    const struct dht_node_stats *st = dht_node_stats(node);
    size_t n = sizeof(garbage) / sizeof(garbage[0]);

    for (size_t i = 0; i < n; i++) {
        dht_node_input(node, (const uint8_t *)garbage[i], strlen(garbage[i]), &from, 0);
    }
    CHECK_INT(st->malformed, n);
    CHECK_INT(drain(node), 0);
    ping_from(node, &from, 0);
    CHECK_INT(drain(node), 1);
    dht_node_free(node);
}

static void test_node_ignores_response_from_another_address(void)
{
    struct addr boot = dht_sim_ip4(0xcb007109u, 6881), other = dht_sim_ip4(0xcb00710au, 6881), to;
    struct dht_node *node = node_alone(false, &boot);
    uint8_t buf[DHT_NODE_DATAGRAM_MAX];
    struct krpc_msg q, r;

    dht_node_tick(node, 0); /* bootstrap: find_node to boot */
    CHECK(next_msg(node, buf, &q, &to));
    CHECK(addr_equal(&to, &boot));
    CHECK_INT(q.method, KRPC_FIND_NODE);

    krpc_msg_init_response(&r, &q, peer_id);
    feed(node, &r, &other, 10);
    CHECK_INT(dht_node_stats(node)->unmatched, 1);
    feed(node, &r, &boot, 10);
    CHECK_INT(dht_node_stats(node)->unmatched, 1);
    CHECK_INT(dht_table_state(dht_node_table(node), peer_id, 10), DHT_TABLE_GOOD);
    dht_node_free(node);
}

static void test_node_marks_unanswering_contact_down(void)
{
    struct dht_node *node = node_alone(false, NULL);
    struct dht_contact c = {.id = {0x77}};
    uint8_t saved[KRPC_NODE_LEN];
    uint64_t t;

    c.addr = dht_sim_ip4(0xcb007107u, 6881);
    CHECK_INT(dht_contact_write(&c, saved), 0);
    CHECK_INT(dht_node_import_nodes(node, saved, sizeof(saved)), 1);
    for (t = 0; t < 10 * SECOND_MS; t += 100) {
        dht_node_tick(node, t);
        drain(node);
    }
    CHECK(dht_node_stats(node)->timeouts >= 1);
    CHECK(dht_table_state(dht_node_table(node), c.id, t) != DHT_TABLE_GOOD);
    CHECK(dht_table_state(dht_node_table(node), c.id, t) != DHT_TABLE_QUESTIONABLE);
    dht_node_free(node);
}

static void test_node_timeout_follows_outstanding_query(void)
{
    struct addr boot = dht_sim_ip4(0xcb007109u, 6881);
    struct dht_node *node = node_alone(false, &boot);

    CHECK_INT(dht_node_timeout_ms(node, 0), 0); /* first tick due at once */
    dht_node_tick(node, 0);
    CHECK_INT(drain(node), 1);
    /* The query's soft deadline (1 s before any round trip is measured) comes first. */
    CHECK_INT(dht_node_timeout_ms(node, 0), DHT_RPC_RTO_INITIAL_MS);
    CHECK_INT(dht_node_timeout_ms(node, 400), DHT_RPC_RTO_INITIAL_MS - 400);
    dht_node_free(node);
}

static void test_node_bootstrap_added_later_is_used_at_next_tick(void)
{
    struct addr boot = dht_sim_ip4(0xcb007109u, 6881), bad = dht_sim_ip4(0, 6881), to;
    struct dht_node *node = node_alone(false, NULL);
    uint8_t buf[DHT_NODE_DATAGRAM_MAX];
    struct krpc_msg q;

    dht_node_tick(node, 0);
    CHECK_INT(drain(node), 0); /* nobody to ask: it waits before trying again */
    CHECK_INT(dht_node_add_bootstrap(node, &bad, 1, 10), -EINVAL);
    CHECK_INT(dht_node_add_bootstrap(node, &boot, 1, 10), 0);
    CHECK_INT(dht_node_timeout_ms(node, 10), 0);
    dht_node_tick(node, 10);
    CHECK(next_msg(node, buf, &q, &to));
    CHECK_INT(q.method, KRPC_FIND_NODE);
    CHECK(addr_equal(&to, &boot));
    dht_node_free(node);
}

/* Runs the node from from_ms for `ms`, showing every query it sends to see(ctx, q) (may be
 * NULL) and answering those to contact c (naming no other node; get with a write token). */
static void run_with_contact(struct dht_node *node, const struct dht_contact *c, uint64_t from_ms,
                             uint64_t ms, void (*see)(void *ctx, const struct krpc_msg *q),
                             void *ctx)
{
    uint8_t buf[DHT_NODE_DATAGRAM_MAX];
    struct krpc_msg q, r;
    struct addr to;

    for (uint64_t t = from_ms; t < from_ms + ms; t += 100) {
        dht_node_tick(node, t);
        while (next_msg(node, buf, &q, &to)) {
            if (q.type != KRPC_QUERY) {
                continue;
            }
            if (see != NULL) {
                see(ctx, &q);
            }
            if (addr_equal(&to, &c->addr)) {
                krpc_msg_init_response(&r, &q, c->id);
                r.token.data = q.method == KRPC_GET ? (const uint8_t *)"tk" : NULL;
                r.token.len = q.method == KRPC_GET ? 2 : 0;
                feed(node, &r, &to, t);
            }
        }
    }
}

/* ---- read-only mode (BEP 43) ---- */

static void test_node_read_only_answers_nothing(void)
{
    struct dht_node *node = node_alone(true, NULL);
    struct addr from = dht_sim_ip4(0xc6336407u, 4000);

    ping_from(node, &from, 0);
    CHECK_INT(drain(node), 0);
    CHECK_INT(dht_node_stats(node)->answered, 0);
    CHECK_INT(dht_node_stats(node)->ignored, 1);
    dht_node_free(node);
}

/* Notes the methods of the queries seen (ctx: a struct ro_seen) and whether each had ro. */
struct ro_seen {
    unsigned methods; /* 1 << enum krpc_method */
    size_t without_ro;
};

static void note_ro(void *ctx, const struct krpc_msg *q)
{
    struct ro_seen *seen = ctx;

    seen->methods |= 1u << q->method;
    seen->without_ro += q->ro ? 0 : 1;
}

static void test_node_read_only_sets_ro_in_every_query(void)
{
    struct dht_contact boot = {.id = {0x99}}, silent = {.id = {0x55}};
    struct dht_lookup_get_args args = {0};
    struct dht_node *node;
    struct signed_item it;
    struct dht_store_item item;
    struct ro_seen seen = {0};
    uint8_t saved[KRPC_NODE_LEN];
    int calls = 0;

    boot.addr = dht_sim_ip4(0xcb007109u, 6881);
    silent.addr = dht_sim_ip4(0xcb00710au, 6881);
    node = node_alone(true, &boot.addr);

    /* find_node: the bootstrap; ping: a saved contact to check; then a get and a put. */
    CHECK_INT(dht_contact_write(&silent, saved), 0);
    CHECK_INT(dht_node_import_nodes(node, saved, sizeof(saved)), 1);
    run_with_contact(node, &boot, 0, 5 * SECOND_MS, note_ro, &seen);
    item_make(&it, 1, 1, "ro");
    args.k = it.pk;
    CHECK_INT(dht_lookup_get(node, &args, noop_cb, &calls, 5 * SECOND_MS, NULL), 0);
    run_with_contact(node, &boot, 5 * SECOND_MS, 5 * SECOND_MS, note_ro, &seen);
    item = (struct dht_store_item){
        .k = it.pk, .sig = it.sig, .seq = 1, .value = it.value, .value_len = it.value_len};
    CHECK_INT(dht_lookup_put(node, &item, NULL, noop_cb, &calls, 10 * SECOND_MS, NULL), 0);
    run_with_contact(node, &boot, 10 * SECOND_MS, 5 * SECOND_MS, note_ro, &seen);

    /* The node sends no get_peers or announce_peer: it runs no lookup of peers. */
    CHECK_INT(seen.methods,
              (1u << KRPC_PING) | (1u << KRPC_FIND_NODE) | (1u << KRPC_GET) | (1u << KRPC_PUT));
    CHECK_INT(seen.without_ro, 0);
    CHECK_INT(calls, 2);
    dht_node_free(node);
}

static void test_node_export_and_import_round_trip(void)
{
    struct dht_node *a = node_alone(false, NULL), *b = node_alone(false, NULL);
    uint8_t saved[30 * KRPC_NODE_LEN], out_a[64 * KRPC_NODE_LEN], out_b[64 * KRPC_NODE_LEN];
    size_t len_a, len_b;

    for (size_t i = 0; i < 30; i++) {
        struct dht_contact c;
        memset(c.id, 0, KRPC_ID_LEN);
        c.id[0] = (uint8_t)(i * 8 + 1);
        c.id[19] = (uint8_t)i;
        c.addr = dht_sim_ip4(0x0a000001u + (uint32_t)i, 6881);
        CHECK_INT(dht_contact_write(&c, saved + i * KRPC_NODE_LEN), 0);
    }
    CHECK(dht_node_import_nodes(a, saved, sizeof(saved)) > 0);
    len_a = dht_node_export_nodes(a, out_a, sizeof(out_a));
    CHECK(len_a > 0);
    CHECK_INT(dht_node_import_nodes(b, out_a, len_a), (int)(len_a / KRPC_NODE_LEN));
    len_b = dht_node_export_nodes(b, out_b, sizeof(out_b));
    CHECK_INT(len_b, len_a);
    CHECK_INT(dht_node_import_nodes(b, out_a, len_a - 1), -EINVAL);
    dht_node_free(a);
    dht_node_free(b);
}

/* ---- in a simulated network ---- */

struct net {
    struct dht_sim *sim;
    size_t bootstrapped;
};

static void count_bootstrapped(void *user, size_t nodes)
{
    (void)nodes;
    ((struct net *)user)->bootstrapped++;
}

/* n nodes; node 0 first, the others join one every gap_ms with node 0 as their only
 * bootstrap address; then the network runs for settle_ms. ro_index makes one node
 * read-only (SIZE_MAX: none). */
static void net_build_spaced(struct net *net, size_t n, uint64_t seed, size_t ro_index,
                             uint64_t gap_ms, uint64_t settle_ms)
{
    struct dht_sim_config sim_cfg = {.seed = seed, .latency_ms = 20, .jitter_ms = 60};
    struct dht_node_config cfg;
    size_t index;

    memset(net, 0, sizeof(*net));
    CHECK_INT(dht_sim_new(&sim_cfg, &net->sim), 0);
    memset(&cfg, 0, sizeof(cfg));
    cfg.bootstrapped = count_bootstrapped;
    cfg.user = net;
    CHECK_INT(dht_sim_add(net->sim, &cfg, &index), 0);
    cfg.nbootstrap = 1;
    for (size_t i = 1; i < n; i++) {
        struct addr boot = *dht_sim_addr(net->sim, 0);
        cfg.bootstrap = &boot;
        cfg.read_only = i == ro_index;
        CHECK_INT(dht_sim_add(net->sim, &cfg, &index), 0);
        dht_sim_run(net->sim, gap_ms);
    }
    dht_sim_run(net->sim, settle_ms);
}

/* As net_build_spaced, one node joining every 100 ms. */
static void net_build(struct net *net, size_t n, uint64_t seed, size_t ro_index, uint64_t settle_ms)
{
    net_build_spaced(net, n, seed, ro_index, 100, settle_ms);
}

static void test_node_bootstrap_from_one_node_fills_tables(void)
{
    struct net net;
    size_t n = 100, smallest = SIZE_MAX, total = 0;

    net_build(&net, n, 1, SIZE_MAX, 2 * MINUTE_MS);
    for (size_t i = 0; i < n; i++) {
        size_t good, count;
        count =
            dht_table_count(dht_node_table(dht_sim_node(net.sim, i)), dht_sim_now(net.sim), &good);
        smallest = count < smallest ? count : smallest;
        total += count;
    }
    printf("bootstrap of %zu nodes: smallest table %zu, mean %zu\n", n, smallest, total / n);
    CHECK_INT(net.bootstrapped, n);
    CHECK(smallest >= 2 * DHT_TABLE_K);
    dht_sim_free(net.sim);
}

struct find_result {
    bool done;
    int status;
};

static void find_cb(void *user, const struct dht_lookup_event *ev)
{
    struct find_result *res = user;

    if (ev->type == DHT_LOOKUP_DONE) {
        res->done = true;
        res->status = ev->status;
    }
}

static bool find_done(void *ctx)
{
    return ((struct find_result *)ctx)->done;
}

static void test_node_keeps_working_after_flood_of_garbage(void)
{
    struct net net;
    struct find_result res = {0};
    const struct dht_node_stats *st;
    uint8_t junk[600], target[KRPC_ID_LEN] = {0x5a};
    size_t victim = 7;

    net_build(&net, 30, 2, SIZE_MAX, MINUTE_MS);
    st = dht_node_stats(dht_sim_node(net.sim, victim));
    for (uint32_t i = 0; i < 2000; i++) {
        struct addr from = dht_sim_ip4(0xcb000000u + i, (uint16_t)(1000 + i));
        size_t len = 1 + i % sizeof(junk);
        dht_sim_random(net.sim, junk, len);
        if (i % 3 == 0) {
            junk[0] = 'd'; /* looks like a dictionary, at least at first */
        }
        dht_sim_inject(net.sim, &from, victim, junk, len);
    }
    dht_sim_run(net.sim, SECOND_MS);
    CHECK(st->malformed >= 2000);

    CHECK_INT(dht_lookup_find_node(dht_sim_node(net.sim, victim), target, find_cb, &res,
                                   dht_sim_now(net.sim), NULL),
              0);
    CHECK(dht_sim_run_until(net.sim, find_done, &res, 30 * SECOND_MS));
    CHECK_INT(res.status, 0);
    dht_sim_free(net.sim);
}

static void test_node_read_only_node_is_never_added_to_tables(void)
{
    struct net net;
    size_t n = 40, ro = 20;
    struct dht_node *ro_node;
    struct find_result res = {0};
    uint8_t target[KRPC_ID_LEN] = {0xa5};

    net_build(&net, n, 3, ro, 2 * MINUTE_MS);
    ro_node = dht_sim_node(net.sim, ro);
    CHECK_INT(dht_lookup_find_node(ro_node, target, find_cb, &res, dht_sim_now(net.sim), NULL), 0);
    CHECK(dht_sim_run_until(net.sim, find_done, &res, 30 * SECOND_MS));
    CHECK_INT(res.status, 0);

    CHECK(dht_table_count(dht_node_table(ro_node), dht_sim_now(net.sim), NULL) > 0);
    CHECK_INT(dht_node_stats(ro_node)->answered, 0);
    for (size_t i = 0; i < n; i++) {
        const struct dht_table *t = dht_node_table(dht_sim_node(net.sim, i));
        if (i != ro) {
            CHECK_INT(dht_table_state(t, dht_node_id(ro_node), dht_sim_now(net.sim)),
                      DHT_TABLE_ABSENT);
        }
    }
    dht_sim_free(net.sim);
}

static const uint8_t *sim_id(const struct dht_sim *sim, size_t index)
{
    return dht_node_id(dht_sim_node(sim, index));
}

/* The node closest to node `me` that is neither `me` nor in taken[0..ntaken). */
static size_t closest_other(const struct dht_sim *sim, size_t me, const size_t *taken,
                            size_t ntaken)
{
    size_t best = SIZE_MAX;

    for (size_t i = 0; i < dht_sim_count(sim); i++) {
        bool skip = i == me;
        for (size_t k = 0; k < ntaken && !skip; k++) {
            skip = taken[k] == i;
        }
        if (!skip && (best == SIZE_MAX ||
                      dht_contact_cmp(sim_id(sim, me), sim_id(sim, i), sim_id(sim, best)) < 0)) {
            best = i;
        }
    }
    return best;
}

/* Counts, of the DHT_TABLE_K nodes of the network closest to node `me`, those its table
 * holds in a bucket (*in_buckets) and those it knows at all, replacements too (*known). */
static void closest_known(const struct dht_sim *sim, size_t me, size_t *in_buckets, size_t *known)
{
    const struct dht_table *t = dht_node_table(dht_sim_node(sim, me));
    size_t closest[DHT_TABLE_K];

    for (size_t k = 0; k < DHT_TABLE_K; k++) {
        enum dht_table_state st;
        closest[k] = closest_other(sim, me, closest, k);
        st = dht_table_state(t, sim_id(sim, closest[k]), dht_sim_now(sim));
        *in_buckets += st == DHT_TABLE_GOOD || st == DHT_TABLE_QUESTIONABLE ? 1 : 0;
        *known += st != DHT_TABLE_ABSENT && st != DHT_TABLE_BAD ? 1 : 0;
    }
}

static void test_node_joined_among_joining_nodes_learns_its_closest_nodes(void)
{
    struct net net;
    size_t n = 100, in_buckets = 0, known = 0;

    /* 100 nodes join 10 ms apart from node 0: the first self-lookups of most of them end
     * before their neighbours exist, and nobody looks anything up afterwards. */
    net_build_spaced(&net, n, 5, SIZE_MAX, 10, MINUTE_MS);

    /* A minute later each knows its 8 closest; a few of them wait as replacements in a
     * bucket full of others (without the repeated self-lookups about 10% are known). */
    for (size_t i = 0; i < n; i++) {
        closest_known(net.sim, i, &in_buckets, &known);
    }
    printf("closest nodes known: %zu of %zu, %zu in buckets\n", known, n * DHT_TABLE_K, in_buckets);
    CHECK(known >= n * DHT_TABLE_K * 99 / 100);
    CHECK(in_buckets >= n * DHT_TABLE_K * 97 / 100);
    dht_sim_free(net.sim);
}

/* Counts the find_node queries for the node's own ID (ctx: a struct self_count). */
struct self_count {
    struct dht_node *node;
    size_t lookups;
};

static void count_self_lookups(void *ctx, const struct krpc_msg *q)
{
    struct self_count *sc = ctx;

    if (q->method == KRPC_FIND_NODE && memcmp(q->target, dht_node_id(sc->node), KRPC_ID_LEN) == 0) {
        sc->lookups++;
    }
}

static void test_node_repeats_its_self_lookup_a_bounded_number_of_times(void)
{
    struct dht_contact c = {.id = {0x99}};
    struct self_count sc;

    c.addr = dht_sim_ip4(0xcb007109u, 6881);
    sc.node = node_alone(false, &c.addr);
    sc.lookups = 0;
    /* The bootstrap, then DHT_NODE_REJOINS more after 10 s, 20 s, 40 s and 80 s (the table
     * never grows), and none after that. */
    run_with_contact(sc.node, &c, 0, 10 * MINUTE_MS, count_self_lookups, &sc);
    CHECK_INT(sc.lookups, 1 + DHT_NODE_REJOINS);
    dht_node_free(sc.node);
}

static void test_node_restarted_from_exported_nodes_needs_no_bootstrap(void)
{
    struct net net;
    struct dht_node_config cfg;
    struct find_result res = {0};
    uint8_t saved[256 * KRPC_NODE_LEN], target[KRPC_ID_LEN] = {0x3c};
    size_t len, fresh;

    net_build(&net, 40, 4, SIZE_MAX, MINUTE_MS);
    len = dht_node_export_nodes(dht_sim_node(net.sim, 9), saved, sizeof(saved));
    CHECK(len >= DHT_TABLE_K * KRPC_NODE_LEN);

    /* A new node with no bootstrap address at all, only the saved contacts. */
    memset(&cfg, 0, sizeof(cfg));
    CHECK_INT(dht_sim_add(net.sim, &cfg, &fresh), 0);
    CHECK_INT(dht_node_import_nodes(dht_sim_node(net.sim, fresh), saved, len),
              (int)(len / KRPC_NODE_LEN));
    CHECK_INT(dht_lookup_find_node(dht_sim_node(net.sim, fresh), target, find_cb, &res,
                                   dht_sim_now(net.sim), NULL),
              0);
    CHECK(dht_sim_run_until(net.sim, find_done, &res, 30 * SECOND_MS));
    CHECK_INT(res.status, 0);
    dht_sim_free(net.sim);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_node_answers_ping_with_requester_address),
        UNIT(test_node_answers_find_node_with_closest_contacts),
        UNIT(test_node_answers_unknown_method_with_error_204),
        UNIT(test_node_put_needs_token_from_get),
        UNIT(test_node_put_answers_bep44_error_codes),
        UNIT(test_node_get_returns_stored_item_and_skips_unchanged),
        UNIT(test_node_tokens_survive_one_rotation_of_five_minutes),
        UNIT(test_node_sends_client_version_in_queries_and_replies),
        UNIT(test_node_rate_limit_refuses_flooding_ip),
        UNIT(test_node_spaces_queries_to_one_destination),
        UNIT(test_node_drops_and_counts_malformed_datagrams),
        UNIT(test_node_ignores_response_from_another_address),
        UNIT(test_node_marks_unanswering_contact_down),
        UNIT(test_node_timeout_follows_outstanding_query),
        UNIT(test_node_bootstrap_added_later_is_used_at_next_tick),
        UNIT(test_node_read_only_answers_nothing),
        UNIT(test_node_read_only_sets_ro_in_every_query),
        UNIT(test_node_export_and_import_round_trip),
        UNIT(test_node_bootstrap_from_one_node_fills_tables),
        UNIT(test_node_keeps_working_after_flood_of_garbage),
        UNIT(test_node_read_only_node_is_never_added_to_tables),
        UNIT(test_node_restarted_from_exported_nodes_needs_no_bootstrap),
        UNIT(test_node_joined_among_joining_nodes_learns_its_closest_nodes),
        UNIT(test_node_repeats_its_self_lookup_a_bounded_number_of_times),
    };

    if (sodium_init() < 0) {
        return 1;
    }
    log_set_level(LOG_LEVEL_WARNING);
    return unit_run("dht_node", tests, sizeof(tests) / sizeof(tests[0]));
}
