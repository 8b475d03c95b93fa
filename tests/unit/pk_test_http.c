#include "pk_http.h"
#include "unit.h"

#include <errno.h>
#include <stdlib.h>

/* Parses text whole with a fresh parser; returns what pk_http_parse returned. */
static int parse(const char *text, struct pk_http_parser *p)
{
    pk_http_parser_init(p);
    return pk_http_parse(p, (const uint8_t *)text, strlen(text));
}

static int parse_status(const char *text)
{
    struct pk_http_parser p;

    return parse(text, &p);
}

static void test_http_get_is_parsed_with_its_fields(void)
{
    static const char req[] = "GET /dns-query?dns=AAABAAABAAAAAAAAA2ZvbwAAAQAB HTTP/1.1\r\n"
                              "Host: localhost:3000\r\n"
                              "accept: application/dns-message\r\n"
                              "X-Forwarded-For:  192.0.2.1, 10.0.0.1 \r\n"
                              "\r\n";
    const uint8_t *buf = (const uint8_t *)req;
    struct pk_http_parser p;

    CHECK_INT(parse(req, &p), (int)strlen(req));
    CHECK_INT(p.req.method, PK_HTTP_GET);
    CHECK_INT(p.req.version_minor, 1);
    CHECK(p.req.keep_alive);
    CHECK(pk_http_span_equals(buf, p.req.path, "/dns-query"));
    CHECK(pk_http_span_equals(buf, p.req.query, "dns=AAABAAABAAAAAAAAA2ZvbwAAAQAB"));
    CHECK(pk_http_span_equals(buf, p.req.host, "localhost:3000"));
    CHECK(pk_http_span_equals(buf, p.req.x_forwarded_for, "192.0.2.1, 10.0.0.1"));
    CHECK_INT(p.req.n_accept, 1);
    CHECK(pk_http_list_has(buf, p.req.accept, p.req.n_accept, "application/dns-message"));
    CHECK(!p.req.has_content_length);
    CHECK(!p.req.body.set);
}

static void test_http_post_is_parsed_with_its_body(void)
{
    static const char req[] = "POST /dns-query HTTP/1.1\r\n"
                              "Host: a\r\n"
                              "Content-Type: application/dns-message\r\n"
                              "Content-Length: 5\r\n"
                              "Connection: close\r\n"
                              "\r\n"
                              "hello";
    const uint8_t *buf = (const uint8_t *)req;
    struct pk_http_parser p;

    CHECK_INT(parse(req, &p), (int)strlen(req));
    CHECK_INT(p.req.method, PK_HTTP_POST);
    CHECK(!p.req.keep_alive);
    CHECK(!p.req.query.set);
    CHECK(pk_http_span_equals(buf, p.req.content_type, "application/dns-message"));
    CHECK_INT(p.req.content_length, 5);
    CHECK(pk_http_span_equals(buf, p.req.body, "hello"));
}

static void test_http_request_arriving_a_byte_at_a_time_is_found_at_its_last_byte(void)
{
    static const char req[] = "POST /x HTTP/1.0\r\nContent-Length: 3\r\n"
                              "Connection: Keep-Alive\r\n\r\nabc";
    size_t len = strlen(req);
    struct pk_http_parser p;

    pk_http_parser_init(&p);
    for (size_t i = 1; i < len; i++) {
        CHECK_INT(pk_http_parse(&p, (const uint8_t *)req, i), 0);
    }
    CHECK_INT(pk_http_parse(&p, (const uint8_t *)req, len), (int)len);
    CHECK(p.req.keep_alive);
    CHECK_INT(p.req.version_minor, 0);
    CHECK(pk_http_span_equals((const uint8_t *)req, p.req.body, "abc"));
}

static void test_http_two_pipelined_requests_are_read_one_after_the_other(void)
{
    static const char first[] = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
    static const char second[] = "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nxy";
    char both[sizeof(first) + sizeof(second)];
    struct pk_http_parser p;
    int n;

    snprintf(both, sizeof(both), "%s%s", first, second);
    n = parse(both, &p);
    CHECK_INT(n, (int)strlen(first));
    CHECK(pk_http_span_equals((const uint8_t *)both, p.req.path, "/a"));

    pk_http_parser_init(&p);
    n = pk_http_parse(&p, (const uint8_t *)both + n, strlen(both) - (size_t)n);
    CHECK_INT(n, (int)strlen(second));
    CHECK(pk_http_span_equals((const uint8_t *)second, p.req.path, "/b"));
    CHECK(pk_http_span_equals((const uint8_t *)second, p.req.body, "xy"));
}

static void test_http_error_is_returned_again_when_more_bytes_come(void)
{
    static const char req[] =
        "\r\nGET / HTTP/1.1\r\nHost h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
    struct pk_http_parser p;

    pk_http_parser_init(&p);
    CHECK_INT(pk_http_parse(&p, (const uint8_t *)req, 30), -400);
    CHECK_INT(pk_http_parse(&p, (const uint8_t *)req, strlen(req)), -400);
}

static void test_http_empty_lines_before_the_request_line_are_skipped(void)
{
    static const char req[] = "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
    struct pk_http_parser p;

    CHECK_INT(parse(req, &p), (int)strlen(req));
    CHECK(pk_http_span_equals((const uint8_t *)req, p.req.path, "/"));
}

static void test_http_head_over_8_kib_is_431(void)
{
    size_t len = PK_HTTP_HEAD_MAX + 100;
    char *req = malloc(len + 1);
    struct pk_http_parser p;

    memset(req, 'a', len);
    memcpy(req, "GET / HTTP/1.1\r\nHost: h\r\nX-Big: ", 32);
    req[len] = '\0';
    CHECK_INT(parse(req, &p), 0 - 431);
    free(req);
}

static void test_http_head_of_exactly_8_kib_is_taken(void)
{
    char *req = malloc(PK_HTTP_HEAD_MAX + 1);
    struct pk_http_parser p;

    memset(req, 'a', PK_HTTP_HEAD_MAX);
    memcpy(req, "GET / HTTP/1.1\r\nHost: h\r\nX-Big: ", 32);
    memcpy(req + PK_HTTP_HEAD_MAX - 4, "\r\n\r\n", 4);
    req[PK_HTTP_HEAD_MAX] = '\0';
    CHECK_INT(parse(req, &p), PK_HTTP_HEAD_MAX);
    free(req);
}

static void test_http_body_over_65535_is_413_before_it_arrives(void)
{
    CHECK_INT(parse_status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 65536\r\n\r\n"), -413);
    CHECK_INT(parse_status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: "
                           "99999999999999999999999\r\n\r\n"),
              -413);
    CHECK_INT(parse_status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 65535\r\n\r\n"), 0);
}

static void test_http_duplicate_content_length_is_400_even_when_equal(void)
{
    CHECK_INT(parse_status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n"
                           "Content-Length: 1\r\n\r\nx"),
              -400);
    CHECK_INT(parse_status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n"
                           "content-length: 2\r\n\r\nxy"),
              -400);
}

static void test_http_content_length_that_is_not_digits_is_400(void)
{
    CHECK_INT(parse_status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\nx"), -400);
    CHECK_INT(parse_status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1,1\r\n\r\nx"), -400);
    CHECK_INT(parse_status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\nx"), -400);
}

static void test_http_transfer_encoding_is_501(void)
{
    CHECK_INT(parse_status("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"),
              -501);
    CHECK_INT(parse_status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
                           "Transfer-Encoding: identity\r\n\r\nabc"),
              -501);
}

static void test_http_post_without_content_length_is_411(void)
{
    CHECK_INT(parse_status("POST /dns-query HTTP/1.1\r\nHost: h\r\n\r\n"), -411);
}

static void test_http_bad_request_lines_are_400(void)
{
    CHECK_INT(parse_status("GET /\r\n\r\n"), -400);
    CHECK_INT(parse_status("GET  / HTTP/1.1\r\nHost: h\r\n\r\n"), -400);
    CHECK_INT(parse_status("GET / HTTP/1.1 \r\nHost: h\r\n\r\n"), -400);
    CHECK_INT(parse_status("GET http://a/ HTTP/1.1\r\nHost: h\r\n\r\n"), -400);
    CHECK_INT(parse_status("G(T / HTTP/1.1\r\nHost: h\r\n\r\n"), -400);
    CHECK_INT(parse_status("GET / HTTP/1.1\nHost: h\n\n"), -400);
    CHECK_INT(parse_status("GET / HTTQ/1.1\r\nHost: h\r\n\r\n"), -400);
    CHECK_INT(parse_status("GET / HTTP/2.0\r\nHost: h\r\n\r\n"), -505);
}

static void test_http_header_without_colon_is_400(void)
{
    CHECK_INT(parse_status("GET / HTTP/1.1\r\nHost: h\r\nAccept application/dns-message\r\n\r\n"),
              -400);
}

static void test_http_header_with_blank_before_colon_or_folded_is_400(void)
{
    CHECK_INT(parse_status("GET / HTTP/1.1\r\nHost : h\r\n\r\n"), -400);
    CHECK_INT(parse_status("GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n"), -400);
    CHECK_INT(parse_status("GET / HTTP/1.1\r\nHost: h\rx\r\n\r\n"), -400);
}

static void test_http_1_1_without_host_is_400_and_with_two_is_400(void)
{
    CHECK_INT(parse_status("GET / HTTP/1.1\r\n\r\n"), -400);
    CHECK_INT(parse_status("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), -400);
    CHECK_INT(parse_status("GET / HTTP/1.0\r\n\r\n"), (int)strlen("GET / HTTP/1.0\r\n\r\n"));
}

static void test_http_1_0_closes_unless_keep_alive(void)
{
    struct pk_http_parser p;

    parse("GET / HTTP/1.0\r\n\r\n", &p);
    CHECK(!p.req.keep_alive);
    parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, Close\r\n\r\n", &p);
    CHECK(!p.req.keep_alive);
}

static void test_http_list_has_ignores_case_blanks_and_parameters(void)
{
    static const char v[] = "text/html , Application/DNS-Message;q=0.9";
    struct pk_http_span s = {.off = 0, .len = sizeof(v) - 1, .set = true};

    CHECK(pk_http_list_has((const uint8_t *)v, &s, 1, "application/dns-message"));
    CHECK(pk_http_list_has((const uint8_t *)v, &s, 1, "text/html"));
    CHECK(!pk_http_list_has((const uint8_t *)v, &s, 1, "text/plain"));
}

static void test_base64url_decodes_without_padding(void)
{
    uint8_t out[8];

    CHECK_INT(pk_http_base64url_decode((const uint8_t *)"-_8", 3, out, sizeof(out)), 2);
    CHECK_MEM(out, "\xfb\xff", 2);
    CHECK_INT(pk_http_base64url_decode((const uint8_t *)"aGVsbG8", 7, out, sizeof(out)), 5);
    CHECK_MEM(out, "hello", 5);
    CHECK_INT(pk_http_base64url_decode((const uint8_t *)"", 0, out, sizeof(out)), 0);
}

static void test_base64url_decodes_with_padding(void)
{
    uint8_t out[8];

    CHECK_INT(pk_http_base64url_decode((const uint8_t *)"aGVsbG8=", 8, out, sizeof(out)), 5);
    CHECK_MEM(out, "hello", 5);
    CHECK_INT(pk_http_base64url_decode((const uint8_t *)"aGk=", 4, out, sizeof(out)), 2);
    CHECK_INT(pk_http_base64url_decode((const uint8_t *)"aA==", 4, out, sizeof(out)), 1);
    CHECK_MEM(out, "h", 1);
}

static void test_base64url_refuses_other_characters_and_bad_padding(void)
{
    uint8_t out[8];

    CHECK_INT(pk_http_base64url_decode((const uint8_t *)"aGk+", 4, out, sizeof(out)), -EINVAL);
    CHECK_INT(pk_http_base64url_decode((const uint8_t *)"aG/k", 4, out, sizeof(out)), -EINVAL);
    CHECK_INT(pk_http_base64url_decode((const uint8_t *)"aG k", 4, out, sizeof(out)), -EINVAL);
    CHECK_INT(pk_http_base64url_decode((const uint8_t *)"aGk", 3, out, 1), -ENOSPC);
    CHECK_INT(pk_http_base64url_decode((const uint8_t *)"a", 1, out, sizeof(out)), -EINVAL);
    CHECK_INT(pk_http_base64url_decode((const uint8_t *)"aGk==", 5, out, sizeof(out)), -EINVAL);
    CHECK_INT(pk_http_base64url_decode((const uint8_t *)"a===", 4, out, sizeof(out)), -EINVAL);
    CHECK_INT(pk_http_base64url_decode((const uint8_t *)"aG=k", 4, out, sizeof(out)), -EINVAL);
    CHECK_INT(pk_http_base64url_decode((const uint8_t *)"aB", 2, out, sizeof(out)), -EINVAL);
}

static void test_query_param_finds_dns_among_others(void)
{
    static const char q[] = "ct=x&dns=AAAB&dnsx=1";
    const uint8_t *v;
    size_t n;

    CHECK_INT(pk_http_query_param((const uint8_t *)q, strlen(q), "dns", &v, &n), 0);
    CHECK_INT(n, 4);
    CHECK_MEM(v, "AAAB", 4);
}

static void test_query_param_missing_dns_is_enoent(void)
{
    static const char q[] = "dnsx=AAAB&dns&ct=1";
    const uint8_t *v;
    size_t n;

    CHECK_INT(pk_http_query_param((const uint8_t *)q, strlen(q), "dns", &v, &n), -ENOENT);
    CHECK_INT(pk_http_query_param((const uint8_t *)q, 0, "dns", &v, &n), -ENOENT);
}

static void test_query_param_with_percent_is_einval(void)
{
    static const char q[] = "dns=AA%3DB";
    const uint8_t *v;
    size_t n;

    CHECK_INT(pk_http_query_param((const uint8_t *)q, strlen(q), "dns", &v, &n), -EINVAL);
}

static void test_max_age_is_the_smallest_ttl_of_answers_and_authority(void)
{
    /* foo. A: answer TTL 300, authority TTL 120, additional TTL 5 (not counted). */
    static const uint8_t msg[] = {
        0,  1,    0x81, 0x80, 0,  1, 0, 1, 0, 1, 0,   1,    3,    'f', 'o', 'o', 0, 0,
        1,  0,    1,    0xc0, 12, 0, 1, 0, 1, 0, 0,   0x01, 0x2c, 0,   4,   192, 0, 2,
        1,  0xc0, 12,   0,    1,  0, 1, 0, 0, 0, 120, 0,    4,    192, 0,   2,   2, 0xc0,
        12, 0,    1,    0,    1,  0, 0, 0, 5, 0, 4,   192,  0,    2,   3};

    CHECK_INT(pk_http_dns_max_age(msg, sizeof(msg)), 120);
    CHECK_INT(pk_http_dns_max_age(msg, 21), 0); /* counts larger than the records: 0 */
    CHECK_INT(pk_http_dns_max_age(msg, 5), 0);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_http_get_is_parsed_with_its_fields),
        UNIT(test_http_post_is_parsed_with_its_body),
        UNIT(test_http_request_arriving_a_byte_at_a_time_is_found_at_its_last_byte),
        UNIT(test_http_two_pipelined_requests_are_read_one_after_the_other),
        UNIT(test_http_error_is_returned_again_when_more_bytes_come),
        UNIT(test_http_empty_lines_before_the_request_line_are_skipped),
        UNIT(test_http_head_over_8_kib_is_431),
        UNIT(test_http_head_of_exactly_8_kib_is_taken),
        UNIT(test_http_body_over_65535_is_413_before_it_arrives),
        UNIT(test_http_duplicate_content_length_is_400_even_when_equal),
        UNIT(test_http_content_length_that_is_not_digits_is_400),
        UNIT(test_http_transfer_encoding_is_501),
        UNIT(test_http_post_without_content_length_is_411),
        UNIT(test_http_bad_request_lines_are_400),
        UNIT(test_http_header_without_colon_is_400),
        UNIT(test_http_header_with_blank_before_colon_or_folded_is_400),
        UNIT(test_http_1_1_without_host_is_400_and_with_two_is_400),
        UNIT(test_http_1_0_closes_unless_keep_alive),
        UNIT(test_http_list_has_ignores_case_blanks_and_parameters),
        UNIT(test_base64url_decodes_without_padding),
        UNIT(test_base64url_decodes_with_padding),
        UNIT(test_base64url_refuses_other_characters_and_bad_padding),
        UNIT(test_query_param_finds_dns_among_others),
        UNIT(test_query_param_missing_dns_is_enoent),
        UNIT(test_query_param_with_percent_is_einval),
        UNIT(test_max_age_is_the_smallest_ttl_of_answers_and_authority),
    };

    return unit_run("pk_http", tests, sizeof(tests) / sizeof(tests[0]));
}
