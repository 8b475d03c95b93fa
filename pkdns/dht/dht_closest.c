#include "dht_closest.h"

#include <errno.h>
#include <string.h>

void dht_closest_init(struct dht_closest *s, const uint8_t target[KRPC_ID_LEN])
{
    memset(s, 0, sizeof(*s));
    memcpy(s->target, target, KRPC_ID_LEN);
}

/* True when a sorts before b: candidates without an ID first, then by distance. */
static bool dht_closest_before(const struct dht_closest *s, const struct dht_contact *a,
                               bool a_has_id, const struct dht_closest_entry *b)
{
    if (!a_has_id || !b->has_id) {
        return !a_has_id && b->has_id;
    }
    return dht_contact_cmp(s->target, a->id, b->c.id) < 0;
}

static bool dht_closest_in_flight(const struct dht_closest_entry *e)
{
    return e->state == DHT_CLOSEST_ASKED || e->state == DHT_CLOSEST_SLOW;
}

static bool dht_closest_known(const struct dht_closest *s, const struct dht_contact *c, bool has_id)
{
    for (size_t i = 0; i < s->n; i++) {
        const struct dht_closest_entry *e = &s->e[i];
        if (addr_equal(&e->c.addr, &c->addr)) {
            return true;
        }
        if (has_id && e->has_id && memcmp(e->c.id, c->id, KRPC_ID_LEN) == 0) {
            return true;
        }
    }
    return false;
}

static void dht_closest_remove(struct dht_closest *s, size_t i)
{
    memmove(&s->e[i], &s->e[i + 1], (s->n - i - 1) * sizeof(s->e[0]));
    s->n--;
}

/* Frees a place in a full set: the farthest candidate not in flight that sorts after c. */
static int dht_closest_make_room(struct dht_closest *s, const struct dht_contact *c, bool has_id)
{
    for (size_t i = s->n; i-- > 0;) {
        if (!dht_closest_before(s, c, has_id, &s->e[i])) {
            return -ENOSPC;
        }
        if (!dht_closest_in_flight(&s->e[i])) {
            dht_closest_remove(s, i);
            return 0;
        }
    }
    return -ENOSPC;
}

/* Puts a filled-in entry at its sorted place; there is room. Returns its index. */
static size_t dht_closest_place(struct dht_closest *s, const struct dht_closest_entry *entry)
{
    size_t pos = s->n;

    while (pos > 0 && dht_closest_before(s, &entry->c, entry->has_id, &s->e[pos - 1])) {
        pos--;
    }
    memmove(&s->e[pos + 1], &s->e[pos], (s->n - pos) * sizeof(s->e[0]));
    s->e[pos] = *entry;
    s->n++;
    return pos;
}

int dht_closest_add(struct dht_closest *s, const struct dht_contact *c, bool has_id)
{
    struct dht_closest_entry entry;

    if (dht_closest_known(s, c, has_id)) {
        return -EEXIST;
    }
    if (s->n == DHT_CLOSEST_MAX && dht_closest_make_room(s, c, has_id) < 0) {
        return -ENOSPC;
    }
    memset(&entry, 0, sizeof(entry));
    entry.c = *c;
    entry.has_id = has_id;
    entry.state = DHT_CLOSEST_NEW;
    dht_closest_place(s, &entry);
    return 0;
}

struct dht_closest_entry *dht_closest_find(struct dht_closest *s, const struct addr *a)
{
    for (size_t i = 0; i < s->n; i++) {
        if (addr_equal(&s->e[i].c.addr, a)) {
            return &s->e[i];
        }
    }
    return NULL;
}

struct dht_closest_entry *dht_closest_set_id(struct dht_closest *s, struct dht_closest_entry *e,
                                             const uint8_t id[KRPC_ID_LEN])
{
    struct dht_closest_entry moved = *e;
    size_t at = (size_t)(e - s->e);

    if (moved.has_id && memcmp(moved.c.id, id, KRPC_ID_LEN) == 0) {
        return e;
    }
    dht_closest_remove(s, at);
    for (size_t i = 0; i < s->n; i++) {
        if (s->e[i].has_id && memcmp(s->e[i].c.id, id, KRPC_ID_LEN) == 0) {
            return NULL;
        }
    }
    memcpy(moved.c.id, id, KRPC_ID_LEN);
    moved.has_id = true;
    return &s->e[dht_closest_place(s, &moved)];
}

static bool dht_closest_live(const struct dht_closest_entry *e)
{
    return e->state != DHT_CLOSEST_SLOW && e->state != DHT_CLOSEST_FAILED;
}

size_t dht_closest_window(const struct dht_closest *s, size_t k)
{
    size_t live = 0;

    for (size_t i = 0; i < s->n; i++) {
        if (dht_closest_live(&s->e[i]) && ++live == k) {
            return i + 1;
        }
    }
    return s->n;
}

bool dht_closest_converged(const struct dht_closest *s, size_t k)
{
    size_t live = 0;
    bool slow = false;

    for (size_t i = 0; i < s->n && live < k; i++) {
        const struct dht_closest_entry *e = &s->e[i];
        if (e->state == DHT_CLOSEST_SLOW) {
            slow = true;
        }
        if (!dht_closest_live(e)) {
            continue;
        }
        if (e->state != DHT_CLOSEST_ANSWERED) {
            return false;
        }
        live++;
    }
    return live == k || !slow;
}

size_t dht_closest_count(const struct dht_closest *s, enum dht_closest_state state)
{
    size_t count = 0;

    for (size_t i = 0; i < s->n; i++) {
        count += s->e[i].state == state ? 1 : 0;
    }
    return count;
}

size_t dht_closest_answered(const struct dht_closest *s, struct dht_contact *out, size_t n)
{
    size_t found = 0;

    for (size_t i = 0; i < s->n && found < n; i++) {
        if (s->e[i].state == DHT_CLOSEST_ANSWERED && s->e[i].has_id) {
            out[found++] = s->e[i].c;
        }
    }
    return found;
}
