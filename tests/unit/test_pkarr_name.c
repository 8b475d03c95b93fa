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
    };
    if (sodium_init() < 0) {
        return 1;
    }
    return unit_run("pkarr_name", tests, sizeof(tests) / sizeof(tests[0]));
}
