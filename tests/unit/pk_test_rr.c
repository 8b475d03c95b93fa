#include "dns_msg.h"
#include "dns_name.h"
#include "pk_rr.h"
#include "unit.h"

#include <errno.h>

/* A response whose answers point back at "example.com" in its question:
 *   example.com MX 10 mail.example.com (compressed)
 *   example.com SOA ns.example.com hostmaster.example.com 1 2 3 4 5 (compressed)
 *   example.com SRV 1 2 3 srv.example.com (compressed, as some servers do) */
static const uint8_t msg[] = {
    0x00, 0x01, 0x81, 0x80, 0x00, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00,
    /* 12: question */
    7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0x00, 0x0f, 0x00, 0x01,
    /* 29: MX */
    0xc0, 12, 0x00, 0x0f, 0x00, 0x01, 0, 0, 0, 60, 0x00, 9, 0x00, 10, 4, 'm', 'a', 'i', 'l', 0xc0,
    12,
    /* 50: SOA */
    0xc0, 12, 0x00, 0x06, 0x00, 0x01, 0, 0, 0, 60, 0x00, 38, 2, 'n', 's', 0xc0, 12, 10, 'h', 'o',
    's', 't', 'm', 'a', 's', 't', 'e', 'r', 0xc0, 12, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0,
    4, 0, 0, 0, 5,
    /* 100: SRV */
    0xc0, 12, 0x00, 0x21, 0x00, 0x01, 0, 0, 0, 60, 0x00, 12, 0, 1, 0, 2, 0, 3, 3, 's', 'r', 'v',
    0xc0, 12};

static size_t record_at(unsigned index, struct dns_rr *rr)
{
    size_t pos = 29;

    for (unsigned i = 0; i <= index; i++) {
        CHECK_INT(dns_msg_rr(msg, sizeof(msg), &pos, rr), 0);
    }
    return pos;
}

static void test_rr_expand_mx_writes_the_exchange_in_full(void)
{
    struct dns_rr rr;
    uint8_t out[256];

    record_at(0, &rr);
    CHECK_INT(pk_rr_expand(msg, sizeof(msg), rr.type, rr.rdata_pos, rr.rdlength, out, sizeof(out)),
              2 + 18);
    CHECK_MEM(out,
              "\x00\x0a\x04mail\x07"
              "example\x03"
              "com",
              20);
}

static void test_rr_expand_soa_writes_both_names_and_the_counters(void)
{
    struct dns_rr rr;
    uint8_t out[256];

    record_at(1, &rr);
    CHECK_INT(pk_rr_expand(msg, sizeof(msg), rr.type, rr.rdata_pos, rr.rdlength, out, sizeof(out)),
              16 + 24 + 20);
    CHECK_MEM(out,
              "\x02ns\x07"
              "example\x03"
              "com",
              16);
    CHECK_MEM(out + 40, "\0\0\0\x01\0\0\0\x02\0\0\0\x03\0\0\0\x04\0\0\0\x05", 20);
}

static void test_rr_expand_srv_follows_a_pointer(void)
{
    struct dns_rr rr;
    uint8_t out[256];

    record_at(2, &rr);
    CHECK_INT(pk_rr_expand(msg, sizeof(msg), rr.type, rr.rdata_pos, rr.rdlength, out, sizeof(out)),
              6 + 17);
    CHECK_MEM(out + 6,
              "\x03srv\x07"
              "example\x03"
              "com",
              17);
}

static void test_rr_expand_refuses_a_name_past_the_rdata(void)
{
    uint8_t bad[sizeof(msg)];
    struct dns_rr rr;
    uint8_t out[256];

    memcpy(bad, msg, sizeof(msg));
    record_at(0, &rr);
    bad[rr.rdata_pos - 1] = 5; /* RDLENGTH cuts the exchange short */
    CHECK_INT(pk_rr_expand(bad, sizeof(bad), rr.type, rr.rdata_pos, 5, out, sizeof(out)), -EBADMSG);
}

static void test_rr_expand_refuses_soa_with_short_counters(void)
{
    struct dns_rr rr;
    uint8_t out[256];

    record_at(1, &rr);
    CHECK_INT(pk_rr_expand(msg, sizeof(msg), rr.type, rr.rdata_pos, (uint16_t)(rr.rdlength - 1),
                           out, sizeof(out)),
              -EBADMSG);
}

static void test_rr_expand_copies_other_types_as_they_are(void)
{
    static const uint8_t a[] = {1, 2, 3, 4};
    uint8_t out[8];

    CHECK_INT(pk_rr_expand(a, sizeof(a), DNS_TYPE_A, 0, 4, out, sizeof(out)), 4);
    CHECK_MEM(out, a, 4);
    CHECK_INT(pk_rr_expand(a, sizeof(a), DNS_TYPE_A, 0, 4, out, 3), -EMSGSIZE);
}

static void test_rr_copy_recompresses_against_the_writer(void)
{
    struct dns_writer w;
    struct dns_header h = {.flags = DNS_FLAG_QR, .qdcount = 1, .ancount = 1};
    uint8_t out[256];
    uint8_t name[DNS_NAME_MAX];
    size_t name_len;
    size_t pos = 29;
    struct dns_rr rr;
    int n;

    CHECK_INT(dns_name_from_text("example.com", name, &name_len), 0);
    dns_writer_init(&w, out, sizeof(out));
    dns_writer_header(&w, &h);
    dns_writer_question(&w, name, name_len, DNS_TYPE_MX, DNS_CLASS_IN);
    CHECK_INT(pk_rr_copy(&w, msg, sizeof(msg), &pos), 0);
    CHECK_INT(pos, 50);
    n = dns_writer_finish(&w);
    CHECK_INT(n, 50); /* same size as the original: owner and exchange compressed again */

    pos = 29;
    CHECK_INT(dns_msg_rr(out, (size_t)n, &pos, &rr), 0);
    CHECK_INT(rr.type, DNS_TYPE_MX);
    CHECK_INT(pk_rr_expand(out, (size_t)n, rr.type, rr.rdata_pos, rr.rdlength, name, sizeof(name)),
              20);
}

static void test_rr_set_refuses_records_beyond_its_arena(void)
{
    static struct pk_rr_set set;
    static uint8_t rdata[60000];
    struct pk_rr rr = {.name = (const uint8_t *)"",
                       .name_len = 1,
                       .type = DNS_TYPE_TXT,
                       .rdata = rdata,
                       .rdlength = 20000};

    pk_rr_set_init(&set);
    CHECK_INT(pk_rr_set_add(&set, &rr), 0);
    CHECK_INT(pk_rr_set_add(&set, &rr), -ENOSPC);
    CHECK_INT(set.count, 1);
    rr.rdlength = 0;
    for (size_t i = 1; i < PK_RR_SET_MAX; i++) {
        CHECK_INT(pk_rr_set_add(&set, &rr), 0);
    }
    CHECK_INT(pk_rr_set_add(&set, &rr), -ENOSPC);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_rr_expand_mx_writes_the_exchange_in_full),
        UNIT(test_rr_expand_soa_writes_both_names_and_the_counters),
        UNIT(test_rr_expand_srv_follows_a_pointer),
        UNIT(test_rr_expand_refuses_a_name_past_the_rdata),
        UNIT(test_rr_expand_refuses_soa_with_short_counters),
        UNIT(test_rr_expand_copies_other_types_as_they_are),
        UNIT(test_rr_copy_recompresses_against_the_writer),
        UNIT(test_rr_set_refuses_records_beyond_its_arena),
    };

    return unit_run("pk_rr", tests, sizeof(tests) / sizeof(tests[0]));
}
