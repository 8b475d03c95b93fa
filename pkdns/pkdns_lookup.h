/* pkdns's DHT lookups: one BEP 44 get per public key at a time, shared by every query that
 * waits for that key. The first value that verifies becomes a packet, goes into the packet
 * cache and is handed to every waiter (or the cached packet, when that one is newer); the get
 * goes on to its end, and each newer value it finds goes into the cache too (and to a query
 * that joined meanwhile, at the end). A get that ends without a value reports "not found"
 * (and caches it) when enough nodes answered, a failure otherwise.
 *
 * At most PKDNS_LOOKUP_RUNNING_MAX gets run at once; further keys wait their turn in a queue
 * of max_queued, oldest first. A key that finds the queue full is refused (-ENOBUFS; logged
 * once per burst), and a queued lookup that every waiter has left is dropped before it starts,
 * unless a background refresh asked for it too. Does no I/O: the DHT node and the clock are
 * the caller's. */
#ifndef PKDNS_LOOKUP_H
#define PKDNS_LOOKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dht_node.h"
#include "pk_cache.h"
#include "pk_packet.h"

/* Ours: gets running at once. With DHT_LOOKUP_ALPHA requests each in flight, the answers of a
 * burst of cold keys stay within what one UDP socket's receive buffer holds (a burst of 50 at
 * once lost answers to the kernel and ended lookups with too few responses). */
#define PKDNS_LOOKUP_RUNNING_MAX 16

/* Outcome for a waiter: status 0 with the packet and the seconds since the cache stored or last
 * confirmed it (0 unless the cache kept a newer packet than the DHT gave), -ENOENT (the key has
 * no packet), or another negative errno (the lookup failed). packet is valid during the call
 * only. */
typedef void (*pkdns_lookup_cb)(void *user, int status, const uint8_t *packet, size_t len,
                                uint32_t age_s);

/* One query waiting for a key; owned by the caller, linked while it waits. */
struct pkdns_lookup_waiter {
    pkdns_lookup_cb cb;
    void *user;
    struct pkdns_lookup_waiter *prev, *next;
    struct pkdns_lookup_entry *entry; /* NULL when not waiting */
};

struct pkdns_lookup_config {
    struct dht_node *node;
    struct pk_cache *cache;
    uint64_t (*clock_ms)(void *user); /* the node's clock, for gets started from the queue */
    void *clock_user;
    size_t max_queued; /* lookups waiting for a place among the running ones */
};

struct pkdns_lookup;

struct pkdns_lookup_stats {
    uint64_t started;
    uint64_t joined;
    uint64_t found;
    uint64_t not_found;
    uint64_t failed;
    uint64_t refused; /* keys that found the queue full */
    uint64_t dropped; /* queued lookups every waiter left before they started */
};

/* Wall-clock milliseconds since the Unix epoch: the packet cache's clock, as packets carry
 * wall-clock timestamps. */
uint64_t pkdns_lookup_wall_ms(void);

/* Creates the lookup table of cfg (whose node and cache outlive it). Returns 0 or -ENOMEM. */
int pkdns_lookup_new(const struct pkdns_lookup_config *cfg, struct pkdns_lookup **out);

/* Cancels every lookup (no callbacks) and frees the table; NULL is a no-op. */
void pkdns_lookup_free(struct pkdns_lookup *l);

/* Takes a new max_queued; lookups queued beyond it stay queued. */
void pkdns_lookup_set_max_queued(struct pkdns_lookup *l, size_t max_queued);

/* Starts, queues or joins the lookup of key; w (may be NULL, for a background refresh) is
 * called back once, never from inside this call. Returns 0, -ENOBUFS when the lookup would
 * have to wait in a full queue, or the error of dht_lookup_get (-ENETUNREACH, -ENOMEM). */
int pkdns_lookup_key(struct pkdns_lookup *l, const uint8_t key[PK_PACKET_KEY_LEN],
                     struct pkdns_lookup_waiter *w, uint64_t now_ms);

/* True when a lookup of key is running or queued, so that asking for it again starts
 * nothing. */
bool pkdns_lookup_running(const struct pkdns_lookup *l, const uint8_t key[PK_PACKET_KEY_LEN]);

/* Stops waiting: w is not called back. A no-op when w is not waiting. */
void pkdns_lookup_leave(struct pkdns_lookup_waiter *w);

/* Copies the counters into *out. */
void pkdns_lookup_stats(const struct pkdns_lookup *l, struct pkdns_lookup_stats *out);

#endif
