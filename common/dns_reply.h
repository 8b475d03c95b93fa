/* Answers a server builds itself from a parsed query: errors with Extended DNS Errors,
 * truncated replies, and the RFC 4892 identity queries (id.server CH TXT). */
#ifndef PK_DNS_REPLY_H
#define PK_DNS_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns_msg.h"

/* Payload size we announce in our own OPT records. */
#define DNS_REPLY_EDNS_PAYLOAD DNS_EDNS_DEFAULT

/* Builds a reply to `q` with `rcode`, the question echoed, and an OPT record when the query
 * had one, carrying ede_code (DNS_EDE_NONE for none) and ede_text. Returns the length or a
 * negative error (-ENOSPC). */
int dns_reply_error(const struct dns_query *q, uint16_t rcode, uint16_t ede_code,
                    const char *ede_text, uint8_t *out, size_t cap);

/* Builds a header-only FORMERR reply to a query too malformed to parse (its first 12 octets
 * must be readable). Returns the length or a negative error. */
int dns_reply_formerr(const uint8_t *query, size_t len, uint8_t *out, size_t cap);

/* Builds an empty reply with TC set (RFC 1035 4.2.1), telling a UDP client to retry over TCP;
 * `rcode` and flags come from the full answer's header `answer_flags`. */
int dns_reply_truncated(const struct dns_query *q, uint16_t answer_flags, uint8_t *out, size_t cap);

/* True for id.server, hostname.bind, version.server and version.bind in class CH with type
 * TXT or ANY (RFC 4892). */
bool dns_reply_is_identity(const struct dns_query *q);

/* Answers an identity query: id.server and hostname.bind with `identity`, the version names
 * with `version`. Returns the length or a negative error. */
int dns_reply_identity(const struct dns_query *q, const char *identity, const char *version,
                       uint8_t *out, size_t cap);

/* Copies `answer` into out for the client of `q`: restores the client's ID and the RD and CD
 * bits of its query (as dnsdist does), and fits the answer to the client's UDP limit (a TC
 * reply when it does not fit; `udp` false for TCP). Returns the length or a negative error. */
int dns_reply_for_client(const struct dns_query *q, bool udp, const uint8_t *answer, size_t len,
                         uint8_t *out, size_t cap);

#endif
