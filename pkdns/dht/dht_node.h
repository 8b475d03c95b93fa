/* A Mainline DHT node (BEP 5, with BEP 32's IPv6, BEP 42's "ip", BEP 43's read-only mode and
 * BEP 44's get and put): routing tables, answering queries, lookups. IPv4 is always on; with
 * `ipv6` set the node also takes and sends IPv6 datagrams, keeps a second routing table for
 * IPv6 contacts and asks for both families ("want") in its lookups. The node does no I/O and reads
 * no clock: datagrams and the time go in, datagrams come out.
 *
 * The caller's loop, in four calls:
 *   - a datagram arrives:   dht_node_input(node, data, len, &from, now_ms)
 *   - after any call:       while ((n = dht_node_next_output(node, buf, sizeof(buf), &to)) > 0)
 *                               send buf[0..n) to `to`
 *                           then arm a timer for dht_node_timeout_ms(node, now_ms)
 *   - the timer fires:      dht_node_tick(node, now_ms), then drain and re-arm as above
 * Lookups (get, put, find_node) start through dht_lookup.h and report through callbacks that
 * run inside dht_node_input and dht_node_tick. To start warm, save dht_node_export_nodes at
 * exit and give it to dht_node_import_nodes at the next start. Times are milliseconds on any
 * monotonic clock.
 * The program has called sodium_init(). The node is not thread-safe. */
#ifndef PK_DHT_NODE_H
#define PK_DHT_NODE_H

#include "addr.h"
#include "dht_peers.h"
#include "dht_store.h"
#include "krpc.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DHT_NODE_DATAGRAM_MAX 1500 /* ours: room for the largest datagram the node writes */

/* Ours: the defaults of the per-IP limits. libtorrent blocks an IP for minutes after more
 * than 5 packets a second over 10 s, so we send less than that to any one IP, and answer
 * about that many from each. */
#define DHT_NODE_QUERY_RATE 5
#define DHT_NODE_QUERY_BURST 25
#define DHT_NODE_SEND_RATE 3
#define DHT_NODE_SEND_BURST 10
#define DHT_NODE_OUTSTANDING 256 /* ours: queries in flight at once */
#define DHT_NODE_REJOINS 4       /* ours: self-lookups repeated after bootstrapping */

struct dht_node_config {
    /* All zero: a random ID. Either way it is replaced by one derived from our external IPv4
     * address (BEP 42) once responders agree on one that is not local and it does not fit. */
    uint8_t id[KRPC_ID_LEN];
    bool read_only;               /* BEP 43: ro=1 in every query; answer none */
    struct addr own_addr;         /* the address we receive on, when known (len 0 otherwise) */
    bool ipv6;                    /* BEP 32: the caller also sends and receives IPv6 */
    struct addr own_addr6;        /* the IPv6 address we receive on, when known */
    const struct addr *bootstrap; /* addresses to start from (IPv6 ones used with ipv6); copied */
    size_t nbootstrap;
    unsigned alpha;            /* lookup requests in flight; 0: DHT_LOOKUP_ALPHA */
    unsigned query_rate_per_s; /* queries answered per source IP; 0: default */
    unsigned query_burst;      /* 0: default */
    unsigned send_rate_per_s;  /* queries sent per destination IP; 0: default */
    unsigned send_burst;       /* 0: default */
    size_t max_outstanding;    /* 0: DHT_NODE_OUTSTANDING */
    /* BEP 44 puts store on this many of the closest nodes; 0: DHT_LOOKUP_PUT_NODES (8), at
     * most DHT_LOOKUP_PUT_NODES_MAX (32). */
    unsigned put_nodes;
    struct dht_store_config store;
    struct dht_peers_config peers; /* BEP 5 announce_peer storage */
    /* Random bytes for IDs and transaction IDs; NULL: random_bytes(). Tests pass a seeded
     * generator to be repeatable. */
    void (*random)(void *ctx, void *buf, size_t len);
    void *random_ctx;
    /* Called once bootstrapping has found nodes (nodes: the table's size); may be NULL. */
    void (*bootstrapped)(void *user, size_t nodes);
    void *user;
};

/* Counters since the node was made. */
struct dht_node_stats {
    uint64_t received;       /* datagrams in */
    uint64_t sent;           /* datagrams taken out through dht_node_next_output */
    uint64_t malformed;      /* datagrams that were not KRPC (dropped), or bad queries */
    uint64_t ignored;        /* not for us: IPv6 without ipv6, our own ID, read-only queries */
    uint64_t rate_limited;   /* queries dropped by the per-IP limit */
    uint64_t unmatched;      /* responses and errors to no query of ours */
    uint64_t answered;       /* queries answered (errors included) */
    uint64_t timeouts;       /* our queries that got no answer */
    uint64_t deferred;       /* queries held back by the per-destination budget */
    uint64_t output_dropped; /* datagrams lost to a full output queue */
    uint64_t bad_values;     /* BEP 44 values whose signature or target was wrong */
};

struct dht_node;

/* Creates a node from cfg at time now_ms. It bootstraps on its first dht_node_tick. Returns
 * 0, -EINVAL for a bad config (an unusable bootstrap address, put_nodes over the most), or
 * -ENOMEM. */
int dht_node_new(const struct dht_node_config *cfg, uint64_t now_ms, struct dht_node **out);

/* Frees the node, its lookups (without calling their callbacks) and what is queued; NULL is a
 * no-op. Not from inside a callback. */
void dht_node_free(struct dht_node *node);

/* Handles one datagram from `from`: answers a query, matches a response or error to our
 * query, and drops (and counts) anything malformed. Lookup callbacks may run. */
void dht_node_input(struct dht_node *node, const uint8_t *data, size_t len, const struct addr *from,
                    uint64_t now_ms);

/* Takes the next datagram to send: copies it into buf, sets *to, returns its length; 0 when
 * nothing is queued; -ENOSPC when cap is too small (DHT_NODE_DATAGRAM_MAX always fits). */
int dht_node_next_output(struct dht_node *node, uint8_t *buf, size_t cap, struct addr *to);

/* Milliseconds from now_ms until dht_node_tick is due (0: at once). */
uint64_t dht_node_timeout_ms(const struct dht_node *node, uint64_t now_ms);

/* Does what is due: timeouts of our queries, lookups, bootstrapping (and up to
 * DHT_NODE_REJOINS lookups of our own ID after it, as the table grows), bucket refreshes,
 * pings of questionable nodes, expiry of stored items and peers. Lookup callbacks may run. */
void dht_node_tick(struct dht_node *node, uint64_t now_ms);

/* Adds bootstrap addresses (copied) to those given at creation, as when names resolve
 * after the node started; a node not yet bootstrapped tries again at its next tick. Returns
 * 0, -EINVAL for an unusable address (nothing is added), or -ENOMEM. */
int dht_node_add_bootstrap(struct dht_node *node, const struct addr *addrs, size_t n,
                           uint64_t now_ms);

/* Tells the node another address of its own (a peer will hand it back some day); the node
 * then never queries it. Addresses that peers report (BEP 42) are learnt by themselves. */
void dht_node_add_own_addr(struct dht_node *node, const struct addr *a);

/* Writes the IPv4 routing table's usable contacts as compact node info (26 bytes each, good
 * ones first) into buf, as many as fit; returns the bytes written. Save them to start warm. */
size_t dht_node_export_nodes(const struct dht_node *node, uint8_t *buf, size_t cap);

/* Adds contacts saved by dht_node_export_nodes; they are pinged and used as lookup seeds.
 * Returns how many were taken, or -EINVAL when len is not a multiple of 26. */
int dht_node_import_nodes(struct dht_node *node, const uint8_t *data, size_t len);

/* The IPv6 forms of the two above (38 bytes a contact). Without ipv6, export writes nothing
 * and import returns -EAFNOSUPPORT. */
size_t dht_node_export_nodes6(const struct dht_node *node, uint8_t *buf, size_t cap);
int dht_node_import_nodes6(struct dht_node *node, const uint8_t *data, size_t len);

/* The node's ID (KRPC_ID_LEN bytes); it may change (BEP 42), so read it again when needed. */
const uint8_t *dht_node_id(const struct dht_node *node);

/* The node's counters. */
const struct dht_node_stats *dht_node_stats(const struct dht_node *node);

/* The IPv4 routing table, for reading through dht_table.h. */
const struct dht_table *dht_node_table(const struct dht_node *node);

/* The IPv6 routing table, or NULL without ipv6. */
const struct dht_table *dht_node_table6(const struct dht_node *node);

/* The BEP 44 items the node stores for others, for reading through dht_store.h. */
struct dht_store *dht_node_store(struct dht_node *node);

/* The peers announced to the node (BEP 5), for reading through dht_peers.h. */
struct dht_peers *dht_node_peers(struct dht_node *node);

#endif
