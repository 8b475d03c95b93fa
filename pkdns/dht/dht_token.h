/* Write tokens (BEP 5): what a node hands out with get_peers and get responses and demands
 * back with announce_peer and put, so that only a node that can receive at an IP address may
 * store from it. A token is a keyed hash (SipHash, libsodium's crypto_shorthash) of the
 * requester's IP address; the key is a random secret that rotates every 5 minutes, and tokens
 * made with the previous secret stay valid, so a token lives 5 to 10 minutes. */
#ifndef PK_DHT_TOKEN_H
#define PK_DHT_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DHT_TOKEN_LEN 8                     /* bytes of a token we hand out */
#define DHT_TOKEN_ROTATE_MS (5 * 60 * 1000) /* BEP 5: the secret changes every 5 minutes */
#define DHT_TOKEN_SECRET_LEN 16             /* crypto_shorthash_KEYBYTES */

struct dht_token {
    uint8_t current[DHT_TOKEN_SECRET_LEN];
    uint8_t previous[DHT_TOKEN_SECRET_LEN];
    uint64_t rotated_ms; /* start of the period `current` belongs to */
};

/* Draws fresh secrets (libsodium's randombytes; the program has called sodium_init()).
 * `now_ms` starts the first rotation period. */
void dht_token_init(struct dht_token *tok, uint64_t now_ms);

/* Writes into `out` the token for the IP address `ip` (4 or 16 bytes: the address only, never
 * the port), rotating the secret first when its time is up. */
void dht_token_make(struct dht_token *tok, const uint8_t *ip, size_t ip_len, uint64_t now_ms,
                    uint8_t out[DHT_TOKEN_LEN]);

/* True when `token` is what dht_token_make gives `ip` under the current or the previous secret
 * (rotating first when the time is up); compared in constant time. */
bool dht_token_check(struct dht_token *tok, const uint8_t *ip, size_t ip_len, const uint8_t *token,
                     size_t token_len, uint64_t now_ms);

#endif
