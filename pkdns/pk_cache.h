/* The packet cache: the latest signed packet of each public key, bounded by bytes, with
 * short negative entries for keys the DHT has no packet for.
 *
 * An entry is fresh for its TTL: the smallest TTL of its records clamped to [min_ttl,
 * max_ttl] (pkarr's rule; the Rust pkdns clamps to [60, 86400]). After that it is stale for
 * max_stale_s more: it still answers, and the lookup tells the caller to refresh it in the
 * background. A popular entry (prefetch_hits answers since it was stored) asks for a refresh
 * in the last prefetch_pct percent of its TTL, before it expires. A refresh asked for is asked
 * for again only after refresh_retry_s without a result, so one key never has more than one
 * refresh running. A lookup that failed for lack of responses is not a result: it is never
 * cached, and the entry (if any) stays as it was.
 *
 * Of two packets the newer wins: the later timestamp, or on equal timestamps the larger
 * DNS message. A packet dated more than PK_CACHE_FUTURE_MAX_S past the clock never displaces
 * one that is not, so that a publisher's broken clock cannot pin a key to a bad packet until
 * that date; it is kept while nothing better is known.
 *
 * Times are milliseconds since the Unix epoch (the packets' timestamps are wall-clock); a
 * clock stepped back makes entries look younger. No I/O; not thread-safe. */
#ifndef PK_CACHE_H
#define PK_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pk_packet.h"

/* Ours: how far past the clock a packet's timestamp may lie and still count as sane. */
#define PK_CACHE_FUTURE_MAX_S 3600

/* Smallest max_bytes pk_cache_new accepts. */
#define PK_CACHE_MIN_BYTES 65536

/* Ours: the policy docs/pkdns.md describes, for pk_cache_config. */
#define PK_CACHE_MAX_STALE_S 3600      /* a stale packet answers for an hour at most */
#define PK_CACHE_REFRESH_RETRY_S 10    /* one refresh per key per 10 s */
#define PK_CACHE_PREFETCH_HITS 3       /* popular: asked for 3 times since stored */
#define PK_CACHE_PREFETCH_PCT 10       /* refreshed in the last 10% of its TTL */
#define PK_CACHE_NOT_FOUND_RESPONSES 3 /* a get answered by fewer nodes proves no absence */

struct pk_cache_config {
    size_t max_bytes;        /* bound on entries and table together: dht_cache_mb MiB */
    uint32_t min_ttl_s;      /* pkdns.toml min_ttl */
    uint32_t max_ttl_s;      /* pkdns.toml max_ttl; wins over min_ttl when smaller */
    uint32_t negative_ttl_s; /* how long "the DHT has no packet" is believed */
    uint32_t max_stale_s;    /* how long past its TTL a packet still answers */
    uint32_t refresh_retry_s;
    uint32_t prefetch_hits; /* 0: no refresh before expiry */
    uint32_t prefetch_pct;  /* 1..100 */
};

enum pk_cache_state {
    PK_CACHE_MISS,      /* nothing usable: look the key up */
    PK_CACHE_FRESH,     /* answer from the packet */
    PK_CACHE_STALE,     /* answer from it all the same */
    PK_CACHE_NOT_FOUND, /* the DHT had no packet a short while ago: NXDOMAIN */
};

struct pk_cache_hit {
    enum pk_cache_state state;
    const uint8_t *packet; /* FRESH, STALE: valid until the cache next changes */
    size_t len;
    uint32_t ttl_left_s; /* FRESH: seconds it stays fresh */
    uint32_t age_s;      /* FRESH, STALE: seconds since the packet was stored or confirmed */
    bool refresh;        /* start a lookup for this key now; the cache counts it as running */
};

struct pk_cache_stats {
    uint64_t entries;
    uint64_t bytes;
    uint64_t fresh_hits;
    uint64_t stale_hits;
    uint64_t negative_hits;
    uint64_t misses;
    uint64_t stored;    /* packets stored, new or newer */
    uint64_t confirmed; /* the same packet seen again: fresh once more */
    uint64_t kept;      /* an older (or insane) packet offered and refused */
    uint64_t evicted;   /* entries dropped to make room */
    uint64_t expired;   /* entries dropped past their stale time */
    uint64_t refreshes; /* refreshes asked for (stale, prefetch) */
};

struct pk_cache;

/* Creates an empty cache. Returns 0, -EINVAL when max_bytes is below PK_CACHE_MIN_BYTES or
 * prefetch_pct above 100, -ENOMEM. The program has called sodium_init(). */
int pk_cache_new(const struct pk_cache_config *cfg, struct pk_cache **out);

/* Takes new settings (as pk_cache_new checks them) and drops the least recently used entries
 * until the cache fits the new max_bytes. Entries already stored keep their lifetimes; the
 * new TTL bounds apply to packets stored from now on. Returns 0 or -EINVAL (nothing changed). */
int pk_cache_configure(struct pk_cache *c, const struct pk_cache_config *cfg);

/* Frees the cache; NULL is a no-op. */
void pk_cache_free(struct pk_cache *c);

/* Looks a key up and counts the answer. Returns out->state. */
enum pk_cache_state pk_cache_get(struct pk_cache *c, const uint8_t key[PK_PACKET_KEY_LEN],
                                 uint64_t now_ms, struct pk_cache_hit *out);

/* Whether the key has an entry (a packet, or a lookup's "not found"), whatever its age; counts
 * nothing and changes no order. Every such key was a valid key when it was first asked for. */
bool pk_cache_holds(const struct pk_cache *c, const uint8_t key[PK_PACKET_KEY_LEN]);

/* The packet cached for key, whatever its age (its length in *len, and when it was stored or
 * last confirmed in *stored_ms unless NULL), or NULL when there is none; counts nothing and
 * changes no order. Valid until the cache next changes. */
const uint8_t *pk_cache_packet(const struct pk_cache *c, const uint8_t key[PK_PACKET_KEY_LEN],
                               size_t *len, uint64_t *stored_ms);

/* Offers a verified packet (the caller checked its signature). Returns 1 when it is now the
 * cached one (new, newer or the same seen again), 0 when the cached one is newer, -EINVAL for
 * a wrong length, -EBADMSG for a DNS message that does not parse, -ENOMEM. */
int pk_cache_put(struct pk_cache *c, const uint8_t *packet, size_t len, uint64_t now_ms);

/* Records that a lookup that got enough responses found no packet. A cached packet stays (it
 * ages out by its own stale time); otherwise a negative entry is made. Returns 0, -ENOMEM. */
int pk_cache_put_not_found(struct pk_cache *c, const uint8_t key[PK_PACKET_KEY_LEN],
                           uint64_t now_ms);

/* Fills keys with up to max popular keys whose packets are in the last prefetch_pct of their
 * TTL and have no refresh running, and counts a refresh as running for each: for a timer
 * that refreshes keys nobody happens to ask for. Returns how many it wrote. */
size_t pk_cache_prefetch(struct pk_cache *c, uint64_t now_ms, uint8_t (*keys)[PK_PACKET_KEY_LEN],
                         size_t max);

/* Copies the counters into *out. */
void pk_cache_stats(const struct pk_cache *c, struct pk_cache_stats *out);

#endif
