#include "rt_health_lazy.h"

#include <string.h>

void rt_lazy_reset(struct rt_lazy *l)
{
    memset(l, 0, sizeof(*l));
    l->state = RT_LAZY_HEALTHY;
}

void rt_lazy_clear_samples(struct rt_lazy *l)
{
    memset(l->failed_bits, 0, sizeof(l->failed_bits));
    l->next = 0;
    l->count = 0;
    l->failures = 0;
}

static bool rt_lazy_bit(const struct rt_lazy *l, uint32_t slot)
{
    return (l->failed_bits[slot / 8] >> (slot % 8)) & 1;
}

static void rt_lazy_set_bit(struct rt_lazy *l, uint32_t slot, bool failed)
{
    uint8_t mask = (uint8_t)(1u << (slot % 8));

    l->failed_bits[slot / 8] =
        failed ? l->failed_bits[slot / 8] | mask : l->failed_bits[slot / 8] & (uint8_t)~mask;
}

/* Puts one outcome in the ring, over the oldest when it is full. */
static void rt_lazy_push(struct rt_lazy *l, uint32_t size, bool failed)
{
    if (size == 0 || size > RT_LAZY_MAX_SAMPLES) {
        size = RT_LAZY_DEFAULT_SAMPLE_SIZE; /* rt_ini and rt_lua allow no other */
    }
    if (l->count == size) {
        l->failures -= rt_lazy_bit(l, l->next);
    } else {
        l->count++;
    }
    rt_lazy_set_bit(l, l->next, failed);
    l->failures += failed;
    l->next = (l->next + 1) % size;
}

bool rt_lazy_record(struct rt_lazy *l, const struct rt_backend_config *cfg,
                    enum rt_query_outcome outcome)
{
    bool failed =
        outcome == RT_QUERY_TIMED_OUT || (outcome == RT_QUERY_SERVFAIL && cfg->lazy.servfail_fails);

    if (l->state != RT_LAZY_HEALTHY) {
        return false;
    }
    rt_lazy_push(l, cfg->lazy.sample_size, failed);
    if (l->count < cfg->lazy.min_samples ||
        (uint64_t)l->failures * 100 < (uint64_t)cfg->lazy.threshold * l->count) {
        return false;
    }
    l->state = RT_LAZY_POTENTIAL_FAILURE;
    l->check_fails = 0;
    l->check_successes = 0;
    l->backoff_steps = 0;
    return true;
}

enum rt_lazy_state rt_lazy_check(struct rt_lazy *l, const struct rt_backend_config *cfg, bool ok)
{
    if (l->state == RT_LAZY_HEALTHY) {
        return l->state;
    }
    if (ok) {
        l->check_fails = 0;
        l->backoff_steps = 0;
        if (++l->check_successes >= cfg->rise) {
            rt_lazy_reset(l);
        }
        return l->state;
    }
    l->check_successes = 0;
    l->check_fails++;
    if (l->state == RT_LAZY_FAILED) {
        l->backoff_steps++;
    } else if (l->check_fails >= cfg->max_check_failures) {
        l->state = RT_LAZY_FAILED;
        l->backoff_steps = 0;
    }
    return l->state;
}

uint64_t rt_lazy_check_delay_ms(const struct rt_lazy *l, const struct rt_backend_config *cfg)
{
    uint64_t delay = cfg->lazy.failed_interval_ms;

    if (l->state == RT_LAZY_HEALTHY) {
        return 0;
    }
    if (l->state == RT_LAZY_POTENTIAL_FAILURE) {
        return cfg->check_interval_ms;
    }
    if (!cfg->lazy.backoff) {
        return delay;
    }
    /* Doubled once per failed check, never past the cap (nor below the failed interval). */
    for (uint32_t i = 0; i < l->backoff_steps && delay < cfg->lazy.max_backoff_ms; i++) {
        delay *= 2;
    }
    if (delay > cfg->lazy.max_backoff_ms &&
        cfg->lazy.max_backoff_ms >= cfg->lazy.failed_interval_ms) {
        delay = cfg->lazy.max_backoff_ms;
    }
    return delay;
}
