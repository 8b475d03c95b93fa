/* pkdns's query path (see pkdns_server.h): a query is parsed, checked against the ACL and the
 * rate limit, answered at once when it can be (identity, errors, cached packets) and otherwise
 * kept as a pkdns_query until its DHT lookup, upstream query or timer settles it. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns_name.h"
#include "dns_reply.h"
#include "log.h"
#include "random.h"
#include "pkdns_server_int.h"

/* ---- answering clients ---- */

/* Sends msg to c: over HTTP through the DNS over HTTP server, else through the listener. */
static void pkdns_query_send(struct pkdns_server *s, const struct dns_client *c, const uint8_t *msg,
                             size_t len)
{
    if (c->transport == DNS_TRANSPORT_HTTP) {
        pkdns_doh_send(s->doh, c, msg, len);
    } else {
        dns_listener_send(s->listener, c, msg, len);
    }
}

/* Settles c's query without an answer. */
static void pkdns_query_done(struct pkdns_server *s, const struct dns_client *c)
{
    if (c->transport == DNS_TRANSPORT_HTTP) {
        pkdns_doh_done(s->doh, c);
    } else {
        dns_listener_done(s->listener, c);
    }
}

/* ---- ending queries ---- */

static void pkdns_query_on_closed(uv_handle_t *h)
{
    struct pkdns_query *qr = h->data;

    free(qr->msg);
    free(qr);
}

static void pkdns_query_on_timeout(uv_timer_t *t);

/* Refuses the query for lack of room: too many queries waiting, or lookups queued. */
static void pkdns_query_refuse_full(struct pkdns_query *qr, const char *why)
{
    qr->s->stats.refused++;
    qr->s->stats.full++;
    pkdns_query_error(qr, DNS_RCODE_REFUSED, DNS_EDE_OTHER, why);
}

/* A query answered at once never comes here: it holds no timer and is freed at once. */
bool pkdns_query_wait(struct pkdns_query *qr)
{
    struct pkdns_server *s = qr->s;

    if (qr->timer.data != NULL) {
        return true;
    }
    if (s->n_waiting >= s->cfg.max_waiting_queries) {
        if (!s->full_logged) {
            s->full_logged = true;
            log_warn(PKDNS_SERVER_TAG,
                     "max_waiting_queries reached (%zu queries waiting); refusing more until "
                     "half of them are answered",
                     s->n_waiting);
        }
        pkdns_query_refuse_full(qr, "max_waiting_queries reached");
        return false;
    }
    s->n_waiting++;
    uv_timer_init(s->loop, &qr->timer);
    qr->timer.data = qr;
    if (qr->pkarr) {
        qr->timer_on = true;
        uv_timer_start(&qr->timer, pkdns_query_on_timeout, s->cfg.answer_timeout_ms, 0);
    }
    return true;
}

/* Unlinks the query, stops what it waits for and frees it (once its timer is closed). */
static void pkdns_query_end(struct pkdns_query *qr)
{
    struct pkdns_server *s = qr->s;

    pkdns_lookup_leave(&qr->waiter);
    if (qr->req != NULL) {
        upstream_cancel(qr->req);
        qr->req = NULL;
    }
    if (qr->prev != NULL) {
        qr->prev->next = qr->next;
    } else {
        s->queries = qr->next;
    }
    if (qr->next != NULL) {
        qr->next->prev = qr->prev;
    }
    if (qr->timer.data == NULL) {
        free(qr->msg);
        free(qr);
        return;
    }
    /* The burst of refusals ends when half the places are free again. */
    s->n_waiting--;
    if (s->full_logged && s->n_waiting <= s->cfg.max_waiting_queries / 2) {
        s->full_logged = false;
    }
    uv_close((uv_handle_t *)&qr->timer, pkdns_query_on_closed);
}

void pkdns_query_drop(struct pkdns_query *qr)
{
    pkdns_query_done(qr->s, &qr->client);
    pkdns_query_end(qr);
}

/* The -v line of a query: client, name, type and the answer's rcode. */
static void pkdns_query_log(const struct pkdns_query *qr, const uint8_t *answer, size_t len)
{
    char name[DNS_NAME_TEXT_MAX], peer[ADDR_TEXT_MAX];

    if (dns_name_to_text(qr->q.q.name, qr->q.q.name_len, name, sizeof(name)) < 0) {
        snprintf(name, sizeof(name), "?");
    }
    log_debug(PKDNS_SERVER_TAG, "%s %s type %u: rcode %u, %zu bytes",
              addr_format(&qr->client.peer, peer, sizeof(peer)), name, qr->q.q.qtype,
              len >= DNS_HEADER_LEN ? (unsigned)(answer[3] & DNS_RCODE_MASK) : 0u, len);
}

void pkdns_query_reply(struct pkdns_query *qr, const uint8_t *answer, size_t len)
{
    struct pkdns_server *s = qr->s;
    bool udp = qr->client.transport == DNS_TRANSPORT_UDP;
    int n = dns_reply_for_client(&qr->q, udp, answer, len, s->reply, sizeof(s->reply));

    if (n > 0 && len >= DNS_HEADER_LEN && (answer[3] & DNS_RCODE_MASK) == DNS_RCODE_SERVFAIL) {
        s->stats.servfail++;
    }
    if (log_threshold >= LOG_LEVEL_DEBUG) {
        pkdns_query_log(qr, answer, len);
    }
    if (n > 0) {
        pkdns_query_send(s, &qr->client, s->reply, (size_t)n);
    } else {
        pkdns_query_done(s, &qr->client);
    }
    pkdns_query_end(qr);
}

void pkdns_query_error(struct pkdns_query *qr, uint16_t rcode, uint16_t ede, const char *text)
{
    struct pkdns_server *s = qr->s;
    int n = dns_reply_error(&qr->q, rcode, ede, text, s->answer, sizeof(s->answer));

    if (n < 0) {
        pkdns_query_done(s, &qr->client);
        pkdns_query_end(qr);
        return;
    }
    pkdns_query_reply(qr, s->answer, (size_t)n);
}

/* ---- resolution ---- */

static void pkdns_query_step(struct pkdns_query *qr, int step);

/* Whether the rate limits apply to peer: loopback is spared unless rate_limit_loopback. */
static bool pkdns_query_limited(const struct pkdns_server *s, const struct addr *peer)
{
    return s->cfg.rate_limit_loopback || !addr_is_loopback(peer);
}

/* Ends the resolution with SERVFAIL: what it needed failed or timed out. */
static void pkdns_query_fail(struct pkdns_query *qr, const char *why)
{
    struct pkdns_server *s = qr->s;

    pkdns_query_step(qr, pk_answer_fail(&qr->a, why, s->answer, sizeof(s->answer)));
}

/* The client's budget is spent: SERVFAIL now. A DHT lookup goes on without this query and
 * fills the cache; a question to a server is dropped. */
static void pkdns_query_on_timeout(uv_timer_t *t)
{
    struct pkdns_query *qr = t->data;

    qr->timer_on = false;
    qr->s->stats.timeouts++;
    pkdns_lookup_leave(&qr->waiter);
    if (qr->req != NULL) {
        upstream_cancel(qr->req);
        qr->req = NULL;
    }
    pkdns_query_fail(qr, qr->a.step == PK_ANSWER_NEED_KEY
                             ? "no DHT answer within answer_timeout_ms"
                             : "no server answer within answer_timeout_ms");
}

/* Feeds the packet (NULL: none), age_s seconds in the cache, to the resolution and goes on. */
static void pkdns_query_feed(struct pkdns_query *qr, const uint8_t *packet, size_t len,
                             uint32_t age_s, bool stale)
{
    struct pkdns_server *s = qr->s;

    if (packet == NULL) {
        pkdns_query_step(qr, pk_answer_feed_packet(&qr->a, NULL, s->answer, sizeof(s->answer)));
        return;
    }
    if (pk_packet_decode(packet, len, false, &s->packet) < 0) {
        pkdns_query_fail(qr, "bad packet");
        return;
    }
    pkdns_query_step(
        qr, pk_answer_feed_cached(&qr->a, &s->packet, age_s, stale, s->answer, sizeof(s->answer)));
}

static void pkdns_query_on_lookup(void *user, int status, const uint8_t *packet, size_t len,
                                  uint32_t age_s)
{
    struct pkdns_query *qr = user;

    if (status == 0) {
        pkdns_query_feed(qr, packet, len, age_s, false);
    } else if (status == -ENOENT) {
        pkdns_query_feed(qr, NULL, 0, 0, false);
    } else {
        pkdns_query_fail(qr, "DHT lookup failed");
    }
}

static void pkdns_query_need_key(struct pkdns_query *qr)
{
    struct pkdns_server *s = qr->s;
    struct pk_cache_hit hit;
    uint64_t now = uv_now(s->loop);
    int rc;

    switch (pk_cache_get(s->pk, qr->a.key, pkdns_lookup_wall_ms(), &hit)) {
    case PK_CACHE_FRESH:
    case PK_CACHE_STALE:
        if (hit.refresh) {
            pkdns_lookup_key(s->lookups, qr->a.key, NULL, now);
        }
        pkdns_query_feed(qr, hit.packet, hit.len, hit.age_s, hit.state == PK_CACHE_STALE);
        return;
    case PK_CACHE_NOT_FOUND:
        pkdns_query_feed(qr, NULL, 0, 0, false);
        return;
    case PK_CACHE_MISS:
        break;
    }
    /* The limit counts lookups: a query that joins one already running costs nothing. */
    if (s->dht_limit != NULL && pkdns_query_limited(s, &qr->client.peer) &&
        !pkdns_lookup_running(s->lookups, qr->a.key) &&
        !dht_limit_take(s->dht_limit, &qr->client.peer, now)) {
        /* PROTOCOLS.md: the Rust pkdns's rate limits answer REFUSED. */
        s->stats.refused++;
        s->stats.rate_limited++;
        pkdns_query_error(qr, DNS_RCODE_REFUSED, DNS_EDE_OTHER, "DHT lookups rate limited");
        return;
    }
    if (!pkdns_query_wait(qr)) {
        return;
    }
    qr->waiter.cb = pkdns_query_on_lookup;
    qr->waiter.user = qr;
    rc = pkdns_lookup_key(s->lookups, qr->a.key, &qr->waiter, now);
    if (rc == -ENOBUFS) {
        pkdns_query_refuse_full(qr, "max_queued_lookups reached");
    } else if (rc < 0) {
        log_debug(PKDNS_SERVER_TAG, "cannot look up a key: %s", strerror(-rc));
        pkdns_query_fail(qr, "no DHT node to ask");
    }
}

static void pkdns_query_on_response(void *user, int status, uint8_t *answer, size_t len)
{
    struct pkdns_query *qr = user;

    qr->req = NULL;
    if (status < 0) {
        pkdns_query_fail(qr, "server failed");
        return;
    }
    if (qr->a.step == PK_ANSWER_NEED_ICANN) {
        pkdns_forward_remember(qr->s, &qr->a, answer, len);
    }
    pkdns_query_step(
        qr, pk_answer_feed_response(&qr->a, answer, len, qr->s->answer, sizeof(qr->s->answer)));
}

/* NEED_ICANN (the forward server) or NEED_SERVER (the first glue address). */
static void pkdns_query_need_server(struct pkdns_query *qr, const struct addr *server)
{
    struct pkdns_server *s = qr->s;
    uint8_t query[DNS_EDNS_DEFAULT];
    int n = pk_answer_write_query(&qr->a, random_u16(), query, sizeof(query));
    int rc = n;

    if (!pkdns_query_wait(qr)) {
        return;
    }
    if (n > 0) {
        rc = upstream_query(s->up, server, query, (size_t)n, PKDNS_SERVER_UPSTREAM_MS,
                            pkdns_query_on_response, qr, &qr->req);
    }
    if (rc < 0) {
        qr->req = NULL;
        pkdns_query_fail(qr, "cannot ask");
    }
}

/* NEED_ICANN: the ICANN cache's answer when it has one, else the forward server's. */
static void pkdns_query_need_icann(struct pkdns_query *qr)
{
    struct pkdns_server *s = qr->s;
    int n = pkdns_forward_cached(s, &qr->a, s->icann_answer, sizeof(s->icann_answer));

    if (n < 0) {
        pkdns_query_need_server(qr, &s->cfg.forward);
        return;
    }
    s->stats.icann_hits++;
    pkdns_query_step(qr, pk_answer_feed_response(&qr->a, s->icann_answer, (size_t)n, s->answer,
                                                 sizeof(s->answer)));
}

static void pkdns_query_step(struct pkdns_query *qr, int step)
{
    if (step < 0) {
        pkdns_query_error(qr, DNS_RCODE_SERVFAIL, DNS_EDE_NONE, NULL);
        return;
    }
    switch ((enum pk_answer_step)step) {
    case PK_ANSWER_DONE:
        pkdns_query_reply(qr, qr->s->answer, qr->a.answer_len);
        return;
    case PK_ANSWER_FORWARD:
        pkdns_forward_query(qr);
        return;
    case PK_ANSWER_DROP:
        pkdns_query_done(qr->s, &qr->client);
        pkdns_query_end(qr);
        return;
    case PK_ANSWER_NEED_KEY:
        pkdns_query_need_key(qr);
        return;
    case PK_ANSWER_NEED_ICANN:
        pkdns_query_need_icann(qr);
        return;
    case PK_ANSWER_NEED_SERVER:
        if (qr->a.n_servers == 0) {
            pkdns_query_fail(qr, "no server");
            return;
        }
        pkdns_query_need_server(qr, &qr->a.servers[random_uniform((uint32_t)qr->a.n_servers)]);
        return;
    }
    pkdns_query_error(qr, DNS_RCODE_SERVFAIL, DNS_EDE_NONE, NULL);
}

/* ---- the listener's callback ---- */

static bool pkdns_query_allowed(const struct pkdns_server *s, const struct addr *peer)
{
    if (s->cfg.n_acl == 0) {
        return true;
    }
    for (size_t i = 0; i < s->cfg.n_acl; i++) {
        if (addr_prefix_match(&s->cfg.acl[i], peer)) {
            return true;
        }
    }
    return false;
}

/* Answers what needs no state: FORMERR, REFUSED, identity. Returns true when it answered. */
static bool pkdns_query_quick(struct pkdns_server *s, const struct dns_client *c,
                              const uint8_t *msg, size_t len, const struct dns_query *q, int rc)
{
    int n;

    if (rc < 0) {
        s->stats.formerr++;
        n = dns_reply_formerr(msg, len, s->reply, sizeof(s->reply));
    } else if (!pkdns_query_allowed(s, &c->peer)) {
        s->stats.refused++;
        n = dns_reply_error(q, DNS_RCODE_REFUSED, DNS_EDE_PROHIBITED, NULL, s->reply,
                            sizeof(s->reply));
    } else if (s->query_limit != NULL && pkdns_query_limited(s, &c->peer) &&
               !dht_limit_take(s->query_limit, &c->peer, uv_now(s->loop))) {
        s->stats.refused++;
        s->stats.rate_limited++;
        n = dns_reply_error(q, DNS_RCODE_REFUSED, DNS_EDE_OTHER, "rate limited", s->reply,
                            sizeof(s->reply));
    } else if (dns_reply_is_identity(q)) {
        n = dns_reply_identity(q, "pkdns", PKDNS_VERSION, s->reply, sizeof(s->reply));
    } else {
        return false;
    }
    if (n > 0) {
        pkdns_query_send(s, c, s->reply, (size_t)n);
    } else {
        pkdns_query_done(s, c);
    }
    return true;
}

void pkdns_query_received(void *user, const struct dns_client *c, const uint8_t *msg, size_t len)
{
    struct pkdns_server *s = user;
    struct pkdns_query *qr;
    struct dns_query q;
    int rc;

    s->stats.queries++;
    rc = dns_msg_parse_query(msg, len, &q);
    if (rc == 0 && (q.hdr.flags & DNS_FLAG_QR) != 0) {
        pkdns_query_done(s, c); /* a response: never answer one */
        return;
    }
    if (pkdns_query_quick(s, c, msg, len, &q, rc)) {
        return;
    }
    /* The resolution (the struct's last and largest part) is cleared by pk_answer_start. */
    qr = malloc(sizeof(*qr));
    if (qr != NULL) {
        memset(qr, 0, offsetof(struct pkdns_query, a));
        qr->msg = malloc(len);
    }
    if (qr == NULL || qr->msg == NULL) {
        free(qr);
        pkdns_query_done(s, c);
        return;
    }
    memcpy(qr->msg, msg, len);
    qr->len = len;
    qr->s = s;
    qr->client = *c;
    qr->q = q;
    qr->next = s->queries;
    if (s->queries != NULL) {
        s->queries->prev = qr;
    }
    s->queries = qr;
    rc = pk_answer_start(&qr->a, &s->acfg, &q, s->answer, sizeof(s->answer));
    if (rc != PK_ANSWER_FORWARD) {
        qr->pkarr = true;
        s->stats.pkarr++;
    }
    pkdns_query_step(qr, rc);
}
