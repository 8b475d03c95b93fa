/* Reading the routing table: the closest contacts to a target, where a contact stands,
 * counts, and the export and import that let a node restart warm. */
#include "dht_table.h"

#include "dht_table_int.h"

#include <errno.h>
#include <string.h>

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
                if (cap - len < t->node_len) {
                    return len;
                }
                if (dht_contact_write_any(&e->c, buf + len, t->node_len) == 0) {
                    len += t->node_len;
                }
            }
        }
    }
    return len;
}

int dht_table_import(struct dht_table *t, const uint8_t *buf, size_t len, uint64_t now_ms)
{
    int taken = 0;

    if (len % t->node_len != 0) {
        return -EINVAL;
    }
    for (size_t off = 0; off < len; off += t->node_len) {
        struct dht_contact c;
        if (dht_contact_read_any(buf + off, t->node_len, &c) == 0 &&
            dht_table_heard(t, &c, DHT_TABLE_IMPORTED, false, now_ms) >= 0) {
            taken++;
        }
    }
    return taken;
}
