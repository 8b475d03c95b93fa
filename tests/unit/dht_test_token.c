#include "dht_token.h"
#include "unit.h"

#include <sodium.h>

#define MINUTE_MS (60ull * 1000)

static const uint8_t ip4[] = {192, 0, 2, 1};
static const uint8_t ip4_other[] = {192, 0, 2, 2};
static const uint8_t ip6[] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};

static void test_token_accepts_token_just_made(void)
{
    struct dht_token tok;
    uint8_t token[DHT_TOKEN_LEN];

    dht_token_init(&tok, 0);
    dht_token_make(&tok, ip4, sizeof(ip4), 0, token);
    CHECK(dht_token_check(&tok, ip4, sizeof(ip4), token, sizeof(token), 0));
    CHECK(dht_token_check(&tok, ip4, sizeof(ip4), token, sizeof(token), 5 * MINUTE_MS - 1));
}

static void test_token_accepts_token_after_one_rotation(void)
{
    struct dht_token tok;
    uint8_t token[DHT_TOKEN_LEN], fresh[DHT_TOKEN_LEN];

    dht_token_init(&tok, 0);
    dht_token_make(&tok, ip4, sizeof(ip4), 4 * MINUTE_MS, token);
    CHECK(dht_token_check(&tok, ip4, sizeof(ip4), token, sizeof(token), 5 * MINUTE_MS));
    CHECK(dht_token_check(&tok, ip4, sizeof(ip4), token, sizeof(token), 10 * MINUTE_MS - 1));
    /* The secret did change: tokens made now differ. */
    dht_token_make(&tok, ip4, sizeof(ip4), 5 * MINUTE_MS, fresh);
    CHECK(memcmp(token, fresh, sizeof(token)) != 0);
}

static void test_token_rejects_token_after_two_rotations(void)
{
    struct dht_token tok;
    uint8_t token[DHT_TOKEN_LEN];

    dht_token_init(&tok, 0);
    dht_token_make(&tok, ip4, sizeof(ip4), 0, token);
    CHECK(dht_token_check(&tok, ip4, sizeof(ip4), token, sizeof(token), 5 * MINUTE_MS));
    CHECK(!dht_token_check(&tok, ip4, sizeof(ip4), token, sizeof(token), 10 * MINUTE_MS));
}

static void test_token_rejects_token_after_long_silence(void)
{
    struct dht_token tok;
    uint8_t token[DHT_TOKEN_LEN];

    /* No call during two whole periods: the jump must not keep the old secret as previous. */
    dht_token_init(&tok, 0);
    dht_token_make(&tok, ip4, sizeof(ip4), 0, token);
    CHECK(!dht_token_check(&tok, ip4, sizeof(ip4), token, sizeof(token), 60 * MINUTE_MS));
}

static void test_token_rejects_token_for_another_ip(void)
{
    struct dht_token tok;
    uint8_t token[DHT_TOKEN_LEN];

    dht_token_init(&tok, 0);
    dht_token_make(&tok, ip4, sizeof(ip4), 0, token);
    CHECK(!dht_token_check(&tok, ip4_other, sizeof(ip4_other), token, sizeof(token), 0));
    CHECK(!dht_token_check(&tok, ip6, sizeof(ip6), token, sizeof(token), 0));
}

static void test_token_binds_ipv6_addresses(void)
{
    struct dht_token tok;
    uint8_t token[DHT_TOKEN_LEN];

    dht_token_init(&tok, 0);
    dht_token_make(&tok, ip6, sizeof(ip6), 0, token);
    CHECK(dht_token_check(&tok, ip6, sizeof(ip6), token, sizeof(token), 0));
    CHECK(!dht_token_check(&tok, ip4, sizeof(ip4), token, sizeof(token), 0));
}

static void test_token_rejects_altered_or_short_token(void)
{
    struct dht_token tok;
    uint8_t token[DHT_TOKEN_LEN];

    dht_token_init(&tok, 0);
    dht_token_make(&tok, ip4, sizeof(ip4), 0, token);
    CHECK(!dht_token_check(&tok, ip4, sizeof(ip4), token, sizeof(token) - 1, 0));
    token[3] ^= 1;
    CHECK(!dht_token_check(&tok, ip4, sizeof(ip4), token, sizeof(token), 0));
}

static void test_token_secrets_differ_between_nodes(void)
{
    struct dht_token a, b;
    uint8_t token[DHT_TOKEN_LEN];

    dht_token_init(&a, 0);
    dht_token_init(&b, 0);
    dht_token_make(&a, ip4, sizeof(ip4), 0, token);
    CHECK(!dht_token_check(&b, ip4, sizeof(ip4), token, sizeof(token), 0));
}

static void test_token_survives_clock_going_back(void)
{
    struct dht_token tok;
    uint8_t token[DHT_TOKEN_LEN];

    dht_token_init(&tok, 10 * MINUTE_MS);
    dht_token_make(&tok, ip4, sizeof(ip4), 10 * MINUTE_MS, token);
    CHECK(dht_token_check(&tok, ip4, sizeof(ip4), token, sizeof(token), 9 * MINUTE_MS));
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_token_accepts_token_just_made),
        UNIT(test_token_accepts_token_after_one_rotation),
        UNIT(test_token_rejects_token_after_two_rotations),
        UNIT(test_token_rejects_token_after_long_silence),
        UNIT(test_token_rejects_token_for_another_ip),
        UNIT(test_token_binds_ipv6_addresses),
        UNIT(test_token_rejects_altered_or_short_token),
        UNIT(test_token_secrets_differ_between_nodes),
        UNIT(test_token_survives_clock_going_back),
    };

    if (sodium_init() < 0) {
        return 1;
    }
    return unit_run("dht_token", tests, sizeof(tests) / sizeof(tests[0]));
}
