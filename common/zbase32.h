/* z-base32 (Zooko's human-oriented base-32, as pkarr writes public keys): 5 bits per
 * character, most significant first, alphabet ybndrfg8ejkmcpqxot1uwisza345h769. No I/O. */
#ifndef PK_ZBASE32_H
#define PK_ZBASE32_H

#include <stddef.h>
#include <stdint.h>

/* Characters needed for n bytes, without the terminating NUL. */
#define ZBASE32_ENCODED_LEN(n) (((n)*8 + 4) / 5)

/* Bytes that len characters decode to (the leftover bits are padding). */
#define ZBASE32_DECODED_LEN(len) ((len)*5 / 8)

/* Writes the z-base32 text of in[0..n) and a NUL into out. Returns the text length, or
 * -ENOSPC when cap is smaller than ZBASE32_ENCODED_LEN(n) + 1. */
int zbase32_encode(const uint8_t *in, size_t n, char *out, size_t cap);

/* Decodes len characters (either case) into out. Returns the byte count, or -EINVAL for a
 * character outside the alphabet, non-zero padding bits or a length no byte string encodes
 * to (1, 3, 6 mod 8), -ENOSPC when out is too small. */
int zbase32_decode(const char *in, size_t len, uint8_t *out, size_t cap);

#endif
