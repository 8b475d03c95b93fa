#include "dht_node.h"
#include "dht_peers.h"
#include "krpc.h"
#include "log.h"
#include "dht_sim.h"
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>

#define MINUTE_MS (60ull * 1000)

static const uint8_t hash_a[KRPC_ID_LEN] = {0xaa, 1};
static const uint8_t hash_b[KRPC_ID_LEN] = {0xbb, 2};
static const uint8_t hash_c[KRPC_ID_LEN] = {0xcc, 3};
static const uint8_t peer_id[KRPC_ID_LEN] = {0x42, 0x42};

static struct dht_peers *peers_make(size_t swarms, size_t per_swarm, size_t total)
{
    struct dht_peers_config cfg = {
        .max_swarms = swarms,
        .max_per_swarm = per_swarm,
        .max_total = total,
    };
    struct dht_peers *p = NULL;

    CHECK_INT(dht_peers_new(&cfg, &p), 0);
    return p;
}

/* ---- the store on its own ---- */

static void test_peers_keeps_announced_peer_in_compact_form(void)
{
    struct dht_peers *p = peers_make(0, 0, 0);
    struct krpc_span v[4];
    struct addr a = dht_sim_ip4(0xc0000207u, 6881); /* 192.0.2.7:6881 */

    CHECK_INT(dht_peers_announce(p, hash_a, &a, 0), 0);
    CHECK_INT(dht_peers_get(p, hash_a, AF_INET, 1000, v, 4), 1);
    CHECK_INT(v[0].len, KRPC_PEER_LEN);
    CHECK_MEM(v[0].data, "\xc0\x00\x02\x07\x1a\xe1", KRPC_PEER_LEN);
    CHECK_INT(dht_peers_get(p, hash_b, AF_INET, 1000, v, 4), 0);
    CHECK_INT(dht_peers_count(p), 1);
    dht_peers_free(p);
}

static void test_peers_announce_again_keeps_one_entry_newest_first(void)
{
    struct dht_peers *p = peers_make(0, 0, 0);
    struct krpc_span v[4];
    struct addr a = dht_sim_ip4(0xc0000201u, 1000), b = dht_sim_ip4(0xc0000202u, 1000);

    CHECK_INT(dht_peers_announce(p, hash_a, &a, 0), 0);
    CHECK_INT(dht_peers_announce(p, hash_a, &b, 10), 0);
    CHECK_INT(dht_peers_announce(p, hash_a, &a, 20), 0);
    CHECK_INT(dht_peers_count(p), 2);
    CHECK_INT(dht_peers_get(p, hash_a, AF_INET, 30, v, 4), 2);
    CHECK_MEM(v[0].data, "\xc0\x00\x02\x01", 4);
    CHECK_MEM(v[1].data, "\xc0\x00\x02\x02", 4);
    dht_peers_free(p);
}

static void test_peers_same_ip_other_port_is_another_peer(void)
{
    struct dht_peers *p = peers_make(0, 0, 0);
    struct addr a = dht_sim_ip4(0x7f000001u, 7001), b = dht_sim_ip4(0x7f000001u, 7002);

    CHECK_INT(dht_peers_announce(p, hash_a, &a, 0), 0);
    CHECK_INT(dht_peers_announce(p, hash_a, &b, 0), 0);
    CHECK_INT(dht_peers_count(p), 2);
    dht_peers_free(p);
}

static void test_peers_expire_after_thirty_minutes(void)
{
    struct dht_peers *p = peers_make(0, 0, 0);
    struct krpc_span v[4];
    struct addr a = dht_sim_ip4(0xc0000201u, 1000), b = dht_sim_ip4(0xc0000202u, 1000);

    CHECK_INT(dht_peers_announce(p, hash_a, &a, 0), 0);
    CHECK_INT(dht_peers_announce(p, hash_b, &b, 10 * MINUTE_MS), 0);
    CHECK_INT(dht_peers_get(p, hash_a, AF_INET, 30 * MINUTE_MS - 1, v, 4), 1);
    CHECK_INT(dht_peers_get(p, hash_a, AF_INET, 30 * MINUTE_MS, v, 4), 0);
    CHECK_INT(dht_peers_count(p), 1);
    dht_peers_expire(p, 40 * MINUTE_MS);
    CHECK_INT(dht_peers_count(p), 0);
    CHECK_INT(dht_peers_swarms(p), 0);
    dht_peers_free(p);
}

static void test_peers_full_swarm_drops_its_oldest(void)
{
    struct dht_peers *p = peers_make(0, 3, 0);
    struct krpc_span v[8];

    for (uint32_t i = 0; i < 4; i++) {
        struct addr a = dht_sim_ip4(0xc0000201u + i, 1000);
        CHECK_INT(dht_peers_announce(p, hash_a, &a, i), 0);
    }
    CHECK_INT(dht_peers_get(p, hash_a, AF_INET, 10, v, 8), 3);
    CHECK_MEM(v[0].data, "\xc0\x00\x02\x04", 4);
    CHECK_MEM(v[2].data, "\xc0\x00\x02\x02", 4);
    dht_peers_free(p);
}

static void test_peers_full_store_drops_oldest_of_all(void)
{
    struct dht_peers *p = peers_make(0, 0, 3);
    struct krpc_span v[8];
    struct addr a1 = dht_sim_ip4(0xc0000201u, 1), a2 = dht_sim_ip4(0xc0000202u, 1);
    struct addr b1 = dht_sim_ip4(0xc0000203u, 1), c1 = dht_sim_ip4(0xc0000204u, 1);

    CHECK_INT(dht_peers_announce(p, hash_a, &a1, 0), 0);
    CHECK_INT(dht_peers_announce(p, hash_b, &b1, 1), 0);
    CHECK_INT(dht_peers_announce(p, hash_a, &a2, 2), 0);
    CHECK_INT(dht_peers_announce(p, hash_c, &c1, 3), 0);
    CHECK_INT(dht_peers_count(p), 3);
    CHECK_INT(dht_peers_get(p, hash_a, AF_INET, 4, v, 8), 1);
    CHECK_MEM(v[0].data, "\xc0\x00\x02\x02", 4);
    CHECK_INT(dht_peers_get(p, hash_c, AF_INET, 4, v, 8), 1);
    dht_peers_free(p);
}

static void test_peers_full_swarm_list_drops_least_recent_swarm(void)
{
    struct dht_peers *p = peers_make(2, 0, 0);
    struct krpc_span v[8];
    struct addr a = dht_sim_ip4(0xc0000201u, 1);

    CHECK_INT(dht_peers_announce(p, hash_a, &a, 0), 0);
    CHECK_INT(dht_peers_announce(p, hash_b, &a, 1), 0);
    CHECK_INT(dht_peers_announce(p, hash_a, &a, 2), 0); /* a is now more recent than b */
    CHECK_INT(dht_peers_announce(p, hash_c, &a, 3), 0);
    CHECK_INT(dht_peers_swarms(p), 2);
    CHECK_INT(dht_peers_get(p, hash_b, AF_INET, 4, v, 8), 0);
    CHECK_INT(dht_peers_get(p, hash_a, AF_INET, 4, v, 8), 1);
    CHECK_INT(dht_peers_get(p, hash_c, AF_INET, 4, v, 8), 1);
    dht_peers_free(p);
}

static void test_peers_get_gives_one_family_bounded(void)
{
    struct dht_peers *p = peers_make(0, 0, 0);
    struct krpc_span v[8];
    struct addr six = dht_sim_ip6("2001:db8::5", 6881);

    for (uint32_t i = 0; i < 5; i++) {
        struct addr a = dht_sim_ip4(0xc0000201u + i, 1000);
        CHECK_INT(dht_peers_announce(p, hash_a, &a, i), 0);
    }
    CHECK_INT(dht_peers_announce(p, hash_a, &six, 9), 0);
    CHECK_INT(dht_peers_get(p, hash_a, AF_INET, 10, v, 3), 3);
    CHECK_INT(dht_peers_get(p, hash_a, AF_INET6, 10, v, 8), 1);
    CHECK_INT(v[0].len, KRPC_PEER6_LEN);
    CHECK_MEM(v[0].data, "\x20\x01\x0d\xb8", 4);
    CHECK_MEM(v[0].data + 16, "\x1a\xe1", 2);
    dht_peers_free(p);
}

static void test_peers_refuse_port_zero(void)
{
    struct dht_peers *p = peers_make(0, 0, 0);
    struct addr a = dht_sim_ip4(0xc0000201u, 0);

    CHECK_INT(dht_peers_announce(p, hash_a, &a, 0), -EINVAL);
    CHECK_INT(dht_peers_count(p), 0);
    CHECK_INT(dht_peers_swarms(p), 0);
    dht_peers_free(p);
}

/* ---- through the node: get_peers and announce_peer ---- */

static struct dht_node *node_alone(void)
{
    struct dht_node_config cfg;
    struct dht_node *node = NULL;

    memset(&cfg, 0, sizeof(cfg));
    memset(cfg.id, 0x11, sizeof(cfg.id));
    cfg.own_addr = dht_sim_ip4(0xc0000201u, 6881);
    CHECK_INT(dht_node_new(&cfg, 0, &node), 0);
    return node;
}

/* Feeds q to the node and parses its answer into r (whose spans point into buf). */
static bool ask(struct dht_node *node, const struct krpc_msg *q, const struct addr *from,
                uint64_t now_ms, uint8_t buf[DHT_NODE_DATAGRAM_MAX], struct krpc_msg *r)
{
    uint8_t in[DHT_NODE_DATAGRAM_MAX];
    struct addr to;
    size_t len;
    int n;

    CHECK_INT(krpc_write(q, in, sizeof(in), &len), 0);
    dht_node_input(node, in, len, from, now_ms);
    n = dht_node_next_output(node, buf, DHT_NODE_DATAGRAM_MAX, &to);
    return n > 0 && krpc_parse(r, buf, (size_t)n) == 0;
}

/* get_peers for hash_a; copies the token into token[] and returns its length. */
static size_t get_peers(struct dht_node *node, const struct addr *from, uint64_t now_ms,
                        uint8_t token[64], size_t *nvalues)
{
    uint8_t buf[DHT_NODE_DATAGRAM_MAX];
    struct krpc_msg q, r;

    krpc_msg_init_query(&q, KRPC_GET_PEERS, (const uint8_t *)"gp", 2, peer_id);
    q.info_hash = hash_a;
    if (!ask(node, &q, from, now_ms, buf, &r) || r.type != KRPC_RESPONSE || r.token.len == 0 ||
        r.token.len > 64) {
        return 0;
    }
    memcpy(token, r.token.data, r.token.len);
    *nvalues = r.nvalues;
    return r.token.len;
}

/* Sends announce_peer for hash_a; returns 0 for a response, else the error code. */
static int64_t announce(struct dht_node *node, const struct addr *from, const uint8_t *token,
                        size_t token_len, uint16_t port, bool implied_port, uint64_t now_ms)
{
    uint8_t buf[DHT_NODE_DATAGRAM_MAX];
    struct krpc_msg q, r;

    krpc_msg_init_query(&q, KRPC_ANNOUNCE_PEER, (const uint8_t *)"ap", 2, peer_id);
    q.info_hash = hash_a;
    q.has_port = true;
    q.port = port;
    q.implied_port = implied_port;
    q.token.data = token;
    q.token.len = token_len;
    if (!ask(node, &q, from, now_ms, buf, &r)) {
        return -1;
    }
    return r.type == KRPC_ERROR ? r.error_code : 0;
}

static void test_node_announce_then_get_peers_returns_values(void)
{
    struct dht_node *node = node_alone();
    struct addr from = dht_sim_ip4(0xc6336407u, 4000); /* 198.51.100.7:4000 */
    uint8_t token[64], buf[DHT_NODE_DATAGRAM_MAX];
    struct krpc_msg q, r;
    size_t nvalues = 99, token_len = get_peers(node, &from, 0, token, &nvalues);

    CHECK(token_len > 0);
    CHECK_INT(nvalues, 0);
    CHECK_INT(announce(node, &from, token, token_len, 51413, false, 10), 0);
    CHECK_INT(dht_peers_count(dht_node_peers(node)), 1);

    krpc_msg_init_query(&q, KRPC_GET_PEERS, (const uint8_t *)"g2", 2, peer_id);
    q.info_hash = hash_a;
    CHECK(ask(node, &q, &from, 20, buf, &r));
    CHECK_INT(r.nvalues, 1);
    CHECK_INT(r.values[0].len, KRPC_PEER_LEN);
    CHECK_MEM(r.values[0].data, "\xc6\x33\x64\x07\xc8\xd5", KRPC_PEER_LEN); /* port 51413 */
    CHECK(r.token.len > 0);
    dht_node_free(node);
}

static void test_node_announce_implied_port_takes_source_port(void)
{
    struct dht_node *node = node_alone();
    struct addr from = dht_sim_ip4(0xc6336407u, 4000);
    struct krpc_span v[2];
    uint8_t token[64];
    size_t nvalues, token_len = get_peers(node, &from, 0, token, &nvalues);

    CHECK_INT(announce(node, &from, token, token_len, 1, true, 10), 0);
    CHECK_INT(dht_peers_get(dht_node_peers(node), hash_a, AF_INET, 20, v, 2), 1);
    CHECK_MEM(v[0].data + 4, "\x0f\xa0", 2); /* 4000, not 1 */
    dht_node_free(node);
}

static void test_node_announce_with_bad_token_answers_203(void)
{
    struct dht_node *node = node_alone();
    struct addr from = dht_sim_ip4(0xc6336407u, 4000), other = dht_sim_ip4(0xc6336408u, 4000);
    uint8_t token[64];
    size_t nvalues, token_len = get_peers(node, &from, 0, token, &nvalues);

    /* A token given to another IP is not ours to use. */
    CHECK_INT(announce(node, &other, token, token_len, 6881, false, 10), KRPC_ERR_PROTOCOL);
    CHECK_INT(announce(node, &from, (const uint8_t *)"nope", 4, 6881, false, 10),
              KRPC_ERR_PROTOCOL);
    CHECK_INT(dht_peers_count(dht_node_peers(node)), 0);
    dht_node_free(node);
}

static void test_node_announce_port_zero_answers_203(void)
{
    struct dht_node *node = node_alone();
    struct addr from = dht_sim_ip4(0xc6336407u, 4000);
    uint8_t token[64];
    size_t nvalues, token_len = get_peers(node, &from, 0, token, &nvalues);

    CHECK_INT(announce(node, &from, token, token_len, 0, false, 10), KRPC_ERR_PROTOCOL);
    CHECK_INT(dht_peers_count(dht_node_peers(node)), 0);
    dht_node_free(node);
}

static void test_node_full_get_peers_answer_fits_a_datagram(void)
{
    struct dht_node *node = node_alone();
    struct addr from = dht_sim_ip4(0xc6336407u, 4000);
    uint8_t token[64];
    size_t nvalues;

    for (uint32_t i = 0; i < 2 * DHT_PEERS_REPLY_MAX; i++) {
        struct addr peer = dht_sim_ip4(0x0a000001u + i, 6881);
        size_t len = get_peers(node, &peer, i, token, &nvalues);
        CHECK_INT(announce(node, &peer, token, len, 6881, false, i), 0);
    }
    CHECK(get_peers(node, &from, 1000, token, &nvalues) > 0);
    CHECK_INT(nvalues, DHT_PEERS_REPLY_MAX);
    dht_node_free(node);
}

static void test_node_drops_peers_after_lifetime(void)
{
    struct dht_node *node = node_alone();
    struct addr from = dht_sim_ip4(0xc6336407u, 4000);
    uint8_t token[64];
    size_t nvalues, token_len = get_peers(node, &from, 0, token, &nvalues);

    CHECK_INT(announce(node, &from, token, token_len, 6881, false, 0), 0);
    dht_node_tick(node, DHT_PEERS_LIFETIME_MS + 1000);
    CHECK_INT(dht_peers_count(dht_node_peers(node)), 0);
    dht_node_free(node);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_peers_keeps_announced_peer_in_compact_form),
        UNIT(test_peers_announce_again_keeps_one_entry_newest_first),
        UNIT(test_peers_same_ip_other_port_is_another_peer),
        UNIT(test_peers_expire_after_thirty_minutes),
        UNIT(test_peers_full_swarm_drops_its_oldest),
        UNIT(test_peers_full_store_drops_oldest_of_all),
        UNIT(test_peers_full_swarm_list_drops_least_recent_swarm),
        UNIT(test_peers_get_gives_one_family_bounded),
        UNIT(test_peers_refuse_port_zero),
        UNIT(test_node_announce_then_get_peers_returns_values),
        UNIT(test_node_announce_implied_port_takes_source_port),
        UNIT(test_node_announce_with_bad_token_answers_203),
        UNIT(test_node_announce_port_zero_answers_203),
        UNIT(test_node_full_get_peers_answer_fits_a_datagram),
        UNIT(test_node_drops_peers_after_lifetime),
    };

    if (sodium_init() < 0) {
        return 1;
    }
    log_set_level(LOG_LEVEL_WARNING);
    return unit_run("dht_peers", tests, sizeof(tests) / sizeof(tests[0]));
}
