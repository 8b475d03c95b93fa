#include "dns_name.h"
#include "unit.h"

#include <errno.h>

static void test_name_from_text_and_back(void)
{
    uint8_t wire[DNS_NAME_MAX];
    size_t len;
    char text[DNS_NAME_TEXT_MAX];

    CHECK_INT(dns_name_from_text("www.Example.com", wire, &len), 0);
    CHECK_INT(len, 17);
    CHECK_MEM(wire, "\3www\7Example\3com\0", 17);
    CHECK_INT(dns_name_to_text(wire, len, text, sizeof(text)), 16);
    CHECK_STR(text, "www.Example.com.");

    CHECK_INT(dns_name_from_text("www.example.com.", wire, &len), 0);
    CHECK_INT(len, 17);
}

static void test_name_root(void)
{
    uint8_t wire[DNS_NAME_MAX];
    size_t len;
    char text[8];

    CHECK_INT(dns_name_from_text(".", wire, &len), 0);
    CHECK_INT(len, 1);
    CHECK_INT(dns_name_to_text(wire, len, text, sizeof(text)), 1);
    CHECK_STR(text, ".");
}

static void test_name_from_text_rejects_bad_names(void)
{
    uint8_t wire[DNS_NAME_MAX];
    size_t len;
    char label64[80], long_name[400];

    CHECK_INT(dns_name_from_text("", wire, &len), -EINVAL);
    CHECK_INT(dns_name_from_text("a..b", wire, &len), -EINVAL);
    CHECK_INT(dns_name_from_text(".a", wire, &len), -EINVAL);
    CHECK_INT(dns_name_from_text("a\\", wire, &len), -EINVAL);
    CHECK_INT(dns_name_from_text("a\\25", wire, &len), -EINVAL);
    CHECK_INT(dns_name_from_text("a\\256", wire, &len), -EINVAL);

    memset(label64, 'a', 64);
    label64[64] = '\0';
    CHECK_INT(dns_name_from_text(label64, wire, &len), -EINVAL);
    label64[63] = '\0';
    CHECK_INT(dns_name_from_text(label64, wire, &len), 0);

    /* 4 labels of 63 plus dots: 4 * 64 + 1 = 257 octets on the wire, over 255. */
    snprintf(long_name, sizeof(long_name), "%s.%s.%s.%s", label64, label64, label64, label64);
    CHECK_INT(dns_name_from_text(long_name, wire, &len), -EINVAL);
}

static void test_name_escapes(void)
{
    uint8_t wire[DNS_NAME_MAX];
    size_t len;
    char text[DNS_NAME_TEXT_MAX];

    CHECK_INT(dns_name_from_text("a\\.b.c\\032d", wire, &len), 0);
    CHECK_INT(len, 9);
    CHECK_MEM(wire, "\3a.b\3c d", 9);
    CHECK_INT(dns_name_to_text(wire, len, text, sizeof(text)), 12);
    CHECK_STR(text, "a\\.b.c\\032d.");
}

static void test_name_to_text_reports_small_buffer(void)
{
    uint8_t wire[DNS_NAME_MAX];
    size_t len;
    char text[6];

    CHECK_INT(dns_name_from_text("example.com", wire, &len), 0);
    CHECK_INT(dns_name_to_text(wire, len, text, sizeof(text)), -ENOSPC);
}

static void test_name_equal_ignores_ascii_case(void)
{
    CHECK(dns_name_equal((const uint8_t *)"\3WwW\0", 5, (const uint8_t *)"\3www\0", 5));
    CHECK(!dns_name_equal((const uint8_t *)"\3wwx\0", 5, (const uint8_t *)"\3www\0", 5));
    CHECK(!dns_name_equal((const uint8_t *)"\3www\0", 5, (const uint8_t *)"\2ww\0", 4));
}

static void test_name_labels(void)
{
    const uint8_t *name = (const uint8_t *)"\3www\7example\3com\0";
    const uint8_t *label;
    size_t label_len;

    CHECK_INT(dns_name_label_count(name, 17), 3);
    CHECK_INT(dns_name_label_count((const uint8_t *)"\0", 1), 0);
    CHECK_INT(dns_name_label_from_end(name, 17, 0, &label, &label_len), 0);
    CHECK_INT(label_len, 3);
    CHECK_MEM(label, "com", 3);
    CHECK_INT(dns_name_label_from_end(name, 17, 2, &label, &label_len), 0);
    CHECK_MEM(label, "www", 3);
    CHECK_INT(dns_name_label_from_end(name, 17, 3, &label, &label_len), -ENOENT);
}

static void test_name_is_under_respects_label_boundaries(void)
{
    const uint8_t *zone = (const uint8_t *)"\7example\3com\0";

    CHECK(dns_name_is_under((const uint8_t *)"\3www\7example\3com\0", 17, zone, 13));
    CHECK(dns_name_is_under((const uint8_t *)"\7EXAMPLE\3com\0", 13, zone, 13));
    CHECK(!dns_name_is_under((const uint8_t *)"\10xexample\3com\0", 14, zone, 13));
    CHECK(!dns_name_is_under((const uint8_t *)"\3com\0", 5, zone, 13));
    CHECK(dns_name_is_under((const uint8_t *)"\3com\0", 5, (const uint8_t *)"\0", 1));
}

/* Hostile encodings: each must fail cleanly rather than loop or read past the end. */

static void test_name_read_follows_backward_pointer(void)
{
    /* offset 0: "example.com", offset 13: "www" + pointer to 0 */
    const uint8_t msg[] = "\7example\3com\0\3www\xc0\x00";
    uint8_t out[DNS_NAME_MAX];
    size_t len, pos = 13;

    CHECK_INT(dns_name_read(msg, sizeof(msg) - 1, &pos, out, &len), 0);
    CHECK_INT(pos, 19);
    CHECK_INT(len, 17);
    CHECK_MEM(out, "\3www\7example\3com\0", 17);
}

static void test_name_read_rejects_pointer_to_itself(void)
{
    const uint8_t msg[] = {0xc0, 0x00};
    size_t pos = 0;

    CHECK_INT(dns_name_read(msg, sizeof(msg), &pos, NULL, NULL), -EBADMSG);
}

static void test_name_read_rejects_forward_pointer(void)
{
    const uint8_t msg[] = {0xc0, 0x02, 0x00};
    size_t pos = 0;

    CHECK_INT(dns_name_read(msg, sizeof(msg), &pos, NULL, NULL), -EBADMSG);
}

static void test_name_read_rejects_pointer_loop(void)
{
    /* offset 0: label "a" then pointer to 4; offset 4: pointer back to 0. */
    const uint8_t msg[] = {1, 'a', 0xc0, 0x04, 0xc0, 0x00};
    size_t pos = 4;

    CHECK_INT(dns_name_read(msg, sizeof(msg), &pos, NULL, NULL), -EBADMSG);
    pos = 0;
    CHECK_INT(dns_name_read(msg, sizeof(msg), &pos, NULL, NULL), -EBADMSG);
}

static void test_name_read_rejects_truncation_everywhere(void)
{
    const uint8_t msg[] = "\3www\7example\3com\0";

    for (size_t cut = 0; cut < 17; cut++) {
        size_t pos = 0;
        CHECK_INT(dns_name_read(msg, cut, &pos, NULL, NULL), -EBADMSG);
    }
}

static void test_name_read_rejects_overlong_label_and_name(void)
{
    uint8_t msg[600];
    size_t pos = 0;

    /* A 64-octet label: the length octet 0x40 is a reserved label type. */
    memset(msg, 'a', sizeof(msg));
    msg[0] = 64;
    msg[65] = 0;
    CHECK_INT(dns_name_read(msg, 66, &pos, NULL, NULL), -EBADMSG);

    /* Five labels of 63: 321 octets, over the 255 limit. */
    for (size_t i = 0; i < 5; i++) {
        msg[i * 64] = 63;
    }
    msg[320] = 0;
    pos = 0;
    CHECK_INT(dns_name_read(msg, 321, &pos, NULL, NULL), -EBADMSG);
}

static void test_name_read_rejects_long_name_built_from_pointers(void)
{
    /* Labels of 63 octets chained by backward pointers: each piece is legal, the whole is
     * over 255 octets. */
    uint8_t msg[400];
    size_t at = 0, starts[5];

    starts[0] = at;
    msg[at++] = 63;
    memset(msg + at, 'x', 63);
    at += 63;
    msg[at++] = 0;
    for (size_t i = 1; i < 5; i++) {
        starts[i] = at;
        msg[at++] = 63;
        memset(msg + at, 'y', 63);
        at += 63;
        msg[at++] = (uint8_t)(0xc0 | starts[i - 1] >> 8);
        msg[at++] = (uint8_t)starts[i - 1];
    }
    size_t pos = starts[3]; /* 4 labels of 63 + root: 257 octets */
    CHECK_INT(dns_name_read(msg, at, &pos, NULL, NULL), -EBADMSG);
    pos = starts[2]; /* 3 labels: 193 octets, fine */
    CHECK_INT(dns_name_read(msg, at, &pos, NULL, NULL), 0);
}

static void test_name_read_rejects_reserved_label_types(void)
{
    const uint8_t ext[] = {0x41, 0x00, 0x00};
    const uint8_t bin[] = {0x81, 0x00, 0x00};
    size_t pos = 0;

    CHECK_INT(dns_name_read(ext, sizeof(ext), &pos, NULL, NULL), -EBADMSG);
    pos = 0;
    CHECK_INT(dns_name_read(bin, sizeof(bin), &pos, NULL, NULL), -EBADMSG);
}

static void test_name_read_rejects_half_pointer(void)
{
    const uint8_t msg[] = {0, 0xc0};
    size_t pos = 1;

    CHECK_INT(dns_name_read(msg, sizeof(msg), &pos, NULL, NULL), -EBADMSG);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_name_from_text_and_back),
        UNIT(test_name_root),
        UNIT(test_name_from_text_rejects_bad_names),
        UNIT(test_name_escapes),
        UNIT(test_name_to_text_reports_small_buffer),
        UNIT(test_name_equal_ignores_ascii_case),
        UNIT(test_name_labels),
        UNIT(test_name_is_under_respects_label_boundaries),
        UNIT(test_name_read_follows_backward_pointer),
        UNIT(test_name_read_rejects_pointer_to_itself),
        UNIT(test_name_read_rejects_forward_pointer),
        UNIT(test_name_read_rejects_pointer_loop),
        UNIT(test_name_read_rejects_truncation_everywhere),
        UNIT(test_name_read_rejects_overlong_label_and_name),
        UNIT(test_name_read_rejects_long_name_built_from_pointers),
        UNIT(test_name_read_rejects_reserved_label_types),
        UNIT(test_name_read_rejects_half_pointer),
    };
    return unit_run("dns_name", tests, sizeof(tests) / sizeof(tests[0]));
}
