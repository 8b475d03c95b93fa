#include "random.h"
#include "unit.h"

#include <stdbool.h>

/* Draws per bound in the range checks: enough that a result at or above the bound, were it
 * possible, would show up. */
#define RANGE_DRAWS 20000

/* Bigger than the 4096-byte pool in random.c, so every fill below crosses at least two
 * refills wherever the pool happens to stand. */
#define FILL_BYTES 10000

/* A run of zeros this long has probability 2^-128 per position in a keystream; a wiped pool
 * handed out by mistake shows up as thousands of them. */
#define ZERO_RUN_LIMIT 16

static bool draws_stay_below(uint32_t bound)
{
    for (int i = 0; i < RANGE_DRAWS; i++) {
        if (random_uniform(bound) >= bound) {
            return false;
        }
    }
    return true;
}

static void test_uniform_with_bound_1_is_always_0(void)
{
    for (int i = 0; i < 1000; i++) {
        CHECK_INT(random_uniform(1), 0);
    }
}

static void test_uniform_with_bound_0_is_always_0(void)
{
    for (int i = 0; i < 1000; i++) {
        CHECK_INT(random_uniform(0), 0);
    }
}

static void test_uniform_stays_below_2(void)
{
    CHECK(draws_stay_below(2));
}

static void test_uniform_stays_below_3(void)
{
    CHECK(draws_stay_below(3));
}

static void test_uniform_stays_below_1000(void)
{
    CHECK(draws_stay_below(1000));
}

/* 2^31 + 1 is the worst case for rejection sampling: almost half of all 32-bit values must be
 * thrown away, and a plain modulo would return small values twice as often. */
static void test_uniform_stays_below_2_pow_31_plus_1(void)
{
    CHECK(draws_stay_below(0x80000001u));
}

static void test_uniform_with_large_bound_reaches_both_halves(void)
{
    const uint32_t bound = 0x80000001u;
    int low = 0, high = 0;

    for (int i = 0; i < 1000; i++) {
        if (random_uniform(bound) < bound / 2) {
            low++;
        } else {
            high++;
        }
    }
    CHECK(low > 300);
    CHECK(high > 300);
}

/* Each of the six faces over 60000 draws: expected 10000, standard deviation about 91, so
 * the +-1000 window is eleven deviations wide. */
static void test_uniform_6_is_roughly_even(void)
{
    unsigned counts[6] = {0};

    for (int i = 0; i < 60000; i++) {
        uint32_t v = random_uniform(6);
        if (v < 6) {
            counts[v]++;
        }
    }
    for (int face = 0; face < 6; face++) {
        CHECK(counts[face] >= 9000);
        CHECK(counts[face] <= 11000);
    }
}

static size_t longest_zero_run(const uint8_t *buf, size_t len)
{
    size_t run = 0, longest = 0;

    for (size_t i = 0; i < len; i++) {
        run = buf[i] == 0 ? run + 1 : 0;
        if (run > longest) {
            longest = run;
        }
    }
    return longest;
}

static bool every_byte_value_occurs(const uint8_t *buf, size_t len)
{
    bool seen[256] = {false};

    for (size_t i = 0; i < len; i++) {
        seen[buf[i]] = true;
    }
    for (int v = 0; v < 256; v++) {
        if (!seen[v]) {
            return false;
        }
    }
    return true;
}

static void test_bytes_in_one_call_across_refills_have_no_zero_run(void)
{
    static uint8_t buf[FILL_BYTES];

    random_bytes(buf, sizeof(buf));
    CHECK(longest_zero_run(buf, sizeof(buf)) < ZERO_RUN_LIMIT);
}

static void test_bytes_in_one_call_across_refills_take_every_value(void)
{
    static uint8_t buf[FILL_BYTES];

    random_bytes(buf, sizeof(buf));
    CHECK(every_byte_value_occurs(buf, sizeof(buf)));
}

/* 13-byte pieces do not divide 4096, so some piece straddles each pool refill. */
static void test_bytes_in_small_pieces_across_refills_have_no_zero_run(void)
{
    static uint8_t buf[FILL_BYTES];
    const size_t piece = 13;

    for (size_t off = 0; off < sizeof(buf); off += piece) {
        size_t n = sizeof(buf) - off < piece ? sizeof(buf) - off : piece;
        random_bytes(buf + off, n);
    }
    CHECK(longest_zero_run(buf, sizeof(buf)) < ZERO_RUN_LIMIT);
}

static void test_bytes_with_zero_length_writes_nothing(void)
{
    uint8_t buf[4] = {0xa5, 0xa5, 0xa5, 0xa5};

    random_bytes(buf, 0);
    CHECK_MEM(buf, ((const uint8_t[]){0xa5, 0xa5, 0xa5, 0xa5}), sizeof(buf));
}

static void test_consecutive_u32_differ(void)
{
    int differing = 0;

    for (int i = 0; i < 100; i++) {
        uint32_t a = random_u32();
        uint32_t b = random_u32();
        if (a != b) {
            differing++;
        }
    }
    CHECK(differing > 0);
}

static void test_consecutive_u16_differ(void)
{
    int differing = 0;

    for (int i = 0; i < 100; i++) {
        uint16_t a = random_u16();
        uint16_t b = random_u16();
        if (a != b) {
            differing++;
        }
    }
    CHECK(differing > 0);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_uniform_with_bound_1_is_always_0),
        UNIT(test_uniform_with_bound_0_is_always_0),
        UNIT(test_uniform_stays_below_2),
        UNIT(test_uniform_stays_below_3),
        UNIT(test_uniform_stays_below_1000),
        UNIT(test_uniform_stays_below_2_pow_31_plus_1),
        UNIT(test_uniform_with_large_bound_reaches_both_halves),
        UNIT(test_uniform_6_is_roughly_even),
        UNIT(test_bytes_in_one_call_across_refills_have_no_zero_run),
        UNIT(test_bytes_in_one_call_across_refills_take_every_value),
        UNIT(test_bytes_in_small_pieces_across_refills_have_no_zero_run),
        UNIT(test_bytes_with_zero_length_writes_nothing),
        UNIT(test_consecutive_u32_differ),
        UNIT(test_consecutive_u16_differ),
    };
    return unit_run("random", tests, sizeof(tests) / sizeof(tests[0]));
}
