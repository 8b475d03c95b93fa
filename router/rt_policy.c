#include "rt_policy.h"

#include "random.h"

static bool rt_policy_usable(const struct rt_policy_candidate *c, size_t i, int exclude)
{
    return c[i].up && (int)i != exclude;
}

/* The fewest queries in flight; ties go to the lowest order, then the lowest latency (as
 * dnsdist's leastOutstanding), then to the first. */
static int rt_policy_least_outstanding(const struct rt_policy_candidate *c, size_t n, int exclude)
{
    int best = -1;

    for (size_t i = 0; i < n; i++) {
        if (!rt_policy_usable(c, i, exclude)) {
            continue;
        }
        if (best < 0) {
            best = (int)i;
            continue;
        }
        const struct rt_policy_candidate *b = &c[best];
        if (c[i].outstanding != b->outstanding) {
            best = c[i].outstanding < b->outstanding ? (int)i : best;
        } else if (c[i].order != b->order) {
            best = c[i].order < b->order ? (int)i : best;
        } else if (c[i].latency_us < b->latency_us) {
            best = (int)i;
        }
    }
    return best;
}

/* The live backend with the lowest order; the first listed among equals. */
static int rt_policy_first_available(const struct rt_policy_candidate *c, size_t n, int exclude)
{
    int best = -1;

    for (size_t i = 0; i < n; i++) {
        if (rt_policy_usable(c, i, exclude) && (best < 0 || c[i].order < c[best].order)) {
            best = (int)i;
        }
    }
    return best;
}

static int rt_policy_roundrobin(const struct rt_policy_candidate *c, size_t n, int exclude,
                                uint32_t *rr_next)
{
    for (size_t k = 0; k < n; k++) {
        size_t i = (*rr_next + k) % n;
        if (rt_policy_usable(c, i, exclude)) {
            *rr_next = (uint32_t)((i + 1) % n);
            return (int)i;
        }
    }
    return -1;
}

/* A live backend drawn with probability proportional to its weight. */
static int rt_policy_wrandom(const struct rt_policy_candidate *c, size_t n, int exclude)
{
    uint64_t total = 0, draw;

    for (size_t i = 0; i < n; i++) {
        total += rt_policy_usable(c, i, exclude) ? c[i].weight : 0;
    }
    if (total == 0) {
        return -1;
    }
    draw = total > UINT32_MAX ? random_u32() % total : random_uniform((uint32_t)total);
    for (size_t i = 0; i < n; i++) {
        uint32_t w = rt_policy_usable(c, i, exclude) ? c[i].weight : 0;
        if (draw < w) {
            return (int)i;
        }
        draw -= w;
    }
    return -1;
}

int rt_policy_pick(enum rt_policy policy, const struct rt_policy_candidate *c, size_t n,
                   int exclude, uint32_t *rr_next)
{
    switch (policy) {
    case RT_POLICY_FIRST_AVAILABLE:
        return rt_policy_first_available(c, n, exclude);
    case RT_POLICY_ROUNDROBIN:
        return rt_policy_roundrobin(c, n, exclude, rr_next);
    case RT_POLICY_WRANDOM:
        return rt_policy_wrandom(c, n, exclude);
    case RT_POLICY_LEAST_OUTSTANDING:
    default:
        return rt_policy_least_outstanding(c, n, exclude);
    }
}
