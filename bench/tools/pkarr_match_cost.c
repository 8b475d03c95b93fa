/* pkarr_match_cost: what it costs the router to tell whether a name ends in a pkarr key, per
 * name, for names it has not seen lately and for one name asked again and again.
 *
 * Three matchers on "www.<key>" with fresh ed25519 public keys (from libsodium, as pkarr
 * makes them): the stack's dnsdist regex (POSIX extended, case-insensitive, as dnsdist and
 * the router's `regex` rules run it), pkarr_name_find (libsodium's full curve check, the one
 * pkdns uses) and pkarr_name_find_plausible (the router's `pkarr` rule). Keys are never
 * repeated within a run of the unseen kind, so the per-thread table of verdicts cannot help;
 * the repeated kind shows the table's hit. Each figure is the median of ROUNDS runs, each with
 * keys of its own. Results go to stdout as "matcher kind ns" lines.
 *
 *   pkarr_match_cost [KEYS]      (default 5000 a run; the full check takes about 70 us a key)
 */
#include <regex.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "dns_name.h"
#include "pkarr_name.h"
#include "zbase32.h"

/* tests/data/stack/dnsdist.conf's RegexRule, Lua escapes undone. */
#define STACK_REGEX "^(([^.]+\\.)+)?[ybndrfg8ejkmcpqxot1uwisza345h769]{52}\\.?$"
#define NAME_TEXT_MAX 64
#define ROUNDS 3

struct name {
    char text[NAME_TEXT_MAX];
    uint8_t wire[DNS_NAME_MAX];
    size_t wire_len;
};

enum matcher { MATCH_REGEX, MATCH_FULL, MATCH_PLAUSIBLE };

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void make_name(struct name *n)
{
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    char key[PKARR_KEY_TEXT_LEN + 1];

    crypto_sign_keypair(pk, sk);
    zbase32_encode(pk, sizeof(pk), key, sizeof(key));
    snprintf(n->text, sizeof(n->text), "www.%s", key);
    dns_name_from_text(n->text, n->wire, &n->wire_len);
}

static bool match(enum matcher m, const regex_t *re, const struct name *n)
{
    switch (m) {
    case MATCH_REGEX:
        return regexec(re, n->text, 0, NULL, 0) == 0;
    case MATCH_FULL:
        return pkarr_name_find(n->wire, n->wire_len, NULL, 0, NULL) >= 0;
    default:
        return pkarr_name_find_plausible(n->wire, n->wire_len, NULL, 0, NULL) >= 0;
    }
}

/* Nanoseconds per name over names[0..count), each taken `stride` apart (0: always the
 * first). Every name must match. */
static double cost_ns(enum matcher m, const regex_t *re, const struct name *names, size_t count,
                      size_t stride)
{
    size_t matched = 0;
    double start = now_ns();

    for (size_t i = 0; i < count; i++) {
        matched += match(m, re, &names[i * stride]);
    }
    if (matched != count) {
        fprintf(stderr, "pkarr_match_cost: %zu of %zu names did not match\n", count - matched,
                count);
        exit(1);
    }
    return (now_ns() - start) / (double)count;
}

/* The median of ROUNDS runs of one matcher, unseen (stride 1) or repeated (stride 0); each
 * run has names of its own, `count` from `names`. */
static double median_ns(enum matcher m, const regex_t *re, const struct name *names, size_t count,
                        size_t stride)
{
    double runs[ROUNDS], swap;

    for (size_t r = 0; r < ROUNDS; r++) {
        runs[r] = cost_ns(m, re, &names[r * count], count, stride);
        for (size_t i = r; i > 0 && runs[i] < runs[i - 1]; i--) {
            swap = runs[i], runs[i] = runs[i - 1], runs[i - 1] = swap;
        }
    }
    return runs[ROUNDS / 2];
}

int main(int argc, char **argv)
{
    static const char *const labels[] = {"regex", "full", "plausible"};
    size_t count = argc > 1 ? strtoul(argv[1], NULL, 10) : 5000;
    size_t per_matcher = ROUNDS * count;
    struct name *names;
    regex_t re;

    if (sodium_init() < 0 || count == 0 ||
        regcomp(&re, STACK_REGEX, REG_EXTENDED | REG_ICASE | REG_NOSUB) != 0) {
        fprintf(stderr, "usage: pkarr_match_cost [KEYS]\n");
        return 2;
    }
    names = calloc(3 * per_matcher, sizeof(*names));
    if (names == NULL) {
        return 1;
    }
    for (size_t i = 0; i < 3 * per_matcher; i++) {
        make_name(&names[i]);
    }
    for (int m = MATCH_REGEX; m <= MATCH_PLAUSIBLE; m++) {
        /* Each matcher gets keys of its own, so that no verdict is left from another. */
        const struct name *mine = &names[(size_t)m * per_matcher];
        printf("%s unseen %.0f\n", labels[m], median_ns((enum matcher)m, &re, mine, count, 1));
        printf("%s repeated %.0f\n", labels[m], median_ns((enum matcher)m, &re, mine, count, 0));
    }
    regfree(&re);
    free(names);
    return 0;
}
