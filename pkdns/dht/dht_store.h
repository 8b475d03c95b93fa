/* BEP 44 storage, for a node that answers get and put: items keyed by target (SHA-1 of k and
 * salt, or of v when immutable), checked by the put rules (sizes, signature, cas, sequence
 * numbers), dropped after their lifetime, and bounded by item count and bytes, the oldest
 * going first when full. A put of the stored seq with the same value only refreshes the item's
 * lifetime; with another value it is refused like a lower seq. Time is passed in; no I/O. */
#ifndef PK_DHT_STORE_H
#define PK_DHT_STORE_H

#include "bep44.h"

#include <stddef.h>
#include <stdint.h>

#define DHT_STORE_LIFETIME_MS (2ull * 60 * 60 * 1000) /* BEP 44: items may expire after 2 h */
/* Our defaults, not the BEP's: 1000 items of at most ~1.3 KB each stay well under 4 MiB. */
#define DHT_STORE_DEFAULT_ITEMS 1000
#define DHT_STORE_DEFAULT_BYTES (4u * 1024 * 1024)

/* Limits; a zero field takes the default above. */
struct dht_store_config {
    size_t max_items;
    size_t max_bytes; /* counts each item's value, salt and bookkeeping */
    uint64_t lifetime_ms;
};

/* An item as put takes it and get gives it back. */
struct dht_store_item {
    const uint8_t *k;   /* BEP44_KEY_LEN; NULL for an immutable item */
    const uint8_t *sig; /* BEP44_SIG_LEN; mutable items */
    int64_t seq;        /* mutable items */
    const uint8_t *salt;
    size_t salt_len;
    const uint8_t *value; /* the bencoded "v" */
    size_t value_len;
};

struct dht_store;

/* Creates a store with the limits in cfg (NULL for all defaults). The program has called
 * sodium_init(). Returns 0, or -ENOMEM. */
int dht_store_new(const struct dht_store_config *cfg, struct dht_store **out);

/* Frees the store and every item in it; NULL is a no-op. */
void dht_store_free(struct dht_store *store);

/* Stores a copy of `item`; `cas` (the seq the writer expects stored) and `target` (what the
 * item's target must be) may be NULL. Returns 0 or a negated KRPC code to answer the put with:
 * 203 bad item or target, 205, 206, 207, 301, 302 (bep44.h), 202 out of memory. */
int dht_store_put(struct dht_store *store, const struct dht_store_item *item, const int64_t *cas,
                  const uint8_t *target, uint64_t now_ms);

/* Looks up `target`: 0 and *out (pointing into the store until its next change), or -ENOENT.
 * When `seq` is given and the mutable item stored is not newer, out->value and out->sig are
 * NULL and only out->k and out->seq are set (BEP 44 lets v be left out). */
int dht_store_get(struct dht_store *store, const uint8_t target[BEP44_TARGET_LEN],
                  const int64_t *seq, uint64_t now_ms, struct dht_store_item *out);

/* Drops the items whose lifetime is over. put and get do this too. */
void dht_store_expire(struct dht_store *store, uint64_t now_ms);

/* Number of items held. */
size_t dht_store_count(const struct dht_store *store);

/* Bytes the items held count for against max_bytes. */
size_t dht_store_bytes(const struct dht_store *store);

#endif
