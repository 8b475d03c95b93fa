#include "fwd_rebind.h"

#include <errno.h>

#include "dns.h"
#include "dns_msg.h"
#include "dns_writer.h"
#include "fwd_private.h"

/* Moves *pos past the header and the question section. Returns 0 or -EBADMSG. */
static int fwd_rebind_skip_questions(const uint8_t *msg, size_t len, const struct dns_header *h,
                                     size_t *pos, struct dns_question *first)
{
    struct dns_question q;

    *pos = DNS_HEADER_LEN;
    for (unsigned i = 0; i < h->qdcount; i++) {
        if (dns_msg_question(msg, len, pos, i == 0 ? first : &q) != 0) {
            return -EBADMSG;
        }
    }
    return 0;
}

static bool fwd_rebind_private_rr(const uint8_t *msg, const struct dns_rr *rr, bool localhost_ok)
{
    if (rr->rclass != DNS_CLASS_IN) {
        return false;
    }
    if (rr->type == DNS_TYPE_A && rr->rdlength == 4) {
        return fwd_private_v4(msg + rr->rdata_pos, localhost_ok);
    }
    if (rr->type == DNS_TYPE_AAAA && rr->rdlength == 16) {
        return fwd_private_v6(msg + rr->rdata_pos, localhost_ok);
    }
    return false;
}

bool fwd_rebind_found(const uint8_t *msg, size_t len, bool localhost_ok)
{
    struct dns_header h;
    struct dns_question q;
    struct dns_rr rr;
    size_t pos;

    if (dns_msg_header(msg, len, &h) != 0 ||
        fwd_rebind_skip_questions(msg, len, &h, &pos, &q) != 0) {
        return false;
    }
    for (unsigned i = 0; i < h.ancount; i++) {
        if (dns_msg_rr(msg, len, &pos, &rr) != 0) {
            return false;
        }
        if (fwd_rebind_private_rr(msg, &rr, localhost_ok)) {
            return true;
        }
    }
    return false;
}

int fwd_rebind_strip(const uint8_t *msg, size_t len, uint8_t *out, size_t cap)
{
    struct dns_header h;
    struct dns_question q;
    struct dns_writer w;
    size_t pos;

    if (dns_msg_header(msg, len, &h) != 0 || h.qdcount != 1 ||
        fwd_rebind_skip_questions(msg, len, &h, &pos, &q) != 0) {
        return -EBADMSG;
    }
    h.ancount = h.nscount = h.arcount = 0;
    dns_writer_init(&w, out, cap);
    dns_writer_header(&w, &h);
    dns_writer_question(&w, q.name, q.name_len, q.qtype, q.qclass);
    return dns_writer_finish(&w);
}
