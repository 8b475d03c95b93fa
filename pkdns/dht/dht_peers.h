/* The peer store of BEP 5: who announced (announce_peer) that they take part in the swarm of
 * an info hash, handed back to get_peers requesters as compact peers ("values"). A peer is an
 * address and port; announcing again restarts its lifetime. Bounded three ways: swarms held,
 * peers per swarm and peers in all; when a bound is hit the oldest announce gives way. Time is
 * passed in; no I/O. */
#ifndef PK_DHT_PEERS_H
#define PK_DHT_PEERS_H

#include "addr.h"
#include "krpc.h"

#include <stddef.h>
#include <stdint.h>

/* Ours, not the BEP's (it names no lifetime): clients announce about every 15 to 30 minutes,
 * so a peer heard from in the last 30 minutes is kept. */
#define DHT_PEERS_LIFETIME_MS (30ull * 60 * 1000)
#define DHT_PEERS_DEFAULT_SWARMS 256    /* ours: info hashes held */
#define DHT_PEERS_DEFAULT_PER_SWARM 100 /* ours: peers per info hash */
#define DHT_PEERS_DEFAULT_TOTAL 2000    /* ours: peers in all swarms together */
/* Ours: peers in one get_peers answer. 32 IPv6 peers are 672 bytes bencoded, which with 8
 * nodes of each family, a token and the rest stays under DHT_NODE_DATAGRAM_MAX. */
#define DHT_PEERS_REPLY_MAX 32

/* Limits; a zero field takes the default above. */
struct dht_peers_config {
    size_t max_swarms;
    size_t max_per_swarm;
    size_t max_total;
    uint64_t lifetime_ms;
};

struct dht_peers;

/* Creates an empty store with the limits in cfg (NULL for all defaults). Returns 0, or
 * -ENOMEM. */
int dht_peers_new(const struct dht_peers_config *cfg, struct dht_peers **out);

/* Frees the store; NULL is a no-op. */
void dht_peers_free(struct dht_peers *peers);

/* Records that `peer` (IPv4 or IPv6 address and a non-zero port) announced info_hash at
 * now_ms. Returns 0, -EINVAL for port 0, -EAFNOSUPPORT for another family, or -ENOMEM. */
int dht_peers_announce(struct dht_peers *peers, const uint8_t info_hash[KRPC_ID_LEN],
                       const struct addr *peer, uint64_t now_ms);

/* Fills out[0..max) with the compact peers (6 bytes for IPv4, 18 for IPv6) of info_hash in
 * `family` (AF_INET or AF_INET6), the latest announces first, and returns how many. The spans
 * point into the store until its next change. */
size_t dht_peers_get(struct dht_peers *peers, const uint8_t info_hash[KRPC_ID_LEN], int family,
                     uint64_t now_ms, struct krpc_span *out, size_t max);

/* Drops the peers whose lifetime is over, and swarms left empty. announce and get do this
 * for the swarm they touch. */
void dht_peers_expire(struct dht_peers *peers, uint64_t now_ms);

/* Peers held in all swarms. */
size_t dht_peers_count(const struct dht_peers *peers);

/* Swarms (info hashes) held. */
size_t dht_peers_swarms(const struct dht_peers *peers);

#endif
