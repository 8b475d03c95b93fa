/* The routing table (BEP 5): what a node knows of the 160-bit XOR space. Buckets of K = 8
 * contacts; bucket i holds the IDs that share exactly i leading bits with our own, and the last
 * bucket every ID that shares more. Only that last bucket, the one our own ID falls in, splits
 * when it is full, so the table knows the space near us in detail and far away coarsely.
 *
 * A contact is good when it answered one of our queries in the last 15 minutes (or answered
 * once and queried us in the last 15 minutes), bad after DHT_TABLE_MAX_FAILS failures in a row
 * (one is enough for a contact that never answered), questionable otherwise. A full bucket
 * keeps newcomers in a small replacement cache, where BEP 42 conforming contacts are preferred;
 * a bad contact gives way to one of them. The
 * table does no I/O: the node asks it whom to ping and which bucket to refresh, and reports
 * back. A table holds the contacts of one address family: a node on IPv4 and IPv6 keeps two
 * (BEP 32), both around the same ID. */
#ifndef PK_DHT_TABLE_H
#define PK_DHT_TABLE_H

#include "dht_contact.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DHT_TABLE_K 8                             /* BEP 5: a bucket holds K = 8 nodes */
#define DHT_TABLE_GOOD_MS (15ull * 60 * 1000)     /* BEP 5: good = answered within 15 min */
#define DHT_TABLE_REFRESH_MS (15ull * 60 * 1000)  /* BEP 5: refresh buckets idle 15 min */
#define DHT_TABLE_MAX_BUCKETS DHT_CONTACT_ID_BITS /* one per bit of prefix shared with us */
#define DHT_TABLE_MAX_FAILS 3 /* ours: BEP 5 says a node is bad after "multiple" failures */
#define DHT_TABLE_SPARES 8    /* ours: replacement cache entries per bucket */
#define DHT_TABLE_PING_SPACING_MS (10ull * 1000) /* ours: one ping per contact per 10 s */
#define DHT_TABLE_OWN_ADDRS 4                    /* ours: addresses we know to be our own */

/* What we heard from a contact. */
enum dht_table_event {
    DHT_TABLE_REPLIED,  /* it answered one of our queries */
    DHT_TABLE_QUERIED,  /* it sent us a query */
    DHT_TABLE_IMPORTED, /* it was saved by an earlier run */
};

/* Where a contact stands, for callers that report or test. */
enum dht_table_state {
    DHT_TABLE_ABSENT,
    DHT_TABLE_GOOD,
    DHT_TABLE_QUESTIONABLE,
    DHT_TABLE_BAD,
    DHT_TABLE_SPARE, /* in a replacement cache */
};

struct dht_table;

/* Creates an empty IPv4 table around own_id. Returns 0, or -ENOMEM. */
int dht_table_new(const uint8_t own_id[KRPC_ID_LEN], struct dht_table **out);

/* Creates an empty table for `family` (AF_INET or AF_INET6) around own_id. Returns 0,
 * -EAFNOSUPPORT for another family, or -ENOMEM. */
int dht_table_new_family(const uint8_t own_id[KRPC_ID_LEN], int family, struct dht_table **out);

/* The address family of the table's contacts. */
int dht_table_family(const struct dht_table *t);

/* Frees the table; NULL is a no-op. */
void dht_table_free(struct dht_table *t);

/* Gives the table a new own ID (BEP 42: ours changed with our external address): every
 * contact is kept, with what is known of it, in the bucket it falls in now, and every bucket
 * is due for a refresh. Returns 0, or -ENOMEM (the table is left as it was). */
int dht_table_set_id(struct dht_table *t, const uint8_t own_id[KRPC_ID_LEN]);

/* Remembers an address of our own (as bound, or as peers report it), so that no contact at it
 * is ever added; when DHT_TABLE_OWN_ADDRS are known the oldest reported one gives way. */
void dht_table_add_own_addr(struct dht_table *t, const struct addr *a);

/* True when `id` (may be NULL) is our ID or `a` (may be NULL) one of our addresses. */
bool dht_table_is_own(const struct dht_table *t, const uint8_t *id, const struct addr *a);

/* Records `ev` from c: 0 when c is in a bucket, 1 when it waits as a replacement, -EPERM for a
 * read-only sender (BEP 43) or ourselves, -EAFNOSUPPORT for another family than the table's,
 * -EINVAL for an unusable
 * address, -EEXIST when a live contact holds its ID or address. */
int dht_table_heard(struct dht_table *t, const struct dht_contact *c, enum dht_table_event ev,
                    bool read_only, uint64_t now_ms);

/* Counts a query to `a` that got no answer. A contact that turns bad gives way to the newest
 * confirmed replacement; a replacement that fails is forgotten. */
void dht_table_failed(struct dht_table *t, const struct addr *a, uint64_t now_ms);

/* Fills out[0..n) with the contacts that are not bad, closest to target first; returns how
 * many. With `confirmed`, only those that have answered us (what we hand out to others). */
size_t dht_table_closest(const struct dht_table *t, const uint8_t target[KRPC_ID_LEN],
                         bool confirmed, struct dht_contact *out, size_t n);

/* Picks a contact to ping: a questionable one, or a replacement for a bucket with room or a
 * bad contact, not pinged in the last DHT_TABLE_PING_SPACING_MS. Returns true and fills *out
 * (and notes the ping), or false when nobody needs one. */
bool dht_table_ping_candidate(struct dht_table *t, uint64_t now_ms, struct dht_contact *out);

/* Finds a bucket nothing has changed in for DHT_TABLE_REFRESH_MS, marks it refreshed and
 * writes into target an ID inside its range, its free bits taken from `noise` (20 random
 * bytes). Returns false when no bucket is due. */
bool dht_table_refresh_target(struct dht_table *t, uint64_t now_ms,
                              const uint8_t noise[KRPC_ID_LEN], uint8_t target[KRPC_ID_LEN]);

/* Makes every bucket due for a refresh, as after joining the network: lookups into each
 * bucket's range find the contacts the bootstrap lookup did not pass. */
void dht_table_refresh_all(struct dht_table *t);

/* Where the contact with this ID stands. */
enum dht_table_state dht_table_state(const struct dht_table *t, const uint8_t id[KRPC_ID_LEN],
                                     uint64_t now_ms);

/* Contacts in buckets (replacements not counted); *good (may be NULL) gets the good ones. */
size_t dht_table_count(const struct dht_table *t, uint64_t now_ms, size_t *good);

/* Number of buckets, 1 to DHT_TABLE_MAX_BUCKETS. */
size_t dht_table_buckets(const struct dht_table *t);

/* Writes the contacts that are not bad as compact node info (26 bytes each, 38 in an IPv6
 * table) into buf, as many as fit in cap bytes, good ones first; returns the bytes written. */
size_t dht_table_export(const struct dht_table *t, uint8_t *buf, size_t cap, uint64_t now_ms);

/* Adds the contacts of an export as questionable ones, to be pinged. Returns how many were
 * taken, or -EINVAL when len is not a multiple of the family's node info length. */
int dht_table_import(struct dht_table *t, const uint8_t *buf, size_t len, uint64_t now_ms);

#endif
