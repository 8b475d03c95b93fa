#include "zbase32.h"

#include <errno.h>

/* The z-base32 alphabet (Zooko Wilcox-O'Hearn, "human-oriented base-32 encoding", 2.2). */
static const char zbase32_alphabet[32] = "ybndrfg8ejkmcpqxot1uwisza345h769";

/* Value of a character, either case, or -1. */
static int zbase32_value(char c)
{
    if (c >= 'A' && c <= 'Z') {
        c = (char)(c - 'A' + 'a');
    }
    for (int i = 0; i < 32; i++) {
        if (zbase32_alphabet[i] == c) {
            return i;
        }
    }
    return -1;
}

int zbase32_encode(const uint8_t *in, size_t n, char *out, size_t cap)
{
    size_t text_len = ZBASE32_ENCODED_LEN(n);
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t k = 0;

    if (cap < text_len + 1) {
        return -ENOSPC;
    }
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8 | in[i]) & 0xfffu;
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            out[k++] = zbase32_alphabet[(acc >> bits) & 31u];
        }
    }
    if (bits > 0) {
        out[k++] = zbase32_alphabet[(acc << (5 - bits)) & 31u];
    }
    out[k] = '\0';
    return (int)k;
}

int zbase32_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t k = 0;

    if (cap < ZBASE32_DECODED_LEN(len)) {
        return -ENOSPC;
    }
    for (size_t i = 0; i < len; i++) {
        int v = zbase32_value(in[i]);
        if (v < 0) {
            return -EINVAL;
        }
        acc = (acc << 5 | (uint32_t)v) & 0xfffu;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            out[k++] = (uint8_t)(acc >> bits);
        }
    }
    /* The bits left over are padding: a canonical text has fewer than 5 of them, all zero,
     * so each byte string has exactly one spelling (up to case). */
    if (bits >= 5 || (acc & ((1u << bits) - 1)) != 0) {
        return -EINVAL;
    }
    return (int)k;
}
