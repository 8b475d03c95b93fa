#include "dht_contact.h"
#include "dht_table.h"
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>

#define MINUTE_MS (60ull * 1000)

/* Our own ID is all zero, so a contact's distance from us is its ID. */
static const uint8_t own_id[KRPC_ID_LEN];

static struct addr addr_v4(uint32_t ip, uint16_t port)
{
    struct addr a;
    struct sockaddr_in *sin = (struct sockaddr_in *)&a.sa;

    memset(&a, 0, sizeof(a));
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(ip);
    sin->sin_port = htons(port);
    a.len = sizeof(*sin);
    return a;
}

/* A contact whose ID shares exactly `prefix` bits with ours (its bit `prefix` is set), made
 * distinct by `n`, at 10.1.<n>.1:6881. */
static struct dht_contact contact_at(unsigned prefix, unsigned n)
{
    struct dht_contact c;

    memset(&c, 0, sizeof(c));
    c.id[prefix / 8] = (uint8_t)(0x80u >> (prefix % 8));
    c.id[18] = (uint8_t)(n >> 8);
    c.id[19] = (uint8_t)n;
    c.addr = addr_v4(0x0a010001u + (n << 8), 6881);
    return c;
}

static struct dht_table *table_new(void)
{
    struct dht_table *t;

    CHECK_INT(dht_table_new(own_id, &t), 0);
    return t;
}

static void test_table_adds_node_that_replied_as_good(void)
{
    struct dht_table *t = table_new();
    struct dht_contact c = contact_at(3, 1);

    CHECK_INT(dht_table_heard(t, &c, DHT_TABLE_REPLIED, false, 0), 0);
    CHECK_INT(dht_table_state(t, c.id, 0), DHT_TABLE_GOOD);
    CHECK_INT(dht_table_count(t, 0, NULL), 1);
    dht_table_free(t);
}

static void test_table_adds_node_that_queried_as_questionable(void)
{
    struct dht_table *t = table_new();
    struct dht_contact c = contact_at(3, 1);

    CHECK_INT(dht_table_heard(t, &c, DHT_TABLE_QUERIED, false, 0), 0);
    CHECK_INT(dht_table_state(t, c.id, 0), DHT_TABLE_QUESTIONABLE);
    dht_table_free(t);
}

static void test_table_never_adds_read_only_node(void)
{
    struct dht_table *t = table_new();
    struct dht_contact c = contact_at(3, 1);

    CHECK_INT(dht_table_heard(t, &c, DHT_TABLE_QUERIED, true, 0), -EPERM);
    CHECK_INT(dht_table_heard(t, &c, DHT_TABLE_REPLIED, true, 0), -EPERM);
    CHECK_INT(dht_table_state(t, c.id, 0), DHT_TABLE_ABSENT);
    dht_table_free(t);
}

static void test_table_never_adds_own_id(void)
{
    struct dht_table *t = table_new();
    struct dht_contact c = contact_at(3, 1);

    memset(c.id, 0, sizeof(c.id));
    CHECK_INT(dht_table_heard(t, &c, DHT_TABLE_REPLIED, false, 0), -EPERM);
    CHECK_INT(dht_table_count(t, 0, NULL), 0);
    dht_table_free(t);
}

static void test_table_never_adds_own_address(void)
{
    struct dht_table *t = table_new();
    struct dht_contact c = contact_at(3, 1);

    dht_table_add_own_addr(t, &c.addr);
    CHECK(dht_table_is_own(t, NULL, &c.addr));
    CHECK_INT(dht_table_heard(t, &c, DHT_TABLE_REPLIED, false, 0), -EPERM);
    CHECK_INT(dht_table_count(t, 0, NULL), 0);
    dht_table_free(t);
}

static void test_table_keeps_given_own_address_when_others_are_reported(void)
{
    struct dht_table *t = table_new();
    struct addr given = addr_v4(0xc0000201u, 6881);

    dht_table_add_own_addr(t, &given);
    for (uint32_t i = 0; i < 2 * DHT_TABLE_OWN_ADDRS; i++) {
        struct addr reported = addr_v4(0xcb007101u + i, 6881);
        dht_table_add_own_addr(t, &reported);
    }
    CHECK(dht_table_is_own(t, NULL, &given));
    dht_table_free(t);
}

static void test_table_refuses_ipv6_and_unusable_addresses(void)
{
    struct dht_table *t = table_new();
    struct dht_contact c = contact_at(3, 1);
    struct dht_contact zero_port = contact_at(4, 2);
    struct dht_contact multicast = contact_at(5, 3);

    CHECK_INT(addr_parse("[2001:db8::1]:6881", 0, &c.addr), 0);
    CHECK_INT(dht_table_heard(t, &c, DHT_TABLE_REPLIED, false, 0), -EAFNOSUPPORT);
    zero_port.addr = addr_v4(0x0a000001u, 0);
    CHECK_INT(dht_table_heard(t, &zero_port, DHT_TABLE_REPLIED, false, 0), -EINVAL);
    multicast.addr = addr_v4(0xe0000001u, 6881);
    CHECK_INT(dht_table_heard(t, &multicast, DHT_TABLE_REPLIED, false, 0), -EINVAL);
    CHECK_INT(dht_table_count(t, 0, NULL), 0);
    dht_table_free(t);
}

static void test_table_splits_only_the_bucket_holding_own_id(void)
{
    struct dht_table *t = table_new();
    struct dht_contact far;

    /* Eight far contacts (first bit differs) fill the only bucket. */
    for (unsigned n = 0; n < DHT_TABLE_K; n++) {
        far = contact_at(0, n);
        CHECK_INT(dht_table_heard(t, &far, DHT_TABLE_REPLIED, false, 0), 0);
    }
    CHECK_INT(dht_table_buckets(t), 1);

    /* A ninth splits it; the far half is then full and does not split again. */
    far = contact_at(0, 100);
    CHECK_INT(dht_table_heard(t, &far, DHT_TABLE_REPLIED, false, 0), 1);
    CHECK_INT(dht_table_buckets(t), 2);
    CHECK_INT(dht_table_state(t, far.id, 0), DHT_TABLE_SPARE);
    for (unsigned n = 101; n < 120; n++) {
        far = contact_at(0, n);
        dht_table_heard(t, &far, DHT_TABLE_REPLIED, false, 0);
    }
    CHECK_INT(dht_table_buckets(t), 2);
    CHECK_INT(dht_table_count(t, 0, NULL), DHT_TABLE_K);
    dht_table_free(t);
}

static void test_table_splits_toward_own_id_as_near_nodes_come(void)
{
    struct dht_table *t = table_new();

    /* Nine contacts at each of the prefixes 0..4: each ninth splits the last bucket. */
    for (unsigned prefix = 0; prefix < 5; prefix++) {
        for (unsigned n = 0; n <= DHT_TABLE_K; n++) {
            struct dht_contact c = contact_at(prefix, prefix * 16 + n);
            dht_table_heard(t, &c, DHT_TABLE_REPLIED, false, 0);
        }
    }
    CHECK_INT(dht_table_buckets(t), 6);
    CHECK_INT(dht_table_count(t, 0, NULL), 5 * DHT_TABLE_K);
    dht_table_free(t);
}

static void test_table_node_turns_questionable_after_15_minutes(void)
{
    struct dht_table *t = table_new();
    struct dht_contact c = contact_at(3, 1);

    dht_table_heard(t, &c, DHT_TABLE_REPLIED, false, 0);
    CHECK_INT(dht_table_state(t, c.id, 15 * MINUTE_MS - 1), DHT_TABLE_GOOD);
    CHECK_INT(dht_table_state(t, c.id, 15 * MINUTE_MS), DHT_TABLE_QUESTIONABLE);
    dht_table_free(t);
}

static void test_table_node_that_replied_once_stays_good_while_it_queries(void)
{
    struct dht_table *t = table_new();
    struct dht_contact c = contact_at(3, 1);

    dht_table_heard(t, &c, DHT_TABLE_REPLIED, false, 0);
    dht_table_heard(t, &c, DHT_TABLE_QUERIED, false, 20 * MINUTE_MS);
    CHECK_INT(dht_table_state(t, c.id, 30 * MINUTE_MS), DHT_TABLE_GOOD);
    CHECK_INT(dht_table_state(t, c.id, 35 * MINUTE_MS), DHT_TABLE_QUESTIONABLE);
    dht_table_free(t);
}

static void test_table_node_turns_bad_after_max_fails(void)
{
    struct dht_table *t = table_new();
    struct dht_contact c = contact_at(3, 1);

    dht_table_heard(t, &c, DHT_TABLE_REPLIED, false, 0);
    for (int i = 1; i < DHT_TABLE_MAX_FAILS; i++) {
        dht_table_failed(t, &c.addr, 0);
        CHECK_INT(dht_table_state(t, c.id, 0), DHT_TABLE_QUESTIONABLE);
    }
    dht_table_failed(t, &c.addr, 0);
    CHECK_INT(dht_table_state(t, c.id, 0), DHT_TABLE_BAD);

    /* An answer makes it good again. */
    dht_table_heard(t, &c, DHT_TABLE_REPLIED, false, 1);
    CHECK_INT(dht_table_state(t, c.id, 1), DHT_TABLE_GOOD);
    dht_table_free(t);
}

static void test_table_unconfirmed_node_turns_bad_after_one_fail(void)
{
    struct dht_table *t = table_new();
    struct dht_contact c = contact_at(3, 1);

    dht_table_heard(t, &c, DHT_TABLE_QUERIED, false, 0);
    dht_table_failed(t, &c.addr, 0);
    CHECK_INT(dht_table_state(t, c.id, 0), DHT_TABLE_BAD);
    dht_table_free(t);
}

/* Fills bucket 0 of a table split once, so that contacts at prefix 0 go to spares. */
static struct dht_table *table_with_full_far_bucket(void)
{
    struct dht_table *t = table_new();
    struct dht_contact near = contact_at(1, 200);

    for (unsigned n = 0; n < DHT_TABLE_K; n++) {
        struct dht_contact c = contact_at(0, n);
        dht_table_heard(t, &c, DHT_TABLE_REPLIED, false, 0);
    }
    dht_table_heard(t, &near, DHT_TABLE_REPLIED, false, 0);
    CHECK_INT(dht_table_buckets(t), 2);
    return t;
}

static void test_table_full_bucket_keeps_newcomer_as_replacement(void)
{
    struct dht_table *t = table_with_full_far_bucket();
    struct dht_contact spare = contact_at(0, 50);

    CHECK_INT(dht_table_heard(t, &spare, DHT_TABLE_REPLIED, false, 0), 1);
    CHECK_INT(dht_table_state(t, spare.id, 0), DHT_TABLE_SPARE);
    dht_table_free(t);
}

static void test_table_bad_node_gives_way_to_confirmed_replacement(void)
{
    struct dht_table *t = table_with_full_far_bucket();
    struct dht_contact victim = contact_at(0, 0);
    struct dht_contact spare = contact_at(0, 50);

    dht_table_heard(t, &spare, DHT_TABLE_REPLIED, false, 0);
    for (int i = 0; i < DHT_TABLE_MAX_FAILS; i++) {
        dht_table_failed(t, &victim.addr, 0);
    }
    CHECK_INT(dht_table_state(t, victim.id, 0), DHT_TABLE_ABSENT);
    CHECK_INT(dht_table_state(t, spare.id, 0), DHT_TABLE_GOOD);
    dht_table_free(t);
}

static void test_table_replying_newcomer_replaces_bad_node(void)
{
    struct dht_table *t = table_with_full_far_bucket();
    struct dht_contact victim = contact_at(0, 0);
    struct dht_contact newcomer = contact_at(0, 60);

    for (int i = 0; i < DHT_TABLE_MAX_FAILS; i++) {
        dht_table_failed(t, &victim.addr, 0);
    }
    CHECK_INT(dht_table_state(t, victim.id, 0), DHT_TABLE_BAD);
    /* One that only queried us does not take the place; one that answered does. */
    CHECK_INT(dht_table_heard(t, &newcomer, DHT_TABLE_QUERIED, false, 0), 1);
    CHECK_INT(dht_table_heard(t, &newcomer, DHT_TABLE_REPLIED, false, 0), 0);
    CHECK_INT(dht_table_state(t, newcomer.id, 0), DHT_TABLE_GOOD);
    CHECK_INT(dht_table_state(t, victim.id, 0), DHT_TABLE_ABSENT);
    dht_table_free(t);
}

static void test_table_pings_questionable_nodes_once_per_spacing(void)
{
    struct dht_table *t = table_new();
    struct dht_contact c = contact_at(3, 1), picked;
    uint64_t later = 16 * MINUTE_MS;

    dht_table_heard(t, &c, DHT_TABLE_REPLIED, false, 0);
    CHECK(!dht_table_ping_candidate(t, 0, &picked)); /* good: no ping */
    CHECK(dht_table_ping_candidate(t, later, &picked));
    CHECK_MEM(picked.id, c.id, KRPC_ID_LEN);
    CHECK(!dht_table_ping_candidate(t, later + DHT_TABLE_PING_SPACING_MS - 1, &picked));
    CHECK(dht_table_ping_candidate(t, later + DHT_TABLE_PING_SPACING_MS, &picked));
    dht_table_free(t);
}

static void test_table_pings_replacement_when_bucket_has_bad_node(void)
{
    struct dht_table *t = table_with_full_far_bucket();
    struct dht_contact victim = contact_at(0, 0);
    struct dht_contact spare = contact_at(0, 70), picked;

    dht_table_heard(t, &spare, DHT_TABLE_QUERIED, false, 0);
    CHECK(!dht_table_ping_candidate(t, 0, &picked));
    for (int i = 0; i < DHT_TABLE_MAX_FAILS; i++) {
        dht_table_failed(t, &victim.addr, 0);
    }
    CHECK(dht_table_ping_candidate(t, 0, &picked));
    CHECK_MEM(picked.id, spare.id, KRPC_ID_LEN);
    dht_table_free(t);
}

static void test_table_refreshes_idle_bucket_with_target_in_its_range(void)
{
    struct dht_table *t = table_with_full_far_bucket();
    uint8_t noise[KRPC_ID_LEN], target[KRPC_ID_LEN];

    memset(noise, 0xa5, sizeof(noise));
    CHECK(!dht_table_refresh_target(t, 15 * MINUTE_MS - 1, noise, target));
    CHECK(dht_table_refresh_target(t, 15 * MINUTE_MS, noise, target));
    CHECK_INT(dht_contact_prefix_len(own_id, target), 0); /* bucket 0 */
    CHECK(dht_table_refresh_target(t, 15 * MINUTE_MS, noise, target));
    CHECK(dht_contact_prefix_len(own_id, target) >= 1); /* the last bucket */
    CHECK(!dht_table_refresh_target(t, 15 * MINUTE_MS, noise, target));
    dht_table_free(t);
}

static void test_table_refresh_target_shares_exact_prefix_of_bucket(void)
{
    struct dht_table *t = table_new();
    uint8_t noise[KRPC_ID_LEN], target[KRPC_ID_LEN];
    size_t buckets;

    for (unsigned prefix = 0; prefix < 12; prefix++) {
        for (unsigned n = 0; n <= DHT_TABLE_K; n++) {
            struct dht_contact c = contact_at(prefix, prefix * 16 + n);
            dht_table_heard(t, &c, DHT_TABLE_REPLIED, false, 0);
        }
    }
    buckets = dht_table_buckets(t);
    memset(noise, 0xff, sizeof(noise));
    for (size_t i = 0; i + 1 < buckets; i++) {
        CHECK(dht_table_refresh_target(t, 15 * MINUTE_MS, noise, target));
        CHECK_INT(dht_contact_prefix_len(own_id, target), i);
    }
    dht_table_free(t);
}

static void test_table_closest_is_sorted_by_xor_distance(void)
{
    struct dht_table *t = table_new();
    struct dht_contact out[DHT_TABLE_K];
    uint8_t target[KRPC_ID_LEN];
    size_t n;

    for (unsigned prefix = 0; prefix < 6; prefix++) {
        for (unsigned n2 = 0; n2 < 6; n2++) {
            struct dht_contact c = contact_at(prefix, prefix * 16 + n2);
            dht_table_heard(t, &c, DHT_TABLE_REPLIED, false, 0);
        }
    }
    memset(target, 0, sizeof(target));
    target[0] = 0x04; /* prefix 5's contacts are nearest, then 4's... */
    n = dht_table_closest(t, target, false, out, DHT_TABLE_K);
    CHECK_INT(n, DHT_TABLE_K);
    for (size_t i = 0; i + 1 < n; i++) {
        CHECK(dht_contact_cmp(target, out[i].id, out[i + 1].id) < 0);
    }
    CHECK_INT(out[0].id[0], 0x04);
    dht_table_free(t);
}

static void test_table_closest_leaves_out_bad_nodes(void)
{
    struct dht_table *t = table_new();
    struct dht_contact a = contact_at(3, 1), b = contact_at(4, 2), out[4];

    dht_table_heard(t, &a, DHT_TABLE_REPLIED, false, 0);
    dht_table_heard(t, &b, DHT_TABLE_REPLIED, false, 0);
    for (int i = 0; i < DHT_TABLE_MAX_FAILS; i++) {
        dht_table_failed(t, &a.addr, 0);
    }
    CHECK_INT(dht_table_closest(t, a.id, false, out, 4), 1);
    CHECK_MEM(out[0].id, b.id, KRPC_ID_LEN);
    dht_table_free(t);
}

static void test_table_live_id_is_not_taken_by_another_address(void)
{
    struct dht_table *t = table_new();
    struct dht_contact c = contact_at(3, 1), impostor = c;

    impostor.addr = addr_v4(0xc6336401u, 6881);
    dht_table_heard(t, &c, DHT_TABLE_REPLIED, false, 0);
    CHECK_INT(dht_table_heard(t, &impostor, DHT_TABLE_REPLIED, false, 0), -EEXIST);
    CHECK_INT(dht_table_count(t, 0, NULL), 1);
    dht_table_free(t);
}

static void test_table_address_answering_with_new_id_replaces_old_entry(void)
{
    struct dht_table *t = table_new();
    struct dht_contact before = contact_at(3, 1), after = contact_at(7, 1);

    dht_table_heard(t, &before, DHT_TABLE_REPLIED, false, 0);
    /* A query claiming the address under another ID is not enough... */
    CHECK_INT(dht_table_heard(t, &after, DHT_TABLE_QUERIED, false, 0), -EEXIST);
    /* ...an answer to our query is. */
    CHECK_INT(dht_table_heard(t, &after, DHT_TABLE_REPLIED, false, 0), 0);
    CHECK_INT(dht_table_state(t, before.id, 0), DHT_TABLE_ABSENT);
    CHECK_INT(dht_table_state(t, after.id, 0), DHT_TABLE_GOOD);
    dht_table_free(t);
}

static void test_table_export_and_import_round_trip(void)
{
    struct dht_table *t = table_new(), *restored = table_new();
    uint8_t buf[64 * KRPC_NODE_LEN], again[64 * KRPC_NODE_LEN];
    size_t len, len_again;

    for (unsigned prefix = 0; prefix < 4; prefix++) {
        for (unsigned n = 0; n < 5; n++) {
            struct dht_contact c = contact_at(prefix, prefix * 16 + n);
            dht_table_heard(t, &c, DHT_TABLE_REPLIED, false, 0);
        }
    }
    len = dht_table_export(t, buf, sizeof(buf), 0);
    CHECK_INT(len, 20 * KRPC_NODE_LEN);
    CHECK_INT(dht_table_import(restored, buf, len, 0), 20);
    CHECK_INT(dht_table_count(restored, 0, NULL), 20);

    /* Imported contacts wait for a ping: questionable, not good. */
    {
        struct dht_contact first;
        CHECK_INT(dht_contact_read(buf, &first), 0);
        CHECK_INT(dht_table_state(restored, first.id, 0), DHT_TABLE_QUESTIONABLE);
    }
    len_again = dht_table_export(restored, again, sizeof(again), 0);
    CHECK_INT(len_again, len);
    dht_table_free(t);
    dht_table_free(restored);
}

static void test_table_export_stops_at_buffer_size(void)
{
    struct dht_table *t = table_new();
    uint8_t buf[3 * KRPC_NODE_LEN + 10];

    for (unsigned n = 0; n < 6; n++) {
        struct dht_contact c = contact_at(2, n);
        dht_table_heard(t, &c, DHT_TABLE_REPLIED, false, 0);
    }
    CHECK_INT(dht_table_export(t, buf, sizeof(buf), 0), 3 * KRPC_NODE_LEN);
    dht_table_free(t);
}

static void test_table_import_rejects_partial_entries(void)
{
    struct dht_table *t = table_new();
    uint8_t buf[KRPC_NODE_LEN + 1] = {0};

    CHECK_INT(dht_table_import(t, buf, sizeof(buf), 0), -EINVAL);
    /* An all-zero entry has address 0.0.0.0:0 and is skipped. */
    CHECK_INT(dht_table_import(t, buf, KRPC_NODE_LEN, 0), 0);
    dht_table_free(t);
}

static void test_contact_prefix_and_distance(void)
{
    uint8_t a[KRPC_ID_LEN] = {0}, b[KRPC_ID_LEN] = {0}, target[KRPC_ID_LEN] = {0};

    CHECK_INT(dht_contact_prefix_len(a, b), DHT_CONTACT_ID_BITS);
    b[2] = 0x10;
    CHECK_INT(dht_contact_prefix_len(a, b), 19);
    target[2] = 0x11;
    CHECK(dht_contact_cmp(target, b, a) < 0);
    CHECK(dht_contact_cmp(target, a, b) > 0);
    CHECK_INT(dht_contact_cmp(target, a, a), 0);
}

static void test_contact_compact_form_round_trips(void)
{
    struct dht_contact c = contact_at(9, 42), back;
    uint8_t wire[KRPC_NODE_LEN];

    CHECK_INT(dht_contact_write(&c, wire), 0);
    CHECK_INT(dht_contact_read(wire, &back), 0);
    CHECK_MEM(back.id, c.id, KRPC_ID_LEN);
    CHECK(addr_equal(&back.addr, &c.addr));
    /* 10.1.42.1:6881 in network byte order. */
    CHECK_INT(wire[20], 10);
    CHECK_INT(wire[22], 42);
    CHECK_INT(wire[24] << 8 | wire[25], 6881);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_table_adds_node_that_replied_as_good),
        UNIT(test_table_adds_node_that_queried_as_questionable),
        UNIT(test_table_never_adds_read_only_node),
        UNIT(test_table_never_adds_own_id),
        UNIT(test_table_never_adds_own_address),
        UNIT(test_table_keeps_given_own_address_when_others_are_reported),
        UNIT(test_table_refuses_ipv6_and_unusable_addresses),
        UNIT(test_table_splits_only_the_bucket_holding_own_id),
        UNIT(test_table_splits_toward_own_id_as_near_nodes_come),
        UNIT(test_table_node_turns_questionable_after_15_minutes),
        UNIT(test_table_node_that_replied_once_stays_good_while_it_queries),
        UNIT(test_table_node_turns_bad_after_max_fails),
        UNIT(test_table_unconfirmed_node_turns_bad_after_one_fail),
        UNIT(test_table_full_bucket_keeps_newcomer_as_replacement),
        UNIT(test_table_bad_node_gives_way_to_confirmed_replacement),
        UNIT(test_table_replying_newcomer_replaces_bad_node),
        UNIT(test_table_pings_questionable_nodes_once_per_spacing),
        UNIT(test_table_pings_replacement_when_bucket_has_bad_node),
        UNIT(test_table_refreshes_idle_bucket_with_target_in_its_range),
        UNIT(test_table_refresh_target_shares_exact_prefix_of_bucket),
        UNIT(test_table_closest_is_sorted_by_xor_distance),
        UNIT(test_table_closest_leaves_out_bad_nodes),
        UNIT(test_table_live_id_is_not_taken_by_another_address),
        UNIT(test_table_address_answering_with_new_id_replaces_old_entry),
        UNIT(test_table_export_and_import_round_trip),
        UNIT(test_table_export_stops_at_buffer_size),
        UNIT(test_table_import_rejects_partial_entries),
        UNIT(test_contact_prefix_and_distance),
        UNIT(test_contact_compact_form_round_trips),
    };

    return unit_run("dht_table", tests, sizeof(tests) / sizeof(tests[0]));
}
