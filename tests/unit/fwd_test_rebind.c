#include "dns.h"
#include "dns_msg.h"
#include "dns_name.h"
#include "dns_writer.h"
#include "fwd_rebind.h"
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>

/* stop-dns-rebind: which upstream answers give a private address, and what is left of them. */

static uint8_t msg[512];
static size_t msg_len;

/* An answer to "www.example.test A" of the records given as "cname:TARGET", "a:IPV4" or
 * "aaaa:IPV6", NULL-terminated. */
static void answer(const char *const *records)
{
    struct dns_writer w;
    struct dns_header h = {.id = 7, .flags = DNS_FLAG_QR | DNS_FLAG_RD | DNS_FLAG_RA, .qdcount = 1};
    uint8_t owner[DNS_NAME_MAX], target[DNS_NAME_MAX], addr[16];
    size_t owner_len, target_len;
    uint16_t n = 0;

    CHECK_INT(dns_name_from_text("www.example.test.", owner, &owner_len), 0);
    dns_writer_init(&w, msg, sizeof(msg));
    dns_writer_header(&w, &h);
    dns_writer_question(&w, owner, owner_len, DNS_TYPE_A, DNS_CLASS_IN);
    for (; records[n] != NULL; n++) {
        const char *r = records[n];
        size_t mark;
        if (strncmp(r, "cname:", 6) == 0) {
            CHECK_INT(dns_name_from_text(r + 6, target, &target_len), 0);
            mark = dns_writer_rr_begin(&w, owner, owner_len, DNS_TYPE_CNAME, DNS_CLASS_IN, 60);
            dns_writer_name(&w, target, target_len, true);
            memcpy(owner, target, target_len);
            owner_len = target_len;
        } else if (strncmp(r, "a:", 2) == 0) {
            CHECK_INT(inet_pton(AF_INET, r + 2, addr), 1);
            mark = dns_writer_rr_begin(&w, owner, owner_len, DNS_TYPE_A, DNS_CLASS_IN, 60);
            dns_writer_bytes(&w, addr, 4);
        } else {
            CHECK_INT(inet_pton(AF_INET6, r + 5, addr), 1);
            mark = dns_writer_rr_begin(&w, owner, owner_len, DNS_TYPE_AAAA, DNS_CLASS_IN, 60);
            dns_writer_bytes(&w, addr, 16);
        }
        dns_writer_rr_end(&w, mark);
    }
    dns_writer_counts(&w, 1, n, 0, 0);
    CHECK(dns_writer_finish(&w) > 0);
    msg_len = (size_t)dns_writer_finish(&w);
}

static bool found(const char *const *records, bool localhost_ok)
{
    answer(records);
    return fwd_rebind_found(msg, msg_len, localhost_ok);
}

static void test_public_addresses_pass(void)
{
    CHECK(!found((const char *const[]){"a:8.8.8.8", NULL}, false));
    CHECK(!found((const char *const[]){"a:100.64.0.1", "aaaa:2a00::1", NULL}, false));
    CHECK(!found((const char *const[]){"aaaa:fc00::1", NULL}, false));
    CHECK(!found((const char *const[]){"cname:other.test.", NULL}, false));
}

static void test_private_addresses_are_found_anywhere_in_the_answer(void)
{
    CHECK(found((const char *const[]){"a:192.168.1.5", NULL}, false));
    CHECK(found((const char *const[]){"a:8.8.8.8", "a:10.1.1.1", NULL}, false));
    CHECK(found((const char *const[]){"cname:in.test.", "a:172.20.0.1", NULL}, false));
    CHECK(found((const char *const[]){"a:0.0.0.0", NULL}, false));
    CHECK(found((const char *const[]){"aaaa:fd00::1", NULL}, false));
    CHECK(found((const char *const[]){"aaaa:fe80::1", NULL}, false));
    CHECK(found((const char *const[]){"aaaa:::ffff:10.0.0.1", NULL}, false));
}

static void test_loopback_is_private_unless_localhost_is_ok(void)
{
    CHECK(found((const char *const[]){"a:127.0.0.5", NULL}, false));
    CHECK(!found((const char *const[]){"a:127.0.0.5", NULL}, true));
    CHECK(found((const char *const[]){"aaaa:::1", NULL}, false));
    CHECK(!found((const char *const[]){"aaaa:::1", NULL}, true));
    CHECK(found((const char *const[]){"a:127.0.0.5", "a:10.0.0.1", NULL}, true));
}

static void test_the_stripped_answer_keeps_only_header_and_question(void)
{
    uint8_t out[512];
    struct dns_response r;
    int n;

    answer((const char *const[]){"cname:in.example.test.", "a:192.168.1.5", "a:8.8.8.8", NULL});
    n = fwd_rebind_strip(msg, msg_len, out, sizeof(out));
    CHECK(n > 0);
    CHECK_INT(dns_msg_scan_response(out, (size_t)n, &r), 0);
    CHECK_INT(r.hdr.id, 7);
    CHECK_INT(r.hdr.qdcount, 1);
    CHECK_INT(r.hdr.ancount + r.hdr.nscount + r.hdr.arcount, 0);
    CHECK_INT(dns_msg_rcode(&r.hdr), DNS_RCODE_NOERROR);
    CHECK(r.has_question && r.q.qtype == DNS_TYPE_A);
    CHECK(!fwd_rebind_found(out, (size_t)n, false));
}

static void test_a_broken_answer_is_neither_found_nor_stripped(void)
{
    uint8_t out[512];

    answer((const char *const[]){"a:192.168.1.5", NULL});
    CHECK(!fwd_rebind_found(msg, msg_len - 3, false));
    CHECK_INT(fwd_rebind_strip(msg, 20, out, sizeof(out)), -EBADMSG); /* inside the question */
    CHECK_INT(fwd_rebind_strip(msg, msg_len, out, 16), -ENOSPC);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_public_addresses_pass),
        UNIT(test_private_addresses_are_found_anywhere_in_the_answer),
        UNIT(test_loopback_is_private_unless_localhost_is_ok),
        UNIT(test_the_stripped_answer_keeps_only_header_and_question),
        UNIT(test_a_broken_answer_is_neither_found_nor_stripped),
    };
    return unit_run("fwd_rebind", tests, sizeof(tests) / sizeof(tests[0]));
}
