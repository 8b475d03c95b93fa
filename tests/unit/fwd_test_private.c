#include "dns.h"
#include "dns_name.h"
#include "fwd_private.h"
#include "unit.h"

/* Which questions domain-needed and bogus-priv keep from the upstream servers. */

static bool plain(const char *text, uint16_t qtype)
{
    uint8_t name[DNS_NAME_MAX];
    size_t len;

    CHECK_INT(dns_name_from_text(text, name, &len), 0);
    return fwd_private_plain_name(name, len, qtype);
}

static bool reverse(const char *text, uint16_t qtype)
{
    uint8_t name[DNS_NAME_MAX];
    size_t len;

    CHECK_INT(dns_name_from_text(text, name, &len), 0);
    return fwd_private_reverse(name, len, qtype);
}

static void test_plain_names_are_kept_for_a_aaaa_and_any(void)
{
    CHECK(plain("printer.", DNS_TYPE_A));
    CHECK(plain("printer", DNS_TYPE_AAAA));
    CHECK(plain("PRINTER.", DNS_TYPE_ANY));
    CHECK(!plain("printer.", DNS_TYPE_MX));
    CHECK(!plain("printer.", DNS_TYPE_TXT));
    CHECK(!plain("printer.lan.", DNS_TYPE_A));
    CHECK(!plain(".", DNS_TYPE_A));
}

static void test_reverse_names_of_private_ipv4_ranges_are_kept(void)
{
    CHECK(reverse("1.0.168.192.in-addr.arpa.", DNS_TYPE_PTR));
    CHECK(reverse("4.3.2.10.in-addr.arpa.", DNS_TYPE_PTR));
    CHECK(reverse("1.1.16.172.in-addr.arpa.", DNS_TYPE_PTR));
    CHECK(reverse("1.1.31.172.in-addr.arpa.", DNS_TYPE_PTR));
    CHECK(reverse("1.0.0.127.in-addr.arpa.", DNS_TYPE_ANY));
    CHECK(reverse("9.9.254.169.in-addr.arpa.", DNS_TYPE_PTR));
    CHECK(reverse("1.0.0.0.in-addr.arpa.", DNS_TYPE_PTR));
    CHECK(reverse("7.2.0.192.in-addr.arpa.", DNS_TYPE_PTR));
    CHECK(reverse("7.100.51.198.in-addr.arpa.", DNS_TYPE_PTR));
    CHECK(reverse("7.113.0.203.in-addr.arpa.", DNS_TYPE_PTR));
    CHECK(reverse("255.255.255.255.IN-ADDR.ARPA.", DNS_TYPE_PTR));
}

static void test_public_ipv4_and_other_types_go_upstream(void)
{
    CHECK(!reverse("8.8.8.8.in-addr.arpa.", DNS_TYPE_PTR));
    CHECK(!reverse("1.1.15.172.in-addr.arpa.", DNS_TYPE_PTR));
    CHECK(!reverse("1.1.32.172.in-addr.arpa.", DNS_TYPE_PTR));
    CHECK(!reverse("1.1.64.100.in-addr.arpa.", DNS_TYPE_PTR)); /* shared space: dnsmasq too */
    CHECK(!reverse("1.0.168.192.in-addr.arpa.", DNS_TYPE_TXT));
    CHECK(!reverse("1.0.168.192.in-addr.arpa.", DNS_TYPE_NS));
    CHECK(!reverse("168.192.in-addr.arpa.", DNS_TYPE_SOA));
}

static void test_cut_short_reverse_names_stand_for_their_prefix(void)
{
    CHECK(reverse("168.192.in-addr.arpa.", DNS_TYPE_PTR));
    CHECK(reverse("16.172.in-addr.arpa.", DNS_TYPE_PTR));
    CHECK(reverse("10.in-addr.arpa.", DNS_TYPE_PTR));
    CHECK(!reverse("172.in-addr.arpa.", DNS_TYPE_PTR));
    CHECK(!reverse("192.in-addr.arpa.", DNS_TYPE_PTR));
    CHECK(reverse("d.f.ip6.arpa.", DNS_TYPE_PTR));
    CHECK(reverse("8.e.f.ip6.arpa.", DNS_TYPE_PTR));
    CHECK(!reverse("e.f.ip6.arpa.", DNS_TYPE_PTR));
}

static void test_names_that_are_not_reverse_addresses_go_upstream(void)
{
    CHECK(!reverse("x.1.0.168.192.in-addr.arpa.", DNS_TYPE_PTR));
    CHECK(!reverse("5.1.0.168.192.in-addr.arpa.", DNS_TYPE_PTR)); /* five octets */
    CHECK(!reverse("256.0.168.192.in-addr.arpa.", DNS_TYPE_PTR));
    CHECK(!reverse("1000.0.168.192.in-addr.arpa.", DNS_TYPE_PTR));
    CHECK(!reverse("in-addr.arpa.", DNS_TYPE_PTR));
    CHECK(!reverse("arpa.", DNS_TYPE_PTR));
    CHECK(!reverse("1.0.168.192.in-addr.example.", DNS_TYPE_PTR));
    CHECK(!reverse("10.d.f.ip6.arpa.", DNS_TYPE_PTR));
    CHECK(!reverse("g.d.f.ip6.arpa.", DNS_TYPE_PTR));
}

/* The ip6.arpa name of an address written as 32 hex digits. */
static const char *ip6_arpa(const char *hex32)
{
    static char text[128];
    size_t n = 0;

    for (int i = 31; i >= 0; i--) {
        text[n++] = hex32[i];
        text[n++] = '.';
    }
    snprintf(text + n, sizeof(text) - n, "ip6.arpa.");
    return text;
}

static void test_reverse_names_of_private_ipv6_ranges_are_kept(void)
{
    CHECK(reverse(ip6_arpa("00000000000000000000000000000000"), DNS_TYPE_PTR)); /* :: */
    CHECK(reverse(ip6_arpa("00000000000000000000000000000001"), DNS_TYPE_PTR)); /* ::1 */
    CHECK(reverse(ip6_arpa("fe800000000000000000000000000001"), DNS_TYPE_PTR));
    CHECK(reverse(ip6_arpa("FEBF0000000000000000000000000001"), DNS_TYPE_PTR));
    CHECK(reverse(ip6_arpa("fec00000000000000000000000000001"), DNS_TYPE_PTR));
    CHECK(reverse(ip6_arpa("fd120000000000000000000000000001"), DNS_TYPE_PTR));
    CHECK(reverse(ip6_arpa("20010db8000000000000000000000001"), DNS_TYPE_PTR));
    CHECK(reverse(ip6_arpa("00000000000000000000ffffc0a80101"), DNS_TYPE_PTR));
}

static void test_public_ipv6_goes_upstream(void)
{
    CHECK(!reverse(ip6_arpa("00000000000000000000000000000002"), DNS_TYPE_PTR)); /* ::2 */
    CHECK(!reverse(ip6_arpa("fc120000000000000000000000000001"), DNS_TYPE_PTR)); /* dnsmasq */
    CHECK(!reverse(ip6_arpa("20010db9000000000000000000000001"), DNS_TYPE_PTR));
    CHECK(!reverse(ip6_arpa("2a000000000000000000000000000001"), DNS_TYPE_PTR));
    CHECK(!reverse(ip6_arpa("00000000000000000000ffff08080808"), DNS_TYPE_PTR));
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_plain_names_are_kept_for_a_aaaa_and_any),
        UNIT(test_reverse_names_of_private_ipv4_ranges_are_kept),
        UNIT(test_public_ipv4_and_other_types_go_upstream),
        UNIT(test_cut_short_reverse_names_stand_for_their_prefix),
        UNIT(test_names_that_are_not_reverse_addresses_go_upstream),
        UNIT(test_reverse_names_of_private_ipv6_ranges_are_kept),
        UNIT(test_public_ipv6_goes_upstream),
    };
    return unit_run("fwd_private", tests, sizeof(tests) / sizeof(tests[0]));
}
