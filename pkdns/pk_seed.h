/* pkdns-cli seeds: the 32 bytes an ed25519 key pair grows from, written as 64 hex digits (the
 * Rust pkdns-cli since its seeds changed to hex) or 52 z-base32 characters (its released
 * versions). No I/O; the program has called sodium_init(). */
#ifndef PK_SEED_H
#define PK_SEED_H

#include <stddef.h>
#include <stdint.h>

#include "pk_packet.h"

#define PK_SEED_LEN 32     /* RFC 8032 5.1.5: an ed25519 secret key */
#define PK_SEED_HEX_LEN 64 /* its hex form */

/* Reads a seed from text[0..len) (surrounding whitespace, such as a file's last newline, is
 * ignored): 52 characters are z-base32, anything else hex. Returns 0, or -EINVAL. */
int pk_seed_parse(const char *text, size_t len, uint8_t seed[PK_SEED_LEN]);

/* Writes the seed as 64 lowercase hex digits and a NUL into out (PK_SEED_HEX_LEN + 1). */
void pk_seed_to_hex(const uint8_t seed[PK_SEED_LEN], char out[PK_SEED_HEX_LEN + 1]);

/* Derives the key pair: the public key and libsodium's 64-byte secret key. */
void pk_seed_keypair(const uint8_t seed[PK_SEED_LEN], uint8_t public_key[PK_PACKET_KEY_LEN],
                     uint8_t secret_key[PK_PACKET_SECRET_LEN]);

#endif
