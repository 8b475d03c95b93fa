/* Fuzz target for what DNS servers send back while pkdns follows a name: the resolution of
 * www.<key> A, whose packet points at example.com, takes the input as the forward server's
 * response (and as the delegated servers' responses after it). */
#include <sodium.h>
#include <stdint.h>
#include <string.h>

#include "dns_name.h"
#include "dns_writer.h"
#include "pk_answer.h"
#include "pk_packet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pk_packet fuzz_packet;
static struct dns_query fuzz_query;

/* The packet of the key of seed 00x32: www CNAME example.com, sub NS ns.sub.<key> with glue. */
static int fuzz_setup(void)
{
    static struct pk_rr_set set;
    uint8_t seed[32] = {0}, pk[PK_PACKET_KEY_LEN], sk[PK_PACKET_SECRET_LEN];
    uint8_t msg[1024], packet[PK_PACKET_MAX], target[DNS_NAME_MAX], owner[DNS_NAME_MAX];
    struct pk_rr rr = {.name = owner, .rclass = DNS_CLASS_IN, .ttl = 300, .rdata = target};
    struct dns_header h = {.id = 1, .flags = DNS_FLAG_RD, .qdcount = 1};
    struct dns_writer w;
    size_t len;
    int n;

    crypto_sign_seed_keypair(pk, sk, seed);
    pk_rr_set_init(&set);
    dns_name_from_text("www", owner, &rr.name_len);
    dns_name_from_text("example.com", target, &len);
    rr.type = DNS_TYPE_CNAME;
    rr.rdlength = (uint16_t)len;
    pk_rr_set_add(&set, &rr);
    n = pk_packet_build_message(&set, pk, msg, sizeof(msg));
    n = pk_packet_sign(sk, 1, msg, (size_t)n, packet, sizeof(packet));
    if (n < 0 || pk_packet_decode(packet, (size_t)n, true, &fuzz_packet) != 0) {
        return -1;
    }

    dns_name_from_text("www.8pinxxgqs41n4aididenw5apqp1urfmzdztr8jt4abrkdn435ewo", owner, &len);
    dns_writer_init(&w, msg, sizeof(msg));
    dns_writer_header(&w, &h);
    dns_writer_question(&w, owner, len, DNS_TYPE_A, DNS_CLASS_IN);
    n = dns_writer_finish(&w);
    return n > 0 ? dns_msg_parse_query(msg, (size_t)n, &fuzz_query) : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t out[PK_ANSWER_OUT_MAX];
    static struct pk_answer a;
    static int ready = -1;
    struct pk_answer_config cfg = {.min_ttl = 60, .max_ttl = 86400, .max_recursion_depth = 15};
    int step;

    if (ready < 0 && (sodium_init() < 0 || (ready = fuzz_setup()) < 0)) {
        return 0;
    }
    step = pk_answer_start(&a, &cfg, &fuzz_query, out, sizeof(out));
    step = pk_answer_feed_packet(&a, &fuzz_packet, out, sizeof(out));
    for (int turn = 0; turn < 20 && step > 0 && step != PK_ANSWER_DONE; turn++) {
        if (step == PK_ANSWER_NEED_KEY) {
            step = pk_answer_feed_packet(&a, NULL, out, sizeof(out));
        } else if (step == PK_ANSWER_NEED_ICANN || step == PK_ANSWER_NEED_SERVER) {
            step = pk_answer_feed_response(&a, data, size, out, sizeof(out));
        } else {
            break;
        }
    }
    return 0;
}
