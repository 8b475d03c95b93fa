#include "dht_token.h"

#include <sodium.h>
#include <string.h>

_Static_assert(DHT_TOKEN_SECRET_LEN == crypto_shorthash_KEYBYTES, "SipHash takes a 16-byte key");
_Static_assert(DHT_TOKEN_LEN == crypto_shorthash_BYTES, "SipHash gives 8 bytes");

void dht_token_init(struct dht_token *tok, uint64_t now_ms)
{
    randombytes_buf(tok->current, sizeof(tok->current));
    randombytes_buf(tok->previous, sizeof(tok->previous));
    tok->rotated_ms = now_ms;
}

/* Moves to a new secret for each period that has passed; after two or more, neither old secret
 * survives. A clock that went backwards leaves the secrets alone. */
static void dht_token_rotate(struct dht_token *tok, uint64_t now_ms)
{
    uint64_t periods;

    if (now_ms < tok->rotated_ms || now_ms - tok->rotated_ms < DHT_TOKEN_ROTATE_MS) {
        return;
    }
    periods = (now_ms - tok->rotated_ms) / DHT_TOKEN_ROTATE_MS;
    if (periods == 1) {
        memcpy(tok->previous, tok->current, sizeof(tok->previous));
    } else {
        randombytes_buf(tok->previous, sizeof(tok->previous));
    }
    randombytes_buf(tok->current, sizeof(tok->current));
    tok->rotated_ms += periods * DHT_TOKEN_ROTATE_MS;
}

static void dht_token_hash(const uint8_t secret[DHT_TOKEN_SECRET_LEN], const uint8_t *ip,
                           size_t ip_len, uint8_t out[DHT_TOKEN_LEN])
{
    crypto_shorthash(out, ip, ip_len, secret);
}

void dht_token_make(struct dht_token *tok, const uint8_t *ip, size_t ip_len, uint64_t now_ms,
                    uint8_t out[DHT_TOKEN_LEN])
{
    dht_token_rotate(tok, now_ms);
    dht_token_hash(tok->current, ip, ip_len, out);
}

bool dht_token_check(struct dht_token *tok, const uint8_t *ip, size_t ip_len, const uint8_t *token,
                     size_t token_len, uint64_t now_ms)
{
    uint8_t expected[DHT_TOKEN_LEN];

    if (token_len != DHT_TOKEN_LEN) {
        return false;
    }
    dht_token_rotate(tok, now_ms);
    dht_token_hash(tok->current, ip, ip_len, expected);
    if (sodium_memcmp(expected, token, DHT_TOKEN_LEN) == 0) {
        return true;
    }
    dht_token_hash(tok->previous, ip, ip_len, expected);
    return sodium_memcmp(expected, token, DHT_TOKEN_LEN) == 0;
}
