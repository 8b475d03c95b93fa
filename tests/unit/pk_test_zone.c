#include "dns_name.h"
#include "pk_seed.h"
#include "pk_zone.h"
#include "pkarr_name.h"
#include "unit.h"
#include "zbase32.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>

/* vectors.md: seed (hex) 292bbf... gives key 8qhdp5s8... */
#define SEED_HEX "292bbfb6a5bc1ec3f6d01a7c8e3fac1782d364ca41a1847497e9e3bc949dbb9a"
#define KEY_TEXT "8qhdp5s8jjmxmqam3bpg9kzeg7x8teztuwrfgxw5ikn9z5bt15uy"

static uint8_t key[PK_PACKET_KEY_LEN];
static struct pk_rr_set set;
static struct pk_zone_error err;

static int read_zone(const char *text)
{
    uint8_t seed[PK_SEED_LEN], sk[PK_PACKET_SECRET_LEN];

    CHECK_INT(pk_seed_parse(SEED_HEX, strlen(SEED_HEX), seed), 0);
    pk_seed_keypair(seed, key, sk);
    return pk_zone_read(text, strlen(text), key, &set, &err);
}

static const struct pk_rr *rr_at(size_t i)
{
    static const uint8_t zeros[512];
    static const struct pk_rr none = {.name = zeros, .name_len = 1, .rdata = zeros};

    CHECK(i < set.count);
    return i < set.count ? &set.rr[i] : &none;
}

/* The owner of record i as text, relative to the key ("." for the apex). */
static const char *owner(size_t i)
{
    static char text[DNS_NAME_TEXT_MAX];

    dns_name_to_text(rr_at(i)->name, rr_at(i)->name_len, text, sizeof(text));
    return text;
}

/* The name at offset `skip` of record i's RDATA, as text. */
static const char *target(size_t i, size_t skip)
{
    static char text[DNS_NAME_TEXT_MAX];

    dns_name_to_text(rr_at(i)->rdata + skip, rr_at(i)->rdlength - skip, text, sizeof(text));
    return text;
}

static void test_zone_has_an_implicit_origin_and_ttl(void)
{
    CHECK_INT(read_zone("@ IN A 127.0.0.1\nwww IN A 10.0.0.1\n"), 0);
    CHECK_INT(set.count, 2);
    CHECK_STR(owner(0), ".");
    CHECK_INT(rr_at(0)->ttl, 300);
    CHECK_INT(rr_at(0)->type, DNS_TYPE_A);
    CHECK_INT(rr_at(0)->rclass, DNS_CLASS_IN);
    CHECK_MEM(rr_at(0)->rdata, "\x7f\x00\x00\x01", 4);
    CHECK_STR(owner(1), "www.");
}

static void test_zone_takes_absolute_names_under_the_key(void)
{
    CHECK_INT(read_zone("www." KEY_TEXT ". A 10.0.0.1\n" KEY_TEXT ". A 10.0.0.2\n"), 0);
    CHECK_STR(owner(0), "www.");
    CHECK_STR(owner(1), ".");
}

static void test_zone_refuses_owners_outside_the_key(void)
{
    CHECK_INT(read_zone("@ A 1.1.1.1\n\nexample.com. A 10.0.0.1\n"), -EINVAL);
    CHECK_INT(err.line, 3);
    CHECK(strstr(err.message, "example.com. is not under the key") != NULL);
}

static void test_zone_ttl_and_class_come_in_either_order(void)
{
    CHECK_INT(read_zone("a 60 IN A 1.1.1.1\nb IN 1h30m A 1.1.1.1\nc 2d A 1.1.1.1\n"
                        "d IN A 1.1.1.1\n"),
              0);
    CHECK_INT(rr_at(0)->ttl, 60);
    CHECK_INT(rr_at(1)->ttl, 5400);
    CHECK_INT(rr_at(2)->ttl, 172800);
    CHECK_INT(rr_at(3)->ttl, 300);
}

static void test_zone_directives_change_ttl_and_origin(void)
{
    CHECK_INT(read_zone("$TTL 60\n"
                        "a A 1.1.1.1\n"
                        "$ORIGIN sub." KEY_TEXT ".\n"
                        "b A 1.1.1.1\n"
                        "@ A 1.1.1.1\n"),
              0);
    CHECK_INT(rr_at(0)->ttl, 60);
    CHECK_STR(owner(1), "b.sub.");
    CHECK_STR(owner(2), "sub.");
}

static void test_zone_relative_origin_extends_the_old_one(void)
{
    CHECK_INT(read_zone("$ORIGIN sub\nb A 1.1.1.1\n$ORIGIN deeper\n@ A 1.1.1.1\n"), 0);
    CHECK_STR(owner(0), "b.sub.");
    CHECK_STR(owner(1), "deeper.sub.");
}

static void test_zone_indented_line_keeps_the_last_owner(void)
{
    CHECK_INT(read_zone("www A 1.1.1.1\n      AAAA 2001:db8::1\n\tTXT hello\n"), 0);
    CHECK_INT(set.count, 3);
    CHECK_STR(owner(1), "www.");
    CHECK_INT(rr_at(1)->type, DNS_TYPE_AAAA);
    CHECK_INT(rr_at(1)->rdlength, 16);
    CHECK_STR(owner(2), "www.");
}

static void test_zone_indented_first_line_is_an_error(void)
{
    CHECK_INT(read_zone("; header\n  A 1.1.1.1\n"), -EINVAL);
    CHECK_INT(err.line, 2);
}

static void test_zone_names_in_rdata_become_absolute(void)
{
    CHECK_INT(read_zone("www CNAME web\n"
                        "ext CNAME example.com.\n"
                        "@ NS ns1.example.net.\n"
                        "@ MX 10 mail\n"
                        "_sip._tcp SRV 1 2 5060 sip.example.com.\n"
                        "rev PTR host\n"),
              0);
    CHECK_STR(target(0, 0), "web." KEY_TEXT ".");
    CHECK_STR(target(1, 0), "example.com.");
    CHECK_STR(target(2, 0), "ns1.example.net.");
    CHECK_MEM(rr_at(3)->rdata, "\x00\x0a", 2);
    CHECK_STR(target(3, 2), "mail." KEY_TEXT ".");
    CHECK_MEM(rr_at(4)->rdata, "\x00\x01\x00\x02\x13\xc4", 6);
    CHECK_STR(target(4, 6), "sip.example.com.");
    CHECK_STR(owner(4), "_sip._tcp.");
    CHECK_INT(rr_at(5)->type, DNS_TYPE_PTR);
}

static void test_zone_txt_takes_quoted_bare_and_escaped_strings(void)
{
    CHECK_INT(read_zone("a TXT hero=satoshi\n"
                        "b TXT \"key1=1\" \"key2=2\"\n"
                        "c TXT \"with space; and semicolon\" ; a comment\n"
                        "d TXT \"quote\\\" \\065\"\n"),
              0);
    CHECK_INT(rr_at(0)->rdlength, 13);
    CHECK_MEM(rr_at(0)->rdata, "\x0chero=satoshi", 13);
    CHECK_INT(rr_at(1)->rdlength, 14);
    CHECK_MEM(rr_at(1)->rdata, "\x06key1=1\x06key2=2", 14);
    CHECK_MEM(rr_at(2)->rdata, "\x19with space; and semicolon", 26);
    CHECK_MEM(rr_at(3)->rdata, "\x08quote\" A", 9);
}

static void test_zone_txt_string_over_255_bytes_is_an_error(void)
{
    char text[400];

    snprintf(text, sizeof(text), "a TXT \"%0300d\"\n", 0);
    CHECK_INT(read_zone(text), -EINVAL);
    CHECK(strstr(err.message, "longer than 255") != NULL);
}

static void test_zone_parentheses_continue_an_entry(void)
{
    CHECK_INT(read_zone("www ( 600 ; the TTL\n"
                        "      IN A\n"
                        "      192.0.2.1 )\n"
                        "next A 192.0.2.2\n"),
              0);
    CHECK_INT(set.count, 2);
    CHECK_INT(rr_at(0)->ttl, 600);
    CHECK_STR(owner(1), "next.");
}

static void test_zone_https_params_are_written_in_key_order(void)
{
    static const uint8_t want[] = {
        0x00, 0x01,                                                     /* SvcPriority */
        0x00,                                                           /* TargetName "." */
        0x00, 0x01, 0x00, 0x06, 0x02, 'h',  '2',  0x02, 'h', '3',       /* alpn=h2,h3 */
        0x00, 0x03, 0x00, 0x02, 0x01, 0xbb,                             /* port=443 */
        0x00, 0x04, 0x00, 0x08, 192,  0,    2,    1,    192, 0,   2, 2, /* ipv4hint */
        0x00, 0x06, 0x00, 0x10, 0x20, 0x01, 0x0d, 0xb8, 0,   0,   0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
    };

    CHECK_INT(read_zone("@ HTTPS 1 . ipv6hint=2001:db8::1 port=443 alpn=\"h2,h3\" "
                        "ipv4hint=192.0.2.1,192.0.2.2\n"),
              0);
    CHECK_STR(err.message, "");
    CHECK_INT(rr_at(0)->type, DNS_TYPE_HTTPS);
    CHECK_INT(rr_at(0)->rdlength, sizeof(want));
    CHECK_MEM(rr_at(0)->rdata, want, sizeof(want));
}

static void test_zone_svcb_takes_mandatory_and_no_default_alpn(void)
{
    static const uint8_t want[] = {
        0x00, 0x02, 3,    's',  'v',  'c',  7,    'e',  'x',  'a',  'm',
        'p',  'l',  'e',  0,    0x00, 0x00, 0x00, 0x02, 0x00, 0x01,       /* mandatory=alpn */
        0x00, 0x01, 0x00, 0x03, 0x02, 'h',  '2',  0x00, 0x02, 0x00, 0x00, /* no-default-alpn */
        0x01, 0xf4, 0x00, 0x02, 'h',  'i',                                /* key500=hi */
    };

    CHECK_INT(read_zone("_x SVCB 2 svc.example. key500=hi no-default-alpn alpn=h2 "
                        "mandatory=alpn\n"),
              0);
    CHECK_INT(rr_at(0)->rdlength, sizeof(want));
    CHECK_MEM(rr_at(0)->rdata, want, sizeof(want));
}

static void test_zone_bad_svcparams_are_errors(void)
{
    CHECK_INT(read_zone("@ HTTPS 1 . port=443 port=444\n"), -EINVAL);
    CHECK(strstr(err.message, "given twice") != NULL);
    CHECK_INT(read_zone("@ HTTPS 1 . colour=blue\n"), -EINVAL);
    CHECK(strstr(err.message, "unknown SvcParam 'colour'") != NULL);
    CHECK_INT(read_zone("@ HTTPS 1 . no-default-alpn=x\n"), -EINVAL);
    CHECK_INT(read_zone("@ HTTPS 1 . ipv4hint=::1\n"), -EINVAL);
}

static void test_zone_errors_name_their_line(void)
{
    CHECK_INT(read_zone("a A 1.1.1.1\n\n; note\nb A 300.1.1.1\n"), -EINVAL);
    CHECK_INT(err.line, 4);
    CHECK(strstr(err.message, "'300.1.1.1' is not an IPv4 address") != NULL);

    CHECK_INT(read_zone("a A 1.1.1.1\nb LOC 1 2 3\n"), -EINVAL);
    CHECK_INT(err.line, 2);
    CHECK(strstr(err.message, "unsupported record type 'LOC'") != NULL);

    CHECK_INT(read_zone("a TXT \"open\n"), -EINVAL);
    CHECK_INT(err.line, 1);
    CHECK(strstr(err.message, "closing quote") != NULL);

    CHECK_INT(read_zone("a CH TXT x\n"), -EINVAL);
    CHECK(strstr(err.message, "class IN") != NULL);

    CHECK_INT(read_zone("a MX mail\n"), -EINVAL);
    CHECK_INT(read_zone("a ( A 1.1.1.1\n"), -EINVAL);
    CHECK_INT(read_zone("$INCLUDE other.zone\n"), -EINVAL);
    CHECK_INT(read_zone("a\n"), -EINVAL);
}

static void test_zone_over_996_bytes_is_refused_with_its_size(void)
{
    char text[8192];
    size_t n = 0;

    for (int i = 0; i < 20; i++) {
        n += (size_t)snprintf(text + n, sizeof(text) - n, "t%d TXT \"%040d\"\n", i, i);
    }
    CHECK_INT(read_zone(text), -EINVAL);
    CHECK_INT(err.line, 0);
    CHECK(strstr(err.message, "a pkarr packet holds 996") != NULL);
    CHECK(strstr(err.message, "DNS message of 1") != NULL);
}

static void test_zone_like_the_rust_cli_sample_makes_nine_records(void)
{
    CHECK_INT(read_zone("\n"
                        "@\tIN\tNS\tdns1.example.com.\n"
                        "@ 400\tIN\tNS\tdns2.example.com.\n"
                        "\t\n"
                        "@ 301\tIN\tMX\t10\tmail.example.com.\n"
                        "@\tIN\tMX\t20\tmail2.example.com.\n"
                        "@   IN  A 127.0.0.1\n"
                        "test   IN  A 127.0.0.1\n"
                        "dns1\tIN\tA\t10.0.1.1\n"
                        "dns2\tIN\tA\t10.0.1.2\n"
                        "text    IN  TXT  hero=satoshi \n"),
              0);
    CHECK_INT(set.count, 9);
    CHECK_INT(rr_at(1)->ttl, 400);
    CHECK_INT(rr_at(2)->ttl, 301);
}

static void test_zone_records_sign_into_a_packet_that_decodes(void)
{
    static struct pk_packet p;
    uint8_t seed[PK_SEED_LEN], pk[PK_PACKET_KEY_LEN], sk[PK_PACKET_SECRET_LEN];
    uint8_t msg[1024], packet[PK_PACKET_MAX];
    int n;

    CHECK_INT(read_zone("@ A 1.2.3.4\nwww CNAME @\n"), 0);
    pk_seed_parse(SEED_HEX, strlen(SEED_HEX), seed);
    pk_seed_keypair(seed, pk, sk);
    n = pk_packet_build_message(&set, pk, msg, sizeof(msg));
    n = pk_packet_sign(sk, 1, msg, (size_t)n, packet, sizeof(packet));
    CHECK_INT(pk_packet_decode(packet, (size_t)n, true, &p), 0);
    CHECK_INT(p.records.count, 2);
    CHECK_INT(p.records.rr[1].rdlength, 54);
}

/* ---- seeds ---- */

static void check_seed_gives_key(const char *seed_text, const char *key_text)
{
    uint8_t seed[PK_SEED_LEN], pk[PK_PACKET_KEY_LEN], sk[PK_PACKET_SECRET_LEN];
    char text[PKARR_KEY_TEXT_LEN + 1];

    CHECK_INT(pk_seed_parse(seed_text, strlen(seed_text), seed), 0);
    pk_seed_keypair(seed, pk, sk);
    zbase32_encode(pk, sizeof(pk), text, sizeof(text));
    CHECK_STR(text, key_text);
}

static void test_seed_in_hex_and_zbase32_give_the_vector_keys(void)
{
    check_seed_gives_key(SEED_HEX "\n", KEY_TEXT);
    check_seed_gives_key("a3kco17a6mqawd9jewgwijrd64gb1rmrer1zptxgire7buufk3hy",
                         "csjbhp9jpbomwh3m5eyrj1py41m8sjpkzzqmzpj5madsi7sc4mto");
    check_seed_gives_key("c654c84bb8f2dd8a0fe9450d4aa483f68c191164412576c5e6a911d0ce655678",
                         "csjbhp9jpbomwh3m5eyrj1py41m8sjpkzzqmzpj5madsi7sc4mto");
    check_seed_gives_key("  6kfe1u5jyqxg644eqfgk1cp4w9yjzwq51rn11ftysuo6xkpc64by\n",
                         "cb7xxx6wtqr5d6yqudkt47drqswxk57dzy3h7qj3udym5puy9cso");
}

static void test_seed_refuses_other_text(void)
{
    uint8_t seed[PK_SEED_LEN];

    CHECK_INT(pk_seed_parse("abc", 3, seed), -EINVAL);
    CHECK_INT(pk_seed_parse(SEED_HEX "00", strlen(SEED_HEX) + 2, seed), -EINVAL);
    char bad[] = SEED_HEX;
    bad[10] = 'z';
    CHECK_INT(pk_seed_parse(bad, strlen(bad), seed), -EINVAL);
    CHECK_INT(pk_seed_parse("!3kco17a6mqawd9jewgwijrd64gb1rmrer1zptxgire7buufk3hy", 52, seed),
              -EINVAL);
}

static void test_seed_prints_as_hex(void)
{
    uint8_t seed[PK_SEED_LEN];
    char hex[PK_SEED_HEX_LEN + 1];

    pk_seed_parse(SEED_HEX, strlen(SEED_HEX), seed);
    pk_seed_to_hex(seed, hex);
    CHECK_STR(hex, SEED_HEX);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_zone_has_an_implicit_origin_and_ttl),
        UNIT(test_zone_takes_absolute_names_under_the_key),
        UNIT(test_zone_refuses_owners_outside_the_key),
        UNIT(test_zone_ttl_and_class_come_in_either_order),
        UNIT(test_zone_directives_change_ttl_and_origin),
        UNIT(test_zone_relative_origin_extends_the_old_one),
        UNIT(test_zone_indented_line_keeps_the_last_owner),
        UNIT(test_zone_indented_first_line_is_an_error),
        UNIT(test_zone_names_in_rdata_become_absolute),
        UNIT(test_zone_txt_takes_quoted_bare_and_escaped_strings),
        UNIT(test_zone_txt_string_over_255_bytes_is_an_error),
        UNIT(test_zone_parentheses_continue_an_entry),
        UNIT(test_zone_https_params_are_written_in_key_order),
        UNIT(test_zone_svcb_takes_mandatory_and_no_default_alpn),
        UNIT(test_zone_bad_svcparams_are_errors),
        UNIT(test_zone_errors_name_their_line),
        UNIT(test_zone_over_996_bytes_is_refused_with_its_size),
        UNIT(test_zone_like_the_rust_cli_sample_makes_nine_records),
        UNIT(test_zone_records_sign_into_a_packet_that_decodes),
        UNIT(test_seed_in_hex_and_zbase32_give_the_vector_keys),
        UNIT(test_seed_refuses_other_text),
        UNIT(test_seed_prints_as_hex),
    };

    if (sodium_init() < 0) {
        return 1;
    }
    return unit_run("pk_zone", tests, sizeof(tests) / sizeof(tests[0]));
}
