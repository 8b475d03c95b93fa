/* Private to the routing table: the structures dht_table.c (changes: contacts heard, failed,
 * replaced; pings and refreshes) and dht_table_view.c (reading: the closest contacts, states,
 * counts, export and import) share, and the helpers they both call. Nothing else includes
 * this. */
#ifndef PK_DHT_TABLE_INT_H
#define PK_DHT_TABLE_INT_H

#include "dht_table.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dht_table_entry {
    struct dht_contact c;
    uint64_t heard_ms;   /* last time anything came from it */
    uint64_t replied_ms; /* last answer to one of our queries; valid when `replied` */
    uint64_t queried_ms; /* last query from it; valid when `queried` */
    uint64_t pinged_ms;  /* last ping we sent; valid when `pinged` */
    bool replied;
    bool queried;
    bool pinged;
    bool conforming; /* BEP 42: the ID fits the address (or the address is exempt) */
    uint8_t fails;   /* queries in a row without an answer */
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
    int family;
    size_t node_len; /* compact node info of the family */
    struct addr own[DHT_TABLE_OWN_ADDRS];
    size_t nown;
    struct dht_table_bucket *buckets;
    size_t nbuckets;
};

/* True when then_ms lies within window_ms before now_ms; a clock that went backwards counts
 * as "just now". */
bool dht_table_recent(uint64_t then_ms, uint64_t now_ms, uint64_t window_ms);

/* Where an entry stands (see dht_table.h for good and bad). */
bool dht_table_entry_bad(const struct dht_table_entry *e);
bool dht_table_entry_good(const struct dht_table_entry *e, uint64_t now_ms);

/* The bucket an ID falls in. */
size_t dht_table_index(const struct dht_table *t, const uint8_t id[KRPC_ID_LEN]);

/* The index of the entry with this ID in list[0..n), or n when there is none. */
size_t dht_table_find_id(const struct dht_table_entry *list, size_t n,
                         const uint8_t id[KRPC_ID_LEN]);

#endif
