#include "dht_limit.h"
#include "dht_sim.h"
#include "unit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <sodium.h>

static const uint8_t key[DHT_LIMIT_KEY_LEN] = {9, 8, 7};

static int take_many(struct dht_limit *l, const struct addr *a, int n, uint64_t now_ms)
{
    int taken = 0;

    for (int i = 0; i < n; i++) {
        taken += dht_limit_take(l, a, now_ms) ? 1 : 0;
    }
    return taken;
}

static void test_limit_allows_burst_then_rate(void)
{
    struct dht_limit *l;
    struct addr a = dht_sim_ip4(0xc0000201u, 1);

    CHECK_INT(dht_limit_new(5, 25, 64, key, &l), 0);
    CHECK_INT(take_many(l, &a, 100, 0), 25);
    CHECK_INT(take_many(l, &a, 100, 199), 0);
    CHECK_INT(take_many(l, &a, 100, 200), 1);
    CHECK_INT(take_many(l, &a, 100, 1200), 5);
    /* A long silence refills the burst, no more. */
    CHECK_INT(take_many(l, &a, 100, 60000), 25);
    dht_limit_free(l);
}

static void test_limit_counts_ips_apart_and_ignores_ports(void)
{
    struct dht_limit *l;
    struct addr a = dht_sim_ip4(0xc0000201u, 1), a_other_port = dht_sim_ip4(0xc0000201u, 2);
    struct addr b = dht_sim_ip4(0xc0000202u, 1);

    CHECK_INT(dht_limit_new(1, 3, 64, key, &l), 0);
    CHECK_INT(take_many(l, &a, 2, 0), 2);
    CHECK_INT(take_many(l, &a_other_port, 5, 0), 1);
    CHECK_INT(take_many(l, &b, 5, 0), 3);
    dht_limit_free(l);
}

static void test_limit_stays_bounded_under_many_ips(void)
{
    struct dht_limit *l;
    struct addr flooder = dht_sim_ip4(0xc0000201u, 1);

    CHECK_INT(dht_limit_new(1, 2, 16, key, &l), 0);
    CHECK_INT(take_many(l, &flooder, 10, 0), 2);
    /* Thousands of other IPs pass through a table of 16 slots; each gets its burst. */
    for (uint32_t i = 0; i < 5000; i++) {
        struct addr a = dht_sim_ip4(0x0a000000u + i, 1);
        CHECK(dht_limit_take(l, &a, 0));
    }
    dht_limit_free(l);
}

static void test_limit_refuses_bad_parameters(void)
{
    struct dht_limit *l;

    CHECK_INT(dht_limit_new(0, 1, 16, key, &l), -EINVAL);
    CHECK_INT(dht_limit_new(1, 0, 16, key, &l), -EINVAL);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_limit_allows_burst_then_rate),
        UNIT(test_limit_counts_ips_apart_and_ignores_ports),
        UNIT(test_limit_stays_bounded_under_many_ips),
        UNIT(test_limit_refuses_bad_parameters),
    };

    if (sodium_init() < 0) {
        return 1;
    }
    return unit_run("dht_limit", tests, sizeof(tests) / sizeof(tests[0]));
}
