#include "pk_answer.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "dns_name.h"
#include "dns_reply.h"
#include "pk_answer_int.h"
#include "pkarr_name.h"

#define PK_ANSWER_DNS_PORT 53 /* RFC 1035 4.2: glue addresses are servers on port 53 */

/* The z-base32 alphabet: a 52-character label of these that is no key is a broken key. */
static const char pk_answer_zbase32[] = "ybndrfg8ejkmcpqxot1uwisza345h769";

/* True when the label idx from the end of q's name looks like a key (52 z-base32 characters)
 * without being one. */
static bool pk_answer_broken_label(const struct dns_question *q, unsigned idx)
{
    const uint8_t *label;
    size_t len;

    if (dns_name_label_from_end(q->name, q->name_len, idx, &label, &len) != 0 ||
        len != PKARR_KEY_TEXT_LEN) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        uint8_t c = label[i] >= 'A' && label[i] <= 'Z' ? (uint8_t)(label[i] - 'A' + 'a') : label[i];
        if (c == 0 || strchr(pk_answer_zbase32, c) == NULL) {
            return false;
        }
    }
    return !pkarr_name_label_key(label, len, NULL);
}

/* True when the name is shaped like a pkarr name whose key is broken: the last label, or
 * the label before the configured TLD, looks like a key without being one. The Rust pkdns
 * answers NXDOMAIN for such a name instead of forwarding it. */
static bool pk_answer_broken_key(const struct pk_answer_config *cfg, const struct dns_question *q)
{
    unsigned tld_labels;

    if (pk_answer_broken_label(q, 0)) {
        return true;
    }
    if (cfg->tld == NULL) {
        return false;
    }
    tld_labels = dns_name_label_count(cfg->tld, cfg->tld_len);
    return tld_labels > 0 && dns_name_is_under(q->name, q->name_len, cfg->tld, cfg->tld_len) &&
           pk_answer_broken_label(q, tld_labels);
}

uint32_t pk_answer_ttl(const struct pk_answer *a, uint32_t ttl)
{
    if (ttl < a->cfg.min_ttl) {
        ttl = a->cfg.min_ttl;
    }
    if (ttl > a->cfg.max_ttl) {
        ttl = a->cfg.max_ttl;
    }
    if (a->packet_stale) {
        return ttl < PK_ANSWER_STALE_TTL_S ? ttl : PK_ANSWER_STALE_TTL_S;
    }
    if (ttl > a->packet_age_s) {
        return ttl - a->packet_age_s;
    }
    /* Spent before its packet is, which only a change of the TTL bounds since the packet was
     * cached allows: a fresh packet's records read 1 at the least (a TTL of 0 stays 0). */
    return ttl < 1 ? ttl : 1;
}

void pk_answer_begin(struct pk_answer *a, struct pk_answer_out *o, uint8_t *out, size_t cap,
                     unsigned rcode, bool aa)
{
    struct dns_header h = {
        .id = a->query.hdr.id,
        .flags =
            (uint16_t)(DNS_FLAG_QR | (a->query.hdr.flags & DNS_FLAG_RD) | (aa ? DNS_FLAG_AA : 0) |
                       (a->cfg.max_recursion_depth > 1 ? DNS_FLAG_RA : 0) | rcode),
        .qdcount = 1,
    };
    const uint8_t *owner = a->query.q.name;
    size_t owner_len = a->query.q.name_len;

    dns_writer_init(&o->w, out, cap);
    dns_writer_header(&o->w, &h);
    dns_writer_question(&o->w, owner, owner_len, a->query.q.qtype, a->query.q.qclass);
    o->an = o->ns = o->ar = 0;
    /* RFC 6604 2.1: the chain stays in NXDOMAIN and NODATA answers; a failure drops it. */
    if (rcode != DNS_RCODE_NOERROR && rcode != DNS_RCODE_NXDOMAIN) {
        return;
    }
    for (size_t i = 0; i < a->n_chain; i++) {
        const struct pk_answer_link *link = &a->chain[i];
        size_t mark =
            dns_writer_rr_begin(&o->w, owner, owner_len, DNS_TYPE_CNAME, DNS_CLASS_IN, link->ttl);
        dns_writer_name(&o->w, link->target, link->target_len, true);
        dns_writer_rr_end(&o->w, mark);
        o->an++;
        owner = link->target;
        owner_len = link->target_len;
    }
}

int pk_answer_end(struct pk_answer *a, struct pk_answer_out *o, uint16_t ede_code,
                  const char *ede_text)
{
    int rc;

    if (a->query.has_edns) {
        dns_writer_opt(&o->w, DNS_REPLY_EDNS_PAYLOAD, false, ede_code, ede_text);
        o->ar++;
    }
    dns_writer_counts(&o->w, 1, o->an, o->ns, o->ar);
    rc = dns_writer_finish(&o->w);
    if (rc < 0) {
        rc = dns_reply_error(&a->query, DNS_RCODE_SERVFAIL, DNS_EDE_OTHER, "answer too large",
                             o->w.buf, o->w.cap);
        if (rc < 0) {
            return -ENOSPC;
        }
    }
    a->answer_len = (size_t)rc;
    a->step = PK_ANSWER_DONE;
    return PK_ANSWER_DONE;
}

int pk_answer_finish(struct pk_answer *a, unsigned rcode, bool aa, uint16_t ede_code,
                     const char *ede_text, uint8_t *out, size_t cap)
{
    struct pk_answer_out o;

    pk_answer_begin(a, &o, out, cap, rcode, aa);
    return pk_answer_end(a, &o, ede_code, ede_text);
}

/* Names a resolution may resolve: with recursion as configured, without it those inside the
 * packet at hand. */
static unsigned pk_answer_step_limit(const struct pk_answer *a)
{
    return a->recursion ? a->cfg.max_recursion_depth : PK_ANSWER_LOCAL_STEPS;
}

int pk_answer_add_link(struct pk_answer *a, const uint8_t *target, size_t target_len, uint32_t ttl,
                       uint8_t *out, size_t cap)
{
    struct pk_answer_link *link;

    if (a->n_chain == PK_ANSWER_CHAIN_MAX || a->steps >= pk_answer_step_limit(a)) {
        return pk_answer_finish(a, DNS_RCODE_SERVFAIL, false, DNS_EDE_OTHER,
                                "CNAME chain beyond the recursion limit", out, cap);
    }
    link = &a->chain[a->n_chain++];
    memcpy(link->target, target, target_len);
    link->target_len = target_len;
    link->ttl = ttl;
    memcpy(a->name, target, target_len);
    a->name_len = target_len;
    a->steps++;
    return 0;
}

int pk_answer_leave(struct pk_answer *a, uint8_t *out, size_t cap)
{
    if (!a->recursion) {
        return pk_answer_finish(a, DNS_RCODE_NOERROR, true, DNS_EDE_NONE, NULL, out, cap);
    }
    if (pkarr_name_find_known(a->name, a->name_len, a->cfg.tld, a->cfg.tld_len, a->key,
                              a->cfg.known) >= 0) {
        a->step = PK_ANSWER_NEED_KEY;
    } else {
        a->step = PK_ANSWER_NEED_ICANN;
    }
    return (int)a->step;
}

int pk_answer_refer(struct pk_answer *a, uint8_t *out, size_t cap)
{
    if (a->steps >= pk_answer_step_limit(a)) {
        return pk_answer_finish(a, DNS_RCODE_SERVFAIL, false, DNS_EDE_OTHER,
                                "delegations beyond the recursion limit", out, cap);
    }
    a->steps++;
    a->step = PK_ANSWER_NEED_SERVER;
    return PK_ANSWER_NEED_SERVER;
}

void pk_answer_add_server(struct pk_answer *a, uint16_t type, const uint8_t *rdata, size_t rdlength)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(PK_ANSWER_DNS_PORT)};
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(PK_ANSWER_DNS_PORT)};
    struct addr *slot = &a->servers[a->n_servers];

    if (a->n_servers == PK_ANSWER_GLUE_MAX) {
        return;
    }
    if (type == DNS_TYPE_A && rdlength == sizeof(sin.sin_addr)) {
        memcpy(&sin.sin_addr, rdata, rdlength);
        addr_from_sockaddr((const struct sockaddr *)&sin, sizeof(sin), slot);
        a->n_servers++;
    } else if (type == DNS_TYPE_AAAA && rdlength == sizeof(sin6.sin6_addr)) {
        memcpy(&sin6.sin6_addr, rdata, rdlength);
        addr_from_sockaddr((const struct sockaddr *)&sin6, sizeof(sin6), slot);
        a->n_servers++;
    }
}

/* Answers with an error rcode alone, without AA: the question is not ours to answer. */
static int pk_answer_refuse(struct pk_answer *a, uint16_t rcode, uint8_t *out, size_t cap)
{
    int n = dns_reply_error(&a->query, rcode, DNS_EDE_NONE, NULL, out, cap);

    if (n < 0) {
        return -ENOSPC;
    }
    a->answer_len = (size_t)n;
    a->step = PK_ANSWER_DONE;
    return PK_ANSWER_DONE;
}

int pk_answer_start(struct pk_answer *a, const struct pk_answer_config *cfg,
                    const struct dns_query *q, uint8_t *out, size_t cap)
{
    memset(a, 0, sizeof(*a));
    a->cfg = *cfg;
    a->query = *q;
    a->recursion = (q->hdr.flags & DNS_FLAG_RD) != 0 && cfg->max_recursion_depth > 1;
    a->steps = 1;
    memcpy(a->name, q->q.name, q->q.name_len);
    a->name_len = q->q.name_len;
    a->qtype = q->q.qtype;

    /* The Rust pkdns drops these before it looks at the name: any answer would still be
     * reflected, which is what disable_any_queries is meant to stop. */
    if (cfg->disable_any_queries && q->q.qtype == DNS_TYPE_ANY) {
        a->step = PK_ANSWER_DROP;
        return PK_ANSWER_DROP;
    }
    if (pkarr_name_find_known(q->q.name, q->q.name_len, cfg->tld, cfg->tld_len, a->key,
                              cfg->known) < 0) {
        if (pk_answer_broken_key(cfg, &q->q)) {
            return pk_answer_finish(a, DNS_RCODE_NXDOMAIN, true, DNS_EDE_NONE, NULL, out, cap);
        }
        a->step = PK_ANSWER_FORWARD;
        return PK_ANSWER_FORWARD;
    }

    if (dns_msg_opcode(&q->hdr) != DNS_OPCODE_QUERY) {
        return pk_answer_refuse(a, DNS_RCODE_NOTIMP, out, cap);
    }
    if (q->q.qclass != DNS_CLASS_IN && q->q.qclass != DNS_CLASS_ANY) {
        return pk_answer_refuse(a, DNS_RCODE_REFUSED, out, cap);
    }
    a->step = PK_ANSWER_NEED_KEY;
    return PK_ANSWER_NEED_KEY;
}

int pk_answer_feed_packet(struct pk_answer *a, const struct pk_packet *p, uint8_t *out, size_t cap)
{
    return pk_answer_feed_cached(a, p, 0, false, out, cap);
}

int pk_answer_feed_cached(struct pk_answer *a, const struct pk_packet *p, uint32_t age_s,
                          bool stale, uint8_t *out, size_t cap)
{
    if (a->step != PK_ANSWER_NEED_KEY) {
        return -EINVAL;
    }
    a->packet_age_s = age_s;
    a->packet_stale = stale;
    if (p == NULL) {
        return pk_answer_finish(a, DNS_RCODE_NXDOMAIN, true, DNS_EDE_NONE, NULL, out, cap);
    }
    if (memcmp(p->key, a->key, PK_PACKET_KEY_LEN) != 0) {
        return -EINVAL;
    }
    return pk_answer_packet_resolve(a, p, out, cap);
}

int pk_answer_feed_response(struct pk_answer *a, const uint8_t *msg, size_t len, uint8_t *out,
                            size_t cap)
{
    if (a->step != PK_ANSWER_NEED_ICANN && a->step != PK_ANSWER_NEED_SERVER) {
        return -EINVAL;
    }
    return pk_answer_response_resolve(a, msg, len, out, cap);
}

int pk_answer_fail(struct pk_answer *a, const char *why, uint8_t *out, size_t cap)
{
    if (a->step == PK_ANSWER_DONE) {
        return -EINVAL;
    }
    return pk_answer_finish(a, DNS_RCODE_SERVFAIL, false, DNS_EDE_NO_REACHABLE_AUTHORITY, why, out,
                            cap);
}

int pk_answer_write_query(const struct pk_answer *a, uint16_t id, uint8_t *out, size_t cap)
{
    struct dns_header h = {.id = id, .flags = DNS_FLAG_RD, .qdcount = 1, .arcount = 1};
    struct dns_writer w;

    if (a->step != PK_ANSWER_NEED_ICANN && a->step != PK_ANSWER_NEED_SERVER) {
        return -EINVAL;
    }
    dns_writer_init(&w, out, cap);
    dns_writer_header(&w, &h);
    dns_writer_question(&w, a->name, a->name_len, a->qtype, DNS_CLASS_IN);
    dns_writer_opt(&w, DNS_REPLY_EDNS_PAYLOAD, false, DNS_EDE_NONE, NULL);
    return dns_writer_finish(&w);
}
