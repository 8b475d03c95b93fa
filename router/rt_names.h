/* Names of query types and rcodes as configurations spell them ("AAAA", "REFUSED"). */
#ifndef PK_RT_NAMES_H
#define PK_RT_NAMES_H

#include <stddef.h>
#include <stdint.h>

/* Parses a query type name in any case ("A", "txt", "TYPE65") or a number 1-65535.
 * Returns 0 or -EINVAL. */
int rt_names_parse_qtype(const char *text, uint16_t *out);

/* Parses an rcode name in any case (NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED,
 * ...) or a number 0-15. Returns 0 or -EINVAL. */
int rt_names_parse_rcode(const char *text, uint16_t *out);

/* Writes the name of a query type ("TYPE<n>" when it has none) into buf; returns buf. */
const char *rt_names_qtype(uint16_t qtype, char *buf, size_t cap);

/* Writes the name of an rcode (its number when it has none) into buf; returns buf. */
const char *rt_names_rcode(uint16_t rcode, char *buf, size_t cap);

#endif
