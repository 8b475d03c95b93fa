/* The forwarder's query path: parse, answer locally what it can, serve from the cache, and
 * hand the rest to fwd_inflight.c; and the shaping of every answer for its client. */
#include "forwarder.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dns_name.h"
#include "dns_reply.h"
#include "dns_writer.h"
#include "fwd_internal.h"
#include "fwd_listen.h"
#include "fwd_private.h"
#include "fwd_rebind.h"
#include "log.h"
#include "random.h"

#define FWD_IDENTITY "pkdns-forwarder"

/* dnsmasq counts its cache in entries; we bound ours in bytes, allowing this much per entry
 * (a typical answer with its key and bookkeeping takes a few hundred). */
#define FWD_CACHE_BYTES_PER_ENTRY 384
#define FWD_CACHE_MIN_BYTES (64 * 1024)

/* RFC 8767 4: the TTL of a stale answer. */
#define FWD_STALE_TTL_S 30

/* An OPT record with no options: root name, TYPE, CLASS, TTL, RDLENGTH (RFC 6891 6.1.2). */
#define FWD_OPT_LEN 11

static size_t fwd_make_key(const struct dns_query *q, uint8_t *key)
{
    key[0] = (uint8_t)((q->edns_do ? 1 : 0) | ((q->hdr.flags & DNS_FLAG_CD) ? 2 : 0));
    key[1] = (uint8_t)(q->q.qtype >> 8);
    key[2] = (uint8_t)q->q.qtype;
    key[3] = (uint8_t)(q->q.qclass >> 8);
    key[4] = (uint8_t)q->q.qclass;
    memcpy(key + 5, q->q.name, q->q.name_len);
    dns_name_lower(key + 5, q->q.name_len);
    return 5 + q->q.name_len;
}

static void fwd_waiter_from_query(struct fwd_waiter *w, const struct dns_client *c,
                                  const struct dns_query *q)
{
    w->client = *c;
    w->id = q->hdr.id;
    w->udp_payload = q->udp_payload;
    w->has_edns = q->has_edns;
    w->edns_do = q->edns_do;
    memcpy(w->name, q->q.name, q->q.name_len);
    w->name_len = (uint8_t)q->q.name_len;
}

static void fwd_send(struct forwarder *f, const struct fwd_waiter *w, const uint8_t *msg,
                     size_t len)
{
    if (dns_listener_send(f->listener, &w->client, msg, len) != 0) {
        dns_listener_done(f->listener, &w->client);
    }
}

/* Shapes a normalized answer already in f->out[0..len) for w and sends it: the client's ID
 * and spelling of the name, an OPT record when it asked with EDNS, TC when over its limit. */
static void fwd_serve_out(struct forwarder *f, const struct fwd_waiter *w, size_t len)
{
    uint8_t *out = f->out;
    struct dns_header h;

    out[0] = (uint8_t)(w->id >> 8);
    out[1] = (uint8_t)w->id;
    /* The question is the first name, uncompressed: the client's own spelling goes back,
     * which resolvers using 0x20 case randomisation check. */
    if (len >= (size_t)DNS_HEADER_LEN + w->name_len && out[5] == 1) {
        memcpy(out + DNS_HEADER_LEN, w->name, w->name_len);
    }
    if (w->has_edns) {
        uint8_t *opt = out + len;
        uint16_t flags = w->edns_do ? DNS_EDNS_DO : 0;
        uint16_t payload = f->cfg.edns_packet_max;
        const uint8_t rr[FWD_OPT_LEN] = {
            0, 0, DNS_TYPE_OPT,          (uint8_t)(payload >> 8), (uint8_t)payload,
            0, 0, (uint8_t)(flags >> 8), (uint8_t)flags,          0,
            0,
        };
        memcpy(opt, rr, sizeof(rr));
        len += sizeof(rr);
        uint16_t arcount = (uint16_t)((out[10] << 8 | out[11]) + 1);
        out[10] = (uint8_t)(arcount >> 8);
        out[11] = (uint8_t)arcount;
    }
    if (w->client.transport == DNS_TRANSPORT_UDP && len > w->udp_payload) {
        struct dns_query q = {.hdr = {.id = w->id},
                              .has_edns = w->has_edns,
                              .edns_do = w->edns_do,
                              .udp_payload = w->udp_payload};
        dns_msg_header(out, len, &h);
        memcpy(q.q.name, w->name, w->name_len);
        q.q.name_len = w->name_len;
        size_t pos = DNS_HEADER_LEN;
        struct dns_question dq;
        if (dns_msg_question(out, len, &pos, &dq) == 0) {
            q.q.qtype = dq.qtype;
            q.q.qclass = dq.qclass;
        }
        q.hdr.flags = h.flags;
        uint8_t tc[DNS_NAME_MAX + 64];
        int n = dns_reply_truncated(&q, (uint16_t)(h.flags & ~DNS_FLAG_TC), tc, sizeof(tc));
        if (n > 0) {
            fwd_send(f, w, tc, (size_t)n);
        }
        return;
    }
    fwd_send(f, w, out, len);
}

void fwd_serve(struct forwarder *f, const struct fwd_waiter *w, const uint8_t *answer, size_t len)
{
    if (len + FWD_OPT_LEN > sizeof(f->out)) {
        return;
    }
    memmove(f->out, answer, len);
    fwd_serve_out(f, w, len);
}

void fwd_serve_error(struct forwarder *f, const struct fwd_waiter *w, uint16_t qtype,
                     uint16_t qclass, uint16_t rcode, uint16_t ede, const char *text)
{
    struct dns_query q = {.hdr = {.id = w->id, .flags = DNS_FLAG_RD},
                          .has_edns = w->has_edns,
                          .edns_do = w->edns_do,
                          .udp_payload = w->udp_payload};
    int n;

    memcpy(q.q.name, w->name, w->name_len);
    q.q.name_len = w->name_len;
    q.q.qtype = qtype;
    q.q.qclass = qclass;
    n = dns_reply_error(&q, rcode, ede, text, f->out, sizeof(f->out));
    if (rcode == DNS_RCODE_SERVFAIL) {
        f->stats.servfail++;
    } else if (rcode == DNS_RCODE_REFUSED) {
        f->stats.refused++;
    }
    if (n > 0) {
        fwd_send(f, w, f->out, (size_t)n);
    } else {
        dns_listener_done(f->listener, &w->client);
    }
}

static bool fwd_serve_cached(struct forwarder *f, const uint8_t *key, size_t key_len,
                             const struct fwd_waiter *w, unsigned flags)
{
    bool stale = false;
    int n = dns_cache_get(f->cache, key, key_len, uv_now(f->loop), flags, f->out,
                          sizeof(f->out) - FWD_OPT_LEN, &stale);

    if (n < 0) {
        return false;
    }
    if (stale) {
        f->stats.stale_answers++;
    } else {
        f->stats.cache_hits++;
    }
    fwd_serve_out(f, w, (size_t)n);
    return true;
}

bool fwd_serve_stale(struct forwarder *f, const uint8_t *key, size_t key_len,
                     const struct fwd_waiter *w)
{
    return f->cache != NULL && fwd_serve_cached(f, key, key_len, w, DNS_CACHE_STALE_OK);
}

/* Removes the upstream's OPT record (each client gets its own) and moves the TTL offsets
 * after it. Returns the new length. */
static size_t fwd_strip_opt(uint8_t *msg, size_t len, struct dns_response *r)
{
    size_t cut;

    if (!r->has_edns) {
        return len;
    }
    cut = r->opt_end - r->opt_pos;
    memmove(msg + r->opt_pos, msg + r->opt_end, len - r->opt_end);
    uint16_t arcount = (uint16_t)(r->hdr.arcount - 1);
    msg[10] = (uint8_t)(arcount >> 8);
    msg[11] = (uint8_t)arcount;
    for (size_t i = 0; i < r->n_ttl && i < DNS_MSG_MAX_TTLS; i++) {
        if (r->ttl_offsets[i] > r->opt_pos) {
            r->ttl_offsets[i] = (uint16_t)(r->ttl_offsets[i] - cut);
        }
    }
    r->has_edns = false;
    return len - cut;
}

/* How long an answer may be cached, RFC 2308 for negative ones; 0: not at all. */
static uint32_t fwd_cache_lifetime(const struct fwd_config *cfg, const struct dns_response *r)
{
    unsigned rcode = dns_msg_rcode(&r->hdr);
    uint32_t life;

    if (r->n_ttl > DNS_MSG_MAX_TTLS || (r->hdr.flags & DNS_FLAG_TC)) {
        return 0;
    }
    if (rcode == DNS_RCODE_NOERROR && r->hdr.ancount > 0) {
        life = r->min_ttl;
    } else if (rcode == DNS_RCODE_NXDOMAIN || rcode == DNS_RCODE_NOERROR) {
        if (cfg->no_negcache) {
            return 0;
        }
        /* RFC 2308 5: the lesser of the SOA's TTL and its MINIMUM field. */
        life =
            r->has_soa ? (r->soa_ttl < r->soa_minimum ? r->soa_ttl : r->soa_minimum) : cfg->neg_ttl;
    } else {
        return 0; /* SERVFAIL and the like are never cached */
    }
    if (life < cfg->min_cache_ttl) {
        life = cfg->min_cache_ttl;
    }
    if (cfg->max_cache_ttl != 0 && life > cfg->max_cache_ttl) {
        life = cfg->max_cache_ttl;
    }
    return life;
}

/* Brings every TTL within [min-cache-ttl, life], so what clients see, first from upstream
 * and then from the cache, counts down with the entry itself. */
static void fwd_clamp_ttls(const struct fwd_config *cfg, uint8_t *msg, const struct dns_response *r,
                           uint32_t life)
{
    for (size_t i = 0; i < r->n_ttl; i++) {
        uint8_t *p = msg + r->ttl_offsets[i];
        uint32_t ttl = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (ttl > life) {
            ttl = life;
        }
        if (ttl < cfg->min_cache_ttl) {
            ttl = cfg->min_cache_ttl;
        }
        p[0] = (uint8_t)(ttl >> 24);
        p[1] = (uint8_t)(ttl >> 16);
        p[2] = (uint8_t)(ttl >> 8);
        p[3] = (uint8_t)ttl;
    }
}

/* stop-dns-rebind: whether the answer to r's question is to be checked. */
static bool fwd_rebind_checked(const struct forwarder *f, const struct dns_response *r)
{
    if (!f->cfg.stop_dns_rebind || !r->has_question) {
        return false;
    }
    for (size_t i = 0; i < f->cfg.n_rebind_ok; i++) {
        const struct fwd_domain *d = &f->cfg.rebind_ok[i];
        if (dns_name_is_under(r->q.name, r->q.name_len, d->name, d->len)) {
            return false;
        }
    }
    return true;
}

/* Replaces an answer that gives a private address for a name outside the local network by
 * one without addresses, as dnsmasq does, and says so in the log (once a second at most).
 * Returns the answer to go on with, rescanned into r, or NULL when it cannot be rewritten. */
static uint8_t *fwd_rebind_stop(struct forwarder *f, uint8_t *answer, size_t *len,
                                struct dns_response *r)
{
    char name[DNS_NAME_TEXT_MAX];
    int n;

    if (!fwd_rebind_checked(f, r) || !fwd_rebind_found(answer, *len, f->cfg.rebind_localhost_ok)) {
        return answer;
    }
    f->stats.rebind_blocked++;
    if (uv_now(f->loop) - f->rebind_logged_ms >= 1000 || f->rebind_logged_ms == 0) {
        f->rebind_logged_ms = uv_now(f->loop);
        if (dns_name_to_text(r->q.name, r->q.name_len, name, sizeof(name)) < 0) {
            snprintf(name, sizeof(name), "?");
        }
        log_warn("fwd",
                 "possible DNS rebinding: an upstream answered %s with a private address; "
                 "answering without addresses",
                 name);
    }
    n = fwd_rebind_strip(answer, *len, f->rebind, sizeof(f->rebind));
    if (n < 0 || dns_msg_scan_response(f->rebind, (size_t)n, r) != 0) {
        return NULL;
    }
    *len = (size_t)n;
    return f->rebind;
}

void fwd_deliver(struct forwarder *f, const uint8_t *key, size_t key_len, uint8_t *answer,
                 size_t len, const struct fwd_waiter *waiters, size_t n_waiters)
{
    struct dns_response r;
    uint32_t life = 0;

    if (dns_msg_scan_response(answer, len, &r) != 0) {
        /* Not parseable as a whole: pass it on uncached, as dnsmasq would. */
        for (size_t i = 0; i < n_waiters; i++) {
            fwd_serve(f, &waiters[i], answer, len);
        }
        return;
    }
    len = fwd_strip_opt(answer, len, &r);
    answer = fwd_rebind_stop(f, answer, &len, &r);
    if (answer == NULL) {
        for (size_t i = 0; i < n_waiters; i++) {
            fwd_serve_error(f, &waiters[i], r.q.qtype, r.q.qclass, DNS_RCODE_SERVFAIL,
                            DNS_EDE_OTHER, "unreadable answer with a private address");
        }
        return;
    }
    if (f->cache != NULL) {
        life = fwd_cache_lifetime(&f->cfg, &r);
    }
    if (life != 0) {
        fwd_clamp_ttls(&f->cfg, answer, &r, life);
    }
    for (size_t i = 0; i < n_waiters; i++) {
        fwd_serve(f, &waiters[i], answer, len);
    }
    if (life != 0) {
        dns_cache_put(f->cache, key, key_len, answer, len, r.ttl_offsets, r.n_ttl, life,
                      uv_now(f->loop));
    }
}

/* The servers for a name: those of the longest matching server=/domain/, else the default
 * ones (subset NULL). Returns -1 when the name is local only, else the subset size. */
static int fwd_route(struct forwarder *f, const uint8_t *name, size_t name_len, uint8_t *subset,
                     const uint8_t **out_subset)
{
    const struct fwd_config *cfg = &f->cfg;
    size_t best_len = 0, n = 0;
    enum fwd_domain_action action = FWD_DOMAIN_DEFAULTS;

    *out_subset = NULL;
    for (size_t i = 0; i < cfg->n_domain_servers; i++) {
        const struct fwd_domain_server *d = &cfg->domain_servers[i];
        if (d->domain_len < best_len ||
            !dns_name_is_under(name, name_len, d->domain, d->domain_len)) {
            continue;
        }
        if (d->domain_len > best_len) {
            best_len = d->domain_len;
            n = 0;
            action = d->action;
        }
        if (d->action == FWD_DOMAIN_SERVER) {
            int idx = fwd_servers_find(&f->servers, &d->addr);
            if (idx >= 0 && n < FWD_SERVERS_MAX) {
                subset[n++] = (uint8_t)idx;
            }
            action = FWD_DOMAIN_SERVER;
        }
    }
    if (best_len == 0 || action == FWD_DOMAIN_DEFAULTS) {
        for (n = 0; n < f->n_default; n++) {
            subset[n] = (uint8_t)n;
        }
        *out_subset = subset;
        return (int)n;
    }
    if (action == FWD_DOMAIN_LOCAL) {
        return -1;
    }
    *out_subset = subset;
    return (int)n;
}

/* Builds the query sent upstream for q: its question, RD and CD as the client set them, and
 * our own EDNS payload with the client's DO bit. */
static int fwd_upstream_query(const struct forwarder *f, const struct dns_query *q, uint8_t *buf,
                              size_t cap)
{
    struct dns_writer w;
    struct dns_header h = {
        .flags = (uint16_t)(q->hdr.flags & (DNS_FLAG_RD | DNS_FLAG_CD)),
        .qdcount = 1,
        .arcount = 1,
    };

    dns_writer_init(&w, buf, cap);
    dns_writer_header(&w, &h);
    dns_writer_question(&w, q->q.name, q->q.name_len, q->q.qtype, q->q.qclass);
    dns_writer_opt(&w, f->cfg.edns_packet_max, q->edns_do, DNS_EDE_NONE, NULL);
    return dns_writer_finish(&w);
}

/* domain-needed and bogus-priv: questions answered NXDOMAIN here, never sent upstream. */
static bool fwd_answer_locally(struct forwarder *f, const struct fwd_waiter *w,
                               const struct dns_query *q)
{
    bool plain =
        f->cfg.domain_needed && fwd_private_plain_name(q->q.name, q->q.name_len, q->q.qtype);
    bool reverse =
        !plain && f->cfg.bogus_priv && fwd_private_reverse(q->q.name, q->q.name_len, q->q.qtype);

    if (!plain && !reverse) {
        return false;
    }
    f->stats.local_nxdomain++;
    fwd_serve_error(f, w, q->q.qtype, q->q.qclass, DNS_RCODE_NXDOMAIN, DNS_EDE_NONE, NULL);
    return true;
}

static void fwd_on_query(void *user, const struct dns_client *c, const uint8_t *msg, size_t len)
{
    struct forwarder *f = user;
    struct dns_query q;
    struct fwd_waiter w;
    uint8_t key[FWD_KEY_MAX], query[DNS_NAME_MAX + 64], subset_buf[FWD_SERVERS_MAX];
    const uint8_t *subset;
    size_t key_len;
    int rc, n;

    f->stats.queries++;
    rc = dns_msg_parse_query(msg, len, &q);
    if (rc != 0 || (q.hdr.flags & DNS_FLAG_QR)) {
        /* Never answer a response: that is how reflection loops start. */
        if (rc == -EBADMSG && !(msg[2] & (DNS_FLAG_QR >> 8))) {
            n = dns_reply_formerr(msg, len, f->out, sizeof(f->out));
            f->stats.formerr++;
            if (n > 0 && dns_listener_send(f->listener, c, f->out, (size_t)n) == 0) {
                return;
            }
        }
        f->stats.dropped++;
        dns_listener_done(f->listener, c);
        return;
    }
    if (dns_reply_is_identity(&q)) {
        n = dns_reply_identity(&q, FWD_IDENTITY, PKDNS_VERSION, f->out, sizeof(f->out));
        if (n > 0 && dns_listener_send(f->listener, c, f->out, (size_t)n) == 0) {
            return;
        }
        dns_listener_done(f->listener, c);
        return;
    }
    fwd_waiter_from_query(&w, c, &q);
    if (dns_msg_opcode(&q.hdr) != DNS_OPCODE_QUERY) {
        fwd_serve_error(f, &w, q.q.qtype, q.q.qclass, DNS_RCODE_NOTIMP, DNS_EDE_NONE, NULL);
        return;
    }

    if (fwd_answer_locally(f, &w, &q)) {
        return;
    }
    key_len = fwd_make_key(&q, key);
    if (f->cache != NULL && fwd_serve_cached(f, key, key_len, &w, 0)) {
        return;
    }
    n = fwd_route(f, key + 5, q.q.name_len, subset_buf, &subset);
    if (n < 0) {
        fwd_serve_error(f, &w, q.q.qtype, q.q.qclass, DNS_RCODE_NXDOMAIN, DNS_EDE_NONE, NULL);
        return;
    }
    if (n == 0) {
        /* No servers (no network, says resolvconf): dnsmasq's answer, and stale data first. */
        if (!fwd_serve_stale(f, key, key_len, &w)) {
            fwd_serve_error(f, &w, q.q.qtype, q.q.qclass, DNS_RCODE_REFUSED, DNS_EDE_NOT_READY,
                            "no upstream servers");
        }
        return;
    }
    rc = fwd_upstream_query(f, &q, query, sizeof(query));
    if (rc < 0) {
        fwd_serve_error(f, &w, q.q.qtype, q.q.qclass, DNS_RCODE_SERVFAIL, DNS_EDE_OTHER, NULL);
        return;
    }
    fwd_inflight_join(f, key, key_len, query, (size_t)rc, subset, (size_t)n, &w);
}

/* True when `a` is one of our own listening endpoints: asking it would be a loop. */
static bool fwd_is_self(const struct forwarder *f, const struct addr *a)
{
    struct addr local;

    for (size_t i = 0; dns_listener_local_addr(f->listener, i, &local) == 0; i++) {
        if (addr_port(&local) != addr_port(a)) {
            continue;
        }
        if (addr_equal_ip(&local, a) || (addr_is_any(&local) && addr_is_loopback(a))) {
            return true;
        }
    }
    return false;
}

/* Rebuilds the server table: `server=` lines, then the resolv servers (the default set),
 * then the servers only some domains use. */
static void fwd_rebuild_servers(struct forwarder *f)
{
    const struct fwd_config *cfg = &f->cfg;
    struct addr all[FWD_SERVERS_MAX];
    size_t n = 0;
    char text[ADDR_TEXT_MAX];

    for (size_t i = 0; i < cfg->n_servers && n < FWD_SERVERS_MAX; i++) {
        all[n++] = cfg->servers[i];
    }
    for (size_t i = 0; i < f->resolv_current.count && n < FWD_SERVERS_MAX; i++) {
        const struct addr *a = &f->resolv_current.addr[i];
        if (fwd_is_self(f, a)) {
            log_warn("fwd", "skipping nameserver %s: it is this forwarder (a loop)",
                     addr_format(a, text, sizeof(text)));
            continue;
        }
        all[n++] = *a;
    }
    f->n_default = n;
    for (size_t i = 0; i < cfg->n_domain_servers && n < FWD_SERVERS_MAX; i++) {
        const struct fwd_domain_server *d = &cfg->domain_servers[i];
        bool seen = false;
        for (size_t j = 0; j < n && !seen; j++) {
            seen = addr_equal(&all[j], &d->addr);
        }
        if (d->action == FWD_DOMAIN_SERVER && !seen) {
            all[n++] = d->addr;
        }
    }
    fwd_servers_set(&f->servers, all, n);
}

static void fwd_on_resolv(void *user, const struct resolv_servers *servers)
{
    struct forwarder *f = user;

    f->resolv_current = *servers;
    if (f->listener != NULL) {
        fwd_rebuild_servers(f);
    }
}

static int fwd_make_cache(struct forwarder *f)
{
    struct dns_cache_config cc = {
        .max_stale_s = f->cfg.max_stale_s,
        .stale_answer_ttl_s = FWD_STALE_TTL_S,
    };
    size_t bytes = (size_t)f->cfg.cache_size * FWD_CACHE_BYTES_PER_ENTRY;

    dns_cache_free(f->cache);
    f->cache = NULL;
    if (f->cfg.cache_size == 0) {
        return 0;
    }
    cc.max_bytes = bytes < FWD_CACHE_MIN_BYTES ? FWD_CACHE_MIN_BYTES : bytes;
    return dns_cache_new(&cc, &f->cache);
}

int forwarder_new(uv_loop_t *loop, const struct fwd_config *cfg, struct forwarder **out)
{
    struct forwarder *f = calloc(1, sizeof(*f));
    int rc;

    if (f == NULL) {
        return -ENOMEM;
    }
    f->loop = loop;
    fwd_config_copy(&f->cfg, cfg);
    f->hash_seed = random_u32();
    fwd_servers_init(&f->servers, cfg->all_servers    ? FWD_SERVERS_ALL
                                  : cfg->strict_order ? FWD_SERVERS_STRICT
                                                      : FWD_SERVERS_FASTEST);
    rc = fwd_make_cache(f);
    if (rc == 0) {
        rc = upstream_new(loop, FWD_MAX_INFLIGHT * 2, &f->upstream);
    }
    if (rc == 0) {
        rc = dns_listener_new(loop, NULL, fwd_on_query, f, &f->listener);
    }
    if (rc != 0) {
        dns_cache_free(f->cache);
        upstream_free(f->upstream);
        free(f);
        return rc;
    }
    *out = f;
    return 0;
}

/* Resolv file paths in effect: those configured, else /etc/resolv.conf, none with no-resolv. */
static size_t fwd_resolv_paths(const struct fwd_config *cfg, const char **paths)
{
    if (cfg->no_resolv) {
        return 0;
    }
    if (cfg->n_resolv_files == 0) {
        paths[0] = FWD_DEFAULT_RESOLV_FILE;
        return 1;
    }
    for (size_t i = 0; i < cfg->n_resolv_files; i++) {
        paths[i] = cfg->resolv_files[i];
    }
    return cfg->n_resolv_files;
}

static int fwd_start_resolv(struct forwarder *f)
{
    const char *paths[FWD_MAX_RESOLV_FILES];
    size_t n = fwd_resolv_paths(&f->cfg, paths);
    struct resolv_watch_config rc = {.no_poll = f->cfg.no_poll};

    memset(&f->resolv_current, 0, sizeof(f->resolv_current));
    if (n == 0) {
        fwd_rebuild_servers(f);
        return 0;
    }
    return resolv_watch_new(f->loop, paths, n, &rc, fwd_on_resolv, f, &f->resolv);
}

int forwarder_start(struct forwarder *f)
{
    struct addr addrs[FWD_LISTEN_MAX];
    size_t n;
    int rc = fwd_listen_addresses(&f->cfg, addrs, FWD_LISTEN_MAX, &n);

    if (rc != 0) {
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        rc = dns_listener_bind(f->listener, &addrs[i]);
        if (rc != 0) {
            return rc;
        }
    }
    rc = fwd_start_resolv(f);
    if (rc != 0) {
        log_err("fwd", "cannot watch the resolv files: %s", strerror(-rc));
        return rc;
    }
    return 0;
}

int forwarder_reload(struct forwarder *f, const struct fwd_config *cfg)
{
    struct fwd_config *old = malloc(sizeof(*old));
    int rc;

    if (old == NULL) {
        return -ENOMEM;
    }
    fwd_config_copy(old, &f->cfg);
    fwd_config_copy(&f->cfg, cfg);
    /* Where we listen is fixed at start: sockets may need privileges we no longer have. */
    f->cfg.port = old->port;
    f->cfg.n_listen = old->n_listen;
    memcpy(f->cfg.listen, old->listen, sizeof(old->listen));
    f->cfg.n_interfaces = old->n_interfaces;
    memcpy(f->cfg.interfaces, old->interfaces, sizeof(old->interfaces));
    f->servers.mode = cfg->all_servers    ? FWD_SERVERS_ALL
                      : cfg->strict_order ? FWD_SERVERS_STRICT
                                          : FWD_SERVERS_FASTEST;
    bool new_cache = cfg->cache_size != old->cache_size || cfg->max_stale_s != old->max_stale_s ||
                     cfg->clear_on_reload;
    free(old);
    if (new_cache) {
        rc = fwd_make_cache(f);
        if (rc != 0) {
            return rc;
        }
    }
    resolv_watch_free(f->resolv);
    f->resolv = NULL;
    /* Rebuilds the server table, through the watcher's first callback or directly. */
    return fwd_start_resolv(f);
}

int forwarder_local_addr(const struct forwarder *f, size_t i, struct addr *out)
{
    return dns_listener_local_addr(f->listener, i, out);
}

void forwarder_stats(const struct forwarder *f, struct forwarder_stats *out)
{
    *out = f->stats;
}

/* Drops one hold on f; the last one frees it and tells whoever called forwarder_stop. */
void fwd_release(struct forwarder *f)
{
    if (--f->closing_handles > 0 || !f->stopping) {
        return;
    }
    void (*cb)(void *) = f->stop_cb;
    void *cb_arg = f->stop_arg;

    dns_cache_free(f->cache);
    free(f);
    if (cb != NULL) {
        cb(cb_arg);
    }
}

static void fwd_on_listener_closed(void *arg)
{
    fwd_release(arg);
}

void forwarder_stop(struct forwarder *f, void (*cb)(void *arg), void *arg)
{
    f->stopping = true;
    f->stop_cb = cb;
    f->stop_arg = arg;
    f->closing_handles++; /* held until everything below has been started */
    fwd_inflight_abandon_all(f);
    resolv_watch_free(f->resolv);
    f->resolv = NULL;
    upstream_free(f->upstream);
    f->upstream = NULL;
    f->closing_handles++;
    dns_listener_close(f->listener, fwd_on_listener_closed, f);
    f->listener = NULL;
    fwd_release(f);
}
