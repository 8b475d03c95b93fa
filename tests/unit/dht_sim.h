/* A simulated network of DHT nodes in memory, on a virtual clock: each node's datagrams are
 * delivered to the addressed node's dht_node_input after a latency, and each node is ticked
 * when its timeout comes. Everything random (IDs, transaction IDs, latencies) comes from one
 * seeded generator, so a run repeats exactly. For tests and experiments; no sockets.
 *
 * Node i lives at 10.0.0.0 + i + 1, port DHT_SIM_PORT; a node made with `ipv6` set in its
 * config also at 2001:db8::(i + 1), same port, and sends to IPv6 addresses from there. A test may
 * make a node silent (it neither receives nor sends, like a dead host), slow down what a node
 * sends, pass a node's outgoing
 * datagrams through a filter that rewrites or drops them (a lying node), and inject datagrams from
 * anywhere. */
#ifndef PK_DHT_SIM_H
#define PK_DHT_SIM_H

#include "addr.h"
#include "dht_node.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DHT_SIM_PORT 6881

/* Rewrites a datagram node `index` sends to `to`: writes the replacement into out (cap bytes)
 * and returns its length, or 0 to drop it. */
typedef size_t (*dht_sim_filter)(void *ctx, size_t index, const uint8_t *data, size_t len,
                                 const struct addr *to, uint8_t *out, size_t cap);

struct dht_sim_config {
    uint64_t seed;
    uint32_t latency_ms; /* one-way delay of every datagram */
    uint32_t jitter_ms;  /* plus a uniform random 0..jitter_ms */
};

/* Counters of the network. */
struct dht_sim_stats {
    uint64_t delivered;
    uint64_t dropped; /* to or from a silent node, to no node, or by a filter */
};

struct dht_sim;

/* Creates an empty network at virtual time 0. Returns 0, or -ENOMEM. */
int dht_sim_new(const struct dht_sim_config *cfg, struct dht_sim **out);

/* Frees the network and its nodes; NULL is a no-op. */
void dht_sim_free(struct dht_sim *sim);

/* Adds a node made from cfg, with own_addr and the random source set by the network; its
 * index goes to *index. Returns 0, or what dht_node_new returns. */
int dht_sim_add(struct dht_sim *sim, const struct dht_node_config *cfg, size_t *index);

/* The node at index (owned by the network). */
struct dht_node *dht_sim_node(const struct dht_sim *sim, size_t index);

/* The address of the node at index; valid until the next dht_sim_add. */
const struct addr *dht_sim_addr(const struct dht_sim *sim, size_t index);

/* The IPv6 address of the node at index (it answers there only when made with ipv6). */
const struct addr *dht_sim_addr6(const struct dht_sim *sim, size_t index);

/* The index of the node at address a (either family), or SIZE_MAX. */
size_t dht_sim_index(const struct dht_sim *sim, const struct addr *a);

/* The number of nodes. */
size_t dht_sim_count(const struct dht_sim *sim);

/* Makes node index silent (or speaking again). */
void dht_sim_set_silent(struct dht_sim *sim, size_t index, bool silent);

/* Makes every datagram node index sends from now on take extra_ms longer to arrive (a slow
 * or far host); 0 restores the usual latency. */
void dht_sim_set_delay(struct dht_sim *sim, size_t index, uint32_t extra_ms);

/* Passes node index's outgoing datagrams through filter (NULL: none). */
void dht_sim_set_filter(struct dht_sim *sim, size_t index, dht_sim_filter filter, void *ctx);

/* Sends a datagram from any address to node index, delivered after the usual latency. */
void dht_sim_inject(struct dht_sim *sim, const struct addr *from, size_t index, const uint8_t *data,
                    size_t len);

/* Runs the network for duration_ms of virtual time, first sending what every node queued
 * (lookups started between runs); within a run only nodes given a datagram or a tick are
 * looked at, so a callback's lookup on another node waits for the next run. */
void dht_sim_run(struct dht_sim *sim, uint64_t duration_ms);

/* Runs until done(ctx) is true (checked after every step) or max_ms pass; returns done's
 * last answer. */
bool dht_sim_run_until(struct dht_sim *sim, bool (*done)(void *ctx), void *ctx, uint64_t max_ms);

/* The virtual time in milliseconds. */
uint64_t dht_sim_now(const struct dht_sim *sim);

/* The network's counters. */
const struct dht_sim_stats *dht_sim_stats(const struct dht_sim *sim);

/* Fills buf with bytes from the network's seeded generator (the signature nodes use). */
void dht_sim_random(void *sim, void *buf, size_t len);

/* Test addresses: IPv4 from a number in host order, IPv6 from its text (the test program
 * aborts on text that is not an IPv6 address). */
struct addr dht_sim_ip4(uint32_t ip, uint16_t port);
struct addr dht_sim_ip6(const char *text, uint16_t port);

#endif
