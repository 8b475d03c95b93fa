#include "zbase32.h"

#include <errno.h>

/* The z-base32 alphabet (Zooko Wilcox-O'Hearn, "human-oriented base-32 encoding", 2.2). */
static const char zbase32_alphabet[32] = "ybndrfg8ejkmcpqxot1uwisza345h769";

/* Each character's value plus one, either case; 0 for a character outside the alphabet. */
static const uint8_t zbase32_values[256] = {
    ['y'] = 1,  ['Y'] = 1,  ['b'] = 2,  ['B'] = 2,  ['n'] = 3,  ['N'] = 3,  ['d'] = 4,  ['D'] = 4,
    ['r'] = 5,  ['R'] = 5,  ['f'] = 6,  ['F'] = 6,  ['g'] = 7,  ['G'] = 7,  ['8'] = 8,  ['e'] = 9,
    ['E'] = 9,  ['j'] = 10, ['J'] = 10, ['k'] = 11, ['K'] = 11, ['m'] = 12, ['M'] = 12, ['c'] = 13,
    ['C'] = 13, ['p'] = 14, ['P'] = 14, ['q'] = 15, ['Q'] = 15, ['x'] = 16, ['X'] = 16, ['o'] = 17,
    ['O'] = 17, ['t'] = 18, ['T'] = 18, ['1'] = 19, ['u'] = 20, ['U'] = 20, ['w'] = 21, ['W'] = 21,
    ['i'] = 22, ['I'] = 22, ['s'] = 23, ['S'] = 23, ['z'] = 24, ['Z'] = 24, ['a'] = 25, ['A'] = 25,
    ['3'] = 26, ['4'] = 27, ['5'] = 28, ['h'] = 29, ['H'] = 29, ['7'] = 30, ['6'] = 31, ['9'] = 32,
};

/* Value of a character, either case, or -1. */
static int zbase32_value(char c)
{
    return (int)zbase32_values[(uint8_t)c] - 1;
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
