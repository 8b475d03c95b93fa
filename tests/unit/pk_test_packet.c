#include "dns_name.h"
#include "pk_packet.h"
#include "pk_seed.h"
#include "unit.h"

#include <errno.h>
#include <sodium.h>

/* vectors.md: the JavaScript pkarr's packet for the key of seed 00x32, records
 * `<key> A 1.1.1.1` (TTL 0) and `foo.<key> TXT "bar"` (TTL 30), relay form. */
#define JS_KEY "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29"
#define JS_RELAY                                                                                   \
    "c45d1577e6c0d7fe24d1cd6696776a25628b438ffa10b1419dfdede3c51f8577"                             \
    "d8447d44df4523fa43f574d6f13a65433fa828eb280065c271fcdcaef5365c01"                             \
    "0006076d852b5458"                                                                             \
    "000080000000000200000000343870696e787867717334316e34616964696465"                             \
    "6e773561707170317572666d7a647a7472386a74346162726b646e3433356577"                             \
    "6f00000100010000000000040101010103666f6f343870696e78786771733431"                             \
    "6e346169646964656e773561707170317572666d7a647a7472386a7434616272"                             \
    "6b646e34333565776f00001000010000001e000403626172"
#define JS_TIMESTAMP 1697016827303000ull
#define JS_MSG_LEN 152

static uint8_t key[PK_PACKET_KEY_LEN];
static uint8_t js[PK_PACKET_MAX];
static size_t js_len;
static struct pk_packet decoded;

static void load_js_packet(void)
{
    uint8_t relay[PK_PACKET_MAX];
    int n;

    CHECK_INT(unit_hex(JS_KEY, key, sizeof(key)), 32);
    n = unit_hex(JS_RELAY, relay, sizeof(relay));
    CHECK_INT(n, 224);
    n = pk_packet_from_relay(key, relay, (size_t)n, js, sizeof(js));
    CHECK_INT(n, 256);
    js_len = (size_t)n;
}

/* The key pair of a seed whose bytes are all `fill`. */
static void keypair(uint8_t fill, uint8_t *pk, uint8_t *sk)
{
    uint8_t seed[PK_SEED_LEN];

    memset(seed, fill, sizeof(seed));
    pk_seed_keypair(seed, pk, sk);
}

static void add(struct pk_rr_set *s, const char *rel, uint16_t type, uint32_t ttl,
                const void *rdata, size_t rdlength)
{
    uint8_t name[DNS_NAME_MAX];
    struct pk_rr rr = {.name = name, .type = type, .rclass = DNS_CLASS_IN, .ttl = ttl};

    CHECK_INT(dns_name_from_text(rel, name, &rr.name_len), 0);
    rr.rdata = rdata;
    rr.rdlength = (uint16_t)rdlength;
    CHECK_INT(pk_rr_set_add(s, &rr), 0);
}

static void test_packet_verifies_js_vector(void)
{
    load_js_packet();
    CHECK_INT(pk_packet_verify(js, js_len), 0);
    CHECK(pk_packet_timestamp(js) == JS_TIMESTAMP);
}

static void test_packet_decodes_js_vector_records(void)
{
    load_js_packet();
    CHECK_INT(pk_packet_decode(js, js_len, true, &decoded), 0);
    CHECK_INT(decoded.msg_len, JS_MSG_LEN);
    CHECK(decoded.timestamp_us == JS_TIMESTAMP);
    CHECK_INT(decoded.foreign, 0);
    CHECK_INT(decoded.records.count, 2);

    const struct pk_rr *a = &decoded.records.rr[0];
    CHECK_INT(a->name_len, 1); /* the apex: the root, relative to the key */
    CHECK_INT(a->type, DNS_TYPE_A);
    CHECK_INT(a->ttl, 0);
    CHECK_INT(a->rdlength, 4);
    CHECK_MEM(a->rdata, "\x01\x01\x01\x01", 4);

    const struct pk_rr *txt = &decoded.records.rr[1];
    CHECK_INT(txt->name_len, 5);
    CHECK_MEM(txt->name,
              "\x03"
              "foo\x00",
              5);
    CHECK_INT(txt->type, DNS_TYPE_TXT);
    CHECK_INT(txt->ttl, 30);
    CHECK_INT(txt->rdlength, 4);
    CHECK_MEM(txt->rdata,
              "\x03"
              "bar",
              4);
}

static void test_packet_signing_reproduces_js_signature(void)
{
    uint8_t pk[PK_PACKET_KEY_LEN], sk[PK_PACKET_SECRET_LEN], out[PK_PACKET_MAX];

    /* ed25519 signatures are deterministic: the same key and string give the same bytes. */
    load_js_packet();
    keypair(0, pk, sk);
    CHECK_MEM(pk, key, sizeof(key));
    CHECK_INT(
        pk_packet_sign(sk, JS_TIMESTAMP, js + PK_PACKET_HEAD_LEN, JS_MSG_LEN, out, sizeof(out)),
        (int)js_len);
    CHECK_MEM(out, js, js_len);
}

static void test_packet_roundtrips_compressed_message(void)
{
    static struct pk_rr_set set;
    uint8_t pk[PK_PACKET_KEY_LEN], sk[PK_PACKET_SECRET_LEN];
    uint8_t msg[2048], packet[PK_PACKET_MAX], target[DNS_NAME_MAX];
    size_t target_len;
    int n;

    keypair(0, pk, sk);
    pk_rr_set_init(&set);
    add(&set, ".", DNS_TYPE_A, 0, "\x01\x01\x01\x01", 4);
    add(&set, "foo", DNS_TYPE_TXT, 30,
        "\x03"
        "bar",
        4);
    CHECK_INT(dns_name_from_text("foo.8pinxxgqs41n4aididenw5apqp1urfmzdztr8jt4abrkdn435ewo", target,
                                 &target_len),
              0);
    add(&set, "www", DNS_TYPE_CNAME, 60, target, target_len);

    n = pk_packet_build_message(&set, pk, msg, sizeof(msg));
    CHECK(n > 0 && n < JS_MSG_LEN + 30); /* the key is written once, then pointed to */
    CHECK(memchr(msg + DNS_HEADER_LEN, 0xc0, (size_t)n - DNS_HEADER_LEN) != NULL);
    n = pk_packet_sign(sk, 42, msg, (size_t)n, packet, sizeof(packet));
    CHECK(n > 0);
    CHECK_INT(pk_packet_decode(packet, (size_t)n, true, &decoded), 0);
    CHECK_INT(decoded.records.count, 3);
    CHECK_INT(decoded.records.rr[1].name_len, 5);
    CHECK_MEM(decoded.records.rr[1].name,
              "\x03"
              "foo\x00",
              5);
    CHECK_INT(decoded.records.rr[2].rdlength, (int)target_len); /* expanded in full */
    CHECK_MEM(decoded.records.rr[2].rdata, target, target_len);
}

static void test_packet_every_bit_flip_fails_the_signature(void)
{
    int failures = 0;

    load_js_packet();
    for (size_t i = PK_PACKET_KEY_LEN; i < js_len; i++) {
        for (unsigned bit = 0; bit < 8; bit += 3) {
            js[i] ^= (uint8_t)(1u << bit);
            failures += pk_packet_verify(js, js_len) == -EBADMSG;
            js[i] ^= (uint8_t)(1u << bit);
        }
    }
    CHECK_INT(failures, (int)(js_len - PK_PACKET_KEY_LEN) * 3);
    CHECK_INT(pk_packet_verify(js, js_len), 0);
}

static void test_packet_flipped_key_fails(void)
{
    load_js_packet();
    js[5] ^= 0x10;
    CHECK(pk_packet_verify(js, js_len) < 0);
}

static void test_packet_every_truncation_is_refused(void)
{
    int refused = 0;

    load_js_packet();
    for (size_t len = 0; len < js_len; len++) {
        int verified = pk_packet_decode(js, len, true, &decoded);
        int unverified = pk_packet_decode(js, len, false, &decoded);
        refused += verified < 0 && unverified < 0;
        if (len < PK_PACKET_HEAD_LEN) {
            CHECK_INT(unverified, -EMSGSIZE);
        }
    }
    CHECK_INT(refused, (int)js_len);
}

static void test_packet_message_over_1000_bytes_is_refused(void)
{
    static uint8_t big[PK_PACKET_MAX + 16];
    uint8_t pk[PK_PACKET_KEY_LEN], sk[PK_PACKET_SECRET_LEN];

    keypair(1, pk, sk);
    CHECK_INT(pk_packet_sign(sk, 1, big + 200, PK_PACKET_MSG_MAX + 1, big, sizeof(big)), -EMSGSIZE);
    CHECK_INT(pk_packet_verify(big, PK_PACKET_MAX + 1), -EMSGSIZE);
    CHECK_INT(pk_packet_decode(big, PK_PACKET_MAX + 1, false, &decoded), -EMSGSIZE);
    CHECK_INT(
        pk_packet_from_relay(pk, big, PK_PACKET_MAX - PK_PACKET_KEY_LEN + 1, big, sizeof(big)),
        -EMSGSIZE);
}

static void test_packet_message_of_exactly_1000_bytes_is_accepted(void)
{
    static struct pk_rr_set set;
    uint8_t pk[PK_PACKET_KEY_LEN], sk[PK_PACKET_SECRET_LEN];
    uint8_t msg[2048], packet[PK_PACKET_MAX + 8], txt[256];
    int n;

    /* Header 12, apex TXT: 54-byte owner, 10 fixed, then the strings: 12 + 64 + rdata. */
    keypair(2, pk, sk);
    pk_rr_set_init(&set);
    memset(txt, 'x', sizeof(txt));
    size_t rdlength = PK_PACKET_MSG_MAX - 12 - 64;
    for (size_t at = 0; at < rdlength;) {
        size_t chunk = rdlength - at > 256 ? 256 : rdlength - at;
        txt[0] = (uint8_t)(chunk - 1);
        memcpy(msg + 1024 + at, txt, chunk);
        at += chunk;
    }
    add(&set, ".", DNS_TYPE_TXT, 300, msg + 1024, rdlength);
    n = pk_packet_build_message(&set, pk, msg, 1024);
    CHECK_INT(n, PK_PACKET_MSG_MAX);
    n = pk_packet_sign(sk, 7, msg, (size_t)n, packet, sizeof(packet));
    CHECK_INT(n, PK_PACKET_MAX);
    CHECK_INT(pk_packet_decode(packet, (size_t)n, true, &decoded), 0);
    CHECK_INT(decoded.records.count, 1);
}

static void test_packet_records_outside_the_key_are_left_out(void)
{
    uint8_t pk[PK_PACKET_KEY_LEN], sk[PK_PACKET_SECRET_LEN], packet[PK_PACKET_MAX];
    uint8_t msg[512] = {0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00};
    static const uint8_t rr[] = {7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0,
                                 1, 0,   1,   0,   0,   0,   60,  0,   4, 9,   9,   9,   9};
    int n;

    keypair(3, pk, sk);
    memcpy(msg + DNS_HEADER_LEN, rr, sizeof(rr));
    n = pk_packet_sign(sk, 9, msg, DNS_HEADER_LEN + sizeof(rr), packet, sizeof(packet));
    CHECK_INT(pk_packet_decode(packet, (size_t)n, true, &decoded), 0);
    CHECK_INT(decoded.records.count, 0);
    CHECK_INT(decoded.foreign, 1);
}

static void test_packet_owner_key_in_capitals_is_the_key(void)
{
    uint8_t pk[PK_PACKET_KEY_LEN], sk[PK_PACKET_SECRET_LEN];
    uint8_t packet[PK_PACKET_MAX], msg[256];
    int n;

    /* The JS message with its first owner's key label in capitals. */
    load_js_packet();
    keypair(0, pk, sk);
    memcpy(msg, js + PK_PACKET_HEAD_LEN, JS_MSG_LEN);
    for (size_t i = 13; i < 13 + 52; i++) {
        if (msg[i] >= 'a' && msg[i] <= 'z') {
            msg[i] = (uint8_t)(msg[i] - 'a' + 'A');
        }
    }
    n = pk_packet_sign(sk, 5, msg, JS_MSG_LEN, packet, sizeof(packet));
    CHECK_INT(pk_packet_decode(packet, (size_t)n, true, &decoded), 0);
    CHECK_INT(decoded.records.count, 2);
    CHECK_INT(decoded.records.rr[0].name_len, 1);
}

static void test_packet_from_item_builds_the_packet(void)
{
    uint8_t value[8 + JS_MSG_LEN], out[PK_PACKET_MAX];

    load_js_packet();
    memcpy(value, "152:", 4);
    memcpy(value + 4, js + PK_PACKET_HEAD_LEN, JS_MSG_LEN);
    CHECK_INT(pk_packet_from_item(key, js + 32, (int64_t)JS_TIMESTAMP, value, 4 + JS_MSG_LEN, out,
                                  sizeof(out)),
              (int)js_len);
    CHECK_MEM(out, js, js_len);
}

static void test_packet_from_item_refuses_bad_bencoding(void)
{
    uint8_t value[8 + JS_MSG_LEN], out[PK_PACKET_MAX];

    load_js_packet();
    memcpy(value, "0152:", 5);
    memcpy(value + 5, js + PK_PACKET_HEAD_LEN, JS_MSG_LEN);
    CHECK_INT(pk_packet_from_item(key, js + 32, 1, value, 5 + JS_MSG_LEN, out, sizeof(out)),
              -EBADMSG);
    CHECK_INT(pk_packet_from_item(key, js + 32, 1, value + 1, 3 + JS_MSG_LEN, out, sizeof(out)),
              -EBADMSG);
    CHECK_INT(pk_packet_from_item(key, js + 32, -1, value + 1, 4 + JS_MSG_LEN, out, sizeof(out)),
              -EBADMSG);
    CHECK_INT(pk_packet_from_item(key, js + 32, 1, (const uint8_t *)"5:ab", 4, out, sizeof(out)),
              -EBADMSG);
}

static void test_packet_newer_timestamp_wins_then_larger_message(void)
{
    uint8_t a[PK_PACKET_HEAD_LEN + 2] = {0}, b[PK_PACKET_HEAD_LEN + 2] = {0};

    a[103] = 2;
    b[103] = 1;
    CHECK(pk_packet_newer(a, sizeof(a), b, sizeof(b)));
    CHECK(!pk_packet_newer(b, sizeof(b), a, sizeof(a)));

    b[103] = 2;
    a[104] = 1;
    CHECK(pk_packet_newer(a, sizeof(a), b, sizeof(b)));
    CHECK(!pk_packet_newer(b, sizeof(b), a, sizeof(a)));
    CHECK(!pk_packet_newer(a, sizeof(a), a, sizeof(a)));

    /* A message that is a prefix of the other is the smaller. */
    CHECK(pk_packet_newer(b, sizeof(b), b, sizeof(b) - 1));
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_packet_verifies_js_vector),
        UNIT(test_packet_decodes_js_vector_records),
        UNIT(test_packet_signing_reproduces_js_signature),
        UNIT(test_packet_roundtrips_compressed_message),
        UNIT(test_packet_every_bit_flip_fails_the_signature),
        UNIT(test_packet_flipped_key_fails),
        UNIT(test_packet_every_truncation_is_refused),
        UNIT(test_packet_message_over_1000_bytes_is_refused),
        UNIT(test_packet_message_of_exactly_1000_bytes_is_accepted),
        UNIT(test_packet_records_outside_the_key_are_left_out),
        UNIT(test_packet_owner_key_in_capitals_is_the_key),
        UNIT(test_packet_from_item_builds_the_packet),
        UNIT(test_packet_from_item_refuses_bad_bencoding),
        UNIT(test_packet_newer_timestamp_wins_then_larger_message),
    };

    if (sodium_init() < 0) {
        return 1;
    }
    return unit_run("pk_packet", tests, sizeof(tests) / sizeof(tests[0]));
}
