#include "pk_cache.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "dns_msg.h"

#define PK_CACHE_FIRST_BUCKETS 64

struct pk_cache_entry {
    struct pk_cache_entry *next; /* in its bucket */
    struct pk_cache_entry *newer;
    struct pk_cache_entry *older;
    uint8_t key[PK_PACKET_KEY_LEN];
    uint64_t stored_ms;  /* when the packet (or its absence) was last learnt */
    uint64_t refresh_ms; /* when a refresh was last asked for */
    bool refreshing;
    bool negative;
    uint32_t ttl_s;
    uint32_t hits; /* answers since stored */
    size_t len;
    uint8_t packet[];
};

struct pk_cache {
    struct pk_cache_config cfg;
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
    struct pk_cache_entry **buckets;
    size_t n_buckets; /* a power of two */
    struct pk_cache_entry *newest;
    struct pk_cache_entry *oldest;
    struct pk_cache_stats stats;
};

static void pk_cache_evict(struct pk_cache *c, const struct pk_cache_entry *keep);

static size_t pk_cache_entry_bytes(size_t len)
{
    return sizeof(struct pk_cache_entry) + len;
}

/* Keys are public keys anyone can pick: a keyed hash keeps them from piling into one bucket. */
static size_t pk_cache_bucket(const struct pk_cache *c, const uint8_t *key)
{
    uint8_t h[crypto_shorthash_BYTES];
    uint64_t v = 0;

    crypto_shorthash(h, key, PK_PACKET_KEY_LEN, c->hash_key);
    for (size_t i = 0; i < sizeof(v); i++) {
        v = v << 8 | h[i];
    }
    return (size_t)(v & (c->n_buckets - 1));
}

int pk_cache_new(const struct pk_cache_config *cfg, struct pk_cache **out)
{
    struct pk_cache *c;

    if (cfg->max_bytes < PK_CACHE_MIN_BYTES || cfg->prefetch_pct > 100) {
        return -EINVAL;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return -ENOMEM;
    }
    c->buckets = calloc(PK_CACHE_FIRST_BUCKETS, sizeof(c->buckets[0]));
    if (c->buckets == NULL) {
        free(c);
        return -ENOMEM;
    }
    c->cfg = *cfg;
    c->n_buckets = PK_CACHE_FIRST_BUCKETS;
    c->stats.bytes = sizeof(*c) + c->n_buckets * sizeof(c->buckets[0]);
    crypto_shorthash_keygen(c->hash_key);
    *out = c;
    return 0;
}

int pk_cache_configure(struct pk_cache *c, const struct pk_cache_config *cfg)
{
    if (cfg->max_bytes < PK_CACHE_MIN_BYTES || cfg->prefetch_pct > 100) {
        return -EINVAL;
    }
    c->cfg = *cfg;
    pk_cache_evict(c, NULL);
    return 0;
}

void pk_cache_free(struct pk_cache *c)
{
    struct pk_cache_entry *e, *next;

    if (c == NULL) {
        return;
    }
    for (e = c->newest; e != NULL; e = next) {
        next = e->older;
        free(e);
    }
    free(c->buckets);
    free(c);
}

static struct pk_cache_entry *pk_cache_find(const struct pk_cache *c, const uint8_t *key)
{
    struct pk_cache_entry *e = c->buckets[pk_cache_bucket(c, key)];

    while (e != NULL && memcmp(e->key, key, PK_PACKET_KEY_LEN) != 0) {
        e = e->next;
    }
    return e;
}

bool pk_cache_holds(const struct pk_cache *c, const uint8_t key[PK_PACKET_KEY_LEN])
{
    return pk_cache_find(c, key) != NULL;
}

const uint8_t *pk_cache_packet(const struct pk_cache *c, const uint8_t key[PK_PACKET_KEY_LEN],
                               size_t *len, uint64_t *stored_ms)
{
    const struct pk_cache_entry *e = pk_cache_find(c, key);

    if (e == NULL || e->negative) {
        return NULL;
    }
    *len = e->len;
    if (stored_ms != NULL) {
        *stored_ms = e->stored_ms;
    }
    return e->packet;
}

static void pk_cache_lru_unlink(struct pk_cache *c, struct pk_cache_entry *e)
{
    *(e->newer != NULL ? &e->newer->older : &c->newest) = e->older;
    *(e->older != NULL ? &e->older->newer : &c->oldest) = e->newer;
}

static void pk_cache_lru_front(struct pk_cache *c, struct pk_cache_entry *e)
{
    e->newer = NULL;
    e->older = c->newest;
    *(c->newest != NULL ? &c->newest->newer : &c->oldest) = e;
    c->newest = e;
}

static void pk_cache_touch(struct pk_cache *c, struct pk_cache_entry *e)
{
    pk_cache_lru_unlink(c, e);
    pk_cache_lru_front(c, e);
}

static void pk_cache_remove(struct pk_cache *c, struct pk_cache_entry *e)
{
    struct pk_cache_entry **link = &c->buckets[pk_cache_bucket(c, e->key)];

    while (*link != e) {
        link = &(*link)->next;
    }
    *link = e->next;
    pk_cache_lru_unlink(c, e);
    c->stats.entries--;
    c->stats.bytes -= pk_cache_entry_bytes(e->len);
    free(e);
}

/* Doubles the table once there are more entries than buckets. A failed allocation leaves the
 * table as it was: chains only grow longer. */
static void pk_cache_grow(struct pk_cache *c)
{
    size_t n = c->n_buckets * 2;
    struct pk_cache_entry **old = c->buckets;
    struct pk_cache_entry **fresh;

    if (c->stats.entries <= c->n_buckets || (fresh = calloc(n, sizeof(fresh[0]))) == NULL) {
        return;
    }
    c->buckets = fresh;
    c->n_buckets = n;
    for (size_t i = 0; i < n / 2; i++) {
        struct pk_cache_entry *e = old[i], *next;
        for (; e != NULL; e = next) {
            size_t b = pk_cache_bucket(c, e->key);
            next = e->next;
            e->next = fresh[b];
            fresh[b] = e;
        }
    }
    free(old);
    c->stats.bytes += (n / 2) * sizeof(fresh[0]);
}

/* Drops the least recently used entries (never `keep`) until the cache fits its bound. */
static void pk_cache_evict(struct pk_cache *c, const struct pk_cache_entry *keep)
{
    while (c->stats.bytes > c->cfg.max_bytes && c->oldest != NULL && c->oldest != keep) {
        pk_cache_remove(c, c->oldest);
        c->stats.evicted++;
    }
}

/* Makes an entry for key holding packet[0..len) (len 0: a negative entry), in place of the
 * entry `old` when there is one. */
static struct pk_cache_entry *pk_cache_insert(struct pk_cache *c, const uint8_t *key,
                                              const uint8_t *packet, size_t len,
                                              struct pk_cache_entry *old)
{
    struct pk_cache_entry *e = malloc(pk_cache_entry_bytes(len));
    size_t b;

    if (e == NULL) {
        return NULL;
    }
    memset(e, 0, sizeof(*e));
    memcpy(e->key, key, PK_PACKET_KEY_LEN);
    if (len > 0) {
        memcpy(e->packet, packet, len);
    }
    e->len = len;
    if (old != NULL) {
        pk_cache_remove(c, old);
    }
    b = pk_cache_bucket(c, key);
    e->next = c->buckets[b];
    c->buckets[b] = e;
    pk_cache_lru_front(c, e);
    c->stats.entries++;
    c->stats.bytes += pk_cache_entry_bytes(len);
    pk_cache_grow(c);
    pk_cache_evict(c, e);
    return e;
}

static uint64_t pk_cache_age_ms(const struct pk_cache_entry *e, uint64_t now_ms)
{
    return now_ms > e->stored_ms ? now_ms - e->stored_ms : 0;
}

static bool pk_cache_refresh_running(const struct pk_cache *c, const struct pk_cache_entry *e,
                                     uint64_t now_ms)
{
    return e->refreshing && now_ms >= e->refresh_ms &&
           now_ms - e->refresh_ms < (uint64_t)c->cfg.refresh_retry_s * 1000;
}

/* True when a refresh should start now: none running, and the entry is stale, or popular
 * and in the last prefetch_pct of its TTL. */
static bool pk_cache_wants_refresh(const struct pk_cache *c, const struct pk_cache_entry *e,
                                   uint64_t now_ms, bool stale)
{
    uint64_t ttl_ms = (uint64_t)e->ttl_s * 1000;

    if (pk_cache_refresh_running(c, e, now_ms)) {
        return false;
    }
    if (stale) {
        return true;
    }
    return c->cfg.prefetch_hits > 0 && e->hits >= c->cfg.prefetch_hits &&
           pk_cache_age_ms(e, now_ms) >= ttl_ms - ttl_ms * c->cfg.prefetch_pct / 100;
}

static void pk_cache_start_refresh(struct pk_cache *c, struct pk_cache_entry *e, uint64_t now_ms)
{
    e->refreshing = true;
    e->refresh_ms = now_ms;
    c->stats.refreshes++;
}

/* Sorts out a packet entry found by pk_cache_get. Returns MISS when it is past its stale time
 * (and has been dropped). */
static enum pk_cache_state pk_cache_get_packet(struct pk_cache *c, struct pk_cache_entry *e,
                                               uint64_t now_ms, struct pk_cache_hit *out)
{
    uint64_t age = pk_cache_age_ms(e, now_ms);
    uint64_t ttl_ms = (uint64_t)e->ttl_s * 1000;
    bool stale = age >= ttl_ms;

    if (stale && age - ttl_ms >= (uint64_t)c->cfg.max_stale_s * 1000) {
        pk_cache_remove(c, e);
        c->stats.expired++;
        return PK_CACHE_MISS;
    }
    if (e->hits < UINT32_MAX) {
        e->hits++;
    }
    out->packet = e->packet;
    out->len = e->len;
    out->ttl_left_s = stale ? 0 : (uint32_t)((ttl_ms - age) / 1000);
    out->age_s = age / 1000 > UINT32_MAX ? UINT32_MAX : (uint32_t)(age / 1000);
    out->refresh = pk_cache_wants_refresh(c, e, now_ms, stale);
    if (out->refresh) {
        pk_cache_start_refresh(c, e, now_ms);
    }
    pk_cache_touch(c, e);
    return stale ? PK_CACHE_STALE : PK_CACHE_FRESH;
}

enum pk_cache_state pk_cache_get(struct pk_cache *c, const uint8_t key[PK_PACKET_KEY_LEN],
                                 uint64_t now_ms, struct pk_cache_hit *out)
{
    struct pk_cache_entry *e = pk_cache_find(c, key);

    memset(out, 0, sizeof(*out));
    out->state = PK_CACHE_MISS;
    if (e != NULL && e->negative) {
        if (pk_cache_age_ms(e, now_ms) < (uint64_t)e->ttl_s * 1000) {
            pk_cache_touch(c, e);
            out->state = PK_CACHE_NOT_FOUND;
        } else {
            pk_cache_remove(c, e);
            c->stats.expired++;
        }
    } else if (e != NULL) {
        out->state = pk_cache_get_packet(c, e, now_ms, out);
    }

    switch (out->state) {
    case PK_CACHE_FRESH:
        c->stats.fresh_hits++;
        break;
    case PK_CACHE_STALE:
        c->stats.stale_hits++;
        break;
    case PK_CACHE_NOT_FOUND:
        c->stats.negative_hits++;
        break;
    case PK_CACHE_MISS:
        c->stats.misses++;
        break;
    }
    return out->state;
}

/* The packet's lifetime: its smallest record TTL within [min_ttl, max_ttl], min_ttl for a
 * packet without records (pkarr's rule). */
static uint32_t pk_cache_ttl(const struct pk_cache *c, uint32_t min_record_ttl)
{
    uint32_t ttl = min_record_ttl;

    if (ttl < c->cfg.min_ttl_s) {
        ttl = c->cfg.min_ttl_s;
    }
    return ttl > c->cfg.max_ttl_s ? c->cfg.max_ttl_s : ttl;
}

/* True when packet a should replace packet b: a sane timestamp beats one too far ahead of
 * the clock; otherwise pkarr's order. */
static bool pk_cache_wins(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len,
                          uint64_t now_ms)
{
    uint64_t limit_us = (now_ms + (uint64_t)PK_CACHE_FUTURE_MAX_S * 1000) * 1000;
    bool a_sane = pk_packet_timestamp(a) <= limit_us;
    bool b_sane = pk_packet_timestamp(b) <= limit_us;

    if (a_sane != b_sane) {
        return a_sane;
    }
    return pk_packet_newer(a, a_len, b, b_len);
}

int pk_cache_put(struct pk_cache *c, const uint8_t *packet, size_t len, uint64_t now_ms)
{
    struct dns_response r;
    struct pk_cache_entry *e;

    if (len < PK_PACKET_HEAD_LEN || len > PK_PACKET_MAX) {
        return -EINVAL;
    }
    if (dns_msg_scan_response(packet + PK_PACKET_HEAD_LEN, len - PK_PACKET_HEAD_LEN, &r) != 0) {
        return -EBADMSG;
    }
    e = pk_cache_find(c, packet);
    if (e != NULL && !e->negative) {
        if (e->len == len && memcmp(e->packet, packet, len) == 0) {
            e->stored_ms = now_ms;
            e->refreshing = false;
            pk_cache_touch(c, e);
            c->stats.confirmed++;
            return 1;
        }
        if (!pk_cache_wins(packet, len, e->packet, e->len, now_ms)) {
            c->stats.kept++;
            return 0;
        }
    }
    e = pk_cache_insert(c, packet, packet, len, e);
    if (e == NULL) {
        return -ENOMEM;
    }
    e->stored_ms = now_ms;
    e->ttl_s = pk_cache_ttl(c, r.min_ttl);
    c->stats.stored++;
    return 1;
}

int pk_cache_put_not_found(struct pk_cache *c, const uint8_t key[PK_PACKET_KEY_LEN],
                           uint64_t now_ms)
{
    struct pk_cache_entry *e = pk_cache_find(c, key);

    /* A packet outlives a lookup that missed it; its own stale time decides. Its refresh stays
     * counted as running, so that the retry waits refresh_retry_s. */
    if (e != NULL && !e->negative) {
        return 0;
    }
    if (e == NULL) {
        e = pk_cache_insert(c, key, NULL, 0, NULL);
        if (e == NULL) {
            return -ENOMEM;
        }
        e->negative = true;
    } else {
        pk_cache_touch(c, e);
    }
    e->stored_ms = now_ms;
    e->ttl_s = c->cfg.negative_ttl_s;
    return 0;
}

size_t pk_cache_prefetch(struct pk_cache *c, uint64_t now_ms, uint8_t (*keys)[PK_PACKET_KEY_LEN],
                         size_t max)
{
    size_t n = 0;

    if (c->cfg.prefetch_hits == 0) {
        return 0;
    }
    for (struct pk_cache_entry *e = c->newest; e != NULL && n < max; e = e->older) {
        if (e->negative || pk_cache_age_ms(e, now_ms) >= (uint64_t)e->ttl_s * 1000 ||
            !pk_cache_wants_refresh(c, e, now_ms, false)) {
            continue;
        }
        pk_cache_start_refresh(c, e, now_ms);
        memcpy(keys[n++], e->key, PK_PACKET_KEY_LEN);
    }
    return n;
}

void pk_cache_stats(const struct pk_cache *c, struct pk_cache_stats *out)
{
    *out = c->stats;
}
