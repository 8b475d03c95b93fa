#include "dht_store.h"
#include "krpc.h"
#include "unit.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>

#define HOUR_MS (60ull * 60 * 1000)

/* A signer and the item it signs; values are bencoded strings built from text. */
struct signer {
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
};

struct item {
    struct dht_store_item it;
    uint8_t sig[BEP44_SIG_LEN];
    uint8_t value[BEP44_VALUE_MAX + 16];
};

static void signer_init(struct signer *s, uint8_t seed_byte)
{
    uint8_t seed[crypto_sign_SEEDBYTES];

    memset(seed, seed_byte, sizeof(seed));
    crypto_sign_seed_keypair(s->pk, s->sk, seed);
}

/* Sets item->value to the bencoded string `text` and signs it with seq and salt (NULL for
 * none). */
static void item_sign(struct item *item, const struct signer *s, int64_t seq, const char *salt,
                      const char *text)
{
    size_t n =
        (size_t)snprintf((char *)item->value, sizeof(item->value), "%zu:%s", strlen(text), text);

    memset(&item->it, 0, sizeof(item->it));
    item->it.k = s->pk;
    item->it.sig = item->sig;
    item->it.seq = seq;
    item->it.salt = (const uint8_t *)salt;
    item->it.salt_len = salt != NULL ? strlen(salt) : 0;
    item->it.value = item->value;
    item->it.value_len = n;
    /* A value too big to sign gets a dummy signature: the store must refuse it on size. */
    memset(item->sig, 0, sizeof(item->sig));
    if (n <= BEP44_VALUE_MAX) {
        CHECK_INT(
            bep44_sign(s->sk, item->it.salt, item->it.salt_len, seq, item->value, n, item->sig), 0);
    }
}

/* Signs a value of exactly `value_len` bencoded bytes ("<n>:xxx..."). */
static void item_sign_sized(struct item *item, const struct signer *s, size_t value_len)
{
    char text[BEP44_VALUE_MAX + 16];
    size_t payload = value_len - 4; /* "996:" and the like: 4 bytes of header */

    memset(text, 'x', payload);
    text[payload] = '\0';
    item_sign(item, s, 1, NULL, text);
    CHECK_INT(item->it.value_len, value_len);
}

static struct dht_store *store_new(size_t max_items, size_t max_bytes)
{
    struct dht_store_config cfg = {.max_items = max_items, .max_bytes = max_bytes};
    struct dht_store *store = NULL;

    CHECK_INT(dht_store_new(&cfg, &store), 0);
    return store;
}

static void target_of(const struct item *item, uint8_t target[BEP44_TARGET_LEN])
{
    if (item->it.k != NULL) {
        bep44_mutable_target(item->it.k, item->it.salt, item->it.salt_len, target);
    } else {
        bep44_immutable_target(item->it.value, item->it.value_len, target);
    }
}

/* Gets the item's target and checks that the stored value is `text`. */
static void check_stored(struct dht_store *store, const struct item *item, const char *text,
                         uint64_t now_ms)
{
    uint8_t target[BEP44_TARGET_LEN];
    struct dht_store_item got;
    char expected[BEP44_VALUE_MAX + 16];
    size_t n = (size_t)snprintf(expected, sizeof(expected), "%zu:%s", strlen(text), text);

    target_of(item, target);
    CHECK_INT(dht_store_get(store, target, NULL, now_ms, &got), 0);
    CHECK_INT(got.value_len, n);
    CHECK(got.value != NULL && memcmp(got.value, expected, n) == 0);
}

static int stored(struct dht_store *store, const struct item *item, uint64_t now_ms)
{
    uint8_t target[BEP44_TARGET_LEN];
    struct dht_store_item got;

    target_of(item, target);
    return dht_store_get(store, target, NULL, now_ms, &got) == 0;
}

static void test_store_keeps_signed_mutable_item(void)
{
    struct dht_store *store = store_new(0, 0);
    struct signer s;
    struct item item;
    uint8_t target[BEP44_TARGET_LEN];
    struct dht_store_item got;

    signer_init(&s, 1);
    item_sign(&item, &s, 5, NULL, "hello");
    CHECK_INT(dht_store_put(store, &item.it, NULL, NULL, 0), 0);

    target_of(&item, target);
    CHECK_INT(dht_store_get(store, target, NULL, 0, &got), 0);
    CHECK(got.k != NULL && memcmp(got.k, s.pk, BEP44_KEY_LEN) == 0);
    CHECK(got.sig != NULL && memcmp(got.sig, item.sig, BEP44_SIG_LEN) == 0);
    CHECK_INT(got.seq, 5);
    CHECK(got.salt == NULL);
    CHECK_INT(got.value_len, 7);
    CHECK_MEM(got.value, "5:hello", 7);
    CHECK_INT(dht_store_count(store), 1);
    dht_store_free(store);
}

static void test_store_rejects_value_over_1000_bytes_with_205(void)
{
    struct dht_store *store = store_new(0, 0);
    struct signer s;
    struct item item;

    signer_init(&s, 1);
    item_sign_sized(&item, &s, BEP44_VALUE_MAX + 1);
    CHECK_INT(dht_store_put(store, &item.it, NULL, NULL, 0), -BEP44_ERR_VALUE_TOO_BIG);
    item_sign_sized(&item, &s, BEP44_VALUE_MAX);
    CHECK_INT(dht_store_put(store, &item.it, NULL, NULL, 0), 0);
    dht_store_free(store);
}

static void test_store_rejects_bad_signature_with_206(void)
{
    struct dht_store *store = store_new(0, 0);
    struct signer s, other;
    struct item item;

    signer_init(&s, 1);
    signer_init(&other, 2);
    item_sign(&item, &s, 1, NULL, "hello");
    item.sig[0] ^= 0x80;
    CHECK_INT(dht_store_put(store, &item.it, NULL, NULL, 0), -BEP44_ERR_BAD_SIGNATURE);

    item_sign(&item, &s, 1, NULL, "hello");
    item.it.k = other.pk;
    CHECK_INT(dht_store_put(store, &item.it, NULL, NULL, 0), -BEP44_ERR_BAD_SIGNATURE);
    CHECK_INT(dht_store_count(store), 0);
    dht_store_free(store);
}

static void test_store_rejects_salt_over_64_bytes_with_207(void)
{
    char salt[BEP44_SALT_MAX + 2];
    struct dht_store *store = store_new(0, 0);
    struct signer s;
    struct item item;

    signer_init(&s, 1);
    memset(salt, 's', sizeof(salt) - 1);
    salt[sizeof(salt) - 1] = '\0';
    item_sign(&item, &s, 1, NULL, "hello");
    item.it.salt = (const uint8_t *)salt;
    item.it.salt_len = BEP44_SALT_MAX + 1;
    CHECK_INT(dht_store_put(store, &item.it, NULL, NULL, 0), -BEP44_ERR_SALT_TOO_BIG);

    salt[BEP44_SALT_MAX] = '\0';
    item_sign(&item, &s, 1, salt, "hello");
    CHECK_INT(dht_store_put(store, &item.it, NULL, NULL, 0), 0);
    dht_store_free(store);
}

static void test_store_rejects_cas_mismatch_with_301(void)
{
    struct dht_store *store = store_new(0, 0);
    struct signer s;
    struct item item;
    int64_t cas;

    signer_init(&s, 1);
    item_sign(&item, &s, 1, NULL, "one");
    CHECK_INT(dht_store_put(store, &item.it, NULL, NULL, 0), 0);

    item_sign(&item, &s, 2, NULL, "two");
    cas = 0;
    CHECK_INT(dht_store_put(store, &item.it, &cas, NULL, 0), -BEP44_ERR_CAS_MISMATCH);
    check_stored(store, &item, "one", 0);
    cas = 1;
    CHECK_INT(dht_store_put(store, &item.it, &cas, NULL, 0), 0);
    check_stored(store, &item, "two", 0);
    dht_store_free(store);
}

static void test_store_rejects_lower_seq_with_302(void)
{
    struct dht_store *store = store_new(0, 0);
    struct signer s;
    struct item item;

    signer_init(&s, 1);
    item_sign(&item, &s, 10, NULL, "ten");
    CHECK_INT(dht_store_put(store, &item.it, NULL, NULL, 0), 0);
    item_sign(&item, &s, 9, NULL, "nine");
    CHECK_INT(dht_store_put(store, &item.it, NULL, NULL, 0), -BEP44_ERR_SEQ_TOO_LOW);
    check_stored(store, &item, "ten", 0);
    dht_store_free(store);
}

static void test_store_rejects_equal_seq_with_other_value_with_302(void)
{
    struct dht_store *store = store_new(0, 0);
    struct signer s;
    struct item item;

    signer_init(&s, 1);
    item_sign(&item, &s, 10, NULL, "ten");
    CHECK_INT(dht_store_put(store, &item.it, NULL, NULL, 0), 0);
    item_sign(&item, &s, 10, NULL, "TEN");
    CHECK_INT(dht_store_put(store, &item.it, NULL, NULL, 0), -BEP44_ERR_SEQ_TOO_LOW);
    check_stored(store, &item, "ten", 0);
    dht_store_free(store);
}

static void test_store_accepts_equal_seq_with_same_value_and_refreshes_it(void)
{
    struct dht_store *store = store_new(0, 0);
    struct signer s;
    struct item item;

    signer_init(&s, 1);
    item_sign(&item, &s, 10, NULL, "ten");
    CHECK_INT(dht_store_put(store, &item.it, NULL, NULL, 0), 0);
    CHECK_INT(dht_store_put(store, &item.it, NULL, NULL, HOUR_MS), 0);
    CHECK_INT(dht_store_count(store), 1);
    /* Two hours after the first put, but only one after the refresh. */
    CHECK(stored(store, &item, 2 * HOUR_MS));
    CHECK(!stored(store, &item, 3 * HOUR_MS));
    dht_store_free(store);
}

static void test_store_replaces_item_with_higher_seq(void)
{
    struct dht_store *store = store_new(0, 0);
    struct signer s;
    struct item item;

    signer_init(&s, 1);
    item_sign(&item, &s, 1, NULL, "old");
    CHECK_INT(dht_store_put(store, &item.it, NULL, NULL, 0), 0);
    item_sign(&item, &s, 2, NULL, "a longer new value");
    CHECK_INT(dht_store_put(store, &item.it, NULL, NULL, 0), 0);
    check_stored(store, &item, "a longer new value", 0);
    CHECK_INT(dht_store_count(store), 1);
    dht_store_free(store);
}

static void test_store_keeps_salted_items_apart(void)
{
    struct dht_store *store = store_new(0, 0);
    struct signer s;
    struct item a, b;

    signer_init(&s, 1);
    item_sign(&a, &s, 1, "a", "first");
    item_sign(&b, &s, 1, "b", "second");
    CHECK_INT(dht_store_put(store, &a.it, NULL, NULL, 0), 0);
    CHECK_INT(dht_store_put(store, &b.it, NULL, NULL, 0), 0);
    check_stored(store, &a, "first", 0);
    check_stored(store, &b, "second", 0);
    CHECK_INT(dht_store_count(store), 2);
    dht_store_free(store);
}

static void test_store_keeps_immutable_item_under_sha1_of_value(void)
{
    static const char hello[] = "12:Hello World!";
    struct dht_store *store = store_new(0, 0);
    struct dht_store_item item = {.value = (const uint8_t *)hello, .value_len = 15};
    struct dht_store_item got;
    uint8_t target[BEP44_TARGET_LEN];

    CHECK_INT(unit_hex("e5f96f6f38320f0f33959cb4d3d656452117aadb", target, sizeof(target)), 20);
    CHECK_INT(dht_store_put(store, &item, NULL, target, 0), 0);
    CHECK_INT(dht_store_get(store, target, NULL, 0, &got), 0);
    CHECK(got.k == NULL);
    CHECK(got.sig == NULL);
    CHECK_INT(got.value_len, 15);
    CHECK_MEM(got.value, hello, 15);
    /* Putting it again only refreshes it. */
    CHECK_INT(dht_store_put(store, &item, NULL, NULL, 0), 0);
    CHECK_INT(dht_store_count(store), 1);
    dht_store_free(store);
}

static void test_store_rejects_immutable_item_for_another_target(void)
{
    struct dht_store *store = store_new(0, 0);
    struct dht_store_item item = {.value = (const uint8_t *)"12:Hello World?", .value_len = 15};
    uint8_t target[BEP44_TARGET_LEN];

    CHECK_INT(unit_hex("e5f96f6f38320f0f33959cb4d3d656452117aadb", target, sizeof(target)), 20);
    CHECK_INT(dht_store_put(store, &item, NULL, target, 0), -KRPC_ERR_PROTOCOL);
    CHECK_INT(dht_store_count(store), 0);
    dht_store_free(store);
}

static void test_store_rejects_incomplete_items_with_203(void)
{
    struct dht_store *store = store_new(0, 0);
    struct signer s;
    struct item item;

    signer_init(&s, 1);
    item_sign(&item, &s, 1, NULL, "x");
    item.it.sig = NULL;
    CHECK_INT(dht_store_put(store, &item.it, NULL, NULL, 0), -KRPC_ERR_PROTOCOL);
    item_sign(&item, &s, 1, NULL, "x");
    item.it.value = NULL;
    CHECK_INT(dht_store_put(store, &item.it, NULL, NULL, 0), -KRPC_ERR_PROTOCOL);
    dht_store_free(store);
}

static void test_store_get_leaves_out_value_unless_newer_than_seq(void)
{
    struct dht_store *store = store_new(0, 0);
    struct signer s;
    struct item item;
    uint8_t target[BEP44_TARGET_LEN];
    struct dht_store_item got;
    int64_t seq;

    signer_init(&s, 1);
    item_sign(&item, &s, 7, NULL, "seven");
    CHECK_INT(dht_store_put(store, &item.it, NULL, NULL, 0), 0);
    target_of(&item, target);

    seq = 7;
    CHECK_INT(dht_store_get(store, target, &seq, 0, &got), 0);
    CHECK_INT(got.seq, 7);
    CHECK(got.k != NULL);
    CHECK(got.value == NULL);
    CHECK(got.sig == NULL);

    seq = 6;
    CHECK_INT(dht_store_get(store, target, &seq, 0, &got), 0);
    CHECK(got.value != NULL);
    CHECK(got.sig != NULL);
    dht_store_free(store);
}

static void test_store_get_misses_unknown_target(void)
{
    struct dht_store *store = store_new(0, 0);
    uint8_t target[BEP44_TARGET_LEN] = {0};
    struct dht_store_item got;

    CHECK_INT(dht_store_get(store, target, NULL, 0, &got), -ENOENT);
    dht_store_free(store);
}

static void test_store_expires_items_after_two_hours(void)
{
    struct dht_store *store = store_new(0, 0);
    struct signer s;
    struct item item;

    signer_init(&s, 1);
    item_sign(&item, &s, 1, NULL, "short-lived");
    CHECK_INT(dht_store_put(store, &item.it, NULL, NULL, 1000), 0);
    CHECK(stored(store, &item, 1000 + 2 * HOUR_MS - 1));
    CHECK(!stored(store, &item, 1000 + 2 * HOUR_MS));
    CHECK_INT(dht_store_count(store), 0);
    CHECK_INT(dht_store_bytes(store), 0);
    dht_store_free(store);
}

static void test_store_expire_drops_only_old_items(void)
{
    struct dht_store *store = store_new(0, 0);
    struct signer s;
    struct item a, b;

    signer_init(&s, 1);
    item_sign(&a, &s, 1, "a", "early");
    item_sign(&b, &s, 1, "b", "late");
    CHECK_INT(dht_store_put(store, &a.it, NULL, NULL, 0), 0);
    CHECK_INT(dht_store_put(store, &b.it, NULL, NULL, HOUR_MS), 0);
    dht_store_expire(store, 2 * HOUR_MS);
    CHECK_INT(dht_store_count(store), 1);
    CHECK(stored(store, &b, 2 * HOUR_MS));
    dht_store_free(store);
}

static void test_store_evicts_oldest_when_item_count_is_reached(void)
{
    struct dht_store *store = store_new(2, 0);
    struct signer s;
    struct item a, b, c;

    signer_init(&s, 1);
    item_sign(&a, &s, 1, "a", "first");
    item_sign(&b, &s, 1, "b", "second");
    item_sign(&c, &s, 1, "c", "third");
    CHECK_INT(dht_store_put(store, &a.it, NULL, NULL, 0), 0);
    CHECK_INT(dht_store_put(store, &b.it, NULL, NULL, 1), 0);
    /* Refreshing a makes b the oldest. */
    CHECK_INT(dht_store_put(store, &a.it, NULL, NULL, 2), 0);
    CHECK_INT(dht_store_put(store, &c.it, NULL, NULL, 3), 0);
    CHECK_INT(dht_store_count(store), 2);
    CHECK(stored(store, &a, 3));
    CHECK(!stored(store, &b, 3));
    CHECK(stored(store, &c, 3));
    dht_store_free(store);
}

static void test_store_evicts_oldest_when_byte_cap_is_reached(void)
{
    struct dht_store *store;
    struct signer s1, s2, s3;
    struct item a, b, c;
    size_t one_item;

    signer_init(&s1, 1);
    signer_init(&s2, 2);
    signer_init(&s3, 3);
    item_sign_sized(&a, &s1, 900);
    item_sign_sized(&b, &s2, 900);
    item_sign_sized(&c, &s3, 900);

    store = store_new(0, 0);
    CHECK_INT(dht_store_put(store, &a.it, NULL, NULL, 0), 0);
    one_item = dht_store_bytes(store);
    CHECK(one_item >= 900);
    dht_store_free(store);

    /* Room for two items of this size, not three. */
    store = store_new(0, 2 * one_item + one_item / 2);
    CHECK_INT(dht_store_put(store, &a.it, NULL, NULL, 0), 0);
    CHECK_INT(dht_store_put(store, &b.it, NULL, NULL, 1), 0);
    CHECK_INT(dht_store_put(store, &c.it, NULL, NULL, 2), 0);
    CHECK_INT(dht_store_count(store), 2);
    CHECK(dht_store_bytes(store) <= 2 * one_item + one_item / 2);
    CHECK(!stored(store, &a, 2));
    CHECK(stored(store, &b, 2));
    CHECK(stored(store, &c, 2));
    dht_store_free(store);
}

static void test_store_free_accepts_null(void)
{
    dht_store_free(NULL);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_store_keeps_signed_mutable_item),
        UNIT(test_store_rejects_value_over_1000_bytes_with_205),
        UNIT(test_store_rejects_bad_signature_with_206),
        UNIT(test_store_rejects_salt_over_64_bytes_with_207),
        UNIT(test_store_rejects_cas_mismatch_with_301),
        UNIT(test_store_rejects_lower_seq_with_302),
        UNIT(test_store_rejects_equal_seq_with_other_value_with_302),
        UNIT(test_store_accepts_equal_seq_with_same_value_and_refreshes_it),
        UNIT(test_store_replaces_item_with_higher_seq),
        UNIT(test_store_keeps_salted_items_apart),
        UNIT(test_store_keeps_immutable_item_under_sha1_of_value),
        UNIT(test_store_rejects_immutable_item_for_another_target),
        UNIT(test_store_rejects_incomplete_items_with_203),
        UNIT(test_store_get_leaves_out_value_unless_newer_than_seq),
        UNIT(test_store_get_misses_unknown_target),
        UNIT(test_store_expires_items_after_two_hours),
        UNIT(test_store_expire_drops_only_old_items),
        UNIT(test_store_evicts_oldest_when_item_count_is_reached),
        UNIT(test_store_evicts_oldest_when_byte_cap_is_reached),
        UNIT(test_store_free_accepts_null),
    };

    if (sodium_init() < 0) {
        return 1;
    }
    return unit_run("dht_store", tests, sizeof(tests) / sizeof(tests[0]));
}
