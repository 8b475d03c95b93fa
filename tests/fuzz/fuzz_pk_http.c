/* Fuzz target for pkdns's HTTP requests (pk_http.h): the input is parsed whole, then again
 * split in two at a point the first byte chooses (as if it came in two reads), and every
 * request it holds is taken in turn as pipelined ones are. Whatever parses is looked at as
 * the DNS over HTTP server does: the Accept list, the dns parameter decoded from base64url,
 * the body's max-age. The raw input also goes to the base64url decoder. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pk_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_OUT_MAX 65536

/* Reads what the server reads of a parsed request. */
static void fuzz_use(const uint8_t *buf, const struct pk_http_request *r)
{
    static uint8_t out[FUZZ_OUT_MAX];
    const uint8_t *value;
    size_t value_len;

    pk_http_span_equals(buf, r->path, "/dns-query");
    pk_http_list_has(buf, r->accept, r->n_accept, "application/dns-message");
    pk_http_list_has(buf, &r->content_type, 1, "application/dns-message");
    if (r->query.set &&
        pk_http_query_param(buf + r->query.off, r->query.len, "dns", &value, &value_len) == 0) {
        int n = pk_http_base64url_decode(value, value_len, out, sizeof(out));
        if (n > 0) {
            pk_http_dns_max_age(out, (size_t)n);
        }
    }
    if (r->body.set) {
        pk_http_dns_max_age(buf + r->body.off, r->body.len);
    }
}

/* Takes every request in data[0..size), feeding each first in two parts split at `split`. */
static int fuzz_requests(const uint8_t *data, size_t size, size_t split)
{
    struct pk_http_parser p;
    size_t off = 0;
    int n = 0;

    while (off < size) {
        size_t left = size - off;
        pk_http_parser_init(&p);
        if (split < left) {
            n = pk_http_parse(&p, data + off, split);
            if (n > 0 && (size_t)n > split) {
                abort(); /* a request cannot be longer than what was given */
            }
        }
        n = pk_http_parse(&p, data + off, left);
        if (n <= 0) {
            return n;
        }
        if ((size_t)n > left) {
            abort();
        }
        fuzz_use(data + off, &p.req);
        off += (size_t)n;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t out[FUZZ_OUT_MAX];
    uint8_t *copy;

    if (size == 0) {
        return 0;
    }
    pk_http_base64url_decode(data, size, out, sizeof(out));
    /* An exact-size copy without the first byte, so that a read past the end is caught. */
    copy = malloc(size - 1 > 0 ? size - 1 : 1);
    if (copy == NULL) {
        return 0;
    }
    memcpy(copy, data + 1, size - 1);
    fuzz_requests(copy, size - 1, size - 1);
    fuzz_requests(copy, size - 1, (size_t)data[0] * (size - 1) / 256);
    free(copy);
    return 0;
}
