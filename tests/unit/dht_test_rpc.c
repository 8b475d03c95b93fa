#include "dht_rpc.h"
#include "dht_sim.h"
#include "unit.h"

#include <arpa/inet.h>
#include <netinet/in.h>

static const uint8_t tid_a[DHT_RPC_TID_LEN] = {1, 2, 3, 4};
static const uint8_t tid_b[DHT_RPC_TID_LEN] = {5, 6, 7, 8};

/* Sends a call at `sent_ms` and answers it rtt_ms later, n times. */
static void answer_after(struct dht_rpc *rpc, uint32_t rtt_ms, int n)
{
    struct addr to = dht_sim_ip4(0xc0000201u, 6881);

    for (int i = 0; i < n; i++) {
        uint64_t sent = (uint64_t)i * 10000;
        struct dht_rpc_call *c = dht_rpc_start(rpc, tid_a, &to, KRPC_PING, NULL, 0, sent);
        CHECK(c != NULL);
        dht_rpc_finish(rpc, c, true, sent + rtt_ms);
    }
}

static void test_rpc_timeout_starts_at_one_second(void)
{
    struct dht_rpc rpc;

    CHECK_INT(dht_rpc_init(&rpc, 4), 0);
    CHECK_INT(dht_rpc_timeout_ms(&rpc), DHT_RPC_RTO_INITIAL_MS);
    dht_rpc_deinit(&rpc);
}

static void test_rpc_timeout_shrinks_on_fast_answers_to_the_floor(void)
{
    struct dht_rpc rpc;

    CHECK_INT(dht_rpc_init(&rpc, 4), 0);
    answer_after(&rpc, 30, 20);
    CHECK_INT(dht_rpc_timeout_ms(&rpc), DHT_RPC_RTO_MIN_MS);
    dht_rpc_deinit(&rpc);
}

static void test_rpc_timeout_follows_measured_round_trips(void)
{
    struct dht_rpc rpc;
    uint32_t rto;

    CHECK_INT(dht_rpc_init(&rpc, 4), 0);
    answer_after(&rpc, 300, 30);
    rto = dht_rpc_timeout_ms(&rpc);
    CHECK(rto >= 300 && rto < 400);
    answer_after(&rpc, 5000, 30);
    CHECK_INT(dht_rpc_timeout_ms(&rpc), DHT_RPC_RTO_MAX_MS);
    dht_rpc_deinit(&rpc);
}

static void test_rpc_matches_answers_by_tid_and_address(void)
{
    struct dht_rpc rpc;
    struct addr to = dht_sim_ip4(0xc0000201u, 6881), other_port = dht_sim_ip4(0xc0000201u, 6882);
    struct dht_rpc_call *c;

    CHECK_INT(dht_rpc_init(&rpc, 4), 0);
    c = dht_rpc_start(&rpc, tid_a, &to, KRPC_GET, NULL, 7, 0);
    CHECK(c != NULL);
    CHECK(dht_rpc_find(&rpc, tid_a, DHT_RPC_TID_LEN, &to) == c);
    CHECK(dht_rpc_find(&rpc, tid_a, DHT_RPC_TID_LEN, &other_port) == NULL);
    CHECK(dht_rpc_find(&rpc, tid_b, DHT_RPC_TID_LEN, &to) == NULL);
    CHECK(dht_rpc_find(&rpc, tid_a, 2, &to) == NULL);
    /* A transaction ID in use is not given out twice. */
    CHECK(dht_rpc_start(&rpc, tid_a, &other_port, KRPC_PING, NULL, 0, 0) == NULL);
    dht_rpc_deinit(&rpc);
}

static void test_rpc_table_is_bounded(void)
{
    struct dht_rpc rpc;
    struct addr to = dht_sim_ip4(0xc0000201u, 6881);

    CHECK_INT(dht_rpc_init(&rpc, 1), 0);
    CHECK(dht_rpc_start(&rpc, tid_a, &to, KRPC_PING, NULL, 0, 0) != NULL);
    CHECK(dht_rpc_start(&rpc, tid_b, &to, KRPC_PING, NULL, 0, 0) == NULL);
    dht_rpc_deinit(&rpc);
}

static void test_rpc_reports_soft_then_hard_deadline(void)
{
    struct dht_rpc rpc;
    struct addr to = dht_sim_ip4(0xc0000201u, 6881);
    struct dht_rpc_call *c;
    uint64_t soft = DHT_RPC_RTO_INITIAL_MS, hard = soft + DHT_RPC_LATE_MS;

    CHECK_INT(dht_rpc_init(&rpc, 4), 0);
    c = dht_rpc_start(&rpc, tid_a, &to, KRPC_PING, NULL, 0, 0);
    CHECK_INT(dht_rpc_next_deadline(&rpc), soft);
    CHECK(dht_rpc_due(&rpc, soft - 1) == NULL);
    CHECK(dht_rpc_due(&rpc, soft) == c);
    c->soft_passed = true;
    CHECK(dht_rpc_due(&rpc, soft) == NULL);
    CHECK_INT(dht_rpc_next_deadline(&rpc), hard);
    CHECK(dht_rpc_due(&rpc, hard) == c);
    dht_rpc_finish(&rpc, c, false, hard);
    CHECK_INT(dht_rpc_next_deadline(&rpc), UINT64_MAX);
    dht_rpc_deinit(&rpc);
}

static void test_rpc_disown_detaches_calls(void)
{
    struct dht_rpc rpc;
    struct addr to = dht_sim_ip4(0xc0000201u, 6881);
    int owner;
    struct dht_rpc_call *c;

    CHECK_INT(dht_rpc_init(&rpc, 4), 0);
    c = dht_rpc_start(&rpc, tid_a, &to, KRPC_PING, &owner, 0, 0);
    dht_rpc_disown(&rpc, &owner);
    CHECK(c->owner == NULL);
    dht_rpc_deinit(&rpc);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_rpc_timeout_starts_at_one_second),
        UNIT(test_rpc_timeout_shrinks_on_fast_answers_to_the_floor),
        UNIT(test_rpc_timeout_follows_measured_round_trips),
        UNIT(test_rpc_matches_answers_by_tid_and_address),
        UNIT(test_rpc_table_is_bounded),
        UNIT(test_rpc_reports_soft_then_hard_deadline),
        UNIT(test_rpc_disown_detaches_calls),
    };

    return unit_run("dht_rpc", tests, sizeof(tests) / sizeof(tests[0]));
}
