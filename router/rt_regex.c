/* The size of a POSIX extended regular expression once glibc has expanded its repetitions,
 * estimated by one pass over the text: each group keeps the nodes of what it holds so far and
 * of its last atom, and a repetition multiplies that atom by the copies it makes. */
#include "rt_regex.h"

#include <stdbool.h>
#include <stddef.h>

/* Far beyond any limit, and small enough that sums of capped values cannot overflow. */
#define RT_REGEX_CAP ((uint64_t)1 << 48)

/* Counts past glibc's RE_DUP_MAX (32767) make regcomp fail; no need to read further. */
#define RT_REGEX_COUNT_MAX 32768u

struct rt_regex_group {
    uint64_t total; /* nodes of the group so far, alternatives included */
    uint64_t last;  /* nodes of its last atom, which a repetition would copy */
};

static uint64_t rt_regex_add(uint64_t a, uint64_t b)
{
    return a + b >= RT_REGEX_CAP ? RT_REGEX_CAP : a + b;
}

static uint64_t rt_regex_mul(uint64_t a, uint64_t b)
{
    return b != 0 && a >= RT_REGEX_CAP / b ? RT_REGEX_CAP : a * b;
}

/* The last atom of g, copied `copies` times, plus the node that ties the copies together. */
static void rt_regex_repeat(struct rt_regex_group *g, uint64_t copies)
{
    uint64_t grown = rt_regex_add(rt_regex_mul(g->last, copies), 1);

    g->total = rt_regex_add(g->total - g->last, grown);
    g->last = grown;
}

static void rt_regex_atom(struct rt_regex_group *g, uint64_t nodes)
{
    g->total = rt_regex_add(g->total, nodes);
    g->last = nodes;
}

/* The end of the bracket expression that starts at p ('['): past its ']', or the string's end. */
static const char *rt_regex_bracket_end(const char *p)
{
    p++;
    if (*p == '^') {
        p++;
    }
    if (*p == ']') {
        p++; /* a ']' first is a member */
    }
    while (*p != '\0' && *p != ']') {
        if (p[0] == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
            char kind = p[1];

            for (p += 2; *p != '\0' && !(p[0] == kind && p[1] == ']'); p++) {
            }
            p += *p != '\0' ? 2 : 0;
            continue;
        }
        p++;
    }
    return *p == ']' ? p + 1 : p;
}

static unsigned rt_regex_count(const char **pp)
{
    const char *p = *pp;
    unsigned n = 0;

    while (*p >= '0' && *p <= '9') {
        if (n < RT_REGEX_COUNT_MAX) {
            n = n * 10 + (unsigned)(*p - '0');
        }
        p++;
    }
    *pp = p;
    return n < RT_REGEX_COUNT_MAX ? n : RT_REGEX_COUNT_MAX;
}

/* The copies an interval at p ('{') makes: n for {n}, m for {n,m} and {,m}, n + 1 for {n,},
 * at least 1. Returns 0 when p starts no interval (then '{' is an ordinary character, or an
 * error regcomp reports). */
static unsigned rt_regex_interval(const char **pp)
{
    const char *p = *pp + 1;
    const char *digits = p;
    unsigned n = rt_regex_count(&p), m;
    bool low = p != digits;

    if (*p == '}' && low) {
        *pp = p + 1;
        return n > 0 ? n : 1;
    }
    if (*p != ',') {
        return 0;
    }
    p++;
    digits = p;
    m = rt_regex_count(&p);
    if (*p != '}' || (!low && p == digits)) {
        return 0;
    }
    *pp = p + 1;
    if (p == digits) {
        m = n + 1;
    }
    return m > 0 ? m : 1;
}

uint64_t rt_regex_nodes(const char *text)
{
    struct rt_regex_group groups[RT_REGEX_DEPTH_MAX + 1] = {{0, 0}};
    size_t depth = 0;
    const char *p = text;

    while (*p != '\0') {
        struct rt_regex_group *g = &groups[depth];
        unsigned copies;

        switch (*p) {
        case '(':
            if (depth == RT_REGEX_DEPTH_MAX) {
                return UINT64_MAX;
            }
            groups[++depth] = (struct rt_regex_group){0, 0};
            p++;
            break;
        case ')':
            p++;
            if (depth == 0) {
                rt_regex_atom(g, 1);
                break;
            }
            depth--;
            rt_regex_atom(&groups[depth], rt_regex_add(g->total, 1));
            break;
        case '|':
            g->total = rt_regex_add(g->total, 1);
            g->last = 0;
            p++;
            break;
        case '*':
        case '?':
            rt_regex_repeat(g, 1); /* no copy: a loop or a way around */
            p++;
            break;
        case '+':
            rt_regex_repeat(g, 2); /* the atom, then a starred copy */
            p++;
            break;
        case '{':
            copies = rt_regex_interval(&p);
            if (copies == 0) {
                rt_regex_atom(g, 1);
                p++;
            } else {
                rt_regex_repeat(g, copies);
            }
            break;
        case '[':
            p = rt_regex_bracket_end(p);
            rt_regex_atom(g, 1);
            break;
        case '\\':
            p += p[1] != '\0' ? 2 : 1;
            rt_regex_atom(g, 1);
            break;
        default:
            p++;
            rt_regex_atom(g, 1);
            break;
        }
    }
    /* Groups left open (regcomp rejects them) count as closed. */
    while (depth > 0) {
        uint64_t nodes = rt_regex_add(groups[depth].total, 1);

        depth--;
        rt_regex_atom(&groups[depth], nodes);
    }
    return groups[0].total;
}
