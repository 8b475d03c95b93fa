/* pkdns's DHT lookups per key: see pkdns_lookup.h. */
#include "pkdns_lookup.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "dht_lookup.h"
#include "log.h"

#define PKDNS_LOOKUP_TAG "lookup"

/* Ours: gets running at once. With DHT_LOOKUP_ALPHA requests each in flight, the answers of a
 * burst of cold keys stay within what one UDP socket's receive buffer holds (a burst of 50 at
 * once lost answers to the kernel and ended lookups with too few responses); the rest wait
 * their turn, oldest first. */
#define PKDNS_LOOKUP_RUNNING_MAX 16

struct pkdns_lookup_entry {
    struct pkdns_lookup *owner;
    uint8_t key[PK_PACKET_KEY_LEN];
    uint32_t handle;
    bool running;
    bool queued;                   /* waiting for a free place among the running gets */
    uint64_t order;                /* when it was asked for, to start queued ones in turn */
    bool answered;                 /* a value came; the get goes on for a newer one */
    uint8_t packet[PK_PACKET_MAX]; /* the last value that verified */
    size_t len;
    struct pkdns_lookup_waiter *waiters;
    struct pkdns_lookup_entry *next;
};

struct pkdns_lookup {
    uv_loop_t *loop;
    struct dht_node *node;
    size_t n_running;
    uint64_t next_order;
    struct pk_cache *cache;
    struct pkdns_lookup_entry *entries;
    struct pkdns_lookup_stats stats;
};

uint64_t pkdns_lookup_wall_ms(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}

int pkdns_lookup_new(uv_loop_t *loop, struct dht_node *node, struct pk_cache *cache,
                     struct pkdns_lookup **out)
{
    struct pkdns_lookup *l = calloc(1, sizeof(*l));

    if (l == NULL) {
        return -ENOMEM;
    }
    l->loop = loop;
    l->node = node;
    l->cache = cache;
    *out = l;
    return 0;
}

static void pkdns_lookup_unlink(struct pkdns_lookup_entry *e)
{
    struct pkdns_lookup_entry **p = &e->owner->entries;

    while (*p != NULL && *p != e) {
        p = &(*p)->next;
    }
    if (*p == e) {
        *p = e->next;
    }
}

void pkdns_lookup_free(struct pkdns_lookup *l)
{
    if (l == NULL) {
        return;
    }
    while (l->entries != NULL) {
        struct pkdns_lookup_entry *e = l->entries;
        l->entries = e->next;
        for (struct pkdns_lookup_waiter *w = e->waiters; w != NULL; w = w->next) {
            w->entry = NULL;
        }
        if (e->running) {
            dht_lookup_cancel(l->node, e->handle);
        }
        free(e);
    }
    free(l);
}

/* Calls every waiter of e with the outcome and empties its list. */
static void pkdns_lookup_answer(struct pkdns_lookup_entry *e, int status, const uint8_t *packet,
                                size_t len)
{
    struct pkdns_lookup_waiter *w = e->waiters;

    e->waiters = NULL;
    while (w != NULL) {
        struct pkdns_lookup_waiter *next = w->next;
        w->entry = NULL;
        w->next = NULL;
        w->cb(w->user, status, packet, len);
        w = next;
    }
}

/* Ends entry e: unlinks it, stops its get and calls every waiter. */
static void pkdns_lookup_finish(struct pkdns_lookup_entry *e, int status, const uint8_t *packet,
                                size_t len)
{
    pkdns_lookup_unlink(e);
    if (e->running) {
        dht_lookup_cancel(e->owner->node, e->handle);
        e->owner->n_running--;
    }
    pkdns_lookup_answer(e, status, packet, len);
    free(e);
}

static void pkdns_lookup_on_event(void *user, const struct dht_lookup_event *ev);

/* Starts the get of entry e. Returns 0 or the error of dht_lookup_get. */
static int pkdns_lookup_start(struct pkdns_lookup_entry *e, uint64_t now_ms)
{
    struct dht_lookup_get_args args = {.k = e->key};
    int rc = dht_lookup_get(e->owner->node, &args, pkdns_lookup_on_event, e, now_ms, &e->handle);

    if (rc < 0) {
        return rc;
    }
    e->running = true;
    e->queued = false;
    e->owner->n_running++;
    e->owner->stats.started++;
    return 0;
}

/* Starts the queued gets that have waited longest while there is room. */
static void pkdns_lookup_start_queued(struct pkdns_lookup *l)
{
    while (l->n_running < PKDNS_LOOKUP_RUNNING_MAX) {
        struct pkdns_lookup_entry *first = NULL;
        int rc;

        for (struct pkdns_lookup_entry *e = l->entries; e != NULL; e = e->next) {
            if (e->queued && (first == NULL || e->order < first->order)) {
                first = e;
            }
        }
        if (first == NULL) {
            return;
        }
        rc = pkdns_lookup_start(first, uv_now(l->loop));
        if (rc < 0) {
            first->queued = false;
            l->stats.failed++;
            pkdns_lookup_finish(first, rc, NULL, 0);
        }
    }
}

/* A verified value: into the cache, and to the waiters at once. The get goes on, since a
 * node that missed the last update may have answered first; a newer packet it finds later
 * replaces this one in the cache. */
static void pkdns_lookup_on_value(struct pkdns_lookup_entry *e, const struct dht_store_item *item)
{
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
    rc = pk_cache_put(e->owner->cache, e->packet, (size_t)n, pkdns_lookup_wall_ms());
    if (rc < 0) {
        log_debug(PKDNS_LOOKUP_TAG, "packet refused by the cache: %s", strerror(-rc));
    } else {
        log_debug(PKDNS_LOOKUP_TAG, "packet with timestamp %lld found, %s", (long long)item->seq,
                  rc > 0 ? "cached" : "older than the cached one");
    }
    e->len = (size_t)n;
    if (!e->answered) {
        e->answered = true;
        e->owner->stats.found++;
    }
    pkdns_lookup_answer(e, 0, e->packet, e->len);
}

/* The get of e has ended: the waiters learn the outcome. */
static void pkdns_lookup_on_done(struct pkdns_lookup_entry *e, const struct dht_lookup_event *ev)
{
    if (e->answered) {
        pkdns_lookup_finish(e, 0, e->packet, e->len);
        return;
    }
    if (ev->status == -ENOENT && ev->responded >= PK_CACHE_NOT_FOUND_RESPONSES) {
        log_debug(PKDNS_LOOKUP_TAG, "no packet: %zu queried, %zu responded, %zu closest, %llu ms",
                  ev->queried, ev->responded, ev->nclosest, (unsigned long long)ev->elapsed_ms);
        pk_cache_put_not_found(e->owner->cache, e->key, pkdns_lookup_wall_ms());
        e->owner->stats.not_found++;
        pkdns_lookup_finish(e, -ENOENT, NULL, 0);
        return;
    }
    e->owner->stats.failed++;
    log_debug(PKDNS_LOOKUP_TAG, "lookup failed: %s, %zu responses",
              strerror(ev->status < 0 ? -ev->status : ETIMEDOUT), ev->responded);
    pkdns_lookup_finish(e, ev->status < 0 ? ev->status : -ETIMEDOUT, NULL, 0);
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

static struct pkdns_lookup_entry *pkdns_lookup_find(const struct pkdns_lookup *l,
                                                    const uint8_t key[PK_PACKET_KEY_LEN])
{
    struct pkdns_lookup_entry *e = l->entries;

    while (e != NULL && memcmp(e->key, key, PK_PACKET_KEY_LEN) != 0) {
        e = e->next;
    }
    return e;
}

bool pkdns_lookup_running(const struct pkdns_lookup *l, const uint8_t key[PK_PACKET_KEY_LEN])
{
    return pkdns_lookup_find(l, key) != NULL;
}

int pkdns_lookup_key(struct pkdns_lookup *l, const uint8_t key[PK_PACKET_KEY_LEN],
                     struct pkdns_lookup_waiter *w, uint64_t now_ms)
{
    struct pkdns_lookup_entry *e = pkdns_lookup_find(l, key);
    int rc;

    if (e != NULL) {
        l->stats.joined++;
    } else {
        e = calloc(1, sizeof(*e));
        if (e == NULL) {
            return -ENOMEM;
        }
        e->owner = l;
        memcpy(e->key, key, PK_PACKET_KEY_LEN);
        e->order = l->next_order++;
        if (l->n_running < PKDNS_LOOKUP_RUNNING_MAX) {
            rc = pkdns_lookup_start(e, now_ms);
            if (rc < 0) {
                free(e);
                return rc;
            }
        } else {
            e->queued = true;
        }
        e->next = l->entries;
        l->entries = e;
    }
    if (w != NULL) {
        w->entry = e;
        w->next = e->waiters;
        e->waiters = w;
    }
    return 0;
}

void pkdns_lookup_leave(struct pkdns_lookup_waiter *w)
{
    struct pkdns_lookup_waiter **p;

    if (w->entry == NULL) {
        return;
    }
    p = &w->entry->waiters;
    while (*p != NULL && *p != w) {
        p = &(*p)->next;
    }
    if (*p == w) {
        *p = w->next;
    }
    w->entry = NULL;
    w->next = NULL;
}

void pkdns_lookup_stats(const struct pkdns_lookup *l, struct pkdns_lookup_stats *out)
{
    *out = l->stats;
}
