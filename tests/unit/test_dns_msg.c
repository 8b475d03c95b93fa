#include "dns_msg.h"
#include "dns_name.h"
#include "dns_reply.h"
#include "dns_writer.h"
#include "unit.h"

#include <errno.h>

/* A query as dig sends it: "example.com. A", RD, EDNS payload 1232 with DO clear. */
static const uint8_t dig_query[] = {
    0x12, 0x34, 0x01, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, /* header */
    7,    'e',  'x',  'a',  'm',  'p',  'l',  'e',  3,    'c',  'o',  'm',  0,    0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* OPT */
};

static void test_parse_query_reads_question_and_edns(void)
{
    struct dns_query q;

    CHECK_INT(dns_msg_parse_query(dig_query, sizeof(dig_query), &q), 0);
    CHECK_INT(q.hdr.id, 0x1234);
    CHECK_INT(q.hdr.flags & DNS_FLAG_RD, DNS_FLAG_RD);
    CHECK_INT(q.q.qtype, DNS_TYPE_A);
    CHECK_INT(q.q.qclass, DNS_CLASS_IN);
    CHECK_INT(q.q.name_len, 13);
    CHECK_INT(q.question_end, 29);
    CHECK(q.has_edns);
    CHECK_INT(q.udp_payload, 1232);
    CHECK(!q.edns_do);
}

static void test_parse_query_without_edns_limits_to_512(void)
{
    struct dns_query q;
    uint8_t msg[sizeof(dig_query)];

    memcpy(msg, dig_query, sizeof(msg));
    msg[11] = 0; /* arcount 0: the OPT becomes trailing bytes, which are ignored */
    CHECK_INT(dns_msg_parse_query(msg, 29, &q), 0);
    CHECK(!q.has_edns);
    CHECK_INT(q.udp_payload, 512);
}

static void test_parse_query_raises_small_payload_to_512(void)
{
    struct dns_query q;
    uint8_t msg[sizeof(dig_query)];

    memcpy(msg, dig_query, sizeof(msg));
    msg[32] = 0x01; /* payload 0x0100 = 256 */
    msg[33] = 0x00;
    CHECK_INT(dns_msg_parse_query(msg, sizeof(msg), &q), 0);
    CHECK_INT(q.udp_payload, 512);
}

static void test_parse_query_reads_do_bit(void)
{
    struct dns_query q;
    uint8_t msg[sizeof(dig_query)];

    memcpy(msg, dig_query, sizeof(msg));
    msg[36] = 0x80;
    CHECK_INT(dns_msg_parse_query(msg, sizeof(msg), &q), 0);
    CHECK(q.edns_do);
}

static void test_parse_query_drops_short_header(void)
{
    struct dns_query q;

    CHECK_INT(dns_msg_parse_query(dig_query, 11, &q), -EINVAL);
}

static void test_parse_query_needs_exactly_one_question(void)
{
    struct dns_query q;
    uint8_t msg[sizeof(dig_query)];

    memcpy(msg, dig_query, sizeof(msg));
    msg[5] = 0;
    CHECK_INT(dns_msg_parse_query(msg, sizeof(msg), &q), -EBADMSG);
    msg[5] = 2;
    CHECK_INT(dns_msg_parse_query(msg, sizeof(msg), &q), -EBADMSG);
}

static void test_parse_query_rejects_counts_beyond_data(void)
{
    struct dns_query q;
    uint8_t msg[sizeof(dig_query)];

    memcpy(msg, dig_query, sizeof(msg));
    msg[11] = 2; /* two additional records, one present */
    CHECK_INT(dns_msg_parse_query(msg, sizeof(msg), &q), -EBADMSG);
    msg[11] = 1;
    msg[7] = 0xff; /* 255 answers that are not there */
    CHECK_INT(dns_msg_parse_query(msg, sizeof(msg), &q), -EBADMSG);
}

static void test_parse_query_rejects_truncation_at_every_offset(void)
{
    struct dns_query q;

    for (size_t cut = 12; cut < sizeof(dig_query); cut++) {
        CHECK_INT(dns_msg_parse_query(dig_query, cut, &q), -EBADMSG);
    }
}

static void test_parse_query_rejects_two_opt_records(void)
{
    uint8_t msg[sizeof(dig_query) + 11];
    struct dns_query q;

    memcpy(msg, dig_query, sizeof(dig_query));
    memcpy(msg + sizeof(dig_query), dig_query + 29, 11);
    msg[11] = 2;
    CHECK_INT(dns_msg_parse_query(msg, sizeof(msg), &q), -EBADMSG);
}

static void test_parse_query_rejects_opt_not_at_root(void)
{
    uint8_t msg[sizeof(dig_query) + 2];
    struct dns_query q;

    memcpy(msg, dig_query, 29);
    /* owner "a." */
    msg[29] = 1;
    msg[30] = 'a';
    memcpy(msg + 31, dig_query + 29, 11);
    CHECK_INT(dns_msg_parse_query(msg, sizeof(msg), &q), -EBADMSG);
}

static void test_rr_with_rdata_past_end_is_rejected(void)
{
    /* root name, type A, class IN, TTL, rdlength 4 but only 3 octets. */
    const uint8_t rr_bytes[] = {0, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3};
    struct dns_rr rr;
    size_t pos = 0;

    CHECK_INT(dns_msg_rr(rr_bytes, sizeof(rr_bytes), &pos, &rr), -EBADMSG);
    pos = 0;
    CHECK_INT(dns_msg_skip_rr(rr_bytes, sizeof(rr_bytes), &pos), -EBADMSG);
}

/* Builds "example.com. A" answer with two A records, an SOA in authority and an OPT with an
 * EDE option, through the writer. */
static size_t build_response(uint8_t *buf, size_t cap, uint16_t rcode)
{
    struct dns_writer w;
    uint8_t name[DNS_NAME_MAX], mname[DNS_NAME_MAX];
    size_t name_len, mname_len, mark;
    struct dns_header h = {.id = 7, .flags = (uint16_t)(DNS_FLAG_QR | DNS_FLAG_RD | rcode)};

    dns_name_from_text("example.com", name, &name_len);
    dns_name_from_text("ns.example.com", mname, &mname_len);
    dns_writer_init(&w, buf, cap);
    dns_writer_header(&w, &h);
    dns_writer_question(&w, name, name_len, DNS_TYPE_A, DNS_CLASS_IN);
    for (uint8_t i = 1; i <= 2; i++) {
        mark = dns_writer_rr_begin(&w, name, name_len, DNS_TYPE_A, DNS_CLASS_IN, 300u * i);
        dns_writer_bytes(&w, (const uint8_t[]){192, 0, 2, i}, 4);
        dns_writer_rr_end(&w, mark);
    }
    mark = dns_writer_rr_begin(&w, name, name_len, DNS_TYPE_SOA, DNS_CLASS_IN, 3600);
    dns_writer_name(&w, mname, mname_len, true);
    dns_writer_name(&w, mname, mname_len, true);
    dns_writer_u32(&w, 1);
    dns_writer_u32(&w, 2);
    dns_writer_u32(&w, 3);
    dns_writer_u32(&w, 4);
    dns_writer_u32(&w, 120); /* MINIMUM */
    dns_writer_rr_end(&w, mark);
    dns_writer_opt(&w, 1232, false, DNS_EDE_STALE_ANSWER, "old");
    dns_writer_counts(&w, 1, 2, 1, 1);
    int len = dns_writer_finish(&w);
    CHECK(len > 0);
    return len > 0 ? (size_t)len : 0;
}

static void test_writer_compresses_repeated_names(void)
{
    uint8_t buf[512];
    size_t len = build_response(buf, sizeof(buf), DNS_RCODE_NOERROR);

    /* The question name is written once; each record owner is a pointer to offset 12. */
    CHECK_INT(buf[29], 0xc0);
    CHECK_INT(buf[30], 12);
    CHECK(len < 150);
}

static void test_scan_response_records_ttls_soa_and_ede(void)
{
    uint8_t buf[512];
    size_t len = build_response(buf, sizeof(buf), DNS_RCODE_NOERROR);
    struct dns_response r;

    CHECK_INT(dns_msg_scan_response(buf, len, &r), 0);
    CHECK(r.has_question);
    CHECK_INT(r.q.qtype, DNS_TYPE_A);
    CHECK_INT(r.n_ttl, 3);
    CHECK_INT(r.min_ttl, 300);
    CHECK(r.has_soa);
    CHECK_INT(r.soa_ttl, 3600);
    CHECK_INT(r.soa_minimum, 120);
    CHECK(r.has_edns);
    CHECK_INT(r.ede_code, DNS_EDE_STALE_ANSWER);
    CHECK_INT(r.opt_end, len);
    /* The recorded offsets point at the TTL fields. */
    CHECK_INT(buf[r.ttl_offsets[0] + 2], 300 >> 8);
    CHECK_INT(buf[r.ttl_offsets[0] + 3], 300 & 0xff);
}

static void test_scan_response_rejects_truncation_at_every_offset(void)
{
    uint8_t buf[512];
    size_t len = build_response(buf, sizeof(buf), DNS_RCODE_NOERROR);
    struct dns_response r;

    for (size_t cut = 0; cut < len; cut++) {
        CHECK_INT(dns_msg_scan_response(buf, cut, &r), -EBADMSG);
    }
}

static void test_scan_response_rejects_opt_in_answer_section(void)
{
    uint8_t buf[512];
    struct dns_writer w;
    struct dns_header h = {.id = 1, .flags = DNS_FLAG_QR, .ancount = 1};
    struct dns_response r;

    dns_writer_init(&w, buf, sizeof(buf));
    dns_writer_header(&w, &h);
    dns_writer_opt(&w, 1232, false, DNS_EDE_NONE, NULL);
    CHECK_INT(dns_msg_scan_response(buf, (size_t)dns_writer_finish(&w), &r), -EBADMSG);
}

static void test_writer_reports_no_room_once(void)
{
    uint8_t buf[40];
    struct dns_writer w;
    struct dns_header h = {0};

    dns_writer_init(&w, buf, sizeof(buf));
    dns_writer_header(&w, &h);
    for (int i = 0; i < 20; i++) {
        dns_writer_u32(&w, 0xdeadbeef);
    }
    CHECK_INT(dns_writer_finish(&w), -ENOSPC);
    CHECK(w.len <= sizeof(buf));
}

static void test_ede_parser_skips_other_options_and_stops_at_bad_length(void)
{
    /* option 10 (cookie, 8 octets) then EDE 14 */
    const uint8_t opts[] = {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 15, 0, 2, 0, 14};
    const uint8_t bad[] = {0, 10, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8, 0, 15, 0, 2, 0, 14};

    CHECK_INT(dns_msg_find_ede(opts, sizeof(opts)), DNS_EDE_NOT_READY);
    CHECK_INT(dns_msg_find_ede(bad, 12), DNS_EDE_NONE);
    CHECK_INT(dns_msg_find_ede(opts, 3), DNS_EDE_NONE);
}

static void test_reply_error_echoes_question_with_ede(void)
{
    struct dns_query q;
    struct dns_response r;
    uint8_t out[512];
    int len;

    CHECK_INT(dns_msg_parse_query(dig_query, sizeof(dig_query), &q), 0);
    len = dns_reply_error(&q, DNS_RCODE_REFUSED, DNS_EDE_NOT_READY, "no upstream servers", out,
                          sizeof(out));
    CHECK(len > 0);
    CHECK_INT(dns_msg_scan_response(out, (size_t)len, &r), 0);
    CHECK_INT(r.hdr.id, 0x1234);
    CHECK_INT(dns_msg_rcode(&r.hdr), DNS_RCODE_REFUSED);
    CHECK(r.hdr.flags & DNS_FLAG_QR);
    CHECK(r.hdr.flags & DNS_FLAG_RD);
    CHECK_INT(r.ede_code, DNS_EDE_NOT_READY);
    CHECK(dns_name_equal(r.q.name, r.q.name_len, q.q.name, q.q.name_len));
}

static void test_reply_formerr_keeps_id(void)
{
    uint8_t out[64];
    struct dns_header h;

    CHECK_INT(dns_reply_formerr(dig_query, 12, out, sizeof(out)), 12);
    CHECK_INT(dns_msg_header(out, 12, &h), 0);
    CHECK_INT(h.id, 0x1234);
    CHECK_INT(dns_msg_rcode(&h), DNS_RCODE_FORMERR);
    CHECK_INT(h.qdcount, 0);
    CHECK_INT(dns_reply_formerr(dig_query, 11, out, sizeof(out)), -EINVAL);
}

static void test_reply_for_client_truncates_to_udp_limit(void)
{
    struct dns_query q;
    uint8_t query[29], big[1500], out[1500];
    struct dns_header h;
    int len;

    memcpy(query, dig_query, sizeof(query));
    query[11] = 0;
    CHECK_INT(dns_msg_parse_query(query, sizeof(query), &q), 0); /* no EDNS: 512 */
    memset(big, 0, sizeof(big));
    big[2] = 0x81; /* QR RD */
    len = dns_reply_for_client(&q, true, big, 600, out, sizeof(out));
    CHECK(len > 0 && len <= 512);
    CHECK_INT(dns_msg_header(out, (size_t)len, &h), 0);
    CHECK(h.flags & DNS_FLAG_TC);
    CHECK_INT(h.id, 0x1234);
    CHECK_INT(h.qdcount, 1);

    len = dns_reply_for_client(&q, false, big, 600, out, sizeof(out));
    CHECK_INT(len, 600);
    CHECK_INT(dns_msg_header(out, (size_t)len, &h), 0);
    CHECK(!(h.flags & DNS_FLAG_TC));
    CHECK_INT(h.id, 0x1234);
}

static void test_identity_query_is_answered(void)
{
    uint8_t query[64], out[256];
    struct dns_writer w;
    struct dns_header h = {.id = 9, .qdcount = 1};
    uint8_t name[DNS_NAME_MAX];
    size_t name_len;
    struct dns_query q;
    struct dns_response r;
    struct dns_rr rr;

    dns_name_from_text("ID.SERVER", name, &name_len);
    dns_writer_init(&w, query, sizeof(query));
    dns_writer_header(&w, &h);
    dns_writer_question(&w, name, name_len, DNS_TYPE_TXT, DNS_CLASS_CH);
    CHECK_INT(dns_msg_parse_query(query, (size_t)dns_writer_finish(&w), &q), 0);
    CHECK(dns_reply_is_identity(&q));

    int len = dns_reply_identity(&q, "pkdns-forwarder", "0.1.0", out, sizeof(out));
    CHECK(len > 0);
    CHECK_INT(dns_msg_scan_response(out, (size_t)len, &r), 0);
    CHECK_INT(r.hdr.ancount, 1);
    size_t pos = q.question_end;
    CHECK_INT(dns_msg_rr(out, (size_t)len, &pos, &rr), 0);
    CHECK_INT(rr.type, DNS_TYPE_TXT);
    CHECK_INT(out[rr.rdata_pos], 15);
    CHECK_MEM(out + rr.rdata_pos + 1, "pkdns-forwarder", 15);

    q.q.qclass = DNS_CLASS_IN;
    CHECK(!dns_reply_is_identity(&q));
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_parse_query_reads_question_and_edns),
        UNIT(test_parse_query_without_edns_limits_to_512),
        UNIT(test_parse_query_raises_small_payload_to_512),
        UNIT(test_parse_query_reads_do_bit),
        UNIT(test_parse_query_drops_short_header),
        UNIT(test_parse_query_needs_exactly_one_question),
        UNIT(test_parse_query_rejects_counts_beyond_data),
        UNIT(test_parse_query_rejects_truncation_at_every_offset),
        UNIT(test_parse_query_rejects_two_opt_records),
        UNIT(test_parse_query_rejects_opt_not_at_root),
        UNIT(test_rr_with_rdata_past_end_is_rejected),
        UNIT(test_writer_compresses_repeated_names),
        UNIT(test_scan_response_records_ttls_soa_and_ede),
        UNIT(test_scan_response_rejects_truncation_at_every_offset),
        UNIT(test_scan_response_rejects_opt_in_answer_section),
        UNIT(test_writer_reports_no_room_once),
        UNIT(test_ede_parser_skips_other_options_and_stops_at_bad_length),
        UNIT(test_reply_error_echoes_question_with_ede),
        UNIT(test_reply_formerr_keeps_id),
        UNIT(test_reply_for_client_truncates_to_udp_limit),
        UNIT(test_identity_query_is_answered),
    };
    return unit_run("dns_msg", tests, sizeof(tests) / sizeof(tests[0]));
}
