#include "dns_name.h"
#include "dns_writer.h"
#include "pk_answer.h"
#include "pk_cache.h"
#include "pk_seed.h"
#include "pkarr_name.h"
#include "unit.h"
#include "zbase32.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sodium.h>
#include <stdarg.h>

/* ---- harness: keys, packets, queries, upstream responses, and the answer taken apart ---- */

struct test_key {
    uint8_t pk[PK_PACKET_KEY_LEN];
    uint8_t sk[PK_PACKET_SECRET_LEN];
    char text[PKARR_KEY_TEXT_LEN + 1];
};

static struct test_key k1, k2;
static struct pk_answer_config cfg;
static uint8_t tld[DNS_NAME_MAX];
static struct pk_rr_set zone;
static struct pk_packet pkt;
static uint8_t sealed[PK_PACKET_MAX]; /* the signed packet pkt was decoded from */
static size_t sealed_len;
static struct pk_answer ans;
static struct dns_query query;
static uint8_t out[PK_ANSWER_OUT_MAX];

static void make_key(struct test_key *k, uint8_t fill)
{
    uint8_t seed[PK_SEED_LEN];

    memset(seed, fill, sizeof(seed));
    pk_seed_keypair(seed, k->pk, k->sk);
    zbase32_encode(k->pk, sizeof(k->pk), k->text, sizeof(k->text));
}

/* Writes fmt with every "K1" and "K2" replaced by the keys' text. */
static void expand(char *buf, size_t cap, const char *fmt)
{
    size_t n = 0;

    for (const char *p = fmt; *p != '\0' && n + 60 < cap; p++) {
        if (p[0] == 'K' && (p[1] == '1' || p[1] == '2')) {
            const char *text = p[1] == '1' ? k1.text : k2.text;
            memcpy(buf + n, text, PKARR_KEY_TEXT_LEN);
            n += PKARR_KEY_TEXT_LEN;
            p++;
        } else {
            buf[n++] = *p;
        }
    }
    buf[n] = '\0';
}

static size_t wire(const char *fmt, uint8_t *name)
{
    char text[1024];
    size_t len = 0;

    expand(text, sizeof(text), fmt);
    CHECK_INT(dns_name_from_text(text, name, &len), 0);
    return len;
}

static void setup(void)
{
    size_t tld_len;

    make_key(&k1, 0x11);
    make_key(&k2, 0x22);
    CHECK_INT(dns_name_from_text("key", tld, &tld_len), 0);
    cfg = (struct pk_answer_config){
        .min_ttl = 60,
        .max_ttl = 86400,
        .max_recursion_depth = 15,
        .tld = tld,
        .tld_len = tld_len,
    };
    pk_rr_set_init(&zone);
}

static void add_rr(const char *rel, uint16_t type, uint32_t ttl, const void *rdata, size_t len)
{
    uint8_t name[DNS_NAME_MAX];
    struct pk_rr rr = {.name = name, .type = type, .rclass = DNS_CLASS_IN, .ttl = ttl};

    rr.name_len = wire(rel, name);
    rr.rdata = rdata;
    rr.rdlength = (uint16_t)len;
    CHECK_INT(pk_rr_set_add(&zone, &rr), 0);
}

static void add_a(const char *rel, const char *ip, uint32_t ttl)
{
    uint8_t addr[16];
    bool v6 = strchr(ip, ':') != NULL;

    CHECK_INT(inet_pton(v6 ? AF_INET6 : AF_INET, ip, addr), 1);
    add_rr(rel, v6 ? DNS_TYPE_AAAA : DNS_TYPE_A, ttl, addr, v6 ? 16 : 4);
}

static void add_name(const char *rel, uint16_t type, const char *target, uint32_t ttl)
{
    uint8_t name[DNS_NAME_MAX];

    add_rr(rel, type, ttl, name, wire(target, name));
}

/* Signs the records gathered so far for key k and decodes them into pkt; starts a new zone. */
static void seal(const struct test_key *k)
{
    uint8_t msg[2048];
    int n = pk_packet_build_message(&zone, k->pk, msg, sizeof(msg));

    CHECK(n > 0);
    n = pk_packet_sign(k->sk, 1, msg, (size_t)n, sealed, sizeof(sealed));
    CHECK(n > 0);
    sealed_len = (size_t)n;
    CHECK_INT(pk_packet_decode(sealed, sealed_len, true, &pkt), 0);
    pk_rr_set_init(&zone);
}

static int ask_flags(const char *name, uint16_t qtype, uint16_t qclass, uint16_t flags, bool edns)
{
    uint8_t msg[512], qname[DNS_NAME_MAX];
    struct dns_header h = {.id = 0x1234, .flags = flags, .qdcount = 1, .arcount = edns};
    struct dns_writer w;
    int n;

    dns_writer_init(&w, msg, sizeof(msg));
    dns_writer_header(&w, &h);
    dns_writer_question(&w, qname, wire(name, qname), qtype, qclass);
    if (edns) {
        dns_writer_opt(&w, 1232, false, DNS_EDE_NONE, NULL);
    }
    n = dns_writer_finish(&w);
    CHECK_INT(dns_msg_parse_query(msg, (size_t)n, &query), 0);
    return pk_answer_start(&ans, &cfg, &query, out, sizeof(out));
}

static int ask(const char *name, uint16_t qtype)
{
    return ask_flags(name, qtype, DNS_CLASS_IN, DNS_FLAG_RD, false);
}

/* An upstream response being built. */
static struct dns_writer resp_w;
static uint8_t resp[2048];
static uint16_t resp_count[3];

static void resp_begin(const char *qname, uint16_t qtype, unsigned rcode)
{
    uint8_t name[DNS_NAME_MAX];
    struct dns_header h = {
        .id = 7, .flags = (uint16_t)(DNS_FLAG_QR | DNS_FLAG_RA | rcode), .qdcount = 1};

    memset(resp_count, 0, sizeof(resp_count));
    dns_writer_init(&resp_w, resp, sizeof(resp));
    dns_writer_header(&resp_w, &h);
    dns_writer_question(&resp_w, name, wire(qname, name), qtype, DNS_CLASS_IN);
}

static void resp_rr(int section, const char *owner, uint16_t type, const void *rdata, size_t len)
{
    uint8_t name[DNS_NAME_MAX];
    size_t mark = dns_writer_rr_begin(&resp_w, name, wire(owner, name), type, DNS_CLASS_IN, 300);

    dns_writer_bytes(&resp_w, rdata, len);
    dns_writer_rr_end(&resp_w, mark);
    resp_count[section]++;
}

static void resp_name(int section, const char *owner, uint16_t type, const char *target)
{
    uint8_t name[DNS_NAME_MAX];

    resp_rr(section, owner, type, name, wire(target, name));
}

static size_t resp_end(void)
{
    dns_writer_counts(&resp_w, 1, resp_count[0], resp_count[1], resp_count[2]);
    int n = dns_writer_finish(&resp_w);
    CHECK(n > 0);
    return (size_t)n;
}

/* The answer taken apart. */
struct got_rr {
    int section;
    char name[DNS_NAME_TEXT_MAX];
    uint16_t type;
    uint32_t ttl;
    uint8_t rdata[512];
    size_t rdlength;
};

static struct dns_header got;
static size_t n_got;
static struct got_rr got_rr[32];

static void take_apart(void)
{
    struct dns_question q;
    struct dns_rr rr;
    size_t pos = DNS_HEADER_LEN;

    n_got = 0;
    CHECK_INT(dns_msg_header(out, ans.answer_len, &got), 0);
    CHECK_INT(got.id, 0x1234);
    CHECK_INT(got.qdcount, 1);
    CHECK_INT(dns_msg_question(out, ans.answer_len, &pos, &q), 0);
    CHECK(dns_name_equal(q.name, q.name_len, query.q.name, query.q.name_len));
    for (int s = 0; s < 3; s++) {
        unsigned count = s == 0 ? got.ancount : s == 1 ? got.nscount : got.arcount;
        for (unsigned i = 0; i < count && n_got < 32; i++) {
            struct got_rr *g = &got_rr[n_got];
            CHECK_INT(dns_msg_rr(out, ans.answer_len, &pos, &rr), 0);
            if (rr.type == DNS_TYPE_OPT) {
                continue;
            }
            g->section = s;
            dns_name_to_text(rr.name, rr.name_len, g->name, sizeof(g->name));
            g->type = rr.type;
            g->ttl = rr.ttl;
            int n = pk_rr_expand(out, ans.answer_len, rr.type, rr.rdata_pos, rr.rdlength, g->rdata,
                                 sizeof(g->rdata));
            CHECK(n >= 0);
            g->rdlength = n > 0 ? (size_t)n : 0;
            n_got++;
        }
    }
    CHECK_INT(pos, ans.answer_len);
}

static unsigned rcode(void)
{
    return got.flags & DNS_RCODE_MASK;
}

/* True when record i has this owner (K1/K2 expanded), type and, for names, target. */
static bool is_rr(size_t i, int section, const char *owner, uint16_t type, const char *target)
{
    char want[1024];
    char text[DNS_NAME_TEXT_MAX];

    if (i >= n_got || got_rr[i].section != section || got_rr[i].type != type) {
        return false;
    }
    expand(want, sizeof(want), owner);
    if (strcmp(got_rr[i].name, want) != 0) {
        return false;
    }
    if (target == NULL) {
        return true;
    }
    size_t skip = type == DNS_TYPE_MX ? 2 : 0;
    dns_name_to_text(got_rr[i].rdata + skip, got_rr[i].rdlength - skip, text, sizeof(text));
    expand(want, sizeof(want), target);
    return strcmp(text, want) == 0;
}

static bool is_a(size_t i, int section, const char *owner, const char *ip)
{
    uint8_t addr[4];

    inet_pton(AF_INET, ip, addr);
    return is_rr(i, section, owner, DNS_TYPE_A, NULL) && got_rr[i].rdlength == 4 &&
           memcmp(got_rr[i].rdata, addr, 4) == 0;
}

/* Asks for the A records of each name and checks that the start of the resolution answers
 * NXDOMAIN with AA, looking nothing up. */
static void check_nxdomain_at_once(const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        setup();
        CHECK_INT(ask(names[i], DNS_TYPE_A), PK_ANSWER_DONE);
        take_apart();
        CHECK_INT(rcode(), DNS_RCODE_NXDOMAIN);
        CHECK(got.flags & DNS_FLAG_AA);
    }
}

/* ---- which queries are ours ---- */

static void test_answer_forwards_a_name_without_a_key(void)
{
    setup();
    CHECK_INT(ask("www.example.com", DNS_TYPE_A), PK_ANSWER_FORWARD);
    CHECK_INT(ask("K1.example.com", DNS_TYPE_A), PK_ANSWER_FORWARD);
}

static void test_answer_broken_key_label_is_nxdomain(void)
{
    /* 52 z-base32 characters with non-zero padding bits: shaped like a key, not one. */
    setup();
    CHECK_INT(ask("www.8pinxxgqs41n4aididenw5apqp1urfmzdztr8jt4abrkdn435ewa", DNS_TYPE_A),
              PK_ANSWER_DONE);
    take_apart();
    CHECK_INT(rcode(), DNS_RCODE_NXDOMAIN);
    CHECK(got.flags & DNS_FLAG_AA);
}

static void test_answer_broken_key_label_before_the_tld_is_nxdomain(void)
{
    /* The same label before the top-level domain "key": the TLD form of a pkarr name. */
    static const char *const names[] = {
        "8pinxxgqs41n4aididenw5apqp1urfmzdztr8jt4abrkdn435ewa.key",
        "www.8pinxxgqs41n4aididenw5apqp1urfmzdztr8jt4abrkdn435ewa.KEY",
    };

    check_nxdomain_at_once(names, sizeof(names) / sizeof(names[0]));
}

static void test_answer_broken_key_label_before_another_tld_is_forwarded(void)
{
    setup();
    CHECK_INT(ask("8pinxxgqs41n4aididenw5apqp1urfmzdztr8jt4abrkdn435ewa.example", DNS_TYPE_A),
              PK_ANSWER_FORWARD);
    cfg.tld = NULL;
    cfg.tld_len = 0;
    CHECK_INT(ask("8pinxxgqs41n4aididenw5apqp1urfmzdztr8jt4abrkdn435ewa.key", DNS_TYPE_A),
              PK_ANSWER_FORWARD);
}

/* 32 bytes of 0x02: 52 characters with zero padding bits, but no point of the curve (no x
 * satisfies the curve equation for that y), so crypto_core_ed25519_is_valid_point refuses it. */
#define OFF_CURVE_KEY "yebyryonyebyryonyebyryonyebyryonyebyryonyebyryonyeby"

static void test_answer_key_off_the_curve_is_nxdomain(void)
{
    static const char *const names[] = {
        OFF_CURVE_KEY,
        "www." OFF_CURVE_KEY,
        "www." OFF_CURVE_KEY ".key",
    };

    check_nxdomain_at_once(names, sizeof(names) / sizeof(names[0]));
}

static void test_answer_asks_for_the_key_of_the_name(void)
{
    setup();
    CHECK_INT(ask("www.K1", DNS_TYPE_A), PK_ANSWER_NEED_KEY);
    CHECK_MEM(ans.key, k1.pk, 32);
    CHECK_INT(ask("www.K2.key", DNS_TYPE_A), PK_ANSWER_NEED_KEY);
    CHECK_MEM(ans.key, k2.pk, 32);
}

static void test_answer_any_is_dropped_when_disabled(void)
{
    setup();
    cfg.disable_any_queries = true;
    CHECK_INT(ask("K1", DNS_TYPE_ANY), PK_ANSWER_DROP);
    CHECK_INT(ask("example.com", DNS_TYPE_ANY), PK_ANSWER_DROP);
    CHECK_INT(ask("K1", DNS_TYPE_A), PK_ANSWER_NEED_KEY);
}

static void test_answer_other_class_is_refused(void)
{
    setup();
    CHECK_INT(ask_flags("K1", DNS_TYPE_A, DNS_CLASS_CH, DNS_FLAG_RD, false), PK_ANSWER_DONE);
    take_apart();
    CHECK_INT(rcode(), DNS_RCODE_REFUSED);
}

static void test_answer_other_opcode_is_notimp(void)
{
    setup();
    CHECK_INT(ask_flags("K1", DNS_TYPE_A, DNS_CLASS_IN, 2u << DNS_OPCODE_SHIFT, false),
              PK_ANSWER_DONE);
    take_apart();
    CHECK_INT(rcode(), DNS_RCODE_NOTIMP);
}

/* ---- answers from one packet ---- */

static void test_answer_key_without_packet_is_nxdomain(void)
{
    setup();
    ask("www.K1", DNS_TYPE_A);
    CHECK_INT(pk_answer_feed_packet(&ans, NULL, out, sizeof(out)), PK_ANSWER_DONE);
    take_apart();
    CHECK_INT(rcode(), DNS_RCODE_NXDOMAIN);
    CHECK(got.flags & DNS_FLAG_AA);
}

static void test_answer_matching_records_answer_with_aa_and_ra(void)
{
    setup();
    add_a(".", "1.1.1.1", 300);
    add_a(".", "2.2.2.2", 300);
    add_a("www", "3.3.3.3", 300);
    add_name(".", DNS_TYPE_TXT, "x", 300); /* not asked for */
    seal(&k1);
    ask("K1", DNS_TYPE_A);
    CHECK_INT(pk_answer_feed_packet(&ans, &pkt, out, sizeof(out)), PK_ANSWER_DONE);
    take_apart();
    CHECK_INT(rcode(), DNS_RCODE_NOERROR);
    CHECK(got.flags & DNS_FLAG_QR);
    CHECK(got.flags & DNS_FLAG_AA);
    CHECK(got.flags & DNS_FLAG_RA);
    CHECK(got.flags & DNS_FLAG_RD);
    CHECK_INT(n_got, 2);
    CHECK(is_a(0, 0, "K1.", "1.1.1.1"));
    CHECK(is_a(1, 0, "K1.", "2.2.2.2"));
}

static void test_answer_owner_keeps_the_spelling_and_tld_asked(void)
{
    char upper[128];

    setup();
    add_a("www", "3.3.3.3", 300);
    seal(&k1);
    ask("www.K1.key", DNS_TYPE_A);
    CHECK_INT(pk_answer_feed_packet(&ans, &pkt, out, sizeof(out)), PK_ANSWER_DONE);
    take_apart();
    CHECK(is_a(0, 0, "www.K1.key.", "3.3.3.3"));

    snprintf(upper, sizeof(upper), "WwW.%s", k1.text);
    for (char *p = upper + 4; *p != '\0'; p++) {
        *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
    }
    CHECK_INT(ask(upper, DNS_TYPE_A), PK_ANSWER_NEED_KEY);
    CHECK_INT(pk_answer_feed_packet(&ans, &pkt, out, sizeof(out)), PK_ANSWER_DONE);
    take_apart();
    strcat(upper, ".");
    CHECK(is_a(0, 0, upper, "3.3.3.3"));
}

static void test_answer_missing_type_is_nodata(void)
{
    setup();
    add_a("www", "3.3.3.3", 300);
    seal(&k1);
    ask("www.K1", DNS_TYPE_AAAA);
    CHECK_INT(pk_answer_feed_packet(&ans, &pkt, out, sizeof(out)), PK_ANSWER_DONE);
    take_apart();
    CHECK_INT(rcode(), DNS_RCODE_NOERROR);
    CHECK_INT(n_got, 0);
    CHECK(got.flags & DNS_FLAG_AA);
}

static void test_answer_missing_name_is_nodata(void)
{
    setup();
    add_a("www", "3.3.3.3", 300);
    seal(&k1);
    ask("nothing.K1", DNS_TYPE_A);
    CHECK_INT(pk_answer_feed_packet(&ans, &pkt, out, sizeof(out)), PK_ANSWER_DONE);
    take_apart();
    CHECK_INT(rcode(), DNS_RCODE_NOERROR);
    CHECK_INT(n_got, 0);
}

static void test_answer_ttls_are_clamped(void)
{
    setup();
    add_a("low", "1.1.1.1", 0);
    add_a("high", "1.1.1.1", 999999);
    seal(&k1);
    ask("low.K1", DNS_TYPE_A);
    pk_answer_feed_packet(&ans, &pkt, out, sizeof(out));
    take_apart();
    CHECK_INT(got_rr[0].ttl, 60);
    ask("high.K1", DNS_TYPE_A);
    pk_answer_feed_packet(&ans, &pkt, out, sizeof(out));
    take_apart();
    CHECK_INT(got_rr[0].ttl, 86400);
}

static void test_answer_cached_packet_ttls_count_down_by_its_age(void)
{
    setup();
    add_name("www", DNS_TYPE_CNAME, "host.K1", 600);
    add_a("host", "1.1.1.1", 300);
    add_a("host", "2.2.2.2", 0); /* read as min_ttl, 60 */
    seal(&k1);
    ask("www.K1", DNS_TYPE_A);
    CHECK_INT(pk_answer_feed_cached(&ans, &pkt, 45, false, out, sizeof(out)), PK_ANSWER_DONE);
    take_apart();
    CHECK_INT(n_got, 3);
    CHECK(is_rr(0, 0, "www.K1.", DNS_TYPE_CNAME, "host.K1."));
    CHECK_INT(got_rr[0].ttl, 555);
    CHECK_INT(got_rr[1].ttl, 255);
    CHECK_INT(got_rr[2].ttl, 15);
}

static void test_answer_cached_packet_ttl_never_reads_below_one(void)
{
    /* Cached when min_ttl was larger: the packet is still fresh, the record's TTL is spent. */
    setup();
    cfg.min_ttl = 10;
    add_a(".", "1.1.1.1", 10);
    seal(&k1);
    ask("K1", DNS_TYPE_A);
    CHECK_INT(pk_answer_feed_cached(&ans, &pkt, 50, false, out, sizeof(out)), PK_ANSWER_DONE);
    take_apart();
    CHECK_INT(got_rr[0].ttl, 1);
}

static void test_answer_stale_packet_ttls_read_30_at_most(void)
{
    setup();
    cfg.min_ttl = 1;
    add_a("www", "1.1.1.1", 300);
    add_a("www", "2.2.2.2", 10);
    seal(&k1);
    ask("www.K1", DNS_TYPE_A);
    CHECK_INT(pk_answer_feed_cached(&ans, &pkt, 400, true, out, sizeof(out)), PK_ANSWER_DONE);
    take_apart();
    CHECK_INT(n_got, 2);
    CHECK_INT(got_rr[0].ttl, PK_ANSWER_STALE_TTL_S);
    CHECK_INT(got_rr[1].ttl, 10);
}

/* Feeds key 1's packet as the cache holds it at now_ms to a query for K1 A; returns the
 * answer's first TTL. */
static uint32_t ttl_from_cache(struct pk_cache *cache, uint64_t now_ms)
{
    struct pk_cache_hit hit;
    struct pk_packet cached;

    CHECK(pk_cache_get(cache, k1.pk, now_ms, &hit) != PK_CACHE_MISS);
    CHECK_INT(pk_packet_decode(hit.packet, hit.len, false, &cached), 0);
    ask("K1", DNS_TYPE_A);
    CHECK_INT(pk_answer_feed_cached(&ans, &cached, hit.age_s, hit.state == PK_CACHE_STALE, out,
                                    sizeof(out)),
              PK_ANSWER_DONE);
    take_apart();
    CHECK_INT(n_got, 1);
    return got_rr[0].ttl;
}

static void test_answer_ttls_from_the_cache_follow_the_clock(void)
{
    /* A fake clock: milliseconds since the Unix epoch, starting at 2023-10-11. */
    const uint64_t t0_ms = 1697016827000ull;
    struct pk_cache_config cc = {
        .max_bytes = 1 << 20, .min_ttl_s = 60, .max_ttl_s = 86400, .max_stale_s = 3600};
    struct pk_cache *cache;

    setup();
    add_a(".", "1.1.1.1", 300);
    seal(&k1);
    CHECK_INT(pk_cache_new(&cc, &cache), 0);
    CHECK_INT(pk_cache_put(cache, sealed, sealed_len, t0_ms), 1);
    CHECK_INT(ttl_from_cache(cache, t0_ms + 500), 300);
    CHECK_INT(ttl_from_cache(cache, t0_ms + 100 * 1000), 200);
    CHECK_INT(ttl_from_cache(cache, t0_ms + 299999), 1);
    CHECK_INT(ttl_from_cache(cache, t0_ms + 300 * 1000), PK_ANSWER_STALE_TTL_S); /* stale */
    CHECK_INT(ttl_from_cache(cache, t0_ms + 1000 * 1000), PK_ANSWER_STALE_TTL_S);
    pk_cache_free(cache);
}

static void test_answer_any_lists_every_record_at_the_name(void)
{
    setup();
    add_a("www", "1.1.1.1", 300);
    add_name("www", DNS_TYPE_TXT, "x", 300);
    add_a("other", "2.2.2.2", 300);
    seal(&k1);
    ask("www.K1", DNS_TYPE_ANY);
    CHECK_INT(pk_answer_feed_packet(&ans, &pkt, out, sizeof(out)), PK_ANSWER_DONE);
    take_apart();
    CHECK_INT(n_got, 2);
}

static void test_answer_edns_query_gets_an_opt_record(void)
{
    struct dns_response r;

    setup();
    add_a(".", "1.1.1.1", 300);
    seal(&k1);
    ask_flags("K1", DNS_TYPE_A, DNS_CLASS_IN, DNS_FLAG_RD, true);
    pk_answer_feed_packet(&ans, &pkt, out, sizeof(out));
    CHECK_INT(dns_msg_scan_response(out, ans.answer_len, &r), 0);
    CHECK(r.has_edns);
    CHECK_INT(r.hdr.ancount, 1);
}

/* ---- CNAMEs ---- */

static void test_answer_cname_inside_the_packet_is_followed(void)
{
    setup();
    add_name("www", DNS_TYPE_CNAME, "web.K1", 300);
    add_name("web", DNS_TYPE_CNAME, "host.K1", 300);
    add_a("host", "4.4.4.4", 300);
    seal(&k1);
    ask("www.K1", DNS_TYPE_A);
    CHECK_INT(pk_answer_feed_packet(&ans, &pkt, out, sizeof(out)), PK_ANSWER_DONE);
    take_apart();
    CHECK_INT(n_got, 3);
    CHECK(is_rr(0, 0, "www.K1.", DNS_TYPE_CNAME, "web.K1."));
    CHECK(is_rr(1, 0, "web.K1.", DNS_TYPE_CNAME, "host.K1."));
    CHECK(is_a(2, 0, "host.K1.", "4.4.4.4"));
}

static void test_answer_cname_query_gets_the_cname_alone(void)
{
    setup();
    add_name("www", DNS_TYPE_CNAME, "host.K1", 300);
    add_a("host", "4.4.4.4", 300);
    seal(&k1);
    ask("www.K1", DNS_TYPE_CNAME);
    pk_answer_feed_packet(&ans, &pkt, out, sizeof(out));
    take_apart();
    CHECK_INT(n_got, 1);
    CHECK(is_rr(0, 0, "www.K1.", DNS_TYPE_CNAME, "host.K1."));
}

static void test_answer_cname_loop_ends_in_servfail(void)
{
    setup();
    add_name("loop", DNS_TYPE_CNAME, "loop.K1", 300);
    seal(&k1);
    ask("loop.K1", DNS_TYPE_A);
    CHECK_INT(pk_answer_feed_packet(&ans, &pkt, out, sizeof(out)), PK_ANSWER_DONE);
    take_apart();
    CHECK_INT(rcode(), DNS_RCODE_SERVFAIL);
    CHECK_INT(n_got, 0);
}

static void test_answer_cname_to_another_key_asks_for_that_key(void)
{
    setup();
    add_name("www", DNS_TYPE_CNAME, "site.K2", 300);
    seal(&k1);
    ask("www.K1", DNS_TYPE_A);
    CHECK_INT(pk_answer_feed_packet(&ans, &pkt, out, sizeof(out)), PK_ANSWER_NEED_KEY);
    CHECK_MEM(ans.key, k2.pk, 32);

    add_a("site", "5.5.5.5", 300);
    seal(&k2);
    CHECK_INT(pk_answer_feed_packet(&ans, &pkt, out, sizeof(out)), PK_ANSWER_DONE);
    take_apart();
    CHECK_INT(n_got, 2);
    CHECK(is_rr(0, 0, "www.K1.", DNS_TYPE_CNAME, "site.K2."));
    CHECK(is_a(1, 0, "site.K2.", "5.5.5.5"));
}

static void test_answer_cname_to_a_missing_key_is_nxdomain_with_the_chain(void)
{
    setup();
    add_name("www", DNS_TYPE_CNAME, "site.K2", 300);
    seal(&k1);
    ask("www.K1", DNS_TYPE_A);
    pk_answer_feed_packet(&ans, &pkt, out, sizeof(out));
    CHECK_INT(pk_answer_feed_packet(&ans, NULL, out, sizeof(out)), PK_ANSWER_DONE);
    take_apart();
    CHECK_INT(rcode(), DNS_RCODE_NXDOMAIN);
    CHECK_INT(n_got, 1);
    CHECK(is_rr(0, 0, "www.K1.", DNS_TYPE_CNAME, "site.K2."));
}

static void test_answer_cname_to_an_icann_name_asks_the_forward_server(void)
{
    uint8_t q[512];
    struct dns_query sent;
    int n;

    setup();
    add_name("www", DNS_TYPE_CNAME, "example.com", 300);
    seal(&k1);
    ask("www.K1", DNS_TYPE_A);
    CHECK_INT(pk_answer_feed_packet(&ans, &pkt, out, sizeof(out)), PK_ANSWER_NEED_ICANN);
    n = pk_answer_write_query(&ans, 99, q, sizeof(q));
    CHECK(n > 0);
    CHECK_INT(dns_msg_parse_query(q, (size_t)n, &sent), 0);
    CHECK_INT(sent.hdr.id, 99);
    CHECK(sent.hdr.flags & DNS_FLAG_RD);
    CHECK_INT(sent.q.qtype, DNS_TYPE_A);
    CHECK(sent.has_edns);

    resp_begin("example.com", DNS_TYPE_A, DNS_RCODE_NOERROR);
    resp_rr(0, "example.com", DNS_TYPE_A, "\x5d\xb8\xd8\x22", 4);
    CHECK_INT(pk_answer_feed_response(&ans, resp, resp_end(), out, sizeof(out)), PK_ANSWER_DONE);
    take_apart();
    CHECK_INT(rcode(), DNS_RCODE_NOERROR);
    CHECK(got.flags & DNS_FLAG_AA);
    CHECK_INT(n_got, 2);
    CHECK(is_rr(0, 0, "www.K1.", DNS_TYPE_CNAME, "example.com."));
    CHECK(is_a(1, 0, "example.com.", "93.184.216.34"));
}

static void test_answer_forward_server_error_keeps_the_chain(void)
{
    setup();
    add_name("www", DNS_TYPE_CNAME, "gone.example.com", 300);
    seal(&k1);
    ask("www.K1", DNS_TYPE_A);
    pk_answer_feed_packet(&ans, &pkt, out, sizeof(out));
    resp_begin("gone.example.com", DNS_TYPE_A, DNS_RCODE_NXDOMAIN);
    CHECK_INT(pk_answer_feed_response(&ans, resp, resp_end(), out, sizeof(out)), PK_ANSWER_DONE);
    take_apart();
    CHECK_INT(rcode(), DNS_RCODE_NXDOMAIN);
    CHECK_INT(n_got, 1);
}

static void test_answer_forward_server_chain_back_into_pkarr_asks_for_the_key(void)
{
    setup();
    add_name("www", DNS_TYPE_CNAME, "alias.example.com", 300);
    seal(&k1);
    ask("www.K1", DNS_TYPE_A);
    pk_answer_feed_packet(&ans, &pkt, out, sizeof(out));

    /* The forward server knows the alias but not the key: NXDOMAIN after the CNAME. */
    resp_begin("alias.example.com", DNS_TYPE_A, DNS_RCODE_NXDOMAIN);
    resp_name(0, "alias.example.com", DNS_TYPE_CNAME, "site.K2");
    CHECK_INT(pk_answer_feed_response(&ans, resp, resp_end(), out, sizeof(out)),
              PK_ANSWER_NEED_KEY);
    CHECK_MEM(ans.key, k2.pk, 32);

    add_a("site", "6.6.6.6", 300);
    seal(&k2);
    CHECK_INT(pk_answer_feed_packet(&ans, &pkt, out, sizeof(out)), PK_ANSWER_DONE);
    take_apart();
    CHECK_INT(rcode(), DNS_RCODE_NOERROR);
    CHECK_INT(n_got, 3);
    CHECK(is_rr(1, 0, "alias.example.com.", DNS_TYPE_CNAME, "site.K2."));
    CHECK(is_a(2, 0, "site.K2.", "6.6.6.6"));
}

static void test_answer_without_rd_stops_at_the_packet(void)
{
    setup();
    add_name("www", DNS_TYPE_CNAME, "example.com", 300);
    seal(&k1);
    ask_flags("www.K1", DNS_TYPE_A, DNS_CLASS_IN, 0, false);
    CHECK_INT(pk_answer_feed_packet(&ans, &pkt, out, sizeof(out)), PK_ANSWER_DONE);
    take_apart();
    CHECK_INT(n_got, 1);
    CHECK(is_rr(0, 0, "www.K1.", DNS_TYPE_CNAME, "example.com."));
    CHECK(!(got.flags & DNS_FLAG_RD));
}

static void test_answer_depth_one_means_no_recursion_and_no_ra(void)
{
    setup();
    cfg.max_recursion_depth = 1;
    add_name("www", DNS_TYPE_CNAME, "site.K2", 300);
    seal(&k1);
    ask("www.K1", DNS_TYPE_A);
    CHECK_INT(pk_answer_feed_packet(&ans, &pkt, out, sizeof(out)), PK_ANSWER_DONE);
    take_apart();
    CHECK(!(got.flags & DNS_FLAG_RA));
    CHECK_INT(n_got, 1);
}

/* a.K1 -> b.K2 -> c.K1 -> d.K2: packets handed over as the resolution asks for them. */
static int follow_chain_with_depth(unsigned depth)
{
    setup();
    cfg.max_recursion_depth = depth;
    ask("a.K1", DNS_TYPE_A);
    add_name("a", DNS_TYPE_CNAME, "b.K2", 300);
    add_name("c", DNS_TYPE_CNAME, "d.K2", 300);
    seal(&k1);
    CHECK_INT(pk_answer_feed_packet(&ans, &pkt, out, sizeof(out)), PK_ANSWER_NEED_KEY);
    add_name("b", DNS_TYPE_CNAME, "c.K1", 300);
    add_a("d", "7.7.7.7", 300);
    seal(&k2);
    CHECK_INT(pk_answer_feed_packet(&ans, &pkt, out, sizeof(out)), PK_ANSWER_NEED_KEY);
    add_name("a", DNS_TYPE_CNAME, "b.K2", 300);
    add_name("c", DNS_TYPE_CNAME, "d.K2", 300);
    seal(&k1);
    return pk_answer_feed_packet(&ans, &pkt, out, sizeof(out));
}

static void test_answer_recursion_depth_limits_the_names_followed(void)
{
    /* Three names resolved; d.K2 would be the fourth. */
    CHECK_INT(follow_chain_with_depth(3), PK_ANSWER_DONE);
    take_apart();
    CHECK_INT(rcode(), DNS_RCODE_SERVFAIL);

    CHECK_INT(follow_chain_with_depth(4), PK_ANSWER_NEED_KEY);
    CHECK_MEM(ans.key, k2.pk, 32);
}

/* ---- NS delegations ---- */

static void test_answer_delegation_with_glue_asks_the_delegated_server(void)
{
    char text[ADDR_TEXT_MAX];

    setup();
    add_name("sub", DNS_TYPE_NS, "ns.sub.K1", 300);
    add_a("ns.sub", "95.217.214.181", 300);
    add_a("ns.sub", "2001:db8::53", 300);
    seal(&k1);
    ask("www.sub.K1", DNS_TYPE_A);
    CHECK_INT(pk_answer_feed_packet(&ans, &pkt, out, sizeof(out)), PK_ANSWER_NEED_SERVER);
    CHECK_INT(ans.n_servers, 2);
    CHECK_STR(addr_format(&ans.servers[0], text, sizeof(text)), "95.217.214.181:53");
    CHECK_STR(addr_format(&ans.servers[1], text, sizeof(text)), "[2001:db8::53]:53");

    resp_begin("www.sub.K1", DNS_TYPE_A, DNS_RCODE_NOERROR);
    resp_rr(0, "www.sub.K1", DNS_TYPE_A, "\x25\x1b\x0d\xb6", 4);
    CHECK_INT(pk_answer_feed_response(&ans, resp, resp_end(), out, sizeof(out)), PK_ANSWER_DONE);
    take_apart();
    CHECK_INT(n_got, 1);
    CHECK(is_a(0, 0, "www.sub.K1.", "37.27.13.182"));
}

static void test_answer_delegated_server_is_asked_without_the_tld(void)
{
    uint8_t query_msg[512];
    struct dns_query sent;
    char text[DNS_NAME_TEXT_MAX], want[DNS_NAME_TEXT_MAX];
    int n;

    setup();
    add_name("sub", DNS_TYPE_NS, "ns.sub.K1", 600);
    add_a("ns.sub", "95.217.214.181", 300);
    seal(&k1);
    ask("www.sub.K1.key", DNS_TYPE_A);
    CHECK_INT(pk_answer_feed_packet(&ans, &pkt, out, sizeof(out)), PK_ANSWER_NEED_SERVER);
    n = pk_answer_write_query(&ans, 9, query_msg, sizeof(query_msg));
    CHECK(n > 0);
    CHECK_INT(dns_msg_parse_query(query_msg, (size_t)n, &sent), 0);
    CHECK(dns_name_to_text(sent.q.name, sent.q.name_len, text, sizeof(text)) > 0);
    expand(want, sizeof(want), "www.sub.K1.");
    CHECK_STR(text, want);

    resp_begin("www.sub.K1", DNS_TYPE_A, DNS_RCODE_NOERROR);
    resp_rr(0, "www.sub.K1", DNS_TYPE_A, "\x25\x1b\x0d\xb6", 4);
    CHECK_INT(pk_answer_feed_response(&ans, resp, resp_end(), out, sizeof(out)), PK_ANSWER_DONE);
    take_apart();
    CHECK_INT(n_got, 2);
    CHECK(is_rr(0, 0, "www.sub.K1.key.", DNS_TYPE_CNAME, "www.sub.K1."));
    CHECK_INT(got_rr[0].ttl, 600);
    CHECK(is_a(1, 0, "www.sub.K1.", "37.27.13.182"));
}

static void test_answer_delegation_without_rd_is_a_referral(void)
{
    setup();
    add_name("sub", DNS_TYPE_NS, "ns.sub.K1", 300);
    add_a("ns.sub", "95.217.214.181", 300);
    seal(&k1);
    ask_flags("deep.www.sub.K1.key", DNS_TYPE_A, DNS_CLASS_IN, 0, false);
    CHECK_INT(pk_answer_feed_packet(&ans, &pkt, out, sizeof(out)), PK_ANSWER_DONE);
    take_apart();
    CHECK_INT(rcode(), DNS_RCODE_NOERROR);
    CHECK(!(got.flags & DNS_FLAG_AA));
    CHECK_INT(got.ancount, 0);
    CHECK(is_rr(0, 1, "sub.K1.key.", DNS_TYPE_NS, "ns.sub.K1."));
    CHECK(is_a(1, 2, "ns.sub.K1.", "95.217.214.181"));
}

static void test_answer_delegation_without_glue_is_a_referral(void)
{
    setup();
    add_name("sub", DNS_TYPE_NS, "ns.example.net", 300);
    seal(&k1);
    ask("www.sub.K1", DNS_TYPE_A);
    CHECK_INT(pk_answer_feed_packet(&ans, &pkt, out, sizeof(out)), PK_ANSWER_DONE);
    take_apart();
    CHECK_INT(n_got, 1);
    CHECK(is_rr(0, 1, "sub.K1.", DNS_TYPE_NS, "ns.example.net."));
}

static void test_answer_ns_at_the_apex_delegates_nothing(void)
{
    setup();
    add_name(".", DNS_TYPE_NS, "dns1.example.com", 300);
    add_a("www", "1.1.1.1", 300);
    seal(&k1);
    ask("nothing.K1", DNS_TYPE_A);
    CHECK_INT(pk_answer_feed_packet(&ans, &pkt, out, sizeof(out)), PK_ANSWER_DONE);
    take_apart();
    CHECK_INT(n_got, 0);
    CHECK(got.flags & DNS_FLAG_AA);

    ask("K1", DNS_TYPE_NS);
    CHECK_INT(pk_answer_feed_packet(&ans, &pkt, out, sizeof(out)), PK_ANSWER_DONE);
    take_apart();
    CHECK(is_rr(0, 0, "K1.", DNS_TYPE_NS, "dns1.example.com."));
}

static void test_answer_delegated_server_referral_is_followed(void)
{
    setup();
    add_name("sub", DNS_TYPE_NS, "ns.sub.K1", 300);
    add_a("ns.sub", "10.0.0.1", 300);
    seal(&k1);
    ask("www.deeper.sub.K1", DNS_TYPE_A);
    CHECK_INT(pk_answer_feed_packet(&ans, &pkt, out, sizeof(out)), PK_ANSWER_NEED_SERVER);

    resp_begin("www.deeper.sub.K1", DNS_TYPE_A, DNS_RCODE_NOERROR);
    resp_name(1, "deeper.sub.K1", DNS_TYPE_NS, "ns.deeper.sub.K1");
    resp_rr(2, "ns.deeper.sub.K1", DNS_TYPE_A, "\x0a\x00\x00\x02", 4);
    CHECK_INT(pk_answer_feed_response(&ans, resp, resp_end(), out, sizeof(out)),
              PK_ANSWER_NEED_SERVER);
    CHECK_INT(ans.n_servers, 1);
}

static void test_answer_authoritative_nodata_with_ns_is_not_a_referral(void)
{
    setup();
    add_name("sub", DNS_TYPE_NS, "ns.sub.K1", 300);
    add_a("ns.sub", "10.0.0.1", 300);
    seal(&k1);
    ask("www.sub.K1", DNS_TYPE_AAAA);
    CHECK_INT(pk_answer_feed_packet(&ans, &pkt, out, sizeof(out)), PK_ANSWER_NEED_SERVER);

    /* The delegated server's own NODATA, with its zone's NS and their address beside it. */
    resp_begin("www.sub.K1", DNS_TYPE_AAAA, DNS_RCODE_NOERROR);
    resp[2] |= DNS_FLAG_AA >> 8;
    resp_name(1, "sub.K1", DNS_TYPE_NS, "ns.sub.K1");
    resp_rr(2, "ns.sub.K1", DNS_TYPE_A, "\x0a\x00\x00\x01", 4);
    CHECK_INT(pk_answer_feed_response(&ans, resp, resp_end(), out, sizeof(out)), PK_ANSWER_DONE);
    take_apart();
    CHECK_INT(rcode(), DNS_RCODE_NOERROR);
    CHECK(got.flags & DNS_FLAG_AA);
    CHECK_INT(got.ancount, 0);
    CHECK(is_rr(0, 1, "sub.K1.", DNS_TYPE_NS, "ns.sub.K1."));
}

/* ---- bad input and failures ---- */

static void test_answer_response_to_another_question_servfails(void)
{
    setup();
    add_name("www", DNS_TYPE_CNAME, "example.com", 300);
    seal(&k1);
    ask("www.K1", DNS_TYPE_A);
    pk_answer_feed_packet(&ans, &pkt, out, sizeof(out));
    resp_begin("example.org", DNS_TYPE_A, DNS_RCODE_NOERROR);
    CHECK_INT(pk_answer_feed_response(&ans, resp, resp_end(), out, sizeof(out)), PK_ANSWER_DONE);
    take_apart();
    CHECK_INT(rcode(), DNS_RCODE_SERVFAIL);
}

static void test_answer_truncated_response_servfails(void)
{
    setup();
    add_name("www", DNS_TYPE_CNAME, "example.com", 300);
    seal(&k1);
    ask("www.K1", DNS_TYPE_A);
    pk_answer_feed_packet(&ans, &pkt, out, sizeof(out));
    resp_begin("example.com", DNS_TYPE_A, DNS_RCODE_NOERROR);
    size_t len = resp_end();
    resp[2] |= DNS_FLAG_TC >> 8;
    CHECK_INT(pk_answer_feed_response(&ans, resp, len, out, sizeof(out)), PK_ANSWER_DONE);
    take_apart();
    CHECK_INT(rcode(), DNS_RCODE_SERVFAIL);
}

static void test_answer_every_truncated_response_is_handled(void)
{
    setup();
    add_name("www", DNS_TYPE_CNAME, "example.com", 300);
    seal(&k1);
    resp_begin("example.com", DNS_TYPE_MX, DNS_RCODE_NOERROR);
    resp_rr(0, "example.com", DNS_TYPE_MX, "\x00\x0a\x04mail\xc0\x0c", 9);
    size_t len = resp_end();
    for (size_t cut = 0; cut < len; cut++) {
        ask("www.K1", DNS_TYPE_MX);
        pk_answer_feed_packet(&ans, &pkt, out, sizeof(out));
        CHECK_INT(pk_answer_feed_response(&ans, resp, cut, out, sizeof(out)), PK_ANSWER_DONE);
        take_apart();
        CHECK_INT(rcode(), DNS_RCODE_SERVFAIL);
    }
    ask("www.K1", DNS_TYPE_MX);
    pk_answer_feed_packet(&ans, &pkt, out, sizeof(out));
    CHECK_INT(pk_answer_feed_response(&ans, resp, len, out, sizeof(out)), PK_ANSWER_DONE);
    take_apart();
    CHECK(is_rr(1, 0, "example.com.", DNS_TYPE_MX, "mail.example.com."));
}

static void test_answer_failed_lookup_is_servfail_with_ede(void)
{
    struct dns_response r;

    setup();
    ask_flags("K1", DNS_TYPE_A, DNS_CLASS_IN, DNS_FLAG_RD, true);
    CHECK_INT(pk_answer_fail(&ans, "DHT lookup timed out", out, sizeof(out)), PK_ANSWER_DONE);
    CHECK_INT(dns_msg_scan_response(out, ans.answer_len, &r), 0);
    CHECK_INT(dns_msg_rcode(&r.hdr), DNS_RCODE_SERVFAIL);
    CHECK_INT(r.ede_code, DNS_EDE_NO_REACHABLE_AUTHORITY);
}

static void test_answer_feeding_out_of_turn_is_refused(void)
{
    setup();
    add_a(".", "1.1.1.1", 300);
    seal(&k2);
    CHECK_INT(ask("K1", DNS_TYPE_A), PK_ANSWER_NEED_KEY);
    CHECK_INT(pk_answer_feed_packet(&ans, &pkt, out, sizeof(out)), -EINVAL); /* K2's packet */
    CHECK_INT(pk_answer_feed_response(&ans, resp, 12, out, sizeof(out)), -EINVAL);
    CHECK_INT(pk_answer_write_query(&ans, 1, out, sizeof(out)), -EINVAL);
}

static void test_answer_too_small_buffer_is_enospc(void)
{
    setup();
    ask("K1", DNS_TYPE_A);
    CHECK_INT(pk_answer_feed_packet(&ans, NULL, out, 20), -ENOSPC);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_answer_forwards_a_name_without_a_key),
        UNIT(test_answer_broken_key_label_is_nxdomain),
        UNIT(test_answer_broken_key_label_before_the_tld_is_nxdomain),
        UNIT(test_answer_broken_key_label_before_another_tld_is_forwarded),
        UNIT(test_answer_key_off_the_curve_is_nxdomain),
        UNIT(test_answer_asks_for_the_key_of_the_name),
        UNIT(test_answer_any_is_dropped_when_disabled),
        UNIT(test_answer_other_class_is_refused),
        UNIT(test_answer_other_opcode_is_notimp),
        UNIT(test_answer_key_without_packet_is_nxdomain),
        UNIT(test_answer_matching_records_answer_with_aa_and_ra),
        UNIT(test_answer_owner_keeps_the_spelling_and_tld_asked),
        UNIT(test_answer_missing_type_is_nodata),
        UNIT(test_answer_missing_name_is_nodata),
        UNIT(test_answer_ttls_are_clamped),
        UNIT(test_answer_cached_packet_ttls_count_down_by_its_age),
        UNIT(test_answer_cached_packet_ttl_never_reads_below_one),
        UNIT(test_answer_stale_packet_ttls_read_30_at_most),
        UNIT(test_answer_ttls_from_the_cache_follow_the_clock),
        UNIT(test_answer_any_lists_every_record_at_the_name),
        UNIT(test_answer_edns_query_gets_an_opt_record),
        UNIT(test_answer_cname_inside_the_packet_is_followed),
        UNIT(test_answer_cname_query_gets_the_cname_alone),
        UNIT(test_answer_cname_loop_ends_in_servfail),
        UNIT(test_answer_cname_to_another_key_asks_for_that_key),
        UNIT(test_answer_cname_to_a_missing_key_is_nxdomain_with_the_chain),
        UNIT(test_answer_cname_to_an_icann_name_asks_the_forward_server),
        UNIT(test_answer_forward_server_error_keeps_the_chain),
        UNIT(test_answer_forward_server_chain_back_into_pkarr_asks_for_the_key),
        UNIT(test_answer_without_rd_stops_at_the_packet),
        UNIT(test_answer_depth_one_means_no_recursion_and_no_ra),
        UNIT(test_answer_recursion_depth_limits_the_names_followed),
        UNIT(test_answer_delegation_with_glue_asks_the_delegated_server),
        UNIT(test_answer_delegated_server_is_asked_without_the_tld),
        UNIT(test_answer_delegation_without_rd_is_a_referral),
        UNIT(test_answer_delegation_without_glue_is_a_referral),
        UNIT(test_answer_ns_at_the_apex_delegates_nothing),
        UNIT(test_answer_delegated_server_referral_is_followed),
        UNIT(test_answer_authoritative_nodata_with_ns_is_not_a_referral),
        UNIT(test_answer_response_to_another_question_servfails),
        UNIT(test_answer_truncated_response_servfails),
        UNIT(test_answer_every_truncated_response_is_handled),
        UNIT(test_answer_failed_lookup_is_servfail_with_ede),
        UNIT(test_answer_feeding_out_of_turn_is_refused),
        UNIT(test_answer_too_small_buffer_is_enospc),
    };

    if (sodium_init() < 0) {
        return 1;
    }
    return unit_run("pk_answer", tests, sizeof(tests) / sizeof(tests[0]));
}
