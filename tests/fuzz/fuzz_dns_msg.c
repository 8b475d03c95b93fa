/* Fuzz target for the DNS reader: every parser of untrusted DNS bytes, and the replies built
 * from what they accept. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "dns_msg.h"
#include "dns_name.h"
#include "dns_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_walk_records(const uint8_t *data, size_t size)
{
    struct dns_header h;
    struct dns_question q;
    struct dns_rr rr;
    char text[DNS_NAME_TEXT_MAX];
    size_t pos = DNS_HEADER_LEN;

    if (dns_msg_header(data, size, &h) != 0) {
        return;
    }
    for (unsigned i = 0; i < h.qdcount; i++) {
        if (dns_msg_question(data, size, &pos, &q) != 0) {
            return;
        }
        dns_name_to_text(q.name, q.name_len, text, sizeof(text));
    }
    for (unsigned i = 0; i < (unsigned)h.ancount + h.nscount + h.arcount; i++) {
        if (dns_msg_rr(data, size, &pos, &rr) != 0) {
            return;
        }
        dns_name_to_text(rr.name, rr.name_len, text, sizeof(text));
        if (rr.type == DNS_TYPE_OPT) {
            dns_msg_find_ede(data + rr.rdata_pos, rr.rdlength);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dns_query q;
    struct dns_response r;
    uint8_t out[2048];

    fuzz_walk_records(data, size);
    dns_msg_scan_response(data, size, &r);

    int rc = dns_msg_parse_query(data, size, &q);
    if (rc == -EBADMSG) {
        dns_reply_formerr(data, size, out, sizeof(out));
        return 0;
    }
    if (rc != 0) {
        return 0;
    }
    dns_reply_error(&q, DNS_RCODE_SERVFAIL, DNS_EDE_NETWORK_ERROR, "fuzz", out, sizeof(out));
    if (dns_reply_is_identity(&q)) {
        dns_reply_identity(&q, "fuzz", "0", out, sizeof(out));
    }
    dns_reply_for_client(&q, true, data, size, out, sizeof(out));
    return 0;
}
