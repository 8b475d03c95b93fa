#include "dht_peers.h"

#include "dht_contact.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* One announced peer, in the compact form get_peers hands out. */
struct dht_peers_entry {
    uint8_t compact[KRPC_PEER6_LEN];
    uint8_t len; /* KRPC_PEER_LEN or KRPC_PEER6_LEN */
    uint64_t announced_ms;
};

/* The peers of one info hash, oldest announce first. */
struct dht_peers_swarm {
    uint8_t info_hash[KRPC_ID_LEN];
    struct dht_peers_entry *e;
    size_t n;
    size_t cap;
};

struct dht_peers {
    struct dht_peers_config cfg;
    struct dht_peers_swarm *swarms; /* unordered; at most cfg.max_swarms */
    size_t nswarms;
    size_t total;
};

int dht_peers_new(const struct dht_peers_config *cfg, struct dht_peers **out)
{
    struct dht_peers *p = calloc(1, sizeof(*p));

    *out = NULL;
    if (p == NULL) {
        return -ENOMEM;
    }
    if (cfg != NULL) {
        p->cfg = *cfg;
    }
    if (p->cfg.max_swarms == 0) {
        p->cfg.max_swarms = DHT_PEERS_DEFAULT_SWARMS;
    }
    if (p->cfg.max_per_swarm == 0) {
        p->cfg.max_per_swarm = DHT_PEERS_DEFAULT_PER_SWARM;
    }
    if (p->cfg.max_total == 0) {
        p->cfg.max_total = DHT_PEERS_DEFAULT_TOTAL;
    }
    if (p->cfg.lifetime_ms == 0) {
        p->cfg.lifetime_ms = DHT_PEERS_LIFETIME_MS;
    }
    p->swarms = calloc(p->cfg.max_swarms, sizeof(*p->swarms));
    if (p->swarms == NULL) {
        free(p);
        return -ENOMEM;
    }
    *out = p;
    return 0;
}

void dht_peers_free(struct dht_peers *peers)
{
    if (peers == NULL) {
        return;
    }
    for (size_t i = 0; i < peers->nswarms; i++) {
        free(peers->swarms[i].e);
    }
    free(peers->swarms);
    free(peers);
}

static struct dht_peers_swarm *dht_peers_find(struct dht_peers *p,
                                              const uint8_t info_hash[KRPC_ID_LEN])
{
    for (size_t i = 0; i < p->nswarms; i++) {
        if (memcmp(p->swarms[i].info_hash, info_hash, KRPC_ID_LEN) == 0) {
            return &p->swarms[i];
        }
    }
    return NULL;
}

static void dht_peers_remove(struct dht_peers *p, struct dht_peers_swarm *s, size_t i)
{
    memmove(&s->e[i], &s->e[i + 1], (s->n - i - 1) * sizeof(s->e[0]));
    s->n--;
    p->total--;
}

/* Frees swarm s, which the last swarm then takes the place of. */
static void dht_peers_drop_swarm(struct dht_peers *p, struct dht_peers_swarm *s)
{
    p->total -= s->n;
    free(s->e);
    *s = p->swarms[--p->nswarms];
    memset(&p->swarms[p->nswarms], 0, sizeof(p->swarms[0]));
}

static bool dht_peers_expired(const struct dht_peers *p, const struct dht_peers_entry *e,
                              uint64_t now_ms)
{
    return now_ms >= e->announced_ms && now_ms - e->announced_ms >= p->cfg.lifetime_ms;
}

/* Drops the expired peers of s (they are at its front); returns false when s is left empty
 * and was dropped. */
static bool dht_peers_expire_swarm(struct dht_peers *p, struct dht_peers_swarm *s, uint64_t now_ms)
{
    size_t gone = 0;

    while (gone < s->n && dht_peers_expired(p, &s->e[gone], now_ms)) {
        gone++;
    }
    if (gone > 0) {
        memmove(&s->e[0], &s->e[gone], (s->n - gone) * sizeof(s->e[0]));
        s->n -= gone;
        p->total -= gone;
    }
    if (s->n == 0) {
        dht_peers_drop_swarm(p, s);
        return false;
    }
    return true;
}

void dht_peers_expire(struct dht_peers *peers, uint64_t now_ms)
{
    for (size_t i = 0; i < peers->nswarms;) {
        /* A dropped swarm's place is taken by another, to be looked at in turn. */
        if (dht_peers_expire_swarm(peers, &peers->swarms[i], now_ms)) {
            i++;
        }
    }
}

/* The swarm whose oldest peer is the oldest of all (the store is not empty). */
static struct dht_peers_swarm *dht_peers_oldest(struct dht_peers *p)
{
    struct dht_peers_swarm *oldest = NULL;

    for (size_t i = 0; i < p->nswarms; i++) {
        struct dht_peers_swarm *s = &p->swarms[i];
        if (s->n > 0 && (oldest == NULL || s->e[0].announced_ms < oldest->e[0].announced_ms)) {
            oldest = s;
        }
    }
    return oldest;
}

/* A swarm for info_hash: the one held, or a new one, for which the swarm heard from least
 * recently gives way when the store holds max_swarms. */
static struct dht_peers_swarm *dht_peers_swarm_for(struct dht_peers *p,
                                                   const uint8_t info_hash[KRPC_ID_LEN])
{
    struct dht_peers_swarm *s = dht_peers_find(p, info_hash);

    if (s != NULL) {
        return s;
    }
    if (p->nswarms == p->cfg.max_swarms) {
        struct dht_peers_swarm *idle = &p->swarms[0];
        for (size_t i = 1; i < p->nswarms; i++) {
            struct dht_peers_swarm *c = &p->swarms[i];
            if (c->e[c->n - 1].announced_ms < idle->e[idle->n - 1].announced_ms) {
                idle = c;
            }
        }
        dht_peers_drop_swarm(p, idle);
    }
    s = &p->swarms[p->nswarms++];
    memset(s, 0, sizeof(*s));
    memcpy(s->info_hash, info_hash, KRPC_ID_LEN);
    return s;
}

/* Writes the compact form of a peer address; returns its length, or a negative errno. */
static int dht_peers_compact(const struct addr *a, uint8_t out[KRPC_PEER6_LEN])
{
    const uint8_t *ip;
    size_t ip_len;
    uint16_t port;

    if (!dht_contact_ip_bytes(a, &ip, &ip_len)) {
        return -EAFNOSUPPORT;
    }
    port = ip_len == 4 ? ((const struct sockaddr_in *)&a->sa)->sin_port
                       : ((const struct sockaddr_in6 *)&a->sa)->sin6_port;
    if (port == 0) {
        return -EINVAL;
    }
    memcpy(out, ip, ip_len);
    memcpy(out + ip_len, &port, 2); /* already in network order */
    return (int)ip_len + 2;
}

/* Makes room for one more peer of s: the swarm's oldest gives way when the swarm is full,
 * the store's oldest when the store is. A swarm left empty goes, unless it is s. Returns where
 * s is afterwards: dropping a swarm moves the last one into its place. */
static struct dht_peers_swarm *dht_peers_make_room(struct dht_peers *p, struct dht_peers_swarm *s)
{
    struct dht_peers_swarm *oldest;

    if (s->n >= p->cfg.max_per_swarm) {
        dht_peers_remove(p, s, 0);
        return s;
    }
    if (p->total < p->cfg.max_total || (oldest = dht_peers_oldest(p)) == NULL) {
        return s;
    }
    dht_peers_remove(p, oldest, 0);
    if (oldest->n == 0 && oldest != s) {
        bool s_is_last = s == &p->swarms[p->nswarms - 1];
        dht_peers_drop_swarm(p, oldest);
        return s_is_last ? oldest : s;
    }
    return s;
}

/* Appends e to s, growing its array. Returns 0 or -ENOMEM. */
static int dht_peers_append(struct dht_peers *p, struct dht_peers_swarm *s,
                            const struct dht_peers_entry *e)
{
    if (s->n == s->cap) {
        size_t cap = s->cap == 0 ? 4 : s->cap * 2;
        struct dht_peers_entry *grown;
        if (cap > p->cfg.max_per_swarm) {
            cap = p->cfg.max_per_swarm;
        }
        grown = realloc(s->e, cap * sizeof(*grown));
        if (grown == NULL) {
            return -ENOMEM;
        }
        s->e = grown;
        s->cap = cap;
    }
    s->e[s->n++] = *e;
    p->total++;
    return 0;
}

int dht_peers_announce(struct dht_peers *peers, const uint8_t info_hash[KRPC_ID_LEN],
                       const struct addr *peer, uint64_t now_ms)
{
    struct dht_peers_entry fresh = {.announced_ms = now_ms};
    struct dht_peers_swarm *s;
    int len, rc;

    if ((len = dht_peers_compact(peer, fresh.compact)) < 0) {
        return len;
    }
    fresh.len = (uint8_t)len;
    dht_peers_expire(peers, now_ms);
    s = dht_peers_swarm_for(peers, info_hash);

    /* Announcing again moves the peer to the newest end. */
    for (size_t i = 0; i < s->n; i++) {
        if (s->e[i].len == fresh.len && memcmp(s->e[i].compact, fresh.compact, fresh.len) == 0) {
            dht_peers_remove(peers, s, i);
            break;
        }
    }
    s = dht_peers_make_room(peers, s);
    if ((rc = dht_peers_append(peers, s, &fresh)) < 0 && s->n == 0) {
        dht_peers_drop_swarm(peers, s);
    }
    return rc;
}

size_t dht_peers_get(struct dht_peers *peers, const uint8_t info_hash[KRPC_ID_LEN], int family,
                     uint64_t now_ms, struct krpc_span *out, size_t max)
{
    size_t want_len = family == AF_INET6 ? KRPC_PEER6_LEN : KRPC_PEER_LEN;
    struct dht_peers_swarm *s = dht_peers_find(peers, info_hash);
    size_t n = 0;

    if (s == NULL || !dht_peers_expire_swarm(peers, s, now_ms)) {
        return 0;
    }
    for (size_t i = s->n; i > 0 && n < max; i--) {
        const struct dht_peers_entry *e = &s->e[i - 1];
        if (e->len == want_len) {
            out[n].data = e->compact;
            out[n].len = e->len;
            n++;
        }
    }
    return n;
}

size_t dht_peers_count(const struct dht_peers *peers)
{
    return peers->total;
}

size_t dht_peers_swarms(const struct dht_peers *peers)
{
    return peers->nswarms;
}
