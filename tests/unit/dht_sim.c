#include "dht_sim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DHT_SIM_BASE_IP 0x0a000001u /* node 0 is 10.0.0.1 */

/* A datagram on its way. */
struct dht_sim_packet {
    uint64_t at_ms;
    uint64_t order; /* sends at the same time arrive in the order sent */
    size_t to;
    struct addr from;
    size_t len;
    uint8_t *data;
};

struct dht_sim_host {
    struct dht_node *node;
    struct addr addr;
    struct addr addr6;
    bool silent;
    uint32_t delay_ms; /* added to the latency of what it sends */
    bool touched;      /* has output to collect and a timeout to read */
    dht_sim_filter filter;
    void *filter_ctx;
    uint64_t wake_ms;
};

struct dht_sim {
    struct dht_sim_config cfg;
    uint64_t rng;
    uint64_t now_ms;
    uint64_t order;
    struct dht_sim_host *hosts;
    size_t nhosts;
    size_t cap_hosts;
    struct dht_sim_packet *heap; /* a binary min-heap by (at_ms, order) */
    size_t nheap;
    size_t cap_heap;
    struct dht_sim_stats stats;
};

/* splitmix64: small, fast and good enough for a simulation. */
static uint64_t dht_sim_next(struct dht_sim *sim)
{
    uint64_t z = (sim->rng += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void dht_sim_random(void *ctx, void *buf, size_t len)
{
    struct dht_sim *sim = ctx;
    uint8_t *out = buf;

    for (size_t i = 0; i < len; i += 8) {
        uint64_t r = dht_sim_next(sim);
        size_t n = len - i < 8 ? len - i : 8;
        memcpy(out + i, &r, n);
    }
}

int dht_sim_new(const struct dht_sim_config *cfg, struct dht_sim **out)
{
    struct dht_sim *sim = calloc(1, sizeof(*sim));

    *out = NULL;
    if (sim == NULL) {
        return -ENOMEM;
    }
    sim->cfg = *cfg;
    sim->rng = cfg->seed;
    *out = sim;
    return 0;
}

void dht_sim_free(struct dht_sim *sim)
{
    if (sim == NULL) {
        return;
    }
    for (size_t i = 0; i < sim->nhosts; i++) {
        dht_node_free(sim->hosts[i].node);
    }
    for (size_t i = 0; i < sim->nheap; i++) {
        free(sim->heap[i].data);
    }
    free(sim->hosts);
    free(sim->heap);
    free(sim);
}

static void dht_sim_host_addr(size_t index, struct addr *a)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)&a->sa;

    memset(a, 0, sizeof(*a));
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(DHT_SIM_BASE_IP + (uint32_t)index);
    sin->sin_port = htons(DHT_SIM_PORT);
    a->len = sizeof(*sin);
}

/* 2001:db8::(index + 1) (RFC 3849's documentation prefix). */
static void dht_sim_host_addr6(size_t index, struct addr *a)
{
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->sa;
    uint32_t low = htonl((uint32_t)index + 1);

    memset(a, 0, sizeof(*a));
    sin6->sin6_family = AF_INET6;
    sin6->sin6_addr.s6_addr[0] = 0x20;
    sin6->sin6_addr.s6_addr[1] = 0x01;
    sin6->sin6_addr.s6_addr[2] = 0x0d;
    sin6->sin6_addr.s6_addr[3] = 0xb8;
    memcpy(&sin6->sin6_addr.s6_addr[12], &low, 4);
    sin6->sin6_port = htons(DHT_SIM_PORT);
    a->len = sizeof(*sin6);
}

/* The index of the node at IPv6 address a, or SIZE_MAX. */
static size_t dht_sim_find6(const struct dht_sim *sim, const struct addr *a)
{
    for (size_t i = 0; i < sim->nhosts; i++) {
        if (addr_equal(&sim->hosts[i].addr6, a)) {
            return i;
        }
    }
    return SIZE_MAX;
}

/* The index of the node at a, or SIZE_MAX. */
static size_t dht_sim_find(const struct dht_sim *sim, const struct addr *a)
{
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->sa;
    uint32_t ip;

    if (a->sa.ss_family == AF_INET6) {
        return dht_sim_find6(sim, a);
    }
    if (a->len != sizeof(*sin) || sin->sin_family != AF_INET ||
        ntohs(sin->sin_port) != DHT_SIM_PORT) {
        return SIZE_MAX;
    }
    ip = ntohl(sin->sin_addr.s_addr);
    if (ip < DHT_SIM_BASE_IP || ip - DHT_SIM_BASE_IP >= sim->nhosts) {
        return SIZE_MAX;
    }
    return ip - DHT_SIM_BASE_IP;
}

int dht_sim_add(struct dht_sim *sim, const struct dht_node_config *cfg, size_t *index)
{
    struct dht_node_config node_cfg = *cfg;
    struct dht_sim_host *host;
    int rc;

    if (sim->nhosts == sim->cap_hosts) {
        size_t cap = sim->cap_hosts == 0 ? 64 : sim->cap_hosts * 2;
        struct dht_sim_host *grown = realloc(sim->hosts, cap * sizeof(*grown));
        if (grown == NULL) {
            return -ENOMEM;
        }
        sim->hosts = grown;
        sim->cap_hosts = cap;
    }
    host = &sim->hosts[sim->nhosts];
    memset(host, 0, sizeof(*host));
    dht_sim_host_addr(sim->nhosts, &host->addr);
    dht_sim_host_addr6(sim->nhosts, &host->addr6);
    node_cfg.own_addr = host->addr;
    if (cfg->ipv6) {
        node_cfg.own_addr6 = host->addr6;
    }
    node_cfg.random = dht_sim_random;
    node_cfg.random_ctx = sim;
    if ((rc = dht_node_new(&node_cfg, sim->now_ms, &host->node)) < 0) {
        return rc;
    }
    host->touched = true;
    *index = sim->nhosts++;
    return 0;
}

struct dht_node *dht_sim_node(const struct dht_sim *sim, size_t index)
{
    return sim->hosts[index].node;
}

const struct addr *dht_sim_addr(const struct dht_sim *sim, size_t index)
{
    return &sim->hosts[index].addr;
}

const struct addr *dht_sim_addr6(const struct dht_sim *sim, size_t index)
{
    return &sim->hosts[index].addr6;
}

size_t dht_sim_index(const struct dht_sim *sim, const struct addr *a)
{
    return dht_sim_find(sim, a);
}

size_t dht_sim_count(const struct dht_sim *sim)
{
    return sim->nhosts;
}

void dht_sim_set_silent(struct dht_sim *sim, size_t index, bool silent)
{
    sim->hosts[index].silent = silent;
}

void dht_sim_set_delay(struct dht_sim *sim, size_t index, uint32_t extra_ms)
{
    sim->hosts[index].delay_ms = extra_ms;
}

void dht_sim_set_filter(struct dht_sim *sim, size_t index, dht_sim_filter filter, void *ctx)
{
    sim->hosts[index].filter = filter;
    sim->hosts[index].filter_ctx = ctx;
}

uint64_t dht_sim_now(const struct dht_sim *sim)
{
    return sim->now_ms;
}

const struct dht_sim_stats *dht_sim_stats(const struct dht_sim *sim)
{
    return &sim->stats;
}

/* ---- the heap of datagrams in flight ---- */

static bool dht_sim_earlier(const struct dht_sim_packet *a, const struct dht_sim_packet *b)
{
    return a->at_ms < b->at_ms || (a->at_ms == b->at_ms && a->order < b->order);
}

static void dht_sim_swap(struct dht_sim *sim, size_t i, size_t j)
{
    struct dht_sim_packet tmp = sim->heap[i];

    sim->heap[i] = sim->heap[j];
    sim->heap[j] = tmp;
}

static int dht_sim_push(struct dht_sim *sim, const struct dht_sim_packet *p)
{
    size_t i = sim->nheap;

    if (sim->nheap == sim->cap_heap) {
        size_t cap = sim->cap_heap == 0 ? 256 : sim->cap_heap * 2;
        struct dht_sim_packet *grown = realloc(sim->heap, cap * sizeof(*grown));
        if (grown == NULL) {
            return -ENOMEM;
        }
        sim->heap = grown;
        sim->cap_heap = cap;
    }
    sim->heap[sim->nheap++] = *p;
    while (i > 0 && dht_sim_earlier(&sim->heap[i], &sim->heap[(i - 1) / 2])) {
        dht_sim_swap(sim, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    return 0;
}

static struct dht_sim_packet dht_sim_pop(struct dht_sim *sim)
{
    struct dht_sim_packet top = sim->heap[0];
    size_t i = 0;

    sim->heap[0] = sim->heap[--sim->nheap];
    for (;;) {
        size_t left = 2 * i + 1, right = left + 1, least = i;
        if (left < sim->nheap && dht_sim_earlier(&sim->heap[left], &sim->heap[least])) {
            least = left;
        }
        if (right < sim->nheap && dht_sim_earlier(&sim->heap[right], &sim->heap[least])) {
            least = right;
        }
        if (least == i) {
            return top;
        }
        dht_sim_swap(sim, i, least);
        i = least;
    }
}

/* ---- moving datagrams ---- */

static void dht_sim_send(struct dht_sim *sim, const struct addr *from, const struct addr *to,
                         const uint8_t *data, size_t len, uint32_t delay_ms)
{
    struct dht_sim_packet p = {.from = *from, .len = len};
    uint32_t jitter = sim->cfg.jitter_ms;

    p.to = dht_sim_find(sim, to);
    if (p.to == SIZE_MAX || (p.data = malloc(len)) == NULL) {
        sim->stats.dropped++;
        return;
    }
    memcpy(p.data, data, len);
    p.at_ms = sim->now_ms + sim->cfg.latency_ms + delay_ms +
              (jitter > 0 ? dht_sim_next(sim) % ((uint64_t)jitter + 1) : 0);
    p.order = sim->order++;
    if (dht_sim_push(sim, &p) < 0) {
        free(p.data);
        sim->stats.dropped++;
    }
}

void dht_sim_inject(struct dht_sim *sim, const struct addr *from, size_t index, const uint8_t *data,
                    size_t len)
{
    dht_sim_send(sim, from, &sim->hosts[index].addr, data, len, 0);
}

/* Sends what node i has queued and reads its next timeout. */
static void dht_sim_collect(struct dht_sim *sim, size_t i)
{
    struct dht_sim_host *host = &sim->hosts[i];
    uint8_t buf[DHT_NODE_DATAGRAM_MAX], rewritten[DHT_NODE_DATAGRAM_MAX];
    struct addr to;
    int len;

    while ((len = dht_node_next_output(host->node, buf, sizeof(buf), &to)) > 0) {
        const uint8_t *data = buf;
        size_t n = (size_t)len;
        if (host->filter != NULL) {
            n = host->filter(host->filter_ctx, i, buf, n, &to, rewritten, sizeof(rewritten));
            data = rewritten;
        }
        if (host->silent || n == 0) {
            sim->stats.dropped++;
            continue;
        }
        dht_sim_send(sim, to.sa.ss_family == AF_INET6 ? &host->addr6 : &host->addr, &to, data, n,
                     host->delay_ms);
    }
    host->wake_ms = sim->now_ms + dht_node_timeout_ms(host->node, sim->now_ms);
    host->touched = false;
}

static uint64_t dht_sim_next_event(const struct dht_sim *sim)
{
    uint64_t next = sim->nheap > 0 ? sim->heap[0].at_ms : UINT64_MAX;

    for (size_t i = 0; i < sim->nhosts; i++) {
        if (sim->hosts[i].wake_ms < next) {
            next = sim->hosts[i].wake_ms;
        }
    }
    return next;
}

/* Advances to the next event no later than limit_ms and handles everything due then.
 * Returns false when there was none (the clock then stands at limit_ms). */
static bool dht_sim_step(struct dht_sim *sim, uint64_t limit_ms)
{
    uint64_t next = dht_sim_next_event(sim);

    if (next > limit_ms) {
        sim->now_ms = limit_ms;
        return false;
    }
    if (next > sim->now_ms) {
        sim->now_ms = next;
    }
    while (sim->nheap > 0 && sim->heap[0].at_ms <= sim->now_ms) {
        struct dht_sim_packet p = dht_sim_pop(sim);
        struct dht_sim_host *host = &sim->hosts[p.to];
        if (host->silent) {
            sim->stats.dropped++;
        } else {
            sim->stats.delivered++;
            dht_node_input(host->node, p.data, p.len, &p.from, sim->now_ms);
            host->touched = true;
        }
        free(p.data);
    }
    for (size_t i = 0; i < sim->nhosts; i++) {
        if (sim->hosts[i].wake_ms <= sim->now_ms) {
            dht_node_tick(sim->hosts[i].node, sim->now_ms);
            sim->hosts[i].touched = true;
        }
    }
    for (size_t i = 0; i < sim->nhosts; i++) {
        if (sim->hosts[i].touched) {
            dht_sim_collect(sim, i);
        }
    }
    return true;
}

static void dht_sim_collect_all(struct dht_sim *sim)
{
    for (size_t i = 0; i < sim->nhosts; i++) {
        dht_sim_collect(sim, i);
    }
}

void dht_sim_run(struct dht_sim *sim, uint64_t duration_ms)
{
    uint64_t limit = sim->now_ms + duration_ms;

    dht_sim_collect_all(sim);
    while (dht_sim_step(sim, limit)) {
    }
}

bool dht_sim_run_until(struct dht_sim *sim, bool (*done)(void *ctx), void *ctx, uint64_t max_ms)
{
    uint64_t limit = sim->now_ms + max_ms;

    dht_sim_collect_all(sim);
    while (!done(ctx)) {
        if (!dht_sim_step(sim, limit)) {
            return done(ctx);
        }
    }
    return true;
}

struct addr dht_sim_ip4(uint32_t ip, uint16_t port)
{
    struct addr a;
    struct sockaddr_in *sin = (struct sockaddr_in *)&a.sa;

    memset(&a, 0, sizeof(a));
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(ip);
    sin->sin_port = htons(port);
    a.len = sizeof(*sin);
    return a;
}

struct addr dht_sim_ip6(const char *text, uint16_t port)
{
    struct addr a;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a.sa;

    memset(&a, 0, sizeof(a));
    sin6->sin6_family = AF_INET6;
    if (inet_pton(AF_INET6, text, &sin6->sin6_addr) != 1) {
        fprintf(stderr, "dht_sim_ip6: '%s' is not an IPv6 address\n", text);
        abort();
    }
    sin6->sin6_port = htons(port);
    a.len = sizeof(*sin6);
    return a;
}
