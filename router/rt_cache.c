#include "rt_cache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dns_cache.h"

/* Bytes allowed per configured entry: more than the largest entry takes (an answer of
 * RT_CACHE_ANSWER_MAX octets, its key and TTL offsets, the cache's own bookkeeping), so
 * that the number of entries, not their size, is the bound that applies. */
#define RT_CACHE_BYTES_PER_ENTRY 8192

/* EDNS options that do not change an answer (option codes from the IANA registry). */
#define RT_CACHE_OPTION_COOKIE 10  /* RFC 7873 */
#define RT_CACHE_OPTION_PADDING 12 /* RFC 7830 */

/* Query header bits that change an answer: opcode, RD, AD (RFC 6840 5.7) and CD. */
#define RT_CACHE_KEY_FLAGS (DNS_OPCODE_MASK | DNS_FLAG_RD | DNS_FLAG_AD | DNS_FLAG_CD)

struct rt_cache {
    struct rt_cache_config cfg;
    struct dns_cache *entries;
    uint64_t ttl_too_short;
};

int rt_cache_new(const struct rt_cache_config *cfg, struct rt_cache **out)
{
    struct dns_cache_config dc = {.max_entries = cfg->size};
    uint64_t bytes = ((uint64_t)cfg->size + 2) * RT_CACHE_BYTES_PER_ENTRY;
    struct rt_cache *c;
    int rc;

    if (cfg->size == 0) {
        return -EINVAL;
    }
    dc.max_bytes = bytes > SIZE_MAX ? SIZE_MAX : (size_t)bytes;
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return -ENOMEM;
    }
    c->cfg = *cfg;
    rc = dns_cache_new(&dc, &c->entries);
    if (rc != 0) {
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void rt_cache_free(struct rt_cache *c)
{
    if (c == NULL) {
        return;
    }
    dns_cache_free(c->entries);
    free(c);
}

const struct rt_cache_config *rt_cache_settings(const struct rt_cache *c)
{
    return &c->cfg;
}

/* True when every option in an OPT record's RDATA (RFC 6891 6.1.2) is a cookie or padding. */
static bool rt_cache_options_harmless(const uint8_t *rdata, size_t rdlength)
{
    size_t at = 0;

    while (at < rdlength) {
        if (rdlength - at < 4) {
            return false;
        }
        uint16_t code = (uint16_t)(rdata[at] << 8 | rdata[at + 1]);
        size_t opt_len = (size_t)(rdata[at + 2] << 8 | rdata[at + 3]);
        at += 4;
        if (rdlength - at < opt_len ||
            (code != RT_CACHE_OPTION_COOKIE && code != RT_CACHE_OPTION_PADDING)) {
            return false;
        }
        at += opt_len;
    }
    return true;
}

bool rt_cache_query_cacheable(const struct dns_query *q, const uint8_t *msg, size_t len)
{
    size_t pos = q->question_end;
    struct dns_rr rr;

    if (dns_msg_opcode(&q->hdr) != DNS_OPCODE_QUERY || q->q.qtype == DNS_TYPE_AXFR ||
        q->q.qtype == DNS_TYPE_IXFR) {
        return false;
    }
    /* Anything but one OPT record beside the question (a TSIG, say) makes the answer this
     * client's own. */
    if (q->hdr.ancount != 0 || q->hdr.nscount != 0 || q->hdr.arcount != (q->has_edns ? 1 : 0)) {
        return false;
    }
    if (!q->has_edns) {
        return true;
    }
    if (dns_msg_rr(msg, len, &pos, &rr) != 0 || rr.type != DNS_TYPE_OPT) {
        return false;
    }
    return rt_cache_options_harmless(msg + rr.rdata_pos, rr.rdlength);
}

static uint8_t rt_cache_lower(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c + ('a' - 'A')) : c;
}

size_t rt_cache_key(const struct dns_query *q, uint8_t *key)
{
    uint16_t flags = q->hdr.flags & RT_CACHE_KEY_FLAGS;

    key[0] = (uint8_t)(flags >> 8);
    key[1] = (uint8_t)flags;
    key[2] = (uint8_t)(q->q.qtype >> 8);
    key[3] = (uint8_t)q->q.qtype;
    key[4] = (uint8_t)(q->q.qclass >> 8);
    key[5] = (uint8_t)q->q.qclass;
    key[6] = q->has_edns;
    key[7] = q->has_edns ? q->edns_version : 0;
    key[8] = q->has_edns && q->edns_do;
    /* Length octets are at most 63 (RFC 1035 2.3.4), below 'A': lowering the whole wire
     * form touches only the labels' letters. */
    for (size_t i = 0; i < q->q.name_len; i++) {
        key[9 + i] = rt_cache_lower(q->q.name[i]);
    }
    return 9 + q->q.name_len;
}

static uint32_t rt_cache_min(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

uint32_t rt_cache_lifetime(const struct rt_cache_config *cfg, const struct dns_response *r,
                           bool *too_short)
{
    unsigned rcode = dns_msg_rcode(&r->hdr);
    uint32_t life;

    *too_short = false;
    if ((r->hdr.flags & DNS_FLAG_TC) || r->n_ttl > DNS_MSG_MAX_TTLS) {
        return 0;
    }
    if (rcode == DNS_RCODE_SERVFAIL || rcode == DNS_RCODE_REFUSED) {
        return cfg->temp_failure_ttl;
    }
    if (r->n_ttl == 0) {
        return 0; /* no TTL to go by (an NXDOMAIN without SOA, say): as dnsdist, not kept */
    }
    life = r->min_ttl;
    if (rcode == DNS_RCODE_NXDOMAIN || (rcode == DNS_RCODE_NOERROR && r->has_soa)) {
        /* RFC 2308 5: a negative answer lives as long as the SOA's TTL and MINIMUM allow. */
        if (r->has_soa) {
            life = rt_cache_min(life, r->soa_minimum);
        }
        life = rt_cache_min(life, cfg->max_negative_ttl);
    } else {
        life = rt_cache_min(life, cfg->max_ttl);
    }
    if (life < cfg->min_ttl) {
        *too_short = true;
        return 0;
    }
    return life;
}

int rt_cache_get(struct rt_cache *c, const struct dns_query *q, uint64_t now_ms, uint8_t *out,
                 size_t cap)
{
    uint8_t key[RT_CACHE_KEY_MAX];
    size_t key_len = rt_cache_key(q, key);
    int n = dns_cache_get(c->entries, key, key_len, now_ms, 0, out, cap, NULL);

    if (n < 0) {
        return -ENOENT;
    }
    /* rt_cache_put kept only answers whose question spells q's name at this very place. */
    out[0] = (uint8_t)(q->hdr.id >> 8);
    out[1] = (uint8_t)q->hdr.id;
    memcpy(out + DNS_HEADER_LEN, q->q.name, q->q.name_len);
    return n;
}

/* True when the answer's question is q's, its name written out (not compressed) at the
 * start of the question, so that rt_cache_get can put the client's spelling in its place. */
static bool rt_cache_same_question(const struct dns_query *q, const struct dns_response *r,
                                   const uint8_t *answer, size_t len)
{
    if (!r->has_question || r->q.qtype != q->q.qtype || r->q.qclass != q->q.qclass ||
        len < DNS_HEADER_LEN + q->q.name_len) {
        return false;
    }
    for (size_t i = 0; i < q->q.name_len; i++) {
        if (rt_cache_lower(answer[DNS_HEADER_LEN + i]) != rt_cache_lower(q->q.name[i])) {
            return false;
        }
    }
    return true;
}

int rt_cache_put(struct rt_cache *c, const struct dns_query *q, const uint8_t *answer, size_t len,
                 uint64_t now_ms)
{
    uint8_t key[RT_CACHE_KEY_MAX];
    struct dns_response r;
    bool too_short;
    uint32_t life;

    if (len > RT_CACHE_ANSWER_MAX) {
        return -E2BIG;
    }
    if (dns_msg_scan_response(answer, len, &r) != 0 ||
        !rt_cache_same_question(q, &r, answer, len)) {
        return -EBADMSG;
    }
    life = rt_cache_lifetime(&c->cfg, &r, &too_short);
    if (too_short) {
        c->ttl_too_short++;
        return -ERANGE;
    }
    if (life == 0) {
        return -ENODATA;
    }
    return dns_cache_put(c->entries, key, rt_cache_key(q, key), answer, len, r.ttl_offsets, r.n_ttl,
                         life, now_ms);
}

void rt_cache_stats(const struct rt_cache *c, struct rt_cache_stats *out)
{
    struct dns_cache_stats st;

    dns_cache_stats(c->entries, &st);
    out->entries = st.entries;
    out->hits = st.hits;
    out->misses = st.misses;
    out->inserts = st.inserts;
    out->ttl_too_short = c->ttl_too_short;
}
