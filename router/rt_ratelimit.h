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

/* Drops the caller's reference; the limiter is freed with the last. NULL is a no-op. */
void rt_ratelimit_free(struct rt_ratelimit *r);

/* Takes one token for the address of `a` at now_ms; false when its bucket is empty. A limiter
 * from a share may be asked from several threads at once. */
bool rt_ratelimit_allow(struct rt_ratelimit *r, const struct addr *a, uint64_t now_ms);

/* Where the routers of threads = N find the one limiter they all use, so that an address's
 * rate is its rate over every loop. */
struct rt_ratelimit_share;

/* Creates an empty share. Returns 0 or -ENOMEM. */
int rt_ratelimit_share_new(struct rt_ratelimit_share **out);

/* Frees the share; limiters handed out live on until their last user frees them. NULL is a
 * no-op. */
void rt_ratelimit_share_free(struct rt_ratelimit_share *s);

/* The share's limiter with these settings, made (locked for use from several threads) when
 * the share holds none or one with other settings; the caller gets a reference of its own.
 * Returns 0, -EINVAL (qps 0) or -ENOMEM. */
int rt_ratelimit_share_get(struct rt_ratelimit_share *s, uint32_t qps, uint32_t burst,
                           uint32_t table_size, struct rt_ratelimit **out);

#endif
