#include "dht_node.h"

#include "dht_contact.h"
#include "dht_lookup.h"
#include "dht_node_int.h"
#include "log.h"
#include "random.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#define DHT_NODE_RATE_SLOTS 4096         /* ours: IPs each per-IP limiter tracks */
#define DHT_NODE_PINGS_PER_ROUND 4       /* ours: pings of questionable nodes per second */
#define DHT_NODE_BOOTSTRAP_RETRY_MS 5000 /* ours: first wait after a failed bootstrap */
#define DHT_NODE_BOOTSTRAP_MAX_MS 300000 /* ours: the wait doubles up to 5 minutes */
#define DHT_NODE_TID_TRIES 8             /* ours: draws of a transaction ID before giving up */
#define DHT_NODE_REJOIN_SPACING_MS 5000  /* ours: the least time between two self-lookups */
#define DHT_NODE_REJOIN_WAIT_MS 10000ull /* ours: the first repeat's wait if the table stays */

/* BEP 5's "v", in every message we send: two letters naming the client ("PK" for ours) and two
 * bytes of its version (the suite's major and minor numbers). */
static const uint8_t dht_node_version[] = {'P', 'K', DHT_NODE_VERSION_MAJOR,
                                           DHT_NODE_VERSION_MINOR};

void dht_node_random(struct dht_node *node, void *buf, size_t len)
{
    if (node->cfg.random != NULL) {
        node->cfg.random(node->cfg.random_ctx, buf, len);
    } else {
        random_bytes(buf, len);
    }
}

static bool dht_node_id_zero(const uint8_t id[KRPC_ID_LEN])
{
    for (size_t i = 0; i < KRPC_ID_LEN; i++) {
        if (id[i] != 0) {
            return false;
        }
    }
    return true;
}

static int dht_node_copy_config(struct dht_node *node, const struct dht_node_config *cfg)
{
    node->cfg = *cfg;
    node->cfg.bootstrap = NULL;
    if (cfg->put_nodes > DHT_LOOKUP_PUT_NODES_MAX) {
        return -EINVAL;
    }
    for (size_t i = 0; i < cfg->nbootstrap; i++) {
        if (!dht_contact_addr_usable(&cfg->bootstrap[i])) {
            return -EINVAL;
        }
    }
    if (cfg->nbootstrap > 0) {
        node->bootstrap = calloc(cfg->nbootstrap, sizeof(*node->bootstrap));
        if (node->bootstrap == NULL) {
            return -ENOMEM;
        }
        memcpy(node->bootstrap, cfg->bootstrap, cfg->nbootstrap * sizeof(*node->bootstrap));
        node->cfg.bootstrap = node->bootstrap;
    }
    node->cfg.alpha = cfg->alpha != 0 ? cfg->alpha : DHT_LOOKUP_ALPHA;
    node->cfg.query_rate_per_s =
        cfg->query_rate_per_s != 0 ? cfg->query_rate_per_s : DHT_NODE_QUERY_RATE;
    node->cfg.query_burst = cfg->query_burst != 0 ? cfg->query_burst : DHT_NODE_QUERY_BURST;
    node->cfg.send_rate_per_s =
        cfg->send_rate_per_s != 0 ? cfg->send_rate_per_s : DHT_NODE_SEND_RATE;
    node->cfg.send_burst = cfg->send_burst != 0 ? cfg->send_burst : DHT_NODE_SEND_BURST;
    if (node->cfg.max_outstanding == 0) {
        node->cfg.max_outstanding = DHT_NODE_OUTSTANDING;
    }
    if (node->cfg.put_nodes == 0) {
        node->cfg.put_nodes = DHT_LOOKUP_PUT_NODES;
    }
    return 0;
}

/* The parts that can fail, after the configuration is copied. */
static int dht_node_build(struct dht_node *node, uint64_t now_ms)
{
    uint8_t key[DHT_LIMIT_KEY_LEN];
    const struct dht_node_config *cfg = &node->cfg;
    int rc;

    memcpy(node->id, cfg->id, KRPC_ID_LEN);
    if (dht_node_id_zero(node->id)) {
        dht_node_random(node, node->id, KRPC_ID_LEN);
    }
    if ((rc = dht_table_new(node->id, &node->table)) < 0 ||
        (cfg->ipv6 && (rc = dht_table_new_family(node->id, AF_INET6, &node->table6)) < 0) ||
        (rc = dht_store_new(&cfg->store, &node->store)) < 0 ||
        (rc = dht_peers_new(&cfg->peers, &node->peers)) < 0 ||
        (rc = dht_rpc_init(&node->rpc, cfg->max_outstanding)) < 0) {
        return rc;
    }
    dht_node_random(node, key, sizeof(key));
    if ((rc = dht_limit_new(cfg->query_rate_per_s, cfg->query_burst, DHT_NODE_RATE_SLOTS, key,
                            &node->query_limit)) < 0) {
        return rc;
    }
    dht_node_random(node, key, sizeof(key));
    if ((rc = dht_limit_new(cfg->send_rate_per_s, cfg->send_burst, DHT_NODE_RATE_SLOTS, key,
                            &node->send_limit)) < 0) {
        return rc;
    }
    if (cfg->own_addr.len != 0) {
        dht_node_add_own_addr(node, &cfg->own_addr);
    }
    if (cfg->own_addr6.len != 0) {
        dht_node_add_own_addr(node, &cfg->own_addr6);
    }
    dht_token_init(&node->token, now_ms);
    node->now_ms = now_ms;
    node->maintenance_ms = now_ms;
    node->bootstrap_ms = now_ms;
    node->next_handle = 1;
    return 0;
}

int dht_node_new(const struct dht_node_config *cfg, uint64_t now_ms, struct dht_node **out)
{
    struct dht_node *node = calloc(1, sizeof(*node));
    int rc;

    *out = NULL;
    if (node == NULL) {
        return -ENOMEM;
    }
    if ((rc = dht_node_copy_config(node, cfg)) < 0 || (rc = dht_node_build(node, now_ms)) < 0) {
        dht_node_free(node);
        return rc;
    }
    *out = node;
    return 0;
}

void dht_node_free(struct dht_node *node)
{
    struct dht_node_output *o, *next;

    if (node == NULL) {
        return;
    }
    dht_lookup_free_all(node);
    for (o = node->out_head; o != NULL; o = next) {
        next = o->next;
        free(o);
    }
    dht_limit_free(node->send_limit);
    dht_limit_free(node->query_limit);
    dht_rpc_deinit(&node->rpc);
    dht_peers_free(node->peers);
    dht_store_free(node->store);
    dht_table_free(node->table6);
    dht_table_free(node->table);
    free(node->bootstrap);
    free(node);
}

struct dht_table *dht_node_table_for(const struct dht_node *node, int family)
{
    if (family == AF_INET) {
        return node->table;
    }
    return family == AF_INET6 ? node->table6 : NULL;
}

bool dht_node_is_own(const struct dht_node *node, const uint8_t *id, const struct addr *a)
{
    return dht_table_is_own(node->table, id, a) ||
           (node->table6 != NULL && dht_table_is_own(node->table6, id, a));
}

/* Counts the contacts of both tables (good ones into *good, which may be NULL). */
static size_t dht_node_count(const struct dht_node *node, uint64_t now_ms, size_t *good)
{
    size_t good4 = 0, good6 = 0;
    size_t total = dht_table_count(node->table, now_ms, &good4);

    if (node->table6 != NULL) {
        total += dht_table_count(node->table6, now_ms, &good6);
    }
    if (good != NULL) {
        *good = good4 + good6;
    }
    return total;
}

static int dht_node_queue(struct dht_node *node, const struct krpc_msg *m, const struct addr *to)
{
    uint8_t buf[DHT_NODE_DATAGRAM_MAX];
    struct dht_node_output *o;
    size_t len;
    int rc;

    if ((rc = krpc_write(m, buf, sizeof(buf), &len)) < 0) {
        return rc == -ENOSPC ? -EMSGSIZE : rc;
    }
    if (node->out_count >= DHT_NODE_OUTPUT_MAX || (o = malloc(sizeof(*o) + len)) == NULL) {
        node->stats.output_dropped++;
        return -ENOBUFS;
    }
    o->next = NULL;
    o->to = *to;
    o->len = len;
    memcpy(o->data, buf, len);
    if (node->out_tail != NULL) {
        node->out_tail->next = o;
    } else {
        node->out_head = o;
    }
    node->out_tail = o;
    node->out_count++;
    return 0;
}

int dht_node_send_reply(struct dht_node *node, struct krpc_msg *m, const struct addr *to)
{
    m->version.data = dht_node_version;
    m->version.len = sizeof(dht_node_version);
    return dht_node_queue(node, m, to);
}

int dht_node_send_query(struct dht_node *node, struct krpc_msg *q, const struct addr *to,
                        void *owner, int purpose, uint64_t now_ms)
{
    uint8_t tid[DHT_RPC_TID_LEN];
    struct dht_rpc_call *call = NULL;
    int rc;

    if (node->rpc.used == node->rpc.cap) {
        return -EBUSY;
    }
    if (!dht_limit_take(node->send_limit, to, now_ms)) {
        node->stats.deferred++;
        return -EAGAIN;
    }
    for (int i = 0; i < DHT_NODE_TID_TRIES && call == NULL; i++) {
        dht_node_random(node, tid, sizeof(tid));
        call = dht_rpc_start(&node->rpc, tid, to, q->method, owner, purpose, now_ms);
    }
    if (call == NULL) {
        return -EBUSY;
    }
    q->t.data = call->tid;
    q->t.len = DHT_RPC_TID_LEN;
    q->id = node->id;
    q->ro = node->cfg.read_only;
    q->version.data = dht_node_version;
    q->version.len = sizeof(dht_node_version);
    if ((rc = dht_node_queue(node, q, to)) < 0) {
        dht_rpc_finish(&node->rpc, call, false, now_ms);
        return rc;
    }
    return 0;
}

int dht_node_next_output(struct dht_node *node, uint8_t *buf, size_t cap, struct addr *to)
{
    struct dht_node_output *o = node->out_head;
    int len;

    if (o == NULL) {
        return 0;
    }
    if (cap < o->len) {
        return -ENOSPC;
    }
    memcpy(buf, o->data, o->len);
    *to = o->to;
    len = (int)o->len;
    node->out_head = o->next;
    if (node->out_head == NULL) {
        node->out_tail = NULL;
    }
    node->out_count--;
    node->stats.sent++;
    free(o);
    return len;
}

static void dht_node_on_query(struct dht_node *node, const struct krpc_msg *m,
                              const struct addr *from, uint64_t now_ms)
{
    struct dht_contact c;

    if (node->cfg.read_only) {
        node->stats.ignored++; /* BEP 43: a read-only node answers nothing */
        return;
    }
    if (!dht_limit_take(node->query_limit, from, now_ms)) {
        node->stats.rate_limited++;
        return;
    }
    memcpy(c.id, m->id, KRPC_ID_LEN);
    c.addr = *from;
    dht_table_heard(dht_node_table_for(node, from->sa.ss_family), &c, DHT_TABLE_QUERIED, m->ro,
                    now_ms);
    node->stats.answered++;
    dht_server_answer(node, m, from, now_ms);
}

/* A response or an error to one of our calls. */
static void dht_node_on_answer(struct dht_node *node, const struct krpc_msg *m,
                               const struct addr *from, uint64_t now_ms)
{
    struct dht_rpc_call *call = dht_rpc_find(&node->rpc, m->t.data, m->t.len, from);
    struct dht_rpc_call done;

    if (call == NULL) {
        node->stats.unmatched++;
        return;
    }
    done = *call;
    dht_rpc_finish(&node->rpc, call, true, now_ms);
    if (m->type == KRPC_RESPONSE) {
        struct dht_contact c;
        memcpy(c.id, m->id, KRPC_ID_LEN);
        c.addr = *from;
        dht_table_heard(dht_node_table_for(node, from->sa.ss_family), &c, DHT_TABLE_REPLIED, false,
                        now_ms);
        dht_node_ip_reported(node, m, from, now_ms);
    }
    if (done.owner != NULL) {
        dht_lookup_on_answer(done.owner, &done, m, now_ms);
    }
}

void dht_node_input(struct dht_node *node, const uint8_t *data, size_t len, const struct addr *from,
                    uint64_t now_ms)
{
    struct krpc_msg m;
    int rc;

    node->now_ms = now_ms;
    node->stats.received++;
    if (!dht_contact_addr_usable(from) || dht_node_table_for(node, from->sa.ss_family) == NULL) {
        node->stats.ignored++;
        return;
    }
    rc = krpc_parse(&m, data, len);
    if (rc < 0) {
        node->stats.malformed++;
        /* A query we cannot serve is answered with the error krpc_parse chose, if at all. */
        if (rc == -EPROTO && !node->cfg.read_only &&
            dht_limit_take(node->query_limit, from, now_ms)) {
            node->stats.answered++;
            dht_server_refuse(node, &m, from);
        }
        return;
    }
    /* Our own ID coming back means we reached ourselves through some other address. */
    if (m.id != NULL && memcmp(m.id, node->id, KRPC_ID_LEN) == 0) {
        node->stats.ignored++;
        return;
    }
    if (m.type == KRPC_QUERY) {
        dht_node_on_query(node, &m, from, now_ms);
    } else {
        dht_node_on_answer(node, &m, from, now_ms);
    }
    dht_lookup_reap(node);
}

static void dht_node_timeouts(struct dht_node *node, uint64_t now_ms)
{
    struct dht_rpc_call *call;

    while ((call = dht_rpc_due(&node->rpc, now_ms)) != NULL) {
        struct dht_rpc_call done = *call;
        bool hard = now_ms >= call->hard_ms;

        if (hard) {
            struct dht_table *t = dht_node_table_for(node, done.to.sa.ss_family);
            node->stats.timeouts++;
            dht_rpc_finish(&node->rpc, call, false, now_ms);
            if (t != NULL) {
                dht_table_failed(t, &done.to, now_ms);
            }
        } else {
            call->soft_passed = true;
        }
        if (done.owner != NULL) {
            dht_lookup_on_timeout(done.owner, &done, hard, now_ms);
        }
    }
}

/* Waits 5 s after the first failure, doubling up to 5 minutes. */
static void dht_node_bootstrap_later(struct dht_node *node, uint64_t now_ms)
{
    unsigned shift = node->bootstrap_tries < 6 ? node->bootstrap_tries : 6;
    uint64_t wait_ms = (uint64_t)DHT_NODE_BOOTSTRAP_RETRY_MS << shift;

    node->bootstrap_ms =
        now_ms + (wait_ms < DHT_NODE_BOOTSTRAP_MAX_MS ? wait_ms : DHT_NODE_BOOTSTRAP_MAX_MS);
    node->bootstrap_tries++;
}

/* The flag goes up first: a lookup that ends at once clears it through dht_node_lookup_done. */
static void dht_node_start_bootstrap(struct dht_node *node, uint64_t now_ms)
{
    node->bootstrapping = true;
    if (dht_lookup_start_internal(node, node->id, DHT_NODE_FOR_BOOTSTRAP, 0, now_ms) < 0) {
        node->bootstrapping = false;
        dht_node_bootstrap_later(node, now_ms);
    }
}

/* Notes the end of a self-lookup: the next one waits for the table to grow from here. */
static void dht_node_self_lookup_ended(struct dht_node *node, uint64_t now_ms)
{
    node->rejoin_ms = now_ms;
    node->rejoin_table = dht_node_count(node, now_ms, NULL);
}

static void dht_node_bootstrap_done(struct dht_node *node, size_t responded, uint64_t now_ms)
{
    size_t count = dht_node_count(node, now_ms, NULL);

    node->bootstrapping = false;
    if (responded == 0 || count == 0) {
        log_debug(DHT_TAG, "bootstrap found no node; trying again later");
        dht_node_bootstrap_later(node, now_ms);
        return;
    }
    node->bootstrapped = true;
    node->bootstrap_tries = 0;
    node->rejoins = 0;
    dht_node_self_lookup_ended(node, now_ms);
    dht_table_refresh_all(node->table);
    if (node->table6 != NULL) {
        dht_table_refresh_all(node->table6);
    }
    log_info(DHT_TAG, "bootstrapped with %zu nodes", count);
    if (node->cfg.bootstrapped != NULL) {
        node->cfg.bootstrapped(node->cfg.user, count);
    }
}

void dht_node_lookup_done(struct dht_node *node, int purpose, size_t responded, uint64_t now_ms)
{
    switch (purpose) {
    case DHT_NODE_FOR_REFRESH:
        node->refreshing = false;
        break;
    case DHT_NODE_FOR_REJOIN:
        node->rejoining = false;
        dht_node_self_lookup_ended(node, now_ms);
        break;
    default:
        dht_node_bootstrap_done(node, responded, now_ms);
        break;
    }
}

/* The first self-lookup met the nodes that were there to meet; nodes near us that joined
 * since (or that the first answers did not name) are found by looking ourselves up again.
 * That is due once the table has doubled since the last self-lookup, or after a wait that
 * doubles each time (10 s, 20 s, ...) when it has not; at most DHT_NODE_REJOINS times after
 * each bootstrap and DHT_NODE_REJOIN_SPACING_MS apart at least. */
static void dht_node_maybe_rejoin(struct dht_node *node, uint64_t now_ms)
{
    uint64_t since_ms = now_ms - node->rejoin_ms;
    bool grown = dht_node_count(node, now_ms, NULL) >= 2 * node->rejoin_table;

    if (!node->bootstrapped || node->rejoining || node->rejoins >= DHT_NODE_REJOINS ||
        since_ms < DHT_NODE_REJOIN_SPACING_MS ||
        (!grown && since_ms < (DHT_NODE_REJOIN_WAIT_MS << node->rejoins))) {
        return;
    }
    node->rejoining = true;
    node->rejoins++;
    if (dht_lookup_start_internal(node, node->id, DHT_NODE_FOR_REJOIN, 0, now_ms) < 0) {
        node->rejoining = false;
    }
}

static void dht_node_ping(struct dht_node *node, const struct dht_contact *c, uint64_t now_ms)
{
    struct krpc_msg q;

    krpc_msg_init_query(&q, KRPC_PING, NULL, 0, node->id);
    dht_node_send_query(node, &q, &c->addr, NULL, DHT_NODE_FOR_CALLER, now_ms);
}

/* Once a second: bootstrap when the table is empty, look ourselves up again when the table has
 * grown, refresh an idle bucket, ping a few questionable contacts, expire stored items and
 * peers. */
static void dht_node_maintain(struct dht_node *node, uint64_t now_ms)
{
    struct dht_table *tables[2] = {node->table, node->table6};
    struct dht_contact c;
    uint8_t noise[KRPC_ID_LEN], target[KRPC_ID_LEN];

    if (node->bootstrapped && dht_node_count(node, now_ms, NULL) == 0) {
        log_info(DHT_TAG, "routing table empty; bootstrapping again");
        node->bootstrapped = false;
    }
    if (!node->bootstrapped && !node->bootstrapping && now_ms >= node->bootstrap_ms) {
        dht_node_start_bootstrap(node, now_ms);
    }
    dht_node_maybe_rejoin(node, now_ms);
    /* One refresh at a time, asking the table's own family: a lookup keeps one address per
     * node ID, so only a lookup of one family is sure to meet that family's contacts. */
    for (size_t t = 0; t < 2 && tables[t] != NULL; t++) {
        if (!node->bootstrapped || node->refreshing) {
            break;
        }
        dht_node_random(node, noise, sizeof(noise));
        if (dht_table_refresh_target(tables[t], now_ms, noise, target)) {
            node->refreshing = true;
            if (dht_lookup_start_internal(node, target, DHT_NODE_FOR_REFRESH,
                                          dht_table_family(tables[t]), now_ms) < 0) {
                node->refreshing = false;
            }
        }
    }
    for (size_t t = 0; t < 2 && tables[t] != NULL; t++) {
        for (int i = 0; i < DHT_NODE_PINGS_PER_ROUND; i++) {
            if (!dht_table_ping_candidate(tables[t], now_ms, &c)) {
                break;
            }
            dht_node_ping(node, &c, now_ms);
        }
    }
    dht_store_expire(node->store, now_ms);
    dht_peers_expire(node->peers, now_ms);
}

void dht_node_tick(struct dht_node *node, uint64_t now_ms)
{
    node->now_ms = now_ms;
    dht_node_timeouts(node, now_ms);
    if (now_ms >= node->maintenance_ms) {
        node->maintenance_ms = now_ms + DHT_NODE_MAINTENANCE_MS;
        dht_node_maintain(node, now_ms);
    }
    dht_lookup_tick(node, now_ms);
}

uint64_t dht_node_timeout_ms(const struct dht_node *node, uint64_t now_ms)
{
    uint64_t next = node->maintenance_ms;
    uint64_t calls = dht_rpc_next_deadline(&node->rpc);
    uint64_t lookups = dht_lookup_next_ms(node);

    if (calls < next) {
        next = calls;
    }
    if (lookups < next) {
        next = lookups;
    }
    return next <= now_ms ? 0 : next - now_ms;
}

int dht_node_add_bootstrap(struct dht_node *node, const struct addr *addrs, size_t n,
                           uint64_t now_ms)
{
    size_t total = node->cfg.nbootstrap + n;
    struct addr *grown;

    for (size_t i = 0; i < n; i++) {
        if (!dht_contact_addr_usable(&addrs[i])) {
            return -EINVAL;
        }
    }
    if (n == 0) {
        return 0;
    }
    grown = realloc(node->bootstrap, total * sizeof(*grown));
    if (grown == NULL) {
        return -ENOMEM;
    }
    memcpy(grown + node->cfg.nbootstrap, addrs, n * sizeof(*grown));
    node->bootstrap = grown;
    node->cfg.bootstrap = grown;
    node->cfg.nbootstrap = total;
    if (!node->bootstrapped && !node->bootstrapping) {
        node->bootstrap_ms = now_ms;
        node->bootstrap_tries = 0;
        node->maintenance_ms = now_ms;
    }
    return 0;
}

void dht_node_add_own_addr(struct dht_node *node, const struct addr *a)
{
    struct dht_table *t = dht_node_table_for(node, a->sa.ss_family);

    if (t != NULL) {
        dht_table_add_own_addr(t, a);
    }
}

size_t dht_node_export_nodes(const struct dht_node *node, uint8_t *buf, size_t cap)
{
    return dht_table_export(node->table, buf, cap, node->now_ms);
}

int dht_node_import_nodes(struct dht_node *node, const uint8_t *data, size_t len)
{
    return dht_table_import(node->table, data, len, node->now_ms);
}

size_t dht_node_export_nodes6(const struct dht_node *node, uint8_t *buf, size_t cap)
{
    return node->table6 != NULL ? dht_table_export(node->table6, buf, cap, node->now_ms) : 0;
}

int dht_node_import_nodes6(struct dht_node *node, const uint8_t *data, size_t len)
{
    if (node->table6 == NULL) {
        return -EAFNOSUPPORT;
    }
    return dht_table_import(node->table6, data, len, node->now_ms);
}

const uint8_t *dht_node_id(const struct dht_node *node)
{
    return node->id;
}

const struct dht_node_stats *dht_node_stats(const struct dht_node *node)
{
    return &node->stats;
}

const struct dht_table *dht_node_table(const struct dht_node *node)
{
    return node->table;
}

const struct dht_table *dht_node_table6(const struct dht_node *node)
{
    return node->table6;
}

struct dht_store *dht_node_store(struct dht_node *node)
{
    return node->store;
}

struct dht_peers *dht_node_peers(struct dht_node *node)
{
    return node->peers;
}
