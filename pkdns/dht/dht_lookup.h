/* Iterative lookups (BEP 5, BEP 44) run by a dht_node: find_node toward an ID, get of a
 * mutable or immutable item, put of an item.
 *
 * A lookup keeps the DHT_LOOKUP_CANDIDATES closest nodes it has heard of, sorted by XOR
 * distance to the target, and asks the closest not yet asked, `alpha` at a time. A request
 * that outlasts the adaptive timeout frees its place for the next candidate (an answer that
 * comes later still counts); one that never comes marks the node down in the routing table.
 * The lookup ends when the K closest live candidates have all answered. It never lists our
 * own ID or address as a candidate.
 *
 * get delivers the first value that verifies (signature and target for mutable items, SHA-1
 * for immutable ones) at once, then every newer one, and the end of the traversal last. Gets
 * of one target share one lookup. put runs a get traversal to collect write tokens from the
 * closest nodes, then puts to the closest of them that gave one, as many as the node's
 * put_nodes (DHT_LOOKUP_PUT_NODES by default; a put to more than K nodes traverses until that
 * many closest nodes have answered); it reports once each put is answered or past its
 * adaptive timeout (a later answer still reaches the routing table), or, when none was
 * answered in time, at the hard deadline.
 *
 * Callbacks run inside dht_node_input and dht_node_tick, never inside the start calls. In a
 * callback one may start and cancel lookups, not free the node. */
#ifndef PK_DHT_LOOKUP_H
#define PK_DHT_LOOKUP_H

#include "dht_contact.h"
#include "dht_node.h"
#include "dht_store.h"
#include "dht_table.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DHT_LOOKUP_ALPHA 5               /* requests in flight, as libtorrent (Rust mainline: 20) */
#define DHT_LOOKUP_CANDIDATES 32         /* ours: the closest-set a lookup keeps */
#define DHT_LOOKUP_PUT_NODES DHT_TABLE_K /* BEP 44 practice: store on the 8 closest */
#define DHT_LOOKUP_PUT_NODES_MAX 32      /* ours: put_nodes at most (a lookup keeps 32) */
#define DHT_LOOKUP_MAX_MS 60000          /* ours: a lookup ends after a minute whatever happens */

enum dht_lookup_event_type {
    DHT_LOOKUP_VALUE, /* get: a verified value, newer than any delivered before */
    DHT_LOOKUP_DONE,  /* the last event of the lookup for this caller */
};

/* What a callback receives. Pointers are valid during the callback only. */
struct dht_lookup_event {
    enum dht_lookup_event_type type;

    /* DHT_LOOKUP_VALUE */
    const struct dht_store_item *item; /* k, sig, seq and salt set for mutable items */
    const struct addr *from;           /* the node that sent it */

    /* DHT_LOOKUP_DONE. status: 0; -ENOENT (get: no value, or none newer than `seq`);
     * -ETIMEDOUT (no node answered; put: no put was answered); -ENETUNREACH (no node to ask);
     * -EREMOTEIO (put: every node refused). */
    int status;
    size_t queried;                    /* requests sent */
    size_t responded;                  /* answers received */
    const struct dht_contact *closest; /* find_node, get: the closest nodes that answered */
    size_t nclosest;
    size_t stored;                            /* put: nodes that accepted */
    size_t refused;                           /* put: nodes that answered with an error */
    int64_t errors[DHT_LOOKUP_PUT_NODES_MAX]; /* put: their codes (BEP 44: 205 ... 302) */
    uint64_t elapsed_ms;
};

typedef void (*dht_lookup_cb)(void *user, const struct dht_lookup_event *ev);

/* What to get. For a mutable item, k (and salt) name it, and its target is SHA-1(k + salt);
 * for an immutable item k is NULL and target is the SHA-1 of the value. With has_seq, only a
 * value whose seq is higher is wanted (BEP 44: nodes leave out values not newer). */
struct dht_lookup_get_args {
    const uint8_t *k;
    const uint8_t *salt;
    size_t salt_len;
    const uint8_t *target;
    bool has_seq;
    int64_t seq;
};

/* Starts (or joins) a find_node lookup toward target. On success *handle names this caller
 * for dht_lookup_cancel. Returns 0, -ENETUNREACH when the node knows no one to ask, -ENOMEM. */
int dht_lookup_find_node(struct dht_node *node, const uint8_t target[KRPC_ID_LEN], dht_lookup_cb cb,
                         void *user, uint64_t now_ms, uint32_t *handle);

/* Starts a get, or joins the running get of the same target (a joiner gets the best value
 * found so far on the next tick). Returns 0, -EINVAL for bad args, -ENETUNREACH, -ENOMEM. */
int dht_lookup_get(struct dht_node *node, const struct dht_lookup_get_args *args, dht_lookup_cb cb,
                   void *user, uint64_t now_ms, uint32_t *handle);

/* Starts a put of a signed mutable item (k, sig, seq, salt, value) or an immutable one (k
 * NULL, value only); the item is copied. cas (may be NULL) is BEP 44's compare-and-swap seq.
 * Returns 0, -EINVAL (sizes over BEP 44 limits), -ENETUNREACH, -ENOMEM. */
int dht_lookup_put(struct dht_node *node, const struct dht_store_item *item, const int64_t *cas,
                   dht_lookup_cb cb, void *user, uint64_t now_ms, uint32_t *handle);

/* Stops calling back the caller named by handle; a lookup nobody waits for any more stops.
 * Unknown handles are ignored. */
void dht_lookup_cancel(struct dht_node *node, uint32_t handle);

/* Number of lookups running. */
size_t dht_lookup_count(const struct dht_node *node);

#endif
