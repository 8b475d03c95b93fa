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

struct pkdns_lookup_entry {
    struct pkdns_lookup *owner;
    uint8_t key[PK_PACKET_KEY_LEN];
    uint32_t handle;
    bool running;
    struct pkdns_lookup_waiter *waiters;
    struct pkdns_lookup_entry *next;
};

struct pkdns_lookup {
    struct dht_node *node;
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

int pkdns_lookup_new(struct dht_node *node, struct pk_cache *cache, struct pkdns_lookup **out)
{
    struct pkdns_lookup *l = calloc(1, sizeof(*l));

    if (l == NULL) {
        return -ENOMEM;
    }
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

/* Ends entry e: unlinks it, stops its get and calls every waiter. */
static void pkdns_lookup_finish(struct pkdns_lookup_entry *e, int status, const uint8_t *packet,
                                size_t len)
{
    struct pkdns_lookup_waiter *w = e->waiters;

    pkdns_lookup_unlink(e);
    if (e->running) {
        dht_lookup_cancel(e->owner->node, e->handle);
    }
    e->waiters = NULL;
    while (w != NULL) {
        struct pkdns_lookup_waiter *next = w->next;
        w->entry = NULL;
        w->next = NULL;
        w->cb(w->user, status, packet, len);
        w = next;
    }
    free(e);
}

static void pkdns_lookup_on_value(struct pkdns_lookup_entry *e, const struct dht_store_item *item)
{
    uint8_t packet[PK_PACKET_MAX];
    int n;

    if (item->k == NULL || item->sig == NULL || memcmp(item->k, e->key, PK_PACKET_KEY_LEN) != 0) {
        return;
    }
    n = pk_packet_from_item(e->key, item->sig, item->seq, item->value, item->value_len, packet,
                            sizeof(packet));
    if (n < 0 || pk_packet_verify(packet, (size_t)n) < 0) {
        log_debug(PKDNS_LOOKUP_TAG, "unusable value: %s", strerror(n < 0 ? -n : EBADMSG));
        return;
    }
    if (pk_cache_put(e->owner->cache, packet, (size_t)n, pkdns_lookup_wall_ms()) < 0) {
        log_debug(PKDNS_LOOKUP_TAG, "packet refused by the cache");
    }
    e->owner->stats.found++;
    pkdns_lookup_finish(e, 0, packet, (size_t)n);
}

static void pkdns_lookup_on_event(void *user, const struct dht_lookup_event *ev)
{
    struct pkdns_lookup_entry *e = user;

    if (ev->type == DHT_LOOKUP_VALUE) {
        pkdns_lookup_on_value(e, ev->item);
        return;
    }
    e->running = false;
    if (ev->status == -ENOENT && ev->responded >= PK_CACHE_NOT_FOUND_RESPONSES) {
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

int pkdns_lookup_key(struct pkdns_lookup *l, const uint8_t key[PK_PACKET_KEY_LEN],
                     struct pkdns_lookup_waiter *w, uint64_t now_ms)
{
    struct pkdns_lookup_entry *e = l->entries;
    int rc;

    while (e != NULL && memcmp(e->key, key, PK_PACKET_KEY_LEN) != 0) {
        e = e->next;
    }
    if (e != NULL) {
        l->stats.joined++;
    } else {
        struct dht_lookup_get_args args = {.k = key};
        e = calloc(1, sizeof(*e));
        if (e == NULL) {
            return -ENOMEM;
        }
        e->owner = l;
        memcpy(e->key, key, PK_PACKET_KEY_LEN);
        rc = dht_lookup_get(l->node, &args, pkdns_lookup_on_event, e, now_ms, &e->handle);
        if (rc < 0) {
            free(e);
            return rc;
        }
        e->running = true;
        e->next = l->entries;
        l->entries = e;
        l->stats.started++;
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
