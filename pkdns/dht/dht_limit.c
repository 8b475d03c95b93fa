#include "dht_limit.h"

#include "dht_contact.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(DHT_LIMIT_KEY_LEN == crypto_shorthash_KEYBYTES, "SipHash takes a 16-byte key");

#define DHT_LIMIT_WAYS 4      /* slots an IP may use: one set */
#define DHT_LIMIT_MILLI 1000u /* tokens are counted in thousandths */
#define DHT_LIMIT_SLOTS_MAX (1u << 20)

struct dht_limit_slot {
    uint8_t ip[16];
    uint8_t ip_len; /* 0: free */
    uint64_t tokens_milli;
    uint64_t updated_ms;
};

struct dht_limit {
    uint64_t rate_per_s;
    uint64_t burst_milli;
    size_t nsets; /* a power of two */
    uint8_t key[DHT_LIMIT_KEY_LEN];
    struct dht_limit_slot *slots;
};

int dht_limit_new(unsigned rate_per_s, unsigned burst, size_t slots,
                  const uint8_t key[DHT_LIMIT_KEY_LEN], struct dht_limit **out)
{
    struct dht_limit *l;
    size_t nsets = 1;

    *out = NULL;
    if (rate_per_s == 0 || burst == 0 || slots > DHT_LIMIT_SLOTS_MAX) {
        return -EINVAL;
    }
    while (nsets * DHT_LIMIT_WAYS < slots) {
        nsets *= 2;
    }
    l = calloc(1, sizeof(*l));
    if (l == NULL) {
        return -ENOMEM;
    }
    l->slots = calloc(nsets * DHT_LIMIT_WAYS, sizeof(*l->slots));
    if (l->slots == NULL) {
        free(l);
        return -ENOMEM;
    }
    l->rate_per_s = rate_per_s;
    l->burst_milli = (uint64_t)burst * DHT_LIMIT_MILLI;
    l->nsets = nsets;
    memcpy(l->key, key, DHT_LIMIT_KEY_LEN);
    *out = l;
    return 0;
}

void dht_limit_free(struct dht_limit *l)
{
    if (l == NULL) {
        return;
    }
    free(l->slots);
    free(l);
}

/* Adds the tokens earned since the slot was last used; rate_per_s tokens a second are
 * rate_per_s thousandths a millisecond. */
static void dht_limit_refill(const struct dht_limit *l, struct dht_limit_slot *s, uint64_t now_ms)
{
    uint64_t elapsed;

    if (now_ms <= s->updated_ms) {
        return;
    }
    elapsed = now_ms - s->updated_ms;
    s->updated_ms = now_ms;
    if (elapsed >= l->burst_milli / l->rate_per_s + 1) {
        s->tokens_milli = l->burst_milli;
        return;
    }
    s->tokens_milli += elapsed * l->rate_per_s;
    if (s->tokens_milli > l->burst_milli) {
        s->tokens_milli = l->burst_milli;
    }
}

/* The slot of this IP, or the one it takes over: a free one, else the fullest bucket, whose
 * owner has been the least active lately. */
static struct dht_limit_slot *dht_limit_slot(struct dht_limit *l, const uint8_t *ip, size_t ip_len,
                                             uint64_t now_ms)
{
    uint8_t hash[crypto_shorthash_BYTES];
    struct dht_limit_slot *set, *victim = NULL;
    uint64_t h = 0;

    crypto_shorthash(hash, ip, ip_len, l->key);
    for (size_t i = 0; i < sizeof(hash); i++) {
        h = (h << 8) | hash[i];
    }
    set = &l->slots[(h & (l->nsets - 1)) * DHT_LIMIT_WAYS];
    for (size_t i = 0; i < DHT_LIMIT_WAYS; i++) {
        struct dht_limit_slot *s = &set[i];
        if (s->ip_len == ip_len && memcmp(s->ip, ip, ip_len) == 0) {
            dht_limit_refill(l, s, now_ms);
            return s;
        }
        if (s->ip_len != 0) {
            dht_limit_refill(l, s, now_ms);
        }
        if (victim == NULL || s->ip_len == 0 ||
            (victim->ip_len != 0 && s->tokens_milli > victim->tokens_milli)) {
            victim = s;
        }
    }
    memset(victim, 0, sizeof(*victim));
    memcpy(victim->ip, ip, ip_len);
    victim->ip_len = (uint8_t)ip_len;
    victim->tokens_milli = l->burst_milli;
    victim->updated_ms = now_ms;
    return victim;
}

bool dht_limit_take(struct dht_limit *l, const struct addr *a, uint64_t now_ms)
{
    struct dht_limit_slot *s;
    const uint8_t *ip;
    size_t ip_len;

    if (!dht_contact_ip_bytes(a, &ip, &ip_len)) {
        return true;
    }
    s = dht_limit_slot(l, ip, ip_len, now_ms);
    if (s->tokens_milli < DHT_LIMIT_MILLI) {
        return false;
    }
    s->tokens_milli -= DHT_LIMIT_MILLI;
    return true;
}
