/* The rate limiter that the loops of threads = N share: one bucket per address for all of
 * them, asked from several threads at once, and a new limiter only when the settings change. */
#include "rt_ratelimit.h"
#include "unit.h"

#include <errno.h>
#include <sodium.h>
#include <uv.h>

#define HAMMER_THREADS 4
#define HAMMER_QUERIES 5000

static struct addr client(const char *text)
{
    struct addr a;

    CHECK_INT(addr_parse(text, 0, &a), 0);
    return a;
}

static void test_share_hands_every_caller_the_same_buckets(void)
{
    struct rt_ratelimit_share *s;
    struct rt_ratelimit *loop1, *loop2;
    struct addr a = client("192.0.2.1");
    unsigned allowed = 0;

    CHECK_INT(rt_ratelimit_share_new(&s), 0);
    CHECK_INT(rt_ratelimit_share_get(s, 10, 20, 1024, &loop1), 0);
    CHECK_INT(rt_ratelimit_share_get(s, 10, 20, 1024, &loop2), 0);
    CHECK(loop1 == loop2);
    for (int i = 0; i < 15; i++) {
        allowed += rt_ratelimit_allow(loop1, &a, 1000);
        allowed += rt_ratelimit_allow(loop2, &a, 1000);
    }
    CHECK_INT(allowed, 20); /* the burst, once, over both loops */
    rt_ratelimit_free(loop1);
    rt_ratelimit_free(loop2);
    rt_ratelimit_share_free(s);
}

static void test_share_makes_a_new_limiter_for_new_settings_only(void)
{
    struct rt_ratelimit_share *s;
    struct rt_ratelimit *old, *again, *fresh;
    struct addr a = client("192.0.2.1");

    CHECK_INT(rt_ratelimit_share_new(&s), 0);
    CHECK_INT(rt_ratelimit_share_get(s, 1, 1, 64, &old), 0);
    CHECK(rt_ratelimit_allow(old, &a, 1000));
    CHECK(!rt_ratelimit_allow(old, &a, 1000));

    CHECK_INT(rt_ratelimit_share_get(s, 1, 1, 64, &again), 0);
    CHECK(again == old); /* a reload with the same limits keeps the buckets */
    CHECK(!rt_ratelimit_allow(again, &a, 1000));

    CHECK_INT(rt_ratelimit_share_get(s, 2, 2, 64, &fresh), 0);
    CHECK(fresh != old);
    CHECK(rt_ratelimit_allow(fresh, &a, 1000));
    CHECK(!rt_ratelimit_allow(old, &a, 1000)); /* still usable until its last user lets go */
    CHECK_INT(rt_ratelimit_share_get(s, 0, 0, 64, &fresh), -EINVAL);
    rt_ratelimit_free(old);
    rt_ratelimit_free(again);
    rt_ratelimit_share_free(s); /* the share's reference goes; `fresh` keeps its own */
    CHECK(rt_ratelimit_allow(fresh, &a, 1000));
    rt_ratelimit_free(fresh);
}

static struct rt_ratelimit *hammered;
static uv_mutex_t allowed_lock;
static unsigned hammer_allowed;

static void hammer(void *arg)
{
    struct addr a = client("198.51.100.7");
    unsigned allowed = 0;

    (void)arg;
    for (int i = 0; i < HAMMER_QUERIES; i++) {
        allowed += rt_ratelimit_allow(hammered, &a, 5000); /* one instant: no refill */
    }
    uv_mutex_lock(&allowed_lock);
    hammer_allowed += allowed;
    uv_mutex_unlock(&allowed_lock);
}

static void test_shared_limiter_asked_from_several_threads_gives_the_burst_once(void)
{
    struct rt_ratelimit_share *s;
    uv_thread_t threads[HAMMER_THREADS];

    CHECK_INT(rt_ratelimit_share_new(&s), 0);
    CHECK_INT(rt_ratelimit_share_get(s, 100, 1000, 1024, &hammered), 0);
    uv_mutex_init(&allowed_lock);
    hammer_allowed = 0;
    for (int i = 0; i < HAMMER_THREADS; i++) {
        CHECK_INT(uv_thread_create(&threads[i], hammer, NULL), 0);
    }
    for (int i = 0; i < HAMMER_THREADS; i++) {
        uv_thread_join(&threads[i]);
    }
    CHECK_INT(hammer_allowed, 1000);
    uv_mutex_destroy(&allowed_lock);
    rt_ratelimit_free(hammered);
    rt_ratelimit_share_free(s);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_share_hands_every_caller_the_same_buckets),
        UNIT(test_share_makes_a_new_limiter_for_new_settings_only),
        UNIT(test_shared_limiter_asked_from_several_threads_gives_the_burst_once),
    };

    if (sodium_init() < 0) {
        return 1;
    }
    return unit_run("router_ratelimit_share", tests, sizeof(tests) / sizeof(tests[0]));
}
