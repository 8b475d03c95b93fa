#include "dht_table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct dht_table_entry {
    struct dht_contact c;
    uint64_t heard_ms;   /* last time anything came from it */
    uint64_t replied_ms; /* last answer to one of our queries; valid when `replied` */
    uint64_t queried_ms; /* last query from it; valid when `queried` */
    uint64_t pinged_ms;  /* last ping we sent; valid when `pinged` */
    bool replied;
    bool queried;
    bool pinged;
    uint8_t fails; /* queries in a row without an answer */
};

struct dht_table_bucket {
    struct dht_table_entry nodes[DHT_TABLE_K];
    struct dht_table_entry spares[DHT_TABLE_SPARES];
    size_t count;
    size_t nspares;
    uint64_t changed_ms; /* last time a contact in it answered or joined */
    bool stale;          /* to be refreshed whatever changed_ms says */
};

struct dht_table {
    uint8_t own_id[KRPC_ID_LEN];
    struct addr own[DHT_TABLE_OWN_ADDRS];
    size_t nown;
    struct dht_table_bucket *buckets;
    size_t nbuckets;
};

int dht_table_new(const uint8_t own_id[KRPC_ID_LEN], struct dht_table **out)
{
    struct dht_table *t = calloc(1, sizeof(*t));

    *out = NULL;
    if (t == NULL) {
        return -ENOMEM;
    }
    t->buckets = calloc(1, sizeof(*t->buckets));
    if (t->buckets == NULL) {
        free(t);
        return -ENOMEM;
    }
    t->nbuckets = 1;
    memcpy(t->own_id, own_id, KRPC_ID_LEN);
    *out = t;
    return 0;
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
static bool dht_table_recent(uint64_t then_ms, uint64_t now_ms, uint64_t window_ms)
{
    return now_ms < then_ms || now_ms - then_ms < window_ms;
}

static bool dht_table_entry_bad(const struct dht_table_entry *e)
{
    return e->fails >= DHT_TABLE_MAX_FAILS || (!e->replied && e->fails > 0);
}

static bool dht_table_entry_good(const struct dht_table_entry *e, uint64_t now_ms)
{
    if (!e->replied || e->fails > 0) {
        return false;
    }
    return dht_table_recent(e->replied_ms, now_ms, DHT_TABLE_GOOD_MS) ||
           (e->queried && dht_table_recent(e->queried_ms, now_ms, DHT_TABLE_GOOD_MS));
}

static size_t dht_table_index(const struct dht_table *t, const uint8_t id[KRPC_ID_LEN])
{
    size_t prefix = dht_contact_prefix_len(t->own_id, id);

    return prefix < t->nbuckets ? prefix : t->nbuckets - 1;
}

/* The index of the entry with this ID in list[0..n), or n when there is none. */
static size_t dht_table_find_id(const struct dht_table_entry *list, size_t n,
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

/* The replacement cache keeps the newest; confirmed contacts outlast unconfirmed ones. */
static struct dht_table_entry *dht_table_spare_slot(struct dht_table_bucket *b)
{
    struct dht_table_entry *victim = NULL;

    if (b->nspares < DHT_TABLE_SPARES) {
        return &b->spares[b->nspares++];
    }
    for (size_t i = 0; i < b->nspares; i++) {
        struct dht_table_entry *e = &b->spares[i];
        if (victim == NULL || (victim->replied && !e->replied) ||
            (victim->replied == e->replied && e->heard_ms < victim->heard_ms)) {
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
        }
        dht_table_note(b, e, ev, now_ms);
        return 1;
    }
    e = dht_table_spare_slot(b);
    memset(e, 0, sizeof(*e));
    e->c = *c;
    e->heard_ms = now_ms;
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
    if (!dht_contact_addr_usable(&c->addr)) {
        return c->addr.sa.ss_family != AF_INET ? -EAFNOSUPPORT : -EINVAL;
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

/* Moves the newest confirmed replacement into the place of the bad contact e. */
static void dht_table_promote(struct dht_table_bucket *b, struct dht_table_entry *e)
{
    struct dht_table_entry *best = NULL;

    for (size_t i = 0; i < b->nspares; i++) {
        struct dht_table_entry *s = &b->spares[i];
        if (s->replied && (best == NULL || s->heard_ms > best->heard_ms)) {
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

/* Inserts c into out[0..*n), sorted by distance to target and at most cap long. */
static void dht_table_insert_sorted(struct dht_contact *out, size_t *n, size_t cap,
                                    const uint8_t *target, const struct dht_contact *c)
{
    size_t pos = *n;

    while (pos > 0 && dht_contact_cmp(target, c->id, out[pos - 1].id) < 0) {
        pos--;
    }
    if (pos >= cap) {
        return;
    }
    if (*n < cap) {
        (*n)++;
    }
    memmove(&out[pos + 1], &out[pos], (*n - pos - 1) * sizeof(*out));
    out[pos] = *c;
}

size_t dht_table_closest(const struct dht_table *t, const uint8_t target[KRPC_ID_LEN],
                         bool confirmed, struct dht_contact *out, size_t n)
{
    size_t found = 0;

    for (size_t i = 0; i < t->nbuckets; i++) {
        const struct dht_table_bucket *b = &t->buckets[i];
        for (size_t j = 0; j < b->count; j++) {
            const struct dht_table_entry *e = &b->nodes[j];
            if (!dht_table_entry_bad(e) && (e->replied || !confirmed)) {
                dht_table_insert_sorted(out, &found, n, target, &b->nodes[j].c);
            }
        }
    }
    return found;
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

enum dht_table_state dht_table_state(const struct dht_table *t, const uint8_t id[KRPC_ID_LEN],
                                     uint64_t now_ms)
{
    const struct dht_table_bucket *b = &t->buckets[dht_table_index(t, id)];
    size_t at = dht_table_find_id(b->nodes, b->count, id);

    if (at < b->count) {
        const struct dht_table_entry *e = &b->nodes[at];
        if (dht_table_entry_bad(e)) {
            return DHT_TABLE_BAD;
        }
        return dht_table_entry_good(e, now_ms) ? DHT_TABLE_GOOD : DHT_TABLE_QUESTIONABLE;
    }
    if (dht_table_find_id(b->spares, b->nspares, id) < b->nspares) {
        return DHT_TABLE_SPARE;
    }
    return DHT_TABLE_ABSENT;
}

size_t dht_table_count(const struct dht_table *t, uint64_t now_ms, size_t *good)
{
    size_t total = 0, good_count = 0;

    for (size_t i = 0; i < t->nbuckets; i++) {
        const struct dht_table_bucket *b = &t->buckets[i];
        total += b->count;
        for (size_t j = 0; j < b->count; j++) {
            good_count += dht_table_entry_good(&b->nodes[j], now_ms) ? 1 : 0;
        }
    }
    if (good != NULL) {
        *good = good_count;
    }
    return total;
}

size_t dht_table_buckets(const struct dht_table *t)
{
    return t->nbuckets;
}

size_t dht_table_export(const struct dht_table *t, uint8_t *buf, size_t cap, uint64_t now_ms)
{
    size_t len = 0;

    /* Two passes: the good contacts, then the questionable ones. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < t->nbuckets; i++) {
            const struct dht_table_bucket *b = &t->buckets[i];
            for (size_t j = 0; j < b->count; j++) {
                const struct dht_table_entry *e = &b->nodes[j];
                bool good = dht_table_entry_good(e, now_ms);
                if (dht_table_entry_bad(e) || good != (pass == 0)) {
                    continue;
                }
                if (cap - len < KRPC_NODE_LEN) {
                    return len;
                }
                if (dht_contact_write(&e->c, buf + len) == 0) {
                    len += KRPC_NODE_LEN;
                }
            }
        }
    }
    return len;
}

int dht_table_import(struct dht_table *t, const uint8_t *buf, size_t len, uint64_t now_ms)
{
    int taken = 0;

    if (len % KRPC_NODE_LEN != 0) {
        return -EINVAL;
    }
    for (size_t off = 0; off < len; off += KRPC_NODE_LEN) {
        struct dht_contact c;
        if (dht_contact_read(buf + off, &c) == 0 &&
            dht_table_heard(t, &c, DHT_TABLE_IMPORTED, false, now_ms) >= 0) {
            taken++;
        }
    }
    return taken;
}
