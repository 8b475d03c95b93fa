#include "upstream.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns.h"
#include "dns_msg.h"
#include "dns_name.h"
#include "log.h"
#include "random.h"

#define UPSTREAM_DEFAULT_INFLIGHT 4096

struct upstream {
    uv_loop_t *loop;
    uint32_t max_inflight;
    uint32_t inflight;
    bool freeing;
    struct upstream_req *reqs; /* every request not yet freed, for upstream_free */
    struct upstream_stats stats;
    uint8_t rx[DNS_TCP_MAX]; /* one receive buffer: everything runs on one loop */
};

enum upstream_phase { UPSTREAM_UDP, UPSTREAM_TCP, UPSTREAM_DONE };

struct upstream_req {
    struct upstream *u;
    struct upstream_req *prev, *next;
    struct addr server;
    upstream_cb cb;
    void *user;
    uint32_t timeout_ms;
    enum upstream_phase phase;
    int open_handles;
    bool poll_open; /* the UDP socket's poll handle is open and not closing */
    bool tcp_open;
    uint16_t client_id; /* the ID of the caller's query, restored in the answer */
    uint16_t wire_id;   /* the random ID on the wire */
    int fd;
    uv_poll_t poll;
    uv_timer_t timer;
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_write_t write;
    uint8_t *tcp_buf; /* the TCP answer being assembled: 2-byte length, then the message */
    size_t tcp_have;
    struct dns_question q;
    size_t query_len;
    uint8_t query[]; /* 2-byte TCP length prefix, then the query as sent */
};

int upstream_new(uv_loop_t *loop, uint32_t max_inflight, struct upstream **out)
{
    struct upstream *u = calloc(1, sizeof(*u));

    if (u == NULL) {
        return -ENOMEM;
    }
    u->loop = loop;
    u->max_inflight = max_inflight != 0 ? max_inflight : UPSTREAM_DEFAULT_INFLIGHT;
    *out = u;
    return 0;
}

static void upstream_req_unlink(struct upstream_req *r)
{
    struct upstream *u = r->u;

    if (r->prev != NULL) {
        r->prev->next = r->next;
    } else {
        u->reqs = r->next;
    }
    if (r->next != NULL) {
        r->next->prev = r->prev;
    }
}

static void upstream_maybe_free_client(struct upstream *u)
{
    if (u->freeing && u->reqs == NULL) {
        free(u);
    }
}

static void upstream_on_handle_closed(uv_handle_t *h)
{
    struct upstream_req *r = h->data;

    if (h == (uv_handle_t *)&r->poll) {
        close(r->fd);
        r->fd = -1;
    }
    if (--r->open_handles > 0) {
        return;
    }
    struct upstream *u = r->u;
    upstream_req_unlink(r);
    free(r->tcp_buf);
    free(r);
    upstream_maybe_free_client(u);
}

static void upstream_close_poll(struct upstream_req *r)
{
    if (r->poll_open) {
        r->poll_open = false;
        uv_close((uv_handle_t *)&r->poll, upstream_on_handle_closed);
    }
}

/* Ends the request: closes its handles; memory goes in the last close callback. */
static void upstream_req_close(struct upstream_req *r)
{
    if (r->phase == UPSTREAM_DONE) {
        return;
    }
    r->phase = UPSTREAM_DONE;
    r->u->inflight--;
    uv_close((uv_handle_t *)&r->timer, upstream_on_handle_closed);
    upstream_close_poll(r);
    if (r->tcp_open) {
        r->tcp_open = false;
        uv_close((uv_handle_t *)&r->tcp, upstream_on_handle_closed);
    }
}

static void upstream_finish(struct upstream_req *r, int status, uint8_t *answer, size_t len)
{
    upstream_cb cb = r->cb;
    void *user = r->user;

    if (r->phase == UPSTREAM_DONE) {
        return;
    }
    if (status == 0) {
        r->u->stats.answers++;
        answer[0] = (uint8_t)(r->client_id >> 8);
        answer[1] = (uint8_t)r->client_id;
    } else if (status == -ETIMEDOUT) {
        r->u->stats.timeouts++;
    } else {
        r->u->stats.errors++;
    }
    upstream_req_close(r);
    cb(user, status, answer, len);
}

/* An answer is ours when it is a response with our ID and exactly our question (RFC 5452 9.1;
 * names compared without regard to case, since some servers echo 0x20-mixed case). */
static bool upstream_matches(const struct upstream_req *r, const uint8_t *msg, size_t len)
{
    struct dns_header h;
    struct dns_question q;
    size_t pos = DNS_HEADER_LEN;

    if (dns_msg_header(msg, len, &h) != 0 || h.id != r->wire_id || !(h.flags & DNS_FLAG_QR) ||
        h.qdcount != 1) {
        return false;
    }
    if (dns_msg_question(msg, len, &pos, &q) != 0) {
        return false;
    }
    return q.qtype == r->q.qtype && q.qclass == r->q.qclass &&
           dns_name_equal(q.name, q.name_len, r->q.name, r->q.name_len);
}

static void upstream_on_timeout(uv_timer_t *t)
{
    upstream_finish(t->data, -ETIMEDOUT, NULL, 0);
}

static void upstream_start_tcp(struct upstream_req *r);

static void upstream_on_udp_readable(uv_poll_t *p, int status, int events)
{
    struct upstream_req *r = p->data;
    struct upstream *u = r->u;

    (void)events;
    if (status < 0) {
        /* libuv reports POLLERR as UV_EBADF; the cause (ECONNREFUSED after an ICMP port
         * unreachable) is the socket's pending error. */
        int err = 0;
        socklen_t err_len = sizeof(err);
        if (getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &err, &err_len) == 0 && err != 0) {
            status = -err;
        }
        upstream_finish(r, status, NULL, 0);
        return;
    }
    while (r->phase == UPSTREAM_UDP) {
        ssize_t n = recv(r->fd, u->rx, sizeof(u->rx), 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return;
            }
            if (errno == EINTR) {
                continue;
            }
            /* ECONNREFUSED: an ICMP port unreachable, reported on the connected socket. */
            upstream_finish(r, -errno, NULL, 0);
            return;
        }
        if (!upstream_matches(r, u->rx, (size_t)n)) {
            u->stats.mismatched++;
            continue;
        }
        if (u->rx[2] & (DNS_FLAG_TC >> 8)) {
            u->stats.truncated++;
            upstream_start_tcp(r);
            return;
        }
        upstream_finish(r, 0, u->rx, (size_t)n);
    }
}

static void upstream_on_tcp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct upstream_req *r = h->data;
    size_t want = r->tcp_have < 2 ? 2 : 2 + ((size_t)r->tcp_buf[0] << 8 | r->tcp_buf[1]);

    (void)suggested;
    *buf = uv_buf_init((char *)r->tcp_buf + r->tcp_have, (unsigned)(want - r->tcp_have));
}

static void upstream_on_tcp_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct upstream_req *r = s->data;
    size_t msg_len;

    (void)buf;
    if (n < 0) {
        upstream_finish(r, n == UV_EOF ? -ECONNRESET : (int)n, NULL, 0);
        return;
    }
    r->tcp_have += (size_t)n;
    if (r->tcp_have < 2) {
        return;
    }
    msg_len = (size_t)r->tcp_buf[0] << 8 | r->tcp_buf[1];
    if (r->tcp_have < 2 + msg_len) {
        return;
    }
    /* Over TCP the stream is ours alone: a wrong answer is an error, not noise to skip. */
    if (!upstream_matches(r, r->tcp_buf + 2, msg_len)) {
        r->u->stats.mismatched++;
        upstream_finish(r, -EBADMSG, NULL, 0);
        return;
    }
    upstream_finish(r, 0, r->tcp_buf + 2, msg_len);
}

static void upstream_on_tcp_written(uv_write_t *w, int status)
{
    struct upstream_req *r = w->data;

    if (status < 0 && r->phase == UPSTREAM_TCP) {
        upstream_finish(r, status, NULL, 0);
    }
}

static void upstream_on_tcp_connected(uv_connect_t *c, int status)
{
    struct upstream_req *r = c->data;
    uv_buf_t buf = uv_buf_init((char *)r->query, (unsigned)(r->query_len + 2));

    if (r->phase != UPSTREAM_TCP) {
        return;
    }
    if (status < 0) {
        upstream_finish(r, status, NULL, 0);
        return;
    }
    r->write.data = r;
    int rc = uv_write(&r->write, (uv_stream_t *)&r->tcp, &buf, 1, upstream_on_tcp_written);
    if (rc == 0) {
        rc = uv_read_start((uv_stream_t *)&r->tcp, upstream_on_tcp_alloc, upstream_on_tcp_read);
    }
    if (rc < 0) {
        upstream_finish(r, rc, NULL, 0);
    }
}

/* Opens the TCP connection of r and starts its timer; the query is written once connected.
 * Returns 0 or an error, leaving r to be closed by the caller. */
static int upstream_open_tcp(struct upstream_req *r)
{
    int rc;

    r->phase = UPSTREAM_TCP;
    r->u->stats.sent_tcp++;
    r->tcp_buf = malloc(2 + DNS_TCP_MAX);
    if (r->tcp_buf == NULL) {
        return -ENOMEM;
    }
    rc = uv_tcp_init(r->u->loop, &r->tcp);
    if (rc < 0) {
        return rc;
    }
    r->tcp.data = r;
    r->tcp_open = true;
    r->open_handles++;
    r->connect.data = r;
    rc = uv_tcp_connect(&r->connect, &r->tcp, (const struct sockaddr *)&r->server.sa,
                        upstream_on_tcp_connected);
    if (rc < 0) {
        return rc;
    }
    uv_timer_start(&r->timer, upstream_on_timeout, r->timeout_ms, 0);
    return 0;
}

static void upstream_start_tcp(struct upstream_req *r)
{
    int rc;

    /* The UDP socket is done with; close it now rather than at the end. */
    upstream_close_poll(r);
    rc = upstream_open_tcp(r);
    if (rc < 0) {
        upstream_finish(r, rc, NULL, 0);
    }
}

/* A fresh UDP socket connected to the server: the kernel picks a random ephemeral port, and
 * drops datagrams from any other address. */
static int upstream_udp_socket(const struct addr *server)
{
    int fd = socket(server->sa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        return -errno;
    }
    if (connect(fd, (const struct sockaddr *)&server->sa, server->len) != 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

static int upstream_req_new(struct upstream *u, const struct addr *server, const uint8_t *query,
                            size_t len, struct upstream_req **out)
{
    struct upstream_req *r;
    size_t pos = DNS_HEADER_LEN;
    struct dns_header h;

    if (len > DNS_TCP_MAX || dns_msg_header(query, len, &h) != 0 || h.qdcount != 1) {
        return -EINVAL;
    }
    r = calloc(1, sizeof(*r) + 2 + len);
    if (r == NULL) {
        return -ENOMEM;
    }
    if (dns_msg_question(query, len, &pos, &r->q) != 0) {
        free(r);
        return -EINVAL;
    }
    r->u = u;
    r->server = *server;
    r->fd = -1;
    r->client_id = h.id;
    r->wire_id = random_u16();
    r->query_len = len;
    r->query[0] = (uint8_t)(len >> 8);
    r->query[1] = (uint8_t)len;
    memcpy(r->query + 2, query, len);
    r->query[2] = (uint8_t)(r->wire_id >> 8);
    r->query[3] = (uint8_t)r->wire_id;
    *out = r;
    return 0;
}

/* Puts r on the client's list of requests and counts it. */
static void upstream_link(struct upstream *u, struct upstream_req *r)
{
    r->next = u->reqs;
    if (u->reqs != NULL) {
        u->reqs->prev = r;
    }
    u->reqs = r;
    u->inflight++;
}

int upstream_query(struct upstream *u, const struct addr *server, const uint8_t *query, size_t len,
                   uint32_t timeout_ms, upstream_cb cb, void *user, struct upstream_req **req)
{
    struct upstream_req *r;
    int rc;

    if (u->inflight >= u->max_inflight) {
        return -EBUSY;
    }
    rc = upstream_req_new(u, server, query, len, &r);
    if (rc < 0) {
        return rc;
    }
    r->fd = upstream_udp_socket(server);
    if (r->fd < 0) {
        rc = r->fd;
        free(r);
        return rc;
    }
    if (send(r->fd, r->query + 2, len, 0) < 0) {
        rc = -errno;
        close(r->fd);
        free(r);
        return rc;
    }

    r->cb = cb;
    r->user = user;
    r->timeout_ms = timeout_ms;
    r->phase = UPSTREAM_UDP;
    uv_poll_init_socket(u->loop, &r->poll, r->fd);
    uv_timer_init(u->loop, &r->timer);
    r->poll.data = r;
    r->timer.data = r;
    r->open_handles = 2;
    r->poll_open = true;
    uv_poll_start(&r->poll, UV_READABLE, upstream_on_udp_readable);
    uv_timer_start(&r->timer, upstream_on_timeout, timeout_ms, 0);

    upstream_link(u, r);
    u->stats.sent_udp++;
    if (req != NULL) {
        *req = r;
    }
    return 0;
}

int upstream_query_tcp(struct upstream *u, const struct addr *server, const uint8_t *query,
                       size_t len, uint32_t timeout_ms, upstream_cb cb, void *user,
                       struct upstream_req **req)
{
    struct upstream_req *r;
    int rc;

    if (u->inflight >= u->max_inflight) {
        return -EBUSY;
    }
    rc = upstream_req_new(u, server, query, len, &r);
    if (rc < 0) {
        return rc;
    }
    r->cb = cb;
    r->user = user;
    r->timeout_ms = timeout_ms;
    uv_timer_init(u->loop, &r->timer);
    r->timer.data = r;
    r->open_handles = 1;
    upstream_link(u, r);
    rc = upstream_open_tcp(r);
    if (rc < 0) {
        upstream_req_close(r); /* freed once its handles are closed; no callback */
        return rc;
    }
    if (req != NULL) {
        *req = r;
    }
    return 0;
}

void upstream_cancel(struct upstream_req *r)
{
    upstream_req_close(r);
}

void upstream_free(struct upstream *u)
{
    if (u == NULL) {
        return;
    }
    u->freeing = true;
    for (struct upstream_req *r = u->reqs; r != NULL; r = r->next) {
        upstream_req_close(r);
    }
    upstream_maybe_free_client(u);
}

void upstream_stats(const struct upstream *u, struct upstream_stats *out)
{
    *out = u->stats;
}
