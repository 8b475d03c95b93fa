/* pkdns's ICANN path: queries for names that are not pkarr names go to [general] forward
 * through common/upstream.h, and their answers are cached (never SERVFAIL, never a truncated
 * answer) for their smallest TTL. The ICANN names that pkarr answers lead to (a CNAME out of
 * a packet) are asked through the same cache. */
#include <errno.h>
#include <string.h>

#include "dns_name.h"
#include "dns_reply.h"
#include "log.h"
#include "pkdns_server_int.h"

#define PKDNS_FORWARD_NEG_TTL_S 60 /* ours: an answer without TTLs or SOA */
#define PKDNS_FORWARD_MAX_TTL_S 86400
#define PKDNS_FORWARD_KEY_MAX (DNS_NAME_MAX + 5)

/* What besides the question changes the forward server's answer, in the key's last byte. */
#define PKDNS_FORWARD_KEY_DO 0x1u   /* DNSSEC records wanted (RFC 3225) */
#define PKDNS_FORWARD_KEY_CD 0x2u   /* checking disabled (RFC 4035 3.2.2) */
#define PKDNS_FORWARD_KEY_EDNS 0x4u /* an OPT record in the answer (RFC 6891 7) */
#define PKDNS_FORWARD_KEY_RD 0x8u   /* recursion desired */

int pkdns_forward_cache_new(const struct pk_config *cfg, struct dns_cache **out)
{
    struct dns_cache_config cc = {
        .max_bytes = (size_t)cfg->icann_cache_mb * 1024u * 1024u,
        .max_stale_s = 0,
        .stale_answer_ttl_s = 30,
    };

    if (cc.max_bytes < DNS_CACHE_MIN_BYTES) {
        cc.max_bytes = DNS_CACHE_MIN_BYTES;
    }
    return dns_cache_new(&cc, out);
}

/* The cache key: the lowercased name, type, class, and the bits that change the answer. */
static size_t pkdns_forward_key(const uint8_t *name, size_t name_len, uint16_t qtype,
                                uint16_t qclass, unsigned bits, uint8_t *key)
{
    size_t n = name_len;

    memcpy(key, name, n);
    dns_name_lower(key, n);
    key[n++] = (uint8_t)(qtype >> 8);
    key[n++] = (uint8_t)qtype;
    key[n++] = (uint8_t)(qclass >> 8);
    key[n++] = (uint8_t)qclass;
    key[n++] = (uint8_t)bits;
    return n;
}

/* The key of a client's query, forwarded as it came. */
static size_t pkdns_forward_query_key(const struct dns_query *q, uint8_t *key)
{
    unsigned bits = (q->edns_do ? PKDNS_FORWARD_KEY_DO : 0) |
                    ((q->hdr.flags & DNS_FLAG_CD) ? PKDNS_FORWARD_KEY_CD : 0) |
                    (q->has_edns ? PKDNS_FORWARD_KEY_EDNS : 0) |
                    ((q->hdr.flags & DNS_FLAG_RD) ? PKDNS_FORWARD_KEY_RD : 0);

    return pkdns_forward_key(q->q.name, q->q.name_len, q->q.qtype, q->q.qclass, bits, key);
}

/* The key of the query pk_answer_write_query makes: class IN, RD, an OPT record without DO. */
static size_t pkdns_forward_answer_key(const struct pk_answer *a, uint8_t *key)
{
    return pkdns_forward_key(a->name, a->name_len, a->qtype, DNS_CLASS_IN,
                             PKDNS_FORWARD_KEY_EDNS | PKDNS_FORWARD_KEY_RD, key);
}

/* Stores the forward server's answer under key when it can be cached: NOERROR or NXDOMAIN,
 * not truncated, for its smallest TTL (negative answers per RFC 2308 5). */
static void pkdns_forward_store(struct pkdns_server *s, const uint8_t *key, size_t key_len,
                                const uint8_t *answer, size_t len)
{
    struct dns_response r;
    unsigned rcode;
    uint32_t life;

    if (dns_msg_scan_response(answer, len, &r) != 0 || (r.hdr.flags & DNS_FLAG_TC) != 0 ||
        r.n_ttl > DNS_MSG_MAX_TTLS) {
        return;
    }
    rcode = dns_msg_rcode(&r.hdr);
    if (rcode != DNS_RCODE_NOERROR && rcode != DNS_RCODE_NXDOMAIN) {
        return;
    }
    life = r.min_ttl;
    if (r.has_soa && (r.hdr.ancount == 0 || rcode == DNS_RCODE_NXDOMAIN)) {
        life = r.soa_ttl < r.soa_minimum ? r.soa_ttl : r.soa_minimum;
    } else if (life == UINT32_MAX) {
        life = PKDNS_FORWARD_NEG_TTL_S;
    }
    if (life > PKDNS_FORWARD_MAX_TTL_S) {
        life = PKDNS_FORWARD_MAX_TTL_S;
    }
    if (life == 0) {
        return;
    }
    dns_cache_put(s->icann, key, key_len, answer, len, r.ttl_offsets, r.n_ttl, life,
                  uv_now(s->loop));
}

int pkdns_forward_cached(struct pkdns_server *s, const struct pk_answer *a, uint8_t *out,
                         size_t cap)
{
    uint8_t key[PKDNS_FORWARD_KEY_MAX];

    return dns_cache_get(s->icann, key, pkdns_forward_answer_key(a, key), uv_now(s->loop), 0, out,
                         cap, NULL);
}

void pkdns_forward_remember(struct pkdns_server *s, const struct pk_answer *a,
                            const uint8_t *answer, size_t len)
{
    uint8_t key[PKDNS_FORWARD_KEY_MAX];

    pkdns_forward_store(s, key, pkdns_forward_answer_key(a, key), answer, len);
}

static void pkdns_forward_on_answer(void *user, int status, uint8_t *answer, size_t len)
{
    struct pkdns_query *qr = user;
    uint8_t key[PKDNS_FORWARD_KEY_MAX];

    qr->req = NULL;
    if (status < 0) {
        log_debug(PKDNS_SERVER_TAG, "forward server: %s", strerror(-status));
        pkdns_query_error(qr, DNS_RCODE_SERVFAIL, DNS_EDE_NO_REACHABLE_AUTHORITY,
                          "forward server failed");
        return;
    }
    pkdns_forward_store(qr->s, key, pkdns_forward_query_key(&qr->q, key), answer, len);
    pkdns_query_reply(qr, answer, len);
}

void pkdns_forward_query(struct pkdns_query *qr)
{
    struct pkdns_server *s = qr->s;
    uint8_t key[PKDNS_FORWARD_KEY_MAX];
    int n, rc;

    n = dns_cache_get(s->icann, key, pkdns_forward_query_key(&qr->q, key), uv_now(s->loop), 0,
                      s->answer, sizeof(s->answer), NULL);
    if (n > 0) {
        s->stats.icann_hits++;
        /* The entry's question is spelled as its first asker (a client, or a packet's
         * CNAME) spelled it; the reply repeats this client's, which differs in case at most. */
        if ((size_t)n >= DNS_HEADER_LEN + qr->q.q.name_len) {
            memcpy(s->answer + DNS_HEADER_LEN, qr->q.q.name, qr->q.q.name_len);
        }
        pkdns_query_reply(qr, s->answer, (size_t)n);
        return;
    }
    if (!pkdns_query_wait(qr)) {
        return;
    }
    s->stats.forwarded++;
    /* HTTP clients, like TCP ones, cannot retry a truncated answer over TCP themselves. */
    if (qr->client.transport != DNS_TRANSPORT_UDP) {
        rc = upstream_query_tcp(s->up, &s->cfg.forward, qr->msg, qr->len, PKDNS_SERVER_UPSTREAM_MS,
                                pkdns_forward_on_answer, qr, &qr->req);
    } else {
        rc = upstream_query(s->up, &s->cfg.forward, qr->msg, qr->len, PKDNS_SERVER_UPSTREAM_MS,
                            pkdns_forward_on_answer, qr, &qr->req);
    }
    if (rc < 0) {
        qr->req = NULL;
        pkdns_query_error(qr, DNS_RCODE_SERVFAIL, DNS_EDE_NO_REACHABLE_AUTHORITY, "cannot forward");
    }
}
