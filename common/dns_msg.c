#include "dns_msg.h"

#include <errno.h>
#include <string.h>

#include "dns_name.h"

static uint16_t dns_msg_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t dns_msg_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int dns_msg_header(const uint8_t *msg, size_t len, struct dns_header *h)
{
    if (len < DNS_HEADER_LEN) {
        return -EBADMSG;
    }
    h->id = dns_msg_u16(msg);
    h->flags = dns_msg_u16(msg + 2);
    h->qdcount = dns_msg_u16(msg + 4);
    h->ancount = dns_msg_u16(msg + 6);
    h->nscount = dns_msg_u16(msg + 8);
    h->arcount = dns_msg_u16(msg + 10);
    return 0;
}

int dns_msg_question(const uint8_t *msg, size_t len, size_t *pos, struct dns_question *q)
{
    size_t at = *pos;

    if (dns_name_read(msg, len, &at, q->name, &q->name_len) != 0) {
        return -EBADMSG;
    }
    if (len - at < 4) { /* RFC 1035 4.1.2: QTYPE, QCLASS */
        return -EBADMSG;
    }
    q->qtype = dns_msg_u16(msg + at);
    q->qclass = dns_msg_u16(msg + at + 2);
    *pos = at + 4;
    return 0;
}

/* The fixed part after the owner name: TYPE, CLASS, TTL, RDLENGTH (RFC 1035 4.1.3). */
#define DNS_RR_FIXED_LEN 10

static int dns_msg_rr_fixed(const uint8_t *msg, size_t len, size_t at, struct dns_rr *rr)
{
    if (len - at < DNS_RR_FIXED_LEN) {
        return -EBADMSG;
    }
    rr->type = dns_msg_u16(msg + at);
    rr->rclass = dns_msg_u16(msg + at + 2);
    rr->ttl_pos = at + 4;
    rr->ttl = dns_msg_u32(msg + at + 4);
    rr->rdlength = dns_msg_u16(msg + at + 8);
    rr->rdata_pos = at + DNS_RR_FIXED_LEN;
    if (len - rr->rdata_pos < rr->rdlength) {
        return -EBADMSG;
    }
    return 0;
}

int dns_msg_rr(const uint8_t *msg, size_t len, size_t *pos, struct dns_rr *rr)
{
    size_t at = *pos;

    if (dns_name_read(msg, len, &at, rr->name, &rr->name_len) != 0 ||
        dns_msg_rr_fixed(msg, len, at, rr) != 0) {
        return -EBADMSG;
    }
    *pos = rr->rdata_pos + rr->rdlength;
    return 0;
}

int dns_msg_skip_rr(const uint8_t *msg, size_t len, size_t *pos)
{
    size_t at = *pos;
    struct dns_rr rr;

    if (dns_name_read(msg, len, &at, NULL, NULL) != 0 || dns_msg_rr_fixed(msg, len, at, &rr) != 0) {
        return -EBADMSG;
    }
    *pos = rr.rdata_pos + rr.rdlength;
    return 0;
}

uint16_t dns_msg_find_ede(const uint8_t *rdata, size_t rdlength)
{
    size_t at = 0;

    /* RFC 6891 6.1.2: OPTION-CODE, OPTION-LENGTH, data; RFC 8914 2: INFO-CODE first. */
    while (rdlength - at >= 4) {
        uint16_t code = dns_msg_u16(rdata + at);
        uint16_t opt_len = dns_msg_u16(rdata + at + 2);
        at += 4;
        if (rdlength - at < opt_len) {
            break;
        }
        if (code == DNS_EDNS_OPTION_EDE && opt_len >= 2) {
            return dns_msg_u16(rdata + at);
        }
        at += opt_len;
    }
    return DNS_EDE_NONE;
}

/* Reads an OPT record (RFC 6891 6.1.2) whose fixed part is in rr: owner must be the root. */
static int dns_msg_opt_ok(const struct dns_rr *rr)
{
    return rr->name_len == 1 && rr->name[0] == 0;
}

int dns_msg_parse_query(const uint8_t *msg, size_t len, struct dns_query *out)
{
    size_t pos = DNS_HEADER_LEN;
    struct dns_rr rr;

    if (dns_msg_header(msg, len, &out->hdr) != 0) {
        return -EINVAL;
    }
    out->has_edns = false;
    out->edns_version = 0;
    out->edns_do = false;
    out->udp_payload = DNS_UDP_MIN;
    if (out->hdr.qdcount != 1) {
        return -EBADMSG;
    }
    if (dns_msg_question(msg, len, &pos, &out->q) != 0) {
        return -EBADMSG;
    }
    out->question_end = pos;

    for (unsigned i = 0; i < (unsigned)out->hdr.ancount + out->hdr.nscount; i++) {
        if (dns_msg_skip_rr(msg, len, &pos) != 0) {
            return -EBADMSG;
        }
    }
    for (unsigned i = 0; i < out->hdr.arcount; i++) {
        if (dns_msg_rr(msg, len, &pos, &rr) != 0) {
            return -EBADMSG;
        }
        if (rr.type != DNS_TYPE_OPT) {
            continue;
        }
        /* RFC 6891 6.1.1: more than one OPT, or one not owned by the root, is FORMERR. */
        if (out->has_edns || !dns_msg_opt_ok(&rr)) {
            return -EBADMSG;
        }
        out->has_edns = true;
        out->edns_version = (uint8_t)(rr.ttl >> 16);
        out->edns_do = (rr.ttl & DNS_EDNS_DO) != 0;
        /* RFC 6891 6.2.5: values below 512 are treated as 512. */
        out->udp_payload = rr.rclass < DNS_UDP_MIN ? DNS_UDP_MIN : rr.rclass;
    }
    return 0;
}

static void dns_msg_note_ttl(struct dns_response *out, const struct dns_rr *rr)
{
    if (out->n_ttl < DNS_MSG_MAX_TTLS) {
        out->ttl_offsets[out->n_ttl] = (uint16_t)rr->ttl_pos;
    }
    out->n_ttl++;
    if (rr->ttl < out->min_ttl) {
        out->min_ttl = rr->ttl;
    }
}

/* RFC 1035 3.3.13: MNAME, RNAME, then SERIAL REFRESH RETRY EXPIRE MINIMUM. */
static void dns_msg_note_soa(const uint8_t *msg, struct dns_response *out, const struct dns_rr *rr)
{
    size_t at = rr->rdata_pos;
    size_t end = rr->rdata_pos + rr->rdlength;

    if (dns_name_read(msg, end, &at, NULL, NULL) != 0 ||
        dns_name_read(msg, end, &at, NULL, NULL) != 0 || end - at < 20) {
        return; /* a malformed SOA gives no negative TTL; neg-ttl applies */
    }
    out->has_soa = true;
    out->soa_ttl = rr->ttl;
    out->soa_minimum = dns_msg_u32(msg + at + 16);
}

int dns_msg_scan_response(const uint8_t *msg, size_t len, struct dns_response *out)
{
    size_t pos = DNS_HEADER_LEN;
    struct dns_rr rr;
    unsigned records;

    out->has_question = false;
    out->n_ttl = 0;
    out->min_ttl = UINT32_MAX;
    out->has_soa = false;
    out->has_edns = false;
    out->udp_payload = DNS_UDP_MIN;
    out->ede_code = DNS_EDE_NONE;
    if (dns_msg_header(msg, len, &out->hdr) != 0 || out->hdr.qdcount > 1) {
        return -EBADMSG;
    }
    if (out->hdr.qdcount == 1) {
        if (dns_msg_question(msg, len, &pos, &out->q) != 0) {
            return -EBADMSG;
        }
        out->has_question = true;
    }

    records = (unsigned)out->hdr.ancount + out->hdr.nscount + out->hdr.arcount;
    for (unsigned i = 0; i < records; i++) {
        size_t start = pos;
        if (dns_msg_rr(msg, len, &pos, &rr) != 0) {
            return -EBADMSG;
        }
        if (rr.type == DNS_TYPE_OPT) {
            if (i < (unsigned)out->hdr.ancount + out->hdr.nscount || out->has_edns ||
                !dns_msg_opt_ok(&rr)) {
                return -EBADMSG;
            }
            out->has_edns = true;
            out->udp_payload = rr.rclass < DNS_UDP_MIN ? DNS_UDP_MIN : rr.rclass;
            out->ede_code = dns_msg_find_ede(msg + rr.rdata_pos, rr.rdlength);
            out->opt_pos = start;
            out->opt_end = pos;
            continue;
        }
        dns_msg_note_ttl(out, &rr);
        if (rr.type == DNS_TYPE_SOA && i >= out->hdr.ancount &&
            i < (unsigned)out->hdr.ancount + out->hdr.nscount) {
            dns_msg_note_soa(msg, out, &rr);
        }
    }
    return 0;
}
