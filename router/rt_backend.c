#include "rt_backend.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns_name.h"
#include "log.h"
#include "random.h"
#include "rt_tcp.h"

#define RT_BACKEND_BATCH 32        /* datagrams per recvmmsg */
#define RT_BACKEND_TX_BATCH 64     /* queries queued per socket before a sendmmsg */
#define RT_BACKEND_RX_BYTES 65536  /* a whole UDP datagram: nothing is cut */
#define RT_BACKEND_NONE UINT32_MAX /* end of the timeout list */
#define RT_BACKEND_ID_TRIES 64     /* random draws before walking to a free ID */
/* Replies to a burst of queries arrive together; the default buffer (about 200 KiB) holds a
 * few hundred and drops the rest, which then time out. The kernel caps it at rmem_max. */
#define RT_BACKEND_RCVBUF_BYTES (4 * 1024 * 1024)

struct rt_backend_rx {
    struct mmsghdr msgs[RT_BACKEND_BATCH];
    struct iovec iov[RT_BACKEND_BATCH];
    uint8_t bufs[RT_BACKEND_BATCH][RT_BACKEND_RX_BYTES];
};

struct rt_backend_slot {
    struct rt_pending p; /* p.query holds the query as it goes out, with the wire ID */
    uint64_t sent_ms;
    uint16_t wire_id;
    uint8_t socket;
    bool used;
    bool queued;         /* waits in its socket's send queue */
    bool failed;         /* the socket refused it; it times out at once */
    uint32_t prev, next; /* the timeout list, oldest first */
};

struct rt_backend_socket {
    struct rt_backend *owner;
    uint8_t index;
    int fd;
    uv_poll_t poll;
    uint32_t n_queued;
    uint32_t queued[RT_BACKEND_TX_BATCH]; /* slots to send, in order */
};

struct rt_backend {
    uv_loop_t *loop;
    struct rt_backend_config cfg;
    struct rt_backend_rx *rx;
    rt_backend_answer_cb on_answer;
    rt_backend_timeout_cb on_timeout;
    void *user;
    uint32_t timeout_ms;
    bool retiring, closing;
    int open_handles;
    uv_timer_t timer;
    uv_idle_t flush; /* active while queries wait in a send queue */
    struct rt_backend_stats stats;
    struct rt_tcp *tcp; /* opened with the first TCP query */
    struct rt_backend_socket sockets[RT_MAX_SOCKETS];
    uint32_t n_sockets;
    uint32_t head, tail; /* timeout list */
    uint32_t n_slots, n_free;
    uint32_t *free_list;
    struct rt_backend_slot *slots;
    uint16_t id_map[65536]; /* wire ID -> slot index + 1; 0 when free */
};

struct rt_backend_rx *rt_backend_rx_new(void)
{
    struct rt_backend_rx *rx = calloc(1, sizeof(*rx));

    if (rx == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < RT_BACKEND_BATCH; i++) {
        rx->iov[i].iov_base = rx->bufs[i];
        rx->iov[i].iov_len = RT_BACKEND_RX_BYTES;
        rx->msgs[i].msg_hdr.msg_iov = &rx->iov[i];
        rx->msgs[i].msg_hdr.msg_iovlen = 1;
    }
    return rx;
}

void rt_backend_rx_free(struct rt_backend_rx *rx)
{
    free(rx);
}

static void rt_backend_free(struct rt_backend *b)
{
    free(b->slots);
    free(b->free_list);
    free(b);
}

static void rt_backend_on_closed(uv_handle_t *h)
{
    struct rt_backend *b = h->data;

    if (--b->open_handles == 0) {
        rt_backend_free(b);
    }
}

static void rt_backend_on_socket_closed(uv_handle_t *h)
{
    struct rt_backend_socket *s = h->data;

    close(s->fd);
    s->fd = -1;
    h->data = s->owner;
    rt_backend_on_closed(h);
}

void rt_backend_close(struct rt_backend *b)
{
    if (b->closing) {
        return;
    }
    b->closing = true;
    rt_tcp_close(b->tcp);
    b->tcp = NULL;
    b->open_handles = (int)b->n_sockets + 2;
    for (uint32_t i = 0; i < b->n_sockets; i++) {
        uv_close((uv_handle_t *)&b->sockets[i].poll, rt_backend_on_socket_closed);
    }
    uv_close((uv_handle_t *)&b->timer, rt_backend_on_closed);
    uv_close((uv_handle_t *)&b->flush, rt_backend_on_closed);
}

static void rt_backend_maybe_finish_retiring(struct rt_backend *b)
{
    if (b->retiring && b->stats.outstanding == 0 &&
        (b->tcp == NULL || rt_tcp_outstanding(b->tcp) == 0)) {
        rt_backend_close(b);
    }
}

void rt_backend_retire(struct rt_backend *b)
{
    b->retiring = true;
    rt_backend_maybe_finish_retiring(b);
}

static void rt_backend_list_remove(struct rt_backend *b, uint32_t idx)
{
    struct rt_backend_slot *s = &b->slots[idx];

    if (s->prev != RT_BACKEND_NONE) {
        b->slots[s->prev].next = s->next;
    } else {
        b->head = s->next;
    }
    if (s->next != RT_BACKEND_NONE) {
        b->slots[s->next].prev = s->prev;
    } else {
        b->tail = s->prev;
    }
}

static void rt_backend_release(struct rt_backend *b, uint32_t idx)
{
    struct rt_backend_slot *s = &b->slots[idx];

    rt_backend_list_remove(b, idx);
    b->id_map[s->wire_id] = 0;
    s->used = false;
    s->queued = false;
    s->failed = false;
    b->free_list[b->n_free++] = idx;
    b->stats.outstanding--;
}

static void rt_backend_on_timer(uv_timer_t *t);

/* Arms the timer for the oldest query in flight, or stops it when there is none. */
static void rt_backend_arm_timer(struct rt_backend *b)
{
    uint64_t now = uv_now(b->loop), due;

    if (b->head == RT_BACKEND_NONE) {
        uv_timer_stop(&b->timer);
        return;
    }
    due = b->slots[b->head].sent_ms + b->timeout_ms;
    uv_timer_start(&b->timer, rt_backend_on_timer, due > now ? due - now : 0, 0);
}

static void rt_backend_on_timer(uv_timer_t *t)
{
    struct rt_backend *b = t->data;
    uint64_t now = uv_now(b->loop);

    while (b->head != RT_BACKEND_NONE && !b->closing &&
           b->slots[b->head].sent_ms + b->timeout_ms <= now) {
        uint32_t idx = b->head;
        b->stats.timeouts += !b->slots[idx].failed;
        b->on_timeout(b->user, b, &b->slots[idx].p, b->slots[idx].p.query,
                      b->slots[idx].p.query_len);
        rt_backend_release(b, idx);
    }
    if (b->closing) {
        return;
    }
    rt_backend_arm_timer(b);
    rt_backend_maybe_finish_retiring(b);
}

bool rt_backend_answers(const struct rt_pending *p, const uint8_t *msg, size_t len)
{
    struct dns_header h;
    struct dns_question q;
    size_t pos = DNS_HEADER_LEN;

    if (dns_msg_header(msg, len, &h) != 0 || !(h.flags & DNS_FLAG_QR) || h.qdcount != 1 ||
        dns_msg_question(msg, len, &pos, &q) != 0) {
        return false;
    }
    return q.qtype == p->q.q.qtype && q.qclass == p->q.q.qclass &&
           dns_name_equal(q.name, q.name_len, p->q.q.name, p->q.q.name_len);
}

static void rt_backend_on_datagram(struct rt_backend *b, uint8_t socket, uint8_t *msg, size_t len)
{
    uint32_t idx;
    struct rt_backend_slot *s;
    uint16_t id;

    if (len < DNS_HEADER_LEN) {
        b->stats.mismatched++;
        return;
    }
    id = (uint16_t)(msg[0] << 8 | msg[1]);
    idx = b->id_map[id];
    if (idx == 0) {
        b->stats.mismatched++;
        return;
    }
    s = &b->slots[idx - 1];
    /* An answer to a query that never left is a forgery. */
    if (s->socket != socket || s->queued || s->failed || !rt_backend_answers(&s->p, msg, len)) {
        b->stats.mismatched++;
        return;
    }
    uint32_t took_us = (uint32_t)((uv_now(b->loop) - s->sent_ms) * 1000);
    b->stats.latency_us =
        b->stats.latency_us == 0 ? took_us : (b->stats.latency_us * 7 + took_us) / 8;
    b->stats.responses++;
    b->on_answer(b->user, b, &s->p, msg, len);
    rt_backend_release(b, idx - 1);
}

/* Clears a pending socket error (an ICMP port unreachable on the connected socket). */
static void rt_backend_clear_error(struct rt_backend *b, int fd)
{
    int err = 0;
    socklen_t err_len = sizeof(err);

    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) == 0 && err == ECONNREFUSED) {
        b->stats.refused++;
    }
}

static void rt_backend_on_readable(uv_poll_t *p, int status, int events)
{
    struct rt_backend_socket *sock = p->data;
    struct rt_backend *b = sock->owner;
    struct rt_backend_rx *rx = b->rx;
    int n;

    (void)events;
    if (status < 0) {
        /* POLLERR: an ICMP port unreachable left ECONNREFUSED pending on the socket (the
         * backend was down when a query left). libuv has stopped the handle; the socket
         * itself is fine, so the error is cleared and reading starts again, or no answer
         * would ever be read from it once the backend is back. */
        rt_backend_clear_error(b, sock->fd);
        if (uv_poll_start(p, UV_READABLE, rt_backend_on_readable) != 0) {
            return;
        }
    }
    do {
        n = recvmmsg(sock->fd, rx->msgs, RT_BACKEND_BATCH, MSG_DONTWAIT, NULL);
        if (n < 0) {
            if (errno == ECONNREFUSED) {
                b->stats.refused++;
                continue;
            }
            return; /* EAGAIN: all read */
        }
        for (int i = 0; i < n && !b->closing; i++) {
            if (rx->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
                b->stats.mismatched++;
                continue;
            }
            rt_backend_on_datagram(b, sock->index, rx->bufs[i], rx->msgs[i].msg_len);
        }
        if (!b->closing) {
            rt_backend_maybe_finish_retiring(b);
        }
    } while (n == RT_BACKEND_BATCH && !b->closing);
}

static int rt_backend_open_socket(struct rt_backend *b, struct rt_backend_socket *s)
{
    int fd = socket(b->cfg.addr.sa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int rc;

    if (fd < 0) {
        return -errno;
    }
    int rcvbuf = RT_BACKEND_RCVBUF_BYTES;
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)); /* best effort */
    /* Connected: the kernel gives it a random source port and drops datagrams from others. */
    if (connect(fd, (const struct sockaddr *)&b->cfg.addr.sa, b->cfg.addr.len) != 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    s->fd = fd;
    s->owner = b;
    rc = uv_poll_init_socket(b->loop, &s->poll, fd);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    s->poll.data = s;
    b->n_sockets++; /* from here on closed with the backend */
    return uv_poll_start(&s->poll, UV_READABLE, rt_backend_on_readable);
}

static int rt_backend_alloc(struct rt_backend *b, uint32_t max_outstanding)
{
    if (max_outstanding == 0 || max_outstanding > RT_BACKEND_MAX_OUTSTANDING) {
        max_outstanding = RT_BACKEND_MAX_OUTSTANDING;
    }
    b->slots = calloc(max_outstanding, sizeof(b->slots[0]));
    b->free_list = calloc(max_outstanding, sizeof(b->free_list[0]));
    if (b->slots == NULL || b->free_list == NULL) {
        return -ENOMEM;
    }
    b->n_slots = max_outstanding;
    for (uint32_t i = 0; i < max_outstanding; i++) {
        b->free_list[i] = max_outstanding - 1 - i;
    }
    b->n_free = max_outstanding;
    b->head = b->tail = RT_BACKEND_NONE;
    return 0;
}

int rt_backend_new(uv_loop_t *loop, const struct rt_backend_config *cfg, uint32_t max_outstanding,
                   uint32_t timeout_ms, struct rt_backend_rx *rx, rt_backend_answer_cb on_answer,
                   rt_backend_timeout_cb on_timeout, void *user, struct rt_backend **out)
{
    struct rt_backend *b = calloc(1, sizeof(*b));
    int rc;

    if (b == NULL) {
        return -ENOMEM;
    }
    b->loop = loop;
    b->cfg = *cfg;
    b->rx = rx;
    b->on_answer = on_answer;
    b->on_timeout = on_timeout;
    b->user = user;
    b->timeout_ms = timeout_ms;
    rc = rt_backend_alloc(b, max_outstanding);
    if (rc != 0) {
        rt_backend_free(b);
        return rc;
    }
    uv_timer_init(loop, &b->timer);
    b->timer.data = b;
    uv_idle_init(loop, &b->flush);
    b->flush.data = b;
    for (uint32_t i = 0; i < cfg->sockets && i < RT_MAX_SOCKETS && rc == 0; i++) {
        b->sockets[i].index = (uint8_t)i;
        rc = rt_backend_open_socket(b, &b->sockets[i]);
    }
    if (rc != 0) {
        rt_backend_close(b);
        return rc;
    }
    *out = b;
    return 0;
}

/* A random wire ID not in use; draws first, then walks from the last draw. */
static uint16_t rt_backend_free_id(const struct rt_backend *b)
{
    uint16_t id = random_u16();

    for (int i = 0; i < RT_BACKEND_ID_TRIES && b->id_map[id] != 0; i++) {
        id = random_u16();
    }
    while (b->id_map[id] != 0) {
        id++;
    }
    return id;
}

/* A query the socket refused: counted now, and failed like a timeout at the loop's next timer
 * phase (not from inside a send, so that the router may try elsewhere without re-entering
 * itself). The slot moves to the head of the timeout list with a send time of 0. */
static void rt_backend_fail_soon(struct rt_backend *b, uint32_t idx)
{
    struct rt_backend_slot *s = &b->slots[idx];

    b->stats.send_errors++;
    s->failed = true;
    s->sent_ms = 0;
    rt_backend_list_remove(b, idx);
    s->prev = RT_BACKEND_NONE;
    s->next = b->head;
    if (b->head != RT_BACKEND_NONE) {
        b->slots[b->head].prev = idx;
    } else {
        b->tail = idx;
    }
    b->head = idx;
    rt_backend_arm_timer(b);
}

/* Sends the socket's queue with sendmmsg. A slot released or reused since it was queued (it
 * is no longer marked, or now belongs to another socket) is skipped. */
static void rt_backend_flush_socket(struct rt_backend *b, struct rt_backend_socket *sock)
{
    struct mmsghdr msgs[RT_BACKEND_TX_BATCH];
    struct iovec iov[RT_BACKEND_TX_BATCH];
    uint32_t idx[RT_BACKEND_TX_BATCH];
    uint32_t n = 0, sent = 0;

    for (uint32_t i = 0; i < sock->n_queued; i++) {
        struct rt_backend_slot *s = &b->slots[sock->queued[i]];
        if (!s->queued || s->socket != sock->index) {
            continue;
        }
        s->queued = false;
        iov[n] = (struct iovec){s->p.query, s->p.query_len};
        msgs[n] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[n], .msg_iovlen = 1}};
        idx[n++] = sock->queued[i];
    }
    sock->n_queued = 0;
    if (n > 0) {
        b->stats.send_batches++;
    }

    while (sent < n) {
        int rc = sendmmsg(sock->fd, msgs + sent, n - sent, MSG_DONTWAIT);
        if (rc > 0) {
            sent += (uint32_t)rc;
        } else if (rc < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
            /* No room in the socket's send buffer: the rest would fail the same way. */
            while (sent < n) {
                rt_backend_fail_soon(b, idx[sent++]);
            }
        } else if (rc < 0 && errno != EINTR) {
            /* sendmmsg reports an error (an ICMP port unreachable, say) for the first
             * datagram only: that one is lost, the rest are tried again. */
            rt_backend_fail_soon(b, idx[sent++]);
        }
    }
}

/* The loop's idle phase: queries queued during the last turn leave now, one sendmmsg per
 * socket, before the loop polls again. */
static void rt_backend_on_flush(uv_idle_t *idle)
{
    struct rt_backend *b = idle->data;

    uv_idle_stop(idle);
    for (uint32_t i = 0; i < b->n_sockets; i++) {
        if (b->sockets[i].n_queued > 0) {
            rt_backend_flush_socket(b, &b->sockets[i]);
        }
    }
}

/* Sends a query too long to keep in its slot at once, from the caller's buffer. Returns 0 or
 * the socket's error. */
static int rt_backend_send_now(struct rt_backend *b, uint8_t socket_index, uint16_t id,
                               const uint8_t *msg, size_t len)
{
    uint8_t id_bytes[2] = {(uint8_t)(id >> 8), (uint8_t)id};
    struct iovec iov[2] = {{id_bytes, 2}, {(void *)(uintptr_t)(msg + 2), len - 2}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};

    if (sendmsg(b->sockets[socket_index].fd, &mh, MSG_DONTWAIT) < 0) {
        b->stats.send_errors++;
        return -errno;
    }
    return 0;
}

/* Puts slot idx on its socket's send queue; a full queue is sent first. */
static void rt_backend_enqueue(struct rt_backend *b, uint32_t idx)
{
    struct rt_backend_slot *s = &b->slots[idx];
    struct rt_backend_socket *sock = &b->sockets[s->socket];

    if (sock->n_queued == RT_BACKEND_TX_BATCH) {
        rt_backend_flush_socket(b, sock);
    }
    s->queued = true;
    sock->queued[sock->n_queued++] = idx;
    if (!uv_is_active((uv_handle_t *)&b->flush)) {
        uv_idle_start(&b->flush, rt_backend_on_flush);
    }
}

int rt_backend_send(struct rt_backend *b, const struct rt_pending *p, const uint8_t *msg,
                    size_t len)
{
    struct rt_backend_slot *s;
    uint32_t idx;

    if (b->retiring || b->closing || len < DNS_HEADER_LEN) {
        return -ESHUTDOWN;
    }
    if (b->n_free == 0) {
        b->stats.full++;
        return -EBUSY;
    }
    uint16_t id = rt_backend_free_id(b);
    uint8_t socket_index = (uint8_t)(b->n_sockets > 1 ? random_uniform(b->n_sockets) : 0);
    bool keep = len <= RT_BACKEND_QUERY_MAX;
    if (!keep) {
        int rc = rt_backend_send_now(b, socket_index, id, msg, len);
        if (rc != 0) {
            return rc;
        }
    }

    idx = b->free_list[--b->n_free];
    s = &b->slots[idx];
    s->p.client = p->client;
    s->p.q = p->q;
    s->p.generation = p->generation;
    s->p.pool = p->pool;
    s->p.attempt = p->attempt;
    s->p.cacheable = p->cacheable;
    s->p.query_len = keep ? (uint16_t)len : 0;
    if (keep) {
        /* The client's ID is in p.q; the copy carries the wire ID from here on. */
        memcpy(s->p.query, msg, len);
        s->p.query[0] = (uint8_t)(id >> 8);
        s->p.query[1] = (uint8_t)id;
    }
    s->sent_ms = uv_now(b->loop);
    s->wire_id = id;
    s->socket = socket_index;
    s->used = true;
    s->queued = false;
    s->failed = false;
    b->id_map[id] = (uint16_t)(idx + 1);

    s->next = RT_BACKEND_NONE;
    s->prev = b->tail;
    if (b->tail != RT_BACKEND_NONE) {
        b->slots[b->tail].next = idx;
    } else {
        b->head = idx;
        rt_backend_arm_timer(b);
    }
    b->tail = idx;
    b->stats.queries++;
    b->stats.outstanding++;
    if (keep) {
        rt_backend_enqueue(b, idx);
    }
    return 0;
}

static void rt_backend_on_tcp_answer(void *user, const struct rt_pending *p, uint8_t *answer,
                                     size_t len)
{
    struct rt_backend *b = user;

    b->stats.responses++;
    b->on_answer(b->user, b, p, answer, len);
    rt_backend_maybe_finish_retiring(b);
}

static void rt_backend_on_tcp_fail(void *user, const struct rt_pending *p, const uint8_t *query,
                                   size_t len, int err)
{
    struct rt_backend *b = user;

    (void)err;
    b->stats.timeouts++;
    b->on_timeout(b->user, b, p, query, len);
    rt_backend_maybe_finish_retiring(b);
}

int rt_backend_send_tcp(struct rt_backend *b, const struct rt_pending *p, const uint8_t *msg,
                        size_t len)
{
    int rc;

    if (b->retiring || b->closing) {
        return -ESHUTDOWN;
    }
    if (b->tcp == NULL) {
        rc = rt_tcp_new(b->loop, &b->cfg.addr, b->timeout_ms, rt_backend_on_tcp_answer,
                        rt_backend_on_tcp_fail, b, &b->tcp);
        if (rc != 0) {
            return rc;
        }
    }
    rc = rt_tcp_send(b->tcp, p, msg, len);
    if (rc == -EBUSY) {
        b->stats.full++;
    } else if (rc == 0) {
        b->stats.queries++;
    }
    return rc;
}

const struct rt_backend_config *rt_backend_config(const struct rt_backend *b)
{
    return &b->cfg;
}

void rt_backend_update(struct rt_backend *b, const struct rt_backend_config *cfg,
                       uint32_t timeout_ms)
{
    struct addr addr = b->cfg.addr;
    uint32_t sockets = b->cfg.sockets;

    b->cfg = *cfg;
    b->cfg.addr = addr;
    b->cfg.sockets = sockets;
    b->timeout_ms = timeout_ms;
    if (b->tcp != NULL) {
        rt_tcp_set_timeout(b->tcp, timeout_ms);
    }
}

void rt_backend_stats(const struct rt_backend *b, struct rt_backend_stats *out)
{
    struct rt_tcp_stats ts = {0};

    *out = b->stats;
    if (b->tcp != NULL) {
        rt_tcp_stats(b->tcp, &ts);
        out->outstanding += rt_tcp_outstanding(b->tcp);
    }
    out->mismatched += ts.mismatched;
    out->tcp_connects = ts.connects;
    out->tcp_blocks = ts.blocks;
    out->tcp_resent = ts.resent;
}
