#include "rt_ratelimit.h"

#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define RT_RATELIMIT_WAYS 4 /* entries an address may occupy: its set */
#define RT_RATELIMIT_MILLI 1000

struct rt_ratelimit_entry {
    uint8_t ip[16]; /* IPv4 as ::ffff:a.b.c.d */
    bool used;
    uint64_t last_ms;
    uint64_t tokens_milli; /* tokens times 1000, so sub-token refills add up */
};

struct rt_ratelimit {
    uv_mutex_t lock; /* guards refs; and the entries too, when `shared` */
    bool shared;
    unsigned refs;
    uint32_t qps;
    uint32_t burst;
    uint32_t table_size;
    uint64_t burst_milli;
    size_t n_sets;
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
    struct rt_ratelimit_entry entries[];
};

int rt_ratelimit_new(uint32_t qps, uint32_t burst, uint32_t table_size, struct rt_ratelimit **out)
{
    size_t n_sets = table_size / RT_RATELIMIT_WAYS + 1;
    struct rt_ratelimit *r;

    if (qps == 0) {
        return -EINVAL;
    }
    r = calloc(1, sizeof(*r) + n_sets * RT_RATELIMIT_WAYS * sizeof(r->entries[0]));
    if (r == NULL) {
        return -ENOMEM;
    }
    if (uv_mutex_init(&r->lock) != 0) {
        free(r);
        return -ENOMEM;
    }
    r->refs = 1;
    r->qps = qps;
    r->burst = burst;
    r->table_size = table_size;
    r->burst_milli = (uint64_t)(burst > qps ? burst : qps) * RT_RATELIMIT_MILLI;
    r->n_sets = n_sets;
    /* Keyed, so that nobody can pick addresses that all land in one set. */
    crypto_shorthash_keygen(r->hash_key);
    *out = r;
    return 0;
}

void rt_ratelimit_free(struct rt_ratelimit *r)
{
    bool last;

    if (r == NULL) {
        return;
    }
    uv_mutex_lock(&r->lock);
    last = --r->refs == 0;
    uv_mutex_unlock(&r->lock);
    if (last) {
        uv_mutex_destroy(&r->lock);
        free(r);
    }
}

static void rt_ratelimit_key(const struct addr *a, uint8_t ip[16])
{
    memset(ip, 0, 16);
    if (a->sa.ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->sa;
        ip[10] = 0xff;
        ip[11] = 0xff;
        memcpy(ip + 12, &sin->sin_addr, 4);
    } else if (a->sa.ss_family == AF_INET6) {
        memcpy(ip, &((const struct sockaddr_in6 *)&a->sa)->sin6_addr, 16);
    }
}

/* The entry for ip in its set: found, or the least recently seen one, reset. */
static struct rt_ratelimit_entry *rt_ratelimit_entry(struct rt_ratelimit *r, const uint8_t *ip,
                                                     uint64_t now_ms)
{
    uint8_t hash[crypto_shorthash_BYTES];
    uint64_t h;
    struct rt_ratelimit_entry *set, *oldest;

    crypto_shorthash(hash, ip, 16, r->hash_key);
    memcpy(&h, hash, sizeof(h));
    set = &r->entries[(h % r->n_sets) * RT_RATELIMIT_WAYS];
    oldest = &set[0];
    for (size_t i = 0; i < RT_RATELIMIT_WAYS; i++) {
        if (set[i].used && memcmp(set[i].ip, ip, 16) == 0) {
            return &set[i];
        }
        if (!set[i].used || (oldest->used && set[i].last_ms < oldest->last_ms)) {
            oldest = &set[i];
        }
    }
    memcpy(oldest->ip, ip, 16);
    oldest->used = true;
    oldest->last_ms = now_ms;
    oldest->tokens_milli = r->burst_milli;
    return oldest;
}

static bool rt_ratelimit_take(struct rt_ratelimit *r, const uint8_t *ip, uint64_t now_ms)
{
    struct rt_ratelimit_entry *e = rt_ratelimit_entry(r, ip, now_ms);

    if (now_ms > e->last_ms) {
        e->tokens_milli += (now_ms - e->last_ms) * r->qps;
        if (e->tokens_milli > r->burst_milli) {
            e->tokens_milli = r->burst_milli;
        }
        e->last_ms = now_ms;
    }
    if (e->tokens_milli < RT_RATELIMIT_MILLI) {
        return false;
    }
    e->tokens_milli -= RT_RATELIMIT_MILLI;
    return true;
}

bool rt_ratelimit_allow(struct rt_ratelimit *r, const struct addr *a, uint64_t now_ms)
{
    uint8_t ip[16];
    bool allowed;

    rt_ratelimit_key(a, ip);
    if (!r->shared) {
        return rt_ratelimit_take(r, ip, now_ms);
    }
    /* Each loop's clock is its own loop's: a bucket may see a time a little older than its
     * last, which rt_ratelimit_take treats as no time passed. */
    uv_mutex_lock(&r->lock);
    allowed = rt_ratelimit_take(r, ip, now_ms);
    uv_mutex_unlock(&r->lock);
    return allowed;
}

struct rt_ratelimit_share {
    uv_mutex_t lock;              /* guards `current` */
    struct rt_ratelimit *current; /* the share's own reference */
};

int rt_ratelimit_share_new(struct rt_ratelimit_share **out)
{
    struct rt_ratelimit_share *s = calloc(1, sizeof(*s));

    if (s == NULL || uv_mutex_init(&s->lock) != 0) {
        free(s);
        return -ENOMEM;
    }
    *out = s;
    return 0;
}

void rt_ratelimit_share_free(struct rt_ratelimit_share *s)
{
    if (s == NULL) {
        return;
    }
    rt_ratelimit_free(s->current);
    uv_mutex_destroy(&s->lock);
    free(s);
}

int rt_ratelimit_share_get(struct rt_ratelimit_share *s, uint32_t qps, uint32_t burst,
                           uint32_t table_size, struct rt_ratelimit **out)
{
    struct rt_ratelimit *r;
    int rc = 0;

    uv_mutex_lock(&s->lock);
    r = s->current;
    if (r == NULL || r->qps != qps || r->burst != burst || r->table_size != table_size) {
        rc = rt_ratelimit_new(qps, burst, table_size, &r);
        if (rc == 0) {
            r->shared = true;
            rt_ratelimit_free(s->current);
            s->current = r;
        }
    }
    if (rc == 0) {
        uv_mutex_lock(&r->lock);
        r->refs++;
        uv_mutex_unlock(&r->lock);
        *out = r;
    }
    uv_mutex_unlock(&s->lock);
    return rc;
}
