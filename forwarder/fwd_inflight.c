/* Resolutions in flight: one per question however many clients ask it, each trying the
 * planned servers in turn until one gives a usable answer. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "fwd_internal.h"
#include "log.h"
#include "random.h"

/* Least time left for an attempt; below this the next server is not worth asking. */
#define FWD_ATTEMPT_MIN_MS 100

struct fwd_attempt {
    struct fwd_inflight *p;
    struct upstream_req *req; /* NULL once settled */
    uint64_t sent_ms;
    struct addr server;
};

struct fwd_inflight {
    struct fwd_inflight *next; /* in its bucket */
    struct forwarder *f;
    uint32_t hash;
    bool finished;
    uv_timer_t next_timer; /* when to ask the next server as well */
    uint64_t started_ms;
    int last_rcode; /* of an unusable reply, -1 for none yet */
    struct fwd_waiter *waiters;
    size_t n_waiters, cap_waiters;
    uint8_t key[FWD_KEY_MAX];
    size_t key_len;
    uint8_t query[DNS_NAME_MAX + 64];
    size_t query_len;
    size_t n_targets, next_target, active;
    struct fwd_attempt attempts[]; /* one per planned server, in the order planned */
};

static uint32_t fwd_inflight_hash(const struct forwarder *f, const uint8_t *key, size_t len)
{
    uint32_t h = f->hash_seed ^ 2166136261u; /* FNV-1a, seeded: the table is small */

    for (size_t i = 0; i < len; i++) {
        h = (h ^ key[i]) * 16777619u;
    }
    return h;
}

static struct fwd_inflight **fwd_inflight_slot(struct forwarder *f, uint32_t hash,
                                               const uint8_t *key, size_t len)
{
    struct fwd_inflight **slot = &f->inflight[hash % FWD_INFLIGHT_BUCKETS];

    for (; *slot != NULL; slot = &(*slot)->next) {
        if ((*slot)->hash == hash && (*slot)->key_len == len &&
            memcmp((*slot)->key, key, len) == 0) {
            return slot;
        }
    }
    return slot;
}

static void fwd_inflight_on_closed(uv_handle_t *h)
{
    struct fwd_inflight *p = h->data;
    struct forwarder *f = p->f;

    free(p->waiters);
    free(p);
    fwd_release(f);
}

/* Takes p out of the table and cancels what it still has running; it is freed once its
 * timer is closed. */
static void fwd_inflight_finish(struct fwd_inflight *p)
{
    struct forwarder *f = p->f;
    struct fwd_inflight **slot = fwd_inflight_slot(f, p->hash, p->key, p->key_len);

    p->finished = true;
    if (*slot == p) {
        *slot = p->next;
    }
    f->n_inflight--;
    for (size_t i = 0; i < p->next_target; i++) {
        if (p->attempts[i].req != NULL) {
            upstream_cancel(p->attempts[i].req);
            p->attempts[i].req = NULL;
        }
    }
    f->closing_handles++;
    uv_close((uv_handle_t *)&p->next_timer, fwd_inflight_on_closed);
}

static void fwd_inflight_on_answer(void *user, int status, uint8_t *answer, size_t len);

/* Asks the next planned server; false when there is none, or no time left. */
static bool fwd_inflight_send_next(struct fwd_inflight *p)
{
    struct forwarder *f = p->f;
    uint64_t now = uv_now(f->loop);
    uint64_t elapsed = now - p->started_ms;

    while (p->next_target < p->n_targets) {
        if (elapsed + FWD_ATTEMPT_MIN_MS > f->cfg.query_timeout_ms) {
            return false;
        }
        struct fwd_attempt *a = &p->attempts[p->next_target];
        a->p = p;
        a->sent_ms = now;
        p->next_target++;
        int rc = upstream_query(f->upstream, &a->server, p->query, p->query_len,
                                (uint32_t)(f->cfg.query_timeout_ms - elapsed),
                                fwd_inflight_on_answer, a, &a->req);
        if (rc == 0) {
            p->active++;
            return true;
        }
        a->req = NULL;
        char text[ADDR_TEXT_MAX];
        log_debug("fwd", "query to %s not sent: %s", addr_format(&a->server, text, sizeof(text)),
                  strerror(-rc));
    }
    return false;
}

static void fwd_inflight_arm_timer(struct fwd_inflight *p);

static void fwd_inflight_on_next_timer(uv_timer_t *t)
{
    struct fwd_inflight *p = t->data;

    if (fwd_inflight_send_next(p)) {
        fwd_inflight_arm_timer(p);
    }
}

static void fwd_inflight_arm_timer(struct fwd_inflight *p)
{
    struct forwarder *f = p->f;
    int idx;

    if (p->next_target >= p->n_targets) {
        return;
    }
    idx = fwd_servers_find(&f->servers, &p->attempts[p->next_target - 1].server);
    uint32_t wait_ms = idx >= 0 ? fwd_servers_try_timeout_ms(&f->servers, (size_t)idx) : 800;
    uv_timer_start(&p->next_timer, fwd_inflight_on_next_timer, wait_ms, 0);
}

static void fwd_inflight_fail(struct fwd_inflight *p)
{
    struct forwarder *f = p->f;
    uint16_t qtype = (uint16_t)(p->key[1] << 8 | p->key[2]);
    uint16_t qclass = (uint16_t)(p->key[3] << 8 | p->key[4]);

    for (size_t i = 0; i < p->n_waiters; i++) {
        const struct fwd_waiter *w = &p->waiters[i];
        if (fwd_serve_stale(f, p->key, p->key_len, w)) {
            continue;
        }
        if (p->last_rcode == DNS_RCODE_REFUSED) {
            fwd_serve_error(f, w, qtype, qclass, DNS_RCODE_SERVFAIL, DNS_EDE_NO_REACHABLE_AUTHORITY,
                            "upstream servers refused");
        } else {
            fwd_serve_error(f, w, qtype, qclass, DNS_RCODE_SERVFAIL, DNS_EDE_NETWORK_ERROR,
                            "no answer from upstream servers");
        }
    }
    fwd_inflight_finish(p);
}

/* RFC 1035 4.1.1: SERVFAIL and REFUSED say nothing about the name; another server may do
 * better, as dnsmasq also assumes. */
static bool fwd_inflight_usable(const uint8_t *answer, size_t len, int *rcode)
{
    struct dns_header h;

    if (dns_msg_header(answer, len, &h) != 0) {
        *rcode = -1;
        return false;
    }
    *rcode = (int)dns_msg_rcode(&h);
    return *rcode != DNS_RCODE_SERVFAIL && *rcode != DNS_RCODE_REFUSED;
}

static void fwd_inflight_on_answer(void *user, int status, uint8_t *answer, size_t len)
{
    struct fwd_attempt *a = user;
    struct fwd_inflight *p = a->p;
    struct forwarder *f = p->f;
    int idx = fwd_servers_find(&f->servers, &a->server);
    int rcode = -1;

    a->req = NULL;
    p->active--;
    if (status == 0 && fwd_inflight_usable(answer, len, &rcode)) {
        if (idx >= 0) {
            fwd_servers_answered(&f->servers, (size_t)idx,
                                 (uint32_t)(uv_now(f->loop) - a->sent_ms));
        }
        fwd_deliver(f, p->key, p->key_len, answer, len, p->waiters, p->n_waiters);
        fwd_inflight_finish(p);
        return;
    }

    if (idx >= 0) {
        fwd_servers_failed(&f->servers, (size_t)idx);
    }
    if (rcode >= 0) {
        p->last_rcode = rcode;
    }
    char text[ADDR_TEXT_MAX];
    log_debug("fwd", "upstream %s: %s", addr_format(&a->server, text, sizeof(text)),
              status != 0 ? strerror(-status) : "unusable answer");
    /* A failure moves on to the next server at once rather than at its timer. */
    if (fwd_inflight_send_next(p)) {
        fwd_inflight_arm_timer(p);
        return;
    }
    if (p->active == 0) {
        fwd_inflight_fail(p);
    }
}

static int fwd_inflight_add_waiter(struct fwd_inflight *p, const struct fwd_waiter *w)
{
    if (p->n_waiters == p->cap_waiters) {
        size_t cap = p->cap_waiters != 0 ? p->cap_waiters * 2 : 1; /* most have one */
        struct fwd_waiter *grown = realloc(p->waiters, cap * sizeof(*grown));
        if (grown == NULL) {
            return -ENOMEM;
        }
        p->waiters = grown;
        p->cap_waiters = cap;
    }
    p->waiters[p->n_waiters++] = *w;
    return 0;
}

/* A new resolution asking the planned servers in order; NULL at the in-flight bound. */
static struct fwd_inflight *fwd_inflight_new(struct forwarder *f, uint32_t hash, const uint8_t *key,
                                             size_t key_len, const uint8_t *query, size_t query_len,
                                             const struct fwd_plan *plan)
{
    struct fwd_inflight *p;

    if (f->n_inflight >= FWD_MAX_INFLIGHT || query_len > sizeof(p->query)) {
        return NULL;
    }
    /* Sized to the plan: most questions have one or two servers to ask, not the most. */
    p = malloc(sizeof(*p) + plan->count * sizeof(p->attempts[0]));
    if (p == NULL) {
        return NULL;
    }
    memset(p, 0, sizeof(*p));
    for (size_t i = 0; i < plan->count; i++) {
        p->attempts[i].server = f->servers.list[plan->order[i]].addr;
        p->attempts[i].req = NULL;
    }
    p->n_targets = plan->count;
    p->f = f;
    p->hash = hash;
    p->last_rcode = -1;
    p->started_ms = uv_now(f->loop);
    memcpy(p->key, key, key_len);
    p->key_len = key_len;
    memcpy(p->query, query, query_len);
    p->query_len = query_len;
    uv_timer_init(f->loop, &p->next_timer);
    p->next_timer.data = p;
    return p;
}

void fwd_inflight_join(struct forwarder *f, const uint8_t *key, size_t key_len,
                       const uint8_t *query, size_t query_len, const uint8_t *subset,
                       size_t n_subset, const struct fwd_waiter *w)
{
    uint32_t hash = fwd_inflight_hash(f, key, key_len);
    struct fwd_inflight **slot = fwd_inflight_slot(f, hash, key, key_len);
    struct fwd_inflight *p = *slot;
    uint16_t qtype = (uint16_t)(key[1] << 8 | key[2]);
    uint16_t qclass = (uint16_t)(key[3] << 8 | key[4]);
    struct fwd_plan plan;

    if (p != NULL) {
        f->stats.merged++;
        if (fwd_inflight_add_waiter(p, w) != 0) {
            fwd_serve_error(f, w, qtype, qclass, DNS_RCODE_SERVFAIL, DNS_EDE_OTHER, "no memory");
        }
        return;
    }
    fwd_servers_plan(&f->servers, subset, n_subset, uv_now(f->loop), &plan);
    p = fwd_inflight_new(f, hash, key, key_len, query, query_len, &plan);
    if (p == NULL || fwd_inflight_add_waiter(p, w) != 0) {
        if (p != NULL) {
            free(p->waiters);
            p->waiters = NULL;
            p->n_waiters = 0;
            *slot = p;
            f->n_inflight++;
            fwd_inflight_finish(p);
        }
        fwd_serve_error(f, w, qtype, qclass, DNS_RCODE_SERVFAIL, DNS_EDE_OTHER,
                        "too many queries in flight");
        return;
    }
    *slot = p;
    f->n_inflight++;
    f->stats.forwarded++;

    for (size_t i = 0; i < plan.parallel; i++) {
        fwd_inflight_send_next(p);
    }
    if (p->active == 0) {
        fwd_inflight_fail(p);
        return;
    }
    fwd_inflight_arm_timer(p);
}

void fwd_inflight_abandon_all(struct forwarder *f)
{
    for (size_t b = 0; b < FWD_INFLIGHT_BUCKETS; b++) {
        while (f->inflight[b] != NULL) {
            struct fwd_inflight *p = f->inflight[b];
            for (size_t i = 0; i < p->n_waiters; i++) {
                dns_listener_done(f->listener, &p->waiters[i].client);
            }
            fwd_inflight_finish(p);
        }
    }
}
