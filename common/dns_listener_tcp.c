/* The listener's TCP side: a fixed table of connections with RFC 1035 4.2.2 framing,
 * pipelining, a limit of queries in progress per connection, a cap on unread replies and an
 * idle timeout. A connection over a limit stops reading, and the frames it holds back are
 * handed out again from an idle callback once it is under its limits. */
#include "dns_listener_int.h"

#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* RFC 1035 4.2.2: over TCP each message is preceded by its length in 2 bytes. */
#define TCP_LENGTH_BYTES 2
/* A connection whose replies pile up unread beyond this is not read until they drain. */
#define TCP_WRITE_QUEUE_MAX_BYTES (64 * 1024)
#define TCP_NO_SLOT UINT32_MAX

/* A TCP reply: the write request, then the length prefix and the message. */
struct tcp_write {
    uv_write_t req;
    uint8_t bytes[];
};

static void dns_listener_tcp_close(struct tcp_conn *conn);
static void dns_listener_tcp_process_rbuf(struct tcp_conn *conn);
static void dns_listener_tcp_on_resume(uv_idle_t *idle);
static void dns_listener_tcp_on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf);
static void dns_listener_tcp_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

void dns_listener_tcp_prepare(struct dns_listener *l)
{
    uint32_t n = l->cfg.max_tcp_clients;

    for (uint32_t i = 0; i < n; i++) {
        l->conns[i].owner = l;
        l->conns[i].slot = i;
        l->conns[i].resume_next = TCP_NO_SLOT;
        l->free_slots[i] = n - 1 - i; /* slot 0 is taken first */
    }
    l->free_count = n;
    l->resume_head = TCP_NO_SLOT;
}

/* ---- connections ---- */

static struct tcp_conn *dns_listener_tcp_lookup(struct dns_listener *l, uint64_t conn_id)
{
    uint32_t slot = (uint32_t)(conn_id & UINT32_MAX);
    struct tcp_conn *conn;

    if (slot >= l->cfg.max_tcp_clients) {
        return NULL;
    }
    conn = &l->conns[slot];
    if (!conn->in_use || conn->closing || conn->generation != (uint32_t)(conn_id >> 32)) {
        return NULL;
    }
    return conn;
}

static void dns_listener_tcp_on_idle(uv_timer_t *timer)
{
    struct tcp_conn *conn = timer->data;

    conn->owner->stats.tcp_idle_closed++;
    dns_listener_tcp_close(conn);
}

/* Restarts the idle timeout; it runs only while no query is in progress. */
static void dns_listener_tcp_touch(struct tcp_conn *conn)
{
    if (!conn->closing && conn->pending == 0) {
        uv_timer_start(&conn->idle_timer, dns_listener_tcp_on_idle,
                       conn->owner->cfg.tcp_idle_timeout_ms, 0);
    }
}

static bool dns_listener_tcp_over_limit(const struct tcp_conn *conn)
{
    return conn->pending >= conn->owner->cfg.tcp_max_pending ||
           uv_stream_get_write_queue_size((const uv_stream_t *)&conn->handle) >
               TCP_WRITE_QUEUE_MAX_BYTES;
}

static void dns_listener_tcp_pause(struct tcp_conn *conn)
{
    if (!conn->paused) {
        uv_read_stop((uv_stream_t *)&conn->handle);
    }
    conn->paused = true;
}

/* A paused connection under its limits again goes on the resume list; the frames it holds
 * back are handed out from the idle callback, never from inside dns_listener_send. */
static void dns_listener_tcp_resume_later(struct tcp_conn *conn)
{
    struct dns_listener *l = conn->owner;

    if (!conn->paused || conn->closing || dns_listener_tcp_over_limit(conn) ||
        conn->resume_queued) {
        return;
    }
    conn->resume_queued = true;
    conn->resume_next = l->resume_head;
    l->resume_head = conn->slot;
    uv_idle_start(&l->resume_idle, dns_listener_tcp_on_resume);
}

static void dns_listener_tcp_resume(struct tcp_conn *conn)
{
    int rc;

    if (!conn->in_use || conn->closing || !conn->paused || dns_listener_tcp_over_limit(conn)) {
        return;
    }
    conn->paused = false;
    if (conn->rlen > 0) {
        dns_listener_tcp_process_rbuf(conn);
        if (conn->closing || conn->paused) {
            return;
        }
    }
    rc = uv_read_start((uv_stream_t *)&conn->handle, dns_listener_tcp_on_alloc,
                       dns_listener_tcp_on_read);
    if (rc < 0) {
        dns_listener_tcp_close(conn);
    }
}

static void dns_listener_tcp_on_resume(uv_idle_t *idle)
{
    struct dns_listener *l = idle->data;
    uint32_t slot = l->resume_head;

    l->resume_head = TCP_NO_SLOT;
    while (slot != TCP_NO_SLOT) {
        struct tcp_conn *conn = &l->conns[slot];
        slot = conn->resume_next;
        conn->resume_queued = false;
        dns_listener_tcp_resume(conn);
    }
    if (l->resume_head == TCP_NO_SLOT) {
        uv_idle_stop(idle);
    }
}

/* A query is answered or dropped: the connection may read again. */
static void dns_listener_tcp_settle(struct tcp_conn *conn)
{
    if (conn->pending > 0) {
        conn->pending--;
    }
    dns_listener_tcp_touch(conn);
    dns_listener_tcp_resume_later(conn);
}

static void dns_listener_tcp_deliver(struct tcp_conn *conn, const uint8_t *msg, size_t len)
{
    struct dns_listener *l = conn->owner;

    if (len < DNS_HEADER_BYTES) {
        l->stats.short_dropped++;
        return;
    }
    l->stats.tcp_received++;
    conn->pending++;
    if (conn->pending == 1) {
        uv_timer_stop(&conn->idle_timer);
    }
    l->cb(l->user, &conn->client, msg, len);
}

/* Hands out the complete frames at the start of data; stops at a partial frame, at the
 * connection's limits, or when it closes. Returns the bytes used. */
static size_t dns_listener_tcp_process(struct tcp_conn *conn, const uint8_t *data, size_t len)
{
    size_t off = 0;

    while (!conn->closing && len - off >= TCP_LENGTH_BYTES) {
        size_t frame = (size_t)data[off] << 8 | data[off + 1];
        if (frame == 0) {
            /* Our rule, not the RFC's: a zero-length frame asks us to hang up. */
            dns_listener_tcp_close(conn);
            break;
        }
        if (len - off - TCP_LENGTH_BYTES < frame) {
            break;
        }
        if (dns_listener_tcp_over_limit(conn)) {
            dns_listener_tcp_pause(conn);
            break;
        }
        dns_listener_tcp_deliver(conn, data + off + TCP_LENGTH_BYTES, frame);
        off += TCP_LENGTH_BYTES + frame;
    }
    return off;
}

static int dns_listener_tcp_reserve(struct tcp_conn *conn, size_t cap)
{
    uint8_t *grown;

    if (conn->rcap >= cap) {
        return 0;
    }
    grown = realloc(conn->rbuf, cap);
    if (grown == NULL) {
        return -ENOMEM;
    }
    conn->rbuf = grown;
    conn->rcap = cap;
    return 0;
}

/* Handles the frames in rbuf and keeps what is left. */
static void dns_listener_tcp_process_rbuf(struct tcp_conn *conn)
{
    size_t used = dns_listener_tcp_process(conn, conn->rbuf, conn->rlen);

    if (conn->closing) {
        return; /* rbuf is freed in the close callback */
    }
    conn->rlen -= used;
    if (conn->rlen == 0) {
        free(conn->rbuf);
        conn->rbuf = NULL;
        conn->rcap = 0;
    } else if (used > 0) {
        memmove(conn->rbuf, conn->rbuf + used, conn->rlen);
    }
}

/* Reads into the shared buffer, or, while a frame is partly received, into rbuf exactly up to
 * its end, so that rbuf never holds a complete frame while reading. */
static void dns_listener_tcp_on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    struct tcp_conn *conn = handle->data;
    size_t want;

    (void)suggested;
    if (conn->rlen == 0) {
        *buf = uv_buf_init((char *)conn->owner->tcp_read_buf, TCP_READ_BUF_BYTES);
        return;
    }
    want = TCP_LENGTH_BYTES;
    if (conn->rlen >= TCP_LENGTH_BYTES) {
        want += (size_t)conn->rbuf[0] << 8 | conn->rbuf[1];
    }
    if (dns_listener_tcp_reserve(conn, want) < 0) {
        *buf = uv_buf_init(NULL, 0); /* dns_listener_tcp_on_read gets UV_ENOBUFS */
        return;
    }
    *buf = uv_buf_init((char *)conn->rbuf + conn->rlen, (unsigned)(want - conn->rlen));
}

static void dns_listener_tcp_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct tcp_conn *conn = stream->data;
    const uint8_t *data = (const uint8_t *)buf->base;
    size_t used;

    if (nread < 0) {
        /* End of stream included: as other servers do, a client that stops sending is gone,
         * and answers still to come for it are dropped. */
        if (nread != UV_EOF) {
            log_debug(LISTEN_TAG, "TCP read failed: %s", uv_strerror((int)nread));
        }
        dns_listener_tcp_close(conn);
        return;
    }
    if (nread == 0) {
        return;
    }
    dns_listener_tcp_touch(conn);
    if (data != conn->owner->tcp_read_buf) {
        conn->rlen += (size_t)nread;
        dns_listener_tcp_process_rbuf(conn);
        return;
    }

    used = dns_listener_tcp_process(conn, data, (size_t)nread);
    if (conn->closing || used == (size_t)nread) {
        return;
    }
    if (dns_listener_tcp_reserve(conn, (size_t)nread - used) < 0) {
        dns_listener_tcp_close(conn);
        return;
    }
    memcpy(conn->rbuf, data + used, (size_t)nread - used);
    conn->rlen = (size_t)nread - used;
}

static void dns_listener_tcp_on_closed(uv_handle_t *handle)
{
    struct tcp_conn *conn = handle->data;
    struct dns_listener *l = conn->owner;

    conn->handles_open--;
    if (conn->handles_open == 0) {
        free(conn->rbuf);
        conn->rbuf = NULL;
        conn->rlen = 0;
        conn->rcap = 0;
        conn->in_use = false;
        l->free_slots[l->free_count++] = conn->slot;
    }
    dns_listener_handle_closed(l);
}

static void dns_listener_tcp_close(struct tcp_conn *conn)
{
    if (conn->closing) {
        return;
    }
    conn->closing = true;
    uv_close((uv_handle_t *)&conn->handle, dns_listener_tcp_on_closed);
    uv_close((uv_handle_t *)&conn->idle_timer, dns_listener_tcp_on_closed);
}

static void dns_listener_tcp_on_written(uv_write_t *req, int status)
{
    struct tcp_conn *conn = req->handle->data;

    free((struct tcp_write *)req);
    conn->writes_in_flight--;
    if (conn->closing) {
        return;
    }
    if (status < 0) {
        log_debug(LISTEN_TAG, "TCP write failed: %s", uv_strerror(status));
        dns_listener_tcp_close(conn);
        return;
    }
    conn->owner->stats.tcp_sent++;
    dns_listener_tcp_touch(conn);
    dns_listener_tcp_resume_later(conn);
}

int dns_listener_tcp_send(struct dns_listener *l, const struct dns_client *c, const uint8_t *msg,
                          size_t len)
{
    struct tcp_conn *conn = dns_listener_tcp_lookup(l, c->conn_id);
    struct tcp_write *w;
    uv_buf_t buf;
    int rc;

    if (conn == NULL) {
        return -ENOTCONN;
    }
    w = malloc(sizeof(*w) + TCP_LENGTH_BYTES + len);
    if (w == NULL) {
        return -ENOMEM;
    }
    w->bytes[0] = (uint8_t)(len >> 8);
    w->bytes[1] = (uint8_t)(len & 0xff);
    memcpy(w->bytes + TCP_LENGTH_BYTES, msg, len);
    buf = uv_buf_init((char *)w->bytes, (unsigned)(TCP_LENGTH_BYTES + len));

    rc = uv_write(&w->req, (uv_stream_t *)&conn->handle, &buf, 1, dns_listener_tcp_on_written);
    if (rc < 0) {
        free(w);
        dns_listener_tcp_close(conn);
        return rc;
    }
    conn->writes_in_flight++;
    dns_listener_tcp_settle(conn);
    return 0;
}

/* ---- accepting ---- */

static void dns_listener_tcp_on_rejected_closed(uv_handle_t *handle)
{
    struct dns_listener *l = handle->data;

    free(handle);
    dns_listener_handle_closed(l);
}

/* The table is full: accept the connection and close it at once, so that the client learns
 * now rather than after its timeout, and libuv goes on accepting. */
static void dns_listener_tcp_reject(struct dns_listener *l, uv_stream_t *server)
{
    uv_tcp_t *tcp = malloc(sizeof(*tcp));

    if (tcp == NULL || uv_tcp_init(l->loop, tcp) < 0) {
        free(tcp);
        log_err(LISTEN_TAG, "out of memory rejecting a TCP connection");
        return;
    }
    tcp->data = l;
    l->handles_open++;
    if (uv_accept(server, (uv_stream_t *)tcp) == 0) {
        l->stats.tcp_rejected++;
    }
    uv_close((uv_handle_t *)tcp, dns_listener_tcp_on_rejected_closed);
    if (!l->tcp_full_logged) {
        log_warn(LISTEN_TAG, "TCP connection limit (%u) reached; closing new connections",
                 l->cfg.max_tcp_clients);
        l->tcp_full_logged = true;
    }
}

/* Takes the new connection into a free slot; returns 0 or an error after closing it. */
static int dns_listener_tcp_open(struct tcp_conn *conn, struct listen_endpoint *ep,
                                 uv_stream_t *server)
{
    struct dns_listener *l = ep->owner;
    struct sockaddr_storage peer;
    int peer_len = sizeof(peer);
    int rc;

    /* Neither can fail: a TCP handle without a family opens no socket yet. */
    (void)uv_tcp_init(l->loop, &conn->handle);
    (void)uv_timer_init(l->loop, &conn->idle_timer);
    conn->handle.data = conn;
    conn->idle_timer.data = conn;
    conn->handles_open = 2;
    l->handles_open += 2;
    conn->in_use = true;
    conn->closing = conn->paused = false;
    conn->pending = conn->writes_in_flight = 0;
    conn->generation++;

    memset(&conn->client, 0, sizeof(conn->client));
    conn->client.transport = DNS_TRANSPORT_TCP;
    conn->client.socket_index = ep->index;
    conn->client.conn_id = (uint64_t)conn->generation << 32 | conn->slot;

    rc = uv_accept(server, (uv_stream_t *)&conn->handle);
    if (rc == 0) {
        rc = uv_tcp_getpeername(&conn->handle, (struct sockaddr *)&peer, &peer_len);
    }
    if (rc == 0) {
        rc = addr_from_sockaddr((struct sockaddr *)&peer, (socklen_t)peer_len, &conn->client.peer);
    }
    if (rc == 0) {
        rc = uv_read_start((uv_stream_t *)&conn->handle, dns_listener_tcp_on_alloc,
                           dns_listener_tcp_on_read);
    }
    if (rc < 0) {
        dns_listener_tcp_close(conn);
        return rc;
    }
    uv_tcp_nodelay(&conn->handle, 1);
    dns_listener_tcp_touch(conn);
    return 0;
}

static void dns_listener_tcp_on_connection(uv_stream_t *server, int status)
{
    struct listen_endpoint *ep = server->data;
    struct dns_listener *l = ep->owner;
    char text[ADDR_TEXT_MAX];
    int rc = status;

    if (rc == 0 && l->free_count == 0) {
        dns_listener_tcp_reject(l, server);
        return;
    }
    if (rc == 0) {
        l->tcp_full_logged = false;
        rc = dns_listener_tcp_open(&l->conns[l->free_slots[--l->free_count]], ep, server);
    }
    if (rc == 0) {
        l->stats.tcp_accepted++;
        ep->accept_failing = false;
    } else if (!ep->accept_failing) {
        log_warn(LISTEN_TAG, "accepting a TCP connection on %s failed: %s",
                 addr_format(&ep->local, text, sizeof(text)), uv_strerror(rc));
        ep->accept_failing = true;
    }
}

/* ---- for dns_listener.c ---- */

int dns_listener_tcp_listen(struct listen_endpoint *ep)
{
    return uv_listen((uv_stream_t *)&ep->tcp, TCP_BACKLOG, dns_listener_tcp_on_connection);
}

void dns_listener_tcp_done(struct dns_listener *l, const struct dns_client *c)
{
    struct tcp_conn *conn = dns_listener_tcp_lookup(l, c->conn_id);

    if (conn != NULL) {
        dns_listener_tcp_settle(conn);
    }
}

void dns_listener_tcp_close_all(struct dns_listener *l)
{
    for (uint32_t i = 0; i < l->cfg.max_tcp_clients; i++) {
        if (l->conns[i].in_use) {
            dns_listener_tcp_close(&l->conns[i]);
        }
    }
}
