/* BEP 42: CRC32C, the BEP's test vectors, exempt addresses, the preference for conforming
 * contacts, and a node that changes its ID once responders agree on its external address. */
#include "dht_bep42.h"
#include "dht_contact.h"
#include "dht_node.h"
#include "dht_table.h"
#include "krpc.h"
#include "log.h"
#include "dht_sim.h"
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>

#define SECOND_MS 1000ull

static struct addr ip4(const char *text, uint16_t port)
{
    struct addr a;
    struct sockaddr_in *sin = (struct sockaddr_in *)&a.sa;

    memset(&a, 0, sizeof(a));
    sin->sin_family = AF_INET;
    CHECK_INT(inet_pton(AF_INET, text, &sin->sin_addr), 1);
    sin->sin_port = htons(port);
    a.len = sizeof(*sin);
    return a;
}

/* BEP 42's table: IP, rand (its low 3 bits are r, the whole byte ends the ID), an example ID. */
static const struct {
    const char *ip;
    uint8_t rand;
    const char *id;
} vectors[] = {
    {"124.31.75.21", 1, "5fbfbff10c5d6a4ec8a88e4c6ab4c28b95eee401"},
    {"21.75.31.124", 86, "5a3ce9c14e7a08645677bbd1cfe7d8f956d53256"},
    {"65.23.51.170", 22, "a5d43220bc8f112a3d426c84764f8c2a1150e616"},
    {"84.124.73.14", 65, "1b0321dd1bb1fe518101ceef99462b947a01ff41"},
    {"43.213.53.83", 90, "e56f6cbf5b7c4be0237986d5243b87aa6d51305a"},
};

static void test_bep42_crc32c_known_value(void)
{
    /* RFC 3720 B.4: 32 bytes of zeros give aa36918a. */
    static const uint8_t zeros[32] = {0};

    CHECK_INT(dht_bep42_crc32c(zeros, sizeof(zeros)), 0x8a9136aau);
    CHECK_INT(dht_bep42_crc32c((const uint8_t *)"123456789", 9), 0xe3069283u);
}

static void test_bep42_vectors_conform(void)
{
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        uint8_t id[KRPC_ID_LEN];
        struct addr a = ip4(vectors[i].ip, 6881);

        CHECK_INT(unit_hex(vectors[i].id, id, sizeof(id)), KRPC_ID_LEN);
        CHECK(dht_bep42_check(id, &a));
        id[2] ^= 0x08; /* the 21st bit */
        CHECK(!dht_bep42_check(id, &a));
    }
}

static void test_bep42_make_id_matches_vectors_prefix(void)
{
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        uint8_t want[KRPC_ID_LEN], noise[KRPC_ID_LEN], id[KRPC_ID_LEN];
        struct addr a = ip4(vectors[i].ip, 6881);
        const uint8_t *ip;
        size_t len;

        CHECK_INT(unit_hex(vectors[i].id, want, sizeof(want)), KRPC_ID_LEN);
        memset(noise, 0xa7, sizeof(noise));
        CHECK(dht_contact_ip_bytes(&a, &ip, &len));
        CHECK_INT(dht_bep42_make_id(ip, len, vectors[i].rand & 7, noise, id), 0);
        CHECK_MEM(id, want, 2);
        CHECK_INT(id[2] & 0xf8, want[2] & 0xf8);
        CHECK_INT(id[KRPC_ID_LEN - 1] & 7, vectors[i].rand & 7);
        CHECK(dht_bep42_check(id, &a));
        CHECK_MEM(id + 3, noise + 3, KRPC_ID_LEN - 4); /* the free bits are the noise */
    }
}

static void test_bep42_ipv6_ids_conform_to_their_address(void)
{
    struct addr a = dht_sim_ip6("2001:db8:1234:5678::1", 6881),
                b = dht_sim_ip6("2001:db8:9999:5678::1", 6881);
    uint8_t noise[KRPC_ID_LEN] = {0}, id[KRPC_ID_LEN];
    const uint8_t *ip;
    size_t len;

    CHECK(dht_contact_ip_bytes(&a, &ip, &len));
    CHECK_INT(dht_bep42_make_id(ip, len, 5, noise, id), 0);
    CHECK(dht_bep42_check(id, &a));
    CHECK(!dht_bep42_check(id, &b));
    CHECK_INT(dht_bep42_make_id(ip, 5, 5, noise, id), -EINVAL);
}

static void test_bep42_local_addresses_are_exempt(void)
{
    static const char *const exempt4[] = {"10.1.2.3",     "127.0.0.1",   "172.16.0.1",
                                          "172.31.255.1", "192.168.7.7", "169.254.1.1"};
    static const char *const public4[] = {"172.32.0.1", "8.8.8.8", "192.0.2.1", "11.0.0.1"};
    uint8_t id[KRPC_ID_LEN] = {0};
    struct addr a;

    for (size_t i = 0; i < sizeof(exempt4) / sizeof(exempt4[0]); i++) {
        a = ip4(exempt4[i], 1);
        CHECK(dht_bep42_exempt(&a));
        CHECK(dht_bep42_check(id, &a));
    }
    for (size_t i = 0; i < sizeof(public4) / sizeof(public4[0]); i++) {
        a = ip4(public4[i], 1);
        CHECK(!dht_bep42_exempt(&a));
    }
    a = dht_sim_ip6("::1", 1);
    CHECK(dht_bep42_exempt(&a));
    a = dht_sim_ip6("fd00::5", 1);
    CHECK(dht_bep42_exempt(&a));
    a = dht_sim_ip6("fe80::5", 1);
    CHECK(dht_bep42_exempt(&a));
    a = dht_sim_ip6("2001:db8::5", 1);
    CHECK(!dht_bep42_exempt(&a));
}

/* ---- the table prefers conforming contacts ---- */

static void test_table_promotes_conforming_replacement_first(void)
{
    uint8_t own[KRPC_ID_LEN] = {0};
    struct dht_table *t = NULL;
    struct dht_contact full[DHT_TABLE_K], other, plain, conforming;

    CHECK_INT(dht_table_new(own, &t), 0);
    /* A full bucket of IDs starting with bit 1 at public addresses, all answering. */
    for (size_t i = 0; i < DHT_TABLE_K; i++) {
        memset(full[i].id, (int)(0x80 + i), KRPC_ID_LEN);
        full[i].addr = ip4("8.8.8.8", (uint16_t)(1000 + i));
        CHECK_INT(dht_table_heard(t, &full[i], DHT_TABLE_REPLIED, false, 0), 0);
    }
    memset(other.id, 0x01, KRPC_ID_LEN); /* splits the table */
    other.addr = ip4("8.8.4.4", 1);
    CHECK_INT(dht_table_heard(t, &other, DHT_TABLE_REPLIED, false, 0), 0);

    /* Two replacements: a conforming one, then a newer one that does not conform. */
    CHECK_INT(unit_hex(vectors[2].id, conforming.id, KRPC_ID_LEN), KRPC_ID_LEN);
    conforming.addr = ip4(vectors[2].ip, 6881);
    CHECK_INT(dht_table_heard(t, &conforming, DHT_TABLE_REPLIED, false, 1 * SECOND_MS), 1);
    memset(plain.id, 0xf0, KRPC_ID_LEN);
    plain.addr = ip4("9.9.9.9", 6881);
    CHECK_INT(dht_table_heard(t, &plain, DHT_TABLE_REPLIED, false, 2 * SECOND_MS), 1);

    for (int i = 0; i < DHT_TABLE_MAX_FAILS; i++) {
        dht_table_failed(t, &full[3].addr, 3 * SECOND_MS);
    }
    CHECK_INT(dht_table_state(t, conforming.id, 3 * SECOND_MS), DHT_TABLE_GOOD);
    CHECK_INT(dht_table_state(t, plain.id, 3 * SECOND_MS), DHT_TABLE_SPARE);
    dht_table_free(t);
}

static void test_table_set_id_keeps_every_contact(void)
{
    uint8_t own[KRPC_ID_LEN] = {0}, moved[KRPC_ID_LEN];
    struct dht_table *t = NULL;
    struct dht_contact c[30];
    size_t kept = 0;

    CHECK_INT(dht_table_new(own, &t), 0);
    for (size_t i = 0; i < 30; i++) {
        memset(c[i].id, (int)(i * 8 + 3), KRPC_ID_LEN);
        c[i].addr = ip4("10.0.0.1", (uint16_t)(2000 + i));
        dht_table_heard(t, &c[i], DHT_TABLE_REPLIED, false, 0);
    }
    memset(moved, 0xee, sizeof(moved));
    CHECK_INT(dht_table_set_id(t, moved), 0);
    CHECK(dht_table_is_own(t, moved, NULL));
    for (size_t i = 0; i < 30; i++) {
        enum dht_table_state s = dht_table_state(t, c[i].id, 0);
        kept += s == DHT_TABLE_GOOD || s == DHT_TABLE_SPARE;
    }
    CHECK_INT(kept, 30);
    CHECK(dht_table_buckets(t) > 1);
    dht_table_free(t);
}

/* ---- the node follows its agreed external address ---- */

/* A node with ID 11.., bootstrapped from `n` contacts at 8.8.8.x that answer every query with
 * an "ip" of report:6881; returns the node after 5 s. */
static struct dht_node *node_told(const char *report, size_t n, bool same_responder)
{
    struct addr boot[8];
    struct dht_node_config cfg;
    struct dht_node *node = NULL;
    uint8_t buf[DHT_NODE_DATAGRAM_MAX], ip[KRPC_PEER_LEN];
    struct addr seen = ip4(report, 6881);

    memset(&cfg, 0, sizeof(cfg));
    memset(cfg.id, 0x11, sizeof(cfg.id));
    for (size_t i = 0; i < n; i++) {
        char text[32];
        snprintf(text, sizeof(text), "8.8.8.%zu", same_responder ? 1 : i + 1);
        boot[i] = ip4(text, (uint16_t)(6881 + i));
    }
    cfg.bootstrap = boot;
    cfg.nbootstrap = n;
    CHECK_INT(dht_node_new(&cfg, 0, &node), 0);
    CHECK_INT(dht_contact_write_addr(&seen, ip), 0);
    for (uint64_t t = 0; t < 5 * SECOND_MS; t += 100) {
        struct krpc_msg q, r;
        struct addr to;
        int len;
        dht_node_tick(node, t);
        while ((len = dht_node_next_output(node, buf, sizeof(buf), &to)) > 0) {
            uint8_t rid[KRPC_ID_LEN], out[DHT_NODE_DATAGRAM_MAX];
            size_t out_len;
            if (krpc_parse(&q, buf, (size_t)len) != 0 || q.type != KRPC_QUERY) {
                continue;
            }
            memset(rid, 0x60 + addr_port(&to) % 32, sizeof(rid));
            krpc_msg_init_response(&r, &q, rid);
            r.ip.data = ip;
            r.ip.len = sizeof(ip);
            CHECK_INT(krpc_write(&r, out, sizeof(out), &out_len), 0);
            dht_node_input(node, out, out_len, &to, t);
        }
    }
    return node;
}

static void test_node_takes_bep42_id_when_three_responders_agree(void)
{
    struct dht_node *node = node_told("124.31.75.21", 3, false);
    struct addr seen = ip4("124.31.75.21", 6881);
    uint8_t old[KRPC_ID_LEN];

    memset(old, 0x11, sizeof(old));
    CHECK(memcmp(dht_node_id(node), old, KRPC_ID_LEN) != 0);
    CHECK(dht_bep42_check(dht_node_id(node), &seen));
    CHECK(dht_table_is_own(dht_node_table(node), dht_node_id(node), NULL));
    CHECK_INT(dht_table_count(dht_node_table(node), 5 * SECOND_MS, NULL), 3);
    dht_node_free(node);
}

static void test_node_keeps_id_with_too_few_responders(void)
{
    uint8_t old[KRPC_ID_LEN];
    struct dht_node *two = node_told("124.31.75.21", 2, false);
    struct dht_node *one_thrice = node_told("124.31.75.21", 3, true);

    memset(old, 0x11, sizeof(old));
    CHECK_MEM(dht_node_id(two), old, KRPC_ID_LEN);
    CHECK_MEM(dht_node_id(one_thrice), old, KRPC_ID_LEN);
    dht_node_free(two);
    dht_node_free(one_thrice);
}

static void test_node_keeps_id_on_exempt_address(void)
{
    uint8_t old[KRPC_ID_LEN];
    struct dht_node *node = node_told("192.168.1.20", 3, false);

    memset(old, 0x11, sizeof(old));
    CHECK_MEM(dht_node_id(node), old, KRPC_ID_LEN);
    dht_node_free(node);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_bep42_crc32c_known_value),
        UNIT(test_bep42_vectors_conform),
        UNIT(test_bep42_make_id_matches_vectors_prefix),
        UNIT(test_bep42_ipv6_ids_conform_to_their_address),
        UNIT(test_bep42_local_addresses_are_exempt),
        UNIT(test_table_promotes_conforming_replacement_first),
        UNIT(test_table_set_id_keeps_every_contact),
        UNIT(test_node_takes_bep42_id_when_three_responders_agree),
        UNIT(test_node_keeps_id_with_too_few_responders),
        UNIT(test_node_keeps_id_on_exempt_address),
    };

    if (sodium_init() < 0) {
        return 1;
    }
    log_set_level(LOG_LEVEL_WARNING);
    return unit_run("dht_bep42", tests, sizeof(tests) / sizeof(tests[0]));
}
