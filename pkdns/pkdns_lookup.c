/* pkdns's DHT lookups per key: see pkdns_lookup.h. */
#include "pkdns_lookup.h"

#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "dht_lookup.h"
#include "log.h"

#define PKDNS_LOOKUP_TAG "lookup"
#define PKDNS_LOOKUP_BUCKETS 1024 /* ours: a power of two, for the running and queued entries */

struct pkdns_lookup_entry {
    struct pkdns_lookup *owner;
    uint8_t key[PK_PACKET_KEY_LEN];
    uint32_t handle;
    bool running;
    bool queued;     /* waiting for a free place among the running gets */
    bool background; /* a refresh asked for it: it stays queued without waiters */
    bool answered;   /* a value came; the get goes on for a newer one */
    struct pkdns_lookup_waiter *waiters;
    struct pkdns_lookup_entry *hash_next;               /* in its bucket */
    struct pkdns_lookup_entry *queue_prev, *queue_next; /* in the queue, oldest first */
    size_t len;
    uint8_t packet[PK_PACKET_MAX]; /* the newest packet known: from the get, or the cache's */
    uint64_t stored_ms;            /* when the cache stored or last confirmed that packet */
};

struct pkdns_lookup {
    struct pkdns_lookup_config cfg;
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
    struct pkdns_lookup_entry *buckets[PKDNS_LOOKUP_BUCKETS];
    struct pkdns_lookup_entry *queue_head, *queue_tail;
    size_t n_running;
    size_t n_queued;
    bool full_logged; /* the burst of refusals at a full queue has been logged */
    struct pkdns_lookup_stats stats;
};

uint64_t pkdns_lookup_wall_ms(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}

int pkdns_lookup_new(const struct pkdns_lookup_config *cfg, struct pkdns_lookup **out)
{
    struct pkdns_lookup *l = calloc(1, sizeof(*l));

    if (l == NULL) {
        return -ENOMEM;
    }
    l->cfg = *cfg;
    randombytes_buf(l->hash_key, sizeof(l->hash_key));
    *out = l;
    return 0;
}

void pkdns_lookup_set_max_queued(struct pkdns_lookup *l, size_t max_queued)
{
    l->cfg.max_queued = max_queued;
}

/* ---- the table: entries by key, the queue ---- */

/* Keys are public keys anyone can pick: a keyed hash keeps them from piling into one bucket. */
static size_t pkdns_lookup_bucket(const struct pkdns_lookup *l, const uint8_t *key)
{
    uint8_t h[crypto_shorthash_BYTES];
    uint32_t v = 0;

    crypto_shorthash(h, key, PK_PACKET_KEY_LEN, l->hash_key);
    for (size_t i = 0; i < sizeof(v); i++) {
        v = v << 8 | h[i];
    }
    return v & (PKDNS_LOOKUP_BUCKETS - 1);
}

static struct pkdns_lookup_entry *pkdns_lookup_find(const struct pkdns_lookup *l,
                                                    const uint8_t key[PK_PACKET_KEY_LEN])
{
    struct pkdns_lookup_entry *e = l->buckets[pkdns_lookup_bucket(l, key)];

    while (e != NULL && memcmp(e->key, key, PK_PACKET_KEY_LEN) != 0) {
        e = e->hash_next;
    }
    return e;
}

static void pkdns_lookup_queue_remove(struct pkdns_lookup_entry *e)
{
    struct pkdns_lookup *l = e->owner;

    if (e->queue_prev != NULL) {
        e->queue_prev->queue_next = e->queue_next;
    } else {
        l->queue_head = e->queue_next;
    }
    if (e->queue_next != NULL) {
        e->queue_next->queue_prev = e->queue_prev;
    } else {
        l->queue_tail = e->queue_prev;
    }
    e->queue_prev = e->queue_next = NULL;
    e->queued = false;
    l->n_queued--;
    /* The burst of refusals ends when half the queue is free again. */
    if (l->full_logged && l->n_queued <= l->cfg.max_queued / 2) {
        l->full_logged = false;
    }
}

static void pkdns_lookup_queue_append(struct pkdns_lookup_entry *e)
{
    struct pkdns_lookup *l = e->owner;

    e->queue_prev = l->queue_tail;
    e->queue_next = NULL;
    if (l->queue_tail != NULL) {
        l->queue_tail->queue_next = e;
    } else {
        l->queue_head = e;
    }
    l->queue_tail = e;
    e->queued = true;
    l->n_queued++;
}

/* Takes e out of the table (and the queue): asking for its key again makes a new entry. */
static void pkdns_lookup_unlink(struct pkdns_lookup_entry *e)
{
    struct pkdns_lookup_entry **p = &e->owner->buckets[pkdns_lookup_bucket(e->owner, e->key)];

    while (*p != NULL && *p != e) {
        p = &(*p)->hash_next;
    }
    if (*p == e) {
        *p = e->hash_next;
    }
    e->hash_next = NULL;
    if (e->queued) {
        pkdns_lookup_queue_remove(e);
    }
}

void pkdns_lookup_free(struct pkdns_lookup *l)
{
    if (l == NULL) {
        return;
    }
    for (size_t i = 0; i < PKDNS_LOOKUP_BUCKETS; i++) {
        while (l->buckets[i] != NULL) {
            struct pkdns_lookup_entry *e = l->buckets[i];
            l->buckets[i] = e->hash_next;
            for (struct pkdns_lookup_waiter *w = e->waiters; w != NULL; w = w->next) {
                w->entry = NULL;
            }
            if (e->running) {
                dht_lookup_cancel(l->cfg.node, e->handle);
            }
            free(e);
        }
    }
    free(l);
}

/* ---- outcomes ---- */

/* Calls every waiter of e with the outcome, one at a time, so that a waiter may leave (or a
 * new one join, and be called too) during another's callback. */
static void pkdns_lookup_answer(struct pkdns_lookup_entry *e, int status, const uint8_t *packet,
                                size_t len)
{
    struct pkdns_lookup_waiter *w;
    uint64_t now_ms = pkdns_lookup_wall_ms();
    uint64_t age_s = status == 0 && now_ms > e->stored_ms ? (now_ms - e->stored_ms) / 1000 : 0;

    while ((w = e->waiters) != NULL) {
        e->waiters = w->next;
        if (e->waiters != NULL) {
            e->waiters->prev = NULL;
        }
        w->entry = NULL;
        w->prev = w->next = NULL;
        w->cb(w->user, status, packet, len, age_s > UINT32_MAX ? UINT32_MAX : (uint32_t)age_s);
    }
}

/* Ends entry e: takes it out of the table, stops its get, calls every waiter, frees it. */
static void pkdns_lookup_finish(struct pkdns_lookup_entry *e, int status)
{
    if (e->running) {
        dht_lookup_cancel(e->owner->cfg.node, e->handle);
        e->owner->n_running--;
        e->running = false;
    }
    pkdns_lookup_unlink(e);
    pkdns_lookup_answer(e, status, status == 0 ? e->packet : NULL, status == 0 ? e->len : 0);
    free(e);
}

static void pkdns_lookup_on_event(void *user, const struct dht_lookup_event *ev);

/* Starts the get of entry e. Returns 0 or the error of dht_lookup_get. */
static int pkdns_lookup_start(struct pkdns_lookup_entry *e, uint64_t now_ms)
{
    struct dht_lookup_get_args args = {.k = e->key};
    int rc =
        dht_lookup_get(e->owner->cfg.node, &args, pkdns_lookup_on_event, e, now_ms, &e->handle);

    if (rc < 0) {
        return rc;
    }
    e->running = true;
    e->owner->n_running++;
    e->owner->stats.started++;
    return 0;
}

/* Starts the queued gets that have waited longest while there is room. */
static void pkdns_lookup_start_queued(struct pkdns_lookup *l)
{
    while (l->n_running < PKDNS_LOOKUP_RUNNING_MAX && l->queue_head != NULL) {
        struct pkdns_lookup_entry *first = l->queue_head;
        int rc;

        pkdns_lookup_queue_remove(first);
        rc = pkdns_lookup_start(first, l->cfg.clock_ms(l->cfg.clock_user));
        if (rc < 0) {
            l->stats.failed++;
            pkdns_lookup_finish(first, rc);
        }
    }
}

/* A verified value: into the cache, and to the waiters at once. The get goes on, since a
 * node that missed the last update may have answered first; a newer packet it finds later
 * replaces this one in the cache. When the cache keeps a newer packet than this value (one
 * dated too far ahead only counts as newer when nothing sane is known), the waiters get that
 * one: they must never see a packet older than a query answered from the cache would. */
static void pkdns_lookup_on_value(struct pkdns_lookup_entry *e, const struct dht_store_item *item)
{
    struct pk_cache *cache = e->owner->cfg.cache;
    const uint8_t *cached;
    size_t cached_len;
    uint64_t now_ms = pkdns_lookup_wall_ms();
    int n, rc;

    if (item->k == NULL || item->sig == NULL || memcmp(item->k, e->key, PK_PACKET_KEY_LEN) != 0) {
        return;
    }
    n = pk_packet_from_item(e->key, item->sig, item->seq, item->value, item->value_len, e->packet,
                            sizeof(e->packet));
    if (n < 0 || pk_packet_verify(e->packet, (size_t)n) < 0) {
        log_debug(PKDNS_LOOKUP_TAG, "unusable value: %s", strerror(n < 0 ? -n : EBADMSG));
        return;
    }
    e->len = (size_t)n;
    e->stored_ms = now_ms;
    rc = pk_cache_put(cache, e->packet, e->len, now_ms);
    if (rc < 0) {
        log_debug(PKDNS_LOOKUP_TAG, "packet refused by the cache: %s", strerror(-rc));
    } else {
        log_debug(PKDNS_LOOKUP_TAG, "packet with timestamp %lld found, %s", (long long)item->seq,
                  rc > 0 ? "cached" : "older than the cached one");
    }
    cached = rc == 0 ? pk_cache_packet(cache, e->key, &cached_len, &e->stored_ms) : NULL;
    if (cached != NULL) {
        memcpy(e->packet, cached, cached_len);
        e->len = cached_len;
    }
    if (!e->answered) {
        e->answered = true;
        e->owner->stats.found++;
    }
    pkdns_lookup_answer(e, 0, e->packet, e->len);
}

/* The get of e has ended: the waiters learn the outcome. */
static void pkdns_lookup_on_done(struct pkdns_lookup_entry *e, const struct dht_lookup_event *ev)
{
    struct pkdns_lookup *l = e->owner;

    if (e->answered) {
        pkdns_lookup_finish(e, 0);
        return;
    }
    if (ev->status == -ENOENT && ev->responded >= PK_CACHE_NOT_FOUND_RESPONSES) {
        log_debug(PKDNS_LOOKUP_TAG, "no packet: %zu queried, %zu responded, %zu closest, %llu ms",
                  ev->queried, ev->responded, ev->nclosest, (unsigned long long)ev->elapsed_ms);
        pk_cache_put_not_found(l->cfg.cache, e->key, pkdns_lookup_wall_ms());
        l->stats.not_found++;
        pkdns_lookup_finish(e, -ENOENT);
        return;
    }
    l->stats.failed++;
    log_debug(PKDNS_LOOKUP_TAG, "lookup failed: %s, %zu responses",
              strerror(ev->status < 0 ? -ev->status : ETIMEDOUT), ev->responded);
    pkdns_lookup_finish(e, ev->status < 0 ? ev->status : -ETIMEDOUT);
}

static void pkdns_lookup_on_event(void *user, const struct dht_lookup_event *ev)
{
    struct pkdns_lookup_entry *e = user;
    struct pkdns_lookup *l = e->owner;

    if (ev->type == DHT_LOOKUP_VALUE) {
        pkdns_lookup_on_value(e, ev->item);
        return;
    }
    e->running = false;
    l->n_running--;
    pkdns_lookup_on_done(e, ev);
    pkdns_lookup_start_queued(l);
}

/* ---- asking ---- */

bool pkdns_lookup_running(const struct pkdns_lookup *l, const uint8_t key[PK_PACKET_KEY_LEN])
{
    return pkdns_lookup_find(l, key) != NULL;
}

/* A new entry for key, started at once when there is room, else queued; NULL with *rc set
 * when neither can be. */
static struct pkdns_lookup_entry *pkdns_lookup_add(struct pkdns_lookup *l, const uint8_t *key,
                                                   uint64_t now_ms, int *rc)
{
    /* A new key starts at once only when none waits before it. */
    bool start = l->n_running < PKDNS_LOOKUP_RUNNING_MAX && l->queue_head == NULL;
    struct pkdns_lookup_entry *e, **bucket;

    if (!start && l->n_queued >= l->cfg.max_queued) {
        l->stats.refused++;
        if (!l->full_logged) {
            l->full_logged = true;
            log_warn(PKDNS_LOOKUP_TAG,
                     "max_queued_lookups reached (%zu lookups queued behind %d running); "
                     "refusing new keys until half the queue is free",
                     l->n_queued, PKDNS_LOOKUP_RUNNING_MAX);
        }
        *rc = -ENOBUFS;
        return NULL;
    }
    e = malloc(sizeof(*e));
    if (e == NULL) {
        *rc = -ENOMEM;
        return NULL;
    }
    memset(e, 0, offsetof(struct pkdns_lookup_entry, packet));
    e->owner = l;
    memcpy(e->key, key, PK_PACKET_KEY_LEN);
    if (start) {
        *rc = pkdns_lookup_start(e, now_ms);
        if (*rc < 0) {
            free(e);
            return NULL;
        }
    } else {
        pkdns_lookup_queue_append(e);
    }
    bucket = &l->buckets[pkdns_lookup_bucket(l, key)];
    e->hash_next = *bucket;
    *bucket = e;
    return e;
}

int pkdns_lookup_key(struct pkdns_lookup *l, const uint8_t key[PK_PACKET_KEY_LEN],
                     struct pkdns_lookup_waiter *w, uint64_t now_ms)
{
    struct pkdns_lookup_entry *e = pkdns_lookup_find(l, key);
    int rc = 0;

    if (e != NULL) {
        l->stats.joined++;
    } else {
        e = pkdns_lookup_add(l, key, now_ms, &rc);
        if (e == NULL) {
            return rc;
        }
    }
    if (w == NULL) {
        e->background = true;
        return 0;
    }
    w->entry = e;
    w->prev = NULL;
    w->next = e->waiters;
    if (e->waiters != NULL) {
        e->waiters->prev = w;
    }
    e->waiters = w;
    return 0;
}

void pkdns_lookup_leave(struct pkdns_lookup_waiter *w)
{
    struct pkdns_lookup_entry *e = w->entry;

    if (e == NULL) {
        return;
    }
    if (w->prev != NULL) {
        w->prev->next = w->next;
    } else {
        e->waiters = w->next;
    }
    if (w->next != NULL) {
        w->next->prev = w->prev;
    }
    w->entry = NULL;
    w->prev = w->next = NULL;
    /* Nobody would hear of a queued lookup that every waiter left: it gives its place up. */
    if (e->queued && e->waiters == NULL && !e->background) {
        e->owner->stats.dropped++;
        pkdns_lookup_unlink(e);
        free(e);
    }
}

void pkdns_lookup_stats(const struct pkdns_lookup *l, struct pkdns_lookup_stats *out)
{
    *out = l->stats;
}
