#include "unit.h"
#include "zbase32.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

/* Vectors from the shared test data (vectors.md, "Keys and z-base32"). */
#define CODEC_HEX "00443214c74254b635cf84653a56d7c675be77df"
#define CODEC_Z32 "ybndrfg8ejkmcpqxot1uwisza345h769"

static void check_round_trip(const char *hex, const char *z32)
{
    uint8_t bytes[64], decoded[64];
    char text[128];
    int n = unit_hex(hex, bytes, sizeof(bytes));

    CHECK(n > 0);
    CHECK_INT(zbase32_encode(bytes, (size_t)n, text, sizeof(text)), (int)strlen(z32));
    CHECK_STR(text, z32);
    CHECK_INT(zbase32_decode(z32, strlen(z32), decoded, sizeof(decoded)), n);
    CHECK_MEM(decoded, bytes, (size_t)n);
}

static void test_codec_vector_spells_the_alphabet(void)
{
    check_round_trip(CODEC_HEX, CODEC_Z32);
}

static void test_peter_encodes_to_qb1ze3m1(void)
{
    uint8_t out[8];
    char text[16];

    CHECK_INT(zbase32_encode((const uint8_t *)"peter", 5, text, sizeof(text)), 8);
    CHECK_STR(text, "qb1ze3m1");
    CHECK_INT(zbase32_decode("qb1ze3m1", 8, out, sizeof(out)), 5);
    CHECK_MEM(out, "peter", 5);
}

static void test_keys_and_seeds_round_trip(void)
{
    check_round_trip("3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29",
                     "8pinxxgqs41n4aididenw5apqp1urfmzdztr8jt4abrkdn435ewo");
    check_round_trip("01b467a3b7913ab27a04a8edf2f3fb074cfe0ecf4babe108d67be3853b0f26c5",
                     "yg4gxe7z1r7mr6orids9fh95y7gxhdsxjqi6nngsxxtakqaxr5no");
    check_round_trip("c654c84bb8f2dd8a0fe9450d4aa483f68c191164412576c5e6a911d0ce655678",
                     "a3kco17a6mqawd9jewgwijrd64gb1rmrer1zptxgire7buufk3hy");
    check_round_trip("f28a894f69039e6f6b48714ca931baa7c09bd1db9105291620b4e1e7a9acf682",
                     "6kfe1u5jyqxg644eqfgk1cp4w9yjzwq51rn11ftysuo6xkpc64by");
    check_round_trip("3bb836eec74a56f5bb0bc85a6faae8375e78a2f19d08533e9baa85fbec3196e6",
                     "8qhdp5s8jjmxmqam3bpg9kzeg7x8teztuwrfgxw5ikn9z5bt15uy");
}

static void test_decode_ignores_case(void)
{
    uint8_t lower[32], upper[32];

    CHECK_INT(zbase32_decode("8pinxxgqs41n4aididenw5apqp1urfmzdztr8jt4abrkdn435ewo", 52, lower,
                             sizeof(lower)),
              32);
    CHECK_INT(zbase32_decode("8PINXXGQS41N4AIDIDENW5APQP1URFMZDZTR8JT4ABRKDN435EWO", 52, upper,
                             sizeof(upper)),
              32);
    CHECK_MEM(lower, upper, 32);
}

static void test_decode_rejects_characters_outside_the_alphabet(void)
{
    uint8_t out[8];

    /* 0, l, v and 2 are the letters z-base32 leaves out. */
    CHECK_INT(zbase32_decode("qb1ze3m0", 8, out, sizeof(out)), -EINVAL);
    CHECK_INT(zbase32_decode("qb1ze3ml", 8, out, sizeof(out)), -EINVAL);
    CHECK_INT(zbase32_decode("qb1ze3mv", 8, out, sizeof(out)), -EINVAL);
    CHECK_INT(zbase32_decode("qb1ze3m2", 8, out, sizeof(out)), -EINVAL);
    CHECK_INT(zbase32_decode("qb1ze-m1", 8, out, sizeof(out)), -EINVAL);
}

/* Every byte value in one place of an 8-character text: only the 32 characters of the
 * alphabet, in either case, decode, each to its own value. */
static void test_decode_takes_exactly_the_alphabet_in_either_case(void)
{
    static const char alphabet[] = "ybndrfg8ejkmcpqxot1uwisza345h769";
    unsigned accepted = 0;

    for (int c = 0; c < 256; c++) {
        char text[8] = {'y', 'y', 'y', 'y', 'y', 'y', (char)c, 'y'};
        uint8_t out[5];
        int rc = zbase32_decode(text, sizeof(text), out, sizeof(out));
        const char *at = c != 0 ? strchr(alphabet, tolower(c)) : NULL;
        if (at == NULL) {
            CHECK_INT(rc, -EINVAL);
            continue;
        }
        CHECK_INT(rc, 5);
        /* Character 7 of 8 holds bits 30..34 of 40: the value sits in out[3] and out[4]. */
        CHECK_INT(((out[3] & 0x03) << 3) | (out[4] >> 5), (int)(at - alphabet));
        accepted++;
    }
    CHECK_INT(accepted, 32 + 24); /* 24 letters, also in upper case, and 8 digits */
}

static void test_decode_rejects_nonzero_padding_bits(void)
{
    uint8_t out[32];

    /* The last character of a 32-byte key carries 1 data bit and 4 padding bits: 'o' (16,
     * 10000) leaves them zero, 'e' (8, 01000) and 'b' (1, 00001) do not. */
    CHECK_INT(zbase32_decode("8pinxxgqs41n4aididenw5apqp1urfmzdztr8jt4abrkdn435ewo", 52, out,
                             sizeof(out)),
              32);
    CHECK_INT(zbase32_decode("8pinxxgqs41n4aididenw5apqp1urfmzdztr8jt4abrkdn435ewe", 52, out,
                             sizeof(out)),
              -EINVAL);
    CHECK_INT(zbase32_decode("8pinxxgqs41n4aididenw5apqp1urfmzdztr8jt4abrkdn435ewb", 52, out,
                             sizeof(out)),
              -EINVAL);
}

static void test_decode_rejects_lengths_nothing_encodes_to(void)
{
    uint8_t out[8];

    CHECK_INT(zbase32_decode("y", 1, out, sizeof(out)), -EINVAL);
    CHECK_INT(zbase32_decode("yyy", 3, out, sizeof(out)), -EINVAL);
    CHECK_INT(zbase32_decode("yyyyyy", 6, out, sizeof(out)), -EINVAL);
    CHECK_INT(zbase32_decode("yy", 2, out, sizeof(out)), 1);
    CHECK_INT(zbase32_decode("", 0, out, sizeof(out)), 0);
}

static void test_buffers_too_small_are_refused(void)
{
    uint8_t out[4];
    char text[8];

    CHECK_INT(zbase32_encode((const uint8_t *)"peter", 5, text, sizeof(text)), -ENOSPC);
    CHECK_INT(zbase32_decode("qb1ze3m1", 8, out, sizeof(out)), -ENOSPC);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_codec_vector_spells_the_alphabet),
        UNIT(test_peter_encodes_to_qb1ze3m1),
        UNIT(test_keys_and_seeds_round_trip),
        UNIT(test_decode_ignores_case),
        UNIT(test_decode_rejects_characters_outside_the_alphabet),
        UNIT(test_decode_takes_exactly_the_alphabet_in_either_case),
        UNIT(test_decode_rejects_nonzero_padding_bits),
        UNIT(test_decode_rejects_lengths_nothing_encodes_to),
        UNIT(test_buffers_too_small_are_refused),
    };
    return unit_run("zbase32", tests, sizeof(tests) / sizeof(tests[0]));
}
