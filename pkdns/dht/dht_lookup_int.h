/* Private to the lookups: the structure dht_lookup.c (starting, joining, callers and their
 * events, the node's hooks) and dht_traverse.c (the requests of a traversal and of a put,
 * and the checks of what comes back) share. Nothing else includes this. */
#ifndef PK_DHT_LOOKUP_INT_H
#define PK_DHT_LOOKUP_INT_H

#include "bep44.h"
#include "dht_closest.h"
#include "dht_lookup.h"
#include "dht_node_int.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DHT_LOOKUP_RETRY_MS 250 /* ours: a request the send budget held back is retried */

enum dht_lookup_kind {
    DHT_LOOKUP_KIND_FIND_NODE,
    DHT_LOOKUP_KIND_GET,
    DHT_LOOKUP_KIND_PUT,
};

enum dht_lookup_phase {
    DHT_LOOKUP_TRAVERSE, /* asking toward the target */
    DHT_LOOKUP_PUTTING,  /* put: storing on the closest nodes that gave a token */
    DHT_LOOKUP_FINISHED, /* the end is known; the done events go out */
};

/* An item the lookup owns: the one it puts, or the best one it got. */
struct dht_lookup_value {
    struct dht_store_item item; /* points into the arrays below */
    uint8_t k[BEP44_KEY_LEN];
    uint8_t sig[BEP44_SIG_LEN];
    uint8_t salt[BEP44_SALT_MAX];
    uint8_t value[BEP44_VALUE_MAX];
    struct addr from;
};

/* One caller of a lookup. */
struct dht_lookup_waiter {
    struct dht_lookup_waiter *next;
    uint32_t handle;
    dht_lookup_cb cb;
    void *user;
    bool has_seq; /* only values with a higher seq are for this caller */
    int64_t seq;
    uint32_t seen_version; /* the version of the best value last shown to it */
    bool got_value;
    bool cancelled;
    bool done;
};

struct dht_lookup {
    struct dht_lookup *next;
    struct dht_node *node;
    enum dht_lookup_kind kind;
    enum dht_lookup_phase phase;
    int purpose; /* enum dht_node_purpose */
    int family;  /* AF_INET or AF_INET6: asks nodes of that family only; 0: both */
    struct dht_closest set;

    bool is_mutable;
    uint8_t salt[BEP44_SALT_MAX];
    size_t salt_len;
    bool has_seq; /* the "seq" sent with get */
    int64_t seq;
    struct dht_lookup_value put; /* put: what to store */
    bool has_cas;
    int64_t cas;

    struct dht_lookup_value best; /* get: the newest verified value */
    bool have_best;
    uint32_t best_version;

    size_t queried;
    size_t responded;
    size_t stored;      /* put: nodes that accepted */
    size_t refused;     /* put: nodes that refused, their codes in errors[] */
    bool put_wait_late; /* put: nobody answered within the soft timeouts; wait for the hard */
    int64_t errors[DHT_LOOKUP_PUT_NODES_MAX];
    uint64_t started_ms;
    uint64_t retry_ms; /* 0: nothing held back */
    uint64_t finished_ms;
    int status;
    struct dht_lookup_waiter *waiters;
};

/* ---- dht_lookup.c ---- */

/* True when l asks nodes of `family`. */
bool dht_lookup_in_family(const struct dht_lookup *l, int family);

/* The BEP 32 "want" flags of l's queries: the families it asks, when the node speaks IPv6;
 * none for an IPv4-only node (a responder then answers in the query's family). */
unsigned dht_lookup_want(const struct dht_lookup *l);

/* Copies item (and from, which may be NULL) into v. Sizes are within BEP 44's limits. */
void dht_lookup_value_set(struct dht_lookup_value *v, const struct dht_store_item *item,
                          const struct addr *from);

/* Ends l with status: it stops, and its callers get their done events. */
void dht_lookup_finish(struct dht_lookup *l, int status, uint64_t now_ms);

/* ---- dht_traverse.c ---- */

/* Sends what l may send now and moves it on: to the put phase, or to its end. */
void dht_traverse_advance(struct dht_lookup *l, uint64_t now_ms);

/* Takes a response or an error to one of l's calls. */
void dht_traverse_answer(struct dht_lookup *l, const struct dht_rpc_call *call,
                         const struct krpc_msg *m, uint64_t now_ms);

/* Takes the soft (hard false) or hard timeout of one of l's calls. */
void dht_traverse_timeout(struct dht_lookup *l, const struct dht_rpc_call *call, bool hard);

#endif
