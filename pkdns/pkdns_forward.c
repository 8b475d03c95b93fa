/* pkdns's ICANN path: queries for names that are not pkarr names go to [general] forward
 * through common/upstream.h, and their answers are cached (never SERVFAIL, never a truncated
 * answer) for their smallest TTL. */
#include <errno.h>
#include <string.h>

#include "dns_name.h"
#include "dns_reply.h"
#include "log.h"
#include "pkdns_server_int.h"

#define PKDNS_FORWARD_NEG_TTL_S 60 /* ours: an answer without TTLs or SOA */
#define PKDNS_FORWARD_MAX_TTL_S 86400

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

/* The cache key: the lowercased name, type, class, and the DO and CD bits. */
static size_t pkdns_forward_key(const struct dns_query *q, uint8_t *key)
{
    size_t n = q->q.name_len;

    memcpy(key, q->q.name, n);
    dns_name_lower(key, n);
    key[n++] = (uint8_t)(q->q.qtype >> 8);
    key[n++] = (uint8_t)q->q.qtype;
    key[n++] = (uint8_t)(q->q.qclass >> 8);
    key[n++] = (uint8_t)q->q.qclass;
    key[n++] = (uint8_t)((q->edns_do ? 1u : 0u) | ((q->hdr.flags & DNS_FLAG_CD) ? 2u : 0u));
    return n;
}

static void pkdns_forward_store(struct pkdns_server *s, const struct dns_query *q,
                                const uint8_t *answer, size_t len)
{
    struct dns_response r;
    uint8_t key[DNS_NAME_MAX + 5];
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
    dns_cache_put(s->icann, key, pkdns_forward_key(q, key), answer, len, r.ttl_offsets, r.n_ttl,
                  life, uv_now(s->loop));
}

static void pkdns_forward_on_answer(void *user, int status, uint8_t *answer, size_t len)
{
    struct pkdns_query *qr = user;

    qr->req = NULL;
    if (status < 0) {
        log_debug(PKDNS_SERVER_TAG, "forward server: %s", strerror(-status));
        pkdns_query_error(qr, DNS_RCODE_SERVFAIL, DNS_EDE_NO_REACHABLE_AUTHORITY,
                          "forward server failed");
        return;
    }
    pkdns_forward_store(qr->s, &qr->q, answer, len);
    pkdns_query_reply(qr, answer, len);
}

void pkdns_forward_query(struct pkdns_query *qr)
{
    struct pkdns_server *s = qr->s;
    uint8_t key[DNS_NAME_MAX + 5];
    int n, rc;

    n = dns_cache_get(s->icann, key, pkdns_forward_key(&qr->q, key), uv_now(s->loop), 0, s->answer,
                      sizeof(s->answer), NULL);
    if (n > 0) {
        s->stats.icann_hits++;
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
