/* Per-source-address query rate limits: a token bucket per IP address in a fixed table (no
 * allocation per query); when the table is full the least recently seen address of a bucket
 * set gives way, so a flood of spoofed sources cannot grow memory. */
#ifndef PK_RT_RATELIMIT_H
#define PK_RT_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"

struct rt_ratelimit;

/* A limiter allowing `qps` queries a second per address with bursts of `burst`, tracking
 * about `table_size` addresses. Returns 0, -EINVAL (qps 0) or -ENOMEM. */
int rt_ratelimit_new(uint32_t qps, uint32_t burst, uint32_t table_size, struct rt_ratelimit **out);

/* Frees the limiter; NULL is a no-op. */
void rt_ratelimit_free(struct rt_ratelimit *r);

/* Takes one token for the address of `a` at now_ms; false when its bucket is empty. */
bool rt_ratelimit_allow(struct rt_ratelimit *r, const struct addr *a, uint64_t now_ms);

#endif
