/* Shared by the files of the answer module: pk_answer.c (steps, writing the answer),
 * pk_answer_packet.c (the rules inside a pkarr packet) and pk_answer_response.c (answers from
 * DNS servers). */
#ifndef PK_ANSWER_INT_H
#define PK_ANSWER_INT_H

#include "dns_writer.h"
#include "pk_answer.h"

/* An answer being written: header, question and the CNAME chain first, then what the last
 * step adds, counted here. */
struct pk_answer_out {
    struct dns_writer w;
    uint16_t an;
    uint16_t ns;
    uint16_t ar;
};

/* Starts the answer in out[0..cap): header with rcode (AA when aa), the question as asked,
 * the chain of CNAMEs followed so far. */
void pk_answer_begin(struct pk_answer *a, struct pk_answer_out *o, uint8_t *out, size_t cap,
                     unsigned rcode, bool aa);

/* Ends the answer: an OPT record when the query had one (with ede_code unless
 * DNS_EDE_NONE), the counts. An answer that did not fit becomes a bare SERVFAIL. Returns
 * PK_ANSWER_DONE, or -ENOSPC when not even that fits. */
int pk_answer_end(struct pk_answer *a, struct pk_answer_out *o, uint16_t ede_code,
                  const char *ede_text);

/* Writes an answer with no records beyond the chain. Returns as pk_answer_end. */
int pk_answer_finish(struct pk_answer *a, unsigned rcode, bool aa, uint16_t ede_code,
                     const char *ede_text, uint8_t *out, size_t cap);

/* A TTL from the packet being resolved: clamped to [min_ttl, max_ttl], then counted down by
 * the packet's age in the cache (never below 1 unless it is 0), or at most
 * PK_ANSWER_STALE_TTL_S for a stale packet. */
uint32_t pk_answer_ttl(const struct pk_answer *a, uint32_t ttl);

/* Appends a CNAME to `target` to the chain and makes target the name being resolved.
 * Returns 0, or PK_ANSWER_DONE / -ENOSPC after writing SERVFAIL when the chain or
 * max_recursion_depth would be exceeded. */
int pk_answer_add_link(struct pk_answer *a, const uint8_t *target, size_t target_len, uint32_t ttl,
                       uint8_t *out, size_t cap);

/* The name being resolved has left the data at hand: asks for its key's packet or the
 * forward server's answer, or, without recursion, answers with the chain. Returns the step. */
int pk_answer_leave(struct pk_answer *a, uint8_t *out, size_t cap);

/* Asks a delegated server (addresses in a->servers) for the name being resolved. Returns
 * PK_ANSWER_NEED_SERVER, or SERVFAIL as pk_answer_add_link beyond max_recursion_depth. */
int pk_answer_refer(struct pk_answer *a, uint8_t *out, size_t cap);

/* Adds a glue address from an A or AAAA record's RDATA to a->servers (port 53); others and
 * addresses beyond PK_ANSWER_GLUE_MAX are ignored. */
void pk_answer_add_server(struct pk_answer *a, uint16_t type, const uint8_t *rdata,
                          size_t rdlength);

/* Applies the rules to the packet of the key asked for. Returns the next step. */
int pk_answer_packet_resolve(struct pk_answer *a, const struct pk_packet *p, uint8_t *out,
                             size_t cap);

/* Takes a DNS server's response to the question being resolved. Returns the next step. */
int pk_answer_response_resolve(struct pk_answer *a, const uint8_t *msg, size_t len, uint8_t *out,
                               size_t cap);

#endif
