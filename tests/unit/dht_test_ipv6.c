/* BEP 32 in the DHT library: IPv6 compact forms, the table per family, the "want" key, the
 * 18-byte "ip", tokens bound to IPv6 addresses, and lookups over IPv6 on the simulated
 * network. */
#include "bep44.h"
#include "dht_contact.h"
#include "dht_lookup.h"
#include "dht_node.h"
#include "dht_peers.h"
#include "dht_sim.h"
#include "dht_table.h"
#include "krpc.h"
#include "log.h"
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>

#define SECOND_MS 1000ull
#define MINUTE_MS (60 * SECOND_MS)

static const uint8_t peer_id[KRPC_ID_LEN] = {0x42, 0x42, 0x42};

/* 2001:db8::1:<i> port 6881, with ID i*13+1 repeated. */
static struct dht_contact contact6(size_t i)
{
    struct dht_contact c;
    char text[64];

    memset(c.id, (int)(i * 13 + 1), KRPC_ID_LEN);
    snprintf(text, sizeof(text), "2001:db8::1:%zx", i + 1);
    c.addr = dht_sim_ip6(text, 6881);
    return c;
}

/* ---- compact forms ---- */

static void test_contact_ipv6_node_info_round_trips(void)
{
    struct dht_contact c = contact6(0), back;
    uint8_t out[KRPC_NODE6_LEN];

    CHECK_INT(dht_contact_write6(&c, out), 0);
    CHECK_MEM(out, c.id, KRPC_ID_LEN);
    CHECK_MEM(out + KRPC_ID_LEN, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\x01\0\x01\x1a\xe1", 18);
    CHECK_INT(dht_contact_read6(out, &back), 0);
    CHECK(addr_equal(&back.addr, &c.addr));
    CHECK_INT(dht_contact_read_any(out, KRPC_NODE6_LEN, &back), 0);
    CHECK(addr_equal(&back.addr, &c.addr));
    /* The IPv4 form cannot carry it. */
    CHECK_INT(dht_contact_write(&c, out), -EAFNOSUPPORT);
    CHECK_INT(dht_contact_node_len(AF_INET6), KRPC_NODE6_LEN);
    CHECK_INT(dht_contact_node_len(AF_INET), KRPC_NODE_LEN);
}

static void test_contact_ipv6_usable_addresses(void)
{
    struct addr a;

    a = dht_sim_ip6("::1", 6881);
    CHECK(dht_contact_addr_usable(&a));
    a = dht_sim_ip6("2001:db8::7", 6881);
    CHECK(dht_contact_addr_usable(&a));
    a = dht_sim_ip6("2001:db8::7", 0);
    CHECK(!dht_contact_addr_usable(&a));
    a = dht_sim_ip6("::", 6881);
    CHECK(!dht_contact_addr_usable(&a));
    a = dht_sim_ip6("ff02::1", 6881);
    CHECK(!dht_contact_addr_usable(&a));
    a = dht_sim_ip6("fe80::1", 6881);
    CHECK(!dht_contact_addr_usable(&a));
    a = dht_sim_ip6("::ffff:192.0.2.1", 6881);
    CHECK(!dht_contact_addr_usable(&a));
}

static void test_krpc_round_trips_ipv6_ip_and_values_and_want_n6(void)
{
    uint8_t buf[DHT_NODE_DATAGRAM_MAX], ip[KRPC_PEER6_LEN], peer6[KRPC_PEER6_LEN];
    uint8_t id[KRPC_ID_LEN] = {1}, hash[KRPC_ID_LEN] = {2};
    struct krpc_msg q, r, back;
    size_t len;

    krpc_msg_init_query(&q, KRPC_GET_PEERS, (const uint8_t *)"g6", 2, id);
    q.info_hash = hash;
    q.want = KRPC_WANT_N6;
    CHECK_INT(krpc_write(&q, buf, sizeof(buf), &len), 0);
    CHECK(memmem(buf, len, "4:wantl2:n6e", 12) != NULL);
    CHECK_INT(krpc_parse(&back, buf, len), 0);
    CHECK_INT(back.want, KRPC_WANT_N6);

    memset(ip, 0xab, sizeof(ip));
    memset(peer6, 0xcd, sizeof(peer6));
    krpc_msg_init_response(&r, &q, id);
    r.ip.data = ip;
    r.ip.len = sizeof(ip);
    r.values[0].data = peer6;
    r.values[0].len = sizeof(peer6);
    r.nvalues = 1;
    CHECK_INT(krpc_write(&r, buf, sizeof(buf), &len), 0);
    CHECK_INT(krpc_parse(&back, buf, len), 0);
    CHECK_INT(back.ip.len, KRPC_PEER6_LEN);
    CHECK_MEM(back.ip.data, ip, sizeof(ip));
    CHECK_INT(back.nvalues, 1);
    CHECK_INT(back.values[0].len, KRPC_PEER6_LEN);
}

/* ---- one table per family ---- */

static void test_table_holds_contacts_of_its_family_only(void)
{
    uint8_t own[KRPC_ID_LEN] = {0};
    struct dht_table *t4 = NULL, *t6 = NULL, *unix_table = NULL;
    struct dht_contact c6 = contact6(1), c4 = {.id = {9}, .addr = dht_sim_ip4(0x0a000001u, 6881)};

    CHECK_INT(dht_table_new(own, &t4), 0);
    CHECK_INT(dht_table_new_family(own, AF_INET6, &t6), 0);
    CHECK_INT(dht_table_family(t6), AF_INET6);
    CHECK_INT(dht_table_heard(t4, &c6, DHT_TABLE_REPLIED, false, 0), -EAFNOSUPPORT);
    CHECK_INT(dht_table_heard(t6, &c4, DHT_TABLE_REPLIED, false, 0), -EAFNOSUPPORT);
    CHECK_INT(dht_table_heard(t6, &c6, DHT_TABLE_REPLIED, false, 0), 0);
    CHECK_INT(dht_table_heard(t4, &c4, DHT_TABLE_REPLIED, false, 0), 0);
    CHECK_INT(dht_table_count(t6, 0, NULL), 1);
    CHECK_INT(dht_table_count(t4, 0, NULL), 1);
    CHECK_INT(dht_table_new_family(own, AF_UNIX, &unix_table), -EAFNOSUPPORT);
    CHECK(unix_table == NULL);
    dht_table_free(t4);
    dht_table_free(t6);
}

static void test_table6_export_and_import_use_38_bytes(void)
{
    uint8_t own[KRPC_ID_LEN] = {0}, buf[10 * KRPC_NODE6_LEN];
    struct dht_table *t = NULL, *restored = NULL;
    size_t len;

    CHECK_INT(dht_table_new_family(own, AF_INET6, &t), 0);
    for (size_t i = 0; i < 5; i++) {
        struct dht_contact c = contact6(i);
        CHECK_INT(dht_table_heard(t, &c, DHT_TABLE_REPLIED, false, 0), 0);
    }
    len = dht_table_export(t, buf, sizeof(buf), 0);
    CHECK_INT(len, 5 * KRPC_NODE6_LEN);
    CHECK_INT(dht_table_new_family(own, AF_INET6, &restored), 0);
    CHECK_INT(dht_table_import(restored, buf, len, 0), 5);
    CHECK_INT(dht_table_import(restored, buf, KRPC_NODE_LEN, 0), -EINVAL);
    CHECK_INT(dht_table_state(restored, contact6(3).id, 0), DHT_TABLE_QUESTIONABLE);
    dht_table_free(t);
    dht_table_free(restored);
}

/* ---- the node ---- */

/* A node at 192.0.2.1:6881 (and 2001:db8::1 with ipv6), ID 11 11 ... 11. */
static struct dht_node *node_alone(bool ipv6)
{
    struct dht_node_config cfg;
    struct dht_node *node = NULL;

    memset(&cfg, 0, sizeof(cfg));
    memset(cfg.id, 0x11, sizeof(cfg.id));
    cfg.own_addr = dht_sim_ip4(0xc0000201u, 6881);
    cfg.ipv6 = ipv6;
    if (ipv6) {
        cfg.own_addr6 = dht_sim_ip6("2001:db8::1", 6881);
    }
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

static bool next_msg(struct dht_node *node, uint8_t buf[DHT_NODE_DATAGRAM_MAX], struct krpc_msg *m,
                     struct addr *to)
{
    int len = dht_node_next_output(node, buf, DHT_NODE_DATAGRAM_MAX, to);

    return len > 0 && krpc_parse(m, buf, (size_t)len) == 0;
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

/* A dual-stack node that has confirmed 10 IPv4 and 10 IPv6 contacts. */
static struct dht_node *node_with_both_tables(void)
{
    struct dht_node *node = node_alone(true);
    uint8_t saved4[10 * KRPC_NODE_LEN], saved6[10 * KRPC_NODE6_LEN];
    struct dht_contact c[20];

    for (size_t i = 0; i < 10; i++) {
        memset(c[i].id, (int)(i * 7 + 2), KRPC_ID_LEN);
        c[i].addr = dht_sim_ip4(0x0a000001u + (uint32_t)i, 6881);
        CHECK_INT(dht_contact_write(&c[i], saved4 + i * KRPC_NODE_LEN), 0);
        c[10 + i] = contact6(i);
        CHECK_INT(dht_contact_write6(&c[10 + i], saved6 + i * KRPC_NODE6_LEN), 0);
    }
    CHECK_INT(dht_node_import_nodes(node, saved4, sizeof(saved4)), 10);
    CHECK_INT(dht_node_import_nodes6(node, saved6, sizeof(saved6)), 10);
    answer_contacts(node, c, 20, 10 * SECOND_MS);
    CHECK_INT(dht_table_count(dht_node_table(node), 10 * SECOND_MS, NULL), 10);
    CHECK_INT(dht_table_count(dht_node_table6(node), 10 * SECOND_MS, NULL), 10);
    while (dht_node_next_output(node, (uint8_t[DHT_NODE_DATAGRAM_MAX]){0}, DHT_NODE_DATAGRAM_MAX,
                                &(struct addr){0}) > 0) {
    }
    return node;
}

/* Sends find_node with `want` from `from` and parses the answer into r. */
static bool find_node(struct dht_node *node, unsigned want, const struct addr *from,
                      uint8_t buf[DHT_NODE_DATAGRAM_MAX], struct krpc_msg *r)
{
    uint8_t target[KRPC_ID_LEN] = {0x80};
    struct krpc_msg q;
    struct addr to;

    krpc_msg_init_query(&q, KRPC_FIND_NODE, (const uint8_t *)"fn", 2, peer_id);
    q.target = target;
    q.want = want;
    feed(node, &q, from, 20 * SECOND_MS);
    return next_msg(node, buf, r, &to) && addr_equal(&to, from);
}

static void test_node_without_ipv6_ignores_ipv6_datagrams(void)
{
    struct dht_node *node = node_alone(false);
    struct addr from = dht_sim_ip6("2001:db8::99", 4000);
    uint8_t buf[DHT_NODE_DATAGRAM_MAX];
    struct krpc_msg r;

    CHECK(!find_node(node, 0, &from, buf, &r));
    CHECK_INT(dht_node_stats(node)->ignored, 1);
    CHECK(dht_node_table6(node) == NULL);
    CHECK_INT(dht_node_import_nodes6(node, buf, KRPC_NODE6_LEN), -EAFNOSUPPORT);
    dht_node_free(node);
}

static void test_node_answers_ipv6_query_with_nodes6_and_18_byte_ip(void)
{
    struct dht_node *node = node_with_both_tables();
    struct addr from = dht_sim_ip6("2001:db8::99", 4000);
    uint8_t buf[DHT_NODE_DATAGRAM_MAX];
    struct krpc_msg r;

    /* No "want": the family the query came over. */
    CHECK(find_node(node, 0, &from, buf, &r));
    CHECK_INT(r.nodes6.len, DHT_TABLE_K * KRPC_NODE6_LEN);
    CHECK_INT(r.nodes.len, 0);
    CHECK_INT(r.ip.len, KRPC_PEER6_LEN);
    CHECK_MEM(r.ip.data, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x99\x0f\xa0", KRPC_PEER6_LEN);
    dht_node_free(node);
}

static void test_node_answers_want_with_the_families_asked_for(void)
{
    struct dht_node *node = node_with_both_tables();
    struct addr from4 = dht_sim_ip4(0xc6336407u, 4000), from6 = dht_sim_ip6("2001:db8::99", 4000);
    uint8_t buf[DHT_NODE_DATAGRAM_MAX];
    struct krpc_msg r;

    CHECK(find_node(node, 0, &from4, buf, &r));
    CHECK_INT(r.nodes.len, DHT_TABLE_K * KRPC_NODE_LEN);
    CHECK_INT(r.nodes6.len, 0);
    CHECK_INT(r.ip.len, KRPC_PEER_LEN);

    CHECK(find_node(node, KRPC_WANT_N4 | KRPC_WANT_N6, &from4, buf, &r));
    CHECK_INT(r.nodes.len, DHT_TABLE_K * KRPC_NODE_LEN);
    CHECK_INT(r.nodes6.len, DHT_TABLE_K * KRPC_NODE6_LEN);

    CHECK(find_node(node, KRPC_WANT_N6, &from4, buf, &r));
    CHECK_INT(r.nodes.len, 0);
    CHECK_INT(r.nodes6.len, DHT_TABLE_K * KRPC_NODE6_LEN);

    CHECK(find_node(node, KRPC_WANT_N4, &from6, buf, &r));
    CHECK_INT(r.nodes.len, DHT_TABLE_K * KRPC_NODE_LEN);
    CHECK_INT(r.nodes6.len, 0);
    dht_node_free(node);
}

static void test_node_ipv4_only_gives_no_nodes6_even_when_asked(void)
{
    struct dht_node *node = node_alone(false);
    struct addr from = dht_sim_ip4(0xc6336407u, 4000);
    uint8_t buf[DHT_NODE_DATAGRAM_MAX];
    struct krpc_msg r;

    CHECK(find_node(node, KRPC_WANT_N4 | KRPC_WANT_N6, &from, buf, &r));
    CHECK(r.nodes6.data == NULL);
    dht_node_free(node);
}

static void test_node_dual_stack_queries_want_both_families(void)
{
    struct addr boot = dht_sim_ip6("2001:db8::2", 6881);
    struct dht_node_config cfg;
    struct dht_node *node = NULL;
    uint8_t buf[DHT_NODE_DATAGRAM_MAX];
    struct krpc_msg q;
    struct addr to;

    memset(&cfg, 0, sizeof(cfg));
    cfg.ipv6 = true;
    cfg.bootstrap = &boot;
    cfg.nbootstrap = 1;
    CHECK_INT(dht_node_new(&cfg, 0, &node), 0);
    dht_node_tick(node, 0);
    CHECK(next_msg(node, buf, &q, &to));
    CHECK(addr_equal(&to, &boot));
    CHECK_INT(q.method, KRPC_FIND_NODE);
    CHECK_INT(q.want, KRPC_WANT_N4 | KRPC_WANT_N6);
    dht_node_free(node);
}

static void test_node_ipv4_only_skips_ipv6_bootstrap(void)
{
    struct addr boot = dht_sim_ip6("2001:db8::2", 6881);
    struct dht_node_config cfg;
    struct dht_node *node = NULL;

    memset(&cfg, 0, sizeof(cfg));
    cfg.bootstrap = &boot;
    cfg.nbootstrap = 1;
    CHECK_INT(dht_node_new(&cfg, 0, &node), 0);
    dht_node_tick(node, 0);
    CHECK_INT(dht_node_next_output(node, (uint8_t[DHT_NODE_DATAGRAM_MAX]){0}, DHT_NODE_DATAGRAM_MAX,
                                   &(struct addr){0}),
              0);
    dht_node_free(node);
}

/* get_peers from `from`; copies the token into token[] and returns its length. */
static size_t get_peers(struct dht_node *node, const struct addr *from, const uint8_t *hash,
                        uint8_t token[64], struct krpc_msg *r, uint8_t buf[DHT_NODE_DATAGRAM_MAX])
{
    struct krpc_msg q;
    struct addr to;

    krpc_msg_init_query(&q, KRPC_GET_PEERS, (const uint8_t *)"gp", 2, peer_id);
    q.info_hash = hash;
    feed(node, &q, from, 0);
    if (!next_msg(node, buf, r, &to) || r->token.len == 0 || r->token.len > 64) {
        return 0;
    }
    memcpy(token, r->token.data, r->token.len);
    return r->token.len;
}

static int64_t announce(struct dht_node *node, const struct addr *from, const uint8_t *hash,
                        const uint8_t *token, size_t token_len)
{
    uint8_t buf[DHT_NODE_DATAGRAM_MAX];
    struct krpc_msg q, r;
    struct addr to;

    krpc_msg_init_query(&q, KRPC_ANNOUNCE_PEER, (const uint8_t *)"ap", 2, peer_id);
    q.info_hash = hash;
    q.has_port = true;
    q.port = 51413;
    q.token.data = token;
    q.token.len = token_len;
    feed(node, &q, from, 10);
    if (!next_msg(node, buf, &r, &to)) {
        return -1;
    }
    return r.type == KRPC_ERROR ? r.error_code : 0;
}

static void test_node_token_is_bound_to_the_ipv6_address(void)
{
    struct dht_node *node = node_alone(true);
    struct addr a = dht_sim_ip6("2001:db8::a", 4000), b = dht_sim_ip6("2001:db8::b", 4000);
    struct addr same_ip_other_port = dht_sim_ip6("2001:db8::a", 5000);
    uint8_t hash[KRPC_ID_LEN] = {0x33}, token[64], buf[DHT_NODE_DATAGRAM_MAX];
    struct krpc_msg r;
    size_t token_len = get_peers(node, &a, hash, token, &r, buf);

    CHECK(token_len > 0);
    CHECK_INT(announce(node, &b, hash, token, token_len), KRPC_ERR_PROTOCOL);
    CHECK_INT(announce(node, &same_ip_other_port, hash, token, token_len), 0);
    dht_node_free(node);
}

static void test_node_get_peers_over_ipv6_returns_ipv6_values(void)
{
    struct dht_node *node = node_alone(true);
    struct addr a6 = dht_sim_ip6("2001:db8::a", 4000), a4 = dht_sim_ip4(0xc6336407u, 4000);
    uint8_t hash[KRPC_ID_LEN] = {0x33}, token[64], buf[DHT_NODE_DATAGRAM_MAX];
    struct krpc_msg r;
    size_t len;

    len = get_peers(node, &a6, hash, token, &r, buf);
    CHECK_INT(announce(node, &a6, hash, token, len), 0);
    len = get_peers(node, &a4, hash, token, &r, buf);
    CHECK_INT(announce(node, &a4, hash, token, len), 0);

    CHECK(get_peers(node, &a6, hash, token, &r, buf) > 0);
    CHECK_INT(r.nvalues, 1);
    CHECK_INT(r.values[0].len, KRPC_PEER6_LEN);
    CHECK_MEM(r.values[0].data, "\x20\x01\x0d\xb8", 4);
    CHECK_MEM(r.values[0].data + 16, "\xc8\xd5", 2);
    CHECK(get_peers(node, &a4, hash, token, &r, buf) > 0);
    CHECK_INT(r.nvalues, 1);
    CHECK_INT(r.values[0].len, KRPC_PEER_LEN);
    dht_node_free(node);
}

static void test_node_full_ipv6_get_peers_answer_fits_a_datagram(void)
{
    struct dht_node *node = node_with_both_tables();
    struct addr from = dht_sim_ip6("2001:db8::99", 4000);
    uint8_t hash[KRPC_ID_LEN] = {0x33}, token[64], buf[DHT_NODE_DATAGRAM_MAX];
    struct krpc_msg q, r;
    struct addr to;

    for (uint32_t i = 0; i < 2 * DHT_PEERS_REPLY_MAX; i++) {
        struct addr peer = dht_sim_ip6("2001:db8::5:0", (uint16_t)(1000 + i));
        CHECK_INT(dht_peers_announce(dht_node_peers(node), hash, &peer, 0), 0);
    }
    CHECK(get_peers(node, &from, hash, token, &r, buf) > 0);
    CHECK_INT(r.nvalues, DHT_PEERS_REPLY_MAX);

    krpc_msg_init_query(&q, KRPC_GET_PEERS, (const uint8_t *)"g2", 2, peer_id);
    q.info_hash = hash;
    q.want = KRPC_WANT_N4 | KRPC_WANT_N6;
    feed(node, &q, &from, 0);
    CHECK(next_msg(node, buf, &r, &to));
    CHECK_INT(r.nvalues, DHT_PEERS_REPLY_MAX);
    CHECK_INT(r.nodes.len, DHT_TABLE_K * KRPC_NODE_LEN);
    CHECK_INT(r.nodes6.len, DHT_TABLE_K * KRPC_NODE6_LEN);
    dht_node_free(node);
}

static void test_node_export_and_import_nodes6_round_trip(void)
{
    struct dht_node *a = node_with_both_tables(), *b = node_alone(true);
    uint8_t out[20 * KRPC_NODE6_LEN];
    size_t len = dht_node_export_nodes6(a, out, sizeof(out));

    CHECK_INT(len, 10 * KRPC_NODE6_LEN);
    CHECK_INT(dht_node_import_nodes6(b, out, len), 10);
    CHECK_INT(dht_node_import_nodes6(b, out, len - 1), -EINVAL);
    CHECK_INT(dht_table_count(dht_node_table6(b), 0, NULL), 10);
    CHECK_INT(dht_table_count(dht_node_table(b), 0, NULL), 0);
    dht_node_free(a);
    dht_node_free(b);
}

/* ---- lookups on a simulated network where only IPv6 carries datagrams ---- */

static size_t drop_ipv4(void *ctx, size_t index, const uint8_t *data, size_t len,
                        const struct addr *to, uint8_t *out, size_t cap)
{
    (void)ctx;
    (void)index;
    if (to->sa.ss_family != AF_INET6 || len > cap) {
        return 0;
    }
    memcpy(out, data, len);
    return len;
}

struct result {
    bool done;
    int status;
    size_t values;
    int64_t seq;
    size_t stored;
    size_t nclosest;
    bool closest_all_ipv6;
};

static void result_cb(void *user, const struct dht_lookup_event *ev)
{
    struct result *r = user;

    if (ev->type == DHT_LOOKUP_VALUE) {
        r->values++;
        r->seq = ev->item->seq;
        return;
    }
    r->done = true;
    r->status = ev->status;
    r->stored = ev->stored;
    r->nclosest = ev->nclosest;
    r->closest_all_ipv6 = true;
    for (size_t i = 0; i < ev->nclosest; i++) {
        r->closest_all_ipv6 = r->closest_all_ipv6 && ev->closest[i].addr.sa.ss_family == AF_INET6;
    }
}

static bool result_done(void *ctx)
{
    return ((struct result *)ctx)->done;
}

/* n dual-stack nodes that bootstrap from node 0's IPv6 address; no IPv4 datagram arrives. */
static struct dht_sim *net_ipv6_only(size_t n, uint64_t seed)
{
    struct dht_sim_config sim_cfg = {.seed = seed, .latency_ms = 20, .jitter_ms = 60};
    struct dht_node_config cfg;
    struct dht_sim *sim = NULL;
    size_t index;

    CHECK_INT(dht_sim_new(&sim_cfg, &sim), 0);
    memset(&cfg, 0, sizeof(cfg));
    cfg.ipv6 = true;
    for (size_t i = 0; i < n; i++) {
        struct addr boot;
        if (i > 0) {
            boot = *dht_sim_addr6(sim, 0);
            cfg.bootstrap = &boot;
            cfg.nbootstrap = 1;
        }
        CHECK_INT(dht_sim_add(sim, &cfg, &index), 0);
        dht_sim_set_filter(sim, index, drop_ipv4, NULL);
        dht_sim_run(sim, 100);
    }
    dht_sim_run(sim, 2 * MINUTE_MS);
    return sim;
}

static void test_lookup_over_ipv6_finds_nodes_and_round_trips_an_item(void)
{
    struct dht_sim *sim = net_ipv6_only(60, 32);
    uint8_t seed[crypto_sign_SEEDBYTES] = {5}, pk[32], sk[64], sig[BEP44_SIG_LEN];
    uint8_t target[KRPC_ID_LEN] = {0x5a, 0xa5};
    const uint8_t value[] = "10:over ipv6!";
    struct dht_store_item item = {
        .k = pk, .sig = sig, .seq = 7, .value = value, .value_len = sizeof(value) - 1};
    struct dht_lookup_get_args args = {.k = pk};
    struct result find = {0}, put = {0}, get = {0};

    CHECK(dht_table_count(dht_node_table6(dht_sim_node(sim, 30)), dht_sim_now(sim), NULL) >=
          DHT_TABLE_K);
    CHECK_INT(dht_table_count(dht_node_table(dht_sim_node(sim, 30)), dht_sim_now(sim), NULL), 0);

    CHECK_INT(dht_lookup_find_node(dht_sim_node(sim, 17), target, result_cb, &find,
                                   dht_sim_now(sim), NULL),
              0);
    CHECK(dht_sim_run_until(sim, result_done, &find, MINUTE_MS));
    CHECK_INT(find.status, 0);
    CHECK_INT(find.nclosest, DHT_TABLE_K);
    CHECK(find.closest_all_ipv6);

    crypto_sign_seed_keypair(pk, sk, seed);
    CHECK_INT(bep44_sign(sk, NULL, 0, 7, value, sizeof(value) - 1, sig), 0);
    CHECK_INT(
        dht_lookup_put(dht_sim_node(sim, 3), &item, NULL, result_cb, &put, dht_sim_now(sim), NULL),
        0);
    CHECK(dht_sim_run_until(sim, result_done, &put, 2 * MINUTE_MS));
    CHECK_INT(put.status, 0);
    CHECK(put.stored >= DHT_LOOKUP_PUT_NODES - 1);

    CHECK_INT(dht_lookup_get(dht_sim_node(sim, 44), &args, result_cb, &get, dht_sim_now(sim), NULL),
              0);
    CHECK(dht_sim_run_until(sim, result_done, &get, 2 * MINUTE_MS));
    CHECK_INT(get.status, 0);
    CHECK_INT(get.values, 1);
    CHECK_INT(get.seq, 7);
    dht_sim_free(sim);
}

static void test_lookup_dual_stack_fills_both_tables(void)
{
    struct dht_sim_config sim_cfg = {.seed = 33, .latency_ms = 20, .jitter_ms = 60};
    struct dht_node_config cfg;
    struct dht_sim *sim = NULL;
    size_t index;

    CHECK_INT(dht_sim_new(&sim_cfg, &sim), 0);
    memset(&cfg, 0, sizeof(cfg));
    cfg.ipv6 = true;
    for (size_t i = 0; i < 40; i++) {
        struct addr boot[2];
        if (i > 0) {
            boot[0] = *dht_sim_addr(sim, 0);
            boot[1] = *dht_sim_addr6(sim, 0);
            cfg.bootstrap = boot;
            cfg.nbootstrap = 2;
        }
        CHECK_INT(dht_sim_add(sim, &cfg, &index), 0);
        dht_sim_run(sim, 100);
    }
    dht_sim_run(sim, 2 * MINUTE_MS);
    for (size_t i = 1; i < 40; i += 13) {
        struct dht_node *node = dht_sim_node(sim, i);
        CHECK(dht_table_count(dht_node_table(node), dht_sim_now(sim), NULL) >= DHT_TABLE_K);
        /* Beyond node 0, the IPv6 contacts came through "want". */
        CHECK(dht_table_count(dht_node_table6(node), dht_sim_now(sim), NULL) >= DHT_TABLE_K);
    }
    dht_sim_free(sim);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_contact_ipv6_node_info_round_trips),
        UNIT(test_contact_ipv6_usable_addresses),
        UNIT(test_krpc_round_trips_ipv6_ip_and_values_and_want_n6),
        UNIT(test_table_holds_contacts_of_its_family_only),
        UNIT(test_table6_export_and_import_use_38_bytes),
        UNIT(test_node_without_ipv6_ignores_ipv6_datagrams),
        UNIT(test_node_answers_ipv6_query_with_nodes6_and_18_byte_ip),
        UNIT(test_node_answers_want_with_the_families_asked_for),
        UNIT(test_node_ipv4_only_gives_no_nodes6_even_when_asked),
        UNIT(test_node_dual_stack_queries_want_both_families),
        UNIT(test_node_ipv4_only_skips_ipv6_bootstrap),
        UNIT(test_node_token_is_bound_to_the_ipv6_address),
        UNIT(test_node_get_peers_over_ipv6_returns_ipv6_values),
        UNIT(test_node_full_ipv6_get_peers_answer_fits_a_datagram),
        UNIT(test_node_export_and_import_nodes6_round_trip),
        UNIT(test_lookup_over_ipv6_finds_nodes_and_round_trips_an_item),
        UNIT(test_lookup_dual_stack_fills_both_tables),
    };

    if (sodium_init() < 0) {
        return 1;
    }
    log_set_level(LOG_LEVEL_WARNING);
    return unit_run("dht_ipv6", tests, sizeof(tests) / sizeof(tests[0]));
}
