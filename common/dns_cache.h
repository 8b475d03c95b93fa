/* A cache of whole DNS responses, bounded by bytes, for the forwarder's hot path.
 *
 * The cache parses nothing: the caller stores a response under an opaque key (built from the
 * lowercased question and whatever else changes the answer) and says where the 32-bit TTL
 * fields are; the cache counts them down as the entry ages. Lookups allocate nothing and make
 * no system calls: the caller passes the time, in milliseconds since any fixed (monotonic)
 * epoch. Keys are hashed with a randomly keyed SipHash, so that remote parties cannot choose
 * names that pile into one bucket. Not thread-safe: a cache belongs to one event loop.
 *
 * TTL rounding: an answer read `age` ms after it was stored carries each TTL decreased by
 * floor(age / 1000) seconds, never below 0. An entry is fresh while age < lifetime_s * 1000,
 * so a record whose TTL equals the lifetime never reads 0 while fresh. */
#ifndef PK_DNS_CACHE_H
#define PK_DNS_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest key dns_cache_put accepts. */
#define DNS_CACHE_KEY_MAX 512

/* Longest message: DNS over TCP frames a message with a 16-bit length (RFC 1035 4.2.2). */
#define DNS_CACHE_MSG_MAX 65535

/* Smallest max_bytes dns_cache_new accepts. */
#define DNS_CACHE_MIN_BYTES 4096

/* dns_cache_get flag: an expired entry still within max_stale_s may be served (RFC 8767). */
#define DNS_CACHE_STALE_OK 0x1u

struct dns_cache;

struct dns_cache_config {
    size_t max_bytes;            /* bound on entries, hash table and expiry heap together */
    size_t max_entries;          /* bound on the number of entries; 0: only max_bytes applies */
    uint32_t max_stale_s;        /* how long past expiry an entry may be served stale; 0: never */
    uint32_t stale_answer_ttl_s; /* TTL written into every record of a stale answer; RFC 8767
                                    section 4 suggests 30 */
};

struct dns_cache_stats {
    uint64_t entries;    /* entries held now */
    uint64_t bytes;      /* bytes counted against max_bytes now */
    uint64_t hits;       /* fresh answers given */
    uint64_t misses;     /* lookups that returned -ENOENT */
    uint64_t stale_hits; /* stale answers given */
    uint64_t inserts;    /* successful dns_cache_put calls, replacements included */
    uint64_t evictions;  /* servable entries removed to make room for new ones */
    uint64_t expired;    /* entries dropped because they were past expiry + max_stale_s */
};

/* Creates an empty cache. Returns 0 and sets *out, -EINVAL when max_bytes is below
 * DNS_CACHE_MIN_BYTES, -ENOMEM, or -EIO when libsodium cannot be initialised. */
int dns_cache_new(const struct dns_cache_config *cfg, struct dns_cache **out);

/* Frees the cache and every entry in it. NULL is a no-op. */
void dns_cache_free(struct dns_cache *c);

/* Stores a copy of msg under key, replacing any entry for the same key; the entry is fresh for
 * lifetime_s seconds from now_ms. ttl_offsets[0..n_ttl) are the byte offsets of the TTL fields
 * in msg, ascending and not overlapping (every record but the OPT pseudo-record). Least
 * recently used entries are evicted to make room (bytes, and entries when max_entries is set),
 * those already expired first. Returns 0;
 * -EINVAL for an empty or too long key or msg, or an offset out of order or beyond msg;
 * -E2BIG when the entry would take more than max_bytes / 4; -ENOMEM. */
int dns_cache_put(struct dns_cache *c, const uint8_t *key, size_t key_len, const uint8_t *msg,
                  size_t msg_len, const uint16_t *ttl_offsets, size_t n_ttl, uint32_t lifetime_s,
                  uint64_t now_ms);

/* Copies the answer stored under key into out[0..cap) with its TTLs counted down, marks the
 * entry most recently used and returns the message length. An expired entry gives -ENOENT,
 * unless flags has DNS_CACHE_STALE_OK and it is within max_stale_s of expiry: then every TTL
 * reads stale_answer_ttl_s and *stale (which may be NULL) is set to true. -ENOSPC when cap is
 * too small (nothing counted or moved); -EINVAL for an empty or too long key. */
int dns_cache_get(struct dns_cache *c, const uint8_t *key, size_t key_len, uint64_t now_ms,
                  unsigned flags, uint8_t *out, size_t cap, bool *stale);

/* Milliseconds for which the entry under key stays fresh (0 when expired or absent), to decide
 * on prefetching. Counts nothing and leaves the LRU order alone. */
uint64_t dns_cache_ttl_left_ms(const struct dns_cache *c, const uint8_t *key, size_t key_len,
                               uint64_t now_ms);

/* Drops every entry and returns the cache to the memory use of a new one. Counters other than
 * entries and bytes keep their values. */
void dns_cache_clear(struct dns_cache *c);

/* Copies the counters into *out. */
void dns_cache_stats(const struct dns_cache *c, struct dns_cache_stats *out);

#endif
