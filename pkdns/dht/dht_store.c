#include "dht_store.h"

#include "krpc.h"

#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* One stored item. The salt and the value follow the struct in the same allocation. */
struct dht_store_entry {
    struct dht_store_entry *chain; /* next in the same hash bucket */
    struct dht_store_entry *older; /* the age list runs from the oldest store to the newest */
    struct dht_store_entry *newer;
    uint8_t target[BEP44_TARGET_LEN];
    uint64_t stored_ms;
    bool is_mutable;
    uint8_t k[BEP44_KEY_LEN];
    uint8_t sig[BEP44_SIG_LEN];
    int64_t seq;
    size_t salt_len;
    size_t value_len;
    size_t size_bytes;
    uint8_t data[];
};

struct dht_store {
    struct dht_store_config cfg;
    struct dht_store_entry **buckets;
    size_t nbuckets; /* a power of two */
    /* Targets can be chosen by whoever puts, so buckets are picked by a keyed hash. */
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
    struct dht_store_entry *oldest;
    struct dht_store_entry *newest;
    size_t count;
    size_t bytes;
};

/* More buckets than this would cost memory for no speed. */
#define DHT_STORE_BUCKETS_MAX ((size_t)1 << 20)

int dht_store_new(const struct dht_store_config *cfg, struct dht_store **out)
{
    struct dht_store *s = calloc(1, sizeof(*s));

    *out = NULL;
    if (s == NULL) {
        return -ENOMEM;
    }
    if (cfg != NULL) {
        s->cfg = *cfg;
    }
    if (s->cfg.max_items == 0) {
        s->cfg.max_items = DHT_STORE_DEFAULT_ITEMS;
    }
    if (s->cfg.max_bytes == 0) {
        s->cfg.max_bytes = DHT_STORE_DEFAULT_BYTES;
    }
    if (s->cfg.lifetime_ms == 0) {
        s->cfg.lifetime_ms = DHT_STORE_LIFETIME_MS;
    }

    s->nbuckets = 16;
    while (s->nbuckets < s->cfg.max_items && s->nbuckets < DHT_STORE_BUCKETS_MAX) {
        s->nbuckets *= 2;
    }
    s->buckets = calloc(s->nbuckets, sizeof(*s->buckets));
    if (s->buckets == NULL) {
        free(s);
        return -ENOMEM;
    }
    randombytes_buf(s->hash_key, sizeof(s->hash_key));
    *out = s;
    return 0;
}

void dht_store_free(struct dht_store *store)
{
    struct dht_store_entry *e, *newer;

    if (store == NULL) {
        return;
    }
    for (e = store->oldest; e != NULL; e = newer) {
        newer = e->newer;
        free(e);
    }
    free(store->buckets);
    free(store);
}

static size_t dht_store_bucket(const struct dht_store *s, const uint8_t *target)
{
    uint8_t hash[crypto_shorthash_BYTES];
    uint64_t h = 0;

    crypto_shorthash(hash, target, BEP44_TARGET_LEN, s->hash_key);
    for (size_t i = 0; i < sizeof(hash); i++) {
        h = (h << 8) | hash[i];
    }
    return (size_t)(h & (s->nbuckets - 1));
}

static struct dht_store_entry *dht_store_find(const struct dht_store *s, const uint8_t *target)
{
    struct dht_store_entry *e = s->buckets[dht_store_bucket(s, target)];

    while (e != NULL && memcmp(e->target, target, BEP44_TARGET_LEN) != 0) {
        e = e->chain;
    }
    return e;
}

/* Puts e at the newest end of the age list and, when `hash` is set, into its bucket. */
static void dht_store_link(struct dht_store *s, struct dht_store_entry *e, bool hash)
{
    e->older = s->newest;
    e->newer = NULL;
    if (s->newest != NULL) {
        s->newest->newer = e;
    } else {
        s->oldest = e;
    }
    s->newest = e;
    if (hash) {
        size_t b = dht_store_bucket(s, e->target);
        e->chain = s->buckets[b];
        s->buckets[b] = e;
        s->count++;
        s->bytes += e->size_bytes;
    }
}

/* Takes e out of the age list and, when `hash` is set, out of its bucket too. */
static void dht_store_unlink(struct dht_store *s, struct dht_store_entry *e, bool hash)
{
    if (e->older != NULL) {
        e->older->newer = e->newer;
    } else {
        s->oldest = e->newer;
    }
    if (e->newer != NULL) {
        e->newer->older = e->older;
    } else {
        s->newest = e->older;
    }
    if (hash) {
        struct dht_store_entry **link = &s->buckets[dht_store_bucket(s, e->target)];
        while (*link != e) {
            link = &(*link)->chain;
        }
        *link = e->chain;
        s->count--;
        s->bytes -= e->size_bytes;
    }
}

static void dht_store_drop(struct dht_store *s, struct dht_store_entry *e)
{
    dht_store_unlink(s, e, true);
    free(e);
}

/* Restarts e's lifetime: it becomes the newest item. */
static void dht_store_touch(struct dht_store *s, struct dht_store_entry *e, uint64_t now_ms)
{
    dht_store_unlink(s, e, false);
    e->stored_ms = now_ms;
    dht_store_link(s, e, false);
}

static bool dht_store_expired(const struct dht_store *s, const struct dht_store_entry *e,
                              uint64_t now_ms)
{
    return now_ms >= e->stored_ms && now_ms - e->stored_ms >= s->cfg.lifetime_ms;
}

void dht_store_expire(struct dht_store *store, uint64_t now_ms)
{
    /* The age list is in store order, so the expired items are at its old end. */
    while (store->oldest != NULL && dht_store_expired(store, store->oldest, now_ms)) {
        dht_store_drop(store, store->oldest);
    }
}

/* The put rules that need nothing stored: BEP 44 checks sizes first, then the signature. */
static int dht_store_check(const struct dht_store_item *item)
{
    if (item->value == NULL || item->value_len == 0) {
        return -KRPC_ERR_PROTOCOL;
    }
    if (item->value_len > BEP44_VALUE_MAX) {
        return -BEP44_ERR_VALUE_TOO_BIG;
    }
    if (item->k == NULL) {
        return 0;
    }
    if (item->sig == NULL || (item->salt == NULL && item->salt_len > 0)) {
        return -KRPC_ERR_PROTOCOL;
    }
    if (item->salt_len > BEP44_SALT_MAX) {
        return -BEP44_ERR_SALT_TOO_BIG;
    }
    if (bep44_verify(item->k, item->sig, item->salt, item->salt_len, item->seq, item->value,
                     item->value_len) != 0) {
        return -BEP44_ERR_BAD_SIGNATURE;
    }
    return 0;
}

/* The rules against the item already stored under the same target. Returns 1 when the put
 * only refreshes `old`, 0 when the new item replaces it, or a negated KRPC code. */
static int dht_store_check_update(const struct dht_store_entry *old,
                                  const struct dht_store_item *item, const int64_t *cas)
{
    bool same_value = old->value_len == item->value_len &&
                      memcmp(old->data + old->salt_len, item->value, item->value_len) == 0;

    if (item->k == NULL) {
        /* A mutable item is never given up for an immutable one; for two immutable items the
         * same target means the same value. */
        return old->is_mutable ? -KRPC_ERR_PROTOCOL : 1;
    }
    if (!old->is_mutable) {
        return 0;
    }
    if (cas != NULL && *cas != old->seq) {
        return -BEP44_ERR_CAS_MISMATCH;
    }
    if (item->seq < old->seq || (item->seq == old->seq && !same_value)) {
        return -BEP44_ERR_SEQ_TOO_LOW;
    }
    return item->seq == old->seq ? 1 : 0;
}

static struct dht_store_entry *dht_store_entry_new(const struct dht_store_item *item,
                                                   const uint8_t *target, uint64_t now_ms)
{
    size_t size = sizeof(struct dht_store_entry) + item->salt_len + item->value_len;
    struct dht_store_entry *e = calloc(1, size);

    if (e == NULL) {
        return NULL;
    }
    memcpy(e->target, target, BEP44_TARGET_LEN);
    e->stored_ms = now_ms;
    e->is_mutable = item->k != NULL;
    if (e->is_mutable) {
        memcpy(e->k, item->k, BEP44_KEY_LEN);
        memcpy(e->sig, item->sig, BEP44_SIG_LEN);
        e->seq = item->seq;
        e->salt_len = item->salt_len;
        if (item->salt_len > 0) {
            memcpy(e->data, item->salt, item->salt_len);
        }
    }
    e->value_len = item->value_len;
    memcpy(e->data + e->salt_len, item->value, item->value_len);
    e->size_bytes = size;
    return e;
}

/* Drops the oldest items until one of `size_bytes` fits under both caps. */
static void dht_store_make_room(struct dht_store *s, size_t size_bytes)
{
    while (s->oldest != NULL &&
           (s->count >= s->cfg.max_items || s->bytes + size_bytes > s->cfg.max_bytes)) {
        dht_store_drop(s, s->oldest);
    }
}

static void dht_store_target(const struct dht_store_item *item, uint8_t *target)
{
    if (item->k != NULL) {
        bep44_mutable_target(item->k, item->salt, item->salt_len, target);
    } else {
        bep44_immutable_target(item->value, item->value_len, target);
    }
}

int dht_store_put(struct dht_store *store, const struct dht_store_item *item, const int64_t *cas,
                  const uint8_t *target, uint64_t now_ms)
{
    uint8_t item_target[BEP44_TARGET_LEN];
    struct dht_store_entry *old, *e;
    int rc;

    if ((rc = dht_store_check(item)) < 0) {
        return rc;
    }
    dht_store_target(item, item_target);
    if (target != NULL && memcmp(target, item_target, BEP44_TARGET_LEN) != 0) {
        return -KRPC_ERR_PROTOCOL;
    }

    dht_store_expire(store, now_ms);
    old = dht_store_find(store, item_target);
    if (old != NULL) {
        if ((rc = dht_store_check_update(old, item, cas)) < 0) {
            return rc;
        }
        if (rc == 1) {
            dht_store_touch(store, old, now_ms);
            return 0;
        }
    }

    e = dht_store_entry_new(item, item_target, now_ms);
    if (e == NULL) {
        return -KRPC_ERR_SERVER;
    }
    if (e->size_bytes > store->cfg.max_bytes) {
        free(e);
        return -KRPC_ERR_SERVER;
    }
    if (old != NULL) {
        dht_store_drop(store, old);
    }
    dht_store_make_room(store, e->size_bytes);
    dht_store_link(store, e, true);
    return 0;
}

int dht_store_get(struct dht_store *store, const uint8_t target[BEP44_TARGET_LEN],
                  const int64_t *seq, uint64_t now_ms, struct dht_store_item *out)
{
    struct dht_store_entry *e;

    memset(out, 0, sizeof(*out));
    dht_store_expire(store, now_ms);
    e = dht_store_find(store, target);
    if (e != NULL && dht_store_expired(store, e, now_ms)) {
        dht_store_drop(store, e);
        e = NULL;
    }
    if (e == NULL) {
        return -ENOENT;
    }
    if (e->is_mutable) {
        out->k = e->k;
        out->seq = e->seq;
        if (seq != NULL && e->seq <= *seq) {
            return 0;
        }
        out->sig = e->sig;
        out->salt = e->salt_len > 0 ? e->data : NULL;
        out->salt_len = e->salt_len;
    }
    out->value = e->data + e->salt_len;
    out->value_len = e->value_len;
    return 0;
}

size_t dht_store_count(const struct dht_store *store)
{
    return store->count;
}

size_t dht_store_bytes(const struct dht_store *store)
{
    return store->bytes;
}
