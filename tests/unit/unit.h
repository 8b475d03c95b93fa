/* A minimal unit-test harness: each test is a function; CHECK records a failure with its
 * file and line and goes on. unit_run prints one line per failed test and a closing
 * "N passed, N failed" line, and returns the process exit status. */
#ifndef PK_UNIT_H
#define PK_UNIT_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

extern int unit_failures_in_test;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);             \
            unit_failures_in_test++;                                                               \
        }                                                                                          \
    } while (0)

#define CHECK_INT(a, b)                                                                            \
    do {                                                                                           \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                            \
        if (check_a_ != check_b_) {                                                                \
            fprintf(stderr, "  %s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, #a,  \
                    check_a_, #b, check_b_);                                                       \
            unit_failures_in_test++;                                                               \
        }                                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *check_a_ = (a), *check_b_ = (b);                                               \
        if (check_a_ == NULL || check_b_ == NULL || strcmp(check_a_, check_b_) != 0) {             \
            fprintf(stderr, "  %s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a,    \
                    check_a_ ? check_a_ : "(null)", check_b_ ? check_b_ : "(null)");               \
            unit_failures_in_test++;                                                               \
        }                                                                                          \
    } while (0)

#define CHECK_MEM(a, b, len)                                                                       \
    do {                                                                                           \
        if (memcmp((a), (b), (len)) != 0) {                                                        \
            fprintf(stderr, "  %s:%d: %s differs from %s\n", __FILE__, __LINE__, #a, #b);          \
            unit_failures_in_test++;                                                               \
        }                                                                                          \
    } while (0)

typedef void (*unit_fn)(void);

struct unit_test {
    const char *name;
    unit_fn fn;
};

#define UNIT(fn)                                                                                   \
    {                                                                                              \
#fn, fn                                                                                    \
    }

/* Runs every test in `tests` (count `n`); returns 0 when all passed, 1 otherwise. */
int unit_run(const char *suite, const struct unit_test *tests, size_t n);

/* Sends stderr (where log lines go) to a temporary file until unit_capture_end. */
void unit_capture_begin(void);

/* Restores stderr and returns what was written since unit_capture_begin: NUL-terminated, cut
 * at 16 KiB, valid until the next capture. */
const char *unit_capture_end(void);

/* Writes `text` to a new temporary file whose path goes to path[0..cap). Returns 0 or -1. */
int unit_write_temp(const char *text, char *path, size_t cap);

/* True when `log` has a line with "PATH:LINE: " that also contains `what`. */
int unit_logged_at(const char *log, const char *path, int line, const char *what);

/* Decodes hex (whitespace ignored) into out; returns the byte count or -1. */
int unit_hex(const char *hex, unsigned char *out, size_t cap);

#endif
