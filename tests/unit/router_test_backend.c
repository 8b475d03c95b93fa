/* The router's UDP backend, driven for real over loopback: the "backend" is a plain UDP socket
 * that the test reads and answers by hand, so it can see how queries leave (how many in one
 * sendmmsg, in what order, with what IDs) and answer them right or wrong. Each test runs the
 * loop until what it waits for has happened or WAIT_MS have passed; an alarm ends a test
 * that hangs all the same. */
#include "dns.h"
#include "dns_msg.h"
#include "dns_name.h"
#include "rt_backend.h"
#include "unit.h"
#include "unit_loop.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAIT_MS 2000
#define WATCHDOG_S 20
#define MAX_SEEN 128
#define LONG_TIMEOUT_MS 5000

struct seen_answer {
    uint16_t client_id; /* from the pending query */
    uint16_t wire_id;   /* from the answer */
};

static struct {
    uv_loop_t loop;
    uv_timer_t deadline;
    struct rt_backend_rx *rx;
    struct rt_backend *backend;
    int server_fd;
    struct addr server;
    struct seen_answer answers[MAX_SEEN];
    unsigned n_answers;
    uint16_t timed_out_ids[MAX_SEEN]; /* client IDs given to the timeout callback */
    unsigned n_timeouts;
} fx;

static void on_answer(void *user, struct rt_backend *b, const struct rt_pending *p, uint8_t *answer,
                      size_t len)
{
    (void)user;
    (void)b;
    (void)len;
    if (fx.n_answers < MAX_SEEN) {
        fx.answers[fx.n_answers].client_id = p->q.hdr.id;
        fx.answers[fx.n_answers].wire_id = (uint16_t)(answer[0] << 8 | answer[1]);
    }
    fx.n_answers++;
}

static void on_timeout(void *user, struct rt_backend *b, const struct rt_pending *p,
                       const uint8_t *query, size_t len)
{
    (void)user;
    (void)b;
    (void)query;
    (void)len;
    if (fx.n_timeouts < MAX_SEEN) {
        fx.timed_out_ids[fx.n_timeouts] = p->q.hdr.id;
    }
    fx.n_timeouts++;
}

static bool run_until(bool (*done)(void *arg), uint64_t ms)
{
    return unit_loop_until(&fx.deadline, done, NULL, ms);
}

static void run_for(uint64_t ms)
{
    unit_loop_for(&fx.deadline, ms);
}

/* A UDP socket on 127.0.0.1 that plays the backend; port 0 picks one. */
static int open_server(uint16_t port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
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

static void setup(uint32_t timeout_ms)
{
    struct rt_backend_config cfg = {.name = "test", .sockets = 1, .weight = 1};

    memset(&fx, 0, sizeof(fx));
    alarm(WATCHDOG_S);
    uv_loop_init(&fx.loop);
    uv_timer_init(&fx.loop, &fx.deadline);
    fx.server_fd = open_server(0);
    CHECK(fx.server_fd >= 0);
    cfg.addr = fx.server;
    fx.rx = rt_backend_rx_new();
    CHECK(fx.rx != NULL);
    CHECK_INT(rt_backend_new(&fx.loop, &cfg, 256, timeout_ms, fx.rx, on_answer, on_timeout, NULL,
                             &fx.backend),
              0);
}

static void teardown(void)
{
    rt_backend_close(fx.backend);
    uv_close((uv_handle_t *)&fx.deadline, NULL);
    uv_run(&fx.loop, UV_RUN_DEFAULT);
    CHECK_INT(uv_loop_close(&fx.loop), 0);
    rt_backend_rx_free(fx.rx);
    if (fx.server_fd >= 0) {
        close(fx.server_fd);
    }
    alarm(0);
}

/* Builds the query "q<i>.test A" with client ID id into out; returns its length. */
static size_t make_query(unsigned i, uint16_t id, uint8_t *out)
{
    char text[32];
    size_t name_len = 0;

    snprintf(text, sizeof(text), "q%u.test", i);
    memset(out, 0, DNS_HEADER_LEN);
    out[0] = (uint8_t)(id >> 8);
    out[1] = (uint8_t)id;
    out[2] = 0x01; /* RD */
    out[5] = 1;    /* QDCOUNT */
    CHECK_INT(dns_name_from_text(text, out + DNS_HEADER_LEN, &name_len), 0);
    uint8_t *tail = out + DNS_HEADER_LEN + name_len;
    tail[0] = 0, tail[1] = 1; /* A */
    tail[2] = 0, tail[3] = 1; /* IN */
    return DNS_HEADER_LEN + name_len + 4;
}

/* Sends query i (client ID 1000 + i) through the backend; returns rt_backend_send's result. */
static int send_query(unsigned i)
{
    uint8_t msg[512];
    struct rt_pending p = {0};
    size_t len = make_query(i, (uint16_t)(1000 + i), msg);

    CHECK_INT(dns_msg_parse_query(msg, len, &p.q), 0);
    p.client.transport = DNS_TRANSPORT_UDP;
    return rt_backend_send(fx.backend, &p, msg, len);
}

/* Reads one datagram the backend sent, waiting up to wait_ms; returns its length or -1. */
static int server_read(uint8_t *buf, size_t cap, int wait_ms, struct sockaddr_storage *from,
                       socklen_t *from_len)
{
    struct pollfd pfd = {.fd = fx.server_fd, .events = POLLIN};

    if (poll(&pfd, 1, wait_ms) != 1) {
        return -1;
    }
    *from_len = sizeof(*from);
    return (int)recvfrom(fx.server_fd, buf, cap, MSG_DONTWAIT, (struct sockaddr *)from, from_len);
}

/* Reads n datagrams and answers each: as a response (QR set) to the same question, or, with
 * change_type, to a question of another type. Returns how many were read. */
static unsigned server_answer(unsigned n, bool change_type)
{
    uint8_t buf[512];
    struct sockaddr_storage from;
    socklen_t from_len;
    unsigned got = 0;

    for (; got < n; got++) {
        int len = server_read(buf, sizeof(buf), WAIT_MS, &from, &from_len);
        if (len < DNS_HEADER_LEN + 4) {
            break;
        }
        buf[2] |= DNS_FLAG_QR >> 8;
        if (change_type) {
            buf[len - 3] = 28; /* AAAA instead of A */
        }
        sendto(fx.server_fd, buf, (size_t)len, 0, (struct sockaddr *)&from, from_len);
    }
    return got;
}

static struct rt_backend_stats stats(void)
{
    struct rt_backend_stats st;
    rt_backend_stats(fx.backend, &st);
    return st;
}

static unsigned want_answers, want_timeouts;

static bool enough_answers(void *arg)
{
    (void)arg;
    return fx.n_answers >= want_answers;
}

static bool enough_timeouts(void *arg)
{
    (void)arg;
    return fx.n_timeouts >= want_timeouts;
}

static void test_queries_wait_for_the_loop_then_leave_in_one_sendmmsg(void)
{
    uint8_t buf[512], sent[512];
    struct sockaddr_storage from;
    socklen_t from_len;
    uint16_t ids[10];

    setup(LONG_TIMEOUT_MS);
    for (unsigned i = 0; i < 10; i++) {
        CHECK_INT(send_query(i), 0);
    }
    CHECK_INT(server_read(buf, sizeof(buf), 0, &from, &from_len), -1); /* nothing yet */
    uv_run(&fx.loop, UV_RUN_NOWAIT);
    for (unsigned i = 0; i < 10; i++) {
        int len = server_read(buf, sizeof(buf), WAIT_MS, &from, &from_len);
        size_t want_len = make_query(i, 0, sent);
        CHECK_INT(len, (int)want_len);
        /* In send order, with the same bytes after a fresh ID. */
        CHECK_MEM(buf + 2, sent + 2, want_len - 2);
        ids[i] = (uint16_t)(buf[0] << 8 | buf[1]);
        for (unsigned k = 0; k < i; k++) {
            CHECK(ids[k] != ids[i]);
        }
    }
    CHECK_INT(stats().queries, 10);
    CHECK_INT(stats().send_batches, 1);
    CHECK_INT(stats().outstanding, 10);
    teardown();
}

static void test_full_queue_is_sent_without_waiting_for_the_loop(void)
{
    uint8_t buf[512], sent[512];
    struct sockaddr_storage from;
    socklen_t from_len;
    unsigned n = 70, before_loop = 0;

    setup(LONG_TIMEOUT_MS);
    for (unsigned i = 0; i < n; i++) {
        CHECK_INT(send_query(i), 0);
    }
    /* The queue holds 64: the 65th send pushed those out at once. */
    while (server_read(buf, sizeof(buf), 100, &from, &from_len) > 0) {
        size_t want_len = make_query(before_loop++, 0, sent);
        CHECK_MEM(buf + 2, sent + 2, want_len - 2);
    }
    CHECK_INT(before_loop, 64);
    uv_run(&fx.loop, UV_RUN_NOWAIT);
    for (unsigned i = before_loop; i < n; i++) {
        int len = server_read(buf, sizeof(buf), WAIT_MS, &from, &from_len);
        CHECK_INT(len, (int)make_query(i, 0, sent));
        CHECK_MEM(buf + 2, sent + 2, (size_t)len - 2);
    }
    CHECK_INT(stats().send_batches, 2);
    teardown();
}

static void test_answers_reach_their_queries_by_wire_id(void)
{
    setup(LONG_TIMEOUT_MS);
    for (unsigned i = 0; i < 20; i++) {
        CHECK_INT(send_query(i), 0);
    }
    uv_run(&fx.loop, UV_RUN_NOWAIT);
    CHECK_INT(server_answer(20, false), 20);
    want_answers = 20;
    CHECK(run_until(enough_answers, WAIT_MS));
    for (unsigned i = 0; i < 20 && i < fx.n_answers; i++) {
        /* Answered in order; the client ID comes from the pending query, not the wire. */
        CHECK_INT(fx.answers[i].client_id, 1000 + i);
    }
    CHECK_INT(stats().responses, 20);
    CHECK_INT(stats().outstanding, 0);
    CHECK_INT(stats().mismatched, 0);
    CHECK_INT(fx.n_timeouts, 0);
    teardown();
}

static void test_answer_to_another_question_is_ignored_and_the_query_times_out(void)
{
    setup(100);
    CHECK_INT(send_query(7), 0);
    uv_run(&fx.loop, UV_RUN_NOWAIT);
    CHECK_INT(server_answer(1, true), 1);
    want_timeouts = 1;
    CHECK(run_until(enough_timeouts, WAIT_MS));
    CHECK_INT(fx.n_answers, 0);
    CHECK_INT(fx.timed_out_ids[0], 1007);
    CHECK_INT(stats().mismatched, 1);
    CHECK_INT(stats().timeouts, 1);
    CHECK_INT(stats().outstanding, 0);
    teardown();
}

static void test_refused_send_fails_at_once_as_a_send_error(void)
{
    unsigned n = 140;

    setup(LONG_TIMEOUT_MS);
    /* Nothing listens, so each datagram brings back an ICMP port unreachable: an error left
     * pending on the socket, which refuses the next datagram. The loop does not run between
     * the sends (it would clear the error): full queues go out from inside the sends, the
     * second while the first one's error is pending. */
    close(fx.server_fd);
    fx.server_fd = -1;
    for (unsigned i = 0; i < n; i++) {
        CHECK_INT(send_query(i), 0);
        if (i == 64) {
            usleep(20000); /* the first queue is out; let its port unreachable arrive */
        }
    }
    CHECK(stats().send_errors >= 1);
    CHECK_INT(fx.n_timeouts, 0); /* not from inside a send */

    /* Far sooner than the 5 s timeout, each refused query is handed back, counted as a send
     * error and not as a timeout; the others still wait for an answer. */
    run_for(50);
    CHECK_INT(fx.n_timeouts, stats().send_errors);
    CHECK_INT(stats().timeouts, 0);
    CHECK_INT(stats().outstanding, n - stats().send_errors);
    teardown();
}

static void test_backend_is_read_again_after_a_port_unreachable(void)
{
    uint16_t port;

    setup(LONG_TIMEOUT_MS);
    port = ntohs(((struct sockaddr_in *)&fx.server.sa)->sin_port);
    close(fx.server_fd);
    CHECK_INT(send_query(1), 0);
    run_for(50); /* sent; the port unreachable comes back as an error on the socket */

    fx.server_fd = open_server(port);
    CHECK(fx.server_fd >= 0);
    CHECK_INT(send_query(2), 0);
    uv_run(&fx.loop, UV_RUN_NOWAIT);
    CHECK_INT(server_answer(1, false), 1);
    want_answers = 1;
    CHECK(run_until(enough_answers, WAIT_MS));
    CHECK_INT(fx.answers[0].client_id, 1002);
    teardown();
}

static void test_retired_backend_refuses_queries_and_closes_when_idle(void)
{
    setup(LONG_TIMEOUT_MS);
    CHECK_INT(send_query(1), 0);
    uv_run(&fx.loop, UV_RUN_NOWAIT);
    rt_backend_retire(fx.backend);
    CHECK_INT(send_query(2), -ESHUTDOWN);
    CHECK_INT(server_answer(1, false), 1);
    want_answers = 1;
    CHECK(run_until(enough_answers, WAIT_MS));
    /* The last answer closed it; teardown must not close it again. */
    fx.backend = NULL;
    uv_close((uv_handle_t *)&fx.deadline, NULL);
    uv_run(&fx.loop, UV_RUN_DEFAULT);
    CHECK_INT(uv_loop_close(&fx.loop), 0);
    rt_backend_rx_free(fx.rx);
    close(fx.server_fd);
    alarm(0);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_queries_wait_for_the_loop_then_leave_in_one_sendmmsg),
        UNIT(test_full_queue_is_sent_without_waiting_for_the_loop),
        UNIT(test_answers_reach_their_queries_by_wire_id),
        UNIT(test_answer_to_another_question_is_ignored_and_the_query_times_out),
        UNIT(test_refused_send_fails_at_once_as_a_send_error),
        UNIT(test_backend_is_read_again_after_a_port_unreachable),
        UNIT(test_retired_backend_refuses_queries_and_closes_when_idle),
    };

    if (sodium_init() < 0) {
        return 1;
    }
    return unit_run("router_backend", tests, sizeof(tests) / sizeof(tests[0]));
}
