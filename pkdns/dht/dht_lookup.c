/* Lookups as the node and its callers see them: starting, joining a running get, callers and
 * their events, and the hooks through which the node hands in answers and timeouts. The
 * requests themselves are dht_traverse.c's. */
#include "dht_lookup.h"

#include "dht_lookup_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(DHT_LOOKUP_CANDIDATES == DHT_CLOSEST_MAX, "a lookup's candidates fill its set");
_Static_assert(DHT_LOOKUP_PUT_NODES_MAX <= DHT_CLOSEST_MAX, "a put's nodes fit its set");

void dht_lookup_value_set(struct dht_lookup_value *v, const struct dht_store_item *item,
                          const struct addr *from)
{
    memset(&v->item, 0, sizeof(v->item));
    if (item->k != NULL) {
        memcpy(v->k, item->k, BEP44_KEY_LEN);
        memcpy(v->sig, item->sig, BEP44_SIG_LEN);
        if (item->salt_len > 0) {
            memcpy(v->salt, item->salt, item->salt_len);
        }
        v->item.k = v->k;
        v->item.sig = v->sig;
        v->item.seq = item->seq;
        v->item.salt = item->salt_len > 0 ? v->salt : NULL;
        v->item.salt_len = item->salt_len;
    }
    memcpy(v->value, item->value, item->value_len);
    v->item.value = v->value;
    v->item.value_len = item->value_len;
    if (from != NULL) {
        v->from = *from;
    }
}

/* ---- starting and joining ---- */

bool dht_lookup_in_family(const struct dht_lookup *l, int family)
{
    return l->family == 0 || l->family == family;
}

unsigned dht_lookup_want(const struct dht_lookup *l)
{
    if (l->node->table6 == NULL) {
        return 0; /* an IPv4 node sends what it always sent */
    }
    if (l->family == 0) {
        return KRPC_WANT_N4 | KRPC_WANT_N6;
    }
    return l->family == AF_INET6 ? KRPC_WANT_N6 : KRPC_WANT_N4;
}

/* Adds the closest contacts of table t as candidates; returns how many it had. */
static size_t dht_lookup_seed_table(struct dht_lookup *l, const struct dht_table *t)
{
    struct dht_contact seeds[DHT_CLOSEST_MAX];
    size_t n = dht_table_closest(t, l->set.target, false, seeds, DHT_CLOSEST_MAX);

    for (size_t i = 0; i < n; i++) {
        dht_closest_add(&l->set, &seeds[i], true);
    }
    return n;
}

/* Seeds the closest-set from the routing tables of the lookup's family (both families mix in
 * one set, ordered by distance alone), and from the bootstrap addresses while the tables know
 * fewer than K nodes. A lookup of one family that finds no one of that family to start from
 * starts from the other table: those nodes are asked for contacts of the lookup's family
 * ("want"). */
static void dht_lookup_seed(struct dht_lookup *l)
{
    struct dht_node *node = l->node;
    const struct dht_table *tables[2] = {node->table, node->table6};
    size_t total = 0;

    for (size_t t = 0; t < 2 && tables[t] != NULL; t++) {
        if (dht_lookup_in_family(l, dht_table_family(tables[t]))) {
            total += dht_lookup_seed_table(l, tables[t]);
        }
    }
    for (size_t i = 0; total < DHT_TABLE_K && i < node->cfg.nbootstrap; i++) {
        struct dht_contact c = {.addr = node->bootstrap[i]};
        if (dht_node_table_for(node, c.addr.sa.ss_family) != NULL &&
            dht_lookup_in_family(l, c.addr.sa.ss_family) && !dht_node_is_own(node, NULL, &c.addr)) {
            dht_closest_add(&l->set, &c, false);
        }
    }
    for (size_t t = 0; t < 2 && tables[t] != NULL && l->family != 0 && l->set.n == 0; t++) {
        if (!dht_lookup_in_family(l, dht_table_family(tables[t]))) {
            dht_lookup_seed_table(l, tables[t]);
        }
    }
}

static int dht_lookup_new(struct dht_node *node, enum dht_lookup_kind kind,
                          const uint8_t target[KRPC_ID_LEN], int family, uint64_t now_ms,
                          struct dht_lookup **out)
{
    struct dht_lookup *l = calloc(1, sizeof(*l));

    *out = NULL;
    if (l == NULL) {
        return -ENOMEM;
    }
    l->node = node;
    l->kind = kind;
    l->family = family;
    l->started_ms = now_ms;
    dht_closest_init(&l->set, target);
    dht_lookup_seed(l);
    if (l->set.n == 0) {
        free(l);
        return -ENETUNREACH;
    }
    l->next = node->lookups;
    node->lookups = l;
    *out = l;
    return 0;
}

/* Adds a caller at the end of l's list (a caller added during a callback is reached by the
 * same round of events). */
static int dht_lookup_add_waiter(struct dht_lookup *l, dht_lookup_cb cb, void *user,
                                 const struct dht_lookup_get_args *args, uint32_t *handle)
{
    struct dht_lookup_waiter *w = calloc(1, sizeof(*w)), **tail = &l->waiters;

    if (w == NULL) {
        return -ENOMEM;
    }
    w->cb = cb;
    w->user = user;
    if (args != NULL && args->k != NULL && args->has_seq) {
        w->has_seq = true;
        w->seq = args->seq;
    }
    w->handle = l->node->next_handle++;
    if (l->node->next_handle == 0) {
        l->node->next_handle = 1;
    }
    while (*tail != NULL) {
        tail = &(*tail)->next;
    }
    *tail = w;
    if (handle != NULL) {
        *handle = w->handle;
    }
    return 0;
}

/* Takes a lookup that never got going off the node's list and frees it. */
static void dht_lookup_discard(struct dht_lookup *l)
{
    struct dht_lookup **link = &l->node->lookups;

    while (*link != l) {
        link = &(*link)->next;
    }
    *link = l->next;
    free(l);
}

/* Adds the first caller and sends the first requests; callbacks never run from here. */
static int dht_lookup_launch(struct dht_lookup *l, dht_lookup_cb cb, void *user,
                             const struct dht_lookup_get_args *args, uint64_t now_ms,
                             uint32_t *handle)
{
    if (cb != NULL && dht_lookup_add_waiter(l, cb, user, args, handle) < 0) {
        dht_lookup_discard(l);
        return -ENOMEM;
    }
    dht_traverse_advance(l, now_ms);
    return 0;
}

int dht_lookup_start_internal(struct dht_node *node, const uint8_t target[KRPC_ID_LEN], int purpose,
                              int family, uint64_t now_ms)
{
    struct dht_lookup *l;
    int rc = dht_lookup_new(node, DHT_LOOKUP_KIND_FIND_NODE, target, family, now_ms, &l);

    if (rc < 0) {
        return rc;
    }
    l->purpose = purpose;
    return dht_lookup_launch(l, NULL, NULL, NULL, now_ms, NULL);
}

/* The running lookup of this kind and target that a caller may join, or NULL. */
static struct dht_lookup *dht_lookup_joinable(struct dht_node *node, enum dht_lookup_kind kind,
                                              const uint8_t target[KRPC_ID_LEN],
                                              const struct dht_lookup_get_args *args)
{
    for (struct dht_lookup *l = node->lookups; l != NULL; l = l->next) {
        if (l->phase != DHT_LOOKUP_TRAVERSE || l->kind != kind ||
            memcmp(l->set.target, target, KRPC_ID_LEN) != 0) {
            continue;
        }
        /* Nodes leave out values not newer than the seq sent, which may be what a caller
         * with a lower seq (or none) wants. */
        if (args != NULL && l->has_seq && (!args->has_seq || args->seq < l->seq)) {
            continue;
        }
        return l;
    }
    return NULL;
}

static int dht_lookup_join(struct dht_lookup *l, dht_lookup_cb cb, void *user,
                           const struct dht_lookup_get_args *args, uint32_t *handle)
{
    int rc = dht_lookup_add_waiter(l, cb, user, args, handle);

    if (rc == 0 && l->have_best) {
        l->node->deliver_pending = true;
    }
    return rc;
}

int dht_lookup_find_node(struct dht_node *node, const uint8_t target[KRPC_ID_LEN], dht_lookup_cb cb,
                         void *user, uint64_t now_ms, uint32_t *handle)
{
    struct dht_lookup *l = dht_lookup_joinable(node, DHT_LOOKUP_KIND_FIND_NODE, target, NULL);
    int rc;

    if (l != NULL) {
        return dht_lookup_join(l, cb, user, NULL, handle);
    }
    if ((rc = dht_lookup_new(node, DHT_LOOKUP_KIND_FIND_NODE, target, 0, now_ms, &l)) < 0) {
        return rc;
    }
    return dht_lookup_launch(l, cb, user, NULL, now_ms, handle);
}

static int dht_lookup_get_target(const struct dht_lookup_get_args *args, uint8_t *target)
{
    if (args->salt_len > BEP44_SALT_MAX || (args->salt == NULL && args->salt_len > 0)) {
        return -EINVAL;
    }
    if (args->k != NULL) {
        bep44_mutable_target(args->k, args->salt, args->salt_len, target);
        return 0;
    }
    if (args->target == NULL) {
        return -EINVAL;
    }
    memcpy(target, args->target, BEP44_TARGET_LEN);
    return 0;
}

int dht_lookup_get(struct dht_node *node, const struct dht_lookup_get_args *args, dht_lookup_cb cb,
                   void *user, uint64_t now_ms, uint32_t *handle)
{
    uint8_t target[BEP44_TARGET_LEN];
    struct dht_lookup *l;
    int rc;

    if (cb == NULL || (rc = dht_lookup_get_target(args, target)) < 0) {
        return -EINVAL;
    }
    if ((l = dht_lookup_joinable(node, DHT_LOOKUP_KIND_GET, target, args)) != NULL) {
        return dht_lookup_join(l, cb, user, args, handle);
    }
    if ((rc = dht_lookup_new(node, DHT_LOOKUP_KIND_GET, target, 0, now_ms, &l)) < 0) {
        return rc;
    }
    l->is_mutable = args->k != NULL;
    if (l->is_mutable) {
        if (args->salt_len > 0) {
            memcpy(l->salt, args->salt, args->salt_len);
        }
        l->salt_len = args->salt_len;
        l->has_seq = args->has_seq;
        l->seq = args->seq;
    }
    return dht_lookup_launch(l, cb, user, args, now_ms, handle);
}

static int dht_lookup_check_item(const struct dht_store_item *item)
{
    if (item->value == NULL || item->value_len == 0 || item->value_len > BEP44_VALUE_MAX) {
        return -EINVAL;
    }
    if (item->k != NULL && (item->sig == NULL || item->salt_len > BEP44_SALT_MAX ||
                            (item->salt == NULL && item->salt_len > 0))) {
        return -EINVAL;
    }
    return 0;
}

int dht_lookup_put(struct dht_node *node, const struct dht_store_item *item, const int64_t *cas,
                   dht_lookup_cb cb, void *user, uint64_t now_ms, uint32_t *handle)
{
    uint8_t target[BEP44_TARGET_LEN];
    struct dht_lookup *l;
    int rc;

    if (cb == NULL || dht_lookup_check_item(item) < 0) {
        return -EINVAL;
    }
    if (item->k != NULL) {
        bep44_mutable_target(item->k, item->salt, item->salt_len, target);
    } else {
        bep44_immutable_target(item->value, item->value_len, target);
    }
    if ((rc = dht_lookup_new(node, DHT_LOOKUP_KIND_PUT, target, 0, now_ms, &l)) < 0) {
        return rc;
    }
    dht_lookup_value_set(&l->put, item, NULL);
    l->is_mutable = item->k != NULL;
    l->has_seq = l->is_mutable;
    l->seq = item->seq;
    l->has_cas = cas != NULL;
    l->cas = cas != NULL ? *cas : 0;
    return dht_lookup_launch(l, cb, user, NULL, now_ms, handle);
}

void dht_lookup_cancel(struct dht_node *node, uint32_t handle)
{
    for (struct dht_lookup *l = node->lookups; l != NULL; l = l->next) {
        for (struct dht_lookup_waiter *w = l->waiters; w != NULL; w = w->next) {
            if (w->handle == handle) {
                w->cancelled = true;
                return;
            }
        }
    }
}

size_t dht_lookup_count(const struct dht_node *node)
{
    size_t count = 0;

    for (const struct dht_lookup *l = node->lookups; l != NULL; l = l->next) {
        count += l->phase != DHT_LOOKUP_FINISHED ? 1 : 0;
    }
    return count;
}

/* ---- events ---- */

static void dht_lookup_event_done(const struct dht_lookup *l, const struct dht_lookup_waiter *w,
                                  struct dht_lookup_event *ev, struct dht_contact *closest)
{
    memset(ev, 0, sizeof(*ev));
    ev->type = DHT_LOOKUP_DONE;
    ev->status = l->status;
    if (l->kind == DHT_LOOKUP_KIND_GET && ev->status == 0 && !w->got_value) {
        ev->status = -ENOENT;
    }
    ev->queried = l->queried;
    ev->responded = l->responded;
    ev->closest = closest;
    ev->nclosest = dht_closest_answered(&l->set, closest, DHT_TABLE_K);
    ev->stored = l->stored;
    ev->refused = l->refused;
    memcpy(ev->errors, l->errors, sizeof(ev->errors));
    ev->elapsed_ms = l->finished_ms - l->started_ms;
}

static void dht_lookup_event_value(const struct dht_lookup *l, struct dht_lookup_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->type = DHT_LOOKUP_VALUE;
    ev->item = &l->best.item;
    ev->from = &l->best.from;
}

/* Gives each caller what it has not seen: the best value, then the end. Callbacks may add or
 * cancel callers; nothing is freed here. */
static void dht_lookup_deliver(struct dht_lookup *l)
{
    struct dht_contact closest[DHT_TABLE_K];
    struct dht_lookup_event ev;

    for (struct dht_lookup_waiter *w = l->waiters; w != NULL; w = w->next) {
        if (w->cancelled || w->done) {
            continue;
        }
        if (l->have_best && w->seen_version != l->best_version) {
            w->seen_version = l->best_version;
            if (!w->has_seq || l->best.item.seq > w->seq) {
                w->got_value = true;
                dht_lookup_event_value(l, &ev);
                w->cb(w->user, &ev);
            }
        }
        if (l->phase == DHT_LOOKUP_FINISHED && !w->cancelled) {
            w->done = true;
            dht_lookup_event_done(l, w, &ev, closest);
            w->cb(w->user, &ev);
        }
    }
}

void dht_lookup_finish(struct dht_lookup *l, int status, uint64_t now_ms)
{
    if (l->phase == DHT_LOOKUP_FINISHED) {
        return;
    }
    l->phase = DHT_LOOKUP_FINISHED;
    l->status = status;
    l->finished_ms = now_ms;
    l->retry_ms = 0;
    /* Late answers to its calls still reach the routing table, no longer the lookup. */
    dht_rpc_disown(&l->node->rpc, l);
    l->node->deliver_pending = true;
    if (l->purpose != DHT_NODE_FOR_CALLER) {
        dht_node_lookup_done(l->node, l->purpose, l->responded, now_ms);
    }
}

/* ---- the node's hooks ---- */

void dht_lookup_on_answer(struct dht_lookup *l, const struct dht_rpc_call *call,
                          const struct krpc_msg *m, uint64_t now_ms)
{
    if (l->phase == DHT_LOOKUP_FINISHED) {
        return;
    }
    dht_traverse_answer(l, call, m, now_ms);
    dht_traverse_advance(l, now_ms);
    dht_lookup_deliver(l);
}

void dht_lookup_on_timeout(struct dht_lookup *l, const struct dht_rpc_call *call, bool hard,
                           uint64_t now_ms)
{
    if (l->phase == DHT_LOOKUP_FINISHED) {
        return;
    }
    dht_traverse_timeout(l, call, hard);
    dht_traverse_advance(l, now_ms);
    dht_lookup_deliver(l);
}

/* True while a caller still waits for events of l. */
static bool dht_lookup_waited_for(const struct dht_lookup *l)
{
    for (const struct dht_lookup_waiter *w = l->waiters; w != NULL; w = w->next) {
        if (!w->cancelled && !w->done) {
            return true;
        }
    }
    return false;
}

/* The end of a lookup cut short by DHT_LOOKUP_MAX_MS: a success when it got what it was for. */
static int dht_lookup_overdue_status(const struct dht_lookup *l)
{
    switch (l->kind) {
    case DHT_LOOKUP_KIND_FIND_NODE:
        return l->responded > 0 ? 0 : -ETIMEDOUT;
    case DHT_LOOKUP_KIND_GET:
        return l->have_best ? 0 : -ETIMEDOUT;
    case DHT_LOOKUP_KIND_PUT:
        return l->stored > 0 ? 0 : -ETIMEDOUT;
    }
    return -ETIMEDOUT;
}

void dht_lookup_tick(struct dht_node *node, uint64_t now_ms)
{
    node->deliver_pending = false;
    for (struct dht_lookup *l = node->lookups; l != NULL; l = l->next) {
        if (l->phase != DHT_LOOKUP_FINISHED && now_ms >= l->started_ms + DHT_LOOKUP_MAX_MS) {
            dht_lookup_finish(l, dht_lookup_overdue_status(l), now_ms);
        }
        if (l->phase != DHT_LOOKUP_FINISHED && l->retry_ms != 0 && now_ms >= l->retry_ms) {
            dht_traverse_advance(l, now_ms);
        }
        dht_lookup_deliver(l);
    }
    dht_lookup_reap(node);
}

static void dht_lookup_free(struct dht_lookup *l)
{
    struct dht_lookup_waiter *w, *next;

    dht_rpc_disown(&l->node->rpc, l);
    for (w = l->waiters; w != NULL; w = next) {
        next = w->next;
        free(w);
    }
    free(l);
}

/* Drops cancelled callers from l's list. */
static void dht_lookup_prune(struct dht_lookup *l)
{
    struct dht_lookup_waiter **link = &l->waiters;

    while (*link != NULL) {
        struct dht_lookup_waiter *w = *link;
        if (w->cancelled) {
            *link = w->next;
            free(w);
        } else {
            link = &w->next;
        }
    }
}

void dht_lookup_reap(struct dht_node *node)
{
    struct dht_lookup **link = &node->lookups;

    while (*link != NULL) {
        struct dht_lookup *l = *link;
        dht_lookup_prune(l);
        /* A caller's lookup that nobody waits for stops; the node's own run to the end. */
        if (l->phase != DHT_LOOKUP_FINISHED && l->purpose == DHT_NODE_FOR_CALLER &&
            !dht_lookup_waited_for(l)) {
            dht_lookup_finish(l, -ECANCELED, node->now_ms);
        }
        if (l->phase == DHT_LOOKUP_FINISHED && !dht_lookup_waited_for(l)) {
            *link = l->next;
            dht_lookup_free(l);
        } else {
            link = &l->next;
        }
    }
}

uint64_t dht_lookup_next_ms(const struct dht_node *node)
{
    uint64_t next = UINT64_MAX;

    if (node->deliver_pending) {
        return 0;
    }
    for (const struct dht_lookup *l = node->lookups; l != NULL; l = l->next) {
        if (l->phase == DHT_LOOKUP_FINISHED) {
            continue;
        }
        if (l->retry_ms != 0 && l->retry_ms < next) {
            next = l->retry_ms;
        }
        if (l->started_ms + DHT_LOOKUP_MAX_MS < next) {
            next = l->started_ms + DHT_LOOKUP_MAX_MS;
        }
    }
    return next;
}

void dht_lookup_free_all(struct dht_node *node)
{
    while (node->lookups != NULL) {
        struct dht_lookup *l = node->lookups;
        node->lookups = l->next;
        dht_lookup_free(l);
    }
}
