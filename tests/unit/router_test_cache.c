#include "dns_name.h"
#include "dns_writer.h"
#include "rt_cache.h"
#include "unit.h"

#include <errno.h>

/* ---- messages: queries and the answers a backend would give ---- */

#define EDNS_NONE -1 /* make_query: no OPT record */
#define EDNS_PLAIN 0 /* an OPT record without DO */
#define EDNS_DO 1    /* an OPT record with DO */

static uint8_t query_msg[512];
static size_t query_len;

/* Builds a query for name/qtype with header flags and EDNS as given, and parses it into q. */
static void make_query(struct dns_query *q, uint16_t id, const char *name, uint16_t qtype,
                       uint16_t flags, int edns)
{
    struct dns_header h = {.id = id, .flags = flags, .qdcount = 1, .arcount = edns >= 0};
    struct dns_writer w;
    uint8_t wire[DNS_NAME_MAX];
    size_t wire_len;

    CHECK_INT(dns_name_from_text(name, wire, &wire_len), 0);
    dns_writer_init(&w, query_msg, sizeof(query_msg));
    dns_writer_header(&w, &h);
    dns_writer_question(&w, wire, wire_len, qtype, DNS_CLASS_IN);
    if (edns >= 0) {
        dns_writer_opt(&w, 1232, edns == EDNS_DO, DNS_EDE_NONE, NULL);
    }
    query_len = (size_t)dns_writer_finish(&w);
    CHECK_INT(dns_msg_parse_query(query_msg, query_len, q), 0);
}

/* What a backend answers: the question as `qname`, `n_a` A records with a_ttl, an SOA in the
 * authority section when soa_minimum is set (with TTL soa_ttl). */
struct reply {
    const char *qname;
    uint16_t qtype;
    uint16_t rcode;
    uint16_t flags; /* beyond QR and RD */
    unsigned n_a;
    uint32_t a_ttl;
    uint32_t soa_ttl;
    uint32_t soa_minimum; /* 0: no SOA */
    size_t pad_to;        /* a TXT record makes the answer this long */
};

static uint8_t answer_msg[8192];

static size_t make_answer(const struct reply *spec)
{
    struct dns_header h = {.id = 0x4242,
                           .flags =
                               (uint16_t)(DNS_FLAG_QR | DNS_FLAG_RD | spec->flags | spec->rcode),
                           .qdcount = 1,
                           .ancount = (uint16_t)(spec->n_a + (spec->pad_to > 0)),
                           .nscount = spec->soa_minimum > 0};
    static const uint8_t soa_names[] = "\2ns\4test\0\4host\4test\0";
    struct dns_writer w;
    uint8_t wire[DNS_NAME_MAX];
    size_t wire_len, mark;

    CHECK_INT(dns_name_from_text(spec->qname, wire, &wire_len), 0);
    dns_writer_init(&w, answer_msg, sizeof(answer_msg));
    dns_writer_header(&w, &h);
    dns_writer_question(&w, wire, wire_len, spec->qtype ? spec->qtype : DNS_TYPE_A, DNS_CLASS_IN);
    for (unsigned i = 0; i < spec->n_a; i++) {
        mark = dns_writer_rr_begin(&w, wire, wire_len, DNS_TYPE_A, DNS_CLASS_IN, spec->a_ttl);
        dns_writer_u32(&w, 0xc0000201u + i); /* 192.0.2.1, .2, ... */
        dns_writer_rr_end(&w, mark);
    }
    if (spec->pad_to > 0) {
        mark = dns_writer_rr_begin(&w, wire, wire_len, DNS_TYPE_TXT, DNS_CLASS_IN, spec->a_ttl);
        while (w.len + 256 < spec->pad_to) {
            dns_writer_u8(&w, 255);
            for (int i = 0; i < 255; i++) {
                dns_writer_u8(&w, 'x');
            }
        }
        dns_writer_rr_end(&w, mark);
    }
    if (spec->soa_minimum > 0) {
        dns_name_from_text("test", wire, &wire_len);
        mark = dns_writer_rr_begin(&w, wire, wire_len, DNS_TYPE_SOA, DNS_CLASS_IN, spec->soa_ttl);
        dns_writer_bytes(&w, soa_names, sizeof(soa_names) - 1);
        uint32_t fields[5] = {1, 3600, 600, 86400, spec->soa_minimum};
        for (int i = 0; i < 5; i++) {
            dns_writer_u32(&w, fields[i]);
        }
        dns_writer_rr_end(&w, mark);
    }
    int n = dns_writer_finish(&w);
    CHECK(n > 0);
    return n > 0 ? (size_t)n : 0;
}

/* The TTL of record i (in section order, OPT aside) of msg. */
static uint32_t ttl_of(const uint8_t *msg, size_t len, size_t i)
{
    struct dns_response r;

    if (dns_msg_scan_response(msg, len, &r) != 0 || i >= r.n_ttl) {
        return 0xffffffffu;
    }
    const uint8_t *p = msg + r.ttl_offsets[i];
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- a cache under test ---- */

static struct rt_cache *cache;
static uint8_t out[65536];

static void new_cache(uint32_t size, uint32_t min_ttl, uint32_t max_ttl, uint32_t temp_failure,
                      uint32_t max_negative)
{
    struct rt_cache_config cfg = {.size = size,
                                  .max_ttl = max_ttl,
                                  .min_ttl = min_ttl,
                                  .temp_failure_ttl = temp_failure,
                                  .max_negative_ttl = max_negative};

    rt_cache_free(cache);
    cache = NULL;
    CHECK_INT(rt_cache_new(&cfg, &cache), 0);
}

static void new_default_cache(void)
{
    struct rt_cache_config cfg;

    rt_config_cache_defaults(&cfg, 100);
    rt_cache_free(cache);
    cache = NULL;
    CHECK_INT(rt_cache_new(&cfg, &cache), 0);
}

/* Stores the answer `spec` for an A query for spec->qname (RD, no EDNS) at now_ms. */
static int put(const struct reply *spec, uint64_t now_ms)
{
    struct dns_query q;
    size_t len = make_answer(spec);

    make_query(&q, 1, spec->qname, spec->qtype ? spec->qtype : DNS_TYPE_A, DNS_FLAG_RD, EDNS_NONE);
    return rt_cache_put(cache, &q, answer_msg, len, now_ms);
}

/* Looks an RD A query for name (no EDNS) up at now_ms. */
static int get(const char *name, uint64_t now_ms)
{
    struct dns_query q;

    make_query(&q, 7, name, DNS_TYPE_A, DNS_FLAG_RD, EDNS_NONE);
    return rt_cache_get(cache, &q, now_ms, out, sizeof(out));
}

/* ---- keys ---- */

static size_t key_of(const char *name, uint16_t qtype, uint16_t flags, int edns, uint8_t *key)
{
    struct dns_query q;

    make_query(&q, 99, name, qtype, flags, edns);
    return rt_cache_key(&q, key);
}

static void test_key_ignores_the_case_of_the_name_and_the_id(void)
{
    uint8_t a[RT_CACHE_KEY_MAX], b[RT_CACHE_KEY_MAX];
    size_t la = key_of("WWW.Example.TEST", DNS_TYPE_A, DNS_FLAG_RD, EDNS_NONE, a);
    size_t lb = key_of("www.example.test", DNS_TYPE_A, DNS_FLAG_RD, EDNS_NONE, b);

    CHECK_INT(la, lb);
    CHECK_MEM(a, b, la);
}

static bool keys_differ(size_t la, const uint8_t *a, size_t lb, const uint8_t *b)
{
    return la != lb || memcmp(a, b, la) != 0;
}

static void test_key_tells_apart_do_bit_edns_rd_and_type(void)
{
    uint8_t base[RT_CACHE_KEY_MAX], other[RT_CACHE_KEY_MAX];
    size_t lb = key_of("www.example.test", DNS_TYPE_A, DNS_FLAG_RD, EDNS_PLAIN, base);
    size_t lo;

    lo = key_of("www.example.test", DNS_TYPE_A, DNS_FLAG_RD, EDNS_DO, other);
    CHECK(keys_differ(lb, base, lo, other));
    lo = key_of("www.example.test", DNS_TYPE_A, DNS_FLAG_RD, EDNS_NONE, other);
    CHECK(keys_differ(lb, base, lo, other));
    lo = key_of("www.example.test", DNS_TYPE_A, 0, EDNS_PLAIN, other);
    CHECK(keys_differ(lb, base, lo, other));
    lo = key_of("www.example.test", DNS_TYPE_A, DNS_FLAG_RD | DNS_FLAG_CD, EDNS_PLAIN, other);
    CHECK(keys_differ(lb, base, lo, other));
    lo = key_of("www.example.test", DNS_TYPE_AAAA, DNS_FLAG_RD, EDNS_PLAIN, other);
    CHECK(keys_differ(lb, base, lo, other));
    lo = key_of("www2.example.test", DNS_TYPE_A, DNS_FLAG_RD, EDNS_PLAIN, other);
    CHECK(keys_differ(lb, base, lo, other));
}

/* A query whose OPT record carries one option (code, 4 octets of data). */
static size_t query_with_option(uint16_t code, struct dns_query *q)
{
    struct dns_query plain;

    make_query(&plain, 5, "www.example.test", DNS_TYPE_A, DNS_FLAG_RD, EDNS_PLAIN);
    /* The OPT record ends the message: RDLENGTH is its last two octets. */
    static const uint8_t option[8] = {0, 0, 0, 4, 1, 2, 3, 4};
    memcpy(query_msg + query_len, option, sizeof(option));
    query_msg[query_len] = (uint8_t)(code >> 8);
    query_msg[query_len + 1] = (uint8_t)code;
    query_msg[query_len - 1] = sizeof(option);
    query_len += sizeof(option);
    CHECK_INT(dns_msg_parse_query(query_msg, query_len, q), 0);
    return query_len;
}

static void test_queries_with_options_that_change_the_answer_are_not_cacheable(void)
{
    struct dns_query q;
    size_t len;

    len = query_with_option(10, &q); /* a cookie: answers the same */
    CHECK(rt_cache_query_cacheable(&q, query_msg, len));
    len = query_with_option(8, &q); /* client subnet: answers may differ */
    CHECK(!rt_cache_query_cacheable(&q, query_msg, len));
    make_query(&q, 5, "www.example.test", DNS_TYPE_A, DNS_FLAG_RD, EDNS_DO);
    CHECK(rt_cache_query_cacheable(&q, query_msg, query_len));
    make_query(&q, 5, "example.test", DNS_TYPE_AXFR, 0, EDNS_NONE);
    CHECK(!rt_cache_query_cacheable(&q, query_msg, query_len));
    make_query(&q, 5, "example.test", DNS_TYPE_SOA, DNS_OPCODE_NOTIFY << DNS_OPCODE_SHIFT,
               EDNS_NONE);
    CHECK(!rt_cache_query_cacheable(&q, query_msg, query_len));
}

/* ---- hits ---- */

static void test_hit_carries_the_clients_id_and_spelling(void)
{
    struct dns_query q;
    struct dns_question question;
    size_t pos = DNS_HEADER_LEN;
    int n;

    new_default_cache();
    CHECK_INT(put(&(struct reply){.qname = "www.example.test", .n_a = 1, .a_ttl = 300}, 0), 0);
    make_query(&q, 0xbeef, "WwW.ExAmple.test", DNS_TYPE_A, DNS_FLAG_RD, EDNS_NONE);
    n = rt_cache_get(cache, &q, 1000, out, sizeof(out));
    CHECK(n > 0);
    CHECK_INT(out[0] << 8 | out[1], 0xbeef);
    CHECK_INT(dns_msg_question(out, (size_t)n, &pos, &question), 0);
    CHECK_INT(question.name_len, q.q.name_len);
    CHECK_MEM(question.name, q.q.name, q.q.name_len);
}

static void test_a_query_with_other_flags_misses(void)
{
    struct dns_query q;

    new_default_cache();
    CHECK_INT(put(&(struct reply){.qname = "www.example.test", .n_a = 1, .a_ttl = 300}, 0), 0);
    make_query(&q, 1, "www.example.test", DNS_TYPE_A, DNS_FLAG_RD, EDNS_DO);
    CHECK_INT(rt_cache_get(cache, &q, 0, out, sizeof(out)), -ENOENT);
    make_query(&q, 1, "www.example.test", DNS_TYPE_A, 0, EDNS_NONE);
    CHECK_INT(rt_cache_get(cache, &q, 0, out, sizeof(out)), -ENOENT);
    CHECK(get("www.example.test", 0) > 0);
}

/* ---- TTLs ---- */

static void test_ttls_count_down_by_age(void)
{
    int n;

    new_default_cache();
    CHECK_INT(put(&(struct reply){.qname = "a.test", .n_a = 2, .a_ttl = 300}, 5000), 0);
    n = get("a.test", 5000 + 10500);
    CHECK(n > 0);
    CHECK_INT(ttl_of(out, (size_t)n, 0), 290);
    CHECK_INT(ttl_of(out, (size_t)n, 1), 290);
}

static void test_entry_lives_as_long_as_its_smallest_ttl(void)
{
    new_default_cache();
    CHECK_INT(put(&(struct reply){.qname = "a.test", .n_a = 1, .a_ttl = 30}, 0), 0);
    CHECK(get("a.test", 29999) > 0);
    CHECK_INT(get("a.test", 30000), -ENOENT);
}

static void test_max_ttl_bounds_the_lifetime(void)
{
    new_cache(100, 0, 3600, 60, 3600);
    CHECK_INT(put(&(struct reply){.qname = "long.test", .n_a = 1, .a_ttl = 100000}, 0), 0);
    CHECK(get("long.test", 3599999) > 0);
    CHECK_INT(get("long.test", 3600000), -ENOENT);
}

static void test_answers_below_min_ttl_are_not_cached(void)
{
    struct rt_cache_stats st;

    new_cache(100, 10, 86400, 60, 3600);
    CHECK_INT(put(&(struct reply){.qname = "short.test", .n_a = 1, .a_ttl = 5}, 0), -ERANGE);
    CHECK_INT(get("short.test", 0), -ENOENT);
    CHECK_INT(put(&(struct reply){.qname = "ok.test", .n_a = 1, .a_ttl = 10}, 0), 0);
    rt_cache_stats(cache, &st);
    CHECK_INT(st.ttl_too_short, 1);
    CHECK_INT(st.entries, 1);
}

static void test_answers_with_ttl_zero_are_not_cached(void)
{
    new_default_cache();
    CHECK_INT(put(&(struct reply){.qname = "zero.test", .n_a = 1, .a_ttl = 0}, 0), -ENODATA);
}

/* ---- negative answers and failures ---- */

static void test_servfail_is_kept_for_the_temporary_failure_ttl(void)
{
    new_default_cache(); /* temporaryFailureTTL 60, as dnsdist */
    CHECK_INT(put(&(struct reply){.qname = "fail.test", .rcode = DNS_RCODE_SERVFAIL}, 0), 0);
    CHECK(get("fail.test", 59999) > 0);
    CHECK_INT(get("fail.test", 60000), -ENOENT);
    CHECK_INT(put(&(struct reply){.qname = "no.test", .rcode = DNS_RCODE_REFUSED}, 0), 0);
    CHECK(get("no.test", 59999) > 0);
}

static void test_temporary_failure_ttl_zero_caches_no_failure(void)
{
    new_cache(100, 0, 86400, 0, 3600);
    CHECK_INT(put(&(struct reply){.qname = "fail.test", .rcode = DNS_RCODE_SERVFAIL}, 0), -ENODATA);
}

static void test_nxdomain_lives_by_the_soa_minimum(void)
{
    new_default_cache();
    CHECK_INT(put(&(struct reply){.qname = "gone.test",
                                  .rcode = DNS_RCODE_NXDOMAIN,
                                  .soa_ttl = 3600,
                                  .soa_minimum = 300},
                  0),
              0);
    CHECK(get("gone.test", 299999) > 0);
    CHECK_INT(get("gone.test", 300000), -ENOENT);
}

static void test_negative_answers_are_bounded_by_max_negative_ttl(void)
{
    new_cache(100, 0, 86400, 60, 100);
    CHECK_INT(put(&(struct reply){.qname = "gone.test",
                                  .rcode = DNS_RCODE_NXDOMAIN,
                                  .soa_ttl = 3600,
                                  .soa_minimum = 900},
                  0),
              0);
    CHECK(get("gone.test", 99999) > 0);
    CHECK_INT(get("gone.test", 100000), -ENOENT);
    /* NODATA: NOERROR, no answer, the zone's SOA. */
    CHECK_INT(put(&(struct reply){.qname = "empty.test", .soa_ttl = 900, .soa_minimum = 900}, 0),
              0);
    CHECK(get("empty.test", 99999) > 0);
    CHECK_INT(get("empty.test", 100000), -ENOENT);
}

static void test_nxdomain_without_soa_is_not_cached(void)
{
    new_default_cache();
    CHECK_INT(put(&(struct reply){.qname = "gone.test", .rcode = DNS_RCODE_NXDOMAIN}, 0), -ENODATA);
}

/* ---- what is never stored ---- */

static void test_truncated_answers_are_not_cached(void)
{
    new_default_cache();
    CHECK_INT(
        put(&(struct reply){.qname = "big.test", .flags = DNS_FLAG_TC, .n_a = 1, .a_ttl = 300}, 0),
        -ENODATA);
    CHECK_INT(get("big.test", 0), -ENOENT);
}

static void test_answers_over_4096_octets_are_not_cached(void)
{
    new_default_cache();
    CHECK_INT(put(
                  &(struct reply){
                      .qname = "huge.test", .qtype = DNS_TYPE_TXT, .a_ttl = 300, .pad_to = 5000},
                  0),
              -E2BIG);
    CHECK_INT(put(
                  &(struct reply){
                      .qname = "fits.test", .qtype = DNS_TYPE_TXT, .a_ttl = 300, .pad_to = 3000},
                  0),
              0);
}

static void test_an_answer_to_another_question_is_not_stored(void)
{
    struct dns_query q;
    size_t len = make_answer(&(struct reply){.qname = "other.test", .n_a = 1, .a_ttl = 300});

    new_default_cache();
    make_query(&q, 1, "asked.test", DNS_TYPE_A, DNS_FLAG_RD, EDNS_NONE);
    CHECK_INT(rt_cache_put(cache, &q, answer_msg, len, 0), -EBADMSG);
}

static void test_the_number_of_entries_is_bounded(void)
{
    struct rt_cache_stats st;

    new_cache(2, 0, 86400, 60, 3600);
    CHECK_INT(put(&(struct reply){.qname = "one.test", .n_a = 1, .a_ttl = 300}, 0), 0);
    CHECK_INT(put(&(struct reply){.qname = "two.test", .n_a = 1, .a_ttl = 300}, 1), 0);
    CHECK(get("one.test", 2) > 0); /* now two.test is the least recently used */
    CHECK_INT(put(&(struct reply){.qname = "three.test", .n_a = 1, .a_ttl = 300}, 3), 0);
    rt_cache_stats(cache, &st);
    CHECK_INT(st.entries, 2);
    CHECK(get("one.test", 4) > 0);
    CHECK_INT(get("two.test", 4), -ENOENT);
    CHECK(get("three.test", 4) > 0);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_key_ignores_the_case_of_the_name_and_the_id),
        UNIT(test_key_tells_apart_do_bit_edns_rd_and_type),
        UNIT(test_queries_with_options_that_change_the_answer_are_not_cacheable),
        UNIT(test_hit_carries_the_clients_id_and_spelling),
        UNIT(test_a_query_with_other_flags_misses),
        UNIT(test_ttls_count_down_by_age),
        UNIT(test_entry_lives_as_long_as_its_smallest_ttl),
        UNIT(test_max_ttl_bounds_the_lifetime),
        UNIT(test_answers_below_min_ttl_are_not_cached),
        UNIT(test_answers_with_ttl_zero_are_not_cached),
        UNIT(test_servfail_is_kept_for_the_temporary_failure_ttl),
        UNIT(test_temporary_failure_ttl_zero_caches_no_failure),
        UNIT(test_nxdomain_lives_by_the_soa_minimum),
        UNIT(test_negative_answers_are_bounded_by_max_negative_ttl),
        UNIT(test_nxdomain_without_soa_is_not_cached),
        UNIT(test_truncated_answers_are_not_cached),
        UNIT(test_answers_over_4096_octets_are_not_cached),
        UNIT(test_an_answer_to_another_question_is_not_stored),
        UNIT(test_the_number_of_entries_is_bounded),
    };
    int rc = unit_run("router_cache", tests, sizeof(tests) / sizeof(tests[0]));

    rt_cache_free(cache);
    return rc;
}
