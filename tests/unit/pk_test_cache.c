#include "dns_name.h"
#include "pk_cache.h"
#include "pk_seed.h"
#include "unit.h"

#include <errno.h>
#include <sodium.h>

/* A fake clock: milliseconds since the Unix epoch, starting at 2023-10-11. */
#define T0_MS 1697016827000ull
#define SECOND 1000ull

static struct pk_cache *cache;
static struct pk_cache_config cfg;
static struct pk_cache_hit hit;

static void setup(void)
{
    pk_cache_free(cache);
    cfg = (struct pk_cache_config){
        .max_bytes = 1 << 20,
        .min_ttl_s = 60,
        .max_ttl_s = 86400,
        .negative_ttl_s = 30,
        .max_stale_s = 3600,
        .refresh_retry_s = 10,
        .prefetch_hits = 3,
        .prefetch_pct = 10,
    };
    cache = NULL;
}

static void start(void)
{
    CHECK_INT(pk_cache_new(&cfg, &cache), 0);
}

/* A signed packet for the key of seed `fill`: one A record with `ttl` at the apex, and as
 * many TXT bytes as `pad` asks, dated timestamp_us. */
static size_t packet(uint8_t *out, uint8_t fill, uint32_t ttl, uint64_t timestamp_us, size_t pad)
{
    static struct pk_rr_set set;
    uint8_t seed[PK_SEED_LEN], pk[PK_PACKET_KEY_LEN], sk[PK_PACKET_SECRET_LEN], msg[2048];
    uint8_t txt[256] = {0};
    struct pk_rr rr = {.name = (const uint8_t *)"",
                       .name_len = 1,
                       .type = DNS_TYPE_A,
                       .rclass = DNS_CLASS_IN,
                       .ttl = ttl,
                       .rdata = (const uint8_t *)"\1\2\3\4",
                       .rdlength = 4};
    int n;

    memset(seed, fill, sizeof(seed));
    pk_seed_keypair(seed, pk, sk);
    pk_rr_set_init(&set);
    CHECK_INT(pk_rr_set_add(&set, &rr), 0);
    if (pad > 0) {
        txt[0] = (uint8_t)(pad - 1);
        rr.type = DNS_TYPE_TXT;
        rr.ttl = 86400;
        rr.rdata = txt;
        rr.rdlength = (uint16_t)pad;
        CHECK_INT(pk_rr_set_add(&set, &rr), 0);
    }
    n = pk_packet_build_message(&set, pk, msg, sizeof(msg));
    n = pk_packet_sign(sk, timestamp_us, msg, (size_t)n, out, PK_PACKET_MAX);
    CHECK(n > 0);
    return (size_t)n;
}

/* A new cache holding the packet of key 1 (one record of `ttl`, written to p), stored at T0.
 * Returns the packet's length. */
static size_t start_with_packet(uint8_t *p, uint32_t ttl)
{
    size_t len = packet(p, 1, ttl, T0_MS * 1000, 0);

    setup();
    start();
    CHECK_INT(pk_cache_put(cache, p, len, T0_MS), 1);
    return len;
}

static const uint8_t *key_of(uint8_t fill)
{
    static uint8_t pk[PK_PACKET_KEY_LEN];
    uint8_t seed[PK_SEED_LEN], sk[PK_PACKET_SECRET_LEN];

    memset(seed, fill, sizeof(seed));
    pk_seed_keypair(seed, pk, sk);
    return pk;
}

static void test_cache_unknown_key_is_a_miss(void)
{
    setup();
    start();
    CHECK_INT(pk_cache_get(cache, key_of(1), T0_MS, &hit), PK_CACHE_MISS);
    CHECK(!hit.refresh);
}

static void test_cache_packet_is_fresh_for_its_smallest_ttl(void)
{
    uint8_t p[PK_PACKET_MAX];
    size_t len = start_with_packet(p, 120);

    CHECK_INT(pk_cache_get(cache, key_of(1), T0_MS + 119 * SECOND, &hit), PK_CACHE_FRESH);
    CHECK_INT(hit.len, len);
    CHECK_MEM(hit.packet, p, len);
    CHECK_INT(hit.ttl_left_s, 1);
    CHECK(!hit.refresh);
    CHECK_INT(pk_cache_get(cache, key_of(1), T0_MS + 120 * SECOND, &hit), PK_CACHE_STALE);
}

static void test_cache_hit_tells_the_packet_age(void)
{
    uint8_t p[PK_PACKET_MAX];
    size_t len = start_with_packet(p, 120);

    CHECK_INT(pk_cache_get(cache, key_of(1), T0_MS + 999, &hit), PK_CACHE_FRESH);
    CHECK_INT(hit.age_s, 0);
    CHECK_INT(pk_cache_get(cache, key_of(1), T0_MS + 45 * SECOND + 500, &hit), PK_CACHE_FRESH);
    CHECK_INT(hit.age_s, 45);
    CHECK_INT(pk_cache_get(cache, key_of(1), T0_MS + 200 * SECOND, &hit), PK_CACHE_STALE);
    CHECK_INT(hit.age_s, 200);

    pk_cache_put(cache, p, len, T0_MS + 210 * SECOND); /* the same packet seen again */
    CHECK_INT(pk_cache_get(cache, key_of(1), T0_MS + 215 * SECOND, &hit), PK_CACHE_FRESH);
    CHECK_INT(hit.age_s, 5);
}

static void test_cache_ttl_is_clamped_to_min_and_max(void)
{
    uint8_t p[PK_PACKET_MAX];
    size_t len;

    setup();
    start();
    len = packet(p, 1, 0, T0_MS * 1000, 0);
    pk_cache_put(cache, p, len, T0_MS);
    CHECK_INT(pk_cache_get(cache, key_of(1), T0_MS + 59 * SECOND, &hit), PK_CACHE_FRESH);
    CHECK_INT(pk_cache_get(cache, key_of(1), T0_MS + 60 * SECOND, &hit), PK_CACHE_STALE);

    len = packet(p, 2, 999999, T0_MS * 1000, 0);
    pk_cache_put(cache, p, len, T0_MS);
    CHECK_INT(pk_cache_get(cache, key_of(2), T0_MS + 86399 * SECOND, &hit), PK_CACHE_FRESH);
    CHECK_INT(pk_cache_get(cache, key_of(2), T0_MS + 86400 * SECOND, &hit), PK_CACHE_STALE);
}

static void test_cache_stale_answer_asks_for_one_refresh(void)
{
    uint8_t p[PK_PACKET_MAX];

    start_with_packet(p, 60);
    CHECK_INT(pk_cache_get(cache, key_of(1), T0_MS + 61 * SECOND, &hit), PK_CACHE_STALE);
    CHECK(hit.refresh);
    CHECK_INT(pk_cache_get(cache, key_of(1), T0_MS + 62 * SECOND, &hit), PK_CACHE_STALE);
    CHECK(!hit.refresh); /* one is running */
    CHECK_INT(pk_cache_get(cache, key_of(1), T0_MS + 71 * SECOND, &hit), PK_CACHE_STALE);
    CHECK(hit.refresh); /* refresh_retry_s later without a result: ask again */
}

static void test_cache_refresh_result_makes_the_entry_fresh(void)
{
    uint8_t p[PK_PACKET_MAX];
    size_t len = start_with_packet(p, 60);

    pk_cache_get(cache, key_of(1), T0_MS + 61 * SECOND, &hit);
    CHECK_INT(pk_cache_put(cache, p, len, T0_MS + 62 * SECOND), 1); /* the same packet again */
    CHECK_INT(pk_cache_get(cache, key_of(1), T0_MS + 63 * SECOND, &hit), PK_CACHE_FRESH);
    CHECK_INT(hit.ttl_left_s, 59);
}

static void test_cache_stale_entry_expires_after_max_stale(void)
{
    uint8_t p[PK_PACKET_MAX];
    struct pk_cache_stats st;

    start_with_packet(p, 60);
    CHECK_INT(pk_cache_get(cache, key_of(1), T0_MS + (60 + 3599) * SECOND, &hit), PK_CACHE_STALE);
    CHECK_INT(pk_cache_get(cache, key_of(1), T0_MS + (60 + 3600) * SECOND, &hit), PK_CACHE_MISS);
    pk_cache_stats(cache, &st);
    CHECK_INT(st.entries, 0);
    CHECK_INT(st.expired, 1);
}

static void test_cache_not_found_is_remembered_briefly(void)
{
    setup();
    start();
    CHECK_INT(pk_cache_put_not_found(cache, key_of(1), T0_MS), 0);
    CHECK_INT(pk_cache_get(cache, key_of(1), T0_MS + 29 * SECOND, &hit), PK_CACHE_NOT_FOUND);
    CHECK_INT(pk_cache_get(cache, key_of(1), T0_MS + 30 * SECOND, &hit), PK_CACHE_MISS);
}

static void test_cache_not_found_does_not_replace_a_packet(void)
{
    uint8_t p[PK_PACKET_MAX];

    start_with_packet(p, 60);
    CHECK_INT(pk_cache_put_not_found(cache, key_of(1), T0_MS + 70 * SECOND), 0);
    CHECK_INT(pk_cache_get(cache, key_of(1), T0_MS + 70 * SECOND, &hit), PK_CACHE_STALE);
}

static void test_cache_packet_replaces_not_found(void)
{
    uint8_t p[PK_PACKET_MAX];
    size_t len = packet(p, 1, 60, T0_MS * 1000, 0);

    setup();
    start();
    pk_cache_put_not_found(cache, key_of(1), T0_MS);
    CHECK_INT(pk_cache_put(cache, p, len, T0_MS + SECOND), 1);
    CHECK_INT(pk_cache_get(cache, key_of(1), T0_MS + SECOND, &hit), PK_CACHE_FRESH);
}

static void test_cache_newer_timestamp_wins(void)
{
    uint8_t old[PK_PACKET_MAX], fresh[PK_PACKET_MAX];
    size_t old_len = packet(old, 1, 60, T0_MS * 1000, 0);
    size_t fresh_len = packet(fresh, 1, 60, T0_MS * 1000 + 1, 0);

    setup();
    start();
    CHECK_INT(pk_cache_put(cache, old, old_len, T0_MS), 1);
    CHECK_INT(pk_cache_put(cache, fresh, fresh_len, T0_MS), 1);
    CHECK_INT(pk_cache_put(cache, old, old_len, T0_MS), 0);
    pk_cache_get(cache, key_of(1), T0_MS, &hit);
    CHECK_MEM(hit.packet, fresh, fresh_len);
}

static void test_cache_packet_shows_the_cached_packet_and_counts_nothing(void)
{
    uint8_t old[PK_PACKET_MAX], fresh[PK_PACKET_MAX];
    size_t old_len = packet(old, 1, 60, T0_MS * 1000, 0);
    size_t fresh_len = packet(fresh, 1, 60, T0_MS * 1000 + 1, 0);
    struct pk_cache_stats st;
    const uint8_t *got;
    size_t got_len = 0;
    uint64_t stored_ms = 0;

    setup();
    start();
    CHECK(pk_cache_packet(cache, key_of(1), &got_len, NULL) == NULL);
    pk_cache_put_not_found(cache, key_of(1), T0_MS);
    CHECK(pk_cache_packet(cache, key_of(1), &got_len, NULL) == NULL);
    CHECK_INT(pk_cache_put(cache, fresh, fresh_len, T0_MS), 1);
    CHECK_INT(pk_cache_put(cache, old, old_len, T0_MS + 5000), 0);
    got = pk_cache_packet(cache, key_of(1), &got_len, &stored_ms);
    CHECK(got != NULL);
    CHECK_INT(stored_ms, T0_MS); /* an older packet confirms nothing */
    CHECK_INT(got_len, fresh_len);
    CHECK_MEM(got, fresh, fresh_len);
    pk_cache_stats(cache, &st);
    CHECK_INT(st.fresh_hits + st.stale_hits + st.misses, 0);
}

static void test_cache_equal_timestamps_keep_the_larger_message(void)
{
    uint8_t small[PK_PACKET_MAX], large[PK_PACKET_MAX];
    size_t small_len = packet(small, 1, 60, T0_MS * 1000, 0);
    size_t large_len = packet(large, 1, 60, T0_MS * 1000, 10);

    setup();
    start();
    CHECK_INT(pk_cache_put(cache, large, large_len, T0_MS), 1);
    CHECK_INT(pk_cache_put(cache, small, small_len, T0_MS), 0);
    CHECK_INT(pk_cache_put(cache, large, large_len, T0_MS), 1);
    pk_cache_get(cache, key_of(1), T0_MS, &hit);
    CHECK_INT(hit.len, large_len);
}

static void test_cache_far_future_packet_never_displaces_a_sane_one(void)
{
    uint8_t sane[PK_PACKET_MAX], future[PK_PACKET_MAX];
    uint64_t far = (T0_MS + (PK_CACHE_FUTURE_MAX_S + 1) * SECOND) * 1000;
    size_t sane_len = packet(sane, 1, 60, T0_MS * 1000, 0);
    size_t future_len = packet(future, 1, 60, far, 0);

    setup();
    start();
    CHECK_INT(pk_cache_put(cache, sane, sane_len, T0_MS), 1);
    CHECK_INT(pk_cache_put(cache, future, future_len, T0_MS), 0);
    pk_cache_get(cache, key_of(1), T0_MS, &hit);
    CHECK_MEM(hit.packet, sane, sane_len);
}

static void test_cache_far_future_packet_is_kept_until_a_sane_one_comes(void)
{
    uint8_t sane[PK_PACKET_MAX], future[PK_PACKET_MAX];
    uint64_t far = (T0_MS + 400 * 86400 * SECOND) * 1000;
    size_t future_len = packet(future, 1, 60, far, 0);
    size_t sane_len = packet(sane, 1, 60, T0_MS * 1000 + 5 * SECOND * 1000, 0);

    setup();
    start();
    CHECK_INT(pk_cache_put(cache, future, future_len, T0_MS), 1);
    CHECK_INT(pk_cache_get(cache, key_of(1), T0_MS, &hit), PK_CACHE_FRESH);
    CHECK_INT(pk_cache_put(cache, sane, sane_len, T0_MS + 5 * SECOND), 1);
    pk_cache_get(cache, key_of(1), T0_MS + 5 * SECOND, &hit);
    CHECK_MEM(hit.packet, sane, sane_len);
}

static void test_cache_is_bounded_and_evicts_the_least_recently_used(void)
{
    uint8_t p[PK_PACKET_MAX];
    struct pk_cache_stats st;

    setup();
    cfg.max_bytes = PK_CACHE_MIN_BYTES;
    start();
    for (unsigned i = 1; i <= 200; i++) {
        size_t len = packet(p, (uint8_t)i, 300, T0_MS * 1000, 200);
        CHECK_INT(pk_cache_put(cache, p, len, T0_MS), 1);
        /* Key 1 is asked for all along, so it stays. */
        CHECK_INT(pk_cache_get(cache, key_of(1), T0_MS, &hit), PK_CACHE_FRESH);
    }
    pk_cache_stats(cache, &st);
    CHECK(st.bytes <= PK_CACHE_MIN_BYTES);
    CHECK(st.evicted > 0);
    CHECK_INT(st.entries + st.evicted, 200);
    CHECK_INT(pk_cache_get(cache, key_of(2), T0_MS, &hit), PK_CACHE_MISS);
    CHECK_INT(pk_cache_get(cache, key_of(200), T0_MS, &hit), PK_CACHE_FRESH);
}

static void test_cache_popular_entry_asks_for_refresh_before_expiry(void)
{
    uint8_t p[PK_PACKET_MAX];

    start_with_packet(p, 100);
    for (int i = 0; i < 3; i++) {
        pk_cache_get(cache, key_of(1), T0_MS + 10 * SECOND, &hit);
        CHECK(!hit.refresh); /* popular, but not near expiry yet */
    }
    CHECK_INT(pk_cache_get(cache, key_of(1), T0_MS + 91 * SECOND, &hit), PK_CACHE_FRESH);
    CHECK(hit.refresh);
    CHECK_INT(pk_cache_get(cache, key_of(1), T0_MS + 92 * SECOND, &hit), PK_CACHE_FRESH);
    CHECK(!hit.refresh);
}

static void test_cache_unpopular_entry_waits_for_expiry(void)
{
    uint8_t p[PK_PACKET_MAX];

    start_with_packet(p, 100);
    CHECK_INT(pk_cache_get(cache, key_of(1), T0_MS + 95 * SECOND, &hit), PK_CACHE_FRESH);
    CHECK(!hit.refresh);
}

static void test_cache_prefetch_lists_popular_keys_near_expiry_once(void)
{
    uint8_t p[PK_PACKET_MAX];
    uint8_t keys[4][PK_PACKET_KEY_LEN];

    setup();
    start();
    for (uint8_t i = 1; i <= 2; i++) {
        size_t len = packet(p, i, 100, T0_MS * 1000, 0);
        pk_cache_put(cache, p, len, T0_MS);
    }
    for (int i = 0; i < 3; i++) {
        pk_cache_get(cache, key_of(1), T0_MS, &hit);
    }
    CHECK_INT(pk_cache_prefetch(cache, T0_MS + 50 * SECOND, keys, 4), 0);
    CHECK_INT(pk_cache_prefetch(cache, T0_MS + 95 * SECOND, keys, 4), 1);
    CHECK_MEM(keys[0], key_of(1), PK_PACKET_KEY_LEN);
    CHECK_INT(pk_cache_prefetch(cache, T0_MS + 96 * SECOND, keys, 4), 0);
}

static void test_cache_refuses_bad_packets_and_configs(void)
{
    uint8_t p[PK_PACKET_MAX];
    size_t len = packet(p, 1, 100, T0_MS * 1000, 0);
    struct pk_cache *other;

    setup();
    start();
    CHECK_INT(pk_cache_put(cache, p, PK_PACKET_HEAD_LEN - 1, T0_MS), -EINVAL);
    CHECK_INT(pk_cache_put(cache, p, len - 1, T0_MS), -EBADMSG);
    cfg.max_bytes = PK_CACHE_MIN_BYTES - 1;
    CHECK_INT(pk_cache_new(&cfg, &other), -EINVAL);
    pk_cache_free(NULL);
}

static void test_cache_shrunk_by_configure_evicts_the_least_recently_used(void)
{
    uint8_t p[PK_PACKET_MAX];
    struct pk_cache_stats st;

    setup();
    start();
    for (unsigned i = 1; i <= 200; i++) {
        size_t len = packet(p, (uint8_t)i, 300, T0_MS * 1000, 200);
        CHECK_INT(pk_cache_put(cache, p, len, T0_MS), 1);
    }
    CHECK_INT(pk_cache_get(cache, key_of(1), T0_MS, &hit), PK_CACHE_FRESH);
    pk_cache_stats(cache, &st);
    CHECK_INT(st.entries, 200);
    CHECK_INT(st.evicted, 0);

    cfg.max_bytes = PK_CACHE_MIN_BYTES;
    CHECK_INT(pk_cache_configure(cache, &cfg), 0);
    pk_cache_stats(cache, &st);
    CHECK(st.bytes <= PK_CACHE_MIN_BYTES);
    CHECK(st.evicted > 0);
    CHECK_INT(st.entries + st.evicted, 200);
    /* Key 1 was the last one asked for; key 2 the least recently used. */
    CHECK_INT(pk_cache_get(cache, key_of(1), T0_MS, &hit), PK_CACHE_FRESH);
    CHECK_INT(pk_cache_get(cache, key_of(2), T0_MS, &hit), PK_CACHE_MISS);
}

static void test_cache_configure_takes_new_ttl_bounds_for_new_packets(void)
{
    uint8_t p[PK_PACKET_MAX];
    size_t len;

    setup();
    start();
    len = packet(p, 1, 5, T0_MS * 1000, 0);
    pk_cache_put(cache, p, len, T0_MS);
    cfg.min_ttl_s = 2;
    CHECK_INT(pk_cache_configure(cache, &cfg), 0);
    len = packet(p, 2, 5, T0_MS * 1000, 0);
    pk_cache_put(cache, p, len, T0_MS);

    /* Key 1 keeps the 60 s it got; key 2 lives its own 5 s under the new floor. */
    CHECK_INT(pk_cache_get(cache, key_of(1), T0_MS + 59 * SECOND, &hit), PK_CACHE_FRESH);
    CHECK_INT(pk_cache_get(cache, key_of(2), T0_MS + 4 * SECOND, &hit), PK_CACHE_FRESH);
    CHECK_INT(pk_cache_get(cache, key_of(2), T0_MS + 5 * SECOND, &hit), PK_CACHE_STALE);
}

static void test_cache_configure_refuses_a_bad_config_and_keeps_the_old(void)
{
    uint8_t p[PK_PACKET_MAX];
    struct pk_cache_config bad;

    start_with_packet(p, 300);
    bad = cfg;
    bad.max_bytes = PK_CACHE_MIN_BYTES - 1;
    CHECK_INT(pk_cache_configure(cache, &bad), -EINVAL);
    bad = cfg;
    bad.prefetch_pct = 101;
    CHECK_INT(pk_cache_configure(cache, &bad), -EINVAL);
    CHECK_INT(pk_cache_get(cache, key_of(1), T0_MS + 299 * SECOND, &hit), PK_CACHE_FRESH);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_cache_unknown_key_is_a_miss),
        UNIT(test_cache_packet_is_fresh_for_its_smallest_ttl),
        UNIT(test_cache_hit_tells_the_packet_age),
        UNIT(test_cache_ttl_is_clamped_to_min_and_max),
        UNIT(test_cache_stale_answer_asks_for_one_refresh),
        UNIT(test_cache_refresh_result_makes_the_entry_fresh),
        UNIT(test_cache_stale_entry_expires_after_max_stale),
        UNIT(test_cache_not_found_is_remembered_briefly),
        UNIT(test_cache_not_found_does_not_replace_a_packet),
        UNIT(test_cache_packet_replaces_not_found),
        UNIT(test_cache_newer_timestamp_wins),
        UNIT(test_cache_packet_shows_the_cached_packet_and_counts_nothing),
        UNIT(test_cache_equal_timestamps_keep_the_larger_message),
        UNIT(test_cache_far_future_packet_never_displaces_a_sane_one),
        UNIT(test_cache_far_future_packet_is_kept_until_a_sane_one_comes),
        UNIT(test_cache_is_bounded_and_evicts_the_least_recently_used),
        UNIT(test_cache_popular_entry_asks_for_refresh_before_expiry),
        UNIT(test_cache_unpopular_entry_waits_for_expiry),
        UNIT(test_cache_prefetch_lists_popular_keys_near_expiry_once),
        UNIT(test_cache_refuses_bad_packets_and_configs),
        UNIT(test_cache_shrunk_by_configure_evicts_the_least_recently_used),
        UNIT(test_cache_configure_takes_new_ttl_bounds_for_new_packets),
        UNIT(test_cache_configure_refuses_a_bad_config_and_keeps_the_old),
    };
    int rc;

    if (sodium_init() < 0) {
        return 1;
    }
    rc = unit_run("pk_cache", tests, sizeof(tests) / sizeof(tests[0]));
    pk_cache_free(cache);
    return rc;
}
