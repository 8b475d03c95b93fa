/* TCP from the router to a backend, driven for real over loopback: the "backend" is a TCP
 * listener in the test, watched by uv_poll_t on the same loop, which counts the connections
 * it accepts and reads, holds, answers (in any order) or drops the queries on them. Each test
 * runs the loop until what it waits for has happened or WAIT_MS have passed; an alarm ends a
 * test that hangs all the same. */
#include "dns.h"
#include "dns_msg.h"
#include "dns_name.h"
#include "rt_backend.h"
#include "rt_tcp.h"
#include "unit.h"
#include "unit_loop.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAIT_MS 2000
#define WATCHDOG_S 20
#define MAX_CONNS 20 /* more than the router opens, so that a 17th would show */
#define MAX_HELD 64
#define LONG_TIMEOUT_MS 5000

enum server_mode {
    SERVER_ANSWER, /* answer each query as it arrives */
    SERVER_HOLD,   /* keep the queries; the test answers them */
    SERVER_DROP,   /* close the connection on the first query, answering nothing */
};

struct held {
    int fd;
    uint8_t msg[512];
    size_t len;
};

struct server_conn {
    int fd;
    uv_poll_t poll;
    bool open;
    uint8_t buf[4096];
    size_t have;
};

static struct {
    uv_loop_t loop;
    uv_timer_t deadline;
    struct rt_backend_rx *rx;
    struct rt_backend *backend;
    struct addr server;
    int listen_fd;
    uv_poll_t listen_poll;
    enum server_mode mode;
    struct server_conn conns[MAX_CONNS];
    unsigned accepted;
    unsigned received;
    struct held held[MAX_HELD];
    unsigned n_held;
    uint16_t answered_ids[MAX_HELD]; /* client IDs, in the order answers reached the router */
    unsigned n_answers;
    unsigned n_failed;
} fx;

/* ---- the router side ---- */

static void on_answer(void *user, struct rt_backend *b, const struct rt_pending *p, uint8_t *answer,
                      size_t len)
{
    (void)user;
    (void)b;
    (void)answer;
    (void)len;
    if (fx.n_answers < MAX_HELD) {
        fx.answered_ids[fx.n_answers] = p->q.hdr.id;
    }
    fx.n_answers++;
}

static void on_fail(void *user, struct rt_backend *b, const struct rt_pending *p,
                    const uint8_t *query, size_t len)
{
    (void)user;
    (void)b;
    (void)p;
    CHECK(len > DNS_HEADER_LEN && query != NULL); /* given back for a retry elsewhere */
    fx.n_failed++;
}

/* Builds "q<i>.test A" with client ID id; returns its length. */
static size_t make_query(unsigned i, uint16_t id, uint8_t *out)
{
    char text[32];
    size_t name_len = 0;

    snprintf(text, sizeof(text), "q%u.test", i);
    memset(out, 0, DNS_HEADER_LEN);
    out[0] = (uint8_t)(id >> 8);
    out[1] = (uint8_t)id;
    out[5] = 1; /* QDCOUNT */
    CHECK_INT(dns_name_from_text(text, out + DNS_HEADER_LEN, &name_len), 0);
    uint8_t *tail = out + DNS_HEADER_LEN + name_len;
    tail[0] = 0, tail[1] = 1; /* A */
    tail[2] = 0, tail[3] = 1; /* IN */
    return DNS_HEADER_LEN + name_len + 4;
}

/* Sends query i with client ID 1000 + i over TCP. */
static int send_query(unsigned i)
{
    uint8_t msg[512];
    struct rt_pending p = {0};
    size_t len = make_query(i, (uint16_t)(1000 + i), msg);

    CHECK_INT(dns_msg_parse_query(msg, len, &p.q), 0);
    p.client.transport = DNS_TRANSPORT_TCP;
    return rt_backend_send_tcp(fx.backend, &p, msg, len);
}

/* ---- the backend side ---- */

static void server_write(int fd, const uint8_t *msg, size_t len)
{
    uint8_t frame[2 + 512];

    frame[0] = (uint8_t)(len >> 8);
    frame[1] = (uint8_t)len;
    memcpy(frame + 2, msg, len);
    frame[2 + 2] |= DNS_FLAG_QR >> 8;
    CHECK_INT(send(fd, frame, 2 + len, MSG_NOSIGNAL), (long long)(2 + len));
}

static void server_conn_close(struct server_conn *c)
{
    if (c->open) {
        c->open = false;
        uv_close((uv_handle_t *)&c->poll, NULL);
        close(c->fd);
    }
}

/* Handles every whole frame read so far on c. */
static void server_frames(struct server_conn *c)
{
    size_t at = 0;

    while (c->have - at >= 2) {
        size_t len = (size_t)c->buf[at] << 8 | c->buf[at + 1];
        if (c->have - at < 2 + len) {
            break;
        }
        fx.received++;
        if (fx.mode == SERVER_DROP) {
            server_conn_close(c);
            return;
        }
        if (fx.mode == SERVER_ANSWER) {
            server_write(c->fd, c->buf + at + 2, len);
        } else if (fx.n_held < MAX_HELD && len <= sizeof(fx.held[0].msg)) {
            fx.held[fx.n_held].fd = c->fd;
            memcpy(fx.held[fx.n_held].msg, c->buf + at + 2, len);
            fx.held[fx.n_held++].len = len;
        }
        at += 2 + len;
    }
    memmove(c->buf, c->buf + at, c->have - at);
    c->have -= at;
}

static void on_server_readable(uv_poll_t *p, int status, int events)
{
    struct server_conn *c = p->data;
    ssize_t n;

    (void)events;
    n = status < 0 ? -1 : recv(c->fd, c->buf + c->have, sizeof(c->buf) - c->have, MSG_DONTWAIT);
    if (n <= 0) {
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            server_conn_close(c);
        }
        return;
    }
    c->have += (size_t)n;
    server_frames(c);
}

static void on_server_accept(uv_poll_t *p, int status, int events)
{
    int fd;

    (void)p;
    (void)status;
    (void)events;
    while ((fd = accept4(fx.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        struct server_conn *c = NULL;
        for (size_t i = 0; i < MAX_CONNS && c == NULL; i++) {
            c = fx.conns[i].open || fx.conns[i].fd != 0 ? NULL : &fx.conns[i];
        }
        fx.accepted++;
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->open = true;
        uv_poll_init_socket(&fx.loop, &c->poll, fd);
        c->poll.data = c;
        uv_poll_start(&c->poll, UV_READABLE, on_server_readable);
    }
}

/* Listens on 127.0.0.1; with listening false the port is bound but refuses connections. */
static void open_server(bool listening)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t len = sizeof(sin);
    int one = 1;

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fx.listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    setsockopt(fx.listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    CHECK_INT(bind(fx.listen_fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    CHECK_INT(getsockname(fx.listen_fd, (struct sockaddr *)&sin, &len), 0);
    memcpy(&fx.server.sa, &sin, sizeof(sin));
    fx.server.len = sizeof(sin);
    if (listening) {
        CHECK_INT(listen(fx.listen_fd, 64), 0);
        uv_poll_init_socket(&fx.loop, &fx.listen_poll, fx.listen_fd);
        uv_poll_start(&fx.listen_poll, UV_READABLE, on_server_accept);
    }
}

/* ---- loop plumbing ---- */

static bool run_until(bool (*done)(void *arg), uint64_t ms)
{
    return unit_loop_until(&fx.deadline, done, NULL, ms);
}

static void run_for(uint64_t ms)
{
    unit_loop_for(&fx.deadline, ms);
}

static unsigned want;

static bool enough_answers(void *arg)
{
    (void)arg;
    return fx.n_answers >= want;
}

static bool enough_failures(void *arg)
{
    (void)arg;
    return fx.n_failed >= want;
}

static bool enough_held(void *arg)
{
    (void)arg;
    return fx.n_held >= want;
}

static bool enough_received(void *arg)
{
    (void)arg;
    return fx.received >= want;
}

static void setup(enum server_mode mode, bool listening, uint32_t timeout_ms)
{
    struct rt_backend_config cfg = {.name = "test", .sockets = 1, .weight = 1};

    memset(&fx, 0, sizeof(fx));
    alarm(WATCHDOG_S);
    uv_loop_init(&fx.loop);
    uv_timer_init(&fx.loop, &fx.deadline);
    fx.mode = mode;
    open_server(listening);
    cfg.addr = fx.server;
    fx.rx = rt_backend_rx_new();
    CHECK_INT(rt_backend_new(&fx.loop, &cfg, 64, timeout_ms, fx.rx, on_answer, on_fail, NULL,
                             &fx.backend),
              0);
}

static void teardown(bool listening)
{
    rt_backend_close(fx.backend);
    for (size_t i = 0; i < MAX_CONNS; i++) {
        server_conn_close(&fx.conns[i]);
    }
    if (listening) {
        uv_close((uv_handle_t *)&fx.listen_poll, NULL);
    }
    uv_close((uv_handle_t *)&fx.deadline, NULL);
    uv_run(&fx.loop, UV_RUN_DEFAULT);
    CHECK_INT(uv_loop_close(&fx.loop), 0);
    close(fx.listen_fd);
    rt_backend_rx_free(fx.rx);
    alarm(0);
}

static struct rt_backend_stats stats(void)
{
    struct rt_backend_stats st;
    rt_backend_stats(fx.backend, &st);
    return st;
}

/* ---- the tests ---- */

static void test_queries_share_one_connection_and_it_is_reused(void)
{
    setup(SERVER_ANSWER, true, LONG_TIMEOUT_MS);
    for (unsigned i = 0; i < 10; i++) {
        CHECK_INT(send_query(i), 0);
    }
    want = 10;
    CHECK(run_until(enough_answers, WAIT_MS));
    for (unsigned i = 0; i < 5; i++) {
        CHECK_INT(send_query(10 + i), 0);
    }
    want = 15;
    CHECK(run_until(enough_answers, WAIT_MS));
    CHECK_INT(fx.accepted, 1);
    CHECK_INT(stats().tcp_connects, 1);
    /* The second five reuse the blocks of the first ten: no allocation per query. */
    CHECK_INT(stats().tcp_blocks, 10);
    CHECK_INT(stats().queries, 15);
    CHECK_INT(stats().responses, 15);
    CHECK_INT(stats().outstanding, 0);
    CHECK_INT(fx.n_failed, 0);
    teardown(true);
}

static void test_answers_in_another_order_reach_their_queries(void)
{
    setup(SERVER_HOLD, true, LONG_TIMEOUT_MS);
    for (unsigned i = 0; i < 3; i++) {
        CHECK_INT(send_query(i), 0);
    }
    want = 3;
    CHECK(run_until(enough_held, WAIT_MS));
    for (unsigned i = 3; i-- > 0;) {
        server_write(fx.held[i].fd, fx.held[i].msg, fx.held[i].len);
    }
    CHECK(run_until(enough_answers, WAIT_MS));
    CHECK_INT(fx.answered_ids[0], 1002);
    CHECK_INT(fx.answered_ids[1], 1001);
    CHECK_INT(fx.answered_ids[2], 1000);
    CHECK_INT(fx.accepted, 1);
    teardown(true);
}

static void test_answer_to_another_question_is_ignored(void)
{
    setup(SERVER_HOLD, true, 200);
    CHECK_INT(send_query(1), 0);
    want = 1;
    CHECK(run_until(enough_held, WAIT_MS));
    fx.held[0].msg[fx.held[0].len - 3] = 28; /* AAAA: not what was asked */
    server_write(fx.held[0].fd, fx.held[0].msg, fx.held[0].len);
    CHECK(run_until(enough_failures, WAIT_MS)); /* so it times out */
    CHECK_INT(fx.n_answers, 0);
    CHECK_INT(stats().mismatched, 1);
    CHECK_INT(stats().timeouts, 1);
    teardown(true);
}

static void test_query_on_a_connection_the_server_closes_is_sent_again(void)
{
    setup(SERVER_DROP, true, LONG_TIMEOUT_MS);
    CHECK_INT(send_query(1), 0);
    want = 1;
    CHECK(run_until(enough_failures, WAIT_MS));
    /* Each connection closed with the query on it: sent again three times, then given up. */
    CHECK_INT(fx.accepted, 1 + RT_TCP_MAX_RESENDS);
    CHECK_INT(stats().tcp_resent, RT_TCP_MAX_RESENDS);
    CHECK_INT(fx.n_answers, 0);

    fx.mode = SERVER_ANSWER;
    fx.n_failed = 0;
    CHECK_INT(send_query(2), 0);
    CHECK(run_until(enough_answers, WAIT_MS));
    CHECK_INT(fx.answered_ids[0], 1002);
    CHECK_INT(fx.accepted, 2 + RT_TCP_MAX_RESENDS);
    teardown(true);
}

static void test_refused_connection_fails_its_queries_at_once(void)
{
    setup(SERVER_ANSWER, false, LONG_TIMEOUT_MS);
    CHECK_INT(send_query(1), 0);
    CHECK_INT(send_query(2), 0);
    want = 2;
    CHECK(run_until(enough_failures, WAIT_MS));
    /* Not sent again: nothing was ever established. */
    CHECK_INT(stats().tcp_resent, 0);
    CHECK_INT(stats().outstanding, 0);
    teardown(false);
}

static void test_unanswered_query_times_out(void)
{
    setup(SERVER_HOLD, true, 100);
    CHECK_INT(send_query(1), 0);
    want = 1;
    CHECK(run_until(enough_failures, WAIT_MS));
    CHECK_INT(stats().timeouts, 1);
    CHECK_INT(fx.n_answers, 0);
    /* A late answer is ignored. */
    server_write(fx.held[0].fd, fx.held[0].msg, fx.held[0].len);
    want = 1;
    run_for(100);
    CHECK_INT(fx.n_answers, 0);
    CHECK_INT(stats().mismatched, 1);
    teardown(true);
}

/* Sixteen connections carrying 32 queries each are all one backend gets: the next query opens
 * no seventeenth but is refused (the router then tries another backend, or answers
 * SERVFAIL), and once an answer has made room, a query goes on a connection already open. */
static void test_full_connections_open_no_seventeenth(void)
{
    unsigned full = RT_TCP_MAX_CONNS * RT_TCP_PIPELINE;

    setup(SERVER_HOLD, true, LONG_TIMEOUT_MS);
    for (unsigned i = 0; i < full; i++) {
        CHECK_INT(send_query(i), 0);
    }
    want = full;
    CHECK(run_until(enough_received, WAIT_MS));
    CHECK_INT(fx.accepted, RT_TCP_MAX_CONNS);

    CHECK_INT(send_query(full), -EBUSY);
    run_for(100);
    CHECK_INT(fx.accepted, RT_TCP_MAX_CONNS);
    CHECK_INT(stats().full, 1);
    CHECK_INT(stats().outstanding, full);

    server_write(fx.held[0].fd, fx.held[0].msg, fx.held[0].len);
    want = 1;
    CHECK(run_until(enough_answers, WAIT_MS));
    CHECK_INT(send_query(full + 1), 0);
    want = full + 1;
    CHECK(run_until(enough_received, WAIT_MS));
    CHECK_INT(fx.accepted, RT_TCP_MAX_CONNS);
    CHECK_INT(stats().tcp_connects, RT_TCP_MAX_CONNS);
    teardown(true);
}

static void test_close_abandons_queries_in_flight(void)
{
    setup(SERVER_HOLD, true, LONG_TIMEOUT_MS);
    CHECK_INT(send_query(1), 0);
    want = 1;
    CHECK(run_until(enough_held, WAIT_MS));
    teardown(true); /* no callback may run, and nothing may leak */
    CHECK_INT(fx.n_answers, 0);
    CHECK_INT(fx.n_failed, 0);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_queries_share_one_connection_and_it_is_reused),
        UNIT(test_answers_in_another_order_reach_their_queries),
        UNIT(test_answer_to_another_question_is_ignored),
        UNIT(test_query_on_a_connection_the_server_closes_is_sent_again),
        UNIT(test_refused_connection_fails_its_queries_at_once),
        UNIT(test_unanswered_query_times_out),
        UNIT(test_full_connections_open_no_seventeenth),
        UNIT(test_close_abandons_queries_in_flight),
    };

    if (sodium_init() < 0) {
        return 1;
    }
    return unit_run("router_tcp", tests, sizeof(tests) / sizeof(tests[0]));
}
