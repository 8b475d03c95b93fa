/* Answers from DNS servers (the forward server, delegated servers): the final answer, a CNAME
 * chain that leads back into pkarr, or a referral to follow. */
#include <errno.h>
#include <string.h>

#include "dns_name.h"
#include "pk_answer_int.h"
#include "pkarr_name.h"

/* What the answer section holds at one name. */
struct pk_answer_response_at {
    bool data;  /* a record of the type asked for (any type for ANY) */
    bool cname; /* a CNAME, whose target and TTL follow */
    uint8_t target[DNS_NAME_MAX];
    size_t target_len;
    uint32_t ttl;
};

/* Reads the name that fills a record's RDATA exactly (a CNAME or NS target). */
static int pk_answer_response_target(const uint8_t *msg, const struct dns_rr *rr, uint8_t *out,
                                     size_t *out_len)
{
    size_t at = rr->rdata_pos;
    size_t end = rr->rdata_pos + rr->rdlength;

    if (dns_name_read(msg, end, &at, out, out_len) != 0 || at != end) {
        return -EBADMSG;
    }
    return 0;
}

/* Looks at the `count` answer records from `pos` owned by `name`. */
static int pk_answer_response_scan(const struct pk_answer *a, const uint8_t *msg, size_t len,
                                   size_t pos, unsigned count, const uint8_t *name, size_t name_len,
                                   struct pk_answer_response_at *at)
{
    struct dns_rr rr;

    at->data = false;
    at->cname = false;
    for (unsigned i = 0; i < count; i++) {
        if (dns_msg_rr(msg, len, &pos, &rr) != 0) {
            return -EBADMSG;
        }
        if (!dns_name_equal(rr.name, rr.name_len, name, name_len)) {
            continue;
        }
        if (rr.type == a->qtype || (a->qtype == DNS_TYPE_ANY && rr.type != DNS_TYPE_OPT)) {
            at->data = true;
        } else if (rr.type == DNS_TYPE_CNAME && !at->cname) {
            if (pk_answer_response_target(msg, &rr, at->target, &at->target_len) != 0) {
                return -EBADMSG;
            }
            at->cname = true;
            at->ttl = rr.ttl;
        }
    }
    return 0;
}

/* Follows the CNAMEs of the answer section from the name being resolved, at most
 * PK_ANSWER_CHAIN_MAX of them. With `link`, each one joins the chain (and moves a->name).
 * Sets end/end_len to where the chain stops and *hops to its length. */
static int pk_answer_response_chain(struct pk_answer *a, const uint8_t *msg, size_t len,
                                    size_t answers, unsigned ancount, bool link, uint8_t *end,
                                    size_t *end_len, unsigned *hops, bool *data, uint8_t *out,
                                    size_t cap)
{
    struct pk_answer_response_at at;
    int rc;

    memcpy(end, a->name, a->name_len);
    *end_len = a->name_len;
    for (*hops = 0;; (*hops)++) {
        if (pk_answer_response_scan(a, msg, len, answers, ancount, end, *end_len, &at) != 0) {
            return -EBADMSG;
        }
        *data = at.data;
        if (at.data || !at.cname || a->qtype == DNS_TYPE_CNAME) {
            return 0;
        }
        if (*hops == PK_ANSWER_CHAIN_MAX) {
            return -ELOOP;
        }
        if (link) {
            rc = pk_answer_add_link(a, at.target, at.target_len, at.ttl, out, cap);
            if (rc != 0) {
                return rc;
            }
        }
        memcpy(end, at.target, at.target_len);
        *end_len = at.target_len;
    }
}

/* A referral: NS records in the authority section for a zone above the name (not the root),
 * with glue in the additional section. Collects the glue addresses in a->servers. */
static int pk_answer_response_referral(struct pk_answer *a, const uint8_t *msg, size_t len,
                                       size_t pos, const struct dns_header *h)
{
    uint8_t targets[PK_ANSWER_GLUE_MAX][DNS_NAME_MAX];
    size_t target_len[PK_ANSWER_GLUE_MAX];
    size_t n_targets = 0;
    struct dns_rr rr;

    a->n_servers = 0;
    for (unsigned i = 0; i < h->ancount; i++) {
        if (dns_msg_skip_rr(msg, len, &pos) != 0) {
            return -EBADMSG;
        }
    }
    for (unsigned i = 0; i < h->nscount; i++) {
        if (dns_msg_rr(msg, len, &pos, &rr) != 0) {
            return -EBADMSG;
        }
        if (rr.type != DNS_TYPE_NS || rr.name_len < 2 || n_targets == PK_ANSWER_GLUE_MAX ||
            !dns_name_is_under(a->name, a->name_len, rr.name, rr.name_len)) {
            continue;
        }
        if (pk_answer_response_target(msg, &rr, targets[n_targets], &target_len[n_targets]) != 0) {
            return -EBADMSG;
        }
        n_targets++;
    }
    for (unsigned i = 0; i < h->arcount; i++) {
        if (dns_msg_rr(msg, len, &pos, &rr) != 0) {
            return -EBADMSG;
        }
        for (size_t k = 0; k < n_targets; k++) {
            if (dns_name_equal(rr.name, rr.name_len, targets[k], target_len[k])) {
                pk_answer_add_server(a, rr.type, msg + rr.rdata_pos, rr.rdlength);
                break;
            }
        }
    }
    return 0;
}

/* The final answer: the chain so far, then every record of the response but its OPT. */
static int pk_answer_response_copy(struct pk_answer *a, const uint8_t *msg, size_t len, size_t pos,
                                   const struct dns_header *h, uint8_t *out, size_t cap)
{
    uint16_t *counts[3];
    unsigned sections[3] = {h->ancount, h->nscount, h->arcount};
    struct pk_answer_out o;
    struct dns_rr rr;

    pk_answer_begin(a, &o, out, cap, dns_msg_rcode(h),
                    a->n_chain > 0 || (h->flags & DNS_FLAG_AA) != 0);
    counts[0] = &o.an;
    counts[1] = &o.ns;
    counts[2] = &o.ar;
    for (size_t s = 0; s < 3; s++) {
        for (unsigned i = 0; i < sections[s]; i++) {
            size_t at = pos;
            if (dns_msg_rr(msg, len, &at, &rr) != 0) {
                return -EBADMSG;
            }
            if (rr.type == DNS_TYPE_OPT) {
                pos = at;
                continue;
            }
            if (pk_rr_copy(&o.w, msg, len, &pos) != 0) {
                return -EBADMSG;
            }
            (*counts[s])++;
        }
    }
    return pk_answer_end(a, &o, DNS_EDE_NONE, NULL);
}

/* Checks that msg answers the question being resolved. Returns the offset of its answer
 * section, or -EBADMSG. */
static int pk_answer_response_check(const struct pk_answer *a, const uint8_t *msg, size_t len,
                                    struct dns_header *h)
{
    struct dns_question q;
    size_t pos = DNS_HEADER_LEN;

    if (dns_msg_header(msg, len, h) != 0 || (h->flags & DNS_FLAG_QR) == 0 ||
        (h->flags & DNS_FLAG_TC) != 0 || h->qdcount != 1 ||
        dns_msg_question(msg, len, &pos, &q) != 0 || q.qtype != a->qtype ||
        q.qclass != DNS_CLASS_IN || !dns_name_equal(q.name, q.name_len, a->name, a->name_len)) {
        return -EBADMSG;
    }
    return (int)pos;
}

int pk_answer_response_resolve(struct pk_answer *a, const uint8_t *msg, size_t len, uint8_t *out,
                               size_t cap)
{
    struct dns_header h;
    uint8_t end[DNS_NAME_MAX];
    size_t end_len;
    unsigned hops;
    bool data;
    unsigned rcode;
    int answers = pk_answer_response_check(a, msg, len, &h);
    int rc;

    if (answers < 0 || pk_answer_response_chain(a, msg, len, (size_t)answers, h.ancount, false, end,
                                                &end_len, &hops, &data, out, cap) != 0) {
        return pk_answer_fail(a, "bad answer from a DNS server", out, cap);
    }
    rcode = dns_msg_rcode(&h);

    /* A chain into pkarr: the forward server cannot know the key (it says NXDOMAIN), we can. */
    if (!data && hops > 0 && (rcode == DNS_RCODE_NOERROR || rcode == DNS_RCODE_NXDOMAIN) &&
        pkarr_name_find(end, end_len, a->cfg.tld, a->cfg.tld_len, NULL) >= 0) {
        rc = pk_answer_response_chain(a, msg, len, (size_t)answers, h.ancount, true, end, &end_len,
                                      &hops, &data, out, cap);
        return rc != 0 ? rc : pk_answer_leave(a, out, cap);
    }

    /* RFC 1034 4.3.2: an authoritative answer is never a referral, whatever NS records its
     * authority section carries; taking one for a referral would ask the same server again. */
    if (!data && hops == 0 && rcode == DNS_RCODE_NOERROR && h.ancount == 0 &&
        (h.flags & DNS_FLAG_AA) == 0) {
        if (pk_answer_response_referral(a, msg, len, (size_t)answers, &h) != 0) {
            return pk_answer_fail(a, "bad answer from a DNS server", out, cap);
        }
        if (a->n_servers > 0) {
            return pk_answer_refer(a, out, cap);
        }
    }
    rc = pk_answer_response_copy(a, msg, len, (size_t)answers, &h, out, cap);
    if (rc == -EBADMSG) {
        return pk_answer_fail(a, "bad answer from a DNS server", out, cap);
    }
    return rc;
}
