#include "bep44.h"
#include "dht_closest.h"
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
#include <stdlib.h>

#define SECOND_MS 1000ull
#define MINUTE_MS (60 * SECOND_MS)
#define NET_NODES 120

/* ---- the closest-set ---- */

static struct dht_contact contact(uint8_t first, uint8_t last, uint32_t ip)
{
    struct dht_contact c;

    memset(&c, 0, sizeof(c));
    c.id[0] = first;
    c.id[19] = last;
    c.addr = dht_sim_ip4(ip, 6881);
    return c;
}

static void test_closest_sorts_by_distance_with_unknown_ids_first(void)
{
    static const uint8_t target[KRPC_ID_LEN] = {0};
    struct dht_closest s;
    struct dht_contact far = contact(0x80, 1, 1), near = contact(0x01, 2, 2);
    struct dht_contact boot = contact(0, 0, 3);

    dht_closest_init(&s, target);
    CHECK_INT(dht_closest_add(&s, &far, true), 0);
    CHECK_INT(dht_closest_add(&s, &near, true), 0);
    CHECK_INT(dht_closest_add(&s, &boot, false), 0);
    CHECK_INT(s.n, 3);
    CHECK(!s.e[0].has_id);
    CHECK_MEM(s.e[1].c.id, near.id, KRPC_ID_LEN);
    CHECK_MEM(s.e[2].c.id, far.id, KRPC_ID_LEN);
}

static void test_closest_refuses_known_id_or_address(void)
{
    static const uint8_t target[KRPC_ID_LEN] = {0};
    struct dht_closest s;
    struct dht_contact a = contact(0x10, 1, 1), same_id = contact(0x10, 1, 2);
    struct dht_contact same_addr = contact(0x20, 1, 1);

    dht_closest_init(&s, target);
    CHECK_INT(dht_closest_add(&s, &a, true), 0);
    CHECK_INT(dht_closest_add(&s, &same_id, true), -EEXIST);
    CHECK_INT(dht_closest_add(&s, &same_addr, true), -EEXIST);
    CHECK_INT(s.n, 1);
}

static void test_closest_full_set_keeps_closest_and_those_in_flight(void)
{
    static const uint8_t target[KRPC_ID_LEN] = {0};
    struct dht_closest s;
    struct dht_contact c;

    dht_closest_init(&s, target);
    for (uint32_t i = 0; i < DHT_CLOSEST_MAX; i++) {
        c = contact((uint8_t)(0x40 + i), 0, i + 1);
        CHECK_INT(dht_closest_add(&s, &c, true), 0);
    }
    s.e[DHT_CLOSEST_MAX - 1].state = DHT_CLOSEST_ASKED; /* the farthest is in flight */
    c = contact(0xf0, 0, 100);
    CHECK_INT(dht_closest_add(&s, &c, true), -ENOSPC);
    c = contact(0x01, 0, 101);
    CHECK_INT(dht_closest_add(&s, &c, true), 0);
    CHECK_INT(s.n, DHT_CLOSEST_MAX);
    CHECK_INT(s.e[0].c.id[0], 0x01);
    /* The second farthest went; the one in flight stayed. */
    CHECK_INT(s.e[DHT_CLOSEST_MAX - 1].c.id[0], 0x40 + DHT_CLOSEST_MAX - 1);
    CHECK_INT(s.e[DHT_CLOSEST_MAX - 2].c.id[0], 0x40 + DHT_CLOSEST_MAX - 3);
}

static void test_closest_window_skips_slow_and_failed(void)
{
    static const uint8_t target[KRPC_ID_LEN] = {0};
    struct dht_closest s;

    dht_closest_init(&s, target);
    for (uint32_t i = 0; i < 12; i++) {
        struct dht_contact c = contact((uint8_t)(i + 1), 0, i + 1);
        dht_closest_add(&s, &c, true);
    }
    CHECK_INT(dht_closest_window(&s, 8), 8);
    s.e[1].state = DHT_CLOSEST_SLOW;
    s.e[4].state = DHT_CLOSEST_FAILED;
    CHECK_INT(dht_closest_window(&s, 8), 10);
}

static void test_closest_converges_when_k_closest_answered(void)
{
    static const uint8_t target[KRPC_ID_LEN] = {0};
    struct dht_closest s;

    dht_closest_init(&s, target);
    for (uint32_t i = 0; i < 10; i++) {
        struct dht_contact c = contact((uint8_t)(i + 1), 0, i + 1);
        dht_closest_add(&s, &c, true);
    }
    for (size_t i = 0; i < 8; i++) {
        s.e[i].state = DHT_CLOSEST_ANSWERED;
    }
    s.e[3].state = DHT_CLOSEST_ASKED;
    CHECK(!dht_closest_converged(&s, 8));
    /* A slow node leaves the window; the ninth comes in and must answer too. */
    s.e[3].state = DHT_CLOSEST_SLOW;
    CHECK(!dht_closest_converged(&s, 8));
    s.e[8].state = DHT_CLOSEST_ANSWERED;
    CHECK(dht_closest_converged(&s, 8));
}

static void test_closest_with_few_candidates_waits_for_slow_ones(void)
{
    static const uint8_t target[KRPC_ID_LEN] = {0};
    struct dht_closest s;

    dht_closest_init(&s, target);
    for (uint32_t i = 0; i < 3; i++) {
        struct dht_contact c = contact((uint8_t)(i + 1), 0, i + 1);
        dht_closest_add(&s, &c, true);
        s.e[i].state = DHT_CLOSEST_ANSWERED;
    }
    s.e[2].state = DHT_CLOSEST_SLOW;
    CHECK(!dht_closest_converged(&s, 8));
    s.e[2].state = DHT_CLOSEST_FAILED;
    CHECK(dht_closest_converged(&s, 8));
}

static void test_closest_set_id_moves_bootstrap_entry(void)
{
    static const uint8_t target[KRPC_ID_LEN] = {0};
    struct dht_closest s;
    struct dht_contact near = contact(0x01, 0, 1), boot = contact(0, 0, 2);
    struct dht_contact boot2 = contact(0, 0, 3);
    struct dht_closest_entry *e;
    uint8_t id[KRPC_ID_LEN] = {0x70};

    dht_closest_init(&s, target);
    dht_closest_add(&s, &near, true);
    dht_closest_add(&s, &boot, false);
    e = dht_closest_set_id(&s, &s.e[0], id);
    CHECK(e == &s.e[1]);
    CHECK(e->has_id);
    /* An ID that another candidate has already drops the entry. */
    CHECK_INT(dht_closest_add(&s, &boot2, false), 0);
    CHECK(dht_closest_set_id(&s, &s.e[0], near.id) == NULL);
    CHECK_INT(s.n, 2);
}

/* ---- a simulated network ---- */

/* n nodes bootstrapped from node 0, datagrams taking latency_ms plus up to jitter_ms. */
static struct dht_sim *net_new_with(size_t n, uint64_t seed, uint32_t latency_ms,
                                    uint32_t jitter_ms)
{
    struct dht_sim_config sim_cfg = {
        .seed = seed, .latency_ms = latency_ms, .jitter_ms = jitter_ms};
    struct dht_node_config cfg;
    struct dht_sim *sim = NULL;
    size_t index;

    CHECK_INT(dht_sim_new(&sim_cfg, &sim), 0);
    memset(&cfg, 0, sizeof(cfg));
    CHECK_INT(dht_sim_add(sim, &cfg, &index), 0);
    for (size_t i = 1; i < n; i++) {
        struct addr boot = *dht_sim_addr(sim, 0);
        cfg.bootstrap = &boot;
        cfg.nbootstrap = 1;
        CHECK_INT(dht_sim_add(sim, &cfg, &index), 0);
        dht_sim_run(sim, 100);
    }
    dht_sim_run(sim, 2 * MINUTE_MS);
    return sim;
}

static struct dht_sim *net_new(size_t n, uint64_t seed)
{
    return net_new_with(n, seed, 20, 60);
}

/* The indexes of the k nodes closest to target, closest first, leaving out `skip`. */
static size_t true_closest(const struct dht_sim *sim, const uint8_t *target, size_t skip,
                           size_t *out, size_t k)
{
    size_t n = 0;

    for (size_t i = 0; i < dht_sim_count(sim); i++) {
        size_t pos = n;
        if (i == skip) {
            continue;
        }
        while (pos > 0 && dht_contact_cmp(target, dht_node_id(dht_sim_node(sim, i)),
                                          dht_node_id(dht_sim_node(sim, out[pos - 1]))) < 0) {
            pos--;
        }
        if (pos >= k) {
            continue;
        }
        if (n < k) {
            n++;
        }
        memmove(&out[pos + 1], &out[pos], (n - pos - 1) * sizeof(*out));
        out[pos] = i;
    }
    return n;
}

/* What a lookup's callback saw. */
struct result {
    struct dht_sim *sim;
    bool done;
    int status;
    size_t values;
    int64_t seqs[4]; /* of the first values, in the order they came */
    struct addr froms[4];
    uint64_t value_ms[4];
    int64_t last_seq;
    uint8_t value[BEP44_VALUE_MAX];
    size_t value_len;
    uint64_t first_value_ms;
    uint64_t done_ms;
    size_t queried;
    size_t stored;
    size_t refused;
    int64_t errors[DHT_LOOKUP_PUT_NODES_MAX];
    struct dht_contact closest[DHT_TABLE_K];
    size_t nclosest;
};

static void result_cb(void *user, const struct dht_lookup_event *ev)
{
    struct result *r = user;

    if (ev->type == DHT_LOOKUP_VALUE) {
        if (r->values == 0) {
            r->first_value_ms = dht_sim_now(r->sim);
        }
        if (r->values < 4) {
            r->seqs[r->values] = ev->item->seq;
            r->froms[r->values] = *ev->from;
            r->value_ms[r->values] = dht_sim_now(r->sim);
        }
        r->values++;
        r->last_seq = ev->item->seq;
        memcpy(r->value, ev->item->value, ev->item->value_len);
        r->value_len = ev->item->value_len;
        return;
    }
    r->done = true;
    r->status = ev->status;
    r->done_ms = dht_sim_now(r->sim);
    r->queried = ev->queried;
    r->stored = ev->stored;
    r->refused = ev->refused;
    memcpy(r->errors, ev->errors, sizeof(r->errors));
    r->nclosest = ev->nclosest;
    memcpy(r->closest, ev->closest, ev->nclosest * sizeof(*ev->closest));
}

static bool result_done(void *ctx)
{
    return ((struct result *)ctx)->done;
}

static void result_init(struct result *r, struct dht_sim *sim)
{
    memset(r, 0, sizeof(*r));
    r->sim = sim;
}

/* A mutable item signed by the key made from key_seed. */
struct signed_item {
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
    uint8_t sig[BEP44_SIG_LEN];
    uint8_t value[BEP44_VALUE_MAX];
    struct dht_store_item item;
    uint8_t target[BEP44_TARGET_LEN];
};

static void item_make(struct signed_item *it, uint8_t key_seed, int64_t seq, const char *text)
{
    uint8_t seed[crypto_sign_SEEDBYTES];
    size_t len;

    memset(seed, key_seed, sizeof(seed));
    crypto_sign_seed_keypair(it->pk, it->sk, seed);
    len = (size_t)snprintf((char *)it->value, sizeof(it->value), "%zu:%s", strlen(text), text);
    CHECK_INT(bep44_sign(it->sk, NULL, 0, seq, it->value, len, it->sig), 0);
    memset(&it->item, 0, sizeof(it->item));
    it->item.k = it->pk;
    it->item.sig = it->sig;
    it->item.seq = seq;
    it->item.value = it->value;
    it->item.value_len = len;
    bep44_mutable_target(it->pk, NULL, 0, it->target);
}

static void put_and_wait(struct dht_sim *sim, size_t from, const struct dht_store_item *item,
                         const int64_t *cas, struct result *r)
{
    result_init(r, sim);
    CHECK_INT(
        dht_lookup_put(dht_sim_node(sim, from), item, cas, result_cb, r, dht_sim_now(sim), NULL),
        0);
    CHECK(dht_sim_run_until(sim, result_done, r, 2 * MINUTE_MS));
}

static void get_and_wait(struct dht_sim *sim, size_t from, const struct signed_item *it,
                         struct result *r)
{
    struct dht_lookup_get_args args = {.k = it->pk};

    result_init(r, sim);
    CHECK_INT(dht_lookup_get(dht_sim_node(sim, from), &args, result_cb, r, dht_sim_now(sim), NULL),
              0);
    CHECK(dht_sim_run_until(sim, result_done, r, 2 * MINUTE_MS));
}

/* How many of the k nodes closest to target (`skip` left out) store an item with this seq. */
static size_t holders(struct dht_sim *sim, const uint8_t *target, size_t skip, int64_t seq,
                      size_t k)
{
    size_t closest[DHT_LOOKUP_PUT_NODES_MAX], n, count = 0;

    n = true_closest(sim, target, skip, closest, k);
    for (size_t i = 0; i < n; i++) {
        struct dht_store_item got;
        if (dht_store_get(dht_node_store(dht_sim_node(sim, closest[i])), target, NULL,
                          dht_sim_now(sim), &got) == 0 &&
            got.seq == seq) {
            count++;
        }
    }
    return count;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;

    return x < y ? -1 : x > y;
}

static void test_lookup_find_node_converges_to_true_closest(void)
{
    struct dht_sim *sim = net_new(200, 11);
    size_t messages[20], exact = 0;

    for (size_t round = 0; round < 20; round++) {
        size_t from = (round * 37 + 5) % 200, truth[DHT_TABLE_K];
        uint8_t target[KRPC_ID_LEN];
        struct result r;
        bool same = true;

        dht_sim_random(sim, target, sizeof(target));
        result_init(&r, sim);
        CHECK_INT(dht_lookup_find_node(dht_sim_node(sim, from), target, result_cb, &r,
                                       dht_sim_now(sim), NULL),
                  0);
        CHECK(dht_sim_run_until(sim, result_done, &r, MINUTE_MS));
        CHECK_INT(r.status, 0);
        CHECK_INT(r.nclosest, DHT_TABLE_K);
        true_closest(sim, target, from, truth, DHT_TABLE_K);
        for (size_t i = 0; i < r.nclosest; i++) {
            same = same && memcmp(r.closest[i].id, dht_node_id(dht_sim_node(sim, truth[i])),
                                  KRPC_ID_LEN) == 0;
        }
        exact += same ? 1 : 0;
        messages[round] = r.queried;
    }
    qsort(messages, 20, sizeof(messages[0]), cmp_size);
    printf("find_node in 200 nodes: %zu/20 found the 8 true closest; median %zu requests\n", exact,
           messages[10]);
    CHECK_INT(exact, 20);
    dht_sim_free(sim);
}

static void test_lookup_put_stores_on_closest_and_get_returns_verified_value(void)
{
    struct dht_sim *sim = net_new(NET_NODES, 12);
    struct signed_item it;
    struct result put, get;
    uint64_t started;

    item_make(&it, 1, 1000, "pkarr packet");
    put_and_wait(sim, 3, &it.item, NULL, &put);
    CHECK_INT(put.status, 0);
    /* Every one of the 8 nodes closest to the target, the putter aside, took it. */
    CHECK_INT(put.stored, DHT_LOOKUP_PUT_NODES);
    CHECK_INT(holders(sim, it.target, 3, 1000, DHT_TABLE_K), DHT_LOOKUP_PUT_NODES);

    started = dht_sim_now(sim);
    get_and_wait(sim, 77, &it, &get);
    CHECK_INT(get.status, 0);
    CHECK_INT(get.values, 1);
    CHECK_INT(get.last_seq, 1000);
    CHECK_INT(get.value_len, it.item.value_len);
    CHECK_MEM(get.value, it.value, it.item.value_len);
    /* The value went to the caller before the traversal ended. */
    CHECK(get.first_value_ms < get.done_ms);
    printf("put: %zu stored, %zu requests; get: first value after %llu ms, done after %llu ms, "
           "%zu requests\n",
           put.stored, put.queried, (unsigned long long)(get.first_value_ms - started),
           (unsigned long long)(get.done_ms - started), get.queried);
    dht_sim_free(sim);
}

static void test_lookup_put_to_twelve_nodes_stores_on_the_twelve_closest(void)
{
    struct dht_sim *sim = net_new(NET_NODES, 12);
    struct dht_node_config cfg;
    struct addr boot = *dht_sim_addr(sim, 0);
    struct signed_item it;
    struct result put;
    size_t putter;

    /* A read-only node, as pkdns-cli dht-put runs, that stores on 12 nodes instead of 8. */
    memset(&cfg, 0, sizeof(cfg));
    cfg.read_only = true;
    cfg.put_nodes = 12;
    cfg.bootstrap = &boot;
    cfg.nbootstrap = 1;
    CHECK_INT(dht_sim_add(sim, &cfg, &putter), 0);
    dht_sim_run(sim, 5 * SECOND_MS);

    item_make(&it, 1, 1000, "pkarr packet");
    put_and_wait(sim, putter, &it.item, NULL, &put);
    CHECK_INT(put.status, 0);
    CHECK_INT(put.stored, 12);
    CHECK_INT(holders(sim, it.target, putter, 1000, 12), 12);
    dht_sim_free(sim);
}

static void test_lookup_put_nodes_over_32_is_refused(void)
{
    struct dht_node_config cfg;
    struct dht_node *node = NULL;

    memset(&cfg, 0, sizeof(cfg));
    cfg.put_nodes = DHT_LOOKUP_PUT_NODES_MAX + 1;
    CHECK_INT(dht_node_new(&cfg, 0, &node), -EINVAL);
    CHECK(node == NULL);
    cfg.put_nodes = DHT_LOOKUP_PUT_NODES_MAX;
    CHECK_INT(dht_node_new(&cfg, 0, &node), 0);
    dht_node_free(node);
}

static void test_lookup_newer_seq_supersedes_older(void)
{
    struct dht_sim *sim = net_new(NET_NODES, 13);
    struct signed_item old_item, new_item;
    struct result put, get;

    item_make(&old_item, 2, 1, "old");
    item_make(&new_item, 2, 2, "new");
    put_and_wait(sim, 3, &old_item.item, NULL, &put);
    CHECK_INT(put.status, 0);
    put_and_wait(sim, 50, &new_item.item, NULL, &put);
    CHECK_INT(put.status, 0);
    /* A putter never stores on itself: of the 8 closest but the putter, all hold seq 2. */
    CHECK_INT(holders(sim, new_item.target, 50, 2, DHT_TABLE_K), DHT_LOOKUP_PUT_NODES);

    get_and_wait(sim, 90, &new_item, &get);
    CHECK_INT(get.status, 0);
    CHECK_INT(get.last_seq, 2);
    CHECK_MEM(get.value, "3:new", 5);
    dht_sim_free(sim);
}

static void test_lookup_get_delivers_first_value_at_once_and_newer_one_later(void)
{
    /* Without jitter every answer takes 20 ms but the one slowed down below, so the order of
     * the answers is known; the slow one stays within the shortest soft timeout. */
    struct dht_sim *sim = net_new_with(NET_NODES, 26, 10, 0);
    struct signed_item old_item, new_item;
    struct dht_lookup_get_args args;
    size_t closest[DHT_TABLE_K], far, getter = 70;
    struct result put, get;
    uint64_t started;

    item_make(&old_item, 12, 10, "old");
    item_make(&new_item, 12, 11, "new");
    put_and_wait(sim, 3, &old_item.item, NULL, &put);
    CHECK_INT(put.status, 0);
    /* The farthest of the 8 closest alone holds seq 11, and answers 100 ms later than the
     * others, who hold seq 10. */
    true_closest(sim, old_item.target, getter, closest, DHT_TABLE_K);
    far = closest[DHT_TABLE_K - 1];
    CHECK(getter != 3 && far != 3);
    CHECK_INT(dht_store_put(dht_node_store(dht_sim_node(sim, far)), &new_item.item, NULL, NULL,
                            dht_sim_now(sim)),
              0);
    CHECK(holders(sim, old_item.target, getter, 10, DHT_TABLE_K) >= DHT_TABLE_K - 2);
    dht_sim_set_delay(sim, far, 100);
    CHECK(100 + 2 * 10 < DHT_RPC_RTO_MIN_MS);

    args = (struct dht_lookup_get_args){.k = old_item.pk};
    started = dht_sim_now(sim);
    result_init(&get, sim);
    CHECK_INT(
        dht_lookup_get(dht_sim_node(sim, getter), &args, result_cb, &get, dht_sim_now(sim), NULL),
        0);
    CHECK(dht_sim_run_until(sim, result_done, &get, MINUTE_MS));
    CHECK_INT(get.status, 0);
    CHECK_INT(get.values, 2);
    CHECK_INT(get.seqs[0], 10);
    CHECK(!addr_equal(&get.froms[0], dht_sim_addr(sim, far)));
    CHECK_INT(get.seqs[1], 11);
    CHECK(addr_equal(&get.froms[1], dht_sim_addr(sim, far)));
    CHECK_MEM(get.value, "3:new", 5);
    /* The first value did not wait for the newer one, nor the newer one for the end. */
    CHECK(get.value_ms[0] < get.value_ms[1]);
    CHECK(get.value_ms[1] <= get.done_ms);
    printf("get: seq 10 after %llu ms, seq 11 after %llu ms, done after %llu ms\n",
           (unsigned long long)(get.value_ms[0] - started),
           (unsigned long long)(get.value_ms[1] - started),
           (unsigned long long)(get.done_ms - started));
    dht_sim_free(sim);
}

static void test_lookup_get_with_current_seq_reports_nothing_newer(void)
{
    struct dht_sim *sim = net_new(NET_NODES, 14);
    struct signed_item it;
    struct result put, get;
    struct dht_lookup_get_args args;

    item_make(&it, 3, 7, "seven");
    put_and_wait(sim, 3, &it.item, NULL, &put);
    args = (struct dht_lookup_get_args){.k = it.pk, .has_seq = true, .seq = 7};
    result_init(&get, sim);
    CHECK_INT(dht_lookup_get(dht_sim_node(sim, 60), &args, result_cb, &get, dht_sim_now(sim), NULL),
              0);
    CHECK(dht_sim_run_until(sim, result_done, &get, MINUTE_MS));
    CHECK_INT(get.status, -ENOENT);
    CHECK_INT(get.values, 0);
    dht_sim_free(sim);
}

static void test_lookup_get_succeeds_with_quarter_of_closest_silent(void)
{
    struct dht_sim *sim = net_new(NET_NODES, 15);
    struct signed_item it;
    struct result put, get;
    size_t closest[DHT_TABLE_K];
    uint64_t started;

    item_make(&it, 4, 1, "still here");
    put_and_wait(sim, 3, &it.item, NULL, &put);
    CHECK_INT(put.status, 0);
    true_closest(sim, it.target, SIZE_MAX, closest, DHT_TABLE_K);
    dht_sim_set_silent(sim, closest[0], true);
    dht_sim_set_silent(sim, closest[2], true);

    started = dht_sim_now(sim);
    get_and_wait(sim, 80, &it, &get);
    CHECK_INT(get.status, 0);
    CHECK_INT(get.last_seq, 1);
    CHECK(get.first_value_ms - started < 2 * SECOND_MS);
    printf("get with 2 of the 8 closest silent: first value after %llu ms, done after %llu ms\n",
           (unsigned long long)(get.first_value_ms - started),
           (unsigned long long)(get.done_ms - started));
    dht_sim_free(sim);
}

static void test_lookup_salted_item_round_trips(void)
{
    struct dht_sim *sim = net_new(NET_NODES, 25);
    static const uint8_t salt[] = "profile";
    struct signed_item it;
    struct dht_store_item item;
    struct dht_lookup_get_args args;
    struct result put, get;
    uint8_t sig[BEP44_SIG_LEN];

    item_make(&it, 11, 1, "salted");
    CHECK_INT(bep44_sign(it.sk, salt, 7, 1, it.value, it.item.value_len, sig), 0);
    item = it.item;
    item.sig = sig;
    item.salt = salt;
    item.salt_len = 7;
    put_and_wait(sim, 3, &item, NULL, &put);
    CHECK_INT(put.status, 0);

    /* Without the salt it is another target; with it the item comes back. */
    get_and_wait(sim, 20, &it, &get);
    CHECK_INT(get.status, -ENOENT);
    args = (struct dht_lookup_get_args){.k = it.pk, .salt = salt, .salt_len = 7};
    result_init(&get, sim);
    CHECK_INT(dht_lookup_get(dht_sim_node(sim, 20), &args, result_cb, &get, dht_sim_now(sim), NULL),
              0);
    CHECK(dht_sim_run_until(sim, result_done, &get, MINUTE_MS));
    CHECK_INT(get.status, 0);
    CHECK_MEM(get.value, "6:salted", 8);
    dht_sim_free(sim);
}

/* ---- lying nodes ---- */

enum forgery {
    FORGE_SEQ,       /* raise seq: the signature no longer matches */
    FORGE_KEY,       /* sign with another key: valid signature, wrong target */
    FORGE_IMMUTABLE, /* change an immutable value: its hash no longer matches */
};

struct forger {
    enum forgery how;
    struct signed_item other;
};

static size_t pass(const uint8_t *data, size_t len, uint8_t *out, size_t cap)
{
    if (len > cap) {
        return 0;
    }
    memcpy(out, data, len);
    return len;
}

/* Rewrites every get response carrying a value. */
static size_t forge_filter(void *ctx, size_t index, const uint8_t *data, size_t len,
                           const struct addr *to, uint8_t *out, size_t cap)
{
    struct forger *f = ctx;
    struct krpc_msg m;
    uint8_t sig[BEP44_SIG_LEN];
    size_t n;

    (void)index;
    (void)to;
    if (krpc_parse(&m, data, len) != 0 || m.type != KRPC_RESPONSE || m.value.data == NULL) {
        return pass(data, len, out, cap);
    }
    if (f->how == FORGE_SEQ) {
        m.seq += 1000;
    } else if (f->how == FORGE_KEY) {
        m.k = f->other.pk;
        bep44_sign(f->other.sk, NULL, 0, m.seq, m.value.data, m.value.len, sig);
        m.sig = sig;
    } else {
        m.value.data = (const uint8_t *)"4:evil";
        m.value.len = 6;
    }
    return krpc_write(&m, out, cap, &n) == 0 ? n : 0;
}

static void check_forgers_ignored(enum forgery how, uint64_t seed)
{
    struct dht_sim *sim = net_new(NET_NODES, seed);
    struct forger forger = {.how = how};
    struct signed_item it;
    struct result put, get;
    size_t closest[DHT_TABLE_K], getter = 70;

    item_make(&it, 5, 3, "genuine");
    item_make(&forger.other, 6, 3, "genuine");
    put_and_wait(sim, 3, &it.item, NULL, &put);
    CHECK_INT(put.status, 0);
    true_closest(sim, it.target, getter, closest, DHT_TABLE_K);
    for (size_t i = 0; i < DHT_TABLE_K / 2; i++) {
        dht_sim_set_filter(sim, closest[i], forge_filter, &forger);
    }

    get_and_wait(sim, getter, &it, &get);
    CHECK_INT(get.status, 0);
    CHECK_INT(get.values, 1);
    CHECK_INT(get.last_seq, 3);
    CHECK_MEM(get.value, "7:genuine", 9);
    CHECK(dht_node_stats(dht_sim_node(sim, getter))->bad_values >= 1);
    dht_sim_free(sim);
}

static void test_lookup_ignores_values_with_forged_signature(void)
{
    check_forgers_ignored(FORGE_SEQ, 16);
}

static void test_lookup_ignores_values_whose_key_does_not_match_target(void)
{
    check_forgers_ignored(FORGE_KEY, 17);
}

static void test_lookup_immutable_item_is_checked_against_its_hash(void)
{
    struct dht_sim *sim = net_new(NET_NODES, 18);
    struct forger forger = {.how = FORGE_IMMUTABLE};
    struct dht_store_item item = {.value = (const uint8_t *)"9:immutable", .value_len = 11};
    uint8_t target[BEP44_TARGET_LEN];
    struct dht_lookup_get_args args = {.target = target};
    struct result put, get;
    size_t closest[DHT_TABLE_K], getter = 40;

    put_and_wait(sim, 3, &item, NULL, &put);
    CHECK_INT(put.status, 0);
    bep44_immutable_target(item.value, item.value_len, target);
    true_closest(sim, target, getter, closest, DHT_TABLE_K);
    for (size_t i = 0; i < DHT_TABLE_K / 2; i++) {
        dht_sim_set_filter(sim, closest[i], forge_filter, &forger);
    }

    result_init(&get, sim);
    CHECK_INT(
        dht_lookup_get(dht_sim_node(sim, getter), &args, result_cb, &get, dht_sim_now(sim), NULL),
        0);
    CHECK(dht_sim_run_until(sim, result_done, &get, MINUTE_MS));
    CHECK_INT(get.status, 0);
    CHECK_INT(get.values, 1);
    CHECK_MEM(get.value, "9:immutable", 11);
    dht_sim_free(sim);
}

/* Puts the victim's own address (under a random ID) first in every nodes list sent to it. */
struct mirror {
    struct dht_sim *sim;
    struct addr victim;
    size_t sent_to_self;
};

static size_t mirror_filter(void *ctx, size_t index, const uint8_t *data, size_t len,
                            const struct addr *to, uint8_t *out, size_t cap)
{
    struct mirror *mr = ctx;
    uint8_t nodes[(DHT_TABLE_K + 1) * KRPC_NODE_LEN];
    struct dht_contact fake;
    struct krpc_msg m;
    size_t n;

    (void)index;
    if (!addr_equal(to, &mr->victim) || krpc_parse(&m, data, len) != 0 || m.type != KRPC_RESPONSE ||
        m.nodes.len > DHT_TABLE_K * KRPC_NODE_LEN) {
        return pass(data, len, out, cap);
    }
    dht_sim_random(mr->sim, fake.id, sizeof(fake.id));
    fake.addr = mr->victim;
    dht_contact_write(&fake, nodes);
    memcpy(nodes + KRPC_NODE_LEN, m.nodes.data, m.nodes.len);
    m.nodes.data = nodes;
    m.nodes.len += KRPC_NODE_LEN;
    return krpc_write(&m, out, cap, &n) == 0 ? n : 0;
}

/* Counts what the victim sends to itself. */
static size_t self_counter(void *ctx, size_t index, const uint8_t *data, size_t len,
                           const struct addr *to, uint8_t *out, size_t cap)
{
    struct mirror *mr = ctx;

    (void)index;
    if (addr_equal(to, &mr->victim)) {
        mr->sent_to_self++;
    }
    return pass(data, len, out, cap);
}

static void test_lookup_never_queries_own_address_handed_back(void)
{
    struct dht_sim *sim = net_new(NET_NODES, 19);
    struct mirror mr = {.sim = sim};
    size_t victim = 33;
    struct result r;
    uint8_t target[KRPC_ID_LEN];

    mr.victim = *dht_sim_addr(sim, victim);
    for (size_t i = 0; i < dht_sim_count(sim); i++) {
        dht_sim_set_filter(sim, i, i == victim ? self_counter : mirror_filter, &mr);
    }
    for (int round = 0; round < 5; round++) {
        dht_sim_random(sim, target, sizeof(target));
        result_init(&r, sim);
        CHECK_INT(dht_lookup_find_node(dht_sim_node(sim, victim), target, result_cb, &r,
                                       dht_sim_now(sim), NULL),
                  0);
        CHECK(dht_sim_run_until(sim, result_done, &r, MINUTE_MS));
        CHECK_INT(r.status, 0);
    }
    dht_sim_run(sim, 5 * MINUTE_MS);
    CHECK_INT(mr.sent_to_self, 0);
    dht_sim_free(sim);
}

/* ---- callers ---- */

static void test_lookup_gets_of_one_target_share_one_lookup(void)
{
    struct dht_sim *sim = net_new(NET_NODES, 20);
    struct dht_lookup_get_args args;
    struct signed_item it;
    struct result put, first, second;
    struct dht_node *node = NULL;

    item_make(&it, 7, 1, "shared");
    put_and_wait(sim, 3, &it.item, NULL, &put);
    node = dht_sim_node(sim, 44);
    args = (struct dht_lookup_get_args){.k = it.pk};
    result_init(&first, sim);
    result_init(&second, sim);
    CHECK_INT(dht_lookup_get(node, &args, result_cb, &first, dht_sim_now(sim), NULL), 0);
    CHECK_INT(dht_lookup_get(node, &args, result_cb, &second, dht_sim_now(sim), NULL), 0);
    CHECK_INT(dht_lookup_count(node), 1);
    CHECK(dht_sim_run_until(sim, result_done, &second, MINUTE_MS));
    CHECK(first.done);
    CHECK_INT(first.values, 1);
    CHECK_INT(second.values, 1);
    CHECK_INT(first.queried, second.queried);
    dht_sim_free(sim);
}

/* Joins a running get as soon as the first caller has its value. */
struct joiner {
    struct result first;
    struct result late;
    struct dht_node *node;
    const uint8_t *k;
    bool joined;
};

static void joiner_cb(void *user, const struct dht_lookup_event *ev)
{
    struct joiner *j = user;
    struct dht_lookup_get_args args = {.k = j->k};

    result_cb(&j->first, ev);
    if (ev->type == DHT_LOOKUP_VALUE && !j->joined) {
        j->joined = true;
        CHECK_INT(
            dht_lookup_get(j->node, &args, result_cb, &j->late, dht_sim_now(j->first.sim), NULL),
            0);
        CHECK_INT(dht_lookup_count(j->node), 1);
        CHECK_INT(j->late.values, 0); /* not from inside the start call */
    }
}

static void test_lookup_late_joiner_gets_best_value_so_far(void)
{
    struct dht_sim *sim = net_new(NET_NODES, 21);
    struct dht_lookup_get_args args;
    struct signed_item it;
    struct result put;
    struct joiner j;

    item_make(&it, 8, 4, "late");
    put_and_wait(sim, 3, &it.item, NULL, &put);
    memset(&j, 0, sizeof(j));
    result_init(&j.first, sim);
    result_init(&j.late, sim);
    j.node = dht_sim_node(sim, 66);
    j.k = it.pk;
    args = (struct dht_lookup_get_args){.k = it.pk};
    CHECK_INT(dht_lookup_get(j.node, &args, joiner_cb, &j, dht_sim_now(sim), NULL), 0);
    CHECK(dht_sim_run_until(sim, result_done, &j.late, MINUTE_MS));
    CHECK(j.joined);
    CHECK_INT(j.late.values, 1);
    CHECK_INT(j.late.last_seq, 4);
    CHECK_INT(j.late.status, 0);
    dht_sim_free(sim);
}

static void test_lookup_cancelled_caller_hears_nothing_more(void)
{
    struct dht_sim *sim = net_new(NET_NODES, 22);
    struct result r;
    uint32_t handle = 0;
    uint8_t target[KRPC_ID_LEN] = {0x99};
    struct dht_node *node = dht_sim_node(sim, 10);

    result_init(&r, sim);
    CHECK_INT(dht_lookup_find_node(node, target, result_cb, &r, dht_sim_now(sim), &handle), 0);
    CHECK(handle != 0);
    dht_lookup_cancel(node, handle);
    dht_sim_run(sim, MINUTE_MS);
    CHECK(!r.done);
    CHECK_INT(dht_lookup_count(node), 0);
    dht_sim_free(sim);
}

/* ---- put outcomes ---- */

static void test_lookup_put_of_lower_seq_reports_302_from_each_node(void)
{
    struct dht_sim *sim = net_new(NET_NODES, 23);
    struct signed_item newer, older;
    struct result put;

    item_make(&newer, 9, 5, "five");
    item_make(&older, 9, 3, "three");
    put_and_wait(sim, 3, &newer.item, NULL, &put);
    CHECK_INT(put.status, 0);
    put_and_wait(sim, 4, &older.item, NULL, &put);
    CHECK_INT(put.status, -EREMOTEIO);
    CHECK_INT(put.stored, 0);
    CHECK(put.refused >= DHT_LOOKUP_PUT_NODES - 1);
    for (size_t i = 0; i < put.refused; i++) {
        CHECK_INT(put.errors[i], BEP44_ERR_SEQ_TOO_LOW);
    }
    dht_sim_free(sim);
}

/* Watches the puts a node sends: what to do to the first one (or every one), and when the
 * last one left. */
struct put_watch {
    struct dht_sim *sim;
    enum { PUT_DROP_FIRST, PUT_SLOW_FIRST, PUT_SLOW_ALL } how;
    uint32_t slow_ms; /* how much later the slowed node answers */
    size_t puts;
    uint64_t last_put_ms;
    struct addr first_to;
};

static size_t put_watch_filter(void *ctx, size_t index, const uint8_t *data, size_t len,
                               const struct addr *to, uint8_t *out, size_t cap)
{
    struct put_watch *pw = ctx;
    struct krpc_msg m;
    bool first;

    (void)index;
    if (krpc_parse(&m, data, len) != 0 || m.type != KRPC_QUERY || m.method != KRPC_PUT) {
        return pass(data, len, out, cap);
    }
    first = pw->puts++ == 0;
    pw->last_put_ms = dht_sim_now(pw->sim);
    if (first) {
        pw->first_to = *to;
    }
    if (first && pw->how == PUT_DROP_FIRST) {
        return 0;
    }
    if (first || pw->how == PUT_SLOW_ALL) {
        /* The node answers this put (and whatever follows) that much later. */
        dht_sim_set_delay(pw->sim, dht_sim_index(pw->sim, to), pw->slow_ms);
    }
    return pass(data, len, out, cap);
}

static void test_lookup_put_reports_at_soft_timeout_when_a_put_is_lost(void)
{
    struct dht_sim *sim = net_new(NET_NODES, 27);
    struct put_watch pw = {.sim = sim, .how = PUT_DROP_FIRST};
    struct signed_item it;
    struct result put;

    item_make(&it, 13, 1, "one lost");
    dht_sim_set_filter(sim, 3, put_watch_filter, &pw);
    put_and_wait(sim, 3, &it.item, NULL, &put);
    CHECK_INT(put.status, 0);
    CHECK_INT(pw.puts, DHT_LOOKUP_PUT_NODES);
    CHECK_INT(put.stored, DHT_LOOKUP_PUT_NODES - 1);
    /* The caller hears within the adaptive timeout (at most 2 s) of the last put, not at the
     * hard deadline DHT_RPC_LATE_MS after it. */
    CHECK(put.done_ms - pw.last_put_ms <= DHT_RPC_RTO_MAX_MS);
    printf("put with one put lost: done %llu ms after the last put was sent\n",
           (unsigned long long)(put.done_ms - pw.last_put_ms));
    dht_sim_free(sim);
}

static void test_lookup_late_put_answer_after_report_reaches_routing_table(void)
{
    struct dht_sim *sim = net_new(NET_NODES, 28);
    struct put_watch pw = {.sim = sim, .how = PUT_SLOW_FIRST, .slow_ms = 2500};
    struct dht_node *node = dht_sim_node(sim, 3);
    struct signed_item it;
    struct result put;
    uint64_t timeouts, unmatched;
    struct dht_store_item got;
    enum dht_table_state state;
    size_t slow;

    item_make(&it, 14, 1, "one slow");
    dht_sim_set_filter(sim, 3, put_watch_filter, &pw);
    put_and_wait(sim, 3, &it.item, NULL, &put);
    CHECK_INT(put.status, 0);
    CHECK_INT(put.stored, DHT_LOOKUP_PUT_NODES - 1);
    CHECK(put.done_ms - pw.last_put_ms <= DHT_RPC_RTO_MAX_MS);
    slow = dht_sim_index(sim, &pw.first_to);
    CHECK(slow < dht_sim_count(sim));

    /* The slow node stored the item; its answer, when it comes, is still matched to the put
     * (not counted unmatched, not a timeout) and keeps the node good in the table. */
    timeouts = dht_node_stats(node)->timeouts;
    unmatched = dht_node_stats(node)->unmatched;
    dht_sim_run(sim, pw.slow_ms + SECOND_MS);
    CHECK_INT(dht_store_get(dht_node_store(dht_sim_node(sim, slow)), it.target, NULL,
                            dht_sim_now(sim), &got),
              0);
    CHECK_INT(dht_node_stats(node)->timeouts, timeouts);
    CHECK_INT(dht_node_stats(node)->unmatched, unmatched);
    state = dht_table_state(dht_node_table(node), dht_node_id(dht_sim_node(sim, slow)),
                            dht_sim_now(sim));
    CHECK(state != DHT_TABLE_ABSENT && state != DHT_TABLE_BAD);
    dht_sim_free(sim);
}

static void test_lookup_put_waits_for_late_answers_when_none_came_in_time(void)
{
    struct dht_sim *sim = net_new(NET_NODES, 29);
    struct put_watch pw = {.sim = sim, .how = PUT_SLOW_ALL, .slow_ms = 2500};
    struct signed_item it;
    struct result put;

    item_make(&it, 15, 1, "all slow");
    dht_sim_set_filter(sim, 3, put_watch_filter, &pw);
    put_and_wait(sim, 3, &it.item, NULL, &put);
    /* Past every soft timeout nothing has answered: rather than report a failure that is
     * not one, the put takes the answers that come before the hard deadline. */
    CHECK_INT(put.status, 0);
    CHECK_INT(put.stored, DHT_LOOKUP_PUT_NODES);
    CHECK(put.done_ms - pw.last_put_ms >= pw.slow_ms);
    dht_sim_free(sim);
}

static void test_lookup_put_with_wrong_cas_reports_301(void)
{
    struct dht_sim *sim = net_new(NET_NODES, 24);
    struct signed_item first, second;
    struct result put;
    int64_t cas = 99, right_cas = 1;

    item_make(&first, 10, 1, "one");
    item_make(&second, 10, 2, "two");
    put_and_wait(sim, 3, &first.item, NULL, &put);
    put_and_wait(sim, 3, &second.item, &cas, &put);
    CHECK_INT(put.status, -EREMOTEIO);
    CHECK(put.refused >= 1);
    CHECK_INT(put.errors[0], BEP44_ERR_CAS_MISMATCH);
    put_and_wait(sim, 3, &second.item, &right_cas, &put);
    CHECK_INT(put.status, 0);
    dht_sim_free(sim);
}

static void test_lookup_without_any_known_node_fails_at_once(void)
{
    struct dht_node_config cfg;
    struct dht_node *node = NULL;
    uint8_t target[KRPC_ID_LEN] = {1};

    memset(&cfg, 0, sizeof(cfg));
    CHECK_INT(dht_node_new(&cfg, 0, &node), 0);
    CHECK_INT(dht_lookup_find_node(node, target, result_cb, NULL, 0, NULL), -ENETUNREACH);
    CHECK_INT(dht_lookup_count(node), 0);
    dht_node_free(node);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_closest_sorts_by_distance_with_unknown_ids_first),
        UNIT(test_closest_refuses_known_id_or_address),
        UNIT(test_closest_full_set_keeps_closest_and_those_in_flight),
        UNIT(test_closest_window_skips_slow_and_failed),
        UNIT(test_closest_converges_when_k_closest_answered),
        UNIT(test_closest_with_few_candidates_waits_for_slow_ones),
        UNIT(test_closest_set_id_moves_bootstrap_entry),
        UNIT(test_lookup_find_node_converges_to_true_closest),
        UNIT(test_lookup_put_stores_on_closest_and_get_returns_verified_value),
        UNIT(test_lookup_put_to_twelve_nodes_stores_on_the_twelve_closest),
        UNIT(test_lookup_put_nodes_over_32_is_refused),
        UNIT(test_lookup_newer_seq_supersedes_older),
        UNIT(test_lookup_get_delivers_first_value_at_once_and_newer_one_later),
        UNIT(test_lookup_get_with_current_seq_reports_nothing_newer),
        UNIT(test_lookup_get_succeeds_with_quarter_of_closest_silent),
        UNIT(test_lookup_salted_item_round_trips),
        UNIT(test_lookup_ignores_values_with_forged_signature),
        UNIT(test_lookup_ignores_values_whose_key_does_not_match_target),
        UNIT(test_lookup_immutable_item_is_checked_against_its_hash),
        UNIT(test_lookup_never_queries_own_address_handed_back),
        UNIT(test_lookup_gets_of_one_target_share_one_lookup),
        UNIT(test_lookup_late_joiner_gets_best_value_so_far),
        UNIT(test_lookup_cancelled_caller_hears_nothing_more),
        UNIT(test_lookup_put_of_lower_seq_reports_302_from_each_node),
        UNIT(test_lookup_put_reports_at_soft_timeout_when_a_put_is_lost),
        UNIT(test_lookup_late_put_answer_after_report_reaches_routing_table),
        UNIT(test_lookup_put_waits_for_late_answers_when_none_came_in_time),
        UNIT(test_lookup_put_with_wrong_cas_reports_301),
        UNIT(test_lookup_without_any_known_node_fails_at_once),
    };

    if (sodium_init() < 0) {
        return 1;
    }
    log_set_level(LOG_LEVEL_WARNING);
    return unit_run("dht_lookup", tests, sizeof(tests) / sizeof(tests[0]));
}
