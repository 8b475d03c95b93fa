/* Fuzz target for signed pkarr packets as they come from the DHT or a relay: framing and
 * signature, the DNS message inside (compressed or not), the answers built from what decodes,
 * re-encoding, and the packet cache. The key is replaced by a fixed valid one, so that the
 * fuzzer explores the message rather than the curve check, and the signature is checked but
 * not required. */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns_name.h"
#include "dns_writer.h"
#include "pk_answer.h"
#include "pk_cache.h"
#include "pk_packet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* vectors.md: the key of seed 00x32, 8pinxxgqs41n4aididenw5apqp1urfmzdztr8jt4abrkdn435ewo. */
static const uint8_t fuzz_key[PK_PACKET_KEY_LEN] = {
    0x3b, 0x6a, 0x27, 0xbc, 0xce, 0xb6, 0xa4, 0x2d, 0x62, 0xa3, 0xa8, 0xd0, 0x2a, 0x6f, 0x0d, 0x73,
    0x65, 0x32, 0x15, 0x77, 0x1d, 0xe2, 0x43, 0xa6, 0x3a, 0xc0, 0x48, 0xa1, 0x8b, 0x59, 0xda, 0x29,
};

static const char *const fuzz_names[] = {
    "8pinxxgqs41n4aididenw5apqp1urfmzdztr8jt4abrkdn435ewo",
    "foo.8pinxxgqs41n4aididenw5apqp1urfmzdztr8jt4abrkdn435ewo",
    "www.sub.8pinxxgqs41n4aididenw5apqp1urfmzdztr8jt4abrkdn435ewo.key",
};

static const uint16_t fuzz_types[] = {DNS_TYPE_A, DNS_TYPE_TXT, DNS_TYPE_ANY, DNS_TYPE_NS};

static bool fuzz_query(const char *name, uint16_t qtype, struct dns_query *q)
{
    uint8_t msg[512], wire[DNS_NAME_MAX];
    size_t wire_len;
    struct dns_header h = {.id = 1, .flags = DNS_FLAG_RD, .qdcount = 1};
    struct dns_writer w;
    int n;

    if (dns_name_from_text(name, wire, &wire_len) != 0) {
        return false;
    }
    dns_writer_init(&w, msg, sizeof(msg));
    dns_writer_header(&w, &h);
    dns_writer_question(&w, wire, wire_len, qtype, DNS_CLASS_IN);
    n = dns_writer_finish(&w);
    return n > 0 && dns_msg_parse_query(msg, (size_t)n, q) == 0;
}

/* Answers a few questions from the packet; other keys have none, servers do not answer. */
static void fuzz_answers(const struct pk_packet *p)
{
    static uint8_t out[PK_ANSWER_OUT_MAX];
    static struct pk_answer a;
    static const uint8_t tld[] = {3, 'k', 'e', 'y', 0};
    struct pk_answer_config cfg = {
        .min_ttl = 60, .max_ttl = 86400, .max_recursion_depth = 15, .tld = tld, .tld_len = 5};
    struct dns_query q;

    for (size_t i = 0; i < sizeof(fuzz_names) / sizeof(fuzz_names[0]); i++) {
        for (size_t t = 0; t < sizeof(fuzz_types) / sizeof(fuzz_types[0]); t++) {
            if (!fuzz_query(fuzz_names[i], fuzz_types[t], &q)) {
                continue;
            }
            int step = pk_answer_start(&a, &cfg, &q, out, sizeof(out));
            for (int turn = 0; turn < 32 && step != PK_ANSWER_DONE && step > 0; turn++) {
                if (step == PK_ANSWER_NEED_KEY) {
                    bool ours = memcmp(a.key, p->key, PK_PACKET_KEY_LEN) == 0;
                    step = pk_answer_feed_packet(&a, ours ? p : NULL, out, sizeof(out));
                } else if (step == PK_ANSWER_NEED_ICANN || step == PK_ANSWER_NEED_SERVER) {
                    pk_answer_write_query(&a, 2, out, sizeof(out));
                    step = pk_answer_fail(&a, "fuzz", out, sizeof(out));
                } else {
                    break;
                }
            }
        }
    }
}

/* Writing the records again must give a message that decodes to as many records. */
static void fuzz_reencode(const struct pk_packet *p)
{
    static uint8_t msg[DNS_TCP_MAX];
    static struct pk_packet again;
    uint8_t packet[PK_PACKET_MAX];
    int n = pk_packet_build_message(&p->records, p->key, msg, sizeof(msg));

    if (n < 0 || (size_t)n > PK_PACKET_MSG_MAX) {
        return;
    }
    memcpy(packet, p->key, PK_PACKET_KEY_LEN);
    memset(packet + PK_PACKET_KEY_LEN, 0, PK_PACKET_HEAD_LEN - PK_PACKET_KEY_LEN);
    memcpy(packet + PK_PACKET_HEAD_LEN, msg, (size_t)n);
    if (pk_packet_decode(packet, PK_PACKET_HEAD_LEN + (size_t)n, false, &again) != 0 ||
        again.records.count != p->records.count) {
        abort();
    }
}

static void fuzz_cache(const uint8_t *packet, size_t len)
{
    static struct pk_cache *cache;
    struct pk_cache_config cfg = {.max_bytes = 1 << 16,
                                  .min_ttl_s = 60,
                                  .max_ttl_s = 86400,
                                  .negative_ttl_s = 30,
                                  .max_stale_s = 3600,
                                  .refresh_retry_s = 10,
                                  .prefetch_hits = 2,
                                  .prefetch_pct = 10};
    struct pk_cache_hit hit;
    uint8_t keys[4][PK_PACKET_KEY_LEN];

    if (cache == NULL && pk_cache_new(&cfg, &cache) != 0) {
        return;
    }
    pk_cache_put(cache, packet, len, 1697016827000ull);
    pk_cache_get(cache, packet, 1697016827000ull + 90000, &hit);
    pk_cache_prefetch(cache, 1697016827000ull + 95000, keys, 4);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct pk_packet p;
    static uint8_t packet[PK_PACKET_MAX];

    if (sodium_init() < 0) {
        return 0;
    }
    pk_packet_decode(data, size, true, &p);
    if (size < PK_PACKET_HEAD_LEN || size > PK_PACKET_MAX) {
        return 0;
    }
    memcpy(packet, data, size);
    memcpy(packet, fuzz_key, sizeof(fuzz_key));
    fuzz_cache(packet, size);
    if (pk_packet_decode(packet, size, false, &p) != 0) {
        return 0;
    }
    fuzz_reencode(&p);
    fuzz_answers(&p);
    return 0;
}
