#include "dns_cache.h"
#include "unit.h"

#include <errno.h>
#include <stdbool.h>

/* A response to "example.com. A IN" with two A records: TTL 300 at offset 35 and TTL 5 at
 * offset 51. The cache does not parse it; the offsets are what a parser would hand over. */
static const char example_hex[] = "1234 8180 0001 0002 0000 0000"
                                  "07 6578616d706c65 03 636f6d 00 0001 0001"
                                  "c00c 0001 0001 0000012c 0004 5db8d822"
                                  "c00c 0001 0001 00000005 0004 5db8d823";
static const uint16_t example_ttl_offsets[] = {35, 51};
#define EXAMPLE_LEN 61
#define EXAMPLE_N_TTL 2
#define LONG_TTL_AT 35
#define SHORT_TTL_AT 51

static uint8_t example[EXAMPLE_LEN];

static void example_load(void)
{
    CHECK_INT(unit_hex(example_hex, example, sizeof(example)), EXAMPLE_LEN);
}

static uint32_t read_ttl(const uint8_t *msg, size_t offset)
{
    return (uint32_t)msg[offset] << 24 | (uint32_t)msg[offset + 1] << 16 |
           (uint32_t)msg[offset + 2] << 8 | (uint32_t)msg[offset + 3];
}

static struct dns_cache *cache_with(size_t max_bytes, uint32_t max_stale_s)
{
    struct dns_cache_config cfg = {
        .max_bytes = max_bytes, .max_stale_s = max_stale_s, .stale_answer_ttl_s = 30};
    struct dns_cache *c = NULL;

    example_load();
    CHECK_INT(dns_cache_new(&cfg, &c), 0);
    return c;
}

static const uint8_t *key_of(const char *text)
{
    return (const uint8_t *)text;
}

/* Stores the example answer under a text key. */
static int put_example(struct dns_cache *c, const char *key, uint32_t lifetime_s, uint64_t now_ms)
{
    return dns_cache_put(c, key_of(key), strlen(key), example, EXAMPLE_LEN, example_ttl_offsets,
                         EXAMPLE_N_TTL, lifetime_s, now_ms);
}

static int get_text(struct dns_cache *c, const char *key, uint64_t now_ms, unsigned flags,
                    uint8_t *out, size_t cap, bool *stale)
{
    return dns_cache_get(c, key_of(key), strlen(key), now_ms, flags, out, cap, stale);
}

static bool holds(const struct dns_cache *c, const char *key, uint64_t now_ms)
{
    return dns_cache_ttl_left_ms(c, key_of(key), strlen(key), now_ms) > 0;
}

static struct dns_cache_stats stats_of(const struct dns_cache *c)
{
    struct dns_cache_stats s;
    dns_cache_stats(c, &s);
    return s;
}

static void test_cache_returns_stored_bytes_at_age_zero(void)
{
    struct dns_cache *c = cache_with(1 << 20, 0);
    uint8_t out[512];
    bool stale = true;

    CHECK_INT(put_example(c, "example.com/A", 300, 1000), 0);
    CHECK_INT(get_text(c, "example.com/A", 1000, 0, out, sizeof(out), &stale), EXAMPLE_LEN);
    CHECK_MEM(out, example, EXAMPLE_LEN);
    CHECK(!stale);
    dns_cache_free(c);
}

static void test_cache_counts_ttl_down_by_whole_elapsed_seconds(void)
{
    struct dns_cache *c = cache_with(1 << 20, 0);
    uint8_t out[512];

    CHECK_INT(put_example(c, "example.com/A", 300, 0), 0);
    CHECK_INT(get_text(c, "example.com/A", 999, 0, out, sizeof(out), NULL), EXAMPLE_LEN);
    CHECK_INT(read_ttl(out, LONG_TTL_AT), 300);
    CHECK_INT(get_text(c, "example.com/A", 1000, 0, out, sizeof(out), NULL), EXAMPLE_LEN);
    CHECK_INT(read_ttl(out, LONG_TTL_AT), 299);
    CHECK_INT(get_text(c, "example.com/A", 1500, 0, out, sizeof(out), NULL), EXAMPLE_LEN);
    CHECK_INT(read_ttl(out, LONG_TTL_AT), 299);
    CHECK_INT(get_text(c, "example.com/A", 299900, 0, out, sizeof(out), NULL), EXAMPLE_LEN);
    CHECK_INT(read_ttl(out, LONG_TTL_AT), 1);
    dns_cache_free(c);
}

static void test_cache_ttl_stops_at_zero(void)
{
    struct dns_cache *c = cache_with(1 << 20, 0);
    uint8_t out[512];

    CHECK_INT(put_example(c, "example.com/A", 300, 0), 0);
    CHECK_INT(get_text(c, "example.com/A", 4999, 0, out, sizeof(out), NULL), EXAMPLE_LEN);
    CHECK_INT(read_ttl(out, SHORT_TTL_AT), 1);
    CHECK_INT(get_text(c, "example.com/A", 5000, 0, out, sizeof(out), NULL), EXAMPLE_LEN);
    CHECK_INT(read_ttl(out, SHORT_TTL_AT), 0);
    CHECK_INT(get_text(c, "example.com/A", 10000, 0, out, sizeof(out), NULL), EXAMPLE_LEN);
    CHECK_INT(read_ttl(out, SHORT_TTL_AT), 0);
    CHECK_INT(read_ttl(out, LONG_TTL_AT), 290);
    dns_cache_free(c);
}

static void test_cache_clock_before_store_counts_as_age_zero(void)
{
    struct dns_cache *c = cache_with(1 << 20, 0);
    uint8_t out[512];

    CHECK_INT(put_example(c, "example.com/A", 300, 50000), 0);
    CHECK_INT(get_text(c, "example.com/A", 40000, 0, out, sizeof(out), NULL), EXAMPLE_LEN);
    CHECK_MEM(out, example, EXAMPLE_LEN);
    dns_cache_free(c);
}

static void test_cache_entry_expires_at_lifetime(void)
{
    struct dns_cache *c = cache_with(1 << 20, 0);
    uint8_t out[512];

    CHECK_INT(put_example(c, "example.com/A", 300, 0), 0);
    CHECK_INT(dns_cache_ttl_left_ms(c, key_of("example.com/A"), 13, 0), 300000);
    CHECK_INT(dns_cache_ttl_left_ms(c, key_of("example.com/A"), 13, 299999), 1);
    CHECK_INT(get_text(c, "example.com/A", 299999, 0, out, sizeof(out), NULL), EXAMPLE_LEN);
    CHECK_INT(dns_cache_ttl_left_ms(c, key_of("example.com/A"), 13, 300000), 0);
    CHECK_INT(get_text(c, "example.com/A", 300000, 0, out, sizeof(out), NULL), -ENOENT);
    dns_cache_free(c);
}

static void test_cache_ttl_left_of_absent_key_is_zero(void)
{
    struct dns_cache *c = cache_with(1 << 20, 0);

    CHECK_INT(dns_cache_ttl_left_ms(c, key_of("absent"), 6, 0), 0);
    dns_cache_free(c);
}

static void test_cache_serves_expired_entry_only_with_stale_flag(void)
{
    struct dns_cache *c = cache_with(1 << 20, 100);
    uint8_t out[512];
    bool stale = false;

    CHECK_INT(put_example(c, "example.com/A", 300, 0), 0);
    CHECK_INT(get_text(c, "example.com/A", 300000, 0, out, sizeof(out), &stale), -ENOENT);
    CHECK(!stale);
    CHECK_INT(get_text(c, "example.com/A", 300000, DNS_CACHE_STALE_OK, out, sizeof(out), &stale),
              EXAMPLE_LEN);
    CHECK(stale);
    CHECK_INT(read_ttl(out, LONG_TTL_AT), 30);
    CHECK_INT(read_ttl(out, SHORT_TTL_AT), 30);
    CHECK_MEM(out, example, LONG_TTL_AT);
    dns_cache_free(c);
}

static void test_cache_serves_stale_only_within_max_stale(void)
{
    struct dns_cache *c = cache_with(1 << 20, 100);
    uint8_t out[512];
    bool stale = false;

    CHECK_INT(put_example(c, "example.com/A", 300, 0), 0);
    CHECK_INT(get_text(c, "example.com/A", 399999, DNS_CACHE_STALE_OK, out, sizeof(out), &stale),
              EXAMPLE_LEN);
    CHECK(stale);
    CHECK_INT(get_text(c, "example.com/A", 400000, DNS_CACHE_STALE_OK, out, sizeof(out), &stale),
              -ENOENT);
    CHECK(!stale);
    CHECK_INT(stats_of(c).entries, 0);
    CHECK_INT(stats_of(c).expired, 1);
    dns_cache_free(c);
}

static void test_cache_without_max_stale_never_serves_stale(void)
{
    struct dns_cache *c = cache_with(1 << 20, 0);
    uint8_t out[512];

    CHECK_INT(put_example(c, "example.com/A", 300, 0), 0);
    CHECK_INT(get_text(c, "example.com/A", 300000, DNS_CACHE_STALE_OK, out, sizeof(out), NULL),
              -ENOENT);
    CHECK_INT(stats_of(c).entries, 0);
    dns_cache_free(c);
}

static void test_cache_fresh_entry_read_with_stale_flag_is_fresh(void)
{
    struct dns_cache *c = cache_with(1 << 20, 100);
    uint8_t out[512];
    bool stale = true;

    CHECK_INT(put_example(c, "example.com/A", 300, 0), 0);
    CHECK_INT(get_text(c, "example.com/A", 2000, DNS_CACHE_STALE_OK, out, sizeof(out), &stale),
              EXAMPLE_LEN);
    CHECK(!stale);
    CHECK_INT(read_ttl(out, LONG_TTL_AT), 298);
    dns_cache_free(c);
}

static void test_cache_put_replaces_entry_under_same_key(void)
{
    struct dns_cache *c = cache_with(1 << 20, 0);
    struct dns_cache *only_second = cache_with(1 << 20, 0);
    static const uint16_t first_ttl[] = {35};
    uint8_t out[512];

    /* The second answer is the first 45 bytes of the example: one record. */
    CHECK_INT(put_example(c, "example.com/A", 300, 0), 0);
    CHECK_INT(dns_cache_put(c, key_of("example.com/A"), 13, example, 45, first_ttl, 1, 60, 0), 0);
    CHECK_INT(
        dns_cache_put(only_second, key_of("example.com/A"), 13, example, 45, first_ttl, 1, 60, 0),
        0);

    CHECK_INT(get_text(c, "example.com/A", 0, 0, out, sizeof(out), NULL), 45);
    CHECK_INT(dns_cache_ttl_left_ms(c, key_of("example.com/A"), 13, 0), 60000);
    CHECK_INT(stats_of(c).entries, 1);
    CHECK_INT(stats_of(c).bytes, stats_of(only_second).bytes);
    dns_cache_free(c);
    dns_cache_free(only_second);
}

static size_t varied_msg_len(int i)
{
    return 20 + (size_t)(i * 7) % 380;
}

static void test_cache_stays_within_max_bytes(void)
{
    struct dns_cache *c = cache_with(16384, 0);
    uint8_t msg[400] = {0};
    static const uint16_t ttl_at[] = {0, 10};
    bool always_within = true;
    size_t held = 0, held_payload_bytes = 0;
    char key[32];

    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof(key), "name-%d.example/A", i);
        CHECK_INT(
            dns_cache_put(c, key_of(key), strlen(key), msg, varied_msg_len(i), ttl_at, 2, 300, 0),
            0);
        always_within = always_within && stats_of(c).bytes <= 16384;
    }
    CHECK(always_within);
    CHECK(stats_of(c).evictions > 0);
    CHECK(holds(c, key, 0));

    /* What is counted covers at least the keys and messages of the entries still held. */
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof(key), "name-%d.example/A", i);
        if (holds(c, key, 0)) {
            held++;
            held_payload_bytes += strlen(key) + varied_msg_len(i);
        }
    }
    CHECK_INT(stats_of(c).entries, held);
    CHECK(held > 10);
    CHECK(held_payload_bytes <= stats_of(c).bytes);
    dns_cache_free(c);
}

static void test_cache_evicts_least_recently_used_first(void)
{
    struct dns_cache *c = cache_with(8192, 0);
    char key[32], oldest[32], next_oldest[32];
    uint8_t out[512];
    int n = 0, first;

    /* Every key is 8 bytes, so every entry has the same size and, once the cache is full,
     * each put evicts exactly one. Fill until the first eviction, then find the two oldest
     * entries still held. */
    while (stats_of(c).evictions == 0) {
        snprintf(key, sizeof(key), "fill-%03d", n++);
        CHECK_INT(put_example(c, key, 300, 0), 0);
    }
    for (first = 0; first < n; first++) {
        snprintf(oldest, sizeof(oldest), "fill-%03d", first);
        if (holds(c, oldest, 0)) {
            break;
        }
    }
    snprintf(next_oldest, sizeof(next_oldest), "fill-%03d", first + 1);
    CHECK(holds(c, next_oldest, 0));

    CHECK_INT(get_text(c, oldest, 0, 0, out, sizeof(out), NULL), EXAMPLE_LEN);
    CHECK_INT(put_example(c, "newc-000", 300, 0), 0);
    CHECK(holds(c, oldest, 0));
    CHECK(!holds(c, next_oldest, 0));
    dns_cache_free(c);
}

static void test_cache_evicts_expired_entry_before_least_recently_used(void)
{
    struct dns_cache *c = cache_with(8192, 0);
    struct dns_cache_stats before;
    char key[32], oldest[32];
    int n = 0, first;

    while (stats_of(c).evictions == 0) {
        snprintf(key, sizeof(key), "fill-%03d", n++);
        CHECK_INT(put_example(c, key, 300, 0), 0);
    }
    CHECK_INT(put_example(c, "shrt-000", 1, 0), 0);
    for (first = 0; first < n; first++) {
        snprintf(oldest, sizeof(oldest), "fill-%03d", first);
        if (holds(c, oldest, 0)) {
            break;
        }
    }

    before = stats_of(c);
    CHECK_INT(put_example(c, "newc-000", 300, 2000), 0);
    CHECK_INT(stats_of(c).expired, before.expired + 1);
    CHECK_INT(stats_of(c).evictions, before.evictions);
    CHECK(holds(c, oldest, 2000));
    CHECK_INT(stats_of(c).entries, before.entries);
    dns_cache_free(c);
}

static void test_cache_refuses_entry_over_quarter_of_max_bytes(void)
{
    struct dns_cache *c = cache_with(4096, 0);
    uint8_t msg[1024] = {0};

    CHECK_INT(dns_cache_put(c, key_of("big"), 3, msg, 1024, NULL, 0, 300, 0), -E2BIG);
    CHECK_INT(stats_of(c).entries, 0);
    CHECK_INT(dns_cache_put(c, key_of("fits"), 4, msg, 512, NULL, 0, 300, 0), 0);
    dns_cache_free(c);
}

static void test_cache_refuses_ttl_offset_beyond_message(void)
{
    struct dns_cache *c = cache_with(1 << 20, 0);
    static const uint16_t last_fits[] = {57};
    static const uint16_t one_past[] = {58};

    CHECK_INT(dns_cache_put(c, key_of("k"), 1, example, EXAMPLE_LEN, one_past, 1, 300, 0), -EINVAL);
    CHECK_INT(stats_of(c).entries, 0);
    CHECK_INT(dns_cache_put(c, key_of("k"), 1, example, EXAMPLE_LEN, last_fits, 1, 300, 0), 0);
    dns_cache_free(c);
}

static void test_cache_refuses_unordered_or_overlapping_ttl_offsets(void)
{
    struct dns_cache *c = cache_with(1 << 20, 0);
    static const uint16_t unordered[] = {51, 35};
    static const uint16_t overlapping[] = {35, 38};
    static const uint16_t adjacent[] = {35, 39};

    CHECK_INT(dns_cache_put(c, key_of("k"), 1, example, EXAMPLE_LEN, unordered, 2, 300, 0),
              -EINVAL);
    CHECK_INT(dns_cache_put(c, key_of("k"), 1, example, EXAMPLE_LEN, overlapping, 2, 300, 0),
              -EINVAL);
    CHECK_INT(dns_cache_put(c, key_of("k"), 1, example, EXAMPLE_LEN, adjacent, 2, 300, 0), 0);
    dns_cache_free(c);
}

static void test_cache_refuses_bad_key_or_message_lengths(void)
{
    struct dns_cache *c = cache_with(1 << 20, 0);
    uint8_t long_key[DNS_CACHE_KEY_MAX + 1] = {0};
    uint8_t out[512];

    CHECK_INT(dns_cache_put(c, long_key, 0, example, EXAMPLE_LEN, NULL, 0, 300, 0), -EINVAL);
    CHECK_INT(dns_cache_put(c, long_key, sizeof(long_key), example, EXAMPLE_LEN, NULL, 0, 300, 0),
              -EINVAL);
    CHECK_INT(dns_cache_put(c, key_of("k"), 1, example, 0, NULL, 0, 300, 0), -EINVAL);
    CHECK_INT(dns_cache_put(c, key_of("k"), 1, NULL, EXAMPLE_LEN, NULL, 0, 300, 0), -EINVAL);
    CHECK_INT(dns_cache_put(c, long_key, DNS_CACHE_KEY_MAX, example, EXAMPLE_LEN, NULL, 0, 300, 0),
              0);
    CHECK_INT(dns_cache_get(c, long_key, sizeof(long_key), 0, 0, out, sizeof(out), NULL), -EINVAL);
    dns_cache_free(c);
}

static void test_cache_get_reports_enospc_for_small_buffer(void)
{
    struct dns_cache *c = cache_with(1 << 20, 0);
    uint8_t out[EXAMPLE_LEN];

    CHECK_INT(put_example(c, "example.com/A", 300, 0), 0);
    CHECK_INT(get_text(c, "example.com/A", 0, 0, out, EXAMPLE_LEN - 1, NULL), -ENOSPC);
    CHECK_INT(stats_of(c).hits, 0);
    CHECK_INT(get_text(c, "example.com/A", 0, 0, out, EXAMPLE_LEN, NULL), EXAMPLE_LEN);
    dns_cache_free(c);
}

static void test_cache_keys_differing_in_length_or_bytes_do_not_collide(void)
{
    struct dns_cache *c = cache_with(1 << 20, 0);
    static const char *const keys[] = {"ab", "abc", "ba", "AB", "a"};
    static const uint8_t ab_nul[] = {'a', 'b', 0};
    uint8_t msg[1], out[8];

    for (uint8_t i = 0; i < 5; i++) {
        msg[0] = i;
        CHECK_INT(dns_cache_put(c, key_of(keys[i]), strlen(keys[i]), msg, 1, NULL, 0, 300, 0), 0);
    }
    msg[0] = 5;
    CHECK_INT(dns_cache_put(c, ab_nul, sizeof(ab_nul), msg, 1, NULL, 0, 300, 0), 0);

    CHECK_INT(stats_of(c).entries, 6);
    for (uint8_t i = 0; i < 5; i++) {
        CHECK_INT(get_text(c, keys[i], 0, 0, out, sizeof(out), NULL), 1);
        CHECK_INT(out[0], i);
    }
    CHECK_INT(dns_cache_get(c, ab_nul, sizeof(ab_nul), 0, 0, out, sizeof(out), NULL), 1);
    CHECK_INT(out[0], 5);
    dns_cache_free(c);
}

static void test_cache_finds_every_key_after_table_growth(void)
{
    struct dns_cache *c = cache_with(4 << 20, 0);
    uint8_t msg[4], out[8];
    bool all_found = true;
    char key[32];

    for (uint32_t i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "host-%u.example/AAAA", i);
        memcpy(msg, &i, sizeof(i));
        CHECK_INT(dns_cache_put(c, key_of(key), strlen(key), msg, 4, NULL, 0, 300, 0), 0);
    }
    for (uint32_t i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "host-%u.example/AAAA", i);
        all_found = all_found && get_text(c, key, 0, 0, out, sizeof(out), NULL) == 4 &&
                    memcmp(out, &i, sizeof(i)) == 0;
    }
    CHECK(all_found);
    CHECK_INT(stats_of(c).entries, 5000);
    CHECK_INT(stats_of(c).evictions, 0);
    dns_cache_free(c);
}

static void test_cache_clear_drops_entries_and_returns_memory(void)
{
    struct dns_cache *c = cache_with(1 << 20, 0);
    uint64_t empty_bytes = stats_of(c).bytes;
    uint8_t out[512];
    char key[32];

    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "name-%d", i);
        CHECK_INT(put_example(c, key, 300, 0), 0);
    }
    dns_cache_clear(c);
    CHECK_INT(stats_of(c).entries, 0);
    CHECK_INT(stats_of(c).bytes, empty_bytes);
    CHECK_INT(get_text(c, "name-0", 0, 0, out, sizeof(out), NULL), -ENOENT);
    CHECK_INT(put_example(c, "name-0", 300, 0), 0);
    CHECK_INT(get_text(c, "name-0", 0, 0, out, sizeof(out), NULL), EXAMPLE_LEN);
    dns_cache_free(c);
}

static void test_cache_counts_hits_misses_stale_hits_and_inserts(void)
{
    struct dns_cache *c = cache_with(1 << 20, 100);
    struct dns_cache_stats s;
    uint8_t out[512];

    CHECK_INT(put_example(c, "a", 300, 0), 0);
    CHECK_INT(put_example(c, "a", 300, 0), 0);
    CHECK_INT(put_example(c, "b", 300, 0), 0);
    CHECK_INT(get_text(c, "a", 0, 0, out, sizeof(out), NULL), EXAMPLE_LEN);
    CHECK_INT(get_text(c, "a", 1000, 0, out, sizeof(out), NULL), EXAMPLE_LEN);
    CHECK_INT(get_text(c, "absent", 0, 0, out, sizeof(out), NULL), -ENOENT);
    CHECK_INT(get_text(c, "b", 300000, 0, out, sizeof(out), NULL), -ENOENT);
    CHECK_INT(get_text(c, "b", 300000, DNS_CACHE_STALE_OK, out, sizeof(out), NULL), EXAMPLE_LEN);

    dns_cache_stats(c, &s);
    CHECK_INT(s.entries, 2);
    CHECK_INT(s.inserts, 3);
    CHECK_INT(s.hits, 2);
    CHECK_INT(s.misses, 2);
    CHECK_INT(s.stale_hits, 1);
    CHECK_INT(s.evictions, 0);
    CHECK_INT(s.expired, 0);
    dns_cache_free(c);
}

static void test_cache_new_refuses_max_bytes_below_minimum(void)
{
    struct dns_cache_config cfg = {.max_bytes = DNS_CACHE_MIN_BYTES - 1};
    struct dns_cache *c = NULL;

    CHECK_INT(dns_cache_new(&cfg, &c), -EINVAL);
    CHECK(c == NULL);
    dns_cache_free(NULL);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_cache_returns_stored_bytes_at_age_zero),
        UNIT(test_cache_counts_ttl_down_by_whole_elapsed_seconds),
        UNIT(test_cache_ttl_stops_at_zero),
        UNIT(test_cache_clock_before_store_counts_as_age_zero),
        UNIT(test_cache_entry_expires_at_lifetime),
        UNIT(test_cache_ttl_left_of_absent_key_is_zero),
        UNIT(test_cache_serves_expired_entry_only_with_stale_flag),
        UNIT(test_cache_serves_stale_only_within_max_stale),
        UNIT(test_cache_without_max_stale_never_serves_stale),
        UNIT(test_cache_fresh_entry_read_with_stale_flag_is_fresh),
        UNIT(test_cache_put_replaces_entry_under_same_key),
        UNIT(test_cache_stays_within_max_bytes),
        UNIT(test_cache_evicts_least_recently_used_first),
        UNIT(test_cache_evicts_expired_entry_before_least_recently_used),
        UNIT(test_cache_refuses_entry_over_quarter_of_max_bytes),
        UNIT(test_cache_refuses_ttl_offset_beyond_message),
        UNIT(test_cache_refuses_unordered_or_overlapping_ttl_offsets),
        UNIT(test_cache_refuses_bad_key_or_message_lengths),
        UNIT(test_cache_get_reports_enospc_for_small_buffer),
        UNIT(test_cache_keys_differing_in_length_or_bytes_do_not_collide),
        UNIT(test_cache_finds_every_key_after_table_growth),
        UNIT(test_cache_clear_drops_entries_and_returns_memory),
        UNIT(test_cache_counts_hits_misses_stale_hits_and_inserts),
        UNIT(test_cache_new_refuses_max_bytes_below_minimum),
    };
    return unit_run("dns_cache", tests, sizeof(tests) / sizeof(tests[0]));
}
