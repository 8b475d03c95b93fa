/* A backend's health as rt_health judges it, driven for real: the checks leave through an
 * upstream client to a UDP socket on loopback that the test watches in the same loop and
 * answers (or not) as each test says, and in lazy mode the test reports how queries fared
 * with rt_health_query_result. Checks are counted and timed, state changes recorded in order. Each
 * wait runs the loop until what it waits for has happened or WAIT_MS have passed; an alarm ends a
 * test that hangs all the same. */
#include "dns.h"
#include "dns_msg.h"
#include "dns_name.h"
#include "rt_config.h"
#include "rt_health.h"
#include "unit.h"
#include "unit_loop.h"

#include <netinet/in.h>
#include <sodium.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAIT_MS 3000
#define WATCHDOG_S 20
#define INTERVAL_MS 20 /* between checks */
#define TIMEOUT_MS 40  /* a check not answered by then failed */
#define QUIET_MS 200   /* ten intervals in which no check may come */
#define MAX_CHANGES 16
#define MAX_TIMED_CHECKS 16

enum backend_mode {
    BACKEND_SILENT,   /* reads the check, never answers */
    BACKEND_ANSWERS,  /* NOERROR */
    BACKEND_SERVFAIL, /* a failed check, by dnsdist's rule */
    BACKEND_REFUSED,  /* any rcode but SERVFAIL is a success */
};

static struct {
    uv_loop_t loop;
    uv_timer_t deadline;
    struct upstream *up;
    struct rt_health *health;
    int server_fd;
    uv_poll_t server_poll;
    struct addr server;
    enum backend_mode mode;
    unsigned checks;                     /* check queries the backend received */
    struct dns_query last_check;         /* the latest of them */
    uint64_t check_ms[MAX_TIMED_CHECKS]; /* when the first of them came, on a monotonic clock */
    bool changes[MAX_CHANGES];           /* every state the callback reported: true for up */
    unsigned n_changes;
} fx;

static void on_health(void *user, struct rt_health *h, bool up)
{
    (void)user;
    (void)h;
    if (fx.n_changes < MAX_CHANGES) {
        fx.changes[fx.n_changes] = up;
    }
    fx.n_changes++;
}

/* The backend: reads a check and answers it by fx.mode, the question echoed. */
static void on_server_readable(uv_poll_t *p, int status, int events)
{
    uint8_t buf[512];
    struct sockaddr_storage from;
    socklen_t from_len = sizeof(from);
    ssize_t len;

    (void)p;
    (void)events;
    if (status < 0) {
        return;
    }
    len =
        recvfrom(fx.server_fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &from_len);
    if (len < DNS_HEADER_LEN) {
        return;
    }
    if (fx.checks < MAX_TIMED_CHECKS) {
        fx.check_ms[fx.checks] = uv_hrtime() / 1000000;
    }
    fx.checks++;
    CHECK_INT(dns_msg_parse_query(buf, (size_t)len, &fx.last_check), 0);
    if (fx.mode == BACKEND_SILENT) {
        return;
    }
    buf[2] |= DNS_FLAG_QR >> 8;
    buf[3] = fx.mode == BACKEND_SERVFAIL  ? DNS_RCODE_SERVFAIL
             : fx.mode == BACKEND_REFUSED ? DNS_RCODE_REFUSED
                                          : DNS_RCODE_NOERROR;
    sendto(fx.server_fd, buf, (size_t)len, 0, (struct sockaddr *)&from, from_len);
}

static bool run_until(bool (*done)(void *arg), uint64_t ms)
{
    return unit_loop_until(&fx.deadline, done, NULL, ms);
}

static void run_for(uint64_t ms)
{
    unit_loop_for(&fx.deadline, ms);
}

static unsigned want_checks, want_changes;

static bool enough_checks(void *arg)
{
    (void)arg;
    return fx.checks >= want_checks;
}

static bool enough_changes(void *arg)
{
    (void)arg;
    return fx.n_changes >= want_changes;
}

/* Runs the loop until the backend has received `n` checks in all. */
static bool wait_checks(unsigned n)
{
    want_checks = n;
    return run_until(enough_checks, WAIT_MS);
}

/* Runs the loop until the callback has reported `n` states in all. */
static bool wait_changes(unsigned n)
{
    want_changes = n;
    return run_until(enough_changes, WAIT_MS);
}

/* The state the callback reported last: 1 up, 0 down, -1 none yet. */
static int last_state(void)
{
    if (fx.n_changes == 0 || fx.n_changes > MAX_CHANGES) {
        return -1;
    }
    return fx.changes[fx.n_changes - 1] ? 1 : 0;
}

/* A UDP socket on 127.0.0.1 (port chosen by the kernel) that plays the backend. */
static int open_server(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &len) != 0) {
        return -1;
    }
    memset(&fx.server, 0, sizeof(fx.server));
    memcpy(&fx.server.sa, &sin, sizeof(sin));
    fx.server.len = sizeof(sin);
    return fd;
}

/* A backend's settings for the tests: short intervals, the given mode and thresholds. */
static struct rt_backend_config backend_config(enum rt_health_mode health, uint32_t failures,
                                               uint32_t rise)
{
    struct rt_backend_config cfg;

    rt_config_backend_defaults(&cfg);
    snprintf(cfg.name, sizeof(cfg.name), "b");
    cfg.addr = fx.server;
    cfg.health = health;
    cfg.check_interval_ms = INTERVAL_MS;
    cfg.check_timeout_ms = TIMEOUT_MS;
    cfg.max_check_failures = failures;
    cfg.rise = rise;
    cfg.lazy.failed_interval_ms = INTERVAL_MS;
    return cfg;
}

/* Starts a loop, an upstream client and the backend in `mode`; nothing judges it yet. */
static void start_backend(enum backend_mode mode)
{
    memset(&fx, 0, sizeof(fx));
    alarm(WATCHDOG_S);
    uv_loop_init(&fx.loop);
    uv_timer_init(&fx.loop, &fx.deadline);
    fx.mode = mode;
    fx.server_fd = open_server();
    CHECK(fx.server_fd >= 0);
    uv_poll_init(&fx.loop, &fx.server_poll, fx.server_fd);
    uv_poll_start(&fx.server_poll, UV_READABLE, on_server_readable);
    CHECK_INT(upstream_new(&fx.loop, 0, &fx.up), 0);
}

/* Judges the backend by cfg. */
static void judge(const struct rt_backend_config *cfg)
{
    CHECK_INT(rt_health_new(&fx.loop, fx.up, cfg, &(struct rt_health_opts){.log_changes = false},
                            on_health, NULL, &fx.health),
              0);
}

/* Starts the backend in `mode` and judges it in the given health mode and thresholds. */
static void setup(enum backend_mode mode, enum rt_health_mode health, uint32_t failures,
                  uint32_t rise)
{
    struct rt_backend_config cfg;

    start_backend(mode);
    cfg = backend_config(health, failures, rise);
    judge(&cfg);
}

/* Starts the backend in `mode` and judges it lazily by `lazy`, with the failure and rise
 * counts given. */
static void setup_lazy(enum backend_mode mode, const struct rt_lazy_config *lazy, uint32_t failures,
                       uint32_t rise)
{
    struct rt_backend_config cfg;

    start_backend(mode);
    cfg = backend_config(RT_HEALTH_LAZY, failures, rise);
    cfg.lazy = *lazy;
    judge(&cfg);
}

/* Lazy settings for the tests: dnsdist's defaults with a failed interval of INTERVAL_MS. */
static struct rt_lazy_config lazy_config(void)
{
    struct rt_lazy_config lazy;

    rt_config_lazy_defaults(&lazy);
    lazy.failed_interval_ms = INTERVAL_MS;
    return lazy;
}

static void teardown(void)
{
    rt_health_free(fx.health);
    upstream_free(fx.up);
    uv_close((uv_handle_t *)&fx.server_poll, NULL);
    uv_close((uv_handle_t *)&fx.deadline, NULL);
    uv_run(&fx.loop, UV_RUN_DEFAULT);
    CHECK_INT(uv_loop_close(&fx.loop), 0);
    if (fx.server_fd >= 0) {
        close(fx.server_fd);
    }
    alarm(0);
}

/* Lazy settings with a ring of `size` outcomes, judged once `min` are in, at `threshold`%. */
static struct rt_lazy_config lazy_ring(uint32_t size, uint32_t min, uint32_t threshold)
{
    struct rt_lazy_config lazy = lazy_config();

    lazy.sample_size = size;
    lazy.min_samples = min;
    lazy.threshold = threshold;
    return lazy;
}

/* Reports `n` queries that fared as `outcome` says. */
static void queries(unsigned n, enum rt_query_outcome outcome)
{
    for (unsigned i = 0; i < n; i++) {
        rt_health_query_result(fx.health, outcome);
    }
}

/* Milliseconds between the arrival of check i and of check i + 1 (0-based). */
static uint64_t check_gap_ms(unsigned i)
{
    return fx.check_ms[i + 1] - fx.check_ms[i];
}

/* ---- auto mode ---- */

static void test_auto_first_check_decides_at_once(void)
{
    setup(BACKEND_ANSWERS, RT_HEALTH_AUTO, 3, 3);
    CHECK(!rt_health_settled(fx.health));
    CHECK(wait_changes(1));
    CHECK_INT(fx.checks, 1); /* one success is enough at start, whatever rise says */
    CHECK_INT(last_state(), 1);
    CHECK(rt_health_is_up(fx.health));
    teardown();
}

static void test_auto_check_is_id_server_ch_txt_with_rd(void)
{
    uint8_t id_server[DNS_NAME_MAX];
    size_t id_server_len;

    setup(BACKEND_ANSWERS, RT_HEALTH_AUTO, 1, 1);
    CHECK(wait_checks(1));
    CHECK_INT(dns_name_from_text("id.server", id_server, &id_server_len), 0);
    CHECK_INT(fx.last_check.q.name_len, id_server_len);
    CHECK_MEM(fx.last_check.q.name, id_server, id_server_len);
    CHECK_INT(fx.last_check.q.qtype, DNS_TYPE_TXT);
    CHECK_INT(fx.last_check.q.qclass, DNS_CLASS_CH);
    CHECK(fx.last_check.hdr.flags & DNS_FLAG_RD);
    teardown();
}

static void test_auto_failures_in_a_row_mark_it_down_and_rise_successes_up(void)
{
    setup(BACKEND_ANSWERS, RT_HEALTH_AUTO, 3, 2);
    CHECK(wait_changes(1));
    fx.mode = BACKEND_SERVFAIL;
    unsigned before = fx.checks;
    CHECK(wait_changes(2));
    CHECK_INT(last_state(), 0);
    CHECK_INT(fx.checks - before, 3);
    fx.mode = BACKEND_ANSWERS;
    before = fx.checks;
    CHECK(wait_changes(3));
    CHECK_INT(last_state(), 1);
    CHECK_INT(fx.checks - before, 2);
    teardown();
}

static void test_auto_any_rcode_but_servfail_is_a_success(void)
{
    setup(BACKEND_REFUSED, RT_HEALTH_AUTO, 1, 1);
    CHECK(wait_changes(1));
    CHECK_INT(last_state(), 1);
    teardown();
}

static void test_auto_unanswered_check_marks_it_down(void)
{
    setup(BACKEND_SILENT, RT_HEALTH_AUTO, 1, 1);
    CHECK(wait_changes(1));
    CHECK_INT(last_state(), 0);
    CHECK(!rt_health_is_up(fx.health));
    teardown();
}

/* ---- modes up and down ---- */

static void test_mode_up_is_up_at_once_and_never_checked(void)
{
    setup(BACKEND_SERVFAIL, RT_HEALTH_UP, 1, 1);
    CHECK_INT(last_state(), 1); /* at once, from rt_health_new */
    run_for(QUIET_MS);
    CHECK_INT(fx.checks, 0);
    CHECK_INT(fx.n_changes, 1);
    teardown();
}

static void test_mode_down_is_down_at_once_and_never_checked(void)
{
    setup(BACKEND_ANSWERS, RT_HEALTH_DOWN, 1, 1);
    CHECK_INT(last_state(), 0);
    run_for(QUIET_MS);
    CHECK_INT(fx.checks, 0);
    CHECK_INT(fx.n_changes, 1);
    teardown();
}

/* ---- lazy mode ---- */

static void test_lazy_starts_up_and_is_not_checked_while_queries_are_answered(void)
{
    setup(BACKEND_ANSWERS, RT_HEALTH_LAZY, 3, 2);
    CHECK_INT(last_state(), 1); /* trusted from the start */
    CHECK(rt_health_is_up(fx.health));
    queries(200, RT_QUERY_ANSWERED);
    run_for(QUIET_MS);
    CHECK_INT(fx.checks, 0);
    CHECK_INT(fx.n_changes, 1);
    teardown();
}

static void test_lazy_checks_start_once_min_samples_are_in_and_the_share_reaches_threshold(void)
{
    struct rt_lazy_config lazy = lazy_ring(10, 5, 40);

    setup_lazy(BACKEND_ANSWERS, &lazy, 3, 3);
    queries(2, RT_QUERY_TIMED_OUT); /* 2 of 2 failed, but fewer than 5 outcomes */
    queries(2, RT_QUERY_ANSWERED);  /* 2 of 4 */
    run_for(QUIET_MS);
    CHECK_INT(fx.checks, 0);
    queries(1, RT_QUERY_ANSWERED); /* 2 of 5: 40% */
    CHECK(wait_checks(1));
    CHECK(rt_health_is_up(fx.health)); /* a potential failure is still up */
    CHECK_INT(fx.n_changes, 1);
    teardown();
}

static void test_lazy_share_below_threshold_starts_no_checks(void)
{
    struct rt_lazy_config lazy = lazy_ring(10, 1, 40);

    setup_lazy(BACKEND_ANSWERS, &lazy, 1, 1);
    queries(7, RT_QUERY_ANSWERED);
    queries(3, RT_QUERY_TIMED_OUT); /* 3 of 10: 30% */
    run_for(QUIET_MS);
    CHECK_INT(fx.checks, 0);
    teardown();
}

static void test_lazy_oldest_outcome_leaves_a_full_ring(void)
{
    struct rt_lazy_config lazy = lazy_ring(4, 4, 50);

    setup_lazy(BACKEND_ANSWERS, &lazy, 1, 1);
    queries(1, RT_QUERY_TIMED_OUT);
    queries(3, RT_QUERY_ANSWERED);  /* 1 of 4 */
    queries(1, RT_QUERY_TIMED_OUT); /* the first timeout gave way: still 1 of 4 */
    run_for(QUIET_MS);
    CHECK_INT(fx.checks, 0);
    queries(1, RT_QUERY_TIMED_OUT); /* 2 of 4: 50% */
    CHECK(wait_checks(1));
    teardown();
}

static void test_lazy_servfail_answers_are_failures_by_default(void)
{
    struct rt_lazy_config lazy = lazy_config();

    setup_lazy(BACKEND_ANSWERS, &lazy, 1, 1);
    queries(1, RT_QUERY_SERVFAIL); /* 1 of 1 */
    CHECK(wait_checks(1));
    teardown();
}

static void test_lazy_timeout_only_mode_ignores_servfail_answers(void)
{
    struct rt_lazy_config lazy = lazy_config();

    lazy.servfail_fails = false;
    setup_lazy(BACKEND_ANSWERS, &lazy, 1, 1);
    queries(50, RT_QUERY_SERVFAIL);
    run_for(QUIET_MS);
    CHECK_INT(fx.checks, 0);
    queries(15, RT_QUERY_TIMED_OUT); /* timeouts still count: 15 of 65 */
    CHECK(wait_checks(1));
    teardown();
}

static void test_lazy_potential_failure_is_healthy_again_after_rise_successful_checks(void)
{
    struct rt_lazy_config lazy = lazy_config();

    setup_lazy(BACKEND_ANSWERS, &lazy, 3, 3);
    queries(1, RT_QUERY_TIMED_OUT);
    CHECK(wait_checks(3));
    run_for(QUIET_MS); /* healthy again: the checks have stopped */
    CHECK_INT(fx.checks, 3);
    CHECK_INT(fx.n_changes, 1); /* it was never down */
    CHECK(rt_health_is_up(fx.health));
    teardown();
}

static void test_lazy_max_check_failures_failed_checks_mark_it_down(void)
{
    struct rt_lazy_config lazy = lazy_config();

    setup_lazy(BACKEND_SERVFAIL, &lazy, 3, 2);
    queries(1, RT_QUERY_TIMED_OUT);
    CHECK(wait_checks(2));
    CHECK(rt_health_is_up(fx.health));
    CHECK(wait_changes(2));
    CHECK_INT(last_state(), 0);
    CHECK_INT(fx.checks, 3);
    CHECK(!rt_health_is_up(fx.health));
    teardown();
}

static void test_lazy_failed_backend_is_checked_every_failed_interval(void)
{
    struct rt_lazy_config lazy = lazy_config();

    lazy.failed_interval_ms = 100;
    setup_lazy(BACKEND_SERVFAIL, &lazy, 1, 1);
    queries(1, RT_QUERY_TIMED_OUT);
    CHECK(wait_checks(4)); /* the first failed check marked it down */
    CHECK_INT(last_state(), 0);
    for (unsigned i = 0; i < 3; i++) {
        CHECK(check_gap_ms(i) >= 99); /* a timer never fires early; how late is the host's */
    }
    teardown();
}

/* The delay after each failed check of a Failed backend, from the state machine alone (no
 * clock: spacing on a loaded machine says nothing of the rule). */
static void failed_check_delays(const struct rt_lazy_config *lazy, uint64_t *out, size_t n)
{
    struct rt_backend_config cfg = backend_config(RT_HEALTH_LAZY, 1, 1);
    struct rt_lazy l;

    cfg.lazy = *lazy;
    cfg.lazy.sample_size = 1;
    cfg.lazy.min_samples = 1;
    rt_lazy_reset(&l);
    CHECK(rt_lazy_record(&l, &cfg, RT_QUERY_TIMED_OUT));
    CHECK_INT(rt_lazy_check(&l, &cfg, false), RT_LAZY_FAILED);
    for (size_t i = 0; i < n; i++) {
        out[i] = rt_lazy_check_delay_ms(&l, &cfg);
        CHECK_INT(rt_lazy_check(&l, &cfg, false), RT_LAZY_FAILED);
    }
}

static void test_lazy_failed_interval_stays_without_backoff(void)
{
    struct rt_lazy_config lazy = lazy_config();
    uint64_t got[4];

    lazy.failed_interval_ms = 30000;
    failed_check_delays(&lazy, got, 4);
    for (unsigned i = 0; i < 4; i++) {
        CHECK_INT((long long)got[i], 30000);
    }
}

static void test_lazy_backoff_doubles_the_failed_interval_up_to_its_cap(void)
{
    static const long long want_ms[] = {50, 100, 200, 200};
    struct rt_lazy_config lazy = lazy_config();
    uint64_t got[4];

    lazy.failed_interval_ms = 50;
    lazy.backoff = true;
    lazy.max_backoff_ms = 200;
    failed_check_delays(&lazy, got, 4);
    for (unsigned i = 0; i < 4; i++) {
        CHECK_INT((long long)got[i], want_ms[i]);
    }
}

static void test_lazy_failed_backend_is_up_again_after_rise_successful_checks(void)
{
    struct rt_lazy_config lazy = lazy_config();

    setup_lazy(BACKEND_SERVFAIL, &lazy, 1, 3);
    queries(1, RT_QUERY_TIMED_OUT);
    CHECK(wait_changes(2));
    CHECK_INT(last_state(), 0);
    fx.mode = BACKEND_ANSWERS;
    unsigned before = fx.checks;
    CHECK(wait_changes(3));
    CHECK_INT(last_state(), 1);
    CHECK_INT(fx.checks - before, 3);
    unsigned checks_when_up = fx.checks;
    run_for(QUIET_MS); /* the checks stop once it is up */
    CHECK_INT(fx.checks, checks_when_up);
    teardown();
}

static void test_lazy_query_outcomes_do_not_count_while_it_is_checked(void)
{
    struct rt_lazy_config lazy = lazy_config();

    setup_lazy(BACKEND_SERVFAIL, &lazy, 1, 3);
    queries(1, RT_QUERY_TIMED_OUT);
    CHECK(wait_changes(2));
    queries(5, RT_QUERY_ANSWERED); /* answered queries do not bring it back ... */
    CHECK(wait_checks(fx.checks + 2));
    CHECK(!rt_health_is_up(fx.health));
    fx.mode = BACKEND_ANSWERS;
    unsigned before = fx.checks;
    CHECK(wait_checks(before + 2));
    queries(3, RT_QUERY_TIMED_OUT); /* ... nor do timeouts undo the checks' count of successes */
    CHECK(wait_changes(3));
    CHECK_INT(last_state(), 1);
    CHECK_INT(fx.checks - before, 3);
    teardown();
}

static void test_lazy_ring_is_cleared_when_it_is_healthy_again(void)
{
    struct rt_lazy_config lazy = lazy_ring(10, 5, 40);

    setup_lazy(BACKEND_ANSWERS, &lazy, 1, 1);
    queries(5, RT_QUERY_TIMED_OUT);
    CHECK(wait_checks(1));
    run_for(QUIET_MS); /* one success: healthy again */
    CHECK_INT(fx.checks, 1);
    /* Had the five timeouts stayed, one more would start the checks again. */
    queries(1, RT_QUERY_TIMED_OUT);
    queries(4, RT_QUERY_ANSWERED); /* 1 of 5: 20% */
    run_for(QUIET_MS);
    CHECK_INT(fx.checks, 1);
    teardown();
}

static void test_lazy_reload_keeps_a_failed_backend_down_and_checked(void)
{
    struct rt_lazy_config lazy = lazy_config();
    struct rt_backend_config cfg;

    setup_lazy(BACKEND_SERVFAIL, &lazy, 1, 1);
    queries(1, RT_QUERY_TIMED_OUT);
    CHECK(wait_changes(2));
    cfg = backend_config(RT_HEALTH_LAZY, 1, 1);
    cfg.lazy = lazy;
    cfg.lazy.threshold = 50;
    rt_health_update(fx.health, &cfg);
    CHECK(!rt_health_is_up(fx.health));
    CHECK(wait_checks(fx.checks + 2));
    CHECK_INT(fx.n_changes, 2);
    teardown();
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_auto_first_check_decides_at_once),
        UNIT(test_auto_check_is_id_server_ch_txt_with_rd),
        UNIT(test_auto_failures_in_a_row_mark_it_down_and_rise_successes_up),
        UNIT(test_auto_any_rcode_but_servfail_is_a_success),
        UNIT(test_auto_unanswered_check_marks_it_down),
        UNIT(test_mode_up_is_up_at_once_and_never_checked),
        UNIT(test_mode_down_is_down_at_once_and_never_checked),
        UNIT(test_lazy_starts_up_and_is_not_checked_while_queries_are_answered),
        UNIT(test_lazy_checks_start_once_min_samples_are_in_and_the_share_reaches_threshold),
        UNIT(test_lazy_share_below_threshold_starts_no_checks),
        UNIT(test_lazy_oldest_outcome_leaves_a_full_ring),
        UNIT(test_lazy_servfail_answers_are_failures_by_default),
        UNIT(test_lazy_timeout_only_mode_ignores_servfail_answers),
        UNIT(test_lazy_potential_failure_is_healthy_again_after_rise_successful_checks),
        UNIT(test_lazy_max_check_failures_failed_checks_mark_it_down),
        UNIT(test_lazy_failed_backend_is_checked_every_failed_interval),
        UNIT(test_lazy_failed_interval_stays_without_backoff),
        UNIT(test_lazy_backoff_doubles_the_failed_interval_up_to_its_cap),
        UNIT(test_lazy_failed_backend_is_up_again_after_rise_successful_checks),
        UNIT(test_lazy_query_outcomes_do_not_count_while_it_is_checked),
        UNIT(test_lazy_ring_is_cleared_when_it_is_healthy_again),
        UNIT(test_lazy_reload_keeps_a_failed_backend_down_and_checked),
    };

    if (sodium_init() < 0) {
        return 1;
    }
    return unit_run("router_health", tests, sizeof(tests) / sizeof(tests[0]));
}
