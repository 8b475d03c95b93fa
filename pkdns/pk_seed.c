#include "pk_seed.h"

#include <ctype.h>
#include <errno.h>
#include <sodium.h>

#include "zbase32.h"

_Static_assert(PK_SEED_LEN == crypto_sign_SEEDBYTES, "an ed25519 seed");

#define PK_SEED_ZBASE32_LEN 52 /* 32 bytes in z-base32 */

int pk_seed_parse(const char *text, size_t len, uint8_t seed[PK_SEED_LEN])
{
    size_t bin_len;

    while (len > 0 && isspace((unsigned char)text[0])) {
        text++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)text[len - 1])) {
        len--;
    }
    if (len == PK_SEED_ZBASE32_LEN) {
        return zbase32_decode(text, len, seed, PK_SEED_LEN) == PK_SEED_LEN ? 0 : -EINVAL;
    }
    if (len != PK_SEED_HEX_LEN ||
        sodium_hex2bin(seed, PK_SEED_LEN, text, len, NULL, &bin_len, NULL) != 0 ||
        bin_len != PK_SEED_LEN) {
        return -EINVAL;
    }
    return 0;
}

void pk_seed_to_hex(const uint8_t seed[PK_SEED_LEN], char out[PK_SEED_HEX_LEN + 1])
{
    sodium_bin2hex(out, PK_SEED_HEX_LEN + 1, seed, PK_SEED_LEN);
}

void pk_seed_keypair(const uint8_t seed[PK_SEED_LEN], uint8_t public_key[PK_PACKET_KEY_LEN],
                     uint8_t secret_key[PK_PACKET_SECRET_LEN])
{
    crypto_sign_seed_keypair(public_key, secret_key, seed);
}
