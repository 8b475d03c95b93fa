#include "dht_lookup.h"
#include "dht_node.h"
#include "dht_sim.h"
#include "log.h"
#include "pk_cache.h"
#include "pk_packet.h"
#include "pk_rr.h"
#include "pk_seed.h"
#include "pkdns_lookup.h"
#include "unit.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define MINUTE_MS 60000ull
#define NET_NODES 12

/* ---- harness: a simulated DHT, pkdns's node in it, the cache, the lookups ---- */

static struct dht_sim *sim;
static size_t own; /* pkdns's node */
static struct pk_cache *cache;
static struct pkdns_lookup *lookups;

static uint64_t sim_clock(void *user)
{
    return dht_sim_now(user);
}

static void setup(size_t max_queued)
{
    struct dht_sim_config sim_cfg = {.seed = 7, .latency_ms = 20, .jitter_ms = 30};
    struct pk_cache_config cc = {
        .max_bytes = 1 << 20,
        .min_ttl_s = 60,
        .max_ttl_s = 86400,
        .negative_ttl_s = 60,
        .max_stale_s = PK_CACHE_MAX_STALE_S,
        .refresh_retry_s = PK_CACHE_REFRESH_RETRY_S,
    };
    struct pkdns_lookup_config lc = {.clock_ms = sim_clock, .max_queued = max_queued};
    struct dht_node_config cfg;
    struct addr boot;
    size_t index;

    log_threshold = LOG_LEVEL_WARNING; /* the simulated nodes' start lines */
    CHECK_INT(dht_sim_new(&sim_cfg, &sim), 0);
    memset(&cfg, 0, sizeof(cfg));
    CHECK_INT(dht_sim_add(sim, &cfg, &index), 0);
    boot = *dht_sim_addr(sim, 0);
    cfg.bootstrap = &boot;
    cfg.nbootstrap = 1;
    for (size_t i = 1; i < NET_NODES; i++) {
        CHECK_INT(dht_sim_add(sim, &cfg, &own), 0);
        dht_sim_run(sim, 100);
    }
    dht_sim_run(sim, MINUTE_MS);
    CHECK_INT(pk_cache_new(&cc, &cache), 0);
    lc.node = dht_sim_node(sim, own);
    lc.cache = cache;
    lc.clock_user = sim;
    CHECK_INT(pkdns_lookup_new(&lc, &lookups), 0);
}

static void teardown(void)
{
    pkdns_lookup_free(lookups);
    pk_cache_free(cache);
    dht_sim_free(sim);
}

/* A signed packet of the key grown from seed `fill`, dated timestamp_us, with one A record
 * 192.0.2.`last` at the apex. Returns its length. */
static size_t make_packet(uint8_t fill, uint64_t timestamp_us, uint8_t last, uint8_t *packet)
{
    static struct pk_rr_set zone;
    uint8_t seed[PK_SEED_LEN], pk[PK_PACKET_KEY_LEN], sk[PK_PACKET_SECRET_LEN];
    uint8_t msg[PK_PACKET_MSG_MAX], apex = 0, addr[4] = {192, 0, 2, last};
    struct pk_rr rr = {.name = &apex, .name_len = 1, .type = 1, .rclass = 1, .ttl = 300};
    int n;

    memset(seed, fill, sizeof(seed));
    pk_seed_keypair(seed, pk, sk);
    pk_rr_set_init(&zone);
    rr.rdata = addr;
    rr.rdlength = sizeof(addr);
    CHECK_INT(pk_rr_set_add(&zone, &rr), 0);
    n = pk_packet_build_message(&zone, pk, msg, sizeof(msg));
    CHECK(n > 0);
    n = pk_packet_sign(sk, timestamp_us, msg, (size_t)n, packet, PK_PACKET_MAX);
    CHECK(n > 0);
    return (size_t)n;
}

static bool put_done;

static void put_cb(void *user, const struct dht_lookup_event *ev)
{
    (void)user;
    if (ev->type == DHT_LOOKUP_DONE) {
        CHECK(ev->stored > 0);
        put_done = true;
    }
}

static bool put_finished(void *ctx)
{
    (void)ctx;
    return put_done;
}

/* Stores the packet on the simulated DHT from node 0 (a BEP 44 item: seq is the timestamp). */
static void publish(const uint8_t *packet, size_t len)
{
    uint8_t value[PK_PACKET_MSG_MAX + 8];
    int prefix = snprintf((char *)value, sizeof(value), "%zu:", len - PK_PACKET_HEAD_LEN);
    struct dht_store_item item = {
        .k = packet,
        .sig = packet + PK_PACKET_KEY_LEN,
        .seq = (int64_t)pk_packet_timestamp(packet),
        .value = value,
        .value_len = (size_t)prefix + len - PK_PACKET_HEAD_LEN,
    };

    memcpy(value + prefix, packet + PK_PACKET_HEAD_LEN, len - PK_PACKET_HEAD_LEN);
    put_done = false;
    CHECK_INT(
        dht_lookup_put(dht_sim_node(sim, 0), &item, NULL, put_cb, NULL, dht_sim_now(sim), NULL), 0);
    CHECK(dht_sim_run_until(sim, put_finished, NULL, MINUTE_MS));
}

/* One waiting query and what it was told. */
struct query {
    struct pkdns_lookup_waiter w;
    bool called;
    int status;
    uint8_t packet[PK_PACKET_MAX];
    size_t len;
    uint32_t age_s;
};

static void query_cb(void *user, int status, const uint8_t *packet, size_t len, uint32_t age_s)
{
    struct query *q = user;

    CHECK(!q->called);
    q->called = true;
    q->status = status;
    q->age_s = age_s;
    if (status == 0) {
        memcpy(q->packet, packet, len);
        q->len = len;
    }
}

static int ask(struct query *q, const uint8_t *key)
{
    memset(q, 0, sizeof(*q));
    q->w.cb = query_cb;
    q->w.user = q;
    return pkdns_lookup_key(lookups, key, &q->w, dht_sim_now(sim));
}

static bool query_called(void *ctx)
{
    return ((struct query *)ctx)->called;
}

static void key_of(uint8_t fill, uint8_t key[PK_PACKET_KEY_LEN])
{
    memset(key, fill, PK_PACKET_KEY_LEN);
}

static uint64_t now_us(void)
{
    return pkdns_lookup_wall_ms() * 1000u;
}

/* ---- what waiters get ---- */

static void test_lookup_hands_waiters_the_packet_found_and_caches_it(void)
{
    uint8_t packet[PK_PACKET_MAX];
    size_t len = make_packet(1, now_us() - 1000000, 1, packet);
    struct pk_cache_hit hit;
    struct query q;

    setup(0);
    publish(packet, len);
    CHECK_INT(ask(&q, packet), 0);
    CHECK(dht_sim_run_until(sim, query_called, &q, MINUTE_MS));
    CHECK_INT(q.status, 0);
    CHECK_INT(q.len, len);
    CHECK_MEM(q.packet, packet, len);
    CHECK(q.age_s <= 1); /* just found: its TTLs are whole */
    CHECK_INT(pk_cache_get(cache, packet, pkdns_lookup_wall_ms(), &hit), PK_CACHE_FRESH);
    CHECK_MEM(hit.packet, packet, len);
    teardown();
}

static void test_lookup_hands_waiters_the_cached_packet_when_it_is_newer(void)
{
    uint8_t older[PK_PACKET_MAX], newer[PK_PACKET_MAX];
    size_t older_len = make_packet(1, now_us() - 2000000, 1, older);
    size_t newer_len = make_packet(1, now_us() - 1000000, 2, newer);
    struct query q;

    /* The DHT still has the older packet; the cache learnt the newer one 30 s ago. */
    setup(0);
    publish(older, older_len);
    CHECK_INT(pk_cache_put(cache, newer, newer_len, pkdns_lookup_wall_ms() - 30000), 1);
    CHECK_INT(ask(&q, older), 0);
    CHECK(dht_sim_run_until(sim, query_called, &q, MINUTE_MS));
    CHECK_INT(q.status, 0);
    CHECK_INT(q.len, newer_len);
    CHECK_MEM(q.packet, newer, newer_len);
    /* Its age goes with it, so that its TTLs are counted down as a cache hit's would be. */
    CHECK(q.age_s >= 30 && q.age_s <= 32);
    teardown();
}

/* ---- the queue ---- */

/* Asks for PKDNS_LOOKUP_RUNNING_MAX keys (fills 1, 2, ...): every place is taken. */
static void fill_running(struct query *queries)
{
    uint8_t key[PK_PACKET_KEY_LEN];

    for (size_t i = 0; i < PKDNS_LOOKUP_RUNNING_MAX; i++) {
        key_of((uint8_t)(i + 1), key);
        CHECK_INT(ask(&queries[i], key), 0);
    }
}

static void test_lookup_queue_beyond_max_queued_refuses_new_keys(void)
{
    struct query running[PKDNS_LOOKUP_RUNNING_MAX], queued[3], joiner;
    uint8_t key[PK_PACKET_KEY_LEN];
    struct pkdns_lookup_stats st;
    const char *log;

    setup(2);
    fill_running(running);
    key_of(100, key);
    CHECK_INT(ask(&queued[0], key), 0);
    key_of(101, key);
    CHECK_INT(ask(&queued[1], key), 0);
    unit_capture_begin();
    key_of(102, key);
    CHECK_INT(ask(&queued[2], key), -ENOBUFS);
    CHECK(!pkdns_lookup_running(lookups, key));
    CHECK_INT(pkdns_lookup_key(lookups, key, NULL, dht_sim_now(sim)), -ENOBUFS); /* refresh */
    log = unit_capture_end();
    CHECK(strstr(log, "max_queued_lookups reached") != NULL);
    CHECK(strstr(strstr(log, "max_queued_lookups reached") + 1, "max_queued_lookups") == NULL);

    /* Keys already running or queued are joined, queue full or not. */
    key_of(101, key);
    CHECK_INT(ask(&joiner, key), 0);
    key_of(1, key);
    CHECK_INT(pkdns_lookup_key(lookups, key, NULL, dht_sim_now(sim)), 0);
    pkdns_lookup_stats(lookups, &st);
    CHECK_INT(st.started, PKDNS_LOOKUP_RUNNING_MAX);
    CHECK_INT(st.refused, 2);
    CHECK_INT(st.joined, 2);
    teardown();
}

static void test_lookup_queued_key_every_waiter_left_is_dropped(void)
{
    struct query running[PKDNS_LOOKUP_RUNNING_MAX], a1, a2, b;
    uint8_t key_a[PK_PACKET_KEY_LEN], key_b[PK_PACKET_KEY_LEN];
    struct pkdns_lookup_stats st;

    setup(4);
    fill_running(running);
    key_of(100, key_a);
    key_of(101, key_b);
    CHECK_INT(ask(&a1, key_a), 0);
    CHECK_INT(ask(&a2, key_a), 0);
    CHECK_INT(ask(&b, key_b), 0);
    CHECK_INT(pkdns_lookup_key(lookups, key_b, NULL, dht_sim_now(sim)), 0); /* a refresh */

    pkdns_lookup_leave(&a1.w);
    CHECK(pkdns_lookup_running(lookups, key_a)); /* a2 still waits */
    pkdns_lookup_leave(&a2.w);
    CHECK(!pkdns_lookup_running(lookups, key_a));
    pkdns_lookup_leave(&b.w);
    CHECK(pkdns_lookup_running(lookups, key_b)); /* the refresh still wants it */
    pkdns_lookup_leave(&b.w);                    /* leaving twice is a no-op */
    pkdns_lookup_stats(lookups, &st);
    CHECK_INT(st.dropped, 1);

    /* A running lookup every waiter left goes on: it fills the cache. */
    pkdns_lookup_leave(&running[0].w);
    key_of(1, key_a);
    CHECK(pkdns_lookup_running(lookups, key_a));
    teardown();
}

static struct query *all_queries[PKDNS_LOOKUP_RUNNING_MAX + 3];

static bool all_called(void *ctx)
{
    (void)ctx;
    for (size_t i = 0; i < sizeof(all_queries) / sizeof(all_queries[0]); i++) {
        if (!all_queries[i]->called) {
            return false;
        }
    }
    return true;
}

static void test_lookup_queued_keys_start_in_turn_and_hear_back(void)
{
    struct query running[PKDNS_LOOKUP_RUNNING_MAX], queued[3];
    uint8_t key[PK_PACKET_KEY_LEN];
    struct pkdns_lookup_stats st;

    setup(3);
    fill_running(running);
    for (size_t i = 0; i < 3; i++) {
        key_of((uint8_t)(100 + i), key);
        CHECK_INT(ask(&queued[i], key), 0);
    }
    for (size_t i = 0; i < PKDNS_LOOKUP_RUNNING_MAX; i++) {
        all_queries[i] = &running[i];
    }
    for (size_t i = 0; i < 3; i++) {
        all_queries[PKDNS_LOOKUP_RUNNING_MAX + i] = &queued[i];
    }
    CHECK(dht_sim_run_until(sim, all_called, NULL, 5 * MINUTE_MS));
    for (size_t i = 0; i < PKDNS_LOOKUP_RUNNING_MAX; i++) {
        CHECK(running[i].called);
        CHECK_INT(running[i].status, -ENOENT);
    }
    for (size_t i = 0; i < 3; i++) {
        CHECK(queued[i].called);
        CHECK_INT(queued[i].status, -ENOENT);
    }
    pkdns_lookup_stats(lookups, &st);
    CHECK_INT(st.started, PKDNS_LOOKUP_RUNNING_MAX + 3);
    CHECK_INT(st.not_found, PKDNS_LOOKUP_RUNNING_MAX + 3);
    teardown();
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_lookup_hands_waiters_the_packet_found_and_caches_it),
        UNIT(test_lookup_hands_waiters_the_cached_packet_when_it_is_newer),
        UNIT(test_lookup_queue_beyond_max_queued_refuses_new_keys),
        UNIT(test_lookup_queued_key_every_waiter_left_is_dropped),
        UNIT(test_lookup_queued_keys_start_in_turn_and_hear_back),
    };

    if (sodium_init() < 0) {
        return 1;
    }
    return unit_run("pk_lookup", tests, sizeof(tests) / sizeof(tests[0]));
}
