/* stop-dns-rebind: upstream answers that give a private address for a public name (the DNS
 * rebinding attack, where a web page's own name comes to point into the local network). */
#ifndef PK_FWD_REBIND_H
#define PK_FWD_REBIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Whether the answer section of msg[0..len) holds an A or AAAA record of a private address
 * (fwd_private_v4/v6; loopback allowed with localhost_ok). False for a message that does not
 * read. */
bool fwd_rebind_found(const uint8_t *msg, size_t len, bool localhost_ok);

/* Writes into out[0..cap) the answer dnsmasq gives instead: msg's header (its rcode, so
 * NOERROR) and question, and no records at all. Returns the length, or -EBADMSG / -ENOSPC. */
int fwd_rebind_strip(const uint8_t *msg, size_t len, uint8_t *out, size_t cap);

#endif
