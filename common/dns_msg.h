/* Reading DNS messages: header, questions, records, EDNS0 (RFC 6891) and Extended DNS Errors
 * (RFC 8914). Every read is bounds-checked against the message length; nothing here trusts a
 * count or length from the wire. No I/O. */
#ifndef PK_DNS_MSG_H
#define PK_DNS_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns.h"

struct dns_header {
    uint16_t id;
    uint16_t flags;
    uint16_t qdcount;
    uint16_t ancount;
    uint16_t nscount;
    uint16_t arcount;
};

struct dns_question {
    uint8_t name[DNS_NAME_MAX];
    size_t name_len;
    uint16_t qtype;
    uint16_t qclass;
};

struct dns_rr {
    uint8_t name[DNS_NAME_MAX];
    size_t name_len;
    uint16_t type;
    uint16_t rclass;
    uint32_t ttl;
    uint16_t rdlength;
    size_t ttl_pos;   /* offset of the TTL field in the message */
    size_t rdata_pos; /* offset of the RDATA */
};

/* What a server needs of a query: header, its single question and its EDNS0 record. */
struct dns_query {
    struct dns_header hdr;
    struct dns_question q;
    size_t question_end; /* offset just past the question */
    bool has_edns;
    uint8_t edns_version;
    bool edns_do;
    uint16_t udp_payload; /* the client's limit: 512 without EDNS, at least 512 with it */
};

/* Most TTL fields dns_msg_scan_response records; a larger answer is not cacheable. */
#define DNS_MSG_MAX_TTLS 128

/* What a cache needs of a response. */
struct dns_response {
    struct dns_header hdr;
    bool has_question;
    struct dns_question q;
    uint16_t ttl_offsets[DNS_MSG_MAX_TTLS]; /* TTL fields of every record but OPT */
    size_t n_ttl;                           /* > DNS_MSG_MAX_TTLS: too many to record */
    uint32_t min_ttl;                       /* over those records; UINT32_MAX when none */
    bool has_soa;                           /* an SOA in the authority section */
    uint32_t soa_ttl;
    uint32_t soa_minimum;
    bool has_edns;
    uint16_t udp_payload;
    uint16_t ede_code; /* DNS_EDE_NONE when absent */
    size_t opt_pos;    /* offset of the OPT record, when has_edns */
    size_t opt_end;
};

static inline unsigned dns_msg_rcode(const struct dns_header *h)
{
    return h->flags & DNS_RCODE_MASK;
}

static inline unsigned dns_msg_opcode(const struct dns_header *h)
{
    return (h->flags & DNS_OPCODE_MASK) >> DNS_OPCODE_SHIFT;
}

/* Reads the 12-octet header. Returns 0 or -EBADMSG when len < 12. */
int dns_msg_header(const uint8_t *msg, size_t len, struct dns_header *h);

/* Reads a question at *pos and moves *pos past it. Returns 0 or -EBADMSG. */
int dns_msg_question(const uint8_t *msg, size_t len, size_t *pos, struct dns_question *q);

/* Reads a resource record at *pos and moves *pos past it; its RDATA must lie within the
 * message. Returns 0 or -EBADMSG. */
int dns_msg_rr(const uint8_t *msg, size_t len, size_t *pos, struct dns_rr *rr);

/* Moves *pos past a record without copying its name. Returns 0 or -EBADMSG. */
int dns_msg_skip_rr(const uint8_t *msg, size_t len, size_t *pos);

/* Parses a query: exactly one question, answer and authority sections skipped, at most one
 * OPT record (in the additional section, owner the root). Returns 0; -EINVAL when even the
 * header is unreadable (drop it); -EBADMSG for anything else malformed (answer FORMERR). */
int dns_msg_parse_query(const uint8_t *msg, size_t len, struct dns_query *out);

/* Walks a whole response, checking every section and recording what a cache needs.
 * Returns 0 or -EBADMSG. */
int dns_msg_scan_response(const uint8_t *msg, size_t len, struct dns_response *out);

/* Reads the EDNS options in an OPT record's RDATA and returns the first EDE info code
 * (RFC 8914), or DNS_EDE_NONE. */
uint16_t dns_msg_find_ede(const uint8_t *rdata, size_t rdlength);

#endif
