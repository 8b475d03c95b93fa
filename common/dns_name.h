/* Domain names in wire form (length-prefixed labels ending with the root's zero octet):
 * reading from a message with decompression, text conversion, and comparison. */
#ifndef PK_DNS_NAME_H
#define PK_DNS_NAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns.h"

/* Most compression pointers followed while reading one name. Each must point strictly before
 * the previous one, so this only bounds work; 127 is the most a 255-octet name can need. */
#define DNS_NAME_MAX_JUMPS 127

/* Longest text form: every octet escaped as \DDD plus the dots. */
#define DNS_NAME_TEXT_MAX (DNS_NAME_MAX * 4 + 1)

/* Reads the name at *pos of msg[0..len) into out (DNS_NAME_MAX octets), uncompressed, case
 * kept; sets *out_len and moves *pos past the name where it starts. Returns 0, or -EBADMSG for
 * a name that runs past the data, a forward or looping pointer, a label over 63 octets, a name
 * over 255 octets or a reserved label type. `out` may be NULL to only validate and skip. */
int dns_name_read(const uint8_t *msg, size_t len, size_t *pos, uint8_t *out, size_t *out_len);

/* Converts "www.example.com", "www.example.com." or "." to wire form; "\." and "\DDD" escapes.
 * Returns 0, or -EINVAL for empty labels, labels over 63 octets, names over 255 octets or a
 * bad escape. */
int dns_name_from_text(const char *text, uint8_t *out, size_t *out_len);

/* Writes the text form with a trailing dot ("." for the root), escaping dots, backslashes and
 * octets outside printable ASCII. Returns the text length, or -ENOSPC / -EINVAL. */
int dns_name_to_text(const uint8_t *name, size_t len, char *out, size_t cap);

/* Case-insensitive (ASCII) equality of two wire names. */
bool dns_name_equal(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len);

/* Lowercases ASCII letters in place. */
void dns_name_lower(uint8_t *name, size_t len);

/* Number of labels, the root not counted ("www.example.com." has 3). */
unsigned dns_name_label_count(const uint8_t *name, size_t len);

/* Points *label at the idx-th label counted from the end (0 = the last before the root) and
 * sets *label_len. Returns 0, or -ENOENT when the name has fewer labels. */
int dns_name_label_from_end(const uint8_t *name, size_t len, unsigned idx, const uint8_t **label,
                            size_t *label_len);

/* True when `name` equals `zone` or lies below it (case-insensitive). */
bool dns_name_is_under(const uint8_t *name, size_t len, const uint8_t *zone, size_t zone_len);

#endif
