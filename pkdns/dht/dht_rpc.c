#include "dht_rpc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int dht_rpc_init(struct dht_rpc *rpc, size_t cap)
{
    memset(rpc, 0, sizeof(*rpc));
    rpc->calls = calloc(cap, sizeof(*rpc->calls));
    if (rpc->calls == NULL) {
        return -ENOMEM;
    }
    rpc->cap = cap;
    return 0;
}

void dht_rpc_deinit(struct dht_rpc *rpc)
{
    free(rpc->calls);
    memset(rpc, 0, sizeof(*rpc));
}

uint32_t dht_rpc_timeout_ms(const struct dht_rpc *rpc)
{
    uint32_t rto;

    if (!rpc->measured) {
        return DHT_RPC_RTO_INITIAL_MS;
    }
    rto = rpc->srtt_ms + 4 * rpc->rttvar_ms;
    if (rto < DHT_RPC_RTO_MIN_MS) {
        return DHT_RPC_RTO_MIN_MS;
    }
    return rto > DHT_RPC_RTO_MAX_MS ? DHT_RPC_RTO_MAX_MS : rto;
}

static struct dht_rpc_call *dht_rpc_find_tid(struct dht_rpc *rpc, const uint8_t *t, size_t t_len)
{
    if (t_len != DHT_RPC_TID_LEN) {
        return NULL;
    }
    for (size_t i = 0; i < rpc->cap; i++) {
        struct dht_rpc_call *c = &rpc->calls[i];
        if (c->in_use && memcmp(c->tid, t, DHT_RPC_TID_LEN) == 0) {
            return c;
        }
    }
    return NULL;
}

struct dht_rpc_call *dht_rpc_start(struct dht_rpc *rpc, const uint8_t tid[DHT_RPC_TID_LEN],
                                   const struct addr *to, enum krpc_method method, void *owner,
                                   int purpose, uint64_t now_ms)
{
    struct dht_rpc_call *c = NULL;

    if (rpc->used == rpc->cap || dht_rpc_find_tid(rpc, tid, DHT_RPC_TID_LEN) != NULL) {
        return NULL;
    }
    for (size_t i = 0; c == NULL; i++) {
        if (!rpc->calls[i].in_use) {
            c = &rpc->calls[i];
        }
    }
    memset(c, 0, sizeof(*c));
    memcpy(c->tid, tid, DHT_RPC_TID_LEN);
    c->to = *to;
    c->method = method;
    c->owner = owner;
    c->purpose = purpose;
    c->sent_ms = now_ms;
    c->soft_ms = now_ms + dht_rpc_timeout_ms(rpc);
    c->hard_ms = c->soft_ms + DHT_RPC_LATE_MS;
    c->in_use = true;
    rpc->used++;
    return c;
}

struct dht_rpc_call *dht_rpc_find(struct dht_rpc *rpc, const uint8_t *t, size_t t_len,
                                  const struct addr *from)
{
    struct dht_rpc_call *c = dht_rpc_find_tid(rpc, t, t_len);

    /* An answer must come from where the query went, or anyone could answer for anyone. */
    if (c == NULL || !addr_equal(&c->to, from)) {
        return NULL;
    }
    return c;
}

/* RFC 6298 2.2 and 2.3, with its gains of 1/8 and 1/4. */
static void dht_rpc_sample(struct dht_rpc *rpc, uint32_t rtt_ms)
{
    uint32_t diff;

    if (!rpc->measured) {
        rpc->srtt_ms = rtt_ms;
        rpc->rttvar_ms = rtt_ms / 2;
        rpc->measured = true;
        return;
    }
    diff = rtt_ms > rpc->srtt_ms ? rtt_ms - rpc->srtt_ms : rpc->srtt_ms - rtt_ms;
    rpc->rttvar_ms = (3 * rpc->rttvar_ms + diff) / 4;
    rpc->srtt_ms = (7 * rpc->srtt_ms + rtt_ms) / 8;
}

void dht_rpc_finish(struct dht_rpc *rpc, struct dht_rpc_call *call, bool answered, uint64_t now_ms)
{
    if (answered && now_ms >= call->sent_ms) {
        uint64_t rtt = now_ms - call->sent_ms;
        dht_rpc_sample(rpc, rtt > UINT32_MAX / 8 ? UINT32_MAX / 8 : (uint32_t)rtt);
    }
    call->in_use = false;
    call->owner = NULL;
    rpc->used--;
}

struct dht_rpc_call *dht_rpc_due(struct dht_rpc *rpc, uint64_t now_ms)
{
    for (size_t i = 0; i < rpc->cap; i++) {
        struct dht_rpc_call *c = &rpc->calls[i];
        if (!c->in_use) {
            continue;
        }
        if (now_ms >= c->hard_ms || (!c->soft_passed && now_ms >= c->soft_ms)) {
            return c;
        }
    }
    return NULL;
}

uint64_t dht_rpc_next_deadline(const struct dht_rpc *rpc)
{
    uint64_t next = UINT64_MAX;

    for (size_t i = 0; i < rpc->cap; i++) {
        const struct dht_rpc_call *c = &rpc->calls[i];
        uint64_t when;
        if (!c->in_use) {
            continue;
        }
        when = c->soft_passed ? c->hard_ms : c->soft_ms;
        if (when < next) {
            next = when;
        }
    }
    return next;
}

void dht_rpc_disown(struct dht_rpc *rpc, const void *owner)
{
    for (size_t i = 0; i < rpc->cap; i++) {
        if (rpc->calls[i].in_use && rpc->calls[i].owner == owner) {
            rpc->calls[i].owner = NULL;
        }
    }
}
