/* Private to the node: the structure its files share and the functions they call across.
 * dht_node.c owns the lifecycle, datagrams in and out, our queries and the timers;
 * dht_node_ip.c our address as others see it (BEP 42);
 * dht_server.c answers queries; dht_lookup.c runs lookups. Nothing outside pkdns/dht/dht_node*,
 * dht_server* and dht_lookup* includes this. */
#ifndef PK_DHT_NODE_INT_H
#define PK_DHT_NODE_INT_H

#include "dht_limit.h"
#include "dht_node.h"
#include "dht_peers.h"
#include "dht_rpc.h"
#include "dht_store.h"
#include "dht_table.h"
#include "dht_token.h"
#include "krpc.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DHT_TAG "dht"

#define DHT_NODE_MAINTENANCE_MS 1000 /* ours: bootstrap, refresh and ping checks this often */
#define DHT_NODE_OUTPUT_MAX 1024     /* ours: datagrams queued for the caller to send */
#define DHT_NODE_IP_VOTES 8          /* ours: reports of our address remembered */
#define DHT_NODE_IP_AGREE 3          /* ours: distinct responders that make it agreed */

/* Why the node itself runs a lookup (0: a caller's lookup). */
enum dht_node_purpose {
    DHT_NODE_FOR_CALLER,
    DHT_NODE_FOR_BOOTSTRAP, /* find_node of our own ID (BEP 5) */
    DHT_NODE_FOR_REFRESH,   /* find_node of an ID in an idle bucket (BEP 5) */
    DHT_NODE_FOR_REJOIN,    /* find_node of our own ID again, once the table has grown */
};

/* A datagram waiting for dht_node_next_output. */
struct dht_node_output {
    struct dht_node_output *next;
    struct addr to;
    size_t len;
    uint8_t data[];
};

/* One responder's report of our address (BEP 42 "ip"). */
struct dht_node_ip_vote {
    struct addr seen; /* our address as it saw it */
    struct addr by;   /* the responder */
};

struct dht_lookup;

struct dht_node {
    struct dht_node_config cfg; /* cfg.bootstrap points at `bootstrap` below */
    struct addr *bootstrap;
    uint8_t id[KRPC_ID_LEN];
    struct dht_table *table;  /* IPv4 contacts */
    struct dht_table *table6; /* IPv6 contacts (BEP 32); NULL without cfg.ipv6 */
    struct dht_store *store;
    struct dht_peers *peers;
    struct dht_token token;
    struct dht_rpc rpc;
    struct dht_limit *query_limit; /* queries we answer, per source IP */
    struct dht_limit *send_limit;  /* queries we send, per destination IP */
    struct dht_node_stats stats;

    struct dht_node_output *out_head;
    struct dht_node_output *out_tail;
    size_t out_count;

    struct dht_lookup *lookups; /* running, and finished ones not yet freed */
    uint32_t next_handle;
    bool deliver_pending; /* a lookup has events to give on the next tick */

    uint64_t now_ms;         /* the latest time we were given */
    uint64_t maintenance_ms; /* when maintenance is next due */
    uint64_t bootstrap_ms;   /* when bootstrapping may next start */
    unsigned bootstrap_tries;
    bool bootstrapping;
    bool bootstrapped;
    bool refreshing;
    /* The self-lookups repeated after bootstrapping: when the last one (or the bootstrap)
     * ended, the table's size then, and how many have run. */
    bool rejoining;
    uint64_t rejoin_ms;
    size_t rejoin_table;
    unsigned rejoins;

    /* BEP 42: our address as the last responder reported it, and who reported it. */
    struct addr reported;
    struct addr reported_by;
    /* BEP 42: the latest reports of our IPv4 address, one per responder, and the address
     * they agreed on (len 0 until they do). */
    struct dht_node_ip_vote votes[DHT_NODE_IP_VOTES];
    size_t nvotes;
    size_t next_vote;
    struct addr external;
};

/* ---- dht_node.c ---- */

/* The routing table for contacts of `family`, or NULL when the node does not speak it. */
struct dht_table *dht_node_table_for(const struct dht_node *node, int family);

/* True when `id` (may be NULL) is ours or `a` (may be NULL) one of our addresses. */
bool dht_node_is_own(const struct dht_node *node, const uint8_t *id, const struct addr *a);

/* Draws random bytes from the configured source. */
void dht_node_random(struct dht_node *node, void *buf, size_t len);

/* Sends query q (method and arguments set; the node fills in t, id, ro and v) to `to`, and
 * records the call for owner and purpose. Returns 0, -EAGAIN when the destination's budget
 * is spent, -EBUSY when too many calls are in flight, -ENOBUFS, -EMSGSIZE when it does not fit
 * DHT_NODE_DATAGRAM_MAX, or -EINVAL. */
int dht_node_send_query(struct dht_node *node, struct krpc_msg *q, const struct addr *to,
                        void *owner, int purpose, uint64_t now_ms);

/* Queues a response or error m (the node fills in v) for `to`. Returns 0, -ENOBUFS, -EMSGSIZE,
 * or -EINVAL. */
int dht_node_send_reply(struct dht_node *node, struct krpc_msg *m, const struct addr *to);

/* Called by a lookup the node started for `purpose` when it ends. */
void dht_node_lookup_done(struct dht_node *node, int purpose, size_t responded, uint64_t now_ms);

/* ---- dht_node_ip.c ---- */

/* Takes the address response m from `from` says we have (BEP 42 "ip"): two responders in a
 * row that agree make it one of our own; DHT_NODE_IP_AGREE distinct ones make it our external
 * IPv4 address, and our ID changes to fit it unless it is exempt or fits already. */
void dht_node_ip_reported(struct dht_node *node, const struct krpc_msg *m, const struct addr *from,
                          uint64_t now_ms);

/* ---- dht_server.c ---- */

/* Answers query q from `from` (the caller has checked rate limits and read-only mode). */
void dht_server_answer(struct dht_node *node, const struct krpc_msg *q, const struct addr *from,
                       uint64_t now_ms);

/* Answers a query krpc_parse refused with the error it chose (203 or 204). */
void dht_server_refuse(struct dht_node *node, const struct krpc_msg *q, const struct addr *from);

/* ---- dht_lookup.c ---- */

/* Starts a find_node lookup of the node's own for `purpose`, asking nodes of `family` only
 * (0: both), so that it fills that family's table. Returns 0 or -ENETUNREACH. */
int dht_lookup_start_internal(struct dht_node *node, const uint8_t target[KRPC_ID_LEN], int purpose,
                              int family, uint64_t now_ms);

/* A response or an error (m->type tells) to a call of lookup l. */
void dht_lookup_on_answer(struct dht_lookup *l, const struct dht_rpc_call *call,
                          const struct krpc_msg *m, uint64_t now_ms);

/* A call of lookup l passed its soft (hard false) or hard deadline. */
void dht_lookup_on_timeout(struct dht_lookup *l, const struct dht_rpc_call *call, bool hard,
                           uint64_t now_ms);

/* Gives pending events, retries what the send budget held back, ends overdue lookups and
 * frees finished ones. */
void dht_lookup_tick(struct dht_node *node, uint64_t now_ms);

/* Frees finished lookups; safe after any callback has returned. */
void dht_lookup_reap(struct dht_node *node);

/* When the lookups next need a tick: 0 for pending events, UINT64_MAX for never. */
uint64_t dht_lookup_next_ms(const struct dht_node *node);

/* Frees every lookup without calling back. */
void dht_lookup_free_all(struct dht_node *node);

#endif
