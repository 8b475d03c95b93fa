/* HTTP/1.1 requests for DNS over HTTP (see pk_http.h). The parser first finds the end of the
 * head, resuming where the last call stopped, so bytes that trickle in are looked at once;
 * then it reads the head's lines, each of which is known to end in CRLF; then it waits for
 * the body that Content-Length announces. */
#include "pk_http.h"

#include <errno.h>
#include <string.h>

#include "dns_msg.h"

#define PK_HTTP_BAD_REQUEST 400
#define PK_HTTP_LENGTH_REQUIRED 411
#define PK_HTTP_TOO_LARGE 413
#define PK_HTTP_HEADERS_TOO_LARGE 431
#define PK_HTTP_NOT_IMPLEMENTED 501
#define PK_HTTP_VERSION_UNSUPPORTED 505

/* RFC 2181 8: a TTL with its top bit set is taken as 0. */
#define PK_HTTP_TTL_MAX 0x7fffffffu

/* ---- characters ---- */

static uint8_t pk_http_lower(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c + ('a' - 'A')) : c;
}

/* RFC 9110 5.6.2: tchar, the characters of a token (method, field name). */
static bool pk_http_is_tchar(uint8_t c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        return true;
    }
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* RFC 9110 5.5: field-vchar, SP and HTAB; obs-text is taken as it is. */
static bool pk_http_is_field_char(uint8_t c)
{
    return c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f);
}

static bool pk_http_is_blank(uint8_t c)
{
    return c == ' ' || c == '\t';
}

static bool pk_http_token(const uint8_t *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (!pk_http_is_tchar(s[i])) {
            return false;
        }
    }
    return len > 0;
}

/* Whether s[0..len) is text without regard to case. */
static bool pk_http_equal_nocase(const uint8_t *s, size_t len, const char *text)
{
    size_t n = strlen(text);

    if (len != n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (pk_http_lower(s[i]) != pk_http_lower((uint8_t)text[i])) {
            return false;
        }
    }
    return true;
}

static struct pk_http_span pk_http_span_make(size_t off, size_t len)
{
    return (struct pk_http_span){.off = (uint32_t)off, .len = (uint32_t)len, .set = true};
}

/* ---- finding the head ---- */

void pk_http_parser_init(struct pk_http_parser *p)
{
    memset(p, 0, sizeof(*p));
}

/* Searches for the empty line that ends the head. Returns 1 when found (head_end set), 0 when
 * more bytes are needed, or -status. Empty lines before the request line are skipped, as
 * RFC 9112 2.2 asks, but count toward the head's limit. */
static int pk_http_find_head(struct pk_http_parser *p, const uint8_t *buf, size_t len)
{
    for (size_t i = p->scanned; i < len; i++) {
        if (i >= PK_HTTP_HEAD_MAX) {
            return -PK_HTTP_HEADERS_TOO_LARGE;
        }
        if (buf[i] != '\n') {
            continue;
        }
        /* RFC 9112 2.2: lines end in CRLF; a bare LF is refused rather than guessed at. */
        if (i == p->line_start || buf[i - 1] != '\r') {
            return -PK_HTTP_BAD_REQUEST;
        }
        if (i - 1 > p->line_start) {
            p->line_start = i + 1;
        } else if (p->line_start == p->head_start) {
            p->head_start = p->line_start = i + 1;
        } else {
            p->head_end = p->scanned = i + 1;
            return 1;
        }
    }
    p->scanned = len;
    return 0;
}

/* ---- the request line ---- */

static enum pk_http_method pk_http_method_of(const uint8_t *s, size_t len)
{
    static const struct {
        const char *name;
        enum pk_http_method method;
    } methods[] = {{"GET", PK_HTTP_GET},
                   {"HEAD", PK_HTTP_HEAD},
                   {"POST", PK_HTTP_POST},
                   {"OPTIONS", PK_HTTP_OPTIONS}};

    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (len == strlen(methods[i].name) && memcmp(s, methods[i].name, len) == 0) {
            return methods[i].method;
        }
    }
    return PK_HTTP_OTHER;
}

/* "HTTP/1.0" or "HTTP/1.1"; another well-formed version is 505, anything else 400. */
static int pk_http_version(struct pk_http_request *r, const uint8_t *s, size_t len)
{
    if (len != 8 || memcmp(s, "HTTP/", 5) != 0 || s[6] != '.' || s[5] < '0' || s[5] > '9' ||
        s[7] < '0' || s[7] > '9') {
        return -PK_HTTP_BAD_REQUEST;
    }
    if (s[5] != '1' || (s[7] != '0' && s[7] != '1')) {
        return -PK_HTTP_VERSION_UNSUPPORTED;
    }
    r->version_minor = (uint8_t)(s[7] - '0');
    return 0;
}

/* The target: origin-form ("/path?query"), or "*" (RFC 9112 3.2). */
static int pk_http_target(struct pk_http_request *r, const uint8_t *buf, size_t off, size_t len)
{
    const uint8_t *question;

    for (size_t i = 0; i < len; i++) {
        if (buf[off + i] < 0x21 || buf[off + i] > 0x7e) {
            return -PK_HTTP_BAD_REQUEST;
        }
    }
    if (len == 0 || (buf[off] != '/' && !(len == 1 && buf[off] == '*'))) {
        return -PK_HTTP_BAD_REQUEST;
    }
    r->target = pk_http_span_make(off, len);
    question = memchr(buf + off, '?', len);
    if (question == NULL) {
        r->path = r->target;
        return 0;
    }
    r->path = pk_http_span_make(off, (size_t)(question - (buf + off)));
    r->query = pk_http_span_make(off + r->path.len + 1, len - r->path.len - 1);
    return 0;
}

/* method SP request-target SP HTTP-version (RFC 9112 3), in buf[off..off + len). */
static int pk_http_request_line(struct pk_http_request *r, const uint8_t *buf, size_t off,
                                size_t len)
{
    const uint8_t *line = buf + off;
    const uint8_t *sp1 = memchr(line, ' ', len);
    const uint8_t *sp2;
    size_t method_len, target_len;
    int rc;

    if (sp1 == NULL) {
        return -PK_HTTP_BAD_REQUEST;
    }
    method_len = (size_t)(sp1 - line);
    sp2 = memchr(sp1 + 1, ' ', len - method_len - 1);
    if (sp2 == NULL || method_len > PK_HTTP_METHOD_MAX || !pk_http_token(line, method_len)) {
        return -PK_HTTP_BAD_REQUEST;
    }
    target_len = (size_t)(sp2 - sp1 - 1);
    rc = pk_http_version(r, sp2 + 1, len - method_len - target_len - 2);
    if (rc == 0) {
        rc = pk_http_target(r, buf, off + method_len + 1, target_len);
    }
    r->method_text = pk_http_span_make(off, method_len);
    r->method = pk_http_method_of(line, method_len);
    return rc;
}

/* ---- header fields ---- */

/* Flags of what the head holds beyond the spans, for the checks made once it is read. */
struct pk_http_head_state {
    bool transfer_encoding;
    bool body_too_large;
};

/* RFC 9110 8.6: Content-Length = 1*DIGIT. One line only: a second one, even with the same
 * value, is refused (RFC 9112 6.3 allows no guessing between two lengths). */
static int pk_http_content_length(struct pk_http_request *r, struct pk_http_head_state *st,
                                  const uint8_t *v, size_t len)
{
    uint32_t n = 0;

    if (r->has_content_length || len == 0) {
        return -PK_HTTP_BAD_REQUEST;
    }
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9') {
            return -PK_HTTP_BAD_REQUEST;
        }
        if (n <= PK_HTTP_BODY_MAX) {
            n = n * 10 + (uint32_t)(v[i] - '0');
        }
    }
    r->has_content_length = true;
    r->content_length = n;
    st->body_too_large = n > PK_HTTP_BODY_MAX;
    return 0;
}

/* Keeps the fields we use; at most one Host and one Content-Type (RFC 9112 3.2 for Host). */
static int pk_http_keep_field(struct pk_http_request *r, struct pk_http_head_state *st,
                              const uint8_t *buf, size_t name_off, size_t name_len,
                              size_t value_off, size_t value_len)
{
    const uint8_t *name = buf + name_off;
    struct pk_http_span value = pk_http_span_make(value_off, value_len);
    struct pk_http_span *single = NULL;

    if (pk_http_equal_nocase(name, name_len, "content-length")) {
        return pk_http_content_length(r, st, buf + value_off, value_len);
    }
    if (pk_http_equal_nocase(name, name_len, "transfer-encoding")) {
        st->transfer_encoding = true;
    } else if (pk_http_equal_nocase(name, name_len, "accept")) {
        if (r->n_accept == PK_HTTP_REPEAT_MAX) {
            return -PK_HTTP_BAD_REQUEST;
        }
        r->accept[r->n_accept++] = value;
    } else if (pk_http_equal_nocase(name, name_len, "connection")) {
        if (r->n_connection == PK_HTTP_REPEAT_MAX) {
            return -PK_HTTP_BAD_REQUEST;
        }
        r->connection[r->n_connection++] = value;
    } else if (pk_http_equal_nocase(name, name_len, "x-forwarded-for")) {
        if (!r->x_forwarded_for.set) {
            r->x_forwarded_for = value;
        }
    } else if (pk_http_equal_nocase(name, name_len, "content-type")) {
        single = &r->content_type;
    } else if (pk_http_equal_nocase(name, name_len, "host")) {
        single = &r->host;
    }
    if (single != NULL) {
        if (single->set) {
            return -PK_HTTP_BAD_REQUEST;
        }
        *single = value;
    }
    return 0;
}

/* field-name ":" OWS field-value OWS (RFC 9112 5), in buf[off..off + len). No blank may
 * come before the colon, and a line that starts with one (obs-fold) is refused. */
static int pk_http_field_line(struct pk_http_request *r, struct pk_http_head_state *st,
                              const uint8_t *buf, size_t off, size_t len)
{
    const uint8_t *colon = memchr(buf + off, ':', len);
    size_t name_len, start, end;

    if (colon == NULL) {
        return -PK_HTTP_BAD_REQUEST;
    }
    name_len = (size_t)(colon - (buf + off));
    if (!pk_http_token(buf + off, name_len)) {
        return -PK_HTTP_BAD_REQUEST;
    }
    start = off + name_len + 1;
    end = off + len;
    for (size_t i = start; i < end; i++) {
        if (!pk_http_is_field_char(buf[i])) {
            return -PK_HTTP_BAD_REQUEST;
        }
    }
    while (start < end && pk_http_is_blank(buf[start])) {
        start++;
    }
    while (end > start && pk_http_is_blank(buf[end - 1])) {
        end--;
    }
    return pk_http_keep_field(r, st, buf, off, name_len, start, end - start);
}

/* ---- the whole head ---- */

/* The checks that need every field: framing first, then the body's size. */
static int pk_http_head_checks(struct pk_http_request *r, const struct pk_http_head_state *st,
                               const uint8_t *buf)
{
    if (st->transfer_encoding) {
        return -PK_HTTP_NOT_IMPLEMENTED; /* we take no chunked bodies */
    }
    if (r->version_minor == 1 && !r->host.set) {
        return -PK_HTTP_BAD_REQUEST; /* RFC 9112 3.2 */
    }
    if (st->body_too_large) {
        return -PK_HTTP_TOO_LARGE;
    }
    if (r->method == PK_HTTP_POST && !r->has_content_length) {
        return -PK_HTTP_LENGTH_REQUIRED;
    }
    if (r->version_minor == 1) {
        r->keep_alive = !pk_http_list_has(buf, r->connection, r->n_connection, "close");
    } else {
        r->keep_alive = pk_http_list_has(buf, r->connection, r->n_connection, "keep-alive");
    }
    return 0;
}

/* Reads the lines of the head found by pk_http_find_head; each ends in CRLF. */
static int pk_http_read_head(struct pk_http_parser *p, const uint8_t *buf)
{
    struct pk_http_head_state st = {false, false};
    size_t pos = p->head_start;
    size_t end = p->head_end - 2; /* the empty line */
    bool first = true;
    int rc = 0;

    memset(&p->req, 0, sizeof(p->req));
    while (pos < end && rc == 0) {
        const uint8_t *lf = memchr(buf + pos, '\n', end - pos);
        size_t line_len = (size_t)(lf - (buf + pos)) - 1;

        if (first) {
            rc = pk_http_request_line(&p->req, buf, pos, line_len);
            first = false;
        } else {
            rc = pk_http_field_line(&p->req, &st, buf, pos, line_len);
        }
        pos += line_len + 2;
    }
    return rc < 0 ? rc : pk_http_head_checks(&p->req, &st, buf);
}

int pk_http_parse(struct pk_http_parser *p, const uint8_t *buf, size_t len)
{
    size_t total;
    int rc;

    if (p->error < 0) {
        return p->error;
    }
    if (p->head_end == 0) {
        rc = pk_http_find_head(p, buf, len);
        if (rc == 0) {
            return 0;
        }
        if (rc > 0) {
            rc = pk_http_read_head(p, buf);
        }
        if (rc < 0) {
            p->error = rc; /* final: the bytes that gave it are still at the start */
            return rc;
        }
    }
    total = p->head_end + p->req.content_length;
    if (len < total) {
        return 0;
    }
    if (p->req.has_content_length) {
        p->req.body = pk_http_span_make(p->head_end, p->req.content_length);
    }
    return (int)total;
}

/* ---- values ---- */

bool pk_http_span_equals(const uint8_t *buf, struct pk_http_span s, const char *text)
{
    size_t n = strlen(text);

    return s.set && s.len == n && memcmp(buf + s.off, text, n) == 0;
}

/* Whether the list element e[0..len), without its parameters and blanks, is token. */
static bool pk_http_element_is(const uint8_t *e, size_t len, const char *token)
{
    const uint8_t *semi = memchr(e, ';', len);
    size_t start = 0;

    if (semi != NULL) {
        len = (size_t)(semi - e);
    }
    while (start < len && pk_http_is_blank(e[start])) {
        start++;
    }
    while (len > start && pk_http_is_blank(e[len - 1])) {
        len--;
    }
    return pk_http_equal_nocase(e + start, len - start, token);
}

bool pk_http_list_has(const uint8_t *buf, const struct pk_http_span *values, size_t n,
                      const char *token)
{
    for (size_t i = 0; i < n; i++) {
        const uint8_t *v = buf + values[i].off;
        size_t len = values[i].len;

        while (values[i].set) {
            const uint8_t *comma = memchr(v, ',', len);
            size_t element = comma != NULL ? (size_t)(comma - v) : len;

            if (pk_http_element_is(v, element, token)) {
                return true;
            }
            if (comma == NULL) {
                break;
            }
            v += element + 1;
            len -= element + 1;
        }
    }
    return false;
}

/* The 6-bit value of a base64url character (RFC 4648 table 2), or -1. */
static int pk_http_base64url_value(uint8_t c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    return c == '-' ? 62 : c == '_' ? 63 : -1;
}

/* The length without padding; -EINVAL when '=' is misplaced or too many. */
static int pk_http_base64url_unpadded(const uint8_t *in, size_t len, size_t *out)
{
    size_t pad = 0;

    while (pad < len && pad < 3 && in[len - 1 - pad] == '=') {
        pad++;
    }
    if (pad > 0 && (len % 4 != 0 || pad > 2)) {
        return -EINVAL;
    }
    *out = len - pad;
    return 0;
}

int pk_http_base64url_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    uint32_t bits = 0;
    size_t nbits = 0, n = 0, data_len;

    if (pk_http_base64url_unpadded(in, len, &data_len) < 0 || data_len % 4 == 1) {
        return -EINVAL; /* one character alone holds only 6 bits: no encoder writes that */
    }
    if (data_len / 4 * 3 + (data_len % 4 == 0 ? 0 : data_len % 4 - 1) > cap) {
        return -ENOSPC;
    }
    for (size_t i = 0; i < data_len; i++) {
        int v = pk_http_base64url_value(in[i]);

        if (v < 0) {
            return -EINVAL;
        }
        bits = (bits << 6 | (uint32_t)v) & 0xffffff;
        nbits += 6;
        if (nbits >= 8) {
            nbits -= 8;
            out[n++] = (uint8_t)(bits >> nbits);
        }
    }
    /* RFC 4648 3.5: the bits left over must be zero, so that each message has one text. */
    if ((bits & ((1u << nbits) - 1)) != 0) {
        return -EINVAL;
    }
    return (int)n;
}

int pk_http_query_param(const uint8_t *query, size_t len, const char *name, const uint8_t **value,
                        size_t *value_len)
{
    size_t name_len = strlen(name);
    size_t pos = 0;

    while (pos < len) {
        const uint8_t *amp = memchr(query + pos, '&', len - pos);
        size_t end = amp != NULL ? (size_t)(amp - query) : len;

        if (end - pos > name_len && query[pos + name_len] == '=' &&
            memcmp(query + pos, name, name_len) == 0) {
            *value = query + pos + name_len + 1;
            *value_len = end - pos - name_len - 1;
            return memchr(*value, '%', *value_len) != NULL ? -EINVAL : 0;
        }
        pos = end + 1;
    }
    return -ENOENT;
}

uint32_t pk_http_dns_max_age(const uint8_t *msg, size_t len)
{
    struct dns_header h;
    struct dns_question q;
    struct dns_rr rr;
    size_t pos = DNS_HEADER_LEN;
    uint32_t min = UINT32_MAX;

    if (dns_msg_header(msg, len, &h) != 0) {
        return 0;
    }
    for (unsigned i = 0; i < h.qdcount; i++) {
        if (dns_msg_question(msg, len, &pos, &q) != 0) {
            return 0;
        }
    }
    for (unsigned i = 0; i < (unsigned)h.ancount + h.nscount; i++) {
        if (dns_msg_rr(msg, len, &pos, &rr) != 0) {
            return 0;
        }
        if (rr.ttl < min) {
            min = rr.ttl;
        }
    }
    return min == UINT32_MAX || min > PK_HTTP_TTL_MAX ? 0 : min;
}

const char *pk_http_reason(int status)
{
    static const struct {
        int status;
        const char *reason;
    } reasons[] = {
        {200, "OK"},
        {204, "No Content"},
        {400, "Bad Request"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {406, "Not Acceptable"},
        {411, "Length Required"},
        {413, "Content Too Large"},
        {415, "Unsupported Media Type"},
        {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {503, "Service Unavailable"},
        {505, "HTTP Version Not Supported"},
    };

    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        if (reasons[i].status == status) {
            return reasons[i].reason;
        }
    }
    return "Error";
}
