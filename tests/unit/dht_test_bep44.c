#include "bep44.h"
#include "unit.h"

#include <errno.h>
#include <sodium.h>

/* The BEP 44 vectors published with libtorrent's test suite: one key, v = "Hello World!",
 * seq 1, without and with the salt "foobar". */
static const char lt_key_hex[] = "77ff84905a91936367c01360803104f92432fcd904a43511876df5cdf3e7e548";
static const char lt_sig1_hex[] =
    "305ac8aeb6c9c151fa120f120ea2cfb923564e11552d06a5d856091e5e853cff"
    "1260d3f39e4999684aa92eb73ffd136e6f4f3ecbfda0ce53a1608ecd7ae21f01";
static const char lt_sig2_hex[] =
    "6834284b6b24c3204eb2fea824d82f88883a3d95e8b4a21b8c0ded553d17d17d"
    "df9a8a7104b1258f30bed3787e6cb896fca78c58f8e03b5f18f14951a87d9a08";
static const uint8_t hello[] = "12:Hello World!";
#define HELLO_LEN (sizeof(hello) - 1)
static const uint8_t foobar[] = "foobar";

/* A packet the JavaScript pkarr published: key from the all-zero seed, seq = its timestamp,
 * v = a 152-byte DNS message. */
static const char pkarr_sig_hex[] =
    "c45d1577e6c0d7fe24d1cd6696776a25628b438ffa10b1419dfdede3c51f8577"
    "d8447d44df4523fa43f574d6f13a65433fa828eb280065c271fcdcaef5365c01";
static const int64_t pkarr_seq = 1697016827303000;
static const char pkarr_msg_hex[] =
    "000080000000000200000000343870696e787867717334316e34616964696465"
    "6e773561707170317572666d7a647a7472386a74346162726b646e3433356577"
    "6f00000100010000000000040101010103666f6f343870696e78786771733431"
    "6e346169646964656e773561707170317572666d7a647a7472386a7434616272"
    "6b646e34333565776f00001000010000001e000403626172";

static void from_hex(const char *hex, uint8_t *out, size_t len)
{
    CHECK_INT(unit_hex(hex, out, len), (int)len);
}

static void test_bep44_signed_string_without_salt(void)
{
    const char *expected = "3:seqi1e1:v12:Hello World!";
    uint8_t buf[BEP44_SIGNED_MAX];
    size_t len = 0;

    CHECK_INT(bep44_signed_string(NULL, 0, 1, hello, HELLO_LEN, buf, sizeof(buf), &len), 0);
    CHECK_INT(len, strlen(expected));
    CHECK_MEM(buf, expected, len);
}

static void test_bep44_signed_string_with_salt(void)
{
    const char *expected = "4:salt6:foobar3:seqi1e1:v12:Hello World!";
    uint8_t buf[BEP44_SIGNED_MAX];
    size_t len = 0;

    CHECK_INT(bep44_signed_string(foobar, 6, 1, hello, HELLO_LEN, buf, sizeof(buf), &len), 0);
    CHECK_INT(len, strlen(expected));
    CHECK_MEM(buf, expected, len);
}

static void test_bep44_signed_string_leaves_out_empty_salt(void)
{
    const char *expected = "3:seqi-2e1:vi5e";
    uint8_t buf[BEP44_SIGNED_MAX];
    size_t len = 0;

    CHECK_INT(bep44_signed_string(foobar, 0, -2, (const uint8_t *)"i5e", 3, buf, sizeof(buf), &len),
              0);
    CHECK_INT(len, strlen(expected));
    CHECK_MEM(buf, expected, len);
}

static void test_bep44_signed_string_refuses_oversized_input(void)
{
    static uint8_t big[BEP44_VALUE_MAX + 1];
    uint8_t buf[BEP44_SIGNED_MAX];
    size_t len;

    CHECK_INT(
        bep44_signed_string(big, BEP44_SALT_MAX + 1, 1, hello, HELLO_LEN, buf, sizeof(buf), &len),
        -EMSGSIZE);
    CHECK_INT(bep44_signed_string(NULL, 0, 1, big, sizeof(big), buf, sizeof(buf), &len), -EMSGSIZE);
    CHECK_INT(bep44_signed_string(NULL, 0, 1, hello, HELLO_LEN, buf, 10, &len), -ENOSPC);
}

static void test_bep44_signed_string_fits_longest_input(void)
{
    static uint8_t salt[BEP44_SALT_MAX], value[BEP44_VALUE_MAX];
    uint8_t buf[BEP44_SIGNED_MAX];
    size_t len;

    CHECK_INT(bep44_signed_string(salt, sizeof(salt), INT64_MIN, value, sizeof(value), buf,
                                  sizeof(buf), &len),
              0);
    CHECK_INT(len, BEP44_SIGNED_MAX);
}

static void test_bep44_mutable_target_without_salt(void)
{
    uint8_t key[BEP44_KEY_LEN], target[BEP44_TARGET_LEN], expected[BEP44_TARGET_LEN];

    from_hex(lt_key_hex, key, sizeof(key));
    from_hex("4a533d47ec9c7d95b1ad75f576cffc641853b750", expected, sizeof(expected));
    bep44_mutable_target(key, NULL, 0, target);
    CHECK_MEM(target, expected, sizeof(expected));
}

static void test_bep44_mutable_target_with_salt(void)
{
    uint8_t key[BEP44_KEY_LEN], target[BEP44_TARGET_LEN], expected[BEP44_TARGET_LEN];

    from_hex(lt_key_hex, key, sizeof(key));
    from_hex("411eba73b6f087ca51a3795d9c8c938d365e32c1", expected, sizeof(expected));
    bep44_mutable_target(key, foobar, 6, target);
    CHECK_MEM(target, expected, sizeof(expected));
}

static void test_bep44_immutable_target_hashes_bencoded_value(void)
{
    uint8_t target[BEP44_TARGET_LEN], expected[BEP44_TARGET_LEN];

    from_hex("e5f96f6f38320f0f33959cb4d3d656452117aadb", expected, sizeof(expected));
    bep44_immutable_target(hello, HELLO_LEN, target);
    CHECK_MEM(target, expected, sizeof(expected));
}

static void test_bep44_verifies_libtorrent_vector_without_salt(void)
{
    uint8_t key[BEP44_KEY_LEN], sig[BEP44_SIG_LEN];

    from_hex(lt_key_hex, key, sizeof(key));
    from_hex(lt_sig1_hex, sig, sizeof(sig));
    CHECK_INT(bep44_verify(key, sig, NULL, 0, 1, hello, HELLO_LEN), 0);
}

static void test_bep44_verifies_libtorrent_vector_with_salt(void)
{
    uint8_t key[BEP44_KEY_LEN], sig[BEP44_SIG_LEN];

    from_hex(lt_key_hex, key, sizeof(key));
    from_hex(lt_sig2_hex, sig, sizeof(sig));
    CHECK_INT(bep44_verify(key, sig, foobar, 6, 1, hello, HELLO_LEN), 0);
}

static void test_bep44_rejects_signature_over_other_fields(void)
{
    uint8_t key[BEP44_KEY_LEN], sig[BEP44_SIG_LEN];

    from_hex(lt_key_hex, key, sizeof(key));
    from_hex(lt_sig1_hex, sig, sizeof(sig));
    CHECK_INT(bep44_verify(key, sig, NULL, 0, 2, hello, HELLO_LEN), -EBADMSG);
    CHECK_INT(bep44_verify(key, sig, foobar, 6, 1, hello, HELLO_LEN), -EBADMSG);
    CHECK_INT(bep44_verify(key, sig, NULL, 0, 1, (const uint8_t *)"12:Hello World?", HELLO_LEN),
              -EBADMSG);
    sig[10] ^= 1;
    CHECK_INT(bep44_verify(key, sig, NULL, 0, 1, hello, HELLO_LEN), -EBADMSG);
}

static void test_bep44_zero_seed_gives_known_key_and_target(void)
{
    uint8_t seed[crypto_sign_SEEDBYTES] = {0};
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    uint8_t expected_pk[BEP44_KEY_LEN], expected_target[BEP44_TARGET_LEN];
    uint8_t target[BEP44_TARGET_LEN];

    from_hex("3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29", expected_pk,
             sizeof(expected_pk));
    from_hex("8c30c97e7fd5460ce3b962db4cd75879eecd8abd", expected_target, sizeof(expected_target));
    CHECK_INT(crypto_sign_seed_keypair(pk, sk, seed), 0);
    CHECK_MEM(pk, expected_pk, sizeof(pk));
    bep44_mutable_target(pk, NULL, 0, target);
    CHECK_MEM(target, expected_target, sizeof(target));
}

/* ed25519 signatures are deterministic, so signing what the JavaScript pkarr signed must give
 * its signature byte for byte. */
static void test_bep44_signs_pkarr_packet_like_javascript_pkarr(void)
{
    uint8_t seed[crypto_sign_SEEDBYTES] = {0};
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    uint8_t expected[BEP44_SIG_LEN], sig[BEP44_SIG_LEN];
    uint8_t value[4 + 152];

    memcpy(value, "152:", 4);
    from_hex(pkarr_msg_hex, value + 4, 152);
    from_hex(pkarr_sig_hex, expected, sizeof(expected));
    CHECK_INT(crypto_sign_seed_keypair(pk, sk, seed), 0);

    CHECK_INT(bep44_verify(pk, expected, NULL, 0, pkarr_seq, value, sizeof(value)), 0);
    CHECK_INT(bep44_sign(sk, NULL, 0, pkarr_seq, value, sizeof(value), sig), 0);
    CHECK_MEM(sig, expected, sizeof(sig));
}

static void test_bep44_signature_verifies_with_salt(void)
{
    uint8_t seed[crypto_sign_SEEDBYTES];
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    uint8_t sig[BEP44_SIG_LEN];

    memset(seed, 7, sizeof(seed));
    CHECK_INT(crypto_sign_seed_keypair(pk, sk, seed), 0);
    CHECK_INT(bep44_sign(sk, foobar, 6, 9, hello, HELLO_LEN, sig), 0);
    CHECK_INT(bep44_verify(pk, sig, foobar, 6, 9, hello, HELLO_LEN), 0);
    CHECK_INT(bep44_verify(pk, sig, NULL, 0, 9, hello, HELLO_LEN), -EBADMSG);
}

static void test_bep44_sign_refuses_oversized_salt(void)
{
    static uint8_t salt[BEP44_SALT_MAX + 1];
    uint8_t sk[crypto_sign_SECRETKEYBYTES] = {0}, sig[BEP44_SIG_LEN];

    CHECK_INT(bep44_sign(sk, salt, sizeof(salt), 1, hello, HELLO_LEN, sig), -EMSGSIZE);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_bep44_signed_string_without_salt),
        UNIT(test_bep44_signed_string_with_salt),
        UNIT(test_bep44_signed_string_leaves_out_empty_salt),
        UNIT(test_bep44_signed_string_refuses_oversized_input),
        UNIT(test_bep44_signed_string_fits_longest_input),
        UNIT(test_bep44_mutable_target_without_salt),
        UNIT(test_bep44_mutable_target_with_salt),
        UNIT(test_bep44_immutable_target_hashes_bencoded_value),
        UNIT(test_bep44_verifies_libtorrent_vector_without_salt),
        UNIT(test_bep44_verifies_libtorrent_vector_with_salt),
        UNIT(test_bep44_rejects_signature_over_other_fields),
        UNIT(test_bep44_zero_seed_gives_known_key_and_target),
        UNIT(test_bep44_signs_pkarr_packet_like_javascript_pkarr),
        UNIT(test_bep44_signature_verifies_with_salt),
        UNIT(test_bep44_sign_refuses_oversized_salt),
    };

    if (sodium_init() < 0) {
        return 1;
    }
    return unit_run("dht_bep44", tests, sizeof(tests) / sizeof(tests[0]));
}
