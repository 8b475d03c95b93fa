#include "unit.h"

#include <ctype.h>

int unit_failures_in_test;

int unit_run(const char *suite, const struct unit_test *tests, size_t n)
{
    size_t passed = 0, failed = 0;

    for (size_t i = 0; i < n; i++) {
        unit_failures_in_test = 0;
        tests[i].fn();
        if (unit_failures_in_test == 0) {
            passed++;
        } else {
            failed++;
            fprintf(stderr, "FAIL %s: %s\n", suite, tests[i].name);
        }
    }
    printf("%s: %zu passed, %zu failed\n", suite, passed, failed);
    return failed == 0 ? 0 : 1;
}

static int unit_nibble(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = tolower(c);
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

int unit_hex(const char *hex, unsigned char *out, size_t cap)
{
    size_t len = 0;
    int hi = -1;

    for (; *hex != '\0'; hex++) {
        if (isspace((unsigned char)*hex)) {
            continue;
        }
        int v = unit_nibble((unsigned char)*hex);
        if (v < 0) {
            return -1;
        }
        if (hi < 0) {
            hi = v;
            continue;
        }
        if (len >= cap) {
            return -1;
        }
        out[len++] = (unsigned char)(hi << 4 | v);
        hi = -1;
    }
    return hi < 0 ? (int)len : -1;
}
