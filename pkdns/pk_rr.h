/* Resource records as pkdns keeps them: owner and RDATA in wire form with every name written
 * out in full, so that a record read from one message can be compared, stored and written
 * into another. Reading RDATA expands the compressed names of the types that carry names;
 * a record set holds the records of one pkarr packet or zone file in an arena of its own.
 * No I/O. */
#ifndef PK_RR_H
#define PK_RR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns_writer.h"

/* Records a set holds. A 1000-byte pkarr message has at most 82 records (12 bytes each at
 * least: a 2-byte pointer for the owner and the fixed fields). */
#define PK_RR_SET_MAX 128

/* Bytes of owner names and RDATA a set holds. Enough for any 1000-byte message: the record
 * that grows most when its names are expanded is a 14-byte CNAME (pointer owner, pointer
 * target), at most 457 bytes stored, and 70 of them take 31990 bytes. */
#define PK_RR_SET_ARENA 32768

/* Longest expanded RDATA pk_rr_expand keeps: a 1000-byte message's record grows by at most
 * two names (SOA). */
#define PK_RR_RDATA_MAX 2048

struct pk_rr {
    const uint8_t *name; /* owner, wire form */
    size_t name_len;
    uint16_t type;
    uint16_t rclass;
    uint32_t ttl;
    const uint8_t *rdata; /* names inside written out in full */
    uint16_t rdlength;
};

/* Records and the arena their names and RDATA live in. It points into itself: never copy
 * one with memcpy or assignment. */
struct pk_rr_set {
    size_t count;
    struct pk_rr rr[PK_RR_SET_MAX];
    size_t used;
    uint8_t arena[PK_RR_SET_ARENA];
};

/* Writes the RDATA at msg[rdata_pos..+rdlength) of a record of `type` into w, reading the
 * names in it through compression pointers into msg (NS, CNAME, SOA, PTR, MX: RFC 1035 3.3;
 * SRV: RFC 2782; DNAME: RFC 6672); with `compress` the RFC 1035 types' names are written
 * compressed (RFC 3597 4 allows it for those alone). Other types are copied as they are.
 * Returns 0, or -EBADMSG when the RDATA does not have its type's shape (w may then hold part
 * of it: start the message again). Errors of w itself stay in w. */
int pk_rr_write_rdata(struct dns_writer *w, const uint8_t *msg, size_t len, uint16_t type,
                      size_t rdata_pos, uint16_t rdlength, bool compress);

/* Reads the RDATA of a record of msg as pk_rr_write_rdata does, uncompressed, into
 * out[0..cap). Returns its length, -EBADMSG for a malformed RDATA, -EMSGSIZE when it does not
 * fit in cap or in 65535 bytes. */
int pk_rr_expand(const uint8_t *msg, size_t len, uint16_t type, size_t rdata_pos, uint16_t rdlength,
                 uint8_t *out, size_t cap);

/* Copies the record at *pos of msg[0..len) into w with its names expanded (the owner and the
 * RFC 1035 types' RDATA names compressed against w) and moves *pos past it. Returns 0, or
 * -EBADMSG (w may then hold part of the record); errors of w stay in w. */
int pk_rr_copy(struct dns_writer *w, const uint8_t *msg, size_t len, size_t *pos);

/* Writes rr into w with the owner `owner` (a wire name) and `ttl`, compressing the owner and
 * the RFC 1035 types' RDATA names. Errors stay in w. */
void pk_rr_write(struct dns_writer *w, const struct pk_rr *rr, const uint8_t *owner,
                 size_t owner_len, uint32_t ttl);

/* Empties the set. */
void pk_rr_set_init(struct pk_rr_set *s);

/* Appends a copy of rr (its name and RDATA go into the arena). Returns 0, or -ENOSPC when
 * the set has PK_RR_SET_MAX records or the arena is full. */
int pk_rr_set_add(struct pk_rr_set *s, const struct pk_rr *rr);

#endif
