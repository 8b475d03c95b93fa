#include "addr.h"
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>

/* Parses `text` and formats it back with addr_format; "" when parsing failed. */
static const char *roundtrip(const char *text, uint16_t default_port)
{
    static char buf[ADDR_TEXT_MAX];
    struct addr a;

    if (addr_parse(text, default_port, &a) != 0) {
        return "";
    }
    return addr_format(&a, buf, sizeof(buf));
}

static struct addr parsed(const char *text)
{
    struct addr a;

    memset(&a, 0, sizeof(a));
    CHECK_INT(addr_parse(text, 53, &a), 0);
    return a;
}

static void test_addr_parses_v4_with_default_port(void)
{
    struct addr a = parsed("192.0.2.1");
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&a.sa;

    CHECK_INT(a.sa.ss_family, AF_INET);
    CHECK_INT(a.len, sizeof(struct sockaddr_in));
    CHECK_INT(ntohl(sin->sin_addr.s_addr), 0xc0000201);
    CHECK_INT(addr_port(&a), 53);
}

static void test_addr_parses_v4_with_colon_and_hash_ports(void)
{
    CHECK_STR(roundtrip("192.0.2.1:5301", 53), "192.0.2.1:5301");
    CHECK_STR(roundtrip("192.0.2.1#5301", 53), "192.0.2.1:5301");
    CHECK_STR(roundtrip("0.0.0.0:0", 53), "0.0.0.0:0");
    CHECK_STR(roundtrip("255.255.255.255:65535", 53), "255.255.255.255:65535");
}

static void test_addr_parses_bare_and_bracketed_v6(void)
{
    struct addr a = parsed("2001:db8::1");

    CHECK_INT(a.sa.ss_family, AF_INET6);
    CHECK_INT(a.len, sizeof(struct sockaddr_in6));
    CHECK_STR(roundtrip("2001:db8::1", 53), "[2001:db8::1]:53");
    CHECK_STR(roundtrip("::1", 5300), "[::1]:5300");
    CHECK_STR(roundtrip("[::1]", 5300), "[::1]:5300");
    CHECK_STR(roundtrip("[::1]:5301", 53), "[::1]:5301");
    CHECK_STR(roundtrip("::1#5301", 53), "[::1]:5301");
    CHECK_STR(roundtrip("::", 53), "[::]:53");
    CHECK_STR(roundtrip("::ffff:192.0.2.1", 53), "[::ffff:192.0.2.1]:53");
}

static void test_addr_parses_scope_by_name_and_number(void)
{
    unsigned lo = if_nametoindex("lo");
    char text[32];
    struct addr by_name = parsed("fe80::1%lo");
    struct addr by_number;

    CHECK(lo != 0);
    CHECK_INT(((const struct sockaddr_in6 *)&by_name.sa)->sin6_scope_id, lo);
    snprintf(text, sizeof(text), "fe80::1%%%u", lo);
    by_number = parsed(text);
    CHECK(addr_equal(&by_name, &by_number));
    CHECK_STR(roundtrip("fe80::1%lo", 53), "[fe80::1%lo]:53");
    CHECK_STR(roundtrip("[fe80::1%lo]:853", 53), "[fe80::1%lo]:853");
    CHECK_STR(roundtrip("fe80::1%lo#853", 53), "[fe80::1%lo]:853");
}

static void test_addr_formats_unknown_scope_as_number(void)
{
    CHECK_STR(roundtrip("fe80::1%4000000000", 53), "[fe80::1%4000000000]:53");
}

static void test_addr_rejects_malformed_text(void)
{
    static const char *const bad[] = {
        "",
        "1.2.3",
        "1.2.3.4.5",
        "1.2.3.4:",
        "1.2.3.4#",
        "1.2.3.4:70000",
        "1.2.3.4:65536",
        "1.2.3.4:123456",
        "1.2.3.4:-1",
        "1.2.3.4:+53",
        "1.2.3.4: 53",
        " 1.2.3.4",
        "1.2.3.4 ",
        "1.2.3.4:53x",
        "1.2.3.4x",
        "256.1.1.1",
        "[::1",
        "::1]:53",
        "[::1]53",
        "[::1]:",
        "[::1]#53",
        "[1.2.3.4]:53",
        "[]",
        ":53",
        "#53",
        "::1::2",
        "fe80::1%",
        "fe80::1%no-such-interface0",
        "1.2.3.4%lo",
        "localhost",
        "localhost:53",
        "dns.example.com#53",
    };
    struct addr a;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (addr_parse(bad[i], 53, &a) != -EINVAL) {
            fprintf(stderr, "  accepted \"%s\"\n", bad[i]);
            unit_failures_in_test++;
        }
    }
    CHECK_INT(addr_parse(NULL, 53, &a), -EINVAL);
}

static void test_addr_format_ip_leaves_out_the_port(void)
{
    char buf[ADDR_TEXT_MAX];
    struct addr v4 = parsed("192.0.2.1:99");
    struct addr v6 = parsed("[2001:db8::2]:99");
    struct addr unset;

    memset(&unset, 0, sizeof(unset));
    CHECK_STR(addr_format_ip(&v4, buf, sizeof(buf)), "192.0.2.1");
    CHECK_STR(addr_format_ip(&v6, buf, sizeof(buf)), "2001:db8::2");
    CHECK_STR(addr_format(&unset, buf, sizeof(buf)), "(none)");
}

static void test_addr_format_truncates_to_the_buffer(void)
{
    char buf[8];
    struct addr v4 = parsed("192.0.2.1:5301");

    CHECK_STR(addr_format(&v4, buf, sizeof(buf)), "192.0.2");
}

static void test_addr_formats_widest_v6_with_numeric_scope(void)
{
    char buf[ADDR_TEXT_MAX];
    struct addr a = parsed("[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255%4294967295]:65535");

    CHECK_STR(addr_format(&a, buf, sizeof(buf)),
              "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535");
}

static void test_addr_from_sockaddr_copies_v4_and_v6(void)
{
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
    struct sockaddr_storage other;
    struct addr a;
    char buf[ADDR_TEXT_MAX];

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(5300);
    sin.sin_addr.s_addr = htonl(0x7f000001);
    CHECK_INT(addr_from_sockaddr((struct sockaddr *)&sin, sizeof(sin), &a), 0);
    CHECK_STR(addr_format(&a, buf, sizeof(buf)), "127.0.0.1:5300");

    memset(&sin6, 0, sizeof(sin6));
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(53);
    sin6.sin6_addr = in6addr_loopback;
    CHECK_INT(addr_from_sockaddr((struct sockaddr *)&sin6, sizeof(sin6), &a), 0);
    CHECK_STR(addr_format(&a, buf, sizeof(buf)), "[::1]:53");

    CHECK_INT(addr_from_sockaddr((struct sockaddr *)&sin6, sizeof(sin), &a), -EINVAL);
    memset(&other, 0, sizeof(other));
    other.ss_family = AF_UNIX;
    CHECK_INT(addr_from_sockaddr((struct sockaddr *)&other, sizeof(other), &a), -EAFNOSUPPORT);
}

static void test_addr_equal_compares_family_address_port_and_scope(void)
{
    struct addr a = parsed("192.0.2.1:53");
    struct addr same = parsed("192.0.2.1#53");
    struct addr other_port = parsed("192.0.2.1:54");
    struct addr other_ip = parsed("192.0.2.2:53");
    struct addr mapped = parsed("[::ffff:192.0.2.1]:53");
    struct addr scoped = parsed("[fe80::1%lo]:53");
    struct addr unscoped = parsed("[fe80::1]:53");

    CHECK(addr_equal(&a, &same));
    CHECK(!addr_equal(&a, &other_port));
    CHECK(addr_equal_ip(&a, &other_port));
    CHECK(!addr_equal(&a, &other_ip));
    CHECK(!addr_equal_ip(&a, &other_ip));
    CHECK(!addr_equal_ip(&a, &mapped));
    CHECK(!addr_equal(&scoped, &unscoped));
    CHECK(addr_equal(&scoped, &scoped));
}

static void test_addr_recognises_loopback(void)
{
    struct addr yes[] = {parsed("127.0.0.1"), parsed("127.255.0.9"), parsed("::1"),
                         parsed("::ffff:127.0.0.2")};
    struct addr no[] = {parsed("128.0.0.1"), parsed("::2"), parsed("::ffff:10.0.0.1"),
                        parsed("0.0.0.0")};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        CHECK(addr_is_loopback(&yes[i]));
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        CHECK(!addr_is_loopback(&no[i]));
    }
}

static void test_addr_recognises_any(void)
{
    struct addr v4 = parsed("0.0.0.0:53");
    struct addr v6 = parsed("[::]:53");
    struct addr host = parsed("0.0.0.1");
    struct addr unset;

    memset(&unset, 0, sizeof(unset));
    CHECK(addr_is_any(&v4));
    CHECK(addr_is_any(&v6));
    CHECK(!addr_is_any(&host));
    CHECK(!addr_is_any(&unset));
}

static void test_addr_set_port_changes_only_the_port(void)
{
    struct addr a = parsed("[2001:db8::1]:53");
    char buf[ADDR_TEXT_MAX];

    addr_set_port(&a, 5353);
    CHECK_INT(addr_port(&a), 5353);
    CHECK_STR(addr_format(&a, buf, sizeof(buf)), "[2001:db8::1]:5353");
}

static struct addr_prefix prefix(const char *text)
{
    struct addr_prefix p;

    memset(&p, 0, sizeof(p));
    CHECK_INT(addr_prefix_parse(text, &p), 0);
    return p;
}

static bool matches(const struct addr_prefix *p, const char *text)
{
    struct addr a = parsed(text);

    return addr_prefix_match(p, &a);
}

static void test_addr_prefix_parses_lengths_and_hosts(void)
{
    struct addr_prefix p = prefix("10.0.0.0/8");

    CHECK_INT(p.family, AF_INET);
    CHECK_INT(p.bits, 8);
    CHECK_INT(p.bytes[0], 10);
    p = prefix("192.168.1.1");
    CHECK_INT(p.bits, 32);
    p = prefix("::1");
    CHECK_INT(p.family, AF_INET6);
    CHECK_INT(p.bits, 128);
    p = prefix("2001:db8::/32");
    CHECK_INT(p.bits, 32);
    p = prefix("0.0.0.0/0");
    CHECK_INT(p.bits, 0);
    p = prefix("::/0");
    CHECK_INT(p.bits, 0);
}

static void test_addr_prefix_rejects_host_bits_and_bad_lengths(void)
{
    static const char *const bad[] = {
        "10.0.0.1/8",
        "10.0.0.0/33",
        "::1/127",
        "::/129",
        "10.0.0.0/",
        "10.0.0.0/8x",
        "10.0.0.0/-1",
        "/8",
        "10.0.0/8",
        "10.0.0.0/0008",
        "",
        "fe80::/10 ",
        "[::1]/128",
        "fe80::1%lo/128",
        "10.0.0.0/+8",
    };
    struct addr_prefix p;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (addr_prefix_parse(bad[i], &p) != -EINVAL) {
            fprintf(stderr, "  accepted \"%s\"\n", bad[i]);
            unit_failures_in_test++;
        }
    }
}

static void test_addr_prefix_matches_inside_only(void)
{
    struct addr_prefix net = prefix("192.168.0.0/16");
    struct addr_prefix odd = prefix("10.128.0.0/9");
    struct addr inside = parsed("192.168.200.1");
    struct addr outside = parsed("192.169.0.1");

    CHECK(addr_prefix_match(&net, &inside));
    CHECK(!addr_prefix_match(&net, &outside));
    CHECK(matches(&odd, "10.255.0.1"));
    CHECK(!matches(&odd, "10.127.0.1"));
}

static void test_addr_prefix_zero_matches_its_family(void)
{
    struct addr_prefix all4 = prefix("0.0.0.0/0");
    struct addr_prefix all6 = prefix("::/0");
    struct addr v4 = parsed("203.0.113.9");
    struct addr v6 = parsed("2001:db8::9");

    CHECK(addr_prefix_match(&all4, &v4));
    CHECK(!addr_prefix_match(&all4, &v6));
    CHECK(addr_prefix_match(&all6, &v6));
    CHECK(!addr_prefix_match(&all6, &v4));
}

static void test_addr_prefix_host_lengths_match_one_address(void)
{
    struct addr_prefix host4 = prefix("203.0.113.9/32");
    struct addr_prefix host6 = prefix("2001:db8::9/128");

    CHECK(matches(&host4, "203.0.113.9:1234"));
    CHECK(!matches(&host4, "203.0.113.8"));
    CHECK(matches(&host6, "[2001:db8::9]:1234"));
    CHECK(!matches(&host6, "2001:db8::8"));
}

static void test_addr_prefix_matches_v4_mapped_v6_against_v4(void)
{
    struct addr_prefix lan = prefix("10.0.0.0/8");
    struct addr_prefix mapped_net = prefix("::ffff:10.0.0.0/104");
    struct addr mapped = parsed("::ffff:10.1.2.3");
    struct addr mapped_outside = parsed("::ffff:11.1.2.3");
    struct addr plain_v6 = parsed("::a01:203"); /* 10.1.2.3 in the last 32 bits, not mapped */

    CHECK(addr_prefix_match(&lan, &mapped));
    CHECK(!addr_prefix_match(&lan, &mapped_outside));
    CHECK(!addr_prefix_match(&lan, &plain_v6));
    CHECK(addr_prefix_match(&mapped_net, &mapped));
    CHECK(!matches(&mapped_net, "10.1.2.3"));
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_addr_parses_v4_with_default_port),
        UNIT(test_addr_parses_v4_with_colon_and_hash_ports),
        UNIT(test_addr_parses_bare_and_bracketed_v6),
        UNIT(test_addr_parses_scope_by_name_and_number),
        UNIT(test_addr_formats_unknown_scope_as_number),
        UNIT(test_addr_rejects_malformed_text),
        UNIT(test_addr_format_ip_leaves_out_the_port),
        UNIT(test_addr_format_truncates_to_the_buffer),
        UNIT(test_addr_formats_widest_v6_with_numeric_scope),
        UNIT(test_addr_from_sockaddr_copies_v4_and_v6),
        UNIT(test_addr_equal_compares_family_address_port_and_scope),
        UNIT(test_addr_recognises_loopback),
        UNIT(test_addr_recognises_any),
        UNIT(test_addr_set_port_changes_only_the_port),
        UNIT(test_addr_prefix_parses_lengths_and_hosts),
        UNIT(test_addr_prefix_rejects_host_bits_and_bad_lengths),
        UNIT(test_addr_prefix_matches_inside_only),
        UNIT(test_addr_prefix_zero_matches_its_family),
        UNIT(test_addr_prefix_host_lengths_match_one_address),
        UNIT(test_addr_prefix_matches_v4_mapped_v6_against_v4),
    };
    return unit_run("addr", tests, sizeof(tests) / sizeof(tests[0]));
}
