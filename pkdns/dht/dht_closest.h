/* The closest-set of a lookup: up to DHT_CLOSEST_MAX candidates sorted by XOR distance to the
 * target, each with where its request stands and the write token it gave. A candidate may
 * start without an ID (a bootstrap address); such candidates sort first until they answer.
 *
 * The "window" is the first k candidates that are still live (neither failed nor slow to
 * answer): the lookup asks within it, and has converged when everything in it has answered. */
#ifndef PK_DHT_CLOSEST_H
#define PK_DHT_CLOSEST_H

#include "dht_contact.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DHT_CLOSEST_MAX 32       /* ours: candidates a lookup keeps */
#define DHT_CLOSEST_TOKEN_MAX 64 /* ours: longer write tokens are not kept */

enum dht_closest_state {
    DHT_CLOSEST_NEW,      /* not asked yet */
    DHT_CLOSEST_ASKED,    /* request in flight */
    DHT_CLOSEST_SLOW,     /* past the soft timeout; an answer may still come */
    DHT_CLOSEST_ANSWERED, /* answered */
    DHT_CLOSEST_FAILED,   /* no answer, an error, or not to be asked */
};

struct dht_closest_entry {
    struct dht_contact c;
    bool has_id;
    uint8_t state; /* enum dht_closest_state */
    uint8_t token_len;
    uint8_t token[DHT_CLOSEST_TOKEN_MAX];
    uint8_t put_state; /* the lookup's, for the second phase of a put */
};

struct dht_closest {
    uint8_t target[KRPC_ID_LEN];
    struct dht_closest_entry e[DHT_CLOSEST_MAX];
    size_t n;
};

/* Empties the set and sets its target. */
void dht_closest_init(struct dht_closest *s, const uint8_t target[KRPC_ID_LEN]);

/* Adds c as a new candidate (has_id false: c->id is unknown). When the set is full the
 * farthest candidate not in flight gives way to a closer one. Returns 0, -EEXIST when the ID
 * or the address is there already, -ENOSPC when c is not closer than what is kept. */
int dht_closest_add(struct dht_closest *s, const struct dht_contact *c, bool has_id);

/* The candidate at address a, or NULL. */
struct dht_closest_entry *dht_closest_find(struct dht_closest *s, const struct addr *a);

/* Gives candidate e the ID it answered with and moves it to its place. Returns the entry's
 * new address, or NULL when another candidate has that ID (e is then dropped). */
struct dht_closest_entry *dht_closest_set_id(struct dht_closest *s, struct dht_closest_entry *e,
                                             const uint8_t id[KRPC_ID_LEN]);

/* Index one past the k-th live candidate (or the set's size when there are fewer). */
size_t dht_closest_window(const struct dht_closest *s, size_t k);

/* True when the first k live candidates have all answered, or there are fewer and none of
 * them is waiting for a request or an answer (slow ones included). */
bool dht_closest_converged(const struct dht_closest *s, size_t k);

/* Candidates in a state, counted. */
size_t dht_closest_count(const struct dht_closest *s, enum dht_closest_state state);

/* Copies the closest candidates that answered (up to n) into out; returns how many. */
size_t dht_closest_answered(const struct dht_closest *s, struct dht_contact *out, size_t n);

#endif
