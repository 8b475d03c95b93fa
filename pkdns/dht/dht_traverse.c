/* The requests of a lookup: the traversal toward the target (find_node or get, alpha at a
 * time within the window of the K closest live candidates), the checks of the values that
 * come back (BEP 44), and the second phase of a put. */
#include "dht_lookup_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>

/* Why a call of a lookup was sent (the call's purpose). */
enum dht_traverse_call {
    DHT_TRAVERSE_CALL_GET = 1, /* find_node or get toward the target */
    DHT_TRAVERSE_CALL_PUT,
};

/* Where the put to one candidate stands (its put_state). */
enum dht_traverse_put_state {
    DHT_TRAVERSE_PUT_NONE,
    DHT_TRAVERSE_PUT_WAIT, /* chosen, not sent yet */
    DHT_TRAVERSE_PUT_SENT,
    DHT_TRAVERSE_PUT_SLOW, /* past the soft timeout; an answer may still come */
    DHT_TRAVERSE_PUT_STORED,
    DHT_TRAVERSE_PUT_REFUSED,
    DHT_TRAVERSE_PUT_LOST, /* no answer */
};

static int dht_traverse_ask(struct dht_lookup *l, const struct dht_closest_entry *e,
                            uint64_t now_ms)
{
    struct krpc_msg q;

    if (l->kind == DHT_LOOKUP_KIND_FIND_NODE) {
        krpc_msg_init_query(&q, KRPC_FIND_NODE, NULL, 0, l->node->id);
    } else {
        krpc_msg_init_query(&q, KRPC_GET, NULL, 0, l->node->id);
        /* BEP 44: nodes leave out values not newer than seq. A put asks with its own seq. */
        q.has_seq = l->has_seq;
        q.seq = l->seq;
    }
    q.target = l->set.target;
    q.want = dht_lookup_want(l);
    return dht_node_send_query(l->node, &q, &e->c.addr, l, DHT_TRAVERSE_CALL_GET, now_ms);
}

/* The live candidates a traversal must hear from: K, or for a put to more nodes that many,
 * so that enough of the closest give a write token. */
static size_t dht_traverse_window(const struct dht_lookup *l)
{
    unsigned put_nodes = l->node->cfg.put_nodes;

    return l->kind == DHT_LOOKUP_KIND_PUT && put_nodes > DHT_TABLE_K ? put_nodes : DHT_TABLE_K;
}

/* Asks the NEW candidates of the window while fewer than alpha requests are in flight.
 * Returns false when the send budget or the call table held a request back. */
static bool dht_traverse_pump(struct dht_lookup *l, uint64_t now_ms)
{
    size_t in_flight = dht_closest_count(&l->set, DHT_CLOSEST_ASKED);
    bool all_sent = true;

    for (size_t i = 0; i < dht_closest_window(&l->set, dht_traverse_window(l)); i++) {
        struct dht_closest_entry *e = &l->set.e[i];
        int rc;
        if (e->state != DHT_CLOSEST_NEW) {
            continue;
        }
        if (in_flight >= l->node->cfg.alpha) {
            break;
        }
        rc = dht_traverse_ask(l, e, now_ms);
        if (rc == 0) {
            e->state = DHT_CLOSEST_ASKED;
            in_flight++;
            l->queried++;
        } else if (rc == -EAGAIN || rc == -EBUSY || rc == -ENOBUFS) {
            all_sent = false;
        } else {
            e->state = DHT_CLOSEST_FAILED;
        }
    }
    return all_sent;
}

/* In a lookup of one family, a candidate of the other family (a seed from the other table,
 * when this family had none to start from) gives its place to the same node's address in the
 * lookup's family, to be asked there, so that the node lands in that family's table. */
static void dht_traverse_prefer_family(struct dht_lookup *l, const struct dht_contact *c)
{
    for (size_t i = 0; i < l->set.n; i++) {
        struct dht_closest_entry *e = &l->set.e[i];
        if (!e->has_id || memcmp(e->c.id, c->id, KRPC_ID_LEN) != 0) {
            continue;
        }
        if (e->c.addr.sa.ss_family != l->family && e->state != DHT_CLOSEST_ASKED &&
            e->state != DHT_CLOSEST_SLOW && dht_closest_find(&l->set, &c->addr) == NULL) {
            e->c.addr = c->addr;
            e->state = DHT_CLOSEST_NEW;
            e->token_len = 0;
        }
        return;
    }
}

/* Takes the compact node info in `nodes` (node_len bytes each) as candidates; never
 * ourselves. */
static void dht_traverse_take_list(struct dht_lookup *l, const struct krpc_span *nodes,
                                   size_t node_len)
{
    for (size_t off = 0; off + node_len <= nodes->len; off += node_len) {
        struct dht_contact c;
        if (dht_contact_read_any(nodes->data + off, node_len, &c) < 0 ||
            dht_node_is_own(l->node, c.id, &c.addr)) {
            continue;
        }
        if (dht_closest_add(&l->set, &c, true) == -EEXIST && l->family != 0) {
            dht_traverse_prefer_family(l, &c);
        }
    }
}

/* Takes the nodes of a response as candidates: IPv4 ones, and BEP 32's IPv6 ones when the
 * node speaks IPv6, each when the lookup asks that family. */
static void dht_traverse_take_nodes(struct dht_lookup *l, const struct krpc_msg *m)
{
    if (dht_lookup_in_family(l, AF_INET)) {
        dht_traverse_take_list(l, &m->nodes, KRPC_NODE_LEN);
    }
    if (l->node->table6 != NULL && dht_lookup_in_family(l, AF_INET6)) {
        dht_traverse_take_list(l, &m->nodes6, KRPC_NODE6_LEN);
    }
}

/* True when m's item is newer than the best so far; on equal seq the larger value wins. */
static bool dht_traverse_newer(const struct dht_lookup *l, const struct krpc_msg *m)
{
    const struct dht_store_item *best = &l->best.item;
    size_t common;
    int cmp;

    if (!l->have_best) {
        return true;
    }
    if (!l->is_mutable || m->seq != best->seq) {
        return l->is_mutable && m->seq > best->seq;
    }
    common = m->value.len < best->value_len ? m->value.len : best->value_len;
    cmp = memcmp(m->value.data, best->value, common);
    return cmp > 0 || (cmp == 0 && m->value.len > best->value_len);
}

/* BEP 44: a value counts only when its target is ours and, for a mutable item, its signature
 * verifies. */
static bool dht_traverse_value_ok(const struct dht_lookup *l, const struct krpc_msg *m)
{
    uint8_t target[BEP44_TARGET_LEN];

    if (m->value.len > BEP44_VALUE_MAX) {
        return false;
    }
    if (!l->is_mutable) {
        bep44_immutable_target(m->value.data, m->value.len, target);
        return memcmp(target, l->set.target, BEP44_TARGET_LEN) == 0;
    }
    if (m->k == NULL || m->sig == NULL || !m->has_seq) {
        return false;
    }
    bep44_mutable_target(m->k, l->salt, l->salt_len, target);
    return memcmp(target, l->set.target, BEP44_TARGET_LEN) == 0 &&
           bep44_verify(m->k, m->sig, l->salt, l->salt_len, m->seq, m->value.data, m->value.len) ==
               0;
}

static void dht_traverse_take_value(struct dht_lookup *l, const struct krpc_msg *m,
                                    const struct addr *from, uint64_t now_ms)
{
    struct dht_store_item item;

    if (m->value.data == NULL) {
        return;
    }
    if (!dht_traverse_value_ok(l, m)) {
        l->node->stats.bad_values++;
        return;
    }
    if (!dht_traverse_newer(l, m)) {
        return;
    }
    item = (struct dht_store_item){
        .k = m->k,
        .sig = m->sig,
        .seq = m->seq,
        .salt = l->salt,
        .salt_len = l->is_mutable ? l->salt_len : 0,
        .value = m->value.data,
        .value_len = m->value.len,
    };
    dht_lookup_value_set(&l->best, &item, from);
    l->have_best = true;
    l->best_version++;
    if (!l->is_mutable) {
        dht_lookup_finish(l, 0, now_ms); /* an immutable item cannot get newer */
    }
}

static void dht_traverse_get_answer(struct dht_lookup *l, const struct dht_rpc_call *call,
                                    const struct krpc_msg *m, uint64_t now_ms)
{
    struct dht_closest_entry *e = dht_closest_find(&l->set, &call->to);

    if (e == NULL) {
        return;
    }
    if (m->type == KRPC_ERROR) {
        e->state = DHT_CLOSEST_FAILED;
        return;
    }
    e = dht_closest_set_id(&l->set, e, m->id);
    if (e == NULL) {
        return;
    }
    e->state = DHT_CLOSEST_ANSWERED;
    l->responded++;
    if (m->token.data != NULL && m->token.len > 0 && m->token.len <= DHT_CLOSEST_TOKEN_MAX) {
        memcpy(e->token, m->token.data, m->token.len);
        e->token_len = (uint8_t)m->token.len;
    }
    /* e may move once candidates are added. */
    dht_traverse_take_nodes(l, m);
    if (l->kind == DHT_LOOKUP_KIND_GET) {
        dht_traverse_take_value(l, m, &call->to, now_ms);
    }
}

/* ---- the put phase ---- */

/* Marks the closest nodes that answered with a token as those to put to; returns how many. */
static size_t dht_traverse_choose_put_nodes(struct dht_lookup *l)
{
    size_t chosen = 0;

    for (size_t i = 0; i < l->set.n && chosen < l->node->cfg.put_nodes; i++) {
        struct dht_closest_entry *e = &l->set.e[i];
        if (e->state == DHT_CLOSEST_ANSWERED && e->token_len > 0) {
            e->put_state = DHT_TRAVERSE_PUT_WAIT;
            chosen++;
        }
    }
    return chosen;
}

static int dht_traverse_send_put(struct dht_lookup *l, const struct dht_closest_entry *e,
                                 uint64_t now_ms)
{
    const struct dht_store_item *item = &l->put.item;
    struct krpc_msg q;

    krpc_msg_init_query(&q, KRPC_PUT, NULL, 0, l->node->id);
    q.token.data = e->token;
    q.token.len = e->token_len;
    q.value.data = item->value;
    q.value.len = item->value_len;
    if (item->k != NULL) {
        q.k = item->k;
        q.sig = item->sig;
        q.has_seq = true;
        q.seq = item->seq;
        q.salt.data = item->salt;
        q.salt.len = item->salt_len;
        q.has_cas = l->has_cas;
        q.cas = l->cas;
    }
    return dht_node_send_query(l->node, &q, &e->c.addr, l, DHT_TRAVERSE_CALL_PUT, now_ms);
}

/* Sends the puts not sent yet. Returns false when some were held back. */
static bool dht_traverse_pump_puts(struct dht_lookup *l, uint64_t now_ms)
{
    bool all_sent = true;

    for (size_t i = 0; i < l->set.n; i++) {
        struct dht_closest_entry *e = &l->set.e[i];
        int rc;
        if (e->put_state != DHT_TRAVERSE_PUT_WAIT) {
            continue;
        }
        rc = dht_traverse_send_put(l, e, now_ms);
        if (rc == 0) {
            e->put_state = DHT_TRAVERSE_PUT_SENT;
            l->queried++;
        } else if (rc == -EAGAIN || rc == -EBUSY || rc == -ENOBUFS) {
            all_sent = false;
        } else {
            e->put_state = DHT_TRAVERSE_PUT_LOST;
        }
    }
    return all_sent;
}

static void dht_traverse_put_answer(struct dht_lookup *l, const struct dht_rpc_call *call,
                                    const struct krpc_msg *m)
{
    struct dht_closest_entry *e = dht_closest_find(&l->set, &call->to);

    if (e == NULL ||
        (e->put_state != DHT_TRAVERSE_PUT_SENT && e->put_state != DHT_TRAVERSE_PUT_SLOW)) {
        return;
    }
    if (m->type == KRPC_ERROR) {
        e->put_state = DHT_TRAVERSE_PUT_REFUSED;
        if (l->refused < DHT_LOOKUP_PUT_NODES_MAX) {
            l->errors[l->refused++] = m->error_code;
        }
    } else {
        e->put_state = DHT_TRAVERSE_PUT_STORED;
        l->stored++;
    }
}

/* True while the put should wait: a chosen put is not sent, or sent and within its soft
 * timeout. The caller thus hears within the adaptive timeout, and late answers still reach
 * the routing table. When no node has answered by then, a slow network rather than lost puts
 * is likely: the put then waits for every late answer, up to the hard deadline. */
static bool dht_traverse_puts_pending(struct dht_lookup *l)
{
    bool slow = false;

    for (size_t i = 0; i < l->set.n; i++) {
        uint8_t state = l->set.e[i].put_state;
        if (state == DHT_TRAVERSE_PUT_WAIT || state == DHT_TRAVERSE_PUT_SENT) {
            return true;
        }
        slow = slow || state == DHT_TRAVERSE_PUT_SLOW;
    }
    if (slow && l->stored == 0 && l->refused == 0) {
        l->put_wait_late = true;
    }
    return slow && l->put_wait_late;
}

static void dht_traverse_done(struct dht_lookup *l, uint64_t now_ms)
{
    if (l->responded == 0) {
        dht_lookup_finish(l, -ETIMEDOUT, now_ms);
        return;
    }
    if (l->kind != DHT_LOOKUP_KIND_PUT) {
        dht_lookup_finish(l, l->kind == DHT_LOOKUP_KIND_GET && !l->have_best ? -ENOENT : 0, now_ms);
        return;
    }
    if (dht_traverse_choose_put_nodes(l) == 0) {
        dht_lookup_finish(l, -ENETUNREACH, now_ms);
        return;
    }
    l->phase = DHT_LOOKUP_PUTTING;
}

void dht_traverse_advance(struct dht_lookup *l, uint64_t now_ms)
{
    bool all_sent = true;

    if (l->phase == DHT_LOOKUP_TRAVERSE) {
        all_sent = dht_traverse_pump(l, now_ms);
        if (all_sent && dht_closest_converged(&l->set, dht_traverse_window(l))) {
            dht_traverse_done(l, now_ms);
        }
    }
    if (l->phase == DHT_LOOKUP_PUTTING) {
        all_sent = dht_traverse_pump_puts(l, now_ms);
        if (!dht_traverse_puts_pending(l)) {
            dht_lookup_finish(l,
                              l->stored > 0    ? 0
                              : l->refused > 0 ? -EREMOTEIO
                                               : -ETIMEDOUT,
                              now_ms);
        }
    }
    if (l->phase != DHT_LOOKUP_FINISHED) {
        l->retry_ms = all_sent ? 0 : now_ms + DHT_LOOKUP_RETRY_MS;
    }
}

void dht_traverse_answer(struct dht_lookup *l, const struct dht_rpc_call *call,
                         const struct krpc_msg *m, uint64_t now_ms)
{
    if (call->purpose == DHT_TRAVERSE_CALL_PUT) {
        dht_traverse_put_answer(l, call, m);
    } else if (l->phase == DHT_LOOKUP_TRAVERSE) {
        dht_traverse_get_answer(l, call, m, now_ms);
    }
}

void dht_traverse_timeout(struct dht_lookup *l, const struct dht_rpc_call *call, bool hard)
{
    struct dht_closest_entry *e = dht_closest_find(&l->set, &call->to);

    if (e == NULL) {
        return;
    }
    if (call->purpose == DHT_TRAVERSE_CALL_PUT) {
        if (!hard && e->put_state == DHT_TRAVERSE_PUT_SENT) {
            e->put_state = DHT_TRAVERSE_PUT_SLOW;
        } else if (hard && (e->put_state == DHT_TRAVERSE_PUT_SENT ||
                            e->put_state == DHT_TRAVERSE_PUT_SLOW)) {
            e->put_state = DHT_TRAVERSE_PUT_LOST;
        }
    } else if (!hard && e->state == DHT_CLOSEST_ASKED) {
        e->state = DHT_CLOSEST_SLOW;
    } else if (hard && (e->state == DHT_CLOSEST_ASKED || e->state == DHT_CLOSEST_SLOW)) {
        e->state = DHT_CLOSEST_FAILED;
    }
}
