#include "dns_cache.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* Buckets of a new hash table; the table doubles whenever entries outnumber buckets. */
#define DNS_CACHE_INITIAL_BUCKETS 64

/* The table may grow to this fraction of max_bytes; beyond it chains just get longer. */
#define DNS_CACHE_TABLE_SHARE 8

/* Slots the expiry heap starts with once it holds anything. */
#define DNS_CACHE_INITIAL_HEAP 16

/* What the allocator keeps per block beyond the bytes asked for (glibc: a size word, rounded
 * up to 16 bytes). Counted per entry so that max_bytes stays close to the real memory use. */
#define DNS_CACHE_ALLOC_OVERHEAD 16

/* A TTL field is 32 bits (RFC 1035 3.2.1). */
#define DNS_CACHE_TTL_BYTES 4

struct dns_cache_link {
    struct dns_cache_link *prev, *next;
};

/* One allocation per entry: this header, then the TTLs as received (uint32_t each), their
 * offsets in the message (uint16_t each), the key, and the message as received. */
struct dns_cache_entry {
    struct dns_cache_link lru;     /* first member, so a link converts back to its entry */
    struct dns_cache_entry *chain; /* next entry in the same bucket */
    uint64_t hash;
    uint64_t stored_ms;
    uint64_t expires_ms;
    size_t heap_index;
    uint16_t key_len;
    uint16_t msg_len;
    uint16_t n_ttl;
    uint32_t ttl[];
};

struct dns_cache {
    size_t max_bytes;
    size_t max_entries; /* 0: no bound but max_bytes */
    uint64_t max_stale_ms;
    uint32_t stale_answer_ttl_s;

    /* Chained hash table; n_buckets is a power of two. */
    struct dns_cache_entry **buckets;
    size_t n_buckets;

    /* Min-heap of every entry by expires_ms, to evict expired entries first. Holding each
     * entry once, heap_len is also the entry count. */
    struct dns_cache_entry **heap;
    size_t heap_len, heap_cap;

    /* Sentinel of the LRU list: lru.next is the most recently used entry, lru.prev the least. */
    struct dns_cache_link lru;

    size_t bytes; /* entries, table and heap, as counted against max_bytes */
    struct dns_cache_stats counters;
    unsigned char hash_key[crypto_shorthash_KEYBYTES];
};

static uint64_t dns_cache_add_saturating(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint32_t dns_cache_read_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void dns_cache_write_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint64_t dns_cache_hash(const struct dns_cache *c, const uint8_t *key, size_t key_len)
{
    unsigned char digest[crypto_shorthash_BYTES];
    uint64_t hash;

    crypto_shorthash(digest, key, key_len, c->hash_key);
    memcpy(&hash, digest, sizeof(hash));
    return hash;
}

static size_t dns_cache_entry_bytes(size_t key_len, size_t msg_len, size_t n_ttl)
{
    return DNS_CACHE_ALLOC_OVERHEAD + sizeof(struct dns_cache_entry) +
           n_ttl * (sizeof(uint32_t) + sizeof(uint16_t)) + key_len + msg_len;
}

static size_t dns_cache_entry_size(const struct dns_cache_entry *e)
{
    return dns_cache_entry_bytes(e->key_len, e->msg_len, e->n_ttl);
}

static const uint16_t *dns_cache_entry_offsets(const struct dns_cache_entry *e)
{
    return (const uint16_t *)(e->ttl + e->n_ttl);
}

static const uint8_t *dns_cache_entry_key(const struct dns_cache_entry *e)
{
    return (const uint8_t *)(dns_cache_entry_offsets(e) + e->n_ttl);
}

static const uint8_t *dns_cache_entry_msg(const struct dns_cache_entry *e)
{
    return dns_cache_entry_key(e) + e->key_len;
}

/* Past expiry and past the stale window too: the entry can no longer be served at all. */
static bool dns_cache_entry_is_dead(const struct dns_cache *c, const struct dns_cache_entry *e,
                                    uint64_t now_ms)
{
    return now_ms >= dns_cache_add_saturating(e->expires_ms, c->max_stale_ms);
}

/* Returns the pointer that points at the entry for key (a bucket or a chain link), or NULL. */
static struct dns_cache_entry **dns_cache_find(const struct dns_cache *c, uint64_t hash,
                                               const uint8_t *key, size_t key_len)
{
    struct dns_cache_entry **slot = &c->buckets[hash & (c->n_buckets - 1)];

    for (; *slot != NULL; slot = &(*slot)->chain) {
        const struct dns_cache_entry *e = *slot;
        if (e->hash == hash && e->key_len == key_len &&
            memcmp(dns_cache_entry_key(e), key, key_len) == 0) {
            return slot;
        }
    }
    return NULL;
}

static void dns_cache_lru_unlink(struct dns_cache_link *link)
{
    link->prev->next = link->next;
    link->next->prev = link->prev;
}

static void dns_cache_lru_push_front(struct dns_cache *c, struct dns_cache_link *link)
{
    link->prev = &c->lru;
    link->next = c->lru.next;
    c->lru.next->prev = link;
    c->lru.next = link;
}

static void dns_cache_heap_place(struct dns_cache *c, size_t i, struct dns_cache_entry *e)
{
    c->heap[i] = e;
    e->heap_index = i;
}

static void dns_cache_heap_sift_up(struct dns_cache *c, size_t i)
{
    struct dns_cache_entry *e = c->heap[i];

    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (c->heap[parent]->expires_ms <= e->expires_ms) {
            break;
        }
        dns_cache_heap_place(c, i, c->heap[parent]);
        i = parent;
    }
    dns_cache_heap_place(c, i, e);
}

static void dns_cache_heap_sift_down(struct dns_cache *c, size_t i)
{
    struct dns_cache_entry *e = c->heap[i];

    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= c->heap_len) {
            break;
        }
        if (child + 1 < c->heap_len &&
            c->heap[child + 1]->expires_ms < c->heap[child]->expires_ms) {
            child++;
        }
        if (e->expires_ms <= c->heap[child]->expires_ms) {
            break;
        }
        dns_cache_heap_place(c, i, c->heap[child]);
        i = child;
    }
    dns_cache_heap_place(c, i, e);
}

/* Makes room in the heap for one more entry; its memory counts against max_bytes. */
static int dns_cache_heap_reserve(struct dns_cache *c)
{
    struct dns_cache_entry **grown;
    size_t cap;

    if (c->heap_len < c->heap_cap) {
        return 0;
    }
    cap = c->heap_cap == 0 ? DNS_CACHE_INITIAL_HEAP : c->heap_cap * 2;
    grown = realloc(c->heap, cap * sizeof(*grown));
    if (grown == NULL) {
        return -ENOMEM;
    }
    c->bytes += (cap - c->heap_cap) * sizeof(*grown);
    c->heap = grown;
    c->heap_cap = cap;
    return 0;
}

static void dns_cache_heap_push(struct dns_cache *c, struct dns_cache_entry *e)
{
    dns_cache_heap_place(c, c->heap_len, e);
    c->heap_len++;
    dns_cache_heap_sift_up(c, c->heap_len - 1);
}

static void dns_cache_heap_remove(struct dns_cache *c, struct dns_cache_entry *e)
{
    size_t i = e->heap_index;
    struct dns_cache_entry *last;

    c->heap_len--;
    if (i == c->heap_len) {
        return;
    }
    last = c->heap[c->heap_len];
    dns_cache_heap_place(c, i, last);
    dns_cache_heap_sift_down(c, i);
    dns_cache_heap_sift_up(c, last->heap_index);
}

/* Unlinks the entry from the table, the LRU list and the heap, and frees it. */
static void dns_cache_remove(struct dns_cache *c, struct dns_cache_entry *e)
{
    struct dns_cache_entry **slot = &c->buckets[e->hash & (c->n_buckets - 1)];

    while (*slot != e) {
        slot = &(*slot)->chain;
    }
    *slot = e->chain;
    dns_cache_lru_unlink(&e->lru);
    dns_cache_heap_remove(c, e);
    c->bytes -= dns_cache_entry_size(e);
    free(e);
}

/* Removes the entry that expired longest ago or, when none has expired, the least recently
 * used one. The cache must not be empty. */
static void dns_cache_evict_one(struct dns_cache *c, uint64_t now_ms)
{
    struct dns_cache_entry *victim = c->heap[0];

    if (victim->expires_ms > now_ms) {
        victim = (struct dns_cache_entry *)c->lru.prev;
    }
    if (dns_cache_entry_is_dead(c, victim, now_ms)) {
        c->counters.expired++;
    } else {
        c->counters.evictions++;
    }
    dns_cache_remove(c, victim);
}

/* Doubles the table when entries outnumber buckets. Failing to grow is not an error: the
 * chains just get longer. */
static void dns_cache_maybe_grow_table(struct dns_cache *c, size_t entries)
{
    size_t n = c->n_buckets * 2;
    struct dns_cache_entry **table;

    if (entries <= c->n_buckets || n * sizeof(*table) > c->max_bytes / DNS_CACHE_TABLE_SHARE) {
        return;
    }
    table = calloc(n, sizeof(*table));
    if (table == NULL) {
        return;
    }
    for (size_t i = 0; i < c->n_buckets; i++) {
        struct dns_cache_entry *e = c->buckets[i], *next;
        for (; e != NULL; e = next) {
            next = e->chain;
            e->chain = table[e->hash & (n - 1)];
            table[e->hash & (n - 1)] = e;
        }
    }
    free(c->buckets);
    c->bytes += (n - c->n_buckets) * sizeof(*table);
    c->buckets = table;
    c->n_buckets = n;
}

/* TTL fields must lie inside the message, in ascending order, without overlapping. */
static int dns_cache_check_offsets(const uint16_t *ttl_offsets, size_t n_ttl, size_t msg_len)
{
    size_t first_free = 0;

    if (n_ttl > 0 && ttl_offsets == NULL) {
        return -EINVAL;
    }
    for (size_t i = 0; i < n_ttl; i++) {
        size_t offset = ttl_offsets[i];
        if (offset < first_free || offset + DNS_CACHE_TTL_BYTES > msg_len) {
            return -EINVAL;
        }
        first_free = offset + DNS_CACHE_TTL_BYTES;
    }
    return 0;
}

/* Allocates an entry holding copies of key and msg and the TTLs read from msg. The arguments
 * have been checked; the entry is not linked anywhere yet. */
static struct dns_cache_entry *dns_cache_entry_new(const uint8_t *key, size_t key_len,
                                                   const uint8_t *msg, size_t msg_len,
                                                   const uint16_t *ttl_offsets, size_t n_ttl)
{
    struct dns_cache_entry *e;
    uint16_t *offsets;
    uint8_t *key_copy;

    e = malloc(dns_cache_entry_bytes(key_len, msg_len, n_ttl) - DNS_CACHE_ALLOC_OVERHEAD);
    if (e == NULL) {
        return NULL;
    }
    e->key_len = (uint16_t)key_len;
    e->msg_len = (uint16_t)msg_len;
    e->n_ttl = (uint16_t)n_ttl;

    offsets = (uint16_t *)(e->ttl + n_ttl);
    key_copy = (uint8_t *)(offsets + n_ttl);
    for (size_t i = 0; i < n_ttl; i++) {
        e->ttl[i] = dns_cache_read_u32(msg + ttl_offsets[i]);
        offsets[i] = ttl_offsets[i];
    }
    memcpy(key_copy, key, key_len);
    memcpy(key_copy + key_len, msg, msg_len);
    return e;
}

int dns_cache_new(const struct dns_cache_config *cfg, struct dns_cache **out)
{
    struct dns_cache *c;

    if (cfg == NULL || out == NULL || cfg->max_bytes < DNS_CACHE_MIN_BYTES) {
        return -EINVAL;
    }
    if (sodium_init() < 0) {
        return -EIO;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return -ENOMEM;
    }
    c->buckets = calloc(DNS_CACHE_INITIAL_BUCKETS, sizeof(*c->buckets));
    if (c->buckets == NULL) {
        free(c);
        return -ENOMEM;
    }
    c->n_buckets = DNS_CACHE_INITIAL_BUCKETS;
    c->bytes = DNS_CACHE_INITIAL_BUCKETS * sizeof(*c->buckets);
    c->max_bytes = cfg->max_bytes;
    c->max_entries = cfg->max_entries;
    c->max_stale_ms = (uint64_t)cfg->max_stale_s * 1000;
    c->stale_answer_ttl_s = cfg->stale_answer_ttl_s;
    c->lru.prev = c->lru.next = &c->lru;
    randombytes_buf(c->hash_key, sizeof(c->hash_key));
    *out = c;
    return 0;
}

/* Frees every entry and the heap; leaves the table's buckets dangling. */
static void dns_cache_free_entries(struct dns_cache *c)
{
    while (c->lru.next != &c->lru) {
        struct dns_cache_entry *e = (struct dns_cache_entry *)c->lru.next;
        c->lru.next = e->lru.next;
        free(e);
    }
    c->lru.prev = c->lru.next = &c->lru;

    free(c->heap);
    c->heap = NULL;
    c->heap_len = c->heap_cap = 0;
}

void dns_cache_free(struct dns_cache *c)
{
    if (c == NULL) {
        return;
    }
    dns_cache_free_entries(c);
    free(c->buckets);
    free(c);
}

/* Checks what dns_cache_put was given; returns 0 or -EINVAL. */
static int dns_cache_check_put_args(const uint8_t *key, size_t key_len, const uint8_t *msg,
                                    size_t msg_len, const uint16_t *ttl_offsets, size_t n_ttl)
{
    if (key == NULL || key_len == 0 || key_len > DNS_CACHE_KEY_MAX) {
        return -EINVAL;
    }
    if (msg == NULL || msg_len == 0 || msg_len > DNS_CACHE_MSG_MAX) {
        return -EINVAL;
    }
    return dns_cache_check_offsets(ttl_offsets, n_ttl, msg_len);
}

/* Links a new entry into the table, the front of the LRU list and the heap. */
static void dns_cache_insert(struct dns_cache *c, struct dns_cache_entry *e, size_t size)
{
    struct dns_cache_entry **bucket = &c->buckets[e->hash & (c->n_buckets - 1)];

    e->chain = *bucket;
    *bucket = e;
    dns_cache_lru_push_front(c, &e->lru);
    dns_cache_heap_push(c, e);
    c->bytes += size;
}

int dns_cache_put(struct dns_cache *c, const uint8_t *key, size_t key_len, const uint8_t *msg,
                  size_t msg_len, const uint16_t *ttl_offsets, size_t n_ttl, uint32_t lifetime_s,
                  uint64_t now_ms)
{
    struct dns_cache_entry *e, **old;
    size_t size;
    int rc;

    rc = dns_cache_check_put_args(key, key_len, msg, msg_len, ttl_offsets, n_ttl);
    if (rc < 0) {
        return rc;
    }
    size = dns_cache_entry_bytes(key_len, msg_len, n_ttl);
    if (size > c->max_bytes / 4) {
        return -E2BIG;
    }
    rc = dns_cache_heap_reserve(c);
    if (rc < 0) {
        return rc;
    }
    e = dns_cache_entry_new(key, key_len, msg, msg_len, ttl_offsets, n_ttl);
    if (e == NULL) {
        return -ENOMEM;
    }
    e->hash = dns_cache_hash(c, key, key_len);
    e->stored_ms = now_ms;
    e->expires_ms = dns_cache_add_saturating(now_ms, (uint64_t)lifetime_s * 1000);

    old = dns_cache_find(c, e->hash, key, key_len);
    if (old != NULL) {
        dns_cache_remove(c, *old);
    }
    dns_cache_maybe_grow_table(c, c->heap_len + 1);

    /* The table takes at most 1/8 of max_bytes, the heap 8 bytes a slot (at most two slots for
     * an entry of 80 bytes or more) and the new entry at most 1/4, so emptying the cache always
     * makes room; the second check only guards against broken accounting. */
    while ((c->bytes + size > c->max_bytes ||
            (c->max_entries != 0 && c->heap_len >= c->max_entries)) &&
           c->heap_len > 0) {
        dns_cache_evict_one(c, now_ms);
    }
    if (c->bytes + size > c->max_bytes) {
        free(e);
        return -ENOMEM;
    }
    dns_cache_insert(c, e, size);
    c->counters.inserts++;
    return 0;
}

/* Writes the entry's message into out with its TTLs set for the answer given at now_ms. */
static void dns_cache_copy_answer(const struct dns_cache *c, const struct dns_cache_entry *e,
                                  uint64_t now_ms, bool stale, uint8_t *out)
{
    const uint16_t *offsets = dns_cache_entry_offsets(e);
    uint64_t age_s = now_ms > e->stored_ms ? (now_ms - e->stored_ms) / 1000 : 0;

    memcpy(out, dns_cache_entry_msg(e), e->msg_len);
    for (size_t i = 0; i < e->n_ttl; i++) {
        uint32_t ttl = e->ttl[i] > age_s ? (uint32_t)(e->ttl[i] - age_s) : 0;
        dns_cache_write_u32(out + offsets[i], stale ? c->stale_answer_ttl_s : ttl);
    }
}

int dns_cache_get(struct dns_cache *c, const uint8_t *key, size_t key_len, uint64_t now_ms,
                  unsigned flags, uint8_t *out, size_t cap, bool *stale)
{
    struct dns_cache_entry **slot, *e;
    bool expired;

    if (stale != NULL) {
        *stale = false;
    }
    if (key_len == 0 || key_len > DNS_CACHE_KEY_MAX) {
        return -EINVAL;
    }
    slot = dns_cache_find(c, dns_cache_hash(c, key, key_len), key, key_len);
    if (slot == NULL) {
        c->counters.misses++;
        return -ENOENT;
    }
    e = *slot;

    expired = now_ms >= e->expires_ms;
    if (expired && dns_cache_entry_is_dead(c, e, now_ms)) {
        dns_cache_remove(c, e);
        c->counters.expired++;
        c->counters.misses++;
        return -ENOENT;
    }
    if (expired && !(flags & DNS_CACHE_STALE_OK)) {
        c->counters.misses++;
        return -ENOENT;
    }
    if (cap < e->msg_len) {
        return -ENOSPC;
    }

    dns_cache_copy_answer(c, e, now_ms, expired, out);
    dns_cache_lru_unlink(&e->lru);
    dns_cache_lru_push_front(c, &e->lru);
    if (expired) {
        c->counters.stale_hits++;
        if (stale != NULL) {
            *stale = true;
        }
    } else {
        c->counters.hits++;
    }
    return e->msg_len;
}

uint64_t dns_cache_ttl_left_ms(const struct dns_cache *c, const uint8_t *key, size_t key_len,
                               uint64_t now_ms)
{
    struct dns_cache_entry **slot;

    if (key_len == 0 || key_len > DNS_CACHE_KEY_MAX) {
        return 0;
    }
    slot = dns_cache_find(c, dns_cache_hash(c, key, key_len), key, key_len);
    if (slot == NULL || now_ms >= (*slot)->expires_ms) {
        return 0;
    }
    return (*slot)->expires_ms - now_ms;
}

void dns_cache_clear(struct dns_cache *c)
{
    struct dns_cache_entry **table;

    dns_cache_free_entries(c);

    /* Back to the size of a new table; if that allocation fails, the old one is kept, empty. */
    table = calloc(DNS_CACHE_INITIAL_BUCKETS, sizeof(*table));
    if (table != NULL) {
        free(c->buckets);
        c->buckets = table;
        c->n_buckets = DNS_CACHE_INITIAL_BUCKETS;
    } else {
        memset(c->buckets, 0, c->n_buckets * sizeof(*c->buckets));
    }
    c->bytes = c->n_buckets * sizeof(*c->buckets);
}

void dns_cache_stats(const struct dns_cache *c, struct dns_cache_stats *out)
{
    *out = c->counters;
    out->entries = c->heap_len;
    out->bytes = c->bytes;
}
