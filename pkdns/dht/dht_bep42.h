/* BEP 42, the DHT security extension: node IDs tied to the node's external IP address. The
 * first 21 bits of a conforming ID are those of CRC32C(masked IP | r << 29 ...), r being the
 * low 3 bits of the ID's last byte; the IPv4 mask keeps 0x030f3fff of the address, the IPv6
 * mask 0x0103070f1f3f7fff of its first 8 bytes. Local addresses (loopback, private, link-local)
 * are exempt: any ID conforms there.
 *
 * CRC32C (Castagnoli) is written out here because none of the libraries the project links
 * (libsodium, nettle, libuv, c-ares) offers it; four bytes an ID need no table or hardware
 * path. No I/O. */
#ifndef PK_DHT_BEP42_H
#define PK_DHT_BEP42_H

#include "addr.h"
#include "krpc.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DHT_BEP42_PREFIX_BITS 21 /* BEP 42: bits of the ID fixed by the address */

/* CRC32C (reflected polynomial 0x82f63b78, initial and final XOR 0xffffffff) of data. */
uint32_t dht_bep42_crc32c(const uint8_t *data, size_t len);

/* True when the IP address of `a` is exempt from BEP 42: 10/8, 172.16/12, 192.168/16,
 * 169.254/16, 127/8 (the BEP's list), and for IPv6 ::1, fc00::/7 and fe80::/10 (ours, the
 * same kinds of address). Another family counts as exempt. */
bool dht_bep42_exempt(const struct addr *a);

/* Writes into id a conforming ID for the IP address ip (4 or 16 bytes) with r (0 to 7, kept
 * in the last byte's low bits); the other bits come from `noise` (20 bytes). Returns 0, or
 * -EINVAL for another ip length. */
int dht_bep42_make_id(const uint8_t *ip, size_t ip_len, uint8_t r, const uint8_t noise[KRPC_ID_LEN],
                      uint8_t id[KRPC_ID_LEN]);

/* True when id conforms to the IP address of `a`, or `a` is exempt. */
bool dht_bep42_check(const uint8_t id[KRPC_ID_LEN], const struct addr *a);

#endif
