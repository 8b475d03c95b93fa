/* A pool's packet cache, as dnsdist's newPacketCache: whole answers from the pool's backends,
 * kept under what makes an answer differ (the name without case, type and class; the query's
 * opcode and RD, AD and CD bits; whether it had EDNS, its version and DO bit) and served with
 * the client's ID and spelling of the name, every TTL counted down by the entry's age.
 *
 * How long an answer is kept (rt_cache_lifetime) follows dnsdist: the smallest TTL of its
 * records, at most max_ttl; NXDOMAIN and NODATA at most max_negative_ttl (and the SOA's
 * MINIMUM, RFC 2308 5); SERVFAIL and REFUSED for temp_failure_ttl; answers that would be kept
 * for less than min_ttl, truncated answers, answers without any TTL and answers over
 * RT_CACHE_ANSWER_MAX bytes are not cached.
 *
 * The entries live in a dns_cache bounded by the number of entries configured. Not
 * thread-safe: each event loop has its own caches. */
#ifndef PK_RT_CACHE_H
#define PK_RT_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns_msg.h"
#include "rt_config.h"

/* Longest key rt_cache_key writes: 9 octets of flags, type, class and EDNS, then the name. */
#define RT_CACHE_KEY_MAX (9 + DNS_NAME_MAX)

/* Largest answer cached (dnsdist's maximum packet cache entry size). */
#define RT_CACHE_ANSWER_MAX 4096

struct rt_cache;

struct rt_cache_stats {
    uint64_t entries;
    uint64_t hits;
    uint64_t misses;
    uint64_t inserts;
    uint64_t ttl_too_short; /* answers not cached because of min_ttl */
};

/* Creates an empty cache with cfg's settings (copied; cfg->size must be above 0). Returns 0,
 * -EINVAL, -ENOMEM or -EIO (libsodium). */
int rt_cache_new(const struct rt_cache_config *cfg, struct rt_cache **out);

/* Frees the cache and its entries. NULL is a no-op. */
void rt_cache_free(struct rt_cache *c);

/* The settings the cache was made with. */
const struct rt_cache_config *rt_cache_settings(const struct rt_cache *c);

/* True when q (parsed from msg[0..len)) may be answered from a cache: a standard query, not a
 * zone transfer, whose EDNS options, if any, are only cookies (RFC 7873) or padding
 * (RFC 7830), which do not change the answer. */
bool rt_cache_query_cacheable(const struct dns_query *q, const uint8_t *msg, size_t len);

/* Writes q's key into key[0..RT_CACHE_KEY_MAX) and returns its length. */
size_t rt_cache_key(const struct dns_query *q, uint8_t *key);

/* Seconds for which answer r may be kept under cfg; 0 when it may not be cached, with
 * *too_short set when min_ttl alone was the reason. */
uint32_t rt_cache_lifetime(const struct rt_cache_config *cfg, const struct dns_response *r,
                           bool *too_short);

/* Looks q up. On a fresh hit writes the answer into out[0..cap) with q's ID and spelling of
 * the name, TTLs counted down to now_ms, and returns its length; -ENOENT on a miss. */
int rt_cache_get(struct rt_cache *c, const struct dns_query *q, uint64_t now_ms, uint8_t *out,
                 size_t cap);

/* Stores answer[0..len), the answer to q, when it may be cached. Returns 0 when stored;
 * -EBADMSG when it is malformed or not for q's question; -E2BIG when over
 * RT_CACHE_ANSWER_MAX; -ERANGE when kept for less than min_ttl; -ENODATA when not cacheable
 * for another reason (truncated, no TTL, SERVFAIL with temp_failure_ttl 0); -ENOMEM. */
int rt_cache_put(struct rt_cache *c, const struct dns_query *q, const uint8_t *answer, size_t len,
                 uint64_t now_ms);

/* Copies the counters. */
void rt_cache_stats(const struct rt_cache *c, struct rt_cache_stats *out);

#endif
