/* The queries a node has sent and waits on: a bounded table of calls, each matched to its
 * answer by transaction ID and address, and the round-trip estimate behind their timeouts.
 *
 * A call has two deadlines. At the soft one (srtt + 4 rttvar, within DHT_RPC_RTO_MIN_MS and
 * DHT_RPC_RTO_MAX_MS, as TCP computes its retransmission timeout) the caller stops waiting and
 * may ask someone else; an answer that comes later, up to the hard deadline
 * DHT_RPC_LATE_MS after it, is still taken. At the hard deadline the call has failed. */
#ifndef PK_DHT_RPC_H
#define PK_DHT_RPC_H

#include "addr.h"
#include "krpc.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DHT_RPC_TID_LEN 4           /* ours: BEP 5 leaves the length to the sender */
#define DHT_RPC_RTO_MIN_MS 200      /* ours */
#define DHT_RPC_RTO_MAX_MS 2000     /* ours; libtorrent waits 1 s, Rust mainline 2 s */
#define DHT_RPC_RTO_INITIAL_MS 1000 /* ours: before any round trip is measured */
#define DHT_RPC_LATE_MS 3000        /* ours: how long past the soft deadline a reply counts */

/* One query in flight. `owner` is whoever sent it (a lookup, or NULL for the node itself);
 * `purpose` is the owner's to use. */
struct dht_rpc_call {
    uint8_t tid[DHT_RPC_TID_LEN];
    struct addr to;
    enum krpc_method method;
    void *owner;
    int purpose;
    uint64_t sent_ms;
    uint64_t soft_ms;
    uint64_t hard_ms;
    bool soft_passed; /* the soft deadline was reported */
    bool in_use;
};

struct dht_rpc {
    struct dht_rpc_call *calls;
    size_t cap;
    size_t used;
    uint32_t srtt_ms; /* smoothed round trip */
    uint32_t rttvar_ms;
    bool measured;
};

/* Makes room for `cap` calls. Returns 0, or -ENOMEM. */
int dht_rpc_init(struct dht_rpc *rpc, size_t cap);

/* Frees the table. */
void dht_rpc_deinit(struct dht_rpc *rpc);

/* Records a call sent now with transaction ID tid. Returns it, or NULL when the table is full
 * or tid is already in use (the caller draws another). */
struct dht_rpc_call *dht_rpc_start(struct dht_rpc *rpc, const uint8_t tid[DHT_RPC_TID_LEN],
                                   const struct addr *to, enum krpc_method method, void *owner,
                                   int purpose, uint64_t now_ms);

/* The call that a reply with transaction ID t from `from` answers, or NULL. */
struct dht_rpc_call *dht_rpc_find(struct dht_rpc *rpc, const uint8_t *t, size_t t_len,
                                  const struct addr *from);

/* Frees the slot of a call that was answered (the round trip is measured) or failed. */
void dht_rpc_finish(struct dht_rpc *rpc, struct dht_rpc_call *call, bool answered, uint64_t now_ms);

/* A call whose soft deadline (not yet reported) or hard deadline has passed, or NULL. The
 * caller marks soft_passed or finishes the call before asking again. */
struct dht_rpc_call *dht_rpc_due(struct dht_rpc *rpc, uint64_t now_ms);

/* The earliest deadline still to come, or UINT64_MAX when nothing waits. */
uint64_t dht_rpc_next_deadline(const struct dht_rpc *rpc);

/* The current soft timeout in milliseconds. */
uint32_t dht_rpc_timeout_ms(const struct dht_rpc *rpc);

/* Detaches every call of `owner`: their answers will come with owner NULL. */
void dht_rpc_disown(struct dht_rpc *rpc, const void *owner);

#endif
