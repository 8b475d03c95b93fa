/* Per-IP token buckets: `rate` packets a second, bursts of up to `burst`. The node keeps one
 * for the queries it answers (per source IP) and one for the queries it sends (per
 * destination IP, since libtorrent blocks an IP that sends it more than about 50 packets in
 * 10 s). The table is fixed in size and set-associative: an IP takes the slot of the least
 * active IP in its set, so memory stays bounded whatever the number of addresses seen, and a
 * keyed hash keeps a sender from choosing whose slot it takes. Ports are ignored. */
#ifndef PK_DHT_LIMIT_H
#define PK_DHT_LIMIT_H

#include "addr.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DHT_LIMIT_KEY_LEN 16 /* crypto_shorthash_KEYBYTES */

struct dht_limit;

/* Creates a limiter for about `slots` IPs (rounded up to a power of two), keyed by `key`
 * (random bytes). rate and burst must be at least 1. Returns 0, -EINVAL, or -ENOMEM. */
int dht_limit_new(unsigned rate_per_s, unsigned burst, size_t slots,
                  const uint8_t key[DHT_LIMIT_KEY_LEN], struct dht_limit **out);

/* Frees the limiter; NULL is a no-op. */
void dht_limit_free(struct dht_limit *l);

/* Takes one token from the bucket of a's IP. Returns true when there was one (the packet may
 * go), false when the IP is over its rate. Addresses of unknown families are never limited. */
bool dht_limit_take(struct dht_limit *l, const struct addr *a, uint64_t now_ms);

#endif
