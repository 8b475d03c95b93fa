/* Summing the counters of the loops of threads = N (rt_stats_merge): every count added, a
 * backend up only when up in every loop, latencies weighted by answers, and sets taken under
 * different configurations refused untouched. */
#include "rt_stats.h"
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>

static struct rt_stats *one_loop(uint64_t queries, uint64_t answered, uint32_t latency_us, bool up)
{
    struct rt_stats *s = calloc(1, sizeof(*s));

    s->loops = 1;
    s->counters.queries = queries;
    s->counters.cache_misses = queries / 2;
    s->listener.udp_received = queries;
    s->n_rules = 1;
    snprintf(s->rules[0].name, sizeof(s->rules[0].name), "pkarr");
    s->rules[0].matches = queries / 10;
    s->n_pools = 1;
    s->pools[0].cached = true;
    s->pools[0].cache_size = 100;
    s->pools[0].cache.hits = queries / 4;
    s->pools[0].queries = queries;
    s->n_backends = 1;
    snprintf(s->backends[0].name, sizeof(s->backends[0].name), "b");
    addr_parse("127.0.0.1:5301", 53, &s->backends[0].addr);
    s->backends[0].up = up;
    s->backends[0].st.queries = queries;
    s->backends[0].st.responses = answered;
    s->backends[0].st.latency_us = latency_us;
    return s;
}

static void test_merge_adds_every_count(void)
{
    struct rt_stats *sum = one_loop(100, 100, 1000, true);
    struct rt_stats *more = one_loop(300, 300, 2000, true);

    CHECK(rt_stats_merge(sum, more));
    CHECK_INT(sum->loops, 2);
    CHECK_INT(sum->counters.queries, 400);
    CHECK_INT(sum->counters.cache_misses, 200);
    CHECK_INT(sum->listener.udp_received, 400);
    CHECK_INT(sum->rules[0].matches, 40);
    CHECK_INT(sum->pools[0].queries, 400);
    CHECK_INT(sum->pools[0].cache.hits, 100);
    CHECK_INT(sum->pools[0].cache_size, 200); /* each loop keeps a cache of its own */
    CHECK_INT(sum->backends[0].st.queries, 400);
    CHECK_INT(sum->backends[0].st.latency_us, 1750); /* (100 x 1000 + 300 x 2000) / 400 */
    CHECK(sum->backends[0].up);
    free(sum);
    free(more);
}

static void test_merged_backend_is_up_only_when_up_in_every_loop(void)
{
    struct rt_stats *sum = one_loop(10, 10, 100, true);
    struct rt_stats *more = one_loop(10, 0, 0, false);

    CHECK(rt_stats_merge(sum, more));
    CHECK(!sum->backends[0].up);
    CHECK_INT(sum->backends[0].st.latency_us, 100); /* a loop with no answers weighs nothing */
    free(sum);
    free(more);
}

static void test_sets_from_different_configurations_are_refused_untouched(void)
{
    struct rt_stats *sum = one_loop(100, 100, 1000, true);
    struct rt_stats *renamed = one_loop(5, 5, 10, true);
    struct rt_stats *moved = one_loop(5, 5, 10, true);
    struct rt_stats *more_rules = one_loop(5, 5, 10, true);

    snprintf(renamed->rules[0].name, sizeof(renamed->rules[0].name), "other");
    addr_parse("127.0.0.1:5300", 53, &moved->backends[0].addr);
    more_rules->n_rules = 2;
    CHECK(!rt_stats_merge(sum, renamed));
    CHECK(!rt_stats_merge(sum, moved));
    CHECK(!rt_stats_merge(sum, more_rules));
    CHECK_INT(sum->loops, 1);
    CHECK_INT(sum->counters.queries, 100);
    CHECK_INT(sum->backends[0].st.queries, 100);
    free(sum);
    free(renamed);
    free(moved);
    free(more_rules);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_merge_adds_every_count),
        UNIT(test_merged_backend_is_up_only_when_up_in_every_loop),
        UNIT(test_sets_from_different_configurations_are_refused_untouched),
    };

    return unit_run("router_stats", tests, sizeof(tests) / sizeof(tests[0]));
}
