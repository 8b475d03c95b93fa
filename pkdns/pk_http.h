/* What pkdns's DNS over HTTP server (RFC 8484) needs of HTTP/1.1 (RFC 9112), without I/O: a
 * strict request parser that takes the bytes received so far and says "need more", "a request
 * of N bytes" or an error status; base64url (RFC 4648 5); the query string's parameters; and
 * the max-age of a DNS answer. Nothing here assumes a NUL terminator on received bytes. */
#ifndef PK_HTTP_H
#define PK_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PK_HTTP_HEAD_MAX 8192  /* ours: request line and headers, with their CRLFs */
#define PK_HTTP_BODY_MAX 65535 /* RFC 1035 4.2.2: the largest DNS message */
#define PK_HTTP_METHOD_MAX 16  /* ours: longer method names are not ours to serve */
#define PK_HTTP_REPEAT_MAX 8   /* ours: Accept or Connection lines kept per request */

enum pk_http_method {
    PK_HTTP_OTHER = 0,
    PK_HTTP_GET,
    PK_HTTP_HEAD,
    PK_HTTP_POST,
    PK_HTTP_OPTIONS,
};

/* A part of the request: bytes [off, off + len) of the buffer given to pk_http_parse. */
struct pk_http_span {
    uint32_t off;
    uint32_t len;
    bool set; /* false: the request has no such part */
};

struct pk_http_request {
    enum pk_http_method method;
    struct pk_http_span method_text;
    struct pk_http_span target; /* as sent: origin-form, or "*" */
    struct pk_http_span path;   /* the target up to its first '?' */
    struct pk_http_span query;  /* after that '?' (set only when there is one) */
    uint8_t version_minor;      /* HTTP/1.0 or HTTP/1.1 */
    bool keep_alive;            /* 1.1 unless "Connection: close"; 1.0 only with keep-alive */
    struct pk_http_span accept[PK_HTTP_REPEAT_MAX];
    size_t n_accept;
    struct pk_http_span connection[PK_HTTP_REPEAT_MAX];
    size_t n_connection;
    struct pk_http_span content_type;
    struct pk_http_span host;
    struct pk_http_span x_forwarded_for; /* the first such line */
    bool has_content_length;
    uint32_t content_length;
    struct pk_http_span body; /* content_length bytes; unset without Content-Length */
};

/* The state kept between calls while a request arrives. */
struct pk_http_parser {
    size_t scanned;    /* bytes already searched for the end of the head */
    size_t line_start; /* where the line being searched began */
    size_t head_start; /* after empty lines sent before the request line */
    size_t head_end;   /* just past the empty line; 0 until the head is complete and valid */
    int error;         /* the -status returned, again on every later call */
    struct pk_http_request req;
};

/* Readies p for a new request; call it again after each complete request or error. */
void pk_http_parser_init(struct pk_http_parser *p);

/* Parses the request at the start of buf[0..len), which holds every byte received since
 * pk_http_parser_init (it may move between calls, but its first bytes must not change).
 * Returns the request's length (p->req then describes it), 0 when more bytes are needed, or
 * minus an HTTP status: 400, 411, 413, 431, 501 (any Transfer-Encoding) or 505. */
int pk_http_parse(struct pk_http_parser *p, const uint8_t *buf, size_t len);

/* Whether the span holds exactly text (compared byte for byte). */
bool pk_http_span_equals(const uint8_t *buf, struct pk_http_span s, const char *text);

/* Whether one element of the comma-separated lists in values[0..n) is token, compared without
 * case and ignoring parameters (";q=0.5") and blanks around it. */
bool pk_http_list_has(const uint8_t *buf, const struct pk_http_span *values, size_t n,
                      const char *token);

/* Decodes base64url (RFC 4648 5), with or without '=' padding, into out[0..cap). Returns the
 * length, -EINVAL for any other character, misplaced padding or a length no encoder writes,
 * or -ENOSPC when out is too small. */
int pk_http_base64url_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap);

/* Finds parameter name (as "name=value") in the query string query[0..len). Returns 0 with
 * *value pointing into query, -ENOENT when absent, or -EINVAL when the value is
 * percent-encoded (we do not decode). */
int pk_http_query_param(const uint8_t *query, size_t len, const char *name, const uint8_t **value,
                        size_t *value_len);

/* The Cache-Control max-age of a DNS answer: its smallest TTL over the answer and authority
 * sections; 0 when there are no such records or the message does not read. */
uint32_t pk_http_dns_max_age(const uint8_t *msg, size_t len);

/* The reason phrase of an HTTP status we send ("Not Found"); "Error" for others. */
const char *pk_http_reason(int status);

#endif
