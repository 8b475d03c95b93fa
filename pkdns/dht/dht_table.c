#include "dht_table.h"

#include "dht_bep42.h"
#include "dht_table_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

int dht_table_new(const uint8_t own_id[KRPC_ID_LEN], struct dht_table **out)
{
    return dht_table_new_family(own_id, AF_INET, out);
}

int dht_table_new_family(const uint8_t own_id[KRPC_ID_LEN], int family, struct dht_table **out)
{
    struct dht_table *t;

    *out = NULL;
    if (dht_contact_node_len(family) == 0) {
        return -EAFNOSUPPORT;
    }
    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return -ENOMEM;
    }
    t->buckets = calloc(1, sizeof(*t->buckets));
    if (t->buckets == NULL) {
        free(t);
        return -ENOMEM;
    }
    t->nbuckets = 1;
    t->family = family;
    t->node_len = dht_contact_node_len(family);
    memcpy(t->own_id, own_id, KRPC_ID_LEN);
    *out = t;
    return 0;
}

int dht_table_family(const struct dht_table *t)
{
    return t->family;
}

void dht_table_free(struct dht_table *t)
{
    if (t == NULL) {
        return;
    }
    free(t->buckets);
    free(t);
}

void dht_table_add_own_addr(struct dht_table *t, const struct addr *a)
{
    if (dht_table_is_own(t, NULL, a)) {
        return;
    }
    if (t->nown == DHT_TABLE_OWN_ADDRS) {
        /* The first address is the one we were given; the others were reported. */
        memmove(&t->own[1], &t->own[2], (DHT_TABLE_OWN_ADDRS - 2) * sizeof(t->own[0]));
        t->nown--;
    }
    t->own[t->nown++] = *a;
}

bool dht_table_is_own(const struct dht_table *t, const uint8_t *id, const struct addr *a)
{
    if (id != NULL && memcmp(id, t->own_id, KRPC_ID_LEN) == 0) {
        return true;
    }
    for (size_t i = 0; a != NULL && i < t->nown; i++) {
        if (addr_equal(&t->own[i], a)) {
            return true;
        }
    }
    return false;
}

/* A clock that went backwards counts as "just now". */
bool dht_table_recent(uint64_t then_ms, uint64_t now_ms, uint64_t window_ms)
{
    return now_ms < then_ms || now_ms - then_ms < window_ms;
}

bool dht_table_entry_bad(const struct dht_table_entry *e)
{
    return e->fails >= DHT_TABLE_MAX_FAILS || (!e->replied && e->fails > 0);
}

bool dht_table_entry_good(const struct dht_table_entry *e, uint64_t now_ms)
{
    if (!e->replied || e->fails > 0) {
        return false;
    }
    return dht_table_recent(e->replied_ms, now_ms, DHT_TABLE_GOOD_MS) ||
           (e->queried && dht_table_recent(e->queried_ms, now_ms, DHT_TABLE_GOOD_MS));
}

size_t dht_table_index(const struct dht_table *t, const uint8_t id[KRPC_ID_LEN])
{
    size_t prefix = dht_contact_prefix_len(t->own_id, id);

    return prefix < t->nbuckets ? prefix : t->nbuckets - 1;
}

/* The index of the entry with this ID in list[0..n), or n when there is none. */
size_t dht_table_find_id(const struct dht_table_entry *list, size_t n,
                         const uint8_t id[KRPC_ID_LEN])
{
    size_t i = 0;

    while (i < n && memcmp(list[i].c.id, id, KRPC_ID_LEN) != 0) {
        i++;
    }
    return i;
}

static void dht_table_remove(struct dht_table_entry *list, size_t *n, struct dht_table_entry *e)
{
    size_t i = (size_t)(e - list);

    memmove(&list[i], &list[i + 1], (*n - i - 1) * sizeof(*list));
    (*n)--;
}

static void dht_table_note(struct dht_table_bucket *b, struct dht_table_entry *e,
                           enum dht_table_event ev, uint64_t now_ms)
{
    if (ev == DHT_TABLE_IMPORTED) {
        return;
    }
    e->heard_ms = now_ms;
    if (ev == DHT_TABLE_QUERIED) {
        e->queried = true;
        e->queried_ms = now_ms;
        return;
    }
    e->replied = true;
    e->replied_ms = now_ms;
    e->fails = 0;
    b->changed_ms = now_ms;
}

/* Writes a fresh entry for c into *e. */
static void dht_table_fill(struct dht_table_bucket *b, struct dht_table_entry *e,
                           const struct dht_contact *c, enum dht_table_event ev, uint64_t now_ms)
{
    memset(e, 0, sizeof(*e));
    e->c = *c;
    e->heard_ms = now_ms;
    e->conforming = dht_bep42_check(c->id, &c->addr);
    dht_table_note(b, e, ev, now_ms);
    if (ev != DHT_TABLE_IMPORTED) {
        b->changed_ms = now_ms;
    }
}

/* A contact already known by ID. A live one at another address keeps its place: IDs are not
 * taken over by whoever claims them. A bad one may move. */
static int dht_table_update(struct dht_table_bucket *b, struct dht_table_entry *e,
                            const struct dht_contact *c, enum dht_table_event ev, uint64_t now_ms)
{
    if (!addr_equal(&e->c.addr, &c->addr)) {
        if (!dht_table_entry_bad(e) || ev != DHT_TABLE_REPLIED) {
            return -EEXIST;
        }
        dht_table_fill(b, e, c, ev, now_ms);
        return 0;
    }
    dht_table_note(b, e, ev, now_ms);
    return 0;
}

/* Finds the entry (in a bucket or a replacement cache) at address a. */
static struct dht_table_entry *dht_table_find_addr(struct dht_table *t, const struct addr *a,
                                                   struct dht_table_bucket **bucket, bool *spare)
{
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct dht_table_bucket *b = &t->buckets[i];
        for (size_t j = 0; j < b->count; j++) {
            if (addr_equal(&b->nodes[j].c.addr, a)) {
                *bucket = b;
                *spare = false;
                return &b->nodes[j];
            }
        }
        for (size_t j = 0; j < b->nspares; j++) {
            if (addr_equal(&b->spares[j].c.addr, a)) {
                *bucket = b;
                *spare = true;
                return &b->spares[j];
            }
        }
    }
    return NULL;
}

/* The same address under another ID: when it answered us with the new ID, the node restarted
 * with a new one, and the old entry goes. Otherwise the claim is not trusted. */
static int dht_table_check_moved(struct dht_table *t, const struct dht_contact *c,
                                 enum dht_table_event ev)
{
    struct dht_table_bucket *b;
    struct dht_table_entry *e;
    bool spare;

    e = dht_table_find_addr(t, &c->addr, &b, &spare);
    if (e == NULL || memcmp(e->c.id, c->id, KRPC_ID_LEN) == 0) {
        return 0;
    }
    if (ev != DHT_TABLE_REPLIED && !spare && !dht_table_entry_bad(e)) {
        return -EEXIST;
    }
    if (spare) {
        dht_table_remove(b->spares, &b->nspares, e);
    } else {
        dht_table_remove(b->nodes, &b->count, e);
    }
    return 0;
}

/* Splits the last bucket: the contacts that share one more bit with us move to a new one. */
static int dht_table_split(struct dht_table *t)
{
    struct dht_table_bucket *grown, *old, *fresh;
    size_t index = t->nbuckets;

    grown = realloc(t->buckets, (t->nbuckets + 1) * sizeof(*grown));
    if (grown == NULL) {
        return -ENOMEM;
    }
    t->buckets = grown;
    t->nbuckets++;
    old = &t->buckets[index - 1];
    fresh = &t->buckets[index];
    memset(fresh, 0, sizeof(*fresh));
    fresh->changed_ms = old->changed_ms;

    for (size_t i = 0; i < old->count;) {
        if (dht_contact_prefix_len(t->own_id, old->nodes[i].c.id) >= index) {
            fresh->nodes[fresh->count++] = old->nodes[i];
            dht_table_remove(old->nodes, &old->count, &old->nodes[i]);
        } else {
            i++;
        }
    }
    for (size_t i = 0; i < old->nspares;) {
        if (dht_contact_prefix_len(t->own_id, old->spares[i].c.id) >= index) {
            fresh->spares[fresh->nspares++] = old->spares[i];
            dht_table_remove(old->spares, &old->nspares, &old->spares[i]);
        } else {
            i++;
        }
    }
    return 0;
}

/* True when spare a should give way before spare b: BEP 42 conforming contacts outlast others
 * (the BEP's preference, not its requirement), confirmed ones unconfirmed ones, then the
 * newest stay. */
static bool dht_table_spare_worse(const struct dht_table_entry *a, const struct dht_table_entry *b)
{
    if (a->conforming != b->conforming) {
        return !a->conforming;
    }
    if (a->replied != b->replied) {
        return !a->replied;
    }
    return a->heard_ms < b->heard_ms;
}

/* The replacement cache keeps the best by dht_table_spare_worse. */
static struct dht_table_entry *dht_table_spare_slot(struct dht_table_bucket *b)
{
    struct dht_table_entry *victim = NULL;

    if (b->nspares < DHT_TABLE_SPARES) {
        return &b->spares[b->nspares++];
    }
    for (size_t i = 0; i < b->nspares; i++) {
        struct dht_table_entry *e = &b->spares[i];
        if (victim == NULL || dht_table_spare_worse(e, victim)) {
            victim = e;
        }
    }
    return victim;
}

/* A full bucket that cannot split: an answering contact replaces a bad one; otherwise the
 * newcomer waits among the replacements. */
static int dht_table_full(struct dht_table_bucket *b, const struct dht_contact *c,
                          enum dht_table_event ev, uint64_t now_ms)
{
    size_t at = dht_table_find_id(b->spares, b->nspares, c->id);
    struct dht_table_entry *e = at < b->nspares ? &b->spares[at] : NULL;

    if (ev == DHT_TABLE_REPLIED) {
        for (size_t i = 0; i < b->count; i++) {
            if (dht_table_entry_bad(&b->nodes[i])) {
                if (e != NULL) {
                    dht_table_remove(b->spares, &b->nspares, e);
                }
                dht_table_fill(b, &b->nodes[i], c, ev, now_ms);
                return 0;
            }
        }
    }
    if (e != NULL) {
        if (!addr_equal(&e->c.addr, &c->addr)) {
            e->c.addr = c->addr;
            e->conforming = dht_bep42_check(c->id, &c->addr);
        }
        dht_table_note(b, e, ev, now_ms);
        return 1;
    }
    e = dht_table_spare_slot(b);
    memset(e, 0, sizeof(*e));
    e->c = *c;
    e->heard_ms = now_ms;
    e->conforming = dht_bep42_check(c->id, &c->addr);
    if (ev == DHT_TABLE_REPLIED) {
        e->replied = true;
        e->replied_ms = now_ms;
    }
    return 1;
}

int dht_table_heard(struct dht_table *t, const struct dht_contact *c, enum dht_table_event ev,
                    bool read_only, uint64_t now_ms)
{
    int rc;

    if (read_only || dht_table_is_own(t, c->id, &c->addr)) {
        return -EPERM;
    }
    if (c->addr.sa.ss_family != t->family) {
        return -EAFNOSUPPORT;
    }
    if (!dht_contact_addr_usable(&c->addr)) {
        return -EINVAL;
    }
    if ((rc = dht_table_check_moved(t, c, ev)) < 0) {
        return rc;
    }

    for (;;) {
        struct dht_table_bucket *b = &t->buckets[dht_table_index(t, c->id)];
        size_t at = dht_table_find_id(b->nodes, b->count, c->id);

        if (at < b->count) {
            return dht_table_update(b, &b->nodes[at], c, ev, now_ms);
        }
        if (b->count < DHT_TABLE_K) {
            at = dht_table_find_id(b->spares, b->nspares, c->id);
            if (at < b->nspares) {
                dht_table_remove(b->spares, &b->nspares, &b->spares[at]);
            }
            dht_table_fill(b, &b->nodes[b->count++], c, ev, now_ms);
            return 0;
        }
        if (b != &t->buckets[t->nbuckets - 1] || t->nbuckets == DHT_TABLE_MAX_BUCKETS) {
            return dht_table_full(b, c, ev, now_ms);
        }
        if ((rc = dht_table_split(t)) < 0) {
            return dht_table_full(b, c, ev, now_ms);
        }
    }
}

/* Puts entry e, kept as it is, where it belongs under the table's (new) ID: into its bucket,
 * splitting the last one as needed, or among the replacements (`spare`, or no room). */
static void dht_table_place(struct dht_table *t, const struct dht_table_entry *e, bool spare)
{
    if (memcmp(e->c.id, t->own_id, KRPC_ID_LEN) == 0) {
        return;
    }
    for (;;) {
        struct dht_table_bucket *b = &t->buckets[dht_table_index(t, e->c.id)];
        struct dht_table_entry *slot;
        if (!spare && b->count < DHT_TABLE_K) {
            b->nodes[b->count++] = *e;
            return;
        }
        if (!spare && b == &t->buckets[t->nbuckets - 1] && t->nbuckets < DHT_TABLE_MAX_BUCKETS &&
            dht_table_split(t) == 0) {
            continue;
        }
        if (b->nspares < DHT_TABLE_SPARES) {
            b->spares[b->nspares++] = *e;
            return;
        }
        slot = dht_table_spare_slot(b);
        if (dht_table_spare_worse(slot, e)) {
            *slot = *e;
        }
        return;
    }
}

int dht_table_set_id(struct dht_table *t, const uint8_t own_id[KRPC_ID_LEN])
{
    struct dht_table_bucket *old = t->buckets;
    size_t nold = t->nbuckets;

    t->buckets = calloc(1, sizeof(*t->buckets));
    if (t->buckets == NULL) {
        t->buckets = old;
        return -ENOMEM;
    }
    t->nbuckets = 1;
    memcpy(t->own_id, own_id, KRPC_ID_LEN);
    for (size_t i = 0; i < nold; i++) {
        for (size_t j = 0; j < old[i].count; j++) {
            dht_table_place(t, &old[i].nodes[j], false);
        }
        for (size_t j = 0; j < old[i].nspares; j++) {
            dht_table_place(t, &old[i].spares[j], true);
        }
    }
    free(old);
    dht_table_refresh_all(t);
    return 0;
}

/* Moves the best confirmed replacement (BEP 42 conforming first, then the newest) into the
 * place of the bad contact e. */
static void dht_table_promote(struct dht_table_bucket *b, struct dht_table_entry *e)
{
    struct dht_table_entry *best = NULL;

    for (size_t i = 0; i < b->nspares; i++) {
        struct dht_table_entry *s = &b->spares[i];
        if (s->replied && (best == NULL || dht_table_spare_worse(best, s))) {
            best = s;
        }
    }
    if (best != NULL) {
        *e = *best;
        dht_table_remove(b->spares, &b->nspares, best);
    }
}

void dht_table_failed(struct dht_table *t, const struct addr *a, uint64_t now_ms)
{
    struct dht_table_bucket *b;
    struct dht_table_entry *e;
    bool spare;

    (void)now_ms;
    e = dht_table_find_addr(t, a, &b, &spare);
    if (e == NULL) {
        return;
    }
    if (spare) {
        dht_table_remove(b->spares, &b->nspares, e);
        return;
    }
    if (e->fails < UINT8_MAX) {
        e->fails++;
    }
    if (dht_table_entry_bad(e)) {
        dht_table_promote(b, e);
    }
}

static bool dht_table_ping_due(struct dht_table_entry *e, uint64_t now_ms)
{
    return !e->pinged || !dht_table_recent(e->pinged_ms, now_ms, DHT_TABLE_PING_SPACING_MS);
}

static bool dht_table_needs_spare(const struct dht_table_bucket *b)
{
    if (b->count < DHT_TABLE_K) {
        return true;
    }
    for (size_t i = 0; i < b->count; i++) {
        if (dht_table_entry_bad(&b->nodes[i])) {
            return true;
        }
    }
    return false;
}

static bool dht_table_take_ping(struct dht_table_entry *e, uint64_t now_ms, struct dht_contact *out)
{
    e->pinged = true;
    e->pinged_ms = now_ms;
    *out = e->c;
    return true;
}

bool dht_table_ping_candidate(struct dht_table *t, uint64_t now_ms, struct dht_contact *out)
{
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct dht_table_bucket *b = &t->buckets[i];
        for (size_t j = 0; j < b->count; j++) {
            struct dht_table_entry *e = &b->nodes[j];
            if (!dht_table_entry_bad(e) && !dht_table_entry_good(e, now_ms) &&
                dht_table_ping_due(e, now_ms)) {
                return dht_table_take_ping(e, now_ms, out);
            }
        }
        if (!dht_table_needs_spare(b)) {
            continue;
        }
        for (size_t j = 0; j < b->nspares; j++) {
            if (dht_table_ping_due(&b->spares[j], now_ms)) {
                return dht_table_take_ping(&b->spares[j], now_ms, out);
            }
        }
    }
    return false;
}

/* An ID that shares exactly `prefix` bits with ours (at least, for the last bucket). */
static void dht_table_id_in_bucket(const struct dht_table *t, size_t index,
                                   const uint8_t noise[KRPC_ID_LEN], uint8_t out[KRPC_ID_LEN])
{
    size_t whole = index / 8, rest = index % 8;

    memcpy(out, noise, KRPC_ID_LEN);
    memcpy(out, t->own_id, whole);
    if (whole < KRPC_ID_LEN) {
        uint8_t mask = (uint8_t)(0xff00u >> rest);
        out[whole] = (uint8_t)((t->own_id[whole] & mask) | (noise[whole] & ~mask));
        if (index < t->nbuckets - 1) {
            uint8_t bit = (uint8_t)(0x80u >> rest);
            out[whole] = (uint8_t)((out[whole] & ~bit) | (~t->own_id[whole] & bit));
        }
    }
}

bool dht_table_refresh_target(struct dht_table *t, uint64_t now_ms,
                              const uint8_t noise[KRPC_ID_LEN], uint8_t target[KRPC_ID_LEN])
{
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct dht_table_bucket *b = &t->buckets[i];
        if (!b->stale && dht_table_recent(b->changed_ms, now_ms, DHT_TABLE_REFRESH_MS)) {
            continue;
        }
        b->stale = false;
        b->changed_ms = now_ms;
        dht_table_id_in_bucket(t, i, noise, target);
        return true;
    }
    return false;
}

void dht_table_refresh_all(struct dht_table *t)
{
    for (size_t i = 0; i < t->nbuckets; i++) {
        t->buckets[i].stale = true;
    }
}
