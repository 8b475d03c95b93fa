/* Building DNS messages into a caller's buffer. Errors are sticky: after the first failure
 * (no room, bad name) every call does nothing and dns_writer_finish reports it, so a caller
 * checks once at the end. */
#ifndef PK_DNS_WRITER_H
#define PK_DNS_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns.h"
#include "dns_msg.h"

/* Names remembered as compression targets; later suffixes beyond this are written in full. */
#define DNS_WRITER_COMPRESS_MAX 64

struct dns_writer {
    uint8_t *buf;
    size_t cap;
    size_t len;
    int err;
    size_t n_targets;
    uint16_t targets[DNS_WRITER_COMPRESS_MAX]; /* offsets of names (and suffixes) written */
};

/* Starts an empty message in buf[0..cap). */
void dns_writer_init(struct dns_writer *w, uint8_t *buf, size_t cap);

/* Appends the 12-octet header; call first. */
void dns_writer_header(struct dns_writer *w, const struct dns_header *h);

void dns_writer_u8(struct dns_writer *w, uint8_t v);
void dns_writer_u16(struct dns_writer *w, uint16_t v);
void dns_writer_u32(struct dns_writer *w, uint32_t v);
void dns_writer_bytes(struct dns_writer *w, const void *data, size_t len);

/* Appends a wire name; with `compress`, as a pointer to an earlier copy of its longest known
 * suffix (RFC 1035 4.1.4), and remembers it as a target for later names. */
void dns_writer_name(struct dns_writer *w, const uint8_t *name, size_t len, bool compress);

/* Appends a question; the caller counts it in the header. */
void dns_writer_question(struct dns_writer *w, const uint8_t *name, size_t len, uint16_t qtype,
                         uint16_t qclass);

/* Appends a record's owner, type, class, TTL and a placeholder RDLENGTH, and returns the mark
 * that dns_writer_rr_end needs once the RDATA is written. */
size_t dns_writer_rr_begin(struct dns_writer *w, const uint8_t *name, size_t len, uint16_t type,
                           uint16_t rclass, uint32_t ttl);

/* Fills in the RDLENGTH of the record started at `mark`. */
void dns_writer_rr_end(struct dns_writer *w, size_t mark);

/* Appends an OPT record (RFC 6891) with our payload size and the DO bit, and an Extended DNS
 * Error option (RFC 8914) unless ede_code is DNS_EDE_NONE (ede_text may be NULL). */
void dns_writer_opt(struct dns_writer *w, uint16_t udp_payload, bool do_bit, uint16_t ede_code,
                    const char *ede_text);

/* Overwrites the four section counts in the header already written. */
void dns_writer_counts(struct dns_writer *w, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar);

/* Returns the message length, or the first error (-ENOSPC, -EINVAL). */
int dns_writer_finish(const struct dns_writer *w);

#endif
