#include "fwd_servers.h"

#include <string.h>

/* Probe every server at once after this many queries or this long, whichever comes first
 * (dnsmasq uses similar figures). */
#define FWD_PROBE_EVERY_QUERIES 50
#define FWD_PROBE_EVERY_MS 20000

/* Bounds of the wait before the next server is asked too. */
#define FWD_TRY_TIMEOUT_MIN_MS 200
#define FWD_TRY_TIMEOUT_MAX_MS 1500
#define FWD_TRY_TIMEOUT_UNKNOWN_MS 800

/* A server that failed this often in a row sorts after those that did not. */
#define FWD_FAILURES_DEMOTE 2

void fwd_servers_init(struct fwd_servers *s, enum fwd_servers_mode mode)
{
    memset(s, 0, sizeof(*s));
    s->mode = mode;
}

int fwd_servers_find(const struct fwd_servers *s, const struct addr *a)
{
    for (size_t i = 0; i < s->count; i++) {
        if (addr_equal(&s->list[i].addr, a)) {
            return (int)i;
        }
    }
    return -1;
}

size_t fwd_servers_set(struct fwd_servers *s, const struct addr *addrs, size_t n)
{
    struct fwd_server next[FWD_SERVERS_MAX];
    size_t count = 0;

    for (size_t i = 0; i < n && count < FWD_SERVERS_MAX; i++) {
        int old = fwd_servers_find(s, &addrs[i]);
        if (old >= 0) {
            next[count] = s->list[old];
        } else {
            memset(&next[count], 0, sizeof(next[count]));
            next[count].addr = addrs[i];
        }
        count++;
    }
    memcpy(s->list, next, count * sizeof(next[0]));
    s->count = count;
    return count;
}

/* Sort key: servers failing lately last, then by round trip, unmeasured ones in the middle. */
static uint64_t fwd_servers_rank(const struct fwd_server *srv)
{
    uint64_t rank = srv->srtt_ms != 0 ? srv->srtt_ms : FWD_TRY_TIMEOUT_UNKNOWN_MS / 4;

    if (srv->consecutive_failures >= FWD_FAILURES_DEMOTE) {
        rank += (uint64_t)1 << 32;
    }
    return rank;
}

void fwd_servers_plan(struct fwd_servers *s, const uint8_t *subset, size_t n_subset,
                      uint64_t now_ms, struct fwd_plan *plan)
{
    plan->count = 0;
    for (size_t i = 0; i < (subset != NULL ? n_subset : s->count); i++) {
        plan->order[plan->count++] = subset != NULL ? subset[i] : (uint8_t)i;
    }
    plan->parallel = plan->count > 0 ? 1 : 0;
    if (plan->count == 0 || s->mode == FWD_SERVERS_STRICT) {
        return;
    }
    if (s->mode == FWD_SERVERS_ALL) {
        plan->parallel = plan->count;
        return;
    }

    /* Fastest first: a small insertion sort, the lists are short. */
    for (size_t i = 1; i < plan->count; i++) {
        uint8_t v = plan->order[i];
        size_t j = i;
        while (j > 0 &&
               fwd_servers_rank(&s->list[plan->order[j - 1]]) > fwd_servers_rank(&s->list[v])) {
            plan->order[j] = plan->order[j - 1];
            j--;
        }
        plan->order[j] = v;
    }
    if (++s->plans >= FWD_PROBE_EVERY_QUERIES || now_ms - s->last_probe_ms >= FWD_PROBE_EVERY_MS) {
        s->plans = 0;
        s->last_probe_ms = now_ms;
        plan->parallel = plan->count;
    }
}

uint32_t fwd_servers_try_timeout_ms(const struct fwd_servers *s, size_t i)
{
    uint32_t srtt = s->list[i].srtt_ms;
    uint32_t t;

    if (srtt == 0) {
        return FWD_TRY_TIMEOUT_UNKNOWN_MS;
    }
    t = srtt * 4;
    if (t < FWD_TRY_TIMEOUT_MIN_MS) {
        t = FWD_TRY_TIMEOUT_MIN_MS;
    }
    return t > FWD_TRY_TIMEOUT_MAX_MS ? FWD_TRY_TIMEOUT_MAX_MS : t;
}

void fwd_servers_answered(struct fwd_servers *s, size_t i, uint32_t rtt_ms)
{
    struct fwd_server *srv = &s->list[i];

    if (rtt_ms == 0) {
        rtt_ms = 1;
    }
    /* The classic 7/8 smoothing, as in TCP's SRTT (RFC 6298). */
    srv->srtt_ms = srv->srtt_ms == 0 ? rtt_ms : (srv->srtt_ms * 7 + rtt_ms) / 8;
    if (srv->srtt_ms == 0) {
        srv->srtt_ms = 1;
    }
    srv->consecutive_failures = 0;
    srv->answers++;
}

void fwd_servers_failed(struct fwd_servers *s, size_t i)
{
    s->list[i].consecutive_failures++;
    s->list[i].failures++;
}
