/* Questions dnsmasq answers itself instead of forwarding, with domain-needed and bogus-priv. */
#ifndef PK_FWD_PRIVATE_H
#define PK_FWD_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* domain-needed: true for an A, AAAA or ANY question about a plain name (one label), which
 * is never forwarded and gets NXDOMAIN. */
bool fwd_private_plain_name(const uint8_t *name, size_t len, uint16_t qtype);

/* bogus-priv: true for a PTR or ANY question about the reverse name (in-addr.arpa or
 * ip6.arpa, the address possibly cut short: "168.192.in-addr.arpa") of a private, loopback,
 * link-local or documentation address, which gets NXDOMAIN. A name that is not a reverse
 * address (a label that is not a number up to 255 or one hex digit, too many labels) is not. */
bool fwd_private_reverse(const uint8_t *name, size_t len, uint16_t qtype);

#endif
