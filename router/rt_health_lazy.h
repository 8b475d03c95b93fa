/* Lazy health checking as dnsdist 1.8 does it, without I/O: the caller reports how the
 * backend's queries and checks fared and is told the state and when to check next.
 *
 * Healthy: up, unchecked; the outcome of each query goes into a ring of the last
 * sample_size. Once min_samples are in and failures make up threshold percent of them, the
 * backend is a PotentialFailure: still up, checked every check_interval. max_check_failures
 * failed checks in a row make it Failed: down, checked every failed_interval (doubling after
 * each failed check with backoff, up to max_backoff). In either of the last two, `rise`
 * successful checks in a row make it Healthy again, with an empty ring. */
#ifndef PK_RT_HEALTH_LAZY_H
#define PK_RT_HEALTH_LAZY_H

#include <stdbool.h>
#include <stdint.h>

#include "rt_config.h"

enum rt_lazy_state {
    RT_LAZY_HEALTHY = 0,       /* up, judged by its queries */
    RT_LAZY_POTENTIAL_FAILURE, /* up, checked every check interval */
    RT_LAZY_FAILED,            /* down, checked every failed interval */
};

/* How a query to a backend fared. */
enum rt_query_outcome {
    RT_QUERY_ANSWERED = 0,
    RT_QUERY_SERVFAIL, /* answered, with rcode SERVFAIL */
    RT_QUERY_TIMED_OUT,
};

struct rt_lazy {
    enum rt_lazy_state state;
    uint8_t failed_bits[(RT_LAZY_MAX_SAMPLES + 7) / 8]; /* the ring: 1 for a failed outcome */
    uint32_t next;                                      /* ring slot the next outcome takes */
    uint32_t count;                                     /* outcomes in the ring */
    uint32_t failures;                                  /* failed ones among them */
    uint32_t check_fails;                               /* in a row */
    uint32_t check_successes;                           /* in a row */
    uint32_t backoff_steps; /* failed checks in a row since it became Failed */
};

/* Makes l Healthy with an empty ring. */
void rt_lazy_reset(struct rt_lazy *l);

/* Empties the ring, as a new sample size needs (a reload); the state stays. */
void rt_lazy_clear_samples(struct rt_lazy *l);

/* Records a query's outcome when Healthy (ignored otherwise). Returns true when that made it
 * a PotentialFailure, the moment to start checking. */
bool rt_lazy_record(struct rt_lazy *l, const struct rt_backend_config *cfg,
                    enum rt_query_outcome outcome);

/* Counts a check's result when PotentialFailure or Failed and returns the state it leads to;
 * a return to Healthy clears the ring. */
enum rt_lazy_state rt_lazy_check(struct rt_lazy *l, const struct rt_backend_config *cfg, bool ok);

/* Milliseconds from one check to the next in the current state (0 when Healthy). */
uint64_t rt_lazy_check_delay_ms(const struct rt_lazy *l, const struct rt_backend_config *cfg);

#endif
