#include "dns_name.h"
#include "pkarr_name.h"
#include "unit.h"
#include "zbase32.h"

#include <errno.h>
#include <sodium.h>

/* Keys from the shared test data (vectors.md, "Keys and z-base32"). */
#define KEY_SEED0 "8pinxxgqs41n4aididenw5apqp1urfmzdztr8jt4abrkdn435ewo"
#define KEY_SEED0_HEX "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29"
#define KEY_YG4 "yg4gxe7z1r7mr6orids9fh95y7gxhdsxjqi6nngsxxtakqaxr5no"
#define KEY_CSJ "csjbhp9jpbomwh3m5eyrj1py41m8sjpkzzqmzpj5madsi7sc4mto"
#define KEY_CB7 "cb7xxx6wtqr5d6yqudkt47drqswxk57dzy3h7qj3udym5puy9cso"
#define KEY_8QH "8qhdp5s8jjmxmqam3bpg9kzeg7x8teztuwrfgxw5ikn9z5bt15uy"
#define NOT_A_KEY "c1bkg8tfsyy8wcedtmw4fwhdmm7bbzhgg3z58tf43m5ow8w9mbus"
#define NOT_A_KEY_PADDING_CLEARED "c1bkg8tfsyy8wcedtmw4fwhdmm7bbzhgg3z58tf43m5ow8w9mbuo"

static bool label_is_key(const char *text)
{
    return pkarr_name_label_key((const uint8_t *)text, strlen(text), NULL);
}

/* pkarr_name_find on a text name, with an optional text tld. */
static int find(const char *name, const char *tld, uint8_t *key)
{
    uint8_t wire[DNS_NAME_MAX], tld_wire[DNS_NAME_MAX];
    size_t len, tld_len = 0;

    CHECK_INT(dns_name_from_text(name, wire, &len), 0);
    if (tld != NULL) {
        CHECK_INT(dns_name_from_text(tld, tld_wire, &tld_len), 0);
    }
    return pkarr_name_find(wire, len, tld != NULL ? tld_wire : NULL, tld_len, key);
}

static void test_every_vector_key_is_a_key(void)
{
    CHECK(label_is_key(KEY_SEED0));
    CHECK(label_is_key(KEY_YG4));
    CHECK(label_is_key(KEY_CSJ));
    CHECK(label_is_key(KEY_CB7));
    CHECK(label_is_key(KEY_8QH));
}

static void test_keys_match_their_seeds(void)
{
    static const struct {
        const char *seed_hex, *key;
    } vectors[] = {
        {"0000000000000000000000000000000000000000000000000000000000000000", KEY_SEED0},
        {"c654c84bb8f2dd8a0fe9450d4aa483f68c191164412576c5e6a911d0ce655678", KEY_CSJ},
        {"f28a894f69039e6f6b48714ca931baa7c09bd1db9105291620b4e1e7a9acf682", KEY_CB7},
        {"292bbfb6a5bc1ec3f6d01a7c8e3fac1782d364ca41a1847497e9e3bc949dbb9a", KEY_8QH},
    };
    uint8_t seed[32], pk[32], sk[64], key[PKARR_KEY_LEN];

    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        CHECK_INT(unit_hex(vectors[i].seed_hex, seed, sizeof(seed)), 32);
        crypto_sign_seed_keypair(pk, sk, seed);
        CHECK(pkarr_name_label_key((const uint8_t *)vectors[i].key, PKARR_KEY_TEXT_LEN, key));
        CHECK_MEM(key, pk, 32);
    }
}

static void test_bep44_vector_key_is_a_key(void)
{
    uint8_t pk[32];
    char text[64];

    CHECK_INT(unit_hex("77ff84905a91936367c01360803104f92432fcd904a43511876df5cdf3e7e548", pk,
                       sizeof(pk)),
              32);
    CHECK_INT(zbase32_encode(pk, sizeof(pk), text, sizeof(text)), PKARR_KEY_TEXT_LEN);
    CHECK(label_is_key(text));
}

static void test_valid_alphabet_invalid_point_is_not_a_key(void)
{
    uint8_t bytes[32];

    CHECK(!label_is_key(NOT_A_KEY));
    CHECK_INT(find("www." NOT_A_KEY, NULL, NULL), -ENOENT);
    /* The vector's last character 's' (10110) also sets padding bits, so the decoder already
     * refuses it; with them cleared ('o', 10000) it decodes, and the curve check refuses it. */
    CHECK_INT(zbase32_decode(NOT_A_KEY, PKARR_KEY_TEXT_LEN, bytes, sizeof(bytes)), -EINVAL);
    CHECK_INT(zbase32_decode(NOT_A_KEY_PADDING_CLEARED, PKARR_KEY_TEXT_LEN, bytes, sizeof(bytes)),
              32);
    CHECK(!label_is_key(NOT_A_KEY_PADDING_CLEARED));
}

/* The verdicts are remembered per thread: asking again gives the same answer and the key. */
static void test_verdicts_asked_again_are_the_same(void)
{
    uint8_t key[PKARR_KEY_LEN], again[PKARR_KEY_LEN];

    for (int i = 0; i < 3; i++) {
        CHECK(!label_is_key(NOT_A_KEY_PADDING_CLEARED));
        memset(again, 0, sizeof(again));
        CHECK(pkarr_name_label_key((const uint8_t *)KEY_CSJ, PKARR_KEY_TEXT_LEN, again));
        if (i == 0) {
            memcpy(key, again, sizeof(key));
        }
        CHECK_MEM(again, key, sizeof(key));
        /* Upper case decodes to the same bytes, so it finds the same verdict. */
        CHECK(label_is_key("CSJBHP9JPBOMWH3M5EYRJ1PY41M8SJPKZZQMZPJ5MADSI7SC4MTO"));
    }
}

/* Two keys that differ only in the middle share a place in the table of verdicts; each keeps
 * its own verdict however they alternate. */
static void test_keys_sharing_a_memo_slot_keep_their_verdicts(void)
{
    uint8_t bytes[PKARR_KEY_LEN], changed[PKARR_KEY_LEN];
    char text[64], changed_text[64];

    CHECK_INT(zbase32_decode(KEY_CSJ, PKARR_KEY_TEXT_LEN, bytes, sizeof(bytes)), 32);
    memcpy(changed, bytes, sizeof(changed));
    changed[5] ^= 0x40;
    CHECK(crypto_core_ed25519_is_valid_point(changed) != 1);
    CHECK_INT(zbase32_encode(bytes, sizeof(bytes), text, sizeof(text)), PKARR_KEY_TEXT_LEN);
    CHECK_INT(zbase32_encode(changed, sizeof(changed), changed_text, sizeof(changed_text)),
              PKARR_KEY_TEXT_LEN);
    for (int i = 0; i < 3; i++) {
        CHECK(label_is_key(text));
        CHECK(!label_is_key(changed_text));
    }
}

static unsigned vouch_calls;

static bool vouch_for_all(void *user, const uint8_t key[PKARR_KEY_LEN])
{
    (void)key;
    vouch_calls++;
    return *(const bool *)user;
}

/* A key the caller vouches for skips the curve check; one it does not know still gets it. */
static void test_known_keys_skip_the_curve_check(void)
{
    bool yes = true, no = false;
    struct pkarr_known vouching = {vouch_for_all, &yes}, not_vouching = {vouch_for_all, &no};
    uint8_t key[PKARR_KEY_LEN];

    vouch_calls = 0;
    CHECK_INT(find("www." NOT_A_KEY_PADDING_CLEARED, NULL, NULL), -ENOENT);
    {
        uint8_t wire[DNS_NAME_MAX];
        size_t len;
        CHECK_INT(dns_name_from_text("www." NOT_A_KEY_PADDING_CLEARED, wire, &len), 0);
        CHECK_INT(pkarr_name_find_known(wire, len, NULL, 0, key, &vouching), 0);
        CHECK_INT(pkarr_name_find_known(wire, len, NULL, 0, key, &not_vouching), -ENOENT);
        CHECK_INT(dns_name_from_text(KEY_CSJ, wire, &len), 0);
        CHECK_INT(pkarr_name_find_known(wire, len, NULL, 0, key, &not_vouching), 0);
        /* A label that is not canonical z-base32 is never asked about. */
        CHECK_INT(dns_name_from_text(NOT_A_KEY, wire, &len), 0);
        CHECK_INT(pkarr_name_find_known(wire, len, NULL, 0, key, &vouching), -ENOENT);
    }
    CHECK_INT(vouch_calls, 3);
}

static void test_small_order_point_is_not_a_key(void)
{
    /* The identity point (y = 1) lies on the curve but has order 1; libsodium refuses it, and
     * would refuse to verify a signature by it, so pkarr names never use it here. */
    uint8_t identity[32] = {1};
    char text[64];

    CHECK_INT(zbase32_encode(identity, sizeof(identity), text, sizeof(text)), 52);
    CHECK(!label_is_key(text));
}

static void test_upper_and_mixed_case_keys_are_keys(void)
{
    uint8_t lower[PKARR_KEY_LEN], upper[PKARR_KEY_LEN];

    CHECK_INT(find(KEY_SEED0, NULL, lower), 0);
    CHECK_INT(find("8PINXXGQS41N4AIDIDENW5APQP1URFMZDZTR8JT4ABRKDN435EWO", NULL, upper), 0);
    CHECK_MEM(lower, upper, sizeof(lower));
    CHECK_INT(find("8PinXXgqs41n4aididenw5apqp1urfmzdztr8jt4abrkdn435EWO", NULL, NULL), 0);
}

static void test_51_and_53_character_labels_are_not_keys(void)
{
    CHECK(!label_is_key("8pinxxgqs41n4aididenw5apqp1urfmzdztr8jt4abrkdn435ew"));
    CHECK(!label_is_key("8pinxxgqs41n4aididenw5apqp1urfmzdztr8jt4abrkdn435ewoy"));
    CHECK(!label_is_key("y8pinxxgqs41n4aididenw5apqp1urfmzdztr8jt4abrkdn435ewo"));
    CHECK_INT(find("8pinxxgqs41n4aididenw5apqp1urfmzdztr8jt4abrkdn435ew", NULL, NULL), -ENOENT);
    CHECK_INT(find("www.8pinxxgqs41n4aididenw5apqp1urfmzdztr8jt4abrkdn435ewoy", NULL, NULL),
              -ENOENT);
}

static void test_nonzero_padding_bits_are_not_a_key(void)
{
    CHECK(!label_is_key("8pinxxgqs41n4aididenw5apqp1urfmzdztr8jt4abrkdn435ewe"));
}

static void test_letters_outside_the_alphabet_are_not_a_key(void)
{
    CHECK(!label_is_key("8pinxxgqs41n4aididenw5apqp1urfmzdztr8jt4abrkdn435ew0"));
    CHECK(!label_is_key("8pinxxgqs41n4aididenw5apqp1urfmzdztr8jt4abrkdn435-wo"));
}

static void test_subdomains_of_a_key_are_pkarr_names(void)
{
    uint8_t key[PKARR_KEY_LEN], want[PKARR_KEY_LEN];

    CHECK_INT(unit_hex(KEY_SEED0_HEX, want, sizeof(want)), 32);
    CHECK_INT(find("www." KEY_SEED0, NULL, key), 0);
    CHECK_MEM(key, want, sizeof(want));
    CHECK_INT(find("a.b.c." KEY_SEED0 ".", NULL, NULL), 0);
    CHECK_INT(find("_dnslink.WWW." KEY_CB7, NULL, NULL), 0);
}

static void test_key_before_com_is_not_a_pkarr_name_without_that_tld(void)
{
    CHECK_INT(find(KEY_SEED0 ".com", NULL, NULL), -ENOENT);
    CHECK_INT(find(KEY_SEED0 ".com", "key", NULL), -ENOENT);
    CHECK_INT(find("www." KEY_SEED0 ".com", "key", NULL), -ENOENT);
    CHECK_INT(find(KEY_SEED0 ".com", "com", NULL), 1);
}

static void test_key_before_the_tld_is_a_pkarr_name(void)
{
    uint8_t key[PKARR_KEY_LEN], want[PKARR_KEY_LEN];

    CHECK_INT(unit_hex(KEY_SEED0_HEX, want, sizeof(want)), 32);
    CHECK_INT(find(KEY_SEED0 ".key", "key", key), 1);
    CHECK_MEM(key, want, sizeof(want));
    CHECK_INT(find("www." KEY_SEED0 ".KEY", "key", NULL), 1);
    /* Without the tld configured, the same name is an ordinary one. */
    CHECK_INT(find("www." KEY_SEED0 ".key", NULL, NULL), -ENOENT);
    /* With it, the bare key still counts. */
    CHECK_INT(find("www." KEY_SEED0, "key", NULL), 0);
}

static void test_multi_label_tld_is_supported(void)
{
    CHECK_INT(find("www." KEY_CSJ ".pk.example", "pk.example", NULL), 2);
    CHECK_INT(find("www." KEY_CSJ ".example", "pk.example", NULL), -ENOENT);
}

static void test_tld_alone_and_root_are_not_pkarr_names(void)
{
    CHECK_INT(find("key", "key", NULL), -ENOENT);
    CHECK_INT(find(".", "key", NULL), -ENOENT);
    CHECK_INT(find(".", NULL, NULL), -ENOENT);
    CHECK_INT(find("example.com", NULL, NULL), -ENOENT);
}

/* ---- the router's check: a decodable point, no subgroup check ---- */

/* Curve25519's p = 2^255 - 19, little-endian. */
static void field_prime(uint8_t out[PKARR_KEY_LEN])
{
    memset(out, 0xff, PKARR_KEY_LEN);
    out[0] = 0xed;
    out[31] = 0x7f;
}

/* True when libsodium can decode the bytes as a point on the curve, whatever its order and
 * however it is spelled: crypto_core_ed25519_add checks only that. */
static bool sodium_decodes(const uint8_t key[PKARR_KEY_LEN])
{
    uint8_t sum[PKARR_KEY_LEN];

    return crypto_core_ed25519_add(sum, key, key) == 0;
}

/* pkarr_name_find_plausible on a text name. */
static int find_plausible(const char *name)
{
    uint8_t wire[DNS_NAME_MAX];
    size_t len;

    CHECK_INT(dns_name_from_text(name, wire, &len), 0);
    return pkarr_name_find_plausible(wire, len, NULL, 0, NULL);
}

static void test_every_vector_key_is_plausible(void)
{
    static const char *const keys[] = {KEY_SEED0, KEY_YG4, KEY_CSJ, KEY_CB7, KEY_8QH};
    uint8_t bytes[PKARR_KEY_LEN];
    char name[128];

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        CHECK_INT(zbase32_decode(keys[i], PKARR_KEY_TEXT_LEN, bytes, sizeof(bytes)), 32);
        CHECK(pkarr_name_key_plausible(bytes));
        snprintf(name, sizeof(name), "www.%s", keys[i]);
        CHECK_INT(find_plausible(name), 0);
    }
    CHECK_INT(unit_hex("77ff84905a91936367c01360803104f92432fcd904a43511876df5cdf3e7e548", bytes,
                       sizeof(bytes)),
              32);
    CHECK(pkarr_name_key_plausible(bytes));
}

static void test_point_that_does_not_decompress_is_not_plausible(void)
{
    uint8_t y2[PKARR_KEY_LEN] = {2}, vector[PKARR_KEY_LEN];

    /* y = 2: (y^2 - 1)/(d y^2 + 1) has no square root mod p. */
    CHECK(!sodium_decodes(y2));
    CHECK(!pkarr_name_key_plausible(y2));
    y2[31] |= 0x80;
    CHECK(!pkarr_name_key_plausible(y2));
    CHECK_INT(zbase32_decode(NOT_A_KEY_PADDING_CLEARED, PKARR_KEY_TEXT_LEN, vector, sizeof(vector)),
              32);
    CHECK(!sodium_decodes(vector));
    CHECK(!pkarr_name_key_plausible(vector));
    CHECK_INT(find_plausible("www." NOT_A_KEY_PADDING_CLEARED), -ENOENT);
}

/* The eight points of small order decode, with either sign bit, and are refused all the
 * same: 0 (order 4), 1 (the identity), p - 1 (order 2) and the two y of order 8. */
static void test_small_order_encodings_are_not_plausible(void)
{
    static const char *const order8_hex[] = {
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    };
    uint8_t ys[5][PKARR_KEY_LEN] = {{0}, {1}};

    field_prime(ys[2]);
    ys[2][0] -= 1; /* p - 1 */
    CHECK_INT(unit_hex(order8_hex[0], ys[3], PKARR_KEY_LEN), 32);
    CHECK_INT(unit_hex(order8_hex[1], ys[4], PKARR_KEY_LEN), 32);
    for (size_t i = 0; i < 5; i++) {
        for (int sign = 0; sign < 2; sign++) {
            ys[i][31] = (uint8_t)((ys[i][31] & 0x7f) | (sign << 7));
            CHECK(sodium_decodes(ys[i]));
            CHECK(crypto_core_ed25519_is_valid_point(ys[i]) != 1);
            CHECK(!pkarr_name_key_plausible(ys[i]));
        }
    }
}

/* p + 3 spells the point y = 3 non-canonically; libsodium decodes it, the check does not,
 * and no y at or above p passes. */
static void test_y_at_or_above_p_is_not_plausible(void)
{
    uint8_t y[PKARR_KEY_LEN], canonical[PKARR_KEY_LEN] = {3};

    CHECK(pkarr_name_key_plausible(canonical));
    field_prime(y);
    y[0] += 3;
    CHECK(sodium_decodes(y));
    CHECK(!pkarr_name_key_plausible(y));
    for (int above = 0; above < 19; above++) {
        field_prime(y);
        y[0] = (uint8_t)(y[0] + above);
        CHECK(!pkarr_name_key_plausible(y));
        y[31] |= 0x80;
        CHECK(!pkarr_name_key_plausible(y));
    }
}

/* Every key libsodium accepts is plausible, and a plausible key libsodium refuses lies
 * outside the prime-order subgroup: it is Q + T, T of small order. Then 8 times it, which
 * takes T away, is a valid point. On random bytes (half of them decode) this is common. */
static void test_plausible_check_agrees_with_libsodium_on_random_keys(void)
{
    uint8_t key[PKARR_KEY_LEN], twice[PKARR_KEY_LEN], eight[PKARR_KEY_LEN];
    unsigned plausible = 0, valid = 0;

    for (int i = 0; i < 4000; i++) {
        randombytes_buf(key, sizeof(key));
        bool is_plausible = pkarr_name_key_plausible(key);
        bool is_valid = crypto_core_ed25519_is_valid_point(key) == 1;
        plausible += is_plausible;
        valid += is_valid;
        CHECK(is_plausible == sodium_decodes(key));
        CHECK(!is_valid || is_plausible);
        if (is_plausible && !is_valid) {
            CHECK_INT(crypto_core_ed25519_add(twice, key, key), 0);
            CHECK_INT(crypto_core_ed25519_add(twice, twice, twice), 0);
            CHECK_INT(crypto_core_ed25519_add(eight, twice, twice), 0);
            CHECK(crypto_core_ed25519_is_valid_point(eight) == 1);
        }
    }
    /* About half decode, and one in eight of those is in the subgroup. */
    CHECK(plausible > 1700 && plausible < 2300);
    CHECK(valid > 150 && valid < 350);
}

/* A key plus the point of order 2 is no key for pkdns, but a plausible one for the router;
 * each verdict stays what it is however the two checks alternate on it. */
static void test_key_with_a_small_order_component_is_plausible_but_not_a_key(void)
{
    uint8_t key[PKARR_KEY_LEN], order2[PKARR_KEY_LEN], mixed[PKARR_KEY_LEN];
    uint8_t wire[DNS_NAME_MAX];
    char text[64];
    size_t len;

    CHECK_INT(zbase32_decode(KEY_CSJ, PKARR_KEY_TEXT_LEN, key, sizeof(key)), 32);
    field_prime(order2);
    order2[0] -= 1; /* y = p - 1: (0, -1) */
    CHECK_INT(crypto_core_ed25519_add(mixed, key, order2), 0);
    CHECK(crypto_core_ed25519_is_valid_point(mixed) != 1);
    CHECK(pkarr_name_key_plausible(mixed));
    CHECK_INT(zbase32_encode(mixed, sizeof(mixed), text, sizeof(text)), PKARR_KEY_TEXT_LEN);
    CHECK_INT(dns_name_from_text(text, wire, &len), 0);
    for (int i = 0; i < 3; i++) {
        CHECK_INT(pkarr_name_find_plausible(wire, len, NULL, 0, NULL), 0);
        CHECK_INT(pkarr_name_find(wire, len, NULL, 0, NULL), -ENOENT);
    }
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_every_vector_key_is_a_key),
        UNIT(test_keys_match_their_seeds),
        UNIT(test_bep44_vector_key_is_a_key),
        UNIT(test_valid_alphabet_invalid_point_is_not_a_key),
        UNIT(test_verdicts_asked_again_are_the_same),
        UNIT(test_known_keys_skip_the_curve_check),
        UNIT(test_keys_sharing_a_memo_slot_keep_their_verdicts),
        UNIT(test_small_order_point_is_not_a_key),
        UNIT(test_upper_and_mixed_case_keys_are_keys),
        UNIT(test_51_and_53_character_labels_are_not_keys),
        UNIT(test_nonzero_padding_bits_are_not_a_key),
        UNIT(test_letters_outside_the_alphabet_are_not_a_key),
        UNIT(test_subdomains_of_a_key_are_pkarr_names),
        UNIT(test_key_before_com_is_not_a_pkarr_name_without_that_tld),
        UNIT(test_key_before_the_tld_is_a_pkarr_name),
        UNIT(test_multi_label_tld_is_supported),
        UNIT(test_tld_alone_and_root_are_not_pkarr_names),
        UNIT(test_every_vector_key_is_plausible),
        UNIT(test_point_that_does_not_decompress_is_not_plausible),
        UNIT(test_small_order_encodings_are_not_plausible),
        UNIT(test_y_at_or_above_p_is_not_plausible),
        UNIT(test_plausible_check_agrees_with_libsodium_on_random_keys),
        UNIT(test_key_with_a_small_order_component_is_plausible_but_not_a_key),
    };
    if (sodium_init() < 0) {
        return 1;
    }
    return unit_run("pkarr_name", tests, sizeof(tests) / sizeof(tests[0]));
}
