/* Server selection policies, as dnsdist names them: leastOutstanding, firstAvailable,
 * roundrobin and wrandom. Pure functions over a snapshot of the pool, so tests can drive
 * them without sockets. */
#ifndef PK_RT_POLICY_H
#define PK_RT_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rt_config.h"

/* What a policy needs to know of one backend of the pool. */
struct rt_policy_candidate {
    bool up;
    uint32_t outstanding; /* queries sent and not yet answered or timed out */
    int32_t order;
    uint32_t weight;
    uint32_t latency_us; /* recent average, for breaking ties */
};

/* Picks a live candidate of c[0..n) other than `exclude` (-1 for none). *rr_next is the
 * round-robin position, advanced by roundrobin. Returns the index, or -1 when none is up. */
int rt_policy_pick(enum rt_policy policy, const struct rt_policy_candidate *c, size_t n,
                   int exclude, uint32_t *rr_next);

#endif
