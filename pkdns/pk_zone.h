/* The zone files of `pkdns-cli publish SEED ZONEFILE`: RFC 1035 master-file syntax with an
 * implicit "$ORIGIN <key>." and "$TTL 300" (as the Rust pkdns-cli), read into the records of
 * a pkarr packet. Owners: "@", names relative to the origin, absolute names under the key;
 * an indented line reuses the last owner. TTL and class IN in either order; TTLs in seconds or
 * with units (1h30m). Types: A, AAAA, CNAME, NS, PTR, MX, TXT (quoted or bare strings, several),
 * SRV, HTTPS and SVCB (SvcParams mandatory, alpn, no-default-alpn, port, ipv4hint, ech,
 * ipv6hint, keyNNNNN). ';' comments, parentheses over lines, $ORIGIN and $TTL. No I/O. */
#ifndef PK_ZONE_H
#define PK_ZONE_H

#include <stddef.h>
#include <stdint.h>

#include "pk_packet.h"
#include "pk_rr.h"

#define PK_ZONE_DEFAULT_TTL 300 /* Rust pkdns-cli: the implicit $TTL */

/* Why a zone was refused: the line of the entry (0 for the zone as a whole) and a sentence. */
struct pk_zone_error {
    int line;
    char message[200];
};

/* Reads text[0..len) for the zone of `key` into out (owners relative to the key, names in
 * RDATA absolute), and checks that the records fit a packet we publish
 * (PK_PACKET_PUBLISH_MAX bytes of DNS message). Returns 0, or -EINVAL (-ENOMEM) with err
 * filled in. */
int pk_zone_read(const char *text, size_t len, const uint8_t key[PK_PACKET_KEY_LEN],
                 struct pk_rr_set *out, struct pk_zone_error *err);

#endif
