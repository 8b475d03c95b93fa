#include "bencode.h"
#include "unit.h"

#include <errno.h>
#include <stdlib.h>

#define TOKS_CAP 256

static struct bencode_tok toks[TOKS_CAP];

/* Parses a C string literal as bencode; the literal's NUL is not part of the input. */
static int parse(struct bencode *doc, const char *text)
{
    return bencode_parse(doc, (const uint8_t *)text, strlen(text), toks, TOKS_CAP);
}

/* Parses from an exact-size heap copy, so that ASan reports any read past the end. */
static int parse_exact(const uint8_t *data, size_t len)
{
    struct bencode doc;
    uint8_t *copy = calloc(1, len > 0 ? len : 1);
    int rc;

    memcpy(copy, data, len);
    rc = bencode_parse(&doc, copy, len, toks, TOKS_CAP);
    free(copy);
    return rc;
}

static int parse_rc(const char *text)
{
    return parse_exact((const uint8_t *)text, strlen(text));
}

static const char ping_query[] = "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";

static void test_bencode_reads_nested_dictionary(void)
{
    struct bencode doc;
    const uint8_t *str;
    size_t len;
    int args;

    CHECK_INT(parse(&doc, ping_query), 0);
    CHECK_INT(bencode_type(&doc, 0), BENCODE_DICT);
    CHECK_INT(bencode_count(&doc, 0), 4);
    args = bencode_dict_get(&doc, 0, "a");
    CHECK_INT(bencode_type(&doc, args), BENCODE_DICT);
    CHECK_INT(bencode_str(&doc, bencode_dict_get(&doc, args, "id"), &str, &len), 0);
    CHECK_INT(len, 20);
    CHECK_MEM(str, "abcdefghij0123456789", 20);
    CHECK_INT(bencode_str(&doc, bencode_dict_get(&doc, 0, "q"), &str, &len), 0);
    CHECK_INT(len, 4);
    CHECK_MEM(str, "ping", 4);
    CHECK_INT(bencode_str(&doc, bencode_dict_get(&doc, 0, "y"), &str, &len), 0);
    CHECK_MEM(str, "q", 1);
}

static void test_bencode_dict_get_reports_missing_key_and_wrong_type(void)
{
    struct bencode doc;
    int64_t value;

    CHECK_INT(parse(&doc, "d1:ai1e1:bli2ei3eee"), 0);
    CHECK_INT(bencode_dict_get(&doc, 0, "c"), -ENOENT);
    CHECK_INT(bencode_dict_get(&doc, 0, ""), -ENOENT);
    CHECK_INT(bencode_dict_get(&doc, bencode_dict_get(&doc, 0, "a"), "x"), -EINVAL);
    /* A failed lookup passes its code through the accessors. */
    CHECK_INT(bencode_int(&doc, bencode_dict_get(&doc, 0, "zz"), &value), -ENOENT);
    CHECK_INT(bencode_int(&doc, bencode_dict_get(&doc, 0, "b"), &value), -EINVAL);
    CHECK_INT(bencode_type(&doc, 99), -EINVAL);
}

static void test_bencode_dict_get_skips_nested_values(void)
{
    struct bencode doc;
    int64_t value = 0;

    CHECK_INT(parse(&doc, "d1:ad1:xli1ei2eee1:bli3eli4eee1:ci5ee"), 0);
    CHECK_INT(bencode_int(&doc, bencode_dict_get(&doc, 0, "c"), &value), 0);
    CHECK_INT(value, 5);
}

static void test_bencode_list_get_walks_elements(void)
{
    struct bencode doc;
    int64_t value = 0;
    const uint8_t *str;
    size_t len;

    CHECK_INT(parse(&doc, "li7eld1:ai1eee3:abce"), 0);
    CHECK_INT(bencode_count(&doc, 0), 3);
    CHECK_INT(bencode_int(&doc, bencode_list_get(&doc, 0, 0), &value), 0);
    CHECK_INT(value, 7);
    CHECK_INT(bencode_type(&doc, bencode_list_get(&doc, 0, 1)), BENCODE_LIST);
    CHECK_INT(bencode_str(&doc, bencode_list_get(&doc, 0, 2), &str, &len), 0);
    CHECK_INT(len, 3);
    CHECK_MEM(str, "abc", 3);
    CHECK_INT(bencode_list_get(&doc, 0, 3), -ENOENT);
    CHECK_INT(bencode_list_get(&doc, bencode_list_get(&doc, 0, 0), 0), -EINVAL);
}

static void test_bencode_span_points_into_input(void)
{
    const char *text = "d1:vl12:Hello World!i-3eee";
    struct bencode doc;
    const uint8_t *raw;
    size_t len;

    CHECK_INT(parse(&doc, text), 0);
    CHECK_INT(bencode_span(&doc, bencode_dict_get(&doc, 0, "v"), &raw, &len), 0);
    CHECK(raw == (const uint8_t *)text + 4);
    CHECK_INT(len, strlen("l12:Hello World!i-3ee"));
    CHECK_MEM(raw, "l12:Hello World!i-3ee", len);
}

static void test_bencode_reads_int_extremes(void)
{
    struct bencode doc;
    int64_t value = 1;

    CHECK_INT(parse(&doc, "i0e"), 0);
    CHECK_INT(bencode_int(&doc, 0, &value), 0);
    CHECK_INT(value, 0);
    CHECK_INT(parse(&doc, "i-1e"), 0);
    CHECK_INT(bencode_int(&doc, 0, &value), 0);
    CHECK_INT(value, -1);
    CHECK_INT(parse(&doc, "i9223372036854775807e"), 0);
    CHECK_INT(bencode_int(&doc, 0, &value), 0);
    CHECK(value == INT64_MAX);
    CHECK_INT(parse(&doc, "i-9223372036854775808e"), 0);
    CHECK_INT(bencode_int(&doc, 0, &value), 0);
    CHECK(value == INT64_MIN);
}

static void test_bencode_rejects_int_overflow(void)
{
    CHECK_INT(parse_rc("i9223372036854775808e"), -EBADMSG);
    CHECK_INT(parse_rc("i-9223372036854775809e"), -EBADMSG);
    CHECK_INT(parse_rc("i99999999999999999999999e"), -EBADMSG);
}

static void test_bencode_rejects_leading_zeros(void)
{
    CHECK_INT(parse_rc("i00e"), -EBADMSG);
    CHECK_INT(parse_rc("i01e"), -EBADMSG);
    CHECK_INT(parse_rc("i-01e"), -EBADMSG);
    CHECK_INT(parse_rc("01:a"), -EBADMSG);
    CHECK_INT(parse_rc("00:"), -EBADMSG);
    CHECK_INT(parse_rc("0:"), 0);
}

static void test_bencode_rejects_negative_zero(void)
{
    CHECK_INT(parse_rc("i-0e"), -EBADMSG);
}

static void test_bencode_rejects_malformed_ints(void)
{
    CHECK_INT(parse_rc("ie"), -EBADMSG);
    CHECK_INT(parse_rc("i-e"), -EBADMSG);
    CHECK_INT(parse_rc("i--1e"), -EBADMSG);
    CHECK_INT(parse_rc("i+1e"), -EBADMSG);
    CHECK_INT(parse_rc("i1"), -EBADMSG);
    CHECK_INT(parse_rc("i1.5e"), -EBADMSG);
    CHECK_INT(parse_rc("i 1e"), -EBADMSG);
}

static void test_bencode_rejects_negative_length(void)
{
    CHECK_INT(parse_rc("-1:a"), -EBADMSG);
    CHECK_INT(parse_rc("l-1:ae"), -EBADMSG);
}

static void test_bencode_rejects_length_beyond_data(void)
{
    CHECK_INT(parse_rc("5:abc"), -EBADMSG);
    CHECK_INT(parse_rc("1:"), -EBADMSG);
    CHECK_INT(parse_rc("4294967296:x"), -EBADMSG);
    CHECK_INT(parse_rc("18446744073709551617:x"), -EBADMSG);
    CHECK_INT(parse_rc("99999999999999999999999999999999:x"), -EBADMSG);
    CHECK_INT(parse_rc("d1:a5:abcde"), -EBADMSG);
}

static void test_bencode_rejects_string_without_colon(void)
{
    CHECK_INT(parse_rc("3abc"), -EBADMSG);
    CHECK_INT(parse_rc("3"), -EBADMSG);
}

static void test_bencode_rejects_unsorted_keys(void)
{
    CHECK_INT(parse_rc("d1:bi1e1:ai2ee"), -EBADMSG);
    CHECK_INT(parse_rc("d2:abi1e1:ai2ee"), -EBADMSG);
}

static void test_bencode_rejects_duplicate_keys(void)
{
    CHECK_INT(parse_rc("d1:ai1e1:ai2ee"), -EBADMSG);
    CHECK_INT(parse_rc("d0:i1e0:i2ee"), -EBADMSG);
}

static void test_bencode_sorts_keys_as_raw_bytes(void)
{
    /* A prefix sorts first, and bytes compare unsigned: 'z' (0x7a) before 0xff. */
    CHECK_INT(parse_rc("d1:ai1e2:abi2ee"), 0);
    CHECK_INT(parse_rc("d1:zi1e1:\xffi2ee"), 0);
    CHECK_INT(parse_rc("d1:\xffi2e1:zi1ee"), -EBADMSG);
}

static void test_bencode_rejects_non_string_keys(void)
{
    CHECK_INT(parse_rc("di1ei2ee"), -EBADMSG);
    CHECK_INT(parse_rc("dlei2ee"), -EBADMSG);
}

static void test_bencode_rejects_dict_key_without_value(void)
{
    CHECK_INT(parse_rc("d1:ae"), -EBADMSG);
}

static void test_bencode_limits_nesting_depth(void)
{
    char text[2 * (BENCODE_MAX_DEPTH + 1) + 1];
    size_t n;

    n = 0;
    for (int i = 0; i < BENCODE_MAX_DEPTH; i++) {
        text[n++] = 'l';
    }
    for (int i = 0; i < BENCODE_MAX_DEPTH; i++) {
        text[n++] = 'e';
    }
    CHECK_INT(parse_exact((const uint8_t *)text, n), 0);

    n = 0;
    for (int i = 0; i < BENCODE_MAX_DEPTH + 1; i++) {
        text[n++] = 'l';
    }
    for (int i = 0; i < BENCODE_MAX_DEPTH + 1; i++) {
        text[n++] = 'e';
    }
    CHECK_INT(parse_exact((const uint8_t *)text, n), -E2BIG);
}

static void test_bencode_survives_very_deep_nesting(void)
{
    size_t n = 100000;
    uint8_t *text = malloc(n);

    memset(text, 'l', n);
    CHECK_INT(parse_exact(text, n), -E2BIG);
    free(text);
}

static void test_bencode_limits_element_count(void)
{
    struct bencode_tok small[4];
    struct bencode doc;
    const char *three = "li1ei2ee";
    const char *four = "li1ei2ei3ee";

    CHECK_INT(bencode_parse(&doc, (const uint8_t *)three, strlen(three), small, 3), 0);
    CHECK_INT(bencode_parse(&doc, (const uint8_t *)four, strlen(four), small, 3), -E2BIG);
    CHECK_INT(bencode_parse(&doc, (const uint8_t *)four, strlen(four), small, 4), 0);
}

static void test_bencode_rejects_every_truncation(void)
{
    const char *msgs[] = {
        ping_query,
        "d1:rd2:id20:mnopqrstuvwxyz1234565:nodes26:abcdefghijklmnopqrstuvwxyz"
        "e1:t2:aa1:y1:re",
        "d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee",
        "d1:ad3:casi-5e1:vli9223372036854775807eee1:q3:put1:t2:aa1:y1:qe",
    };

    for (size_t m = 0; m < sizeof(msgs) / sizeof(msgs[0]); m++) {
        size_t len = strlen(msgs[m]);
        CHECK_INT(parse_exact((const uint8_t *)msgs[m], len), 0);
        for (size_t cut = 0; cut < len; cut++) {
            int rc = parse_exact((const uint8_t *)msgs[m], cut);
            if (rc != -EBADMSG) {
                fprintf(stderr, "  message %zu cut at %zu: %d\n", m, cut, rc);
            }
            CHECK_INT(rc, -EBADMSG);
        }
    }
}

static void test_bencode_rejects_trailing_garbage(void)
{
    CHECK_INT(parse_rc("i1ex"), -EBADMSG);
    CHECK_INT(parse_rc("dei1e"), -EBADMSG);
    CHECK_INT(parse_rc("0:0:"), -EBADMSG);
    CHECK_INT(parse_rc("lee"), -EBADMSG);
    CHECK_INT(parse_exact((const uint8_t *)"i1e\0", 4), -EBADMSG);
}

static void test_bencode_rejects_unknown_types(void)
{
    CHECK_INT(parse_rc(""), -EBADMSG);
    CHECK_INT(parse_rc("e"), -EBADMSG);
    CHECK_INT(parse_rc("x"), -EBADMSG);
    CHECK_INT(parse_rc("lxe"), -EBADMSG);
}

static void test_bencode_reads_strings_with_nul_bytes(void)
{
    static const uint8_t text[] = {'3', ':', 'a', 0, 'b'};
    struct bencode doc;
    const uint8_t *str;
    size_t len;

    CHECK_INT(bencode_parse(&doc, text, sizeof(text), toks, TOKS_CAP), 0);
    CHECK_INT(bencode_str(&doc, 0, &str, &len), 0);
    CHECK_INT(len, 3);
    CHECK_MEM(str, "a\0b", 3);
}

static void test_bencode_writer_writes_canonical_message(void)
{
    uint8_t buf[128];
    struct bencode_writer w;
    size_t len;

    bencode_writer_init(&w, buf, sizeof(buf));
    bencode_write_dict_begin(&w);
    bencode_write_key(&w, "a");
    bencode_write_dict_begin(&w);
    bencode_write_key(&w, "id");
    bencode_write_str(&w, "abcdefghij0123456789", 20);
    bencode_write_end(&w);
    bencode_write_key(&w, "q");
    bencode_write_key(&w, "ping");
    bencode_write_key(&w, "t");
    bencode_write_str(&w, "aa", 2);
    bencode_write_key(&w, "y");
    bencode_write_key(&w, "q");
    bencode_write_end(&w);
    CHECK_INT(bencode_writer_finish(&w, &len), 0);
    CHECK_INT(len, strlen(ping_query));
    CHECK_MEM(buf, ping_query, len);
}

static void test_bencode_writer_writes_int_extremes(void)
{
    const char *expected = "li0ei-1ei9223372036854775807ei-9223372036854775808ee";
    uint8_t buf[128];
    struct bencode_writer w;
    size_t len;

    bencode_writer_init(&w, buf, sizeof(buf));
    bencode_write_list_begin(&w);
    bencode_write_int(&w, 0);
    bencode_write_int(&w, -1);
    bencode_write_int(&w, INT64_MAX);
    bencode_write_int(&w, INT64_MIN);
    bencode_write_end(&w);
    CHECK_INT(bencode_writer_finish(&w, &len), 0);
    CHECK_INT(len, strlen(expected));
    CHECK_MEM(buf, expected, len);
}

static void test_bencode_writer_error_is_sticky(void)
{
    uint8_t buf[8];
    struct bencode_writer w;
    size_t len;

    bencode_writer_init(&w, buf, sizeof(buf));
    bencode_write_str(&w, "abcdefgh", 8); /* 10 bytes: does not fit */
    bencode_write_int(&w, 1);             /* would fit, but the error stays */
    CHECK_INT(bencode_writer_finish(&w, &len), -ENOSPC);
    CHECK(len <= sizeof(buf));

    bencode_writer_init(&w, NULL, 0);
    bencode_write_list_begin(&w);
    CHECK_INT(bencode_writer_finish(&w, &len), -ENOSPC);
}

static void test_bencode_writer_fills_buffer_exactly(void)
{
    uint8_t buf[10];
    struct bencode_writer w;
    size_t len;

    bencode_writer_init(&w, buf, sizeof(buf));
    bencode_write_str(&w, "abcdefgh", 8);
    CHECK_INT(bencode_writer_finish(&w, &len), 0);
    CHECK_INT(len, 10);
    CHECK_MEM(buf, "8:abcdefgh", 10);
}

static void test_bencode_written_message_parses_back(void)
{
    uint8_t buf[64];
    struct bencode_writer w;
    struct bencode doc;
    int64_t value = 0;
    size_t len;

    bencode_writer_init(&w, buf, sizeof(buf));
    bencode_write_dict_begin(&w);
    bencode_write_key(&w, "n");
    bencode_write_int(&w, -42);
    bencode_write_key(&w, "v");
    bencode_write_raw(&w, "l0:e", 4);
    bencode_write_end(&w);
    CHECK_INT(bencode_writer_finish(&w, &len), 0);
    CHECK_INT(bencode_parse(&doc, buf, len, toks, TOKS_CAP), 0);
    CHECK_INT(bencode_int(&doc, bencode_dict_get(&doc, 0, "n"), &value), 0);
    CHECK_INT(value, -42);
    CHECK_INT(bencode_count(&doc, bencode_dict_get(&doc, 0, "v")), 1);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_bencode_reads_nested_dictionary),
        UNIT(test_bencode_dict_get_reports_missing_key_and_wrong_type),
        UNIT(test_bencode_dict_get_skips_nested_values),
        UNIT(test_bencode_list_get_walks_elements),
        UNIT(test_bencode_span_points_into_input),
        UNIT(test_bencode_reads_int_extremes),
        UNIT(test_bencode_rejects_int_overflow),
        UNIT(test_bencode_rejects_leading_zeros),
        UNIT(test_bencode_rejects_negative_zero),
        UNIT(test_bencode_rejects_malformed_ints),
        UNIT(test_bencode_rejects_negative_length),
        UNIT(test_bencode_rejects_length_beyond_data),
        UNIT(test_bencode_rejects_string_without_colon),
        UNIT(test_bencode_rejects_unsorted_keys),
        UNIT(test_bencode_rejects_duplicate_keys),
        UNIT(test_bencode_sorts_keys_as_raw_bytes),
        UNIT(test_bencode_rejects_non_string_keys),
        UNIT(test_bencode_rejects_dict_key_without_value),
        UNIT(test_bencode_limits_nesting_depth),
        UNIT(test_bencode_survives_very_deep_nesting),
        UNIT(test_bencode_limits_element_count),
        UNIT(test_bencode_rejects_every_truncation),
        UNIT(test_bencode_rejects_trailing_garbage),
        UNIT(test_bencode_rejects_unknown_types),
        UNIT(test_bencode_reads_strings_with_nul_bytes),
        UNIT(test_bencode_writer_writes_canonical_message),
        UNIT(test_bencode_writer_writes_int_extremes),
        UNIT(test_bencode_writer_error_is_sticky),
        UNIT(test_bencode_writer_fills_buffer_exactly),
        UNIT(test_bencode_written_message_parses_back),
    };
    return unit_run("dht_bencode", tests, sizeof(tests) / sizeof(tests[0]));
}
