#include "dns.h"
#include "dns_msg.h"
#include "dns_reply.h"
#include "unit.h"

#include <errno.h>

/* "example.com A" with ID 0x1234, flags from the caller, no EDNS (a 512-byte UDP limit). */
static void make_query(uint16_t flags, uint8_t out[29], struct dns_query *q)
{
    static const uint8_t query[29] = {
        0x12, 0x34, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* header */
        7,    'e',  'x',  'a',  'm',  'p',  'l',  'e',  3,    'c',  'o',  'm',
        0,    0x00, 0x01, 0x00, 0x01,
    };

    memcpy(out, query, sizeof(query));
    out[2] = (uint8_t)(flags >> 8);
    out[3] = (uint8_t)flags;
    CHECK_INT(dns_msg_parse_query(out, sizeof(query), q), 0);
}

/* A backend's answer to that query: wire ID 0xbeef, the given flags, `len` bytes. */
static void make_answer(const uint8_t query[29], uint16_t flags, uint8_t *out, size_t len)
{
    memset(out, 0, len);
    memcpy(out, query, 29);
    out[0] = 0xbe;
    out[1] = 0xef;
    out[2] = (uint8_t)(flags >> 8);
    out[3] = (uint8_t)flags;
}

static uint16_t reply_flags(const uint8_t *reply, int len)
{
    struct dns_header h;

    CHECK(len >= DNS_HEADER_LEN);
    CHECK_INT(dns_msg_header(reply, (size_t)len, &h), 0);
    return h.flags;
}

static void test_reply_for_client_takes_rd_and_cd_from_the_query(void)
{
    uint8_t query[29], answer[64], out[64];
    struct dns_query q;
    uint16_t flags;
    int len;

    /* The query asked for recursion and no checking; the backend says the opposite. */
    make_query(DNS_FLAG_RD, query, &q);
    make_answer(query, DNS_FLAG_QR | DNS_FLAG_CD | DNS_FLAG_RA | DNS_FLAG_AD, answer, 40);
    len = dns_reply_for_client(&q, true, answer, 40, out, sizeof(out));
    CHECK_INT(len, 40);
    flags = reply_flags(out, len);
    CHECK_INT(flags & (DNS_FLAG_RD | DNS_FLAG_CD), DNS_FLAG_RD);
    CHECK_INT(flags & ~(DNS_FLAG_RD | DNS_FLAG_CD), DNS_FLAG_QR | DNS_FLAG_RA | DNS_FLAG_AD);
    CHECK_INT(out[0] << 8 | out[1], 0x1234);

    make_query(DNS_FLAG_CD, query, &q);
    make_answer(query, DNS_FLAG_QR | DNS_FLAG_RD | DNS_FLAG_AA | DNS_RCODE_NXDOMAIN, answer, 40);
    len = dns_reply_for_client(&q, false, answer, 40, out, sizeof(out));
    flags = reply_flags(out, len);
    CHECK_INT(flags & (DNS_FLAG_RD | DNS_FLAG_CD), DNS_FLAG_CD);
    CHECK_INT(flags & ~(DNS_FLAG_RD | DNS_FLAG_CD), DNS_FLAG_QR | DNS_FLAG_AA | DNS_RCODE_NXDOMAIN);
}

/* Too large for the client's 512 bytes: the TC reply carries the query's RD and CD too. */
static void test_truncated_reply_for_client_takes_rd_and_cd_from_the_query(void)
{
    uint8_t query[29], answer[600], out[600];
    struct dns_query q;
    uint16_t flags;
    int len;

    make_query(DNS_FLAG_RD | DNS_FLAG_CD, query, &q);
    make_answer(query, DNS_FLAG_QR | DNS_FLAG_RA, answer, sizeof(answer));
    len = dns_reply_for_client(&q, true, answer, sizeof(answer), out, sizeof(out));
    CHECK(len > 0 && len <= 512);
    flags = reply_flags(out, len);
    CHECK_INT(flags, DNS_FLAG_QR | DNS_FLAG_TC | DNS_FLAG_RD | DNS_FLAG_RA | DNS_FLAG_CD);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_reply_for_client_takes_rd_and_cd_from_the_query),
        UNIT(test_truncated_reply_for_client_takes_rd_and_cd_from_the_query),
    };
    return unit_run("dns_reply", tests, sizeof(tests) / sizeof(tests[0]));
}
