/* The node's server side: the answers to ping, find_node, get_peers, announce_peer (BEP 5),
 * get and put (BEP 44). Every response carries the requester's address as we saw it (BEP 42
 * "ip"). Peers announced with announce_peer are not kept: a resolver has no use for them, so
 * get_peers answers with nodes only. */
#include "dht_contact.h"
#include "dht_node_int.h"

#include <string.h>

/* The largest "nodes" we send: K compact contacts (BEP 5). */
#define DHT_SERVER_NODES (DHT_TABLE_K * KRPC_NODE_LEN)

struct dht_server_reply {
    struct krpc_msg r;
    uint8_t ip[KRPC_PEER_LEN];
    uint8_t nodes[DHT_SERVER_NODES];
    uint8_t token[DHT_TOKEN_LEN];
};

static void dht_server_nodes(struct dht_node *node, struct dht_server_reply *out,
                             const uint8_t target[KRPC_ID_LEN], unsigned want)
{
    struct dht_contact closest[DHT_TABLE_K];
    size_t n, len = 0;

    /* BEP 32: a requester that asks for IPv6 contacts only gets none from an IPv4 table. */
    if (want != 0 && (want & KRPC_WANT_N4) == 0) {
        return;
    }
    /* Only contacts that answered us: an address that merely sent us a query may be forged. */
    n = dht_table_closest(node->table, target, true, closest, DHT_TABLE_K);
    for (size_t i = 0; i < n; i++) {
        if (dht_contact_write(&closest[i], out->nodes + len) == 0) {
            len += KRPC_NODE_LEN;
        }
    }
    out->r.nodes.data = out->nodes;
    out->r.nodes.len = len;
}

static void dht_server_token(struct dht_node *node, struct dht_server_reply *out,
                             const struct addr *from, uint64_t now_ms)
{
    const uint8_t *ip;
    size_t ip_len;

    if (dht_contact_ip_bytes(from, &ip, &ip_len)) {
        dht_token_make(&node->token, ip, ip_len, now_ms, out->token);
        out->r.token.data = out->token;
        out->r.token.len = DHT_TOKEN_LEN;
    }
}

static bool dht_server_token_ok(struct dht_node *node, const struct krpc_msg *q,
                                const struct addr *from, uint64_t now_ms)
{
    const uint8_t *ip;
    size_t ip_len;

    return dht_contact_ip_bytes(from, &ip, &ip_len) &&
           dht_token_check(&node->token, ip, ip_len, q->token.data, q->token.len, now_ms);
}

/* BEP 44 get: nodes and a token always, the item when we hold it. */
static void dht_server_get(struct dht_node *node, const struct krpc_msg *q,
                           struct dht_server_reply *out, const struct addr *from, uint64_t now_ms)
{
    struct dht_store_item item;

    dht_server_nodes(node, out, q->target, q->want);
    dht_server_token(node, out, from, now_ms);
    if (dht_store_get(node->store, q->target, q->has_seq ? &q->seq : NULL, now_ms, &item) < 0) {
        return;
    }
    out->r.k = item.k;
    out->r.sig = item.sig;
    out->r.has_seq = item.k != NULL;
    out->r.seq = item.seq;
    if (item.value != NULL) {
        out->r.value.data = item.value;
        out->r.value.len = item.value_len;
    }
}

/* BEP 44 put: the token first, then the store's rules. Returns 0 or the error to answer. */
static int dht_server_put(struct dht_node *node, const struct krpc_msg *q, const struct addr *from,
                          uint64_t now_ms, const char **reason)
{
    struct dht_store_item item = {
        .k = q->k,
        .sig = q->sig,
        .seq = q->seq,
        .salt = q->salt.data,
        .salt_len = q->salt.len,
        .value = q->value.data,
        .value_len = q->value.len,
    };
    int rc;

    if (!dht_server_token_ok(node, q, from, now_ms)) {
        *reason = "bad token";
        return KRPC_ERR_PROTOCOL;
    }
    rc = dht_store_put(node->store, &item, q->has_cas ? &q->cas : NULL, NULL, now_ms);
    return rc < 0 ? -rc : 0;
}

void dht_server_answer(struct dht_node *node, const struct krpc_msg *q, const struct addr *from,
                       uint64_t now_ms)
{
    struct dht_server_reply out;
    const char *reason = NULL;
    int code = 0;

    krpc_msg_init_response(&out.r, q, node->id);
    switch (q->method) {
    case KRPC_PING:
        break;
    case KRPC_FIND_NODE:
        dht_server_nodes(node, &out, q->target, q->want);
        break;
    case KRPC_GET_PEERS:
        dht_server_nodes(node, &out, q->info_hash, q->want);
        dht_server_token(node, &out, from, now_ms);
        break;
    case KRPC_ANNOUNCE_PEER:
        if (!dht_server_token_ok(node, q, from, now_ms)) {
            code = KRPC_ERR_PROTOCOL;
            reason = "bad token";
        }
        break;
    case KRPC_GET:
        dht_server_get(node, q, &out, from, now_ms);
        break;
    case KRPC_PUT:
        code = dht_server_put(node, q, from, now_ms, &reason);
        break;
    case KRPC_UNKNOWN:
        code = KRPC_ERR_METHOD;
        break;
    }
    if (code != 0) {
        krpc_msg_init_error(&out.r, q, code, reason);
    }
    if (dht_contact_write_addr(from, out.ip) == 0) {
        out.r.ip.data = out.ip;
        out.r.ip.len = KRPC_PEER_LEN;
    }
    dht_node_send_reply(node, &out.r, from);
}

void dht_server_refuse(struct dht_node *node, const struct krpc_msg *q, const struct addr *from)
{
    struct krpc_msg r;

    krpc_msg_init_error(&r, q, (int)q->error_code, (const char *)q->error_msg.data);
    dht_node_send_reply(node, &r, from);
}
