/* DNS over HTTP for pkdns (see pkdns_doh.h). A connection reads into its own buffer, which
 * holds the largest request (head and body) pk_http accepts; a complete request is answered
 * from the same buffer, and only once its response is written is it dropped from the buffer
 * and the next one, already there or still to come, parsed. A response that ends the
 * connection is followed by a half-close and a short read of what the client still sends, so
 * that the kernel does not reset the connection before the client has read the response. */
#include "pkdns_doh.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pkdns_doh_int.h"

static void pkdns_doh_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void pkdns_doh_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

/* ---- handles and connections ---- */

/* Counts one closed handle; the last one after pkdns_doh_close frees d. */
static void pkdns_doh_handle_closed(struct pkdns_doh *d)
{
    void (*cb)(void *) = d->close_cb;
    void *arg = d->close_arg;

    if (--d->handles_open > 0 || !d->closing) {
        return;
    }
    free(d);
    if (cb != NULL) {
        cb(arg);
    }
}

static void pkdns_doh_on_listener_closed(uv_handle_t *h)
{
    pkdns_doh_handle_closed(h->data);
}

static void pkdns_doh_on_conn_closed(uv_handle_t *h)
{
    struct pkdns_doh_conn *c = h->data;
    struct pkdns_doh *d = c->owner;

    if (--c->handles_open == 0) {
        free(c->buf);
        c->buf = NULL;
        c->in_use = false;
        d->free_slots[d->free_count++] = c->slot;
    }
    pkdns_doh_handle_closed(d);
}

/* Closes the connection; an answer still to come for it finds it gone by its generation. */
void pkdns_doh_close_conn(struct pkdns_doh_conn *c)
{
    if (c->closing) {
        return;
    }
    c->closing = true;
    uv_close((uv_handle_t *)&c->handle, pkdns_doh_on_conn_closed);
    uv_close((uv_handle_t *)&c->timer, pkdns_doh_on_conn_closed);
}

static void pkdns_doh_on_timer(uv_timer_t *t)
{
    pkdns_doh_close_conn(t->data);
}

static void pkdns_doh_start_reading(struct pkdns_doh_conn *c)
{
    if (!c->reading && !c->closing &&
        uv_read_start((uv_stream_t *)&c->handle, pkdns_doh_on_alloc, pkdns_doh_on_read) == 0) {
        c->reading = true;
    }
}

static void pkdns_doh_stop_reading(struct pkdns_doh_conn *c)
{
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->handle);
        c->reading = false;
    }
}

static struct pkdns_doh_conn *pkdns_doh_lookup(struct pkdns_doh *d, uint64_t conn_id)
{
    uint32_t slot = (uint32_t)(conn_id & UINT32_MAX);
    struct pkdns_doh_conn *c;

    if (slot >= PKDNS_DOH_MAX_CONNS) {
        return NULL;
    }
    c = &d->conns[slot];
    if (!c->in_use || c->closing || !c->busy || c->generation != (uint32_t)(conn_id >> 32)) {
        return NULL;
    }
    return c;
}

/* ---- writing responses ---- */

static void pkdns_doh_on_shutdown(uv_shutdown_t *req, int status)
{
    (void)req;
    (void)status; /* the linger timer or the client's end of stream closes it */
}

/* After the last response: half-close and drop what still comes, for a little while. */
static void pkdns_doh_linger(struct pkdns_doh_conn *c)
{
    c->lingering = true;
    if (c->peer_done ||
        uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->handle, pkdns_doh_on_shutdown) < 0) {
        pkdns_doh_close_conn(c);
        return;
    }
    pkdns_doh_start_reading(c);
    uv_timer_start(&c->timer, pkdns_doh_on_timer, PKDNS_DOH_LINGER_MS, 0);
}

static void pkdns_doh_on_written(uv_write_t *req, int status)
{
    struct pkdns_doh_conn *c = req->data;

    c->writing = false;
    if (c->closing) {
        return;
    }
    if (status < 0) {
        log_debug(PKDNS_DOH_TAG, "write failed: %s", uv_strerror(status));
        pkdns_doh_close_conn(c);
        return;
    }
    if (c->close_after) {
        pkdns_doh_linger(c);
        return;
    }
    c->in_len -= c->request_len;
    memmove(c->buf->in, c->buf->in + c->request_len, c->in_len);
    c->request_len = 0;
    pk_http_parser_init(&c->parser);
    uv_timer_start(&c->timer, pkdns_doh_on_timer, PKDNS_DOH_IDLE_MS, 0);
    if (!c->peer_done) {
        pkdns_doh_start_reading(c);
    }
    pkdns_doh_process(c);
}

/* Writes c->buf->out[0..len) and waits for it with the idle timer. */
void pkdns_doh_write(struct pkdns_doh_conn *c, size_t len)
{
    uv_buf_t buf = uv_buf_init((char *)c->buf->out, (unsigned)len);

    c->write_req.data = c;
    if (uv_write(&c->write_req, (uv_stream_t *)&c->handle, &buf, 1, pkdns_doh_on_written) < 0) {
        pkdns_doh_close_conn(c);
        return;
    }
    c->writing = true;
    uv_timer_start(&c->timer, pkdns_doh_on_timer, PKDNS_DOH_IDLE_MS, 0);
}

/* ---- reading ---- */

static void pkdns_doh_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct pkdns_doh_conn *c = h->data;

    (void)suggested;
    if (c->lingering) {
        *buf = uv_buf_init((char *)c->buf->in, sizeof(c->buf->in));
        return;
    }
    *buf = uv_buf_init((char *)c->buf->in + c->in_len, (unsigned)(sizeof(c->buf->in) - c->in_len));
}

static void pkdns_doh_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct pkdns_doh_conn *c = stream->data;

    (void)buf;
    if (nread < 0) {
        if (nread != UV_EOF || c->lingering) {
            pkdns_doh_close_conn(c);
            return;
        }
        /* The client is done sending; what it sent is still answered. */
        c->peer_done = true;
        pkdns_doh_stop_reading(c);
        pkdns_doh_process(c);
        return;
    }
    if (nread == 0 || c->lingering) {
        return;
    }
    c->in_len += (size_t)nread;
    if (c->in_len == sizeof(c->buf->in)) {
        pkdns_doh_stop_reading(c); /* full: read again once the request in it is answered */
    }
    pkdns_doh_process(c);
}

/* ---- accepting ---- */

static void pkdns_doh_on_rejected_closed(uv_handle_t *h)
{
    struct pkdns_doh *d = h->data;

    free(h);
    pkdns_doh_handle_closed(d);
}

/* The table is full (or memory short): accept and close at once, so the client knows now. */
static void pkdns_doh_reject(struct pkdns_doh *d, uv_stream_t *server)
{
    uv_tcp_t *tcp = malloc(sizeof(*tcp));

    if (tcp == NULL || uv_tcp_init(d->loop, tcp) < 0) {
        free(tcp);
        log_err(PKDNS_DOH_TAG, "out of memory rejecting a connection");
        return;
    }
    tcp->data = d;
    d->handles_open++;
    if (uv_accept(server, (uv_stream_t *)tcp) == 0) {
        d->stats.rejected++;
    }
    uv_close((uv_handle_t *)tcp, pkdns_doh_on_rejected_closed);
    if (!d->full_logged) {
        log_warn(PKDNS_DOH_TAG, "connection limit (%u) reached; closing new connections",
                 PKDNS_DOH_MAX_CONNS);
        d->full_logged = true;
    }
}

/* Takes the new connection into the free slot c; returns 0 or an error after closing it. */
static int pkdns_doh_open(struct pkdns_doh_conn *c, uv_stream_t *server)
{
    struct pkdns_doh *d = c->owner;
    struct sockaddr_storage peer;
    int peer_len = sizeof(peer);
    int rc;

    (void)uv_tcp_init(d->loop, &c->handle); /* cannot fail: no socket is opened yet */
    (void)uv_timer_init(d->loop, &c->timer);
    c->handle.data = c->timer.data = c;
    c->handles_open = 2;
    d->handles_open += 2;
    c->in_use = true;
    c->closing = c->reading = c->busy = c->writing = false;
    c->close_after = c->peer_done = c->lingering = false;
    c->in_len = c->request_len = 0;
    c->generation++;
    pk_http_parser_init(&c->parser);

    rc = uv_accept(server, (uv_stream_t *)&c->handle);
    if (rc == 0) {
        rc = uv_tcp_getpeername(&c->handle, (struct sockaddr *)&peer, &peer_len);
    }
    if (rc == 0) {
        rc = addr_from_sockaddr((struct sockaddr *)&peer, (socklen_t)peer_len, &c->peer);
    }
    if (rc < 0) {
        pkdns_doh_close_conn(c);
        return rc;
    }
    uv_tcp_nodelay(&c->handle, 1);
    pkdns_doh_start_reading(c);
    uv_timer_start(&c->timer, pkdns_doh_on_timer, PKDNS_DOH_IDLE_MS, 0);
    return 0;
}

static void pkdns_doh_on_connection(uv_stream_t *server, int status)
{
    struct pkdns_doh *d = server->data;
    struct pkdns_doh_conn *c;
    int rc = status;

    if (rc == 0 && d->free_count == 0) {
        pkdns_doh_reject(d, server);
        return;
    }
    if (rc == 0) {
        c = &d->conns[d->free_slots[d->free_count - 1]];
        c->buf = malloc(sizeof(*c->buf));
        if (c->buf == NULL) {
            pkdns_doh_reject(d, server);
            return;
        }
        d->free_count--;
        d->full_logged = false;
        rc = pkdns_doh_open(c, server);
    }
    if (rc == 0) {
        d->stats.connections++;
        d->accept_failing = false;
    } else if (!d->accept_failing) {
        log_warn(PKDNS_DOH_TAG, "accepting a connection failed: %s", uv_strerror(rc));
        d->accept_failing = true;
    }
}

/* ---- the public side ---- */

int pkdns_doh_new(uv_loop_t *loop, dns_listener_query_cb cb, void *user, struct pkdns_doh **out)
{
    struct pkdns_doh *d = calloc(1, sizeof(*d));

    if (d == NULL) {
        return -ENOMEM;
    }
    d->loop = loop;
    d->cb = cb;
    d->user = user;
    for (uint32_t i = 0; i < PKDNS_DOH_MAX_CONNS; i++) {
        d->conns[i].owner = d;
        d->conns[i].slot = i;
        d->free_slots[i] = PKDNS_DOH_MAX_CONNS - 1 - i; /* slot 0 is taken first */
    }
    d->free_count = PKDNS_DOH_MAX_CONNS;
    (void)uv_tcp_init(loop, &d->listener);
    d->listener.data = d;
    d->handles_open = 1;
    *out = d;
    return 0;
}

int pkdns_doh_bind(struct pkdns_doh *d, const struct addr *addr)
{
    char text[ADDR_TEXT_MAX];
    struct sockaddr_storage local;
    int local_len = sizeof(local);
    struct addr bound = *addr;
    unsigned flags = addr->sa.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0;
    int rc = uv_tcp_bind(&d->listener, (const struct sockaddr *)&addr->sa, flags);

    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&d->listener, PKDNS_DOH_BACKLOG, pkdns_doh_on_connection);
    }
    if (rc < 0) {
        log_err(PKDNS_DOH_TAG, "cannot listen for DNS over HTTP on %s: %s",
                addr_format(addr, text, sizeof(text)), uv_strerror(rc));
        return rc;
    }
    if (uv_tcp_getsockname(&d->listener, (struct sockaddr *)&local, &local_len) == 0) {
        addr_from_sockaddr((struct sockaddr *)&local, (socklen_t)local_len, &bound);
    }
    log_info(PKDNS_DOH_TAG, "DNS over HTTP on %s", addr_format(&bound, text, sizeof(text)));
    return 0;
}

int pkdns_doh_send(struct pkdns_doh *d, const struct dns_client *client, const uint8_t *msg,
                   size_t len)
{
    struct pkdns_doh_conn *c = pkdns_doh_lookup(d, client->conn_id);
    char headers[128];

    if (c == NULL) {
        return -ENOTCONN;
    }
    c->busy = false;
    if (len > DNS_TCP_MAX) {
        pkdns_doh_respond_error(c, 500, "Content-Type: text/plain; charset=utf-8\r\n");
        return -EMSGSIZE;
    }
    snprintf(headers, sizeof(headers),
             "Content-Type: " PKDNS_DOH_DNS_TYPE "\r\n"
             "Cache-Control: max-age=%u\r\n",
             (unsigned)pk_http_dns_max_age(msg, len));
    pkdns_doh_respond(c, 200, headers, msg, len);
    return 0;
}

void pkdns_doh_done(struct pkdns_doh *d, const struct dns_client *client)
{
    struct pkdns_doh_conn *c = pkdns_doh_lookup(d, client->conn_id);

    if (c != NULL) {
        c->busy = false;
        pkdns_doh_respond_text(c, 500, "no DNS answer\n");
    }
}

void pkdns_doh_stats(const struct pkdns_doh *d, struct pkdns_doh_stats *out)
{
    *out = d->stats;
}

void pkdns_doh_close(struct pkdns_doh *d, void (*cb)(void *arg), void *arg)
{
    d->closing = true;
    d->close_cb = cb;
    d->close_arg = arg;
    for (uint32_t i = 0; i < PKDNS_DOH_MAX_CONNS; i++) {
        if (d->conns[i].in_use) {
            pkdns_doh_close_conn(&d->conns[i]);
        }
    }
    uv_close((uv_handle_t *)&d->listener, pkdns_doh_on_listener_closed);
}
