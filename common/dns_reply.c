#include "dns_reply.h"

#include <errno.h>
#include <string.h>

#include "dns_name.h"
#include "dns_writer.h"

/* The flags every reply of ours carries: QR, the query's opcode and RD, and RA since all our
 * daemons recurse or forward. */
static uint16_t dns_reply_flags(const struct dns_header *query, uint16_t rcode)
{
    return (uint16_t)(DNS_FLAG_QR | DNS_FLAG_RA |
                      (query->flags & (DNS_OPCODE_MASK | DNS_FLAG_RD | DNS_FLAG_CD)) |
                      (rcode & DNS_RCODE_MASK));
}

static void dns_reply_start(struct dns_writer *w, const struct dns_query *q, uint16_t flags,
                            uint16_t ancount)
{
    struct dns_header h = {
        .id = q->hdr.id,
        .flags = flags,
        .qdcount = 1,
        .ancount = ancount,
        .arcount = q->has_edns ? 1 : 0,
    };
    dns_writer_header(w, &h);
    dns_writer_question(w, q->q.name, q->q.name_len, q->q.qtype, q->q.qclass);
}

int dns_reply_error(const struct dns_query *q, uint16_t rcode, uint16_t ede_code,
                    const char *ede_text, uint8_t *out, size_t cap)
{
    struct dns_writer w;

    dns_writer_init(&w, out, cap);
    dns_reply_start(&w, q, dns_reply_flags(&q->hdr, rcode), 0);
    if (q->has_edns) {
        dns_writer_opt(&w, DNS_REPLY_EDNS_PAYLOAD, q->edns_do, ede_code, ede_text);
    }
    return dns_writer_finish(&w);
}

int dns_reply_formerr(const uint8_t *query, size_t len, uint8_t *out, size_t cap)
{
    struct dns_header h;
    struct dns_writer w;

    if (dns_msg_header(query, len, &h) != 0) {
        return -EINVAL;
    }
    struct dns_header reply = {
        .id = h.id,
        .flags = (uint16_t)(DNS_FLAG_QR | (h.flags & DNS_OPCODE_MASK) | DNS_RCODE_FORMERR),
    };
    dns_writer_init(&w, out, cap);
    dns_writer_header(&w, &reply);
    return dns_writer_finish(&w);
}

int dns_reply_truncated(const struct dns_query *q, uint16_t answer_flags, uint8_t *out, size_t cap)
{
    struct dns_writer w;

    dns_writer_init(&w, out, cap);
    dns_reply_start(&w, q, (uint16_t)(answer_flags | DNS_FLAG_QR | DNS_FLAG_TC), 0);
    if (q->has_edns) {
        dns_writer_opt(&w, DNS_REPLY_EDNS_PAYLOAD, q->edns_do, DNS_EDE_NONE, NULL);
    }
    return dns_writer_finish(&w);
}

static const char *const dns_reply_identity_names[] = {
    "id.server",
    "hostname.bind",
    "version.server",
    "version.bind",
};

static int dns_reply_identity_index(const struct dns_query *q)
{
    uint8_t wire[DNS_NAME_MAX];
    size_t wire_len;

    if (q->q.qclass != DNS_CLASS_CH || (q->q.qtype != DNS_TYPE_TXT && q->q.qtype != DNS_TYPE_ANY)) {
        return -1;
    }
    for (size_t i = 0; i < sizeof(dns_reply_identity_names) / sizeof(char *); i++) {
        if (dns_name_from_text(dns_reply_identity_names[i], wire, &wire_len) == 0 &&
            dns_name_equal(wire, wire_len, q->q.name, q->q.name_len)) {
            return (int)i;
        }
    }
    return -1;
}

bool dns_reply_is_identity(const struct dns_query *q)
{
    return dns_reply_identity_index(q) >= 0;
}

int dns_reply_identity(const struct dns_query *q, const char *identity, const char *version,
                       uint8_t *out, size_t cap)
{
    int idx = dns_reply_identity_index(q);
    struct dns_writer w;
    const char *text;
    size_t text_len, mark;

    if (idx < 0) {
        return -EINVAL;
    }
    text = idx < 2 ? identity : version;
    text_len = strlen(text);
    if (text_len > 255) { /* RFC 1035 3.3.14: one character-string */
        text_len = 255;
    }

    dns_writer_init(&w, out, cap);
    dns_reply_start(&w, q, (uint16_t)(dns_reply_flags(&q->hdr, DNS_RCODE_NOERROR) | DNS_FLAG_AA),
                    1);
    mark = dns_writer_rr_begin(&w, q->q.name, q->q.name_len, DNS_TYPE_TXT, DNS_CLASS_CH, 0);
    dns_writer_u8(&w, (uint8_t)text_len);
    dns_writer_bytes(&w, text, text_len);
    dns_writer_rr_end(&w, mark);
    if (q->has_edns) {
        dns_writer_opt(&w, DNS_REPLY_EDNS_PAYLOAD, q->edns_do, DNS_EDE_NONE, NULL);
    }
    return dns_writer_finish(&w);
}

/* The bits of the client's own query that its reply carries whatever the answer said, as
 * dnsdist's restoreFlags does: RD (RFC 1035 4.1.1: copied into the response) and CD (RFC 4035
 * 3.2.2: copied too). An answer made for another client's query, or a backend that changed
 * them, must not change what this client reads. */
#define DNS_REPLY_CLIENT_FLAGS (DNS_FLAG_RD | DNS_FLAG_CD)

static uint16_t dns_reply_client_flags(const struct dns_query *q, uint16_t answer_flags)
{
    return (uint16_t)((answer_flags & ~DNS_REPLY_CLIENT_FLAGS) |
                      (q->hdr.flags & DNS_REPLY_CLIENT_FLAGS));
}

int dns_reply_for_client(const struct dns_query *q, bool udp, const uint8_t *answer, size_t len,
                         uint8_t *out, size_t cap)
{
    struct dns_header h;
    uint16_t flags;

    if (dns_msg_header(answer, len, &h) != 0) {
        return -EINVAL;
    }
    flags = dns_reply_client_flags(q, h.flags);
    if (udp && len > q->udp_payload) {
        return dns_reply_truncated(q, (uint16_t)(flags & ~DNS_FLAG_TC), out, cap);
    }
    if (len > cap) {
        return -ENOSPC;
    }
    memmove(out, answer, len);
    out[0] = (uint8_t)(q->hdr.id >> 8);
    out[1] = (uint8_t)q->hdr.id;
    out[2] = (uint8_t)(flags >> 8);
    out[3] = (uint8_t)flags;
    return (int)len;
}
