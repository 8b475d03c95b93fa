#include "random.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* Keystream handed out between refills; a refill costs one ChaCha20 run, no system call. */
#define RANDOM_POOL_BYTES 4096

/* Rekey from the system generator after this many refills (16 MiB of output), so a state
 * captured once does not reveal the rest of the process's lifetime. */
#define RANDOM_REFILLS_PER_KEY 4096

struct random_state {
    unsigned char key[crypto_stream_chacha20_KEYBYTES];
    uint64_t nonce;
    unsigned refills;
    size_t used;
    unsigned char pool[RANDOM_POOL_BYTES];
};

static _Thread_local struct random_state random_state = {.used = RANDOM_POOL_BYTES};

static void random_refill(struct random_state *s)
{
    unsigned char nonce[crypto_stream_chacha20_NONCEBYTES];

    if (s->refills % RANDOM_REFILLS_PER_KEY == 0) {
        /* sodium_init is idempotent and thread-safe; it must run before randombytes_buf. */
        if (sodium_init() < 0) {
            abort();
        }
        randombytes_buf(s->key, sizeof(s->key));
    }
    s->refills++;
    s->nonce++;
    memcpy(nonce, &s->nonce, sizeof(nonce) < sizeof(s->nonce) ? sizeof(nonce) : sizeof(s->nonce));
    crypto_stream_chacha20(s->pool, sizeof(s->pool), nonce, s->key);
    s->used = 0;
}

void random_bytes(void *buf, size_t n)
{
    struct random_state *s = &random_state;
    unsigned char *out = buf;

    while (n > 0) {
        if (s->used == sizeof(s->pool)) {
            random_refill(s);
        }
        size_t take = sizeof(s->pool) - s->used;
        if (take > n) {
            take = n;
        }
        memcpy(out, s->pool + s->used, take);
        /* Bytes handed out are wiped so a later memory disclosure cannot replay them. */
        sodium_memzero(s->pool + s->used, take);
        s->used += take;
        out += take;
        n -= take;
    }
}

uint16_t random_u16(void)
{
    uint16_t v;
    random_bytes(&v, sizeof(v));
    return v;
}

uint32_t random_u32(void)
{
    uint32_t v;
    random_bytes(&v, sizeof(v));
    return v;
}

uint32_t random_uniform(uint32_t bound)
{
    uint32_t v, floor;

    if (bound < 2) {
        return 0;
    }
    /* Rejection sampling: values below 2^32 mod bound would make low results likelier. */
    floor = (uint32_t)(-bound) % bound;
    do {
        v = random_u32();
    } while (v < floor);
    return v % bound;
}
