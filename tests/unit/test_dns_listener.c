/* The DNS listener, driven for real over loopback. The listener and the test clients share one
 * uv loop: the clients are plain non-blocking sockets watched by uv_poll_t, so a test writes,
 * then runs the loop until what it waits for has happened or 2 s have passed. An alarm kills a
 * test that hangs all the same. */
#include "dns_listener.h"
#include "unit.h"
#include "unit_loop.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAIT_MS 2000
#define WATCHDOG_S 10
#define QUERY_BYTES 29
#define MAX_HELD 256
#define MAX_IDS 512
#define STREAM_BYTES 70000

enum answer_mode {
    ANSWER_NOW,    /* echo from inside the query callback */
    ANSWER_LATER,  /* echo every held query from a timer, later_ms after the first */
    ANSWER_MANUAL, /* hold the queries; the test answers them */
};

struct held_query {
    struct dns_client client;
    uint8_t msg[512];
    size_t len;
};

/* One test client: a connected UDP or TCP socket and what arrived on it. */
struct test_client {
    int fd;
    int type;
    uv_poll_t poll;
    bool polling;
    bool closed;                  /* TCP: end of stream or reset seen */
    size_t want;                  /* replies (UDP) or frames (TCP) client_has_replies waits for */
    size_t replies;               /* UDP datagrams received */
    uint16_t ids[MAX_IDS];        /* their IDs */
    uint8_t stream[STREAM_BYTES]; /* TCP bytes received */
    size_t stream_len;
};

static struct {
    uv_loop_t loop;
    uv_timer_t deadline;
    struct dns_listener *listener;
    struct addr v4; /* endpoint 0 */
    bool close_cb_ran;

    enum answer_mode mode;
    uv_timer_t later;
    uint64_t later_ms;
    struct held_query held[MAX_HELD];
    size_t held_count;
    unsigned queries;
    unsigned in_progress;
    unsigned max_in_progress;
    size_t reply_len; /* when set, replies are padded with zeros to this length */
    int last_send_rc;
    int send_errors;
    struct dns_client last_client;
} fx;

static struct test_client clients[4];

/* ---- queries and answers ---- */

/* A query for example.com A with the given ID. */
static size_t make_query(uint16_t id, uint8_t *out)
{
    static const uint8_t rest[] = {
        0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* RD, QDCOUNT 1 */
        7,    'e',  'x',  'a',  'm',  'p',  'l',  'e',  3,    'c',
        'o',  'm',  0,    0x00, 0x01, 0x00, 0x01,
    };

    out[0] = (uint8_t)(id >> 8);
    out[1] = (uint8_t)(id & 0xff);
    memcpy(out + 2, rest, sizeof(rest));
    return 2 + sizeof(rest);
}

static uint16_t msg_id(const uint8_t *msg)
{
    return (uint16_t)(msg[0] << 8 | msg[1]);
}

static void echo(const struct dns_client *client, const uint8_t *msg, size_t len)
{
    static uint8_t reply[65536];

    memcpy(reply, msg, len);
    reply[2] |= 0x80; /* QR */
    if (fx.reply_len > len) {
        memset(reply + len, 0, fx.reply_len - len);
        len = fx.reply_len;
    }
    fx.last_send_rc = dns_listener_send(fx.listener, client, reply, len);
    if (fx.last_send_rc < 0) {
        fx.send_errors++;
    }
    fx.in_progress--;
}

static void answer_held(void)
{
    for (size_t i = 0; i < fx.held_count; i++) {
        echo(&fx.held[i].client, fx.held[i].msg, fx.held[i].len);
    }
    fx.held_count = 0;
}

static void on_later(uv_timer_t *timer)
{
    (void)timer;
    answer_held();
}

static void on_query(void *user, const struct dns_client *client, const uint8_t *msg, size_t len)
{
    (void)user;
    fx.queries++;
    fx.in_progress++;
    if (fx.in_progress > fx.max_in_progress) {
        fx.max_in_progress = fx.in_progress;
    }
    fx.last_client = *client;
    if (fx.mode == ANSWER_NOW) {
        echo(client, msg, len);
        return;
    }
    if (fx.held_count == MAX_HELD || len > sizeof(fx.held[0].msg)) {
        return;
    }
    fx.held[fx.held_count].client = *client;
    memcpy(fx.held[fx.held_count].msg, msg, len);
    fx.held[fx.held_count].len = len;
    fx.held_count++;
    if (fx.mode == ANSWER_LATER && !uv_is_active((uv_handle_t *)&fx.later)) {
        uv_timer_start(&fx.later, on_later, fx.later_ms, 0);
    }
}

/* ---- running the loop ---- */

/* Runs the loop until done(arg) or ms have passed; returns done(arg). */
static bool run_until(bool (*done)(void *arg), void *arg, uint64_t ms)
{
    return unit_loop_until(&fx.deadline, done, arg, ms);
}

/* Runs the loop for ms, whatever happens. */
static void run_for(uint64_t ms)
{
    unit_loop_for(&fx.deadline, ms);
}

static bool close_cb_ran(void *arg)
{
    (void)arg;
    return fx.close_cb_ran;
}

static bool queries_at_least(void *arg)
{
    return fx.queries >= *(const unsigned *)arg;
}

static struct dns_listener_stats stats(void)
{
    struct dns_listener_stats s;
    dns_listener_stats(fx.listener, &s);
    return s;
}

static bool tcp_accepted_at_least(void *arg)
{
    return stats().tcp_accepted >= *(const uint64_t *)arg;
}

/* ---- clients ---- */

/* Counts the complete frames in a TCP client's stream and collects their IDs. */
static size_t client_frames(struct test_client *c)
{
    size_t off = 0, n = 0;

    while (off + 2 <= c->stream_len) {
        size_t len = (size_t)c->stream[off] << 8 | c->stream[off + 1];
        if (off + 2 + len > c->stream_len || len < 2) {
            break;
        }
        if (n < MAX_IDS) {
            c->ids[n] = msg_id(c->stream + off + 2);
        }
        n++;
        off += 2 + len;
    }
    return n;
}

static void client_stop(struct test_client *c)
{
    if (c->polling) {
        uv_close((uv_handle_t *)&c->poll, NULL);
        c->polling = false;
    }
}

static void client_read_udp(struct test_client *c)
{
    uint8_t buf[8192];
    ssize_t n;

    while ((n = recv(c->fd, buf, sizeof(buf), 0)) >= 0) {
        if (n >= 2 && c->replies < MAX_IDS) {
            c->ids[c->replies] = msg_id(buf);
        }
        c->replies++;
    }
}

static void client_read_tcp(struct test_client *c)
{
    for (;;) {
        ssize_t n = recv(c->fd, c->stream + c->stream_len, STREAM_BYTES - c->stream_len, 0);
        if (n > 0) {
            c->stream_len += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }
        c->closed = true; /* end of stream, reset, or a full buffer */
        client_stop(c);
        return;
    }
}

static void client_on_readable(uv_poll_t *poll, int status, int events)
{
    struct test_client *c = poll->data;

    (void)status;
    (void)events;
    if (c->type == SOCK_DGRAM) {
        client_read_udp(c);
    } else {
        client_read_tcp(c);
    }
}

/* Connects client i to `to` (blocking, then non-blocking) and starts watching it. */
static struct test_client *client_open(size_t i, int type, const struct addr *to)
{
    struct test_client *c = &clients[i];
    int rc;

    memset(c, 0, sizeof(*c));
    c->type = type;
    c->fd = socket(to->sa.ss_family, type | SOCK_CLOEXEC, 0);
    CHECK(c->fd >= 0);
    rc = connect(c->fd, (const struct sockaddr *)&to->sa, to->len);
    CHECK_INT(rc, 0);
    CHECK_INT(fcntl(c->fd, F_SETFL, O_NONBLOCK), 0);
    uv_poll_init_socket(&fx.loop, &c->poll, c->fd);
    c->poll.data = c;
    uv_poll_start(&c->poll, UV_READABLE, client_on_readable);
    c->polling = true;
    return c;
}

static void client_close(struct test_client *c)
{
    if (c->fd > 0) {
        client_stop(c);
        close(c->fd);
        c->fd = -1;
    }
}

static void client_send(struct test_client *c, const uint8_t *data, size_t len)
{
    CHECK_INT(send(c->fd, data, len, 0), (long long)len);
}

static void client_send_query(struct test_client *c, uint16_t id)
{
    uint8_t buf[2 + QUERY_BYTES];
    size_t len = make_query(id, buf + 2);

    if (c->type == SOCK_DGRAM) {
        client_send(c, buf + 2, len);
        return;
    }
    buf[0] = 0;
    buf[1] = (uint8_t)len;
    client_send(c, buf, 2 + len);
}

static bool client_has_replies(void *arg)
{
    struct test_client *c = arg;
    size_t got = c->type == SOCK_DGRAM ? c->replies : client_frames(c);
    return got >= c->want;
}

static bool client_closed(void *arg)
{
    return ((struct test_client *)arg)->closed;
}

/* Waits for n replies on c; checks they came. */
static bool client_wait(struct test_client *c, size_t n)
{
    c->want = n;
    bool ok = run_until(client_has_replies, c, WAIT_MS);
    CHECK(ok);
    return ok;
}

/* True when ids[0..n) holds each of first..first+n-1 exactly once. */
static bool ids_are_each_once(const uint16_t *ids, size_t n, uint16_t first)
{
    uint8_t seen[MAX_IDS] = {0};

    for (size_t i = 0; i < n; i++) {
        size_t k = (size_t)(ids[i] - first);
        if (ids[i] < first || k >= n || seen[k]) {
            return false;
        }
        seen[k] = 1;
    }
    return true;
}

/* ---- fixture ---- */

static void on_listener_closed(void *arg)
{
    (void)arg;
    fx.close_cb_ran = true;
}

/* A loop, a listener with `cfg` bound to `where`, and the answering mode. */
static bool fixture_start_on(const struct dns_listener_config *cfg, enum answer_mode mode,
                             const char *where)
{
    struct addr a;

    alarm(WATCHDOG_S);
    memset(&fx, 0, sizeof(fx));
    fx.mode = mode;
    fx.later_ms = 50;
    uv_loop_init(&fx.loop);
    uv_timer_init(&fx.loop, &fx.deadline);
    uv_timer_init(&fx.loop, &fx.later);
    CHECK_INT(dns_listener_new(&fx.loop, cfg, on_query, NULL, &fx.listener), 0);
    CHECK_INT(addr_parse(where, 0, &a), 0);
    CHECK_INT(dns_listener_bind(fx.listener, &a), 0);
    CHECK_INT(dns_listener_local_addr(fx.listener, 0, &fx.v4), 0);
    CHECK(addr_port(&fx.v4) != 0);
    return unit_failures_in_test == 0;
}

static bool fixture_start(const struct dns_listener_config *cfg, enum answer_mode mode)
{
    return fixture_start_on(cfg, mode, "127.0.0.1:0");
}

/* Closes the listener and the clients, and checks that every handle is gone. */
static void fixture_finish(void)
{
    for (size_t i = 0; i < sizeof(clients) / sizeof(clients[0]); i++) {
        client_close(&clients[i]);
    }
    dns_listener_close(fx.listener, on_listener_closed, NULL);
    CHECK(run_until(close_cb_ran, NULL, WAIT_MS));
    uv_close((uv_handle_t *)&fx.deadline, NULL);
    uv_close((uv_handle_t *)&fx.later, NULL);
    uv_run(&fx.loop, UV_RUN_DEFAULT);
    CHECK_INT(uv_loop_close(&fx.loop), 0);
    memset(clients, 0, sizeof(clients));
    alarm(0);
}

/* ---- UDP ---- */

static void test_udp_query_is_echoed_with_qr_set(void)
{
    if (!fixture_start(NULL, ANSWER_NOW)) {
        return;
    }
    struct test_client *c = client_open(0, SOCK_DGRAM, &fx.v4);
    client_send_query(c, 0x1234);
    if (client_wait(c, 1)) {
        CHECK_INT(c->ids[0], 0x1234);
    }
    CHECK_INT(fx.last_client.transport, DNS_TRANSPORT_UDP);
    CHECK_INT(fx.last_client.socket_index, 0);
    CHECK_INT(fx.last_client.has_local_ip, 0);
    CHECK_INT(stats().udp_received, 1);
    CHECK_INT(stats().udp_sent, 1);
    fixture_finish();
}

static void test_ipv6_endpoint_shares_its_port_between_udp_and_tcp(void)
{
    struct addr v6;

    if (!fixture_start(NULL, ANSWER_NOW)) {
        return;
    }
    CHECK_INT(addr_parse("[::1]:0", 0, &v6), 0);
    CHECK_INT(dns_listener_bind(fx.listener, &v6), 0);
    CHECK_INT(dns_listener_local_addr(fx.listener, 1, &v6), 0);
    CHECK_INT(dns_listener_local_addr(fx.listener, 2, &v6), -ENOENT);
    CHECK_INT(v6.sa.ss_family, AF_INET6);
    CHECK(addr_port(&v6) != 0);

    struct test_client *u = client_open(0, SOCK_DGRAM, &v6);
    struct test_client *t = client_open(1, SOCK_STREAM, &v6);
    client_send_query(u, 61);
    client_send_query(t, 62);
    if (client_wait(u, 1) && client_wait(t, 1)) {
        CHECK_INT(u->ids[0], 61);
        CHECK_INT(t->ids[0], 62);
    }
    CHECK_INT(fx.last_client.socket_index, 1);
    fixture_finish();
}

static void test_udp_burst_of_200_is_answered_in_batches(void)
{
    if (!fixture_start(NULL, ANSWER_NOW)) {
        return;
    }
    struct test_client *c = client_open(0, SOCK_DGRAM, &fx.v4);
    int rcvbuf = 1 << 20;
    setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    for (uint16_t id = 1000; id < 1200; id++) {
        client_send_query(c, id);
    }
    if (client_wait(c, 200)) {
        CHECK(ids_are_each_once(c->ids, 200, 1000));
    }
    struct dns_listener_stats s = stats();
    CHECK_INT(s.udp_received, 200);
    CHECK_INT(s.udp_sent, 200);
    CHECK_INT(s.udp_send_errors, 0);
    /* Replies left in batches: 200 datagrams arrived before the loop ran. */
    CHECK(s.udp_send_batches > 0 && s.udp_send_batches <= 20);
    fixture_finish();
}

static void test_udp_datagram_shorter_than_header_is_dropped_and_counted(void)
{
    static const uint8_t shorty[5] = {0xab, 0xcd, 0x01, 0x00, 0x00};

    if (!fixture_start(NULL, ANSWER_NOW)) {
        return;
    }
    struct test_client *c = client_open(0, SOCK_DGRAM, &fx.v4);
    client_send(c, shorty, sizeof(shorty));
    client_send_query(c, 7);
    if (client_wait(c, 1)) {
        CHECK_INT(c->ids[0], 7);
    }
    run_for(20);
    CHECK_INT(c->replies, 1);
    CHECK_INT(fx.queries, 1);
    CHECK_INT(stats().short_dropped, 1);
    CHECK_INT(stats().udp_received, 2);
    fixture_finish();
}

static void test_udp_datagram_longer_than_slot_is_dropped_and_counted(void)
{
    static uint8_t big[5000];

    if (!fixture_start(NULL, ANSWER_NOW)) {
        return;
    }
    struct test_client *c = client_open(0, SOCK_DGRAM, &fx.v4);
    make_query(99, big);
    client_send(c, big, sizeof(big));
    client_send_query(c, 8);
    if (client_wait(c, 1)) {
        CHECK_INT(c->ids[0], 8);
    }
    CHECK_INT(fx.queries, 1);
    CHECK_INT(stats().udp_truncated, 1);
    fixture_finish();
}

/* 127.0.0.2 is local on Linux; a reply from 127.0.0.1 would not reach the connected client. */
static void test_udp_reply_on_wildcard_socket_leaves_from_queried_address(void)
{
    struct addr to;

    if (!fixture_start_on(NULL, ANSWER_NOW, "0.0.0.0:0")) {
        return;
    }
    CHECK_INT(addr_parse("127.0.0.2", addr_port(&fx.v4), &to), 0);
    struct test_client *c = client_open(0, SOCK_DGRAM, &to);
    client_send_query(c, 0x0202);
    if (client_wait(c, 1)) {
        CHECK_INT(c->ids[0], 0x0202);
    }
    CHECK_INT(fx.last_client.has_local_ip, 1);
    CHECK_INT(fx.last_client.local_ip[3], 2);
    fixture_finish();
}

static void test_udp_reply_longer_than_slot_leaves_at_once(void)
{
    static const uint8_t huge[65536];

    if (!fixture_start(NULL, ANSWER_NOW)) {
        return;
    }
    fx.reply_len = 6000;
    struct test_client *c = client_open(0, SOCK_DGRAM, &fx.v4);
    client_send_query(c, 0x6000);
    if (client_wait(c, 1)) {
        CHECK_INT(c->ids[0], 0x6000);
    }
    CHECK_INT(fx.last_send_rc, 0);
    CHECK_INT(stats().udp_send_batches, 0);
    CHECK_INT(dns_listener_send(fx.listener, &fx.last_client, huge, sizeof(huge)), -EMSGSIZE);
    fixture_finish();
}

static void test_udp_answer_sent_from_timer_leaves_at_next_loop_turn(void)
{
    if (!fixture_start(NULL, ANSWER_LATER)) {
        return;
    }
    struct test_client *c = client_open(0, SOCK_DGRAM, &fx.v4);
    client_send_query(c, 0x0a0a);
    if (client_wait(c, 1)) {
        CHECK_INT(c->ids[0], 0x0a0a);
    }
    CHECK_INT(fx.last_send_rc, 0);
    CHECK_INT(stats().udp_sent, 1);
    CHECK_INT(stats().udp_send_batches, 1);
    fixture_finish();
}

/* ---- TCP ---- */

static bool tcp_sent_at_least_one(void *arg)
{
    (void)arg;
    return stats().tcp_sent >= 1;
}

static void test_tcp_query_is_answered_with_length_prefix(void)
{
    if (!fixture_start(NULL, ANSWER_NOW)) {
        return;
    }
    struct test_client *c = client_open(0, SOCK_STREAM, &fx.v4);
    client_send_query(c, 0x4242);
    if (client_wait(c, 1)) {
        CHECK_INT(c->stream_len, 2 + QUERY_BYTES);
        CHECK_INT(c->stream[0], 0);
        CHECK_INT(c->stream[1], QUERY_BYTES);
        CHECK_INT(c->ids[0], 0x4242);
        CHECK(c->stream[4] & 0x80);
    }
    CHECK(run_until(tcp_sent_at_least_one, NULL, WAIT_MS));
    CHECK_INT(fx.last_client.transport, DNS_TRANSPORT_TCP);
    CHECK(fx.last_client.conn_id != 0);
    CHECK_INT(stats().tcp_accepted, 1);
    CHECK_INT(stats().tcp_received, 1);
    fixture_finish();
}

/* Ten framed queries in one write. */
static void send_pipelined(struct test_client *c, uint16_t first, size_t n)
{
    uint8_t buf[10 * (2 + QUERY_BYTES)];
    size_t len = 0;

    for (size_t i = 0; i < n && i < 10; i++) {
        buf[len] = 0;
        buf[len + 1] = QUERY_BYTES;
        make_query((uint16_t)(first + i), buf + len + 2);
        len += 2 + QUERY_BYTES;
    }
    client_send(c, buf, len);
}

static void test_tcp_pipelined_queries_are_all_answered(void)
{
    if (!fixture_start(NULL, ANSWER_NOW)) {
        return;
    }
    struct test_client *c = client_open(0, SOCK_STREAM, &fx.v4);
    send_pipelined(c, 100, 10);
    if (client_wait(c, 10)) {
        CHECK(ids_are_each_once(c->ids, 10, 100));
    }
    CHECK_INT(stats().tcp_received, 10);
    fixture_finish();
}

static void test_tcp_reading_pauses_at_max_pending_queries(void)
{
    struct dns_listener_config cfg = {.tcp_max_pending = 2};

    if (!fixture_start(&cfg, ANSWER_LATER)) {
        return;
    }
    fx.later_ms = 10;
    struct test_client *c = client_open(0, SOCK_STREAM, &fx.v4);
    send_pipelined(c, 300, 10);
    if (client_wait(c, 10)) {
        CHECK(ids_are_each_once(c->ids, 10, 300));
    }
    CHECK_INT(fx.max_in_progress, 2);
    CHECK_INT(fx.send_errors, 0);
    fixture_finish();
}

static void test_tcp_frame_sent_byte_by_byte_is_reassembled(void)
{
    uint8_t buf[2 + QUERY_BYTES];

    if (!fixture_start(NULL, ANSWER_NOW)) {
        return;
    }
    struct test_client *c = client_open(0, SOCK_STREAM, &fx.v4);
    buf[0] = 0;
    buf[1] = QUERY_BYTES;
    make_query(0x5151, buf + 2);
    for (size_t i = 0; i < sizeof(buf); i++) {
        client_send(c, buf + i, 1);
        /* Loopback delivers at once: this iteration reads the single byte. */
        uv_run(&fx.loop, UV_RUN_NOWAIT);
        CHECK_INT(fx.queries, i + 1 == sizeof(buf) ? 1 : 0);
    }
    if (client_wait(c, 1)) {
        CHECK_INT(c->ids[0], 0x5151);
    }
    fixture_finish();
}

static void test_tcp_frame_shorter_than_header_is_dropped_and_counted(void)
{
    static const uint8_t shorty[] = {0, 3, 0xab, 0xcd, 0x01};

    if (!fixture_start(NULL, ANSWER_NOW)) {
        return;
    }
    struct test_client *c = client_open(0, SOCK_STREAM, &fx.v4);
    client_send(c, shorty, sizeof(shorty));
    client_send_query(c, 9);
    if (client_wait(c, 1)) {
        CHECK_INT(c->ids[0], 9);
    }
    CHECK_INT(fx.queries, 1);
    CHECK_INT(stats().short_dropped, 1);
    fixture_finish();
}

static void test_tcp_zero_length_frame_closes_connection(void)
{
    static const uint8_t zero[] = {0, 0};

    if (!fixture_start(NULL, ANSWER_NOW)) {
        return;
    }
    struct test_client *c = client_open(0, SOCK_STREAM, &fx.v4);
    client_send(c, zero, sizeof(zero));
    CHECK(run_until(client_closed, c, WAIT_MS));
    CHECK_INT(fx.queries, 0);
    fixture_finish();
}

static void test_tcp_connection_beyond_limit_is_closed_at_once(void)
{
    struct dns_listener_config cfg = {.max_tcp_clients = 2};
    uint64_t two = 2;

    if (!fixture_start(&cfg, ANSWER_NOW)) {
        return;
    }
    struct test_client *a = client_open(0, SOCK_STREAM, &fx.v4);
    struct test_client *b = client_open(1, SOCK_STREAM, &fx.v4);
    CHECK(run_until(tcp_accepted_at_least, &two, WAIT_MS));
    struct test_client *third = client_open(2, SOCK_STREAM, &fx.v4);
    CHECK(run_until(client_closed, third, WAIT_MS));
    CHECK_INT(stats().tcp_rejected, 1);

    client_send_query(a, 1);
    client_send_query(b, 2);
    CHECK(client_wait(a, 1));
    CHECK(client_wait(b, 1));
    CHECK(!a->closed && !b->closed);
    fixture_finish();
}

static void test_tcp_idle_connection_is_closed_after_timeout(void)
{
    struct dns_listener_config cfg = {.tcp_idle_timeout_ms = 200};

    if (!fixture_start(&cfg, ANSWER_NOW)) {
        return;
    }
    struct test_client *c = client_open(0, SOCK_STREAM, &fx.v4);
    uint64_t start = uv_now(&fx.loop);
    CHECK(run_until(client_closed, c, WAIT_MS));
    CHECK(uv_now(&fx.loop) - start >= 150);
    CHECK_INT(stats().tcp_idle_closed, 1);
    fixture_finish();
}

static void test_tcp_idle_timeout_waits_for_pending_query(void)
{
    struct dns_listener_config cfg = {.tcp_idle_timeout_ms = 100};

    if (!fixture_start(&cfg, ANSWER_LATER)) {
        return;
    }
    fx.later_ms = 300;
    struct test_client *c = client_open(0, SOCK_STREAM, &fx.v4);
    client_send_query(c, 0x1d1e);
    if (client_wait(c, 1)) {
        CHECK_INT(c->ids[0], 0x1d1e);
    }
    CHECK_INT(fx.last_send_rc, 0);
    CHECK_INT(stats().tcp_idle_closed, 0);
    /* Answered, it is idle again. */
    CHECK(run_until(client_closed, c, WAIT_MS));
    CHECK_INT(stats().tcp_idle_closed, 1);
    fixture_finish();
}

static void test_tcp_answer_sent_from_timer_is_written(void)
{
    if (!fixture_start(NULL, ANSWER_LATER)) {
        return;
    }
    struct test_client *c = client_open(0, SOCK_STREAM, &fx.v4);
    client_send_query(c, 0x7e7e);
    if (client_wait(c, 1)) {
        CHECK_INT(c->ids[0], 0x7e7e);
    }
    CHECK_INT(fx.last_send_rc, 0);
    fixture_finish();
}

/* With one slot, the second connection reuses the first one's slot: the old client must not
 * reach it. */
static void test_tcp_answer_to_disconnected_client_fails_with_enotconn(void)
{
    struct dns_listener_config cfg = {.max_tcp_clients = 1};
    static const uint8_t reply[QUERY_BYTES] = {0};
    unsigned one = 1, two = 2;
    uint64_t accepted = 2;

    if (!fixture_start(&cfg, ANSWER_MANUAL)) {
        return;
    }
    struct test_client *a = client_open(0, SOCK_STREAM, &fx.v4);
    client_send_query(a, 0xa);
    CHECK(run_until(queries_at_least, &one, WAIT_MS));
    struct dns_client gone = fx.held[0].client;
    client_close(a);
    run_for(50); /* the listener sees the end of stream and closes its side */
    CHECK_INT(dns_listener_send(fx.listener, &gone, reply, sizeof(reply)), -ENOTCONN);
    dns_listener_done(fx.listener, &gone);

    struct test_client *b = client_open(1, SOCK_STREAM, &fx.v4);
    CHECK(run_until(tcp_accepted_at_least, &accepted, WAIT_MS));
    client_send_query(b, 0xb);
    CHECK(run_until(queries_at_least, &two, WAIT_MS));
    CHECK((fx.held[1].client.conn_id & UINT32_MAX) == (gone.conn_id & UINT32_MAX));
    CHECK(fx.held[1].client.conn_id != gone.conn_id);
    CHECK_INT(dns_listener_send(fx.listener, &gone, reply, sizeof(reply)), -ENOTCONN);
    fx.held_count = 1;
    fx.held[0] = fx.held[1];
    answer_held();
    CHECK_INT(fx.last_send_rc, 0);
    if (client_wait(b, 1)) {
        CHECK_INT(b->ids[0], 0xb);
    }
    fixture_finish();
}

/* Connections with a query in progress, with a partial frame and with nothing, and a UDP
 * query held, are all closed and freed; ASan reports anything left behind. */
static void test_close_with_open_connections_frees_everything(void)
{
    static const uint8_t partial[] = {0, QUERY_BYTES, 0x12};
    unsigned two = 2;
    uint64_t three = 3;

    if (!fixture_start(NULL, ANSWER_MANUAL)) {
        return;
    }
    struct test_client *a = client_open(0, SOCK_STREAM, &fx.v4);
    struct test_client *b = client_open(1, SOCK_STREAM, &fx.v4);
    struct test_client *c = client_open(2, SOCK_STREAM, &fx.v4);
    struct test_client *u = client_open(3, SOCK_DGRAM, &fx.v4);
    client_send_query(a, 1);
    client_send_query(u, 2);
    client_send(b, partial, sizeof(partial));
    CHECK(run_until(tcp_accepted_at_least, &three, WAIT_MS));
    CHECK(run_until(queries_at_least, &two, WAIT_MS));
    (void)c;
    fixture_finish();
    CHECK(fx.close_cb_ran);
}

/* A paused listener reads nothing; what came meanwhile (a datagram, a TCP connection with a
 * query) is served once it resumes. */
static void test_paused_listener_serves_what_queued_once_resumed(void)
{
    struct dns_listener_config cfg = {.start_paused = true};

    if (!fixture_start(&cfg, ANSWER_NOW)) {
        return;
    }
    struct test_client *u = client_open(0, SOCK_DGRAM, &fx.v4);
    struct test_client *t = client_open(1, SOCK_STREAM, &fx.v4);
    client_send_query(u, 0x0101);
    client_send_query(t, 0x0202);
    run_for(100);
    CHECK_INT(fx.queries, 0);
    CHECK_INT(u->replies, 0);
    CHECK_INT(stats().tcp_accepted, 0);
    CHECK_INT(dns_listener_resume(fx.listener), 0);
    CHECK_INT(dns_listener_resume(fx.listener), 0); /* a second call changes nothing */
    if (client_wait(u, 1)) {
        CHECK_INT(u->ids[0], 0x0101);
    }
    if (client_wait(t, 1)) {
        CHECK_INT(t->ids[0], 0x0202);
    }
    CHECK_INT(fx.queries, 2);
    fixture_finish();
}

static void test_bind_to_port_in_use_fails_with_eaddrinuse(void)
{
    struct addr taken;

    if (!fixture_start(NULL, ANSWER_NOW)) {
        return;
    }
    /* Endpoint 0 already holds this port for UDP and TCP. */
    taken = fx.v4;
    CHECK_INT(dns_listener_bind(fx.listener, &taken), -EADDRINUSE);
    CHECK_INT(dns_listener_local_addr(fx.listener, 1, &taken), -ENOENT);
    fixture_finish();
}

static void test_config_out_of_range_is_rejected(void)
{
    struct dns_listener_config batch = {.udp_batch = 65};
    struct dns_listener_config too_many = {.max_tcp_clients = 65537};
    struct dns_listener *l;
    uv_loop_t loop;

    uv_loop_init(&loop);
    CHECK_INT(dns_listener_new(&loop, &batch, on_query, NULL, &l), -EINVAL);
    CHECK(l == NULL);
    CHECK_INT(dns_listener_new(&loop, &too_many, on_query, NULL, &l), -EINVAL);
    CHECK(l == NULL);
    CHECK_INT(uv_loop_close(&loop), 0);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_udp_query_is_echoed_with_qr_set),
        UNIT(test_ipv6_endpoint_shares_its_port_between_udp_and_tcp),
        UNIT(test_udp_burst_of_200_is_answered_in_batches),
        UNIT(test_udp_datagram_shorter_than_header_is_dropped_and_counted),
        UNIT(test_udp_datagram_longer_than_slot_is_dropped_and_counted),
        UNIT(test_udp_reply_on_wildcard_socket_leaves_from_queried_address),
        UNIT(test_udp_reply_longer_than_slot_leaves_at_once),
        UNIT(test_udp_answer_sent_from_timer_leaves_at_next_loop_turn),
        UNIT(test_tcp_query_is_answered_with_length_prefix),
        UNIT(test_tcp_pipelined_queries_are_all_answered),
        UNIT(test_tcp_reading_pauses_at_max_pending_queries),
        UNIT(test_tcp_frame_sent_byte_by_byte_is_reassembled),
        UNIT(test_tcp_frame_shorter_than_header_is_dropped_and_counted),
        UNIT(test_tcp_zero_length_frame_closes_connection),
        UNIT(test_tcp_connection_beyond_limit_is_closed_at_once),
        UNIT(test_tcp_idle_connection_is_closed_after_timeout),
        UNIT(test_tcp_idle_timeout_waits_for_pending_query),
        UNIT(test_tcp_answer_sent_from_timer_is_written),
        UNIT(test_tcp_answer_to_disconnected_client_fails_with_enotconn),
        UNIT(test_close_with_open_connections_frees_everything),
        UNIT(test_paused_listener_serves_what_queued_once_resumed),
        UNIT(test_bind_to_port_in_use_fails_with_eaddrinuse),
        UNIT(test_config_out_of_range_is_rejected),
    };
    return unit_run("dns_listener", tests, sizeof(tests) / sizeof(tests[0]));
}
