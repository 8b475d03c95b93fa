/* The node's server side: the answers to ping, find_node, get_peers, announce_peer (BEP 5),
 * get and put (BEP 44). Every response carries the requester's address as we saw it (BEP 42
 * "ip", 6 or 18 bytes); lists of contacts follow BEP 32's "want". Peers announced with
 * announce_peer are kept in the node's peer store (dht_peers.h), and get_peers hands back those of
 * the requester's address family. */
#include "dht_contact.h"
#include "dht_node_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>

struct dht_server_reply {
    struct krpc_msg r;
    uint8_t ip[KRPC_PEER6_LEN];
    uint8_t nodes[DHT_TABLE_K * KRPC_NODE_LEN];   /* BEP 5: K compact contacts */
    uint8_t nodes6[DHT_TABLE_K * KRPC_NODE6_LEN]; /* BEP 32: the same for IPv6 */
    uint8_t token[DHT_TOKEN_LEN];
};

/* Writes the K closest contacts of table t into buf as compact node info (node_len bytes
 * each) and points span at them. */
static void dht_server_closest(const struct dht_table *t, const uint8_t target[KRPC_ID_LEN],
                               uint8_t *buf, size_t node_len, struct krpc_span *span)
{
    struct dht_contact closest[DHT_TABLE_K];
    size_t n, len = 0;

    /* Only contacts that answered us: an address that merely sent us a query may be forged. */
    n = dht_table_closest(t, target, true, closest, DHT_TABLE_K);
    for (size_t i = 0; i < n; i++) {
        if (dht_contact_write_any(&closest[i], buf + len, node_len) == 0) {
            len += node_len;
        }
    }
    span->data = buf;
    span->len = len;
}

/* BEP 32: "want" names the families the requester wants contacts of; without it, the family
 * the query came over. A family we do not speak gets no list. */
static void dht_server_nodes(struct dht_node *node, struct dht_server_reply *out,
                             const uint8_t target[KRPC_ID_LEN], unsigned want,
                             const struct addr *from)
{
    if (want == 0) {
        want = from->sa.ss_family == AF_INET6 ? KRPC_WANT_N6 : KRPC_WANT_N4;
    }
    if ((want & KRPC_WANT_N4) != 0) {
        dht_server_closest(node->table, target, out->nodes, KRPC_NODE_LEN, &out->r.nodes);
    }
    if ((want & KRPC_WANT_N6) != 0 && node->table6 != NULL) {
        dht_server_closest(node->table6, target, out->nodes6, KRPC_NODE6_LEN, &out->r.nodes6);
    }
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

    dht_server_nodes(node, out, q->target, q->want, from);
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

/* BEP 5 announce_peer: with a good token, the requester's IP address and the port it names
 * (or, with implied_port, the one it sent from) join the info hash's peers. Returns 0 or the
 * error to answer. */
static int dht_server_announce(struct dht_node *node, const struct krpc_msg *q,
                               const struct addr *from, uint64_t now_ms, const char **reason)
{
    struct addr peer = *from;

    if (!dht_server_token_ok(node, q, from, now_ms)) {
        *reason = "bad token";
        return KRPC_ERR_PROTOCOL;
    }
    if (!q->implied_port) {
        if (q->port == 0) {
            *reason = "bad port";
            return KRPC_ERR_PROTOCOL;
        }
        if (peer.sa.ss_family == AF_INET6) {
            ((struct sockaddr_in6 *)&peer.sa)->sin6_port = htons(q->port);
        } else {
            ((struct sockaddr_in *)&peer.sa)->sin_port = htons(q->port);
        }
    }
    /* A store that is out of memory drops the announce; the peer announces again later. */
    dht_peers_announce(node->peers, q->info_hash, &peer, now_ms);
    return 0;
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
        dht_server_nodes(node, &out, q->target, q->want, from);
        break;
    case KRPC_GET_PEERS:
        dht_server_nodes(node, &out, q->info_hash, q->want, from);
        dht_server_token(node, &out, from, now_ms);
        out.r.nvalues = dht_peers_get(node->peers, q->info_hash, from->sa.ss_family, now_ms,
                                      out.r.values, DHT_PEERS_REPLY_MAX);
        break;
    case KRPC_ANNOUNCE_PEER:
        code = dht_server_announce(node, q, from, now_ms, &reason);
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
    } else if (dht_contact_write_addr6(from, out.ip) == 0) {
        out.r.ip.data = out.ip;
        out.r.ip.len = KRPC_PEER6_LEN;
    }
    /* A BEP 44 value with both families' contacts can outgrow a datagram: the contacts of
     * the other family are left out first, then the rest, as the value is what was asked for. */
    if (dht_node_send_reply(node, &out.r, from) == -EMSGSIZE) {
        struct krpc_span *other = from->sa.ss_family == AF_INET6 ? &out.r.nodes : &out.r.nodes6;
        struct krpc_span *same = other == &out.r.nodes ? &out.r.nodes6 : &out.r.nodes;
        *other = (struct krpc_span){NULL, 0};
        if (dht_node_send_reply(node, &out.r, from) == -EMSGSIZE) {
            *same = (struct krpc_span){NULL, 0};
            dht_node_send_reply(node, &out.r, from);
        }
    }
}

void dht_server_refuse(struct dht_node *node, const struct krpc_msg *q, const struct addr *from)
{
    struct krpc_msg r;

    krpc_msg_init_error(&r, q, (int)q->error_code, (const char *)q->error_msg.data);
    dht_node_send_reply(node, &r, from);
}
