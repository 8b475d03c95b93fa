#include "addr.h"
#include "dns.h"
#include "dns_msg.h"
#include "dns_name.h"
#include "dns_writer.h"
#include "upstream.h"
#include "unit.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

/* Every uv_run below gives up after this long, so a request that never ends fails its test
 * instead of hanging the suite. */
#define WATCHDOG_MS 5000

#define TIMEOUT_MS 200         /* the timeout under test */
#define LONG_TIMEOUT_MS 2000   /* for requests that must end for another reason first */
#define REFUSED_WITHIN_MS 1000 /* "fast": well before LONG_TIMEOUT_MS */
#define LINGER_MS 100          /* time for a fake answer to reach a cancelled request */
#define REPEATS 20             /* sequential queries in the randomisation tests */
#define QUERY_NAME "www.example.com"

/* Records in fake answers, from the documentation ranges of RFC 5737: the real answer carries
 * ANSWER_IP, the replies upstream must ignore carry DECOY_IP. */
static const uint8_t ANSWER_IP[4] = {192, 0, 2, 1};
static const uint8_t DECOY_IP[4] = {198, 51, 100, 1};

enum fake_mode {
    FAKE_ANSWER,         /* copy the question, set QR, add one A record */
    FAKE_SILENT,         /* read queries, never reply */
    FAKE_MISMATCH_FIRST, /* a reply with a wrong ID, one for another name, then the answer */
    FAKE_TRUNCATE_UDP,   /* TC and no records over UDP; the answer over TCP */
    FAKE_MIXED_CASE,     /* the answer, with its question name in upper case */
};

/* A DNS server on 127.0.0.1, UDP and TCP on one ephemeral port, on the test's loop. Its
 * handles are unreferenced: the loop runs while upstream has work, not while it listens. */
struct fake_server {
    enum fake_mode mode;
    struct addr addr;
    uv_udp_t udp;
    uv_tcp_t listener;
    uv_tcp_t conn; /* the one TCP connection a test makes */
    bool conn_used;
    bool conn_open;
    uv_write_t tcp_write;
    size_t udp_queries;
    size_t tcp_queries;
    uint16_t seen_ids[REPEATS];   /* the wire ID of each UDP query */
    uint16_t seen_ports[REPEATS]; /* and the port it came from */
    uint8_t udp_rx[DNS_UDP_MIN];
    uint8_t udp_tx[DNS_UDP_MIN];
    size_t tcp_have;
    uint8_t tcp_rx[2 + DNS_UDP_MIN];
    uint8_t tcp_tx[2 + DNS_UDP_MIN];
};

/* What one fake reply looks like; the rest is copied from the query. */
struct reply_shape {
    uint16_t id;
    uint16_t extra_flags;
    const uint8_t *name; /* the question name to echo */
    size_t name_len;
    const uint8_t *a_record; /* the A record's address, or NULL for no answer record */
};

struct harness {
    uv_loop_t loop;
    uv_timer_t watchdog;
    bool watchdog_fired;
    uv_timer_t linger;
    struct fake_server server;
    struct upstream *up;
};

/* The outcome of one request, as its callback saw it. */
struct outcome {
    int calls;
    int status;
    size_t len;
    uint8_t answer[DNS_UDP_MIN];
};

static struct harness harness;

static void setup_failed(const char *what, int rc)
{
    fprintf(stderr, "setup failed: %s: %s\n", what, uv_strerror(rc));
    exit(EXIT_FAILURE);
}

static int reply_build(const struct dns_query *q, const struct reply_shape *shape, uint8_t *out,
                       size_t cap)
{
    struct dns_writer w;
    struct dns_header hdr = {
        .id = shape->id,
        .flags = (uint16_t)(q->hdr.flags | DNS_FLAG_QR | shape->extra_flags),
        .qdcount = 1,
        .ancount = shape->a_record != NULL ? 1 : 0,
    };

    dns_writer_init(&w, out, cap);
    dns_writer_header(&w, &hdr);
    dns_writer_question(&w, shape->name, shape->name_len, q->q.qtype, q->q.qclass);
    if (shape->a_record != NULL) {
        size_t mark =
            dns_writer_rr_begin(&w, q->q.name, q->q.name_len, DNS_TYPE_A, DNS_CLASS_IN, 300);
        dns_writer_bytes(&w, shape->a_record, 4);
        dns_writer_rr_end(&w, mark);
    }
    return dns_writer_finish(&w);
}

static struct reply_shape shape_answer(const struct dns_query *q)
{
    struct reply_shape shape = {
        .id = q->hdr.id,
        .name = q->q.name,
        .name_len = q->q.name_len,
        .a_record = ANSWER_IP,
    };
    return shape;
}

static void fake_send_udp(struct fake_server *s, const struct sockaddr *to,
                          const struct dns_query *q, const struct reply_shape *shape)
{
    int len = reply_build(q, shape, s->udp_tx, sizeof(s->udp_tx));

    if (len > 0) {
        uv_buf_t buf = uv_buf_init((char *)s->udp_tx, (unsigned)len);
        uv_udp_try_send(&s->udp, &buf, 1, to);
    }
}

/* Sends the replies upstream must ignore, then the answer. */
static void fake_reply_mismatched_first(struct fake_server *s, const struct sockaddr *to,
                                        const struct dns_query *q)
{
    struct reply_shape shape = shape_answer(q);
    uint8_t other[DNS_NAME_MAX];
    size_t other_len;

    shape.id = (uint16_t)(q->hdr.id + 1);
    shape.a_record = DECOY_IP;
    fake_send_udp(s, to, q, &shape);

    dns_name_from_text("other.example.com", other, &other_len);
    shape.id = q->hdr.id;
    shape.name = other;
    shape.name_len = other_len;
    fake_send_udp(s, to, q, &shape);

    shape = shape_answer(q);
    fake_send_udp(s, to, q, &shape);
}

static void fake_reply_mixed_case(struct fake_server *s, const struct sockaddr *to,
                                  const struct dns_query *q)
{
    struct reply_shape shape = shape_answer(q);
    uint8_t name[DNS_NAME_MAX];

    memcpy(name, q->q.name, q->q.name_len);
    for (size_t i = 0; i < q->q.name_len; i++) {
        if (name[i] >= 'a' && name[i] <= 'z') {
            name[i] = (uint8_t)(name[i] - 'a' + 'A');
        }
    }
    shape.name = name;
    fake_send_udp(s, to, q, &shape);
}

static void fake_record_query(struct fake_server *s, const struct dns_query *q,
                              const struct sockaddr *from)
{
    struct addr peer;

    if (s->udp_queries < REPEATS) {
        s->seen_ids[s->udp_queries] = q->hdr.id;
        if (addr_from_sockaddr(from, sizeof(struct sockaddr_in), &peer) == 0) {
            s->seen_ports[s->udp_queries] = addr_port(&peer);
        }
    }
    s->udp_queries++;
}

static void fake_on_udp_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    struct fake_server *s = handle->data;

    (void)suggested;
    *buf = uv_buf_init((char *)s->udp_rx, sizeof(s->udp_rx));
}

static void fake_on_udp_recv(uv_udp_t *udp, ssize_t n, const uv_buf_t *buf,
                             const struct sockaddr *from, unsigned flags)
{
    struct fake_server *s = udp->data;
    struct dns_query q;
    struct reply_shape shape;

    (void)flags;
    if (n <= 0 || from == NULL ||
        dns_msg_parse_query((const uint8_t *)buf->base, (size_t)n, &q) != 0) {
        return;
    }
    fake_record_query(s, &q, from);
    shape = shape_answer(&q);
    switch (s->mode) {
    case FAKE_ANSWER:
        fake_send_udp(s, from, &q, &shape);
        break;
    case FAKE_SILENT:
        break;
    case FAKE_MISMATCH_FIRST:
        fake_reply_mismatched_first(s, from, &q);
        break;
    case FAKE_TRUNCATE_UDP:
        shape.extra_flags = DNS_FLAG_TC;
        shape.a_record = NULL;
        fake_send_udp(s, from, &q, &shape);
        break;
    case FAKE_MIXED_CASE:
        fake_reply_mixed_case(s, from, &q);
        break;
    }
}

static void fake_close_conn(struct fake_server *s)
{
    if (s->conn_open) {
        s->conn_open = false;
        uv_close((uv_handle_t *)&s->conn, NULL);
    }
}

static void fake_on_tcp_written(uv_write_t *req, int status)
{
    (void)req;
    (void)status;
}

/* Over TCP every mode answers properly: only the UDP side misbehaves. */
static void fake_answer_tcp(struct fake_server *s, const uint8_t *msg, size_t len)
{
    struct dns_query q;
    struct reply_shape shape;
    int reply_len;

    if (dns_msg_parse_query(msg, len, &q) != 0) {
        return;
    }
    s->tcp_queries++;
    shape = shape_answer(&q);
    reply_len = reply_build(&q, &shape, s->tcp_tx + 2, sizeof(s->tcp_tx) - 2);
    if (reply_len <= 0) {
        return;
    }
    s->tcp_tx[0] = (uint8_t)(reply_len >> 8);
    s->tcp_tx[1] = (uint8_t)reply_len;
    uv_buf_t buf = uv_buf_init((char *)s->tcp_tx, (unsigned)reply_len + 2);
    uv_write(&s->tcp_write, (uv_stream_t *)&s->conn, &buf, 1, fake_on_tcp_written);
}

static void fake_on_tcp_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    struct fake_server *s = handle->data;

    (void)suggested;
    *buf =
        uv_buf_init((char *)s->tcp_rx + s->tcp_have, (unsigned)(sizeof(s->tcp_rx) - s->tcp_have));
}

/* RFC 1035 4.2.2: each message is preceded by its two-byte length. */
static void fake_on_tcp_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf)
{
    struct fake_server *s = stream->data;
    size_t msg_len;

    (void)buf;
    if (n < 0) {
        fake_close_conn(s);
        return;
    }
    s->tcp_have += (size_t)n;
    if (s->tcp_have < 2) {
        return;
    }
    msg_len = (size_t)s->tcp_rx[0] << 8 | s->tcp_rx[1];
    if (s->tcp_have < 2 + msg_len) {
        return;
    }
    fake_answer_tcp(s, s->tcp_rx + 2, msg_len);
    s->tcp_have = 0; /* the tests send one query per connection */
}

static void fake_on_connection(uv_stream_t *listener, int status)
{
    struct fake_server *s = listener->data;

    if (status < 0 || s->conn_used) {
        return;
    }
    s->conn_used = true;
    uv_tcp_init(listener->loop, &s->conn);
    s->conn.data = s;
    s->conn_open = true;
    if (uv_accept(listener, (uv_stream_t *)&s->conn) != 0) {
        fake_close_conn(s);
        return;
    }
    uv_unref((uv_handle_t *)&s->conn);
    uv_read_start((uv_stream_t *)&s->conn, fake_on_tcp_alloc, fake_on_tcp_read);
}

/* Listens on TCP at an ephemeral port, then binds UDP to the same port. */
static int fake_bind(struct fake_server *s, uv_loop_t *loop)
{
    struct sockaddr_storage bound;
    int bound_len = sizeof(bound);
    int rc;

    addr_parse("127.0.0.1", 0, &s->addr);
    uv_tcp_init(loop, &s->listener);
    uv_udp_init(loop, &s->udp);
    rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&s->addr.sa, 0);
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&s->listener, 4, fake_on_connection);
    }
    if (rc == 0) {
        rc = uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &bound_len);
    }
    if (rc == 0) {
        rc = addr_from_sockaddr((const struct sockaddr *)&bound, (socklen_t)bound_len, &s->addr);
    }
    if (rc == 0) {
        rc = uv_udp_bind(&s->udp, (const struct sockaddr *)&s->addr.sa, 0);
    }
    if (rc != 0) {
        uv_close((uv_handle_t *)&s->listener, NULL);
        uv_close((uv_handle_t *)&s->udp, NULL);
        uv_run(loop, UV_RUN_NOWAIT);
    }
    return rc;
}

static void fake_server_start(struct fake_server *s, uv_loop_t *loop, enum fake_mode mode)
{
    int rc = UV_EADDRINUSE;

    s->mode = mode;
    /* The TCP port may be taken for UDP by someone else: try another. */
    for (int attempt = 0; attempt < 8 && rc != 0; attempt++) {
        rc = fake_bind(s, loop);
    }
    if (rc != 0) {
        setup_failed("fake server bind", rc);
    }
    s->udp.data = s;
    s->listener.data = s;
    rc = uv_udp_recv_start(&s->udp, fake_on_udp_alloc, fake_on_udp_recv);
    if (rc != 0) {
        setup_failed("fake server recv", rc);
    }
    uv_unref((uv_handle_t *)&s->udp);
    uv_unref((uv_handle_t *)&s->listener);
}

static void fake_server_close(struct fake_server *s)
{
    uv_close((uv_handle_t *)&s->udp, NULL);
    uv_close((uv_handle_t *)&s->listener, NULL);
    fake_close_conn(s);
}

static void harness_on_watchdog(uv_timer_t *timer)
{
    struct harness *h = timer->data;

    h->watchdog_fired = true;
    uv_stop(&h->loop);
}

static void harness_on_linger(uv_timer_t *timer)
{
    (void)timer;
}

static struct harness *harness_start(enum fake_mode mode, uint32_t max_inflight)
{
    struct harness *h = &harness;
    int rc;

    memset(h, 0, sizeof(*h));
    rc = uv_loop_init(&h->loop);
    if (rc != 0) {
        setup_failed("loop", rc);
    }
    uv_timer_init(&h->loop, &h->watchdog);
    uv_timer_init(&h->loop, &h->linger);
    h->watchdog.data = h;
    uv_unref((uv_handle_t *)&h->watchdog);
    fake_server_start(&h->server, &h->loop, mode);
    rc = upstream_new(&h->loop, max_inflight, &h->up);
    if (rc != 0) {
        setup_failed("upstream_new", rc);
    }
    return h;
}

/* Runs the loop until every upstream request has ended and closed its handles: the fake
 * server and the watchdog are unreferenced and do not keep it going. */
static void harness_run(struct harness *h)
{
    uv_timer_start(&h->watchdog, harness_on_watchdog, WATCHDOG_MS, 0);
    uv_run(&h->loop, UV_RUN_DEFAULT);
    uv_timer_stop(&h->watchdog);
    CHECK(!h->watchdog_fired);
}

/* Runs the loop for ms more, so that replies already on their way arrive. */
static void harness_linger(struct harness *h, uint64_t ms)
{
    uv_timer_start(&h->linger, harness_on_linger, ms, 0);
    harness_run(h);
}

/* Frees upstream, closes every handle and checks that the loop closes empty. */
static void harness_finish(struct harness *h)
{
    upstream_free(h->up);
    h->up = NULL;
    fake_server_close(&h->server);
    uv_close((uv_handle_t *)&h->linger, NULL);
    harness_run(h);
    uv_close((uv_handle_t *)&h->watchdog, NULL);
    uv_run(&h->loop, UV_RUN_NOWAIT);
    CHECK_INT(uv_loop_close(&h->loop), 0);
}

/* What uv_walk needs to tell upstream's handles from the harness's. */
struct handle_census {
    const struct harness *h;
    size_t foreign;
};

static void census_count(uv_handle_t *handle, void *arg)
{
    struct handle_census *census = arg;
    const struct harness *h = census->h;
    const uv_handle_t *ours[] = {
        (const uv_handle_t *)&h->watchdog,    (const uv_handle_t *)&h->linger,
        (const uv_handle_t *)&h->server.udp,  (const uv_handle_t *)&h->server.listener,
        (const uv_handle_t *)&h->server.conn,
    };

    for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]); i++) {
        if (handle == ours[i]) {
            return;
        }
    }
    census->foreign++;
}

/* The handles on the loop that belong to neither the harness nor the fake server. */
static size_t upstream_handle_count(struct harness *h)
{
    struct handle_census census = {.h = h};

    uv_walk(&h->loop, census_count, &census);
    return census.foreign;
}

static void on_outcome(void *user, int status, uint8_t *answer, size_t len)
{
    struct outcome *o = user;

    o->calls++;
    o->status = status;
    o->len = 0;
    if (status == 0 && len <= sizeof(o->answer)) {
        memcpy(o->answer, answer, len);
        o->len = len;
    }
}

/* Builds the query "QUERY_NAME A IN" with RD set and the given ID; returns its length. */
static size_t query_build(uint16_t id, uint8_t *out, size_t cap)
{
    struct dns_header hdr = {.id = id, .flags = DNS_FLAG_RD, .qdcount = 1};
    struct dns_writer w;
    uint8_t name[DNS_NAME_MAX];
    size_t name_len;
    int len;

    if (dns_name_from_text(QUERY_NAME, name, &name_len) != 0) {
        setup_failed("query name", UV_EINVAL);
    }
    dns_writer_init(&w, out, cap);
    dns_writer_header(&w, &hdr);
    dns_writer_question(&w, name, name_len, DNS_TYPE_A, DNS_CLASS_IN);
    len = dns_writer_finish(&w);
    if (len < 0) {
        setup_failed("query build", len);
    }
    return (size_t)len;
}

/* Sends the standard query to `server`; the query buffer is gone when this returns. */
static int query_to(struct harness *h, const struct addr *server, uint16_t id, uint32_t timeout_ms,
                    struct outcome *o, struct upstream_req **req)
{
    uint8_t query[DNS_UDP_MIN];
    size_t len = query_build(id, query, sizeof(query));

    return upstream_query(h->up, server, query, len, timeout_ms, on_outcome, o, req);
}

static int query_fake(struct harness *h, uint16_t id, struct outcome *o)
{
    return query_to(h, &h->server.addr, id, LONG_TIMEOUT_MS, o, NULL);
}

/* Sends REPEATS queries one after the other, each once the previous one has ended, so no two
 * upstream sockets are ever open together. */
static void query_fake_in_turn(struct harness *h, uint16_t first_id, struct outcome *outcomes)
{
    for (int i = 0; i < REPEATS; i++) {
        CHECK_INT(query_fake(h, (uint16_t)(first_id + i), &outcomes[i]), 0);
        harness_run(h);
    }
}

static uint16_t answer_id(const struct outcome *o)
{
    if (o->len < 2) {
        return 0;
    }
    return (uint16_t)(o->answer[0] << 8 | o->answer[1]);
}

/* True when the answer holds exactly one record: QUERY_NAME A ANSWER_IP. */
static bool answer_has_real_record(const struct outcome *o)
{
    struct dns_header hdr;
    struct dns_question q;
    struct dns_rr rr;
    size_t pos = DNS_HEADER_LEN;

    if (dns_msg_header(o->answer, o->len, &hdr) != 0 || hdr.ancount != 1 ||
        dns_msg_question(o->answer, o->len, &pos, &q) != 0 ||
        dns_msg_rr(o->answer, o->len, &pos, &rr) != 0) {
        return false;
    }
    return rr.type == DNS_TYPE_A && rr.rdlength == 4 &&
           memcmp(o->answer + rr.rdata_pos, ANSWER_IP, 4) == 0;
}

/* True when the answer's question name is QUERY_NAME octet for octet, case included. */
static bool answer_question_is_exactly_query_name(const struct outcome *o)
{
    struct dns_question q;
    size_t pos = DNS_HEADER_LEN;
    uint8_t name[DNS_NAME_MAX];
    size_t name_len;

    dns_name_from_text(QUERY_NAME, name, &name_len);
    return dns_msg_question(o->answer, o->len, &pos, &q) == 0 && q.name_len == name_len &&
           memcmp(q.name, name, name_len) == 0;
}

static uint64_t elapsed_ms_since(uint64_t start_ns)
{
    return (uv_hrtime() - start_ns) / 1000000u;
}

/* Binds a UDP socket to an ephemeral port on 127.0.0.1, closes it and returns the address:
 * nobody listens there, so a datagram to it draws an ICMP port unreachable. */
static struct addr closed_udp_port(void)
{
    struct addr a;
    struct sockaddr_storage bound;
    socklen_t bound_len = sizeof(bound);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    addr_parse("127.0.0.1", 0, &a);
    if (fd < 0 || bind(fd, (const struct sockaddr *)&a.sa, a.len) != 0 ||
        getsockname(fd, (struct sockaddr *)&bound, &bound_len) != 0 ||
        addr_from_sockaddr((const struct sockaddr *)&bound, bound_len, &a) != 0) {
        setup_failed("closed port", -errno);
    }
    close(fd);
    return a;
}

static void test_answer_arrives_with_status_0_and_its_record(void)
{
    struct harness *h = harness_start(FAKE_ANSWER, 0);
    struct outcome o = {0};

    CHECK_INT(query_fake(h, 0x1234, &o), 0);
    harness_run(h);
    CHECK_INT(o.calls, 1);
    CHECK_INT(o.status, 0);
    CHECK(answer_has_real_record(&o));
    harness_finish(h);
}

static void test_answer_carries_the_callers_id(void)
{
    struct harness *h = harness_start(FAKE_ANSWER, 0);
    static struct outcome outcomes[REPEATS];

    memset(outcomes, 0, sizeof(outcomes));
    query_fake_in_turn(h, 0xbe00, outcomes);
    for (int i = 0; i < REPEATS; i++) {
        CHECK_INT(outcomes[i].status, 0);
        CHECK_INT(answer_id(&outcomes[i]), 0xbe00 + i);
    }
    harness_finish(h);
}

static void test_wire_id_differs_from_the_callers_id(void)
{
    struct harness *h = harness_start(FAKE_ANSWER, 0);
    static struct outcome outcomes[REPEATS];
    int replaced = 0;

    memset(outcomes, 0, sizeof(outcomes));
    query_fake_in_turn(h, 0x1234, outcomes);
    CHECK_INT(h->server.udp_queries, REPEATS);
    for (int i = 0; i < REPEATS; i++) {
        if (h->server.seen_ids[i] != (uint16_t)(0x1234 + i)) {
            replaced++;
        }
    }
    CHECK(replaced > 0);
    harness_finish(h);
}

static void test_source_port_varies_across_queries(void)
{
    struct harness *h = harness_start(FAKE_ANSWER, 0);
    static struct outcome outcomes[REPEATS];
    int other_ports = 0;

    memset(outcomes, 0, sizeof(outcomes));
    query_fake_in_turn(h, 0x1234, outcomes);
    CHECK_INT(h->server.udp_queries, REPEATS);
    for (int i = 1; i < REPEATS; i++) {
        if (h->server.seen_ports[i] != h->server.seen_ports[0]) {
            other_ports++;
        }
    }
    CHECK(other_ports > 0);
    harness_finish(h);
}

static void test_replies_with_wrong_id_or_question_are_skipped(void)
{
    struct harness *h = harness_start(FAKE_MISMATCH_FIRST, 0);
    struct outcome o = {0};
    struct upstream_stats stats;

    CHECK_INT(query_fake(h, 0x1234, &o), 0);
    harness_run(h);
    upstream_stats(h->up, &stats);
    CHECK_INT(o.calls, 1);
    CHECK_INT(o.status, 0);
    CHECK(answer_has_real_record(&o));
    CHECK(answer_question_is_exactly_query_name(&o));
    CHECK_INT(stats.mismatched, 2);
    CHECK_INT(stats.answers, 1);
    harness_finish(h);
}

static void test_truncated_udp_answer_is_retried_over_tcp(void)
{
    struct harness *h = harness_start(FAKE_TRUNCATE_UDP, 0);
    struct outcome o = {0};
    struct upstream_stats stats;

    CHECK_INT(query_fake(h, 0x1234, &o), 0);
    harness_run(h);
    upstream_stats(h->up, &stats);
    CHECK_INT(o.calls, 1);
    CHECK_INT(o.status, 0);
    CHECK(answer_has_real_record(&o)); /* the UDP reply had no records */
    CHECK_INT(o.answer[2] & (DNS_FLAG_TC >> 8), 0);
    CHECK_INT(answer_id(&o), 0x1234);
    CHECK_INT(h->server.tcp_queries, 1);
    CHECK_INT(stats.truncated, 1);
    CHECK_INT(stats.sent_udp, 1);
    CHECK_INT(stats.sent_tcp, 1);
    harness_finish(h);
}

static void test_tcp_query_goes_over_tcp_only(void)
{
    struct harness *h = harness_start(FAKE_ANSWER, 0);
    struct outcome o = {0};
    struct upstream_stats stats;
    uint8_t query[DNS_UDP_MIN];
    size_t len = query_build(0x4321, query, sizeof(query));

    CHECK_INT(upstream_query_tcp(h->up, &h->server.addr, query, len, LONG_TIMEOUT_MS, on_outcome,
                                 &o, NULL),
              0);
    harness_run(h);
    upstream_stats(h->up, &stats);
    CHECK_INT(o.calls, 1);
    CHECK_INT(o.status, 0);
    CHECK(answer_has_real_record(&o));
    CHECK_INT(answer_id(&o), 0x4321);
    CHECK_INT(h->server.udp_queries, 0);
    CHECK_INT(h->server.tcp_queries, 1);
    CHECK_INT(stats.sent_udp, 0);
    CHECK_INT(stats.sent_tcp, 1);
    harness_finish(h);
}

static void test_tcp_query_to_closed_port_fails(void)
{
    struct harness *h = harness_start(FAKE_SILENT, 0);
    struct addr closed = closed_udp_port(); /* no TCP listener there either */
    struct outcome o = {0};
    uint8_t query[DNS_UDP_MIN];
    size_t len = query_build(0x4321, query, sizeof(query));

    CHECK_INT(upstream_query_tcp(h->up, &closed, query, len, LONG_TIMEOUT_MS, on_outcome, &o, NULL),
              0);
    harness_run(h);
    CHECK_INT(o.calls, 1);
    CHECK_INT(o.status, -ECONNREFUSED);
    harness_finish(h);
}

static void test_silent_server_times_out_after_timeout_ms(void)
{
    struct harness *h = harness_start(FAKE_SILENT, 0);
    struct outcome o = {0};
    struct upstream_stats stats;
    uint64_t start_ns;

    uv_update_time(&h->loop); /* upstream arms its timer from the loop's clock */
    start_ns = uv_hrtime();
    CHECK_INT(query_to(h, &h->server.addr, 0x1234, TIMEOUT_MS, &o, NULL), 0);
    harness_run(h);
    upstream_stats(h->up, &stats);
    CHECK_INT(o.calls, 1);
    CHECK_INT(o.status, -ETIMEDOUT);
    CHECK(elapsed_ms_since(start_ns) >= TIMEOUT_MS - 1);
    CHECK(elapsed_ms_since(start_ns) < TIMEOUT_MS + 1000);
    CHECK_INT(stats.timeouts, 1);
    harness_finish(h);
}

static void test_closed_port_is_refused_quickly(void)
{
    struct harness *h = harness_start(FAKE_SILENT, 0);
    struct addr closed = closed_udp_port();
    struct outcome o = {0};
    uint64_t start_ns = uv_hrtime();

    CHECK_INT(query_to(h, &closed, 0x1234, LONG_TIMEOUT_MS, &o, NULL), 0);
    harness_run(h);
    CHECK_INT(o.calls, 1);
    CHECK_INT(o.status, -ECONNREFUSED);
    CHECK(elapsed_ms_since(start_ns) < REFUSED_WITHIN_MS);
    harness_finish(h);
}

static void test_cancelled_request_never_calls_back(void)
{
    struct harness *h = harness_start(FAKE_ANSWER, 0);
    struct outcome o = {0};
    struct upstream_req *req = NULL;

    CHECK_INT(query_to(h, &h->server.addr, 0x1234, LONG_TIMEOUT_MS, &o, &req), 0);
    CHECK(req != NULL);
    upstream_cancel(req);
    harness_linger(h, LINGER_MS);
    CHECK_INT(o.calls, 0);
    CHECK_INT(upstream_handle_count(h), 0);
    harness_finish(h);
}

static void test_cancel_leaves_other_requests_running(void)
{
    struct harness *h = harness_start(FAKE_ANSWER, 0);
    struct outcome cancelled = {0}, kept = {0};
    struct upstream_req *req = NULL;

    CHECK_INT(query_to(h, &h->server.addr, 0x1111, LONG_TIMEOUT_MS, &cancelled, &req), 0);
    CHECK_INT(query_fake(h, 0x2222, &kept), 0);
    upstream_cancel(req);
    harness_run(h);
    CHECK_INT(cancelled.calls, 0);
    CHECK_INT(kept.calls, 1);
    CHECK_INT(kept.status, 0);
    CHECK_INT(answer_id(&kept), 0x2222);
    harness_finish(h);
}

static void test_free_with_pending_requests_calls_nothing(void)
{
    struct harness *h = harness_start(FAKE_ANSWER, 0);
    struct outcome outcomes[3] = {{0}};

    for (int i = 0; i < 3; i++) {
        CHECK_INT(query_fake(h, (uint16_t)(0x1000 + i), &outcomes[i]), 0);
    }
    upstream_free(h->up);
    h->up = NULL;
    harness_linger(h, LINGER_MS);
    for (int i = 0; i < 3; i++) {
        CHECK_INT(outcomes[i].calls, 0);
    }
    CHECK_INT(upstream_handle_count(h), 0);
    harness_finish(h);
}

static void test_query_beyond_max_inflight_is_busy(void)
{
    struct harness *h = harness_start(FAKE_SILENT, 2);
    struct outcome outcomes[3] = {{0}};
    struct upstream_stats stats;

    CHECK_INT(query_fake(h, 0x1001, &outcomes[0]), 0);
    CHECK_INT(query_fake(h, 0x1002, &outcomes[1]), 0);
    CHECK_INT(query_fake(h, 0x1003, &outcomes[2]), -EBUSY);
    upstream_stats(h->up, &stats);
    CHECK_INT(stats.sent_udp, 2);
    harness_finish(h);
    CHECK_INT(outcomes[2].calls, 0);
}

static void test_ended_request_frees_its_inflight_slot(void)
{
    struct harness *h = harness_start(FAKE_ANSWER, 1);
    struct outcome first = {0}, second = {0};

    CHECK_INT(query_fake(h, 0x1001, &first), 0);
    harness_run(h);
    CHECK_INT(first.status, 0);
    CHECK_INT(query_fake(h, 0x1002, &second), 0);
    harness_run(h);
    CHECK_INT(second.status, 0);
    harness_finish(h);
}

static void test_question_echoed_in_other_case_is_accepted(void)
{
    struct harness *h = harness_start(FAKE_MIXED_CASE, 0);
    struct outcome o = {0};

    CHECK_INT(query_fake(h, 0x1234, &o), 0);
    harness_run(h);
    CHECK_INT(o.calls, 1);
    CHECK_INT(o.status, 0);
    CHECK(answer_has_real_record(&o));
    CHECK(!answer_question_is_exactly_query_name(&o)); /* the fake did change the case */
    harness_finish(h);
}

static void test_query_without_question_is_invalid(void)
{
    struct harness *h = harness_start(FAKE_ANSWER, 0);
    struct outcome o = {0};
    struct upstream_stats stats;
    /* ID 0x1234, RD, every count zero. */
    const uint8_t header_only[DNS_HEADER_LEN] = {0x12, 0x34, 0x01, 0x00};

    CHECK_INT(upstream_query(h->up, &h->server.addr, header_only, sizeof(header_only),
                             LONG_TIMEOUT_MS, on_outcome, &o, NULL),
              -EINVAL);
    upstream_stats(h->up, &stats);
    CHECK_INT(stats.sent_udp, 0);
    harness_finish(h);
    CHECK_INT(o.calls, 0);
}

static void test_query_with_cut_question_is_invalid(void)
{
    struct harness *h = harness_start(FAKE_ANSWER, 0);
    struct outcome o = {0};
    uint8_t query[DNS_UDP_MIN];
    size_t len = query_build(0x1234, query, sizeof(query));

    /* qdcount 1, but the question stops inside its name. */
    CHECK_INT(upstream_query(h->up, &h->server.addr, query, len - 8, LONG_TIMEOUT_MS, on_outcome,
                             &o, NULL),
              -EINVAL);
    harness_finish(h);
    CHECK_INT(o.calls, 0);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_answer_arrives_with_status_0_and_its_record),
        UNIT(test_answer_carries_the_callers_id),
        UNIT(test_wire_id_differs_from_the_callers_id),
        UNIT(test_source_port_varies_across_queries),
        UNIT(test_replies_with_wrong_id_or_question_are_skipped),
        UNIT(test_truncated_udp_answer_is_retried_over_tcp),
        UNIT(test_tcp_query_goes_over_tcp_only),
        UNIT(test_tcp_query_to_closed_port_fails),
        UNIT(test_silent_server_times_out_after_timeout_ms),
        UNIT(test_closed_port_is_refused_quickly),
        UNIT(test_cancelled_request_never_calls_back),
        UNIT(test_cancel_leaves_other_requests_running),
        UNIT(test_free_with_pending_requests_calls_nothing),
        UNIT(test_query_beyond_max_inflight_is_busy),
        UNIT(test_ended_request_frees_its_inflight_slot),
        UNIT(test_question_echoed_in_other_case_is_accepted),
        UNIT(test_query_without_question_is_invalid),
        UNIT(test_query_with_cut_question_is_invalid),
    };
    return unit_run("upstream", tests, sizeof(tests) / sizeof(tests[0]));
}
