/* The health board that the loops of threads = N share: what it keeps and when it tells, and
 * two judges of one backend on one loop, one checking and one following, against a UDP
 * socket that plays the backend (the test answers its checks, or stops answering them). */
#include "dns.h"
#include "rt_config.h"
#include "rt_health.h"
#include "rt_health_board.h"
#include "unit.h"
#include "unit_loop.h"
#include "upstream.h"

#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAIT_MS 3000
#define WATCHDOG_S 20

static unsigned changes;

static void count_change(void *arg)
{
    (void)arg;
    changes++;
}

static struct rt_backend_config backend_at(const char *name, const char *address)
{
    struct rt_backend_config cfg;

    rt_config_backend_defaults(&cfg);
    snprintf(cfg.name, sizeof(cfg.name), "%s", name);
    CHECK_INT(addr_parse(address, 53, &cfg.addr), 0);
    return cfg;
}

static void test_board_reads_back_what_was_posted_for_that_name_and_address(void)
{
    struct rt_health_board *b;
    struct rt_backend_config a = backend_at("a", "127.0.0.1:5301");
    struct rt_backend_config same_name_elsewhere = backend_at("a", "127.0.0.1:5300");
    struct rt_backend_config other = backend_at("b", "127.0.0.1:5301");

    CHECK_INT(rt_health_board_new(NULL, NULL, &b), 0);
    CHECK_INT(rt_health_board_read(b, &a), -ENOENT);
    rt_health_board_post(b, &a, true);
    CHECK_INT(rt_health_board_read(b, &a), 1);
    CHECK_INT(rt_health_board_read(b, &same_name_elsewhere), -ENOENT);
    CHECK_INT(rt_health_board_read(b, &other), -ENOENT);
    rt_health_board_post(b, &a, false);
    CHECK_INT(rt_health_board_read(b, &a), 0);
    rt_health_board_free(b);
}

static void test_board_tells_of_first_verdicts_and_changes_only(void)
{
    struct rt_health_board *b;
    struct rt_backend_config a = backend_at("a", "127.0.0.1:5301");

    changes = 0;
    CHECK_INT(rt_health_board_new(count_change, NULL, &b), 0);
    rt_health_board_post(b, &a, true);
    CHECK_INT(changes, 1);
    rt_health_board_post(b, &a, true);
    rt_health_board_post(b, &a, true);
    CHECK_INT(changes, 1);
    rt_health_board_post(b, &a, false);
    CHECK_INT(changes, 2);
    rt_health_board_free(b);
}

static void test_full_board_forgets_the_verdict_posted_longest_ago(void)
{
    struct rt_health_board *b;
    struct rt_backend_config first = backend_at("first", "127.0.0.1:1000");
    struct rt_backend_config kept = backend_at("kept", "127.0.0.1:1001");
    char name[RT_NAME_MAX], address[32];

    CHECK_INT(rt_health_board_new(NULL, NULL, &b), 0);
    rt_health_board_post(b, &first, true);
    rt_health_board_post(b, &kept, true);
    for (unsigned i = 2; i < RT_HEALTH_BOARD_SLOTS; i++) {
        snprintf(name, sizeof(name), "b%u", i);
        snprintf(address, sizeof(address), "127.0.0.1:%u", 1000 + i);
        struct rt_backend_config c = backend_at(name, address);
        rt_health_board_post(b, &c, true);
    }
    rt_health_board_post(b, &kept, false); /* posted again: now the newest */
    CHECK_INT(rt_health_board_read(b, &first), 1);

    struct rt_backend_config one_more = backend_at("one-more", "127.0.0.2:53");
    rt_health_board_post(b, &one_more, true);
    CHECK_INT(rt_health_board_read(b, &one_more), 1);
    CHECK_INT(rt_health_board_read(b, &first), -ENOENT);
    CHECK_INT(rt_health_board_read(b, &kept), 0);
    rt_health_board_free(b);
}

/* Two judges on one loop, the way two loops share a board. */
static struct {
    uv_loop_t loop;
    uv_timer_t deadline;
    struct upstream *up;
    int server_fd;
    uv_poll_t server_poll;
    bool answering;
    unsigned checks_seen;
    struct rt_health_board *board;
    struct rt_health *checker, *follower;
    unsigned follower_verdicts;
} fx;

/* The backend: every check query read is counted and, while answering, answered NOERROR. */
static void on_server_readable(uv_poll_t *p, int status, int events)
{
    uint8_t buf[512];
    struct sockaddr_storage from;
    socklen_t from_len = sizeof(from);
    ssize_t n;

    (void)p;
    (void)status;
    (void)events;
    n = recvfrom(fx.server_fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &from_len);
    if (n < DNS_HEADER_LEN) {
        return;
    }
    fx.checks_seen++;
    if (fx.answering) {
        buf[2] |= 0x80; /* QR: the question comes back as an empty NOERROR answer */
        sendto(fx.server_fd, buf, (size_t)n, 0, (struct sockaddr *)&from, from_len);
    }
}

static struct addr open_server(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t len = sizeof(sin);
    struct addr a = {0};

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fx.server_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    CHECK(fx.server_fd >= 0);
    CHECK_INT(bind(fx.server_fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    CHECK_INT(getsockname(fx.server_fd, (struct sockaddr *)&sin, &len), 0);
    memcpy(&a.sa, &sin, sizeof(sin));
    a.len = sizeof(sin);
    uv_poll_init(&fx.loop, &fx.server_poll, fx.server_fd);
    uv_poll_start(&fx.server_poll, UV_READABLE, on_server_readable);
    return a;
}

static void on_verdict(void *user, struct rt_health *h, bool up)
{
    (void)user;
    (void)up;
    if (h == fx.follower) {
        fx.follower_verdicts++;
    }
}

/* The board's owner wakes the following loop; here it is the same loop, so at once. */
static void follow_now(void *arg)
{
    (void)arg;
    if (fx.follower != NULL) {
        rt_health_follow(fx.follower);
    }
}

static struct rt_backend_config setup(void)
{
    struct rt_backend_config cfg;

    memset(&fx, 0, sizeof(fx));
    alarm(WATCHDOG_S);
    uv_loop_init(&fx.loop);
    uv_timer_init(&fx.loop, &fx.deadline);
    CHECK_INT(upstream_new(&fx.loop, 16, &fx.up), 0);
    CHECK_INT(rt_health_board_new(follow_now, NULL, &fx.board), 0);
    rt_config_backend_defaults(&cfg);
    snprintf(cfg.name, sizeof(cfg.name), "shared");
    cfg.addr = open_server();
    cfg.check_interval_ms = 50;
    cfg.check_timeout_ms = 100;
    fx.answering = true;
    return cfg;
}

static void new_judge(const struct rt_backend_config *cfg, bool follow, struct rt_health **out)
{
    struct rt_health_opts opts = {.log_changes = false, .board = fx.board, .follow = follow};

    CHECK_INT(rt_health_new(&fx.loop, fx.up, cfg, &opts, on_verdict, NULL, out), 0);
}

static void teardown(void)
{
    rt_health_free(fx.follower);
    fx.follower = NULL;
    rt_health_free(fx.checker);
    upstream_free(fx.up);
    uv_close((uv_handle_t *)&fx.server_poll, NULL);
    uv_close((uv_handle_t *)&fx.deadline, NULL);
    uv_run(&fx.loop, UV_RUN_DEFAULT);
    CHECK_INT(uv_loop_close(&fx.loop), 0);
    rt_health_board_free(fx.board);
    close(fx.server_fd);
    alarm(0);
}

static bool follower_settled(void *arg)
{
    (void)arg;
    return rt_health_settled(fx.follower);
}

static bool follower_down(void *arg)
{
    (void)arg;
    return rt_health_settled(fx.follower) && !rt_health_is_up(fx.follower);
}

static bool follower_up(void *arg)
{
    (void)arg;
    return rt_health_is_up(fx.follower);
}

static void test_follower_sends_no_checks_and_waits_for_a_posted_verdict(void)
{
    struct rt_backend_config cfg = setup();

    new_judge(&cfg, true, &fx.follower);
    unit_loop_for(&fx.deadline, 300); /* six check intervals */
    CHECK_INT(fx.checks_seen, 0);
    CHECK(!rt_health_settled(fx.follower));

    rt_health_board_post(fx.board, &cfg, false);
    CHECK(follower_down(NULL));
    CHECK_INT(fx.follower_verdicts, 1);
    teardown();
}

static void test_follower_takes_a_verdict_posted_before_it_started(void)
{
    struct rt_backend_config cfg = setup();

    rt_health_board_post(fx.board, &cfg, true);
    new_judge(&cfg, true, &fx.follower);
    CHECK(rt_health_is_up(fx.follower));
    CHECK_INT(fx.checks_seen, 0);
    teardown();
}

static void test_follower_goes_down_and_up_with_the_checker(void)
{
    struct rt_backend_config cfg = setup();

    new_judge(&cfg, true, &fx.follower);
    new_judge(&cfg, false, &fx.checker);
    CHECK(unit_loop_until(&fx.deadline, follower_settled, NULL, WAIT_MS));
    CHECK(rt_health_is_up(fx.follower));
    CHECK(rt_health_is_up(fx.checker));
    CHECK_INT(fx.checks_seen, 1); /* the checker's first check, and no other judge's */

    fx.answering = false;
    CHECK(unit_loop_until(&fx.deadline, follower_down, NULL, WAIT_MS));
    CHECK(!rt_health_is_up(fx.checker));

    fx.answering = true;
    CHECK(unit_loop_until(&fx.deadline, follower_up, NULL, WAIT_MS));
    CHECK(rt_health_is_up(fx.checker));
    CHECK_INT(fx.follower_verdicts, 3); /* up, down, up: once each */
    teardown();
}

static void test_follower_in_lazy_mode_judges_by_itself(void)
{
    struct rt_backend_config cfg = setup();

    cfg.health = RT_HEALTH_LAZY;
    rt_health_board_post(fx.board, &cfg, false); /* a verdict it must not take */
    new_judge(&cfg, true, &fx.follower);
    CHECK(rt_health_is_up(fx.follower)); /* lazy: trusted until its queries fail */
    rt_health_follow(fx.follower);
    CHECK(rt_health_is_up(fx.follower));
    teardown();
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_board_reads_back_what_was_posted_for_that_name_and_address),
        UNIT(test_board_tells_of_first_verdicts_and_changes_only),
        UNIT(test_full_board_forgets_the_verdict_posted_longest_ago),
        UNIT(test_follower_sends_no_checks_and_waits_for_a_posted_verdict),
        UNIT(test_follower_takes_a_verdict_posted_before_it_started),
        UNIT(test_follower_goes_down_and_up_with_the_checker),
        UNIT(test_follower_in_lazy_mode_judges_by_itself),
    };

    if (sodium_init() < 0) {
        return 1;
    }
    return unit_run("router_health_board", tests, sizeof(tests) / sizeof(tests[0]));
}
