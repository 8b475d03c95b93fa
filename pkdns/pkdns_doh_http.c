/* The requests of the DNS over HTTP server (see pkdns_doh.h): routing, the DNS query handed
 * to pkdns's query path, and the responses. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dns_msg.h"
#include "log.h"
#include "pkdns_doh_int.h"

static void pkdns_doh_count(struct pkdns_doh *d, int status)
{
    if (status < 300) {
        d->stats.responses_2xx++;
    } else if (status < 500) {
        d->stats.responses_4xx++;
    } else {
        d->stats.responses_5xx++;
    }
}

/* The -v line of a response: client, request and status. */
static void pkdns_doh_log(const struct pkdns_doh_conn *c, int status)
{
    const struct pk_http_request *r = &c->parser.req;
    char peer[ADDR_TEXT_MAX];
    int target_len = r->target.set && c->parser.error == 0 ? (int)r->target.len : 0;

    log_debug(PKDNS_DOH_TAG, "%s: %.*s %.*s: %d", addr_format(&c->peer, peer, sizeof(peer)),
              target_len > 0 ? (int)r->method_text.len : 1,
              target_len > 0 ? (const char *)c->buf->in + r->method_text.off : "-", target_len,
              (const char *)c->buf->in + r->target.off, status);
}

/* Writes the status line, our headers, headers (each ending in CRLF) and the body. A 204 has
 * no Content-Length (RFC 9110 8.6) and the answer to a HEAD request no body. */
void pkdns_doh_respond(struct pkdns_doh_conn *c, int status, const char *headers, const void *body,
                       size_t body_len)
{
    const struct pk_http_request *r = &c->parser.req;
    bool head_only = c->parser.error == 0 && r->method == PK_HTTP_HEAD;
    char length[40] = "";
    const char *connection = "";
    int n;

    c->close_after = c->close_after || c->owner->closing || !r->keep_alive;
    if (c->close_after) {
        connection = "Connection: close\r\n";
    } else if (r->version_minor == 0) {
        connection = "Connection: keep-alive\r\n";
    }
    if (status != 204) {
        snprintf(length, sizeof(length), "Content-Length: %zu\r\n", body_len);
    }
    n = snprintf((char *)c->buf->out, PKDNS_DOH_HEAD_OUT_MAX,
                 "HTTP/1.1 %d %s\r\nAccess-Control-Allow-Origin: *\r\n%s%s%s\r\n", status,
                 pk_http_reason(status), length, connection, headers);
    if (n < 0 || n >= PKDNS_DOH_HEAD_OUT_MAX || body_len > DNS_TCP_MAX) {
        pkdns_doh_close_conn(c); /* cannot happen: our heads are short, bodies checked */
        return;
    }
    if (!head_only && body_len > 0) {
        memcpy(c->buf->out + n, body, body_len);
        n += (int)body_len;
    }
    pkdns_doh_count(c->owner, status);
    if (log_threshold >= LOG_LEVEL_DEBUG) {
        pkdns_doh_log(c, status);
    }
    pkdns_doh_write(c, (size_t)n);
}

/* An error with its reason as a short text body. */
void pkdns_doh_respond_error(struct pkdns_doh_conn *c, int status, const char *headers)
{
    char text[64];
    int n = snprintf(text, sizeof(text), "%s\n", pk_http_reason(status));

    pkdns_doh_respond(c, status, headers, text, n > 0 ? (size_t)n : 0);
}

void pkdns_doh_respond_text(struct pkdns_doh_conn *c, int status, const char *text)
{
    pkdns_doh_respond(c, status, "Content-Type: text/plain; charset=utf-8\r\n", text, strlen(text));
}

/* ---- requests ---- */

/* The client for the ACL and rate limits: the TCP peer, or, when the peer is a loopback
 * address (a proxy on this host), the first X-Forwarded-For address. Anyone else could
 * write that header, so it is not believed from them. */
static void pkdns_doh_client_addr(const struct pkdns_doh_conn *c, struct addr *out)
{
    const struct pk_http_span xff = c->parser.req.x_forwarded_for;
    const uint8_t *v = c->buf->in + xff.off;
    char text[ADDR_TEXT_MAX];
    size_t start = 0, end;
    const uint8_t *comma;

    *out = c->peer;
    if (!xff.set || !addr_is_loopback(&c->peer)) {
        return;
    }
    comma = memchr(v, ',', xff.len);
    end = comma != NULL ? (size_t)(comma - v) : xff.len;
    while (start < end && (v[start] == ' ' || v[start] == '\t')) {
        start++;
    }
    while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t')) {
        end--;
    }
    if (end - start == 0 || end - start >= sizeof(text)) {
        return;
    }
    memcpy(text, v + start, end - start);
    text[end - start] = '\0';
    if (addr_parse(text, 0, out) != 0) {
        *out = c->peer; /* not an address: the proxy itself is the client */
    }
}

/* Hands a DNS message to the query path; its answer comes through pkdns_doh_send. */
static void pkdns_doh_query(struct pkdns_doh_conn *c, const uint8_t *msg, size_t len)
{
    struct pkdns_doh *d = c->owner;
    struct dns_query q;

    /* As the Rust pkdns: what is not a DNS query is a bad request, not a FORMERR. */
    if (dns_msg_parse_query(msg, len, &q) != 0 || (q.hdr.flags & DNS_FLAG_QR) != 0) {
        pkdns_doh_respond_text(c, 400, "invalid DNS query\n");
        return;
    }
    memset(&c->client, 0, sizeof(c->client));
    pkdns_doh_client_addr(c, &c->client.peer);
    c->client.transport = DNS_TRANSPORT_HTTP;
    c->client.conn_id = (uint64_t)c->generation << 32 | c->slot;
    c->busy = true;
    uv_timer_stop(&c->timer); /* the query path bounds its own time */
    d->cb(d->user, &c->client, msg, len);
}

/* Our rule, more lenient than the Rust pkdns (which wants the exact type): no Accept at all,
 * a wildcard that covers application/dns-message, or that type among the values. */
static bool pkdns_doh_accepts(const uint8_t *buf, const struct pk_http_request *r)
{
    return r->n_accept == 0 || pk_http_list_has(buf, r->accept, r->n_accept, PKDNS_DOH_DNS_TYPE) ||
           pk_http_list_has(buf, r->accept, r->n_accept, "*/*") ||
           pk_http_list_has(buf, r->accept, r->n_accept, "application/*");
}

/* GET: the message is the dns parameter, base64url (RFC 8484 4.1). */
static void pkdns_doh_get(struct pkdns_doh_conn *c)
{
    const struct pk_http_request *r = &c->parser.req;
    const uint8_t *value;
    size_t value_len;
    int n = -ENOENT;

    if (r->query.set) {
        n = pk_http_query_param(c->buf->in + r->query.off, r->query.len, "dns", &value, &value_len);
    }
    if (n == -ENOENT) {
        pkdns_doh_respond_text(c, 400, "missing dns parameter\n");
        return;
    }
    if (n == 0) {
        n = pk_http_base64url_decode(value, value_len, c->owner->dns, sizeof(c->owner->dns));
    }
    if (n < 0) {
        pkdns_doh_respond_text(c, 400, "invalid base64url in dns parameter\n");
        return;
    }
    pkdns_doh_query(c, c->owner->dns, (size_t)n);
}

/* POST: the message is the body, of type application/dns-message (RFC 8484 4.1). */
static void pkdns_doh_post(struct pkdns_doh_conn *c)
{
    const struct pk_http_request *r = &c->parser.req;

    if (!pk_http_list_has(c->buf->in, &r->content_type, 1, PKDNS_DOH_DNS_TYPE)) {
        pkdns_doh_respond_error(c, 415, "Content-Type: text/plain; charset=utf-8\r\n");
        return;
    }
    pkdns_doh_query(c, c->buf->in + r->body.off, r->body.len);
}

static void pkdns_doh_route(struct pkdns_doh_conn *c)
{
    const struct pk_http_request *r = &c->parser.req;
    const char *text = "Content-Type: text/plain; charset=utf-8\r\n";

    if (!pk_http_span_equals(c->buf->in, r->path, PKDNS_DOH_PATH)) {
        pkdns_doh_respond_error(c, 404, text);
    } else if (r->method == PK_HTTP_OPTIONS) {
        pkdns_doh_respond(c, 204,
                          "Access-Control-Allow-Methods: GET, POST\r\n"
                          "Access-Control-Allow-Headers: *\r\n",
                          NULL, 0);
    } else if (r->method != PK_HTTP_GET && r->method != PK_HTTP_POST) {
        pkdns_doh_respond_error(c, 405,
                                "Allow: " PKDNS_DOH_ALLOW "\r\n"
                                "Content-Type: text/plain; charset=utf-8\r\n");
    } else if (!pkdns_doh_accepts(c->buf->in, r)) {
        pkdns_doh_respond_error(c, 406, text);
    } else if (r->method == PK_HTTP_GET) {
        pkdns_doh_get(c);
    } else {
        pkdns_doh_post(c);
    }
}

/* Parses the next request in the buffer, unless one is being answered. */
void pkdns_doh_process(struct pkdns_doh_conn *c)
{
    int n;

    if (c->closing || c->busy || c->writing || c->lingering) {
        return;
    }
    n = pk_http_parse(&c->parser, c->buf->in, c->in_len);
    if (n == 0) {
        if (c->peer_done) {
            pkdns_doh_close_conn(c); /* nothing more will come */
        }
        return;
    }
    c->owner->stats.requests++;
    if (n < 0) {
        c->close_after = true; /* the framing is lost: nothing after it can be trusted */
        pkdns_doh_respond_error(c, -n, "Content-Type: text/plain; charset=utf-8\r\n");
        return;
    }
    c->request_len = (size_t)n;
    pkdns_doh_route(c);
}
