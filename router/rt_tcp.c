#include "rt_tcp.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "random.h"

#define RT_TCP_READ_CHUNK 4096 /* room offered to each read */
/* A whole frame (RFC 1035 4.2.2: 2-byte length, up to 65535 bytes) and the start of the
 * next one: the most the read buffer ever holds. */
#define RT_TCP_RBUF_MAX (2 + DNS_TCP_MAX + RT_TCP_READ_CHUNK)
#define RT_TCP_SMALL_QUERY                                                                         \
    512                  /* ours: queries up to this size reuse the blocks of finished ones        \
                          */
#define RT_TCP_SPARES 64 /* ours: blocks kept for reuse */

struct rt_tcp_conn;

/* One query, from rt_tcp_send until its answer or failure, and until the last write that
 * reads its frame has ended. */
struct rt_tcp_query {
    struct rt_tcp *owner;
    struct rt_tcp_query *prev, *next; /* the owner's list, in send order (timeouts) */
    struct rt_tcp_conn *conn;         /* the connection it is on; NULL once finished */
    uint64_t sent_ms;
    uint16_t wire_id;
    uint8_t resends;
    bool finished;
    uint8_t writes; /* uv_write requests in flight that read frame */
    struct rt_pending p;
    size_t len;
    uint8_t frame[]; /* 2-byte length, then the query with the wire ID */
};

/* A write libuv could not finish at once. */
struct rt_tcp_write {
    uv_write_t req;
    struct rt_tcp_conn *conn;
    struct rt_tcp_query *q;
};

struct rt_tcp_conn {
    struct rt_tcp *owner;
    uv_tcp_t handle;
    uv_timer_t timer; /* idle timeout, or a loss to handle at the next timer phase */
    uv_connect_t connect;
    int handles_open;
    bool connected;
    bool closing;
    int lost_err; /* set when the connection is to be given up (a write failed) */
    uint32_t n_queries;
    struct rt_tcp_query *queries[RT_TCP_PIPELINE];
    uint8_t *rbuf;
    size_t rlen, rcap;
};

struct rt_tcp {
    uv_loop_t *loop;
    struct addr addr;
    uint32_t timeout_ms;
    rt_tcp_answer_cb on_answer;
    rt_tcp_fail_cb on_fail;
    void *user;
    bool closing;
    int alive; /* the timer, and every connection whose handles are not closed yet */
    uv_timer_t timer;
    struct rt_tcp_query *head, *tail;
    uint32_t outstanding;
    struct rt_tcp_conn *conns[RT_TCP_MAX_CONNS]; /* those taking queries */
    struct rt_tcp_stats stats;
    struct rt_tcp_query *spares; /* finished small queries, kept for the next ones */
    uint32_t n_spares;
};

static void rt_tcp_maybe_free(struct rt_tcp *t)
{
    if (t->closing && t->alive == 0) {
        while (t->spares != NULL) {
            struct rt_tcp_query *q = t->spares;
            t->spares = q->next;
            free(q);
        }
        free(t);
    }
}

/* A query of len bytes: a kept block when it is small and one is there, so that a steady
 * stream of TCP queries allocates nothing. Its header is zeroed. */
static struct rt_tcp_query *rt_tcp_query_alloc(struct rt_tcp *t, size_t len)
{
    struct rt_tcp_query *q = t->spares;

    if (len <= RT_TCP_SMALL_QUERY && q != NULL) {
        t->spares = q->next;
        t->n_spares--;
        memset(q, 0, sizeof(*q));
        return q;
    }
    q = calloc(1, sizeof(*q) + 2 + (len <= RT_TCP_SMALL_QUERY ? RT_TCP_SMALL_QUERY : len));
    t->stats.blocks += q != NULL ? 1 : 0;
    return q;
}

/* Keeps a small query's block for the next one, up to RT_TCP_SPARES; frees the rest. */
static void rt_tcp_query_free(struct rt_tcp_query *q)
{
    struct rt_tcp *t = q->owner;

    if (q->len <= RT_TCP_SMALL_QUERY && !t->closing && t->n_spares < RT_TCP_SPARES) {
        q->next = t->spares;
        t->spares = q;
        t->n_spares++;
        return;
    }
    free(q);
}

static void rt_tcp_release(struct rt_tcp_query *q)
{
    q->finished = true;
    if (q->writes == 0) {
        rt_tcp_query_free(q);
    }
}

static void rt_tcp_list_remove(struct rt_tcp *t, struct rt_tcp_query *q)
{
    if (q->prev != NULL) {
        q->prev->next = q->next;
    } else {
        t->head = q->next;
    }
    if (q->next != NULL) {
        q->next->prev = q->prev;
    } else {
        t->tail = q->prev;
    }
    q->prev = q->next = NULL;
}

/* ---- connections ---- */

static void rt_tcp_on_conn_timer(uv_timer_t *timer);

static void rt_tcp_on_conn_closed(uv_handle_t *h)
{
    struct rt_tcp_conn *c = h->data;
    struct rt_tcp *t = c->owner;

    if (--c->handles_open > 0) {
        return;
    }
    free(c->rbuf);
    free(c);
    t->alive--;
    rt_tcp_maybe_free(t);
}

/* Takes c out of service and closes its handles; its queries are the caller's to handle. */
static void rt_tcp_conn_close(struct rt_tcp_conn *c)
{
    struct rt_tcp *t = c->owner;

    if (c->closing) {
        return;
    }
    c->closing = true;
    for (size_t i = 0; i < RT_TCP_MAX_CONNS; i++) {
        if (t->conns[i] == c) {
            t->conns[i] = NULL;
        }
    }
    uv_close((uv_handle_t *)&c->handle, rt_tcp_on_conn_closed);
    uv_close((uv_handle_t *)&c->timer, rt_tcp_on_conn_closed);
}

/* Takes q off its connection; a connection left with nothing to do starts its idle time. */
static void rt_tcp_detach(struct rt_tcp_query *q)
{
    struct rt_tcp_conn *c = q->conn;

    if (c == NULL) {
        return;
    }
    for (uint32_t i = 0; i < c->n_queries; i++) {
        if (c->queries[i] == q) {
            c->queries[i] = c->queries[--c->n_queries];
            break;
        }
    }
    q->conn = NULL;
    if (c->n_queries == 0 && c->connected && !c->closing && c->lost_err == 0) {
        uv_timer_start(&c->timer, rt_tcp_on_conn_timer, RT_TCP_IDLE_MS, 0);
    }
}

/* Ends q: off its connection and the list. The caller runs a callback, then releases it. */
static void rt_tcp_finish(struct rt_tcp_query *q)
{
    struct rt_tcp *t = q->owner;

    rt_tcp_detach(q);
    rt_tcp_list_remove(t, q);
    t->outstanding--;
}

static void rt_tcp_fail(struct rt_tcp_query *q, int err)
{
    struct rt_tcp *t = q->owner;

    rt_tcp_finish(q);
    t->on_fail(t->user, &q->p, q->frame + 2, q->len, err);
    rt_tcp_release(q);
}

/* Gives the connection up at the loop's next timer phase, not from inside a send. */
static void rt_tcp_lost_soon(struct rt_tcp_conn *c, int err)
{
    if (c->closing || c->lost_err != 0) {
        return;
    }
    c->lost_err = err;
    uv_timer_start(&c->timer, rt_tcp_on_conn_timer, 0, 0);
}

static void rt_tcp_on_written(uv_write_t *req, int status)
{
    struct rt_tcp_write *w = req->data;
    struct rt_tcp_query *q = w->q;
    struct rt_tcp_conn *c = w->conn;

    free(w);
    if (--q->writes == 0 && q->finished) {
        rt_tcp_query_free(q);
    }
    if (status < 0 && status != UV_ECANCELED) {
        rt_tcp_lost_soon(c, status);
    }
}

/* Writes q's frame: at once when the socket takes it all, else queued in libuv. */
static void rt_tcp_write(struct rt_tcp_conn *c, struct rt_tcp_query *q)
{
    size_t total = 2 + q->len;
    uv_buf_t buf = uv_buf_init((char *)q->frame, (unsigned)total);
    int n = uv_try_write((uv_stream_t *)&c->handle, &buf, 1);
    struct rt_tcp_write *w;

    if (n == (int)total) {
        return;
    }
    if (n < 0 && n != UV_EAGAIN) {
        rt_tcp_lost_soon(c, n);
        return;
    }
    w = malloc(sizeof(*w));
    if (w == NULL) {
        rt_tcp_lost_soon(c, -ENOMEM);
        return;
    }
    w->req.data = w;
    w->conn = c;
    w->q = q;
    size_t done = n > 0 ? (size_t)n : 0;
    buf = uv_buf_init((char *)q->frame + done, (unsigned)(total - done));
    n = uv_write(&w->req, (uv_stream_t *)&c->handle, &buf, 1, rt_tcp_on_written);
    if (n != 0) {
        free(w);
        rt_tcp_lost_soon(c, n);
        return;
    }
    q->writes++;
}

/* An ID not used by another query on c. */
static uint16_t rt_tcp_free_id(const struct rt_tcp_conn *c)
{
    for (;;) {
        uint16_t id = random_u16();
        uint32_t i = 0;
        while (i < c->n_queries && c->queries[i]->wire_id != id) {
            i++;
        }
        if (i == c->n_queries) {
            return id;
        }
    }
}

static void rt_tcp_attach(struct rt_tcp_conn *c, struct rt_tcp_query *q)
{
    q->wire_id = rt_tcp_free_id(c);
    q->frame[2] = (uint8_t)(q->wire_id >> 8);
    q->frame[3] = (uint8_t)q->wire_id;
    q->conn = c;
    c->queries[c->n_queries++] = q;
    if (c->connected) {
        uv_timer_stop(&c->timer);
        rt_tcp_write(c, q);
    }
}

static void rt_tcp_conn_lost(struct rt_tcp_conn *c, int err);
static void rt_tcp_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void rt_tcp_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

static void rt_tcp_on_connected(uv_connect_t *req, int status)
{
    struct rt_tcp_conn *c = req->data;

    if (c->closing) {
        return;
    }
    if (status < 0) {
        rt_tcp_conn_lost(c, status);
        return;
    }
    c->connected = true;
    status = uv_read_start((uv_stream_t *)&c->handle, rt_tcp_on_alloc, rt_tcp_on_read);
    if (status != 0) {
        rt_tcp_conn_lost(c, status);
        return;
    }
    for (uint32_t i = 0; i < c->n_queries; i++) {
        rt_tcp_write(c, c->queries[i]);
    }
    if (c->n_queries == 0) {
        uv_timer_start(&c->timer, rt_tcp_on_conn_timer, RT_TCP_IDLE_MS, 0);
    }
}

/* Opens a connection into the free place `slot` of t->conns. Returns it, or NULL with *err. */
static struct rt_tcp_conn *rt_tcp_open(struct rt_tcp *t, size_t slot, int *err)
{
    struct rt_tcp_conn *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        *err = -ENOMEM;
        return NULL;
    }
    c->owner = t;
    uv_tcp_init(t->loop, &c->handle);
    uv_timer_init(t->loop, &c->timer);
    c->handle.data = c->timer.data = c->connect.data = c;
    c->handles_open = 2;
    t->alive++;
    t->conns[slot] = c;
    t->stats.connects++;
    /* Queries are whole frames, written at once: Nagle would only hold them back. */
    uv_tcp_nodelay(&c->handle, 1);
    *err = uv_tcp_connect(&c->connect, &c->handle, (const struct sockaddr *)&t->addr.sa,
                          rt_tcp_on_connected);
    if (*err != 0) {
        rt_tcp_conn_close(c);
        return NULL;
    }
    return c;
}

/* Puts q on a connection with room, or on a new one. Returns 0, -EBUSY, or an open error. */
static int rt_tcp_assign(struct rt_tcp *t, struct rt_tcp_query *q)
{
    size_t free_slot = RT_TCP_MAX_CONNS;
    struct rt_tcp_conn *c;
    int err;

    for (size_t i = 0; i < RT_TCP_MAX_CONNS; i++) {
        c = t->conns[i];
        if (c == NULL) {
            free_slot = free_slot < i ? free_slot : i;
        } else if (c->lost_err == 0 && c->n_queries < RT_TCP_PIPELINE) {
            rt_tcp_attach(c, q);
            return 0;
        }
    }
    if (free_slot == RT_TCP_MAX_CONNS) {
        return -EBUSY;
    }
    c = rt_tcp_open(t, free_slot, &err);
    if (c == NULL) {
        return err;
    }
    rt_tcp_attach(c, q);
    return 0;
}

/* The connection is gone: its queries are sent again elsewhere when it had been established
 * (a server may close a connection at any time, RFC 7766 6.2.3, and some close after a fixed
 * number of queries with others still in flight), and fail otherwise. */
static void rt_tcp_conn_lost(struct rt_tcp_conn *c, int err)
{
    struct rt_tcp *t = c->owner;
    struct rt_tcp_query *queries[RT_TCP_PIPELINE];
    uint32_t n = c->n_queries;
    bool established = c->connected;

    rt_tcp_conn_close(c);
    memcpy(queries, c->queries, n * sizeof(queries[0]));
    for (uint32_t i = 0; i < n; i++) {
        rt_tcp_detach(queries[i]);
    }
    for (uint32_t i = 0; i < n && !t->closing; i++) {
        struct rt_tcp_query *q = queries[i];
        if (established && q->resends < RT_TCP_MAX_RESENDS) {
            q->resends++;
            t->stats.resent++;
            if (rt_tcp_assign(t, q) == 0) {
                continue;
            }
        }
        /* A callback may close t, which then frees the queries not handled yet. */
        rt_tcp_fail(q, err);
    }
}

static void rt_tcp_on_conn_timer(uv_timer_t *timer)
{
    struct rt_tcp_conn *c = timer->data;

    if (c->lost_err != 0) {
        rt_tcp_conn_lost(c, c->lost_err);
    } else if (c->n_queries == 0) {
        rt_tcp_conn_close(c); /* idle */
    }
}

/* ---- reading answers ---- */

static void rt_tcp_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct rt_tcp_conn *c = h->data;
    size_t want = c->rlen + RT_TCP_READ_CHUNK;

    (void)suggested;
    if (want > RT_TCP_RBUF_MAX) {
        want = RT_TCP_RBUF_MAX;
    }
    if (c->rcap < want) {
        uint8_t *grown = realloc(c->rbuf, want);
        if (grown != NULL) {
            c->rbuf = grown;
            c->rcap = want;
        }
    }
    /* No room (out of memory) makes libuv report UV_ENOBUFS, and the connection is lost. */
    *buf = uv_buf_init((char *)c->rbuf + c->rlen, (unsigned)(c->rcap - c->rlen));
}

static void rt_tcp_on_answer(struct rt_tcp_conn *c, uint8_t *msg, size_t len)
{
    struct rt_tcp *t = c->owner;
    struct rt_tcp_query *q = NULL;
    uint16_t id;

    if (len < DNS_HEADER_LEN) {
        t->stats.mismatched++;
        return;
    }
    id = (uint16_t)(msg[0] << 8 | msg[1]);
    for (uint32_t i = 0; i < c->n_queries; i++) {
        if (c->queries[i]->wire_id == id) {
            q = c->queries[i];
            break;
        }
    }
    if (q == NULL || !rt_backend_answers(&q->p, msg, len)) {
        t->stats.mismatched++;
        return;
    }
    rt_tcp_finish(q);
    t->on_answer(t->user, &q->p, msg, len);
    rt_tcp_release(q);
}

static void rt_tcp_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct rt_tcp_conn *c = s->data;
    struct rt_tcp *t = c->owner;
    size_t at = 0;

    (void)buf;
    if (n < 0) {
        rt_tcp_conn_lost(c, n == UV_EOF ? -ECONNRESET : (int)n);
        return;
    }
    c->rlen += (size_t)n;
    while (c->rlen - at >= 2) {
        size_t len = (size_t)c->rbuf[at] << 8 | c->rbuf[at + 1];
        if (c->rlen - at < 2 + len) {
            break;
        }
        rt_tcp_on_answer(c, c->rbuf + at + 2, len);
        if (t->closing || c->closing) {
            return;
        }
        at += 2 + len;
    }
    memmove(c->rbuf, c->rbuf + at, c->rlen - at);
    c->rlen -= at;
}

/* ---- timeouts and the interface ---- */

static void rt_tcp_on_timer(uv_timer_t *timer);

static void rt_tcp_arm_timer(struct rt_tcp *t)
{
    uint64_t now = uv_now(t->loop), due;

    if (t->head == NULL) {
        uv_timer_stop(&t->timer);
        return;
    }
    due = t->head->sent_ms + t->timeout_ms;
    uv_timer_start(&t->timer, rt_tcp_on_timer, due > now ? due - now : 0, 0);
}

static void rt_tcp_on_timer(uv_timer_t *timer)
{
    struct rt_tcp *t = timer->data;
    uint64_t now = uv_now(t->loop);

    while (t->head != NULL && t->head->sent_ms + t->timeout_ms <= now) {
        rt_tcp_fail(t->head, -ETIMEDOUT);
        if (t->closing) {
            return;
        }
    }
    rt_tcp_arm_timer(t);
}

int rt_tcp_new(uv_loop_t *loop, const struct addr *addr, uint32_t timeout_ms,
               rt_tcp_answer_cb on_answer, rt_tcp_fail_cb on_fail, void *user, struct rt_tcp **out)
{
    struct rt_tcp *t = calloc(1, sizeof(*t));

    if (t == NULL) {
        return -ENOMEM;
    }
    t->loop = loop;
    t->addr = *addr;
    t->timeout_ms = timeout_ms;
    t->on_answer = on_answer;
    t->on_fail = on_fail;
    t->user = user;
    uv_timer_init(loop, &t->timer);
    t->timer.data = t;
    t->alive = 1;
    *out = t;
    return 0;
}

int rt_tcp_send(struct rt_tcp *t, const struct rt_pending *p, const uint8_t *msg, size_t len)
{
    struct rt_tcp_query *q;
    int rc;

    if (t->closing) {
        return -ESHUTDOWN;
    }
    if (len < DNS_HEADER_LEN || len > DNS_TCP_MAX) {
        return -EMSGSIZE;
    }
    q = rt_tcp_query_alloc(t, len);
    if (q == NULL) {
        return -ENOMEM;
    }
    q->owner = t;
    q->p = *p;
    q->p.query_len = 0;
    q->len = len;
    q->frame[0] = (uint8_t)(len >> 8);
    q->frame[1] = (uint8_t)len;
    memcpy(q->frame + 2, msg, len);
    q->sent_ms = uv_now(t->loop);

    rc = rt_tcp_assign(t, q);
    if (rc != 0) {
        rt_tcp_query_free(q);
        return rc;
    }
    q->prev = t->tail;
    if (t->tail != NULL) {
        t->tail->next = q;
    } else {
        t->head = q;
        rt_tcp_arm_timer(t);
    }
    t->tail = q;
    t->outstanding++;
    return 0;
}

void rt_tcp_set_timeout(struct rt_tcp *t, uint32_t timeout_ms)
{
    t->timeout_ms = timeout_ms;
}

uint32_t rt_tcp_outstanding(const struct rt_tcp *t)
{
    return t->outstanding;
}

void rt_tcp_stats(const struct rt_tcp *t, struct rt_tcp_stats *out)
{
    *out = t->stats;
}

static void rt_tcp_on_timer_closed(uv_handle_t *h)
{
    struct rt_tcp *t = h->data;

    t->alive--;
    rt_tcp_maybe_free(t);
}

void rt_tcp_close(struct rt_tcp *t)
{
    if (t == NULL || t->closing) {
        return;
    }
    t->closing = true;
    while (t->head != NULL) {
        struct rt_tcp_query *q = t->head;
        t->head = q->next;
        q->conn = NULL;
        rt_tcp_release(q);
    }
    t->tail = NULL;
    t->outstanding = 0;
    for (size_t i = 0; i < RT_TCP_MAX_CONNS; i++) {
        if (t->conns[i] != NULL) {
            t->conns[i]->n_queries = 0;
            rt_tcp_conn_close(t->conns[i]);
        }
    }
    uv_close((uv_handle_t *)&t->timer, rt_tcp_on_timer_closed);
}
