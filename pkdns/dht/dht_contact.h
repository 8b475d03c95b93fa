/* A DHT contact: a node ID and the UDP address the node answers on. The XOR metric of BEP 5
 * over 160-bit IDs, and the compact forms that carry contacts and addresses on the wire
 * (26-byte node info and 6-byte address and port for IPv4; BEP 32's 38-byte node info and
 * 18-byte address and port for IPv6). */
#ifndef PK_DHT_CONTACT_H
#define PK_DHT_CONTACT_H

#include "addr.h"
#include "krpc.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DHT_CONTACT_ID_BITS 160 /* BEP 5: node IDs are 160-bit numbers */

struct dht_contact {
    uint8_t id[KRPC_ID_LEN];
    struct addr addr;
};

/* Compares the XOR distances of a and b from target: negative when a is closer, 0 when a and b
 * are the same ID, positive when b is closer. */
int dht_contact_cmp(const uint8_t target[KRPC_ID_LEN], const uint8_t a[KRPC_ID_LEN],
                    const uint8_t b[KRPC_ID_LEN]);

/* The number of leading bits a and b share, 0 to 160 (160 when they are equal). */
unsigned dht_contact_prefix_len(const uint8_t a[KRPC_ID_LEN], const uint8_t b[KRPC_ID_LEN]);

/* True when a node may live at `a`: IPv4 or IPv6 with a port, and an address that is neither
 * unspecified, nor multicast or broadcast, nor (IPv6) link-local or IPv4-mapped, which compact
 * node info cannot carry. Loopback and private addresses pass (testnets use them). */
bool dht_contact_addr_usable(const struct addr *a);

/* Reads one compact node info (BEP 5: ID, IPv4 address, port; KRPC_NODE_LEN bytes) into c.
 * Returns 0, or -EINVAL when the address is not usable. */
int dht_contact_read(const uint8_t in[KRPC_NODE_LEN], struct dht_contact *c);

/* Writes c as compact node info. Returns 0, or -EAFNOSUPPORT when c's address is not IPv4. */
int dht_contact_write(const struct dht_contact *c, uint8_t out[KRPC_NODE_LEN]);

/* The IPv6 forms of the two above (BEP 32: ID, IPv6 address, port; KRPC_NODE6_LEN bytes). */
int dht_contact_read6(const uint8_t in[KRPC_NODE6_LEN], struct dht_contact *c);
int dht_contact_write6(const struct dht_contact *c, uint8_t out[KRPC_NODE6_LEN]);

/* The length of compact node info for an address family: KRPC_NODE_LEN for AF_INET,
 * KRPC_NODE6_LEN for AF_INET6, 0 for any other. */
size_t dht_contact_node_len(int family);

/* Reads (family from the length) or writes compact node info of either family; len is
 * dht_contact_node_len of the family. Return as the forms above. */
int dht_contact_read_any(const uint8_t *in, size_t len, struct dht_contact *c);
int dht_contact_write_any(const struct dht_contact *c, uint8_t *out, size_t len);

/* Writes an IPv4 address and port in the compact peer form (BEP 5, 6 bytes), as BEP 42's "ip"
 * field carries it. Returns 0, or -EAFNOSUPPORT for another family. */
int dht_contact_write_addr(const struct addr *a, uint8_t out[KRPC_PEER_LEN]);

/* Reads a compact IPv4 peer (6 bytes) into an address. */
void dht_contact_read_addr(const uint8_t in[KRPC_PEER_LEN], struct addr *a);

/* The IPv6 forms of the two above (BEP 32: 16-byte address and port, 18 bytes). */
int dht_contact_write_addr6(const struct addr *a, uint8_t out[KRPC_PEER6_LEN]);
void dht_contact_read_addr6(const uint8_t in[KRPC_PEER6_LEN], struct addr *a);

/* True when the IP address of `a` (4 or 16 bytes) was written to *ip and *len. */
bool dht_contact_ip_bytes(const struct addr *a, const uint8_t **ip, size_t *len);

#endif
