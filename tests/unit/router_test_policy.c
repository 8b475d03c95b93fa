#include "rt_policy.h"
#include "rt_ratelimit.h"
#include "unit.h"

#include <netinet/in.h>
#include <sodium.h>

static struct rt_policy_candidate up(uint32_t outstanding, int32_t order, uint32_t weight)
{
    return (struct rt_policy_candidate){true, outstanding, order, weight, 1000};
}

static void test_least_outstanding_picks_the_least_busy(void)
{
    struct rt_policy_candidate c[] = {up(5, 1, 1), up(2, 1, 1), up(3, 1, 1)};
    uint32_t rr = 0;

    CHECK_INT(rt_policy_pick(RT_POLICY_LEAST_OUTSTANDING, c, 3, -1, &rr), 1);
    c[1].up = false;
    CHECK_INT(rt_policy_pick(RT_POLICY_LEAST_OUTSTANDING, c, 3, -1, &rr), 2);
}

static void test_least_outstanding_breaks_ties_by_order_then_latency(void)
{
    struct rt_policy_candidate c[] = {up(1, 2, 1), up(1, 1, 1), up(1, 1, 1)};
    uint32_t rr = 0;

    c[1].latency_us = 5000;
    c[2].latency_us = 200;
    CHECK_INT(rt_policy_pick(RT_POLICY_LEAST_OUTSTANDING, c, 3, -1, &rr), 2);
}

static void test_first_available_takes_lowest_order_that_is_up(void)
{
    struct rt_policy_candidate c[] = {up(0, 2, 1), up(9, 1, 1), up(0, 3, 1)};
    uint32_t rr = 0;

    CHECK_INT(rt_policy_pick(RT_POLICY_FIRST_AVAILABLE, c, 3, -1, &rr), 1);
    c[1].up = false;
    CHECK_INT(rt_policy_pick(RT_POLICY_FIRST_AVAILABLE, c, 3, -1, &rr), 0);
}

static void test_roundrobin_cycles_through_live_backends(void)
{
    struct rt_policy_candidate c[] = {up(0, 1, 1), up(0, 1, 1), up(0, 1, 1)};
    uint32_t rr = 0;

    c[1].up = false;
    CHECK_INT(rt_policy_pick(RT_POLICY_ROUNDROBIN, c, 3, -1, &rr), 0);
    CHECK_INT(rt_policy_pick(RT_POLICY_ROUNDROBIN, c, 3, -1, &rr), 2);
    CHECK_INT(rt_policy_pick(RT_POLICY_ROUNDROBIN, c, 3, -1, &rr), 0);
}

static void test_wrandom_follows_weights(void)
{
    struct rt_policy_candidate c[] = {up(0, 1, 1), up(0, 1, 3), up(0, 1, 100)};
    int counts[3] = {0};
    uint32_t rr = 0;

    c[2].up = false;
    for (int i = 0; i < 4000; i++) {
        counts[rt_policy_pick(RT_POLICY_WRANDOM, c, 3, -1, &rr)]++;
    }
    CHECK_INT(counts[2], 0);
    CHECK(counts[1] > 2 * counts[0]); /* expected 3000 : 1000 */
    CHECK(counts[0] > 700);
}

static void test_excluded_backend_is_never_picked(void)
{
    struct rt_policy_candidate c[] = {up(0, 1, 1), up(5, 2, 1)};
    uint32_t rr = 0;

    for (int p = RT_POLICY_LEAST_OUTSTANDING; p <= RT_POLICY_WRANDOM; p++) {
        CHECK_INT(rt_policy_pick((enum rt_policy)p, c, 2, 0, &rr), 1);
    }
}

static void test_no_live_backend_gives_minus_one(void)
{
    struct rt_policy_candidate c[] = {up(0, 1, 1), up(0, 1, 1)};
    uint32_t rr = 0;

    c[0].up = false;
    c[1].up = false;
    for (int p = RT_POLICY_LEAST_OUTSTANDING; p <= RT_POLICY_WRANDOM; p++) {
        CHECK_INT(rt_policy_pick((enum rt_policy)p, c, 2, -1, &rr), -1);
    }
    CHECK_INT(rt_policy_pick(RT_POLICY_ROUNDROBIN, c, 0, -1, &rr), -1);
}

static struct addr ipv4(uint8_t last)
{
    struct addr a = {0};
    struct sockaddr_in *sin = (struct sockaddr_in *)&a.sa;

    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(0x7f000000u | last);
    a.len = sizeof(*sin);
    return a;
}

static void test_rate_limit_allows_burst_then_refills(void)
{
    struct rt_ratelimit *r;
    struct addr a = ipv4(1), b = ipv4(2);
    int allowed = 0;

    CHECK_INT(rt_ratelimit_new(10, 20, 1024, &r), 0);
    for (int i = 0; i < 30; i++) {
        allowed += rt_ratelimit_allow(r, &a, 1000);
    }
    CHECK_INT(allowed, 20);
    CHECK(rt_ratelimit_allow(r, &b, 1000)); /* another address has its own bucket */
    CHECK(!rt_ratelimit_allow(r, &a, 1050));
    CHECK(rt_ratelimit_allow(r, &a, 1100)); /* 100 ms at 10/s: one token */
    CHECK(!rt_ratelimit_allow(r, &a, 1100));
    rt_ratelimit_free(r);
}

static void test_rate_limit_table_stays_bounded_under_many_sources(void)
{
    struct rt_ratelimit *r;
    struct addr a;

    CHECK_INT(rt_ratelimit_new(1, 1, 16, &r), 0);
    for (int i = 0; i < 200; i++) {
        a = ipv4((uint8_t)i);
        CHECK(rt_ratelimit_allow(r, &a, 5000)); /* each new source starts with a full bucket */
    }
    rt_ratelimit_free(r);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_least_outstanding_picks_the_least_busy),
        UNIT(test_least_outstanding_breaks_ties_by_order_then_latency),
        UNIT(test_first_available_takes_lowest_order_that_is_up),
        UNIT(test_roundrobin_cycles_through_live_backends),
        UNIT(test_wrandom_follows_weights),
        UNIT(test_excluded_backend_is_never_picked),
        UNIT(test_no_live_backend_gives_minus_one),
        UNIT(test_rate_limit_allows_burst_then_refills),
        UNIT(test_rate_limit_table_stays_bounded_under_many_sources),
    };
    if (sodium_init() < 0) {
        return 1;
    }
    return unit_run("router_policy", tests, sizeof(tests) / sizeof(tests[0]));
}
