/* Private addresses and the questions about them that dnsmasq answers itself instead of
 * forwarding, with domain-needed and bogus-priv. */
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

/* Whether an IPv4 address is in a range dnsmasq 2.90 keeps to itself: this network (0/8) and
 * loopback (127/8), both unless localhost_ok; private (10/8, 172.16/12, 192.168/16, RFC
 * 1918), link-local (169.254/16), the documentation nets (192.0.2/24, 198.51.100/24,
 * 203.0.113/24, RFC 5737) and the broadcast address. */
bool fwd_private_v4(const uint8_t a[4], bool localhost_ok);

/* And IPv6: unspecified and loopback (unless localhost_ok), link-local and site-local
 * (fe80::/9), unique local in fd00::/8, documentation (2001:db8::/32, RFC 3849), and the
 * IPv4-mapped forms of the IPv4 ranges. */
bool fwd_private_v6(const uint8_t a[16], bool localhost_ok);

#endif
