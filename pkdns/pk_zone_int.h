/* Shared by the zone reader's files: pk_zone.c (entries, owners, TTLs, the records),
 * pk_zone_lex.c (lines into tokens), pk_zone_rdata.c (RDATA of each type) and pk_zone_svcb.c
 * (SvcParams of HTTPS and SVCB). */
#ifndef PK_ZONE_INT_H
#define PK_ZONE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns.h"
#include "pk_zone.h"
#include "pkarr_name.h"

#define PK_ZONE_TOKENS_MAX 128 /* tokens of one entry */
#define PK_ZONE_ENTRY_MAX 8192 /* bytes of their text */

/* One word of an entry; quoted strings keep their escapes but lose their quotes. */
struct pk_zone_token {
    const char *text; /* NUL-terminated */
    size_t len;
    bool quoted;
};

struct pk_zone {
    const char *text;
    size_t len;
    size_t pos;
    int line;       /* the physical line last read */
    int entry_line; /* the first line of the entry at hand */
    struct pk_zone_error *err;

    uint8_t origin[DNS_NAME_MAX];
    size_t origin_len;
    uint32_t default_ttl;
    uint8_t owner[DNS_NAME_MAX]; /* the last owner, for indented lines */
    size_t owner_len;
    char key_text[PKARR_KEY_TEXT_LEN + 1];

    /* The entry at hand. */
    bool indented; /* its first line began with a blank: no owner given */
    size_t n_tokens;
    struct pk_zone_token tokens[PK_ZONE_TOKENS_MAX];
    size_t used;
    char store[PK_ZONE_ENTRY_MAX];
};

/* Fills z->err with "message" for the entry at hand. Returns -EINVAL. */
int pk_zone_fail(struct pk_zone *z, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reads a domain name token: "@" is the origin, a name without a final dot is relative to it.
 * Returns 0 or -EINVAL after pk_zone_fail. */
int pk_zone_name(struct pk_zone *z, const struct pk_zone_token *t, uint8_t *out, size_t *out_len);

/* Reads the next entry (one line, or several inside parentheses) into z's tokens. Returns 1,
 * 0 at the end of the text, -EINVAL after pk_zone_fail. */
int pk_zone_lex_entry(struct pk_zone *z);

/* Removes the zone-file escapes (\X, \DDD) of t into out[0..cap). Returns the length, or
 * -EINVAL after pk_zone_fail (bad escape, too long). */
int pk_zone_lex_unescape(struct pk_zone *z, const struct pk_zone_token *t, uint8_t *out,
                         size_t cap);

/* The type a mnemonic names (case-insensitive), or 0 for none we read. */
uint16_t pk_zone_rdata_type(const char *mnemonic);

/* Writes the RDATA of a `type` record from tokens t[0..n) into out[0..cap). Returns its
 * length, or -EINVAL after pk_zone_fail. */
int pk_zone_rdata_parse(struct pk_zone *z, uint16_t type, const struct pk_zone_token *t, size_t n,
                        uint8_t *out, size_t cap);

/* Writes the SvcParams of tokens t[0..n) (RFC 9460 presentation form) to out[0..cap) in
 * ascending key order. Returns their length, or -EINVAL after pk_zone_fail. */
int pk_zone_svcb_params(struct pk_zone *z, const struct pk_zone_token *t, size_t n, uint8_t *out,
                        size_t cap);

/* Reads a decimal number within [0, max]. Returns 0 or -EINVAL (no report). */
int pk_zone_number(const struct pk_zone_token *t, uint32_t max, uint32_t *out);

#endif
