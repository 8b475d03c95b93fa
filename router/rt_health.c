#include "rt_health.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dns_writer.h"
#include "log.h"
#include "rt_health_board.h"
#include "rt_health_lazy.h"

#define RT_HEALTH_TAG "health"

struct rt_health {
    uv_loop_t *loop;
    struct upstream *up;
    struct rt_backend_config cfg;
    rt_health_cb cb;
    void *user;
    uv_timer_t timer;
    struct upstream_req *req; /* the check in flight */
    bool up_now;
    bool settled;
    bool log_changes;
    struct rt_health_board *board; /* NULL: judged alone */
    bool follow;                   /* auto mode takes the board's verdicts */
    uint32_t fails;                /* auto mode: checks in a row */
    uint32_t successes;
    struct rt_lazy lazy; /* lazy mode's state */
};

static void rt_health_set(struct rt_health *h, bool up, const char *why)
{
    char text[ADDR_TEXT_MAX];

    if (h->settled && h->up_now == up) {
        return;
    }
    h->up_now = up;
    h->settled = true;
    if (!h->log_changes) {
        h->cb(h->user, h, up);
        return;
    }
    if (up) {
        log_notice(RT_HEALTH_TAG, "backend %s (%s) is up", h->cfg.name,
                   addr_format(&h->cfg.addr, text, sizeof(text)));
    } else {
        log_warn(RT_HEALTH_TAG, "backend %s (%s) is down: %s", h->cfg.name,
                 addr_format(&h->cfg.addr, text, sizeof(text)), why);
    }
    h->cb(h->user, h, up);
}

static void rt_health_on_timer(uv_timer_t *t);

static void rt_health_schedule(struct rt_health *h, uint64_t delay_ms)
{
    uv_timer_start(&h->timer, rt_health_on_timer, delay_ms, 0);
}

/* A lazy backend's check: the state it leads to decides the verdict and the next check. */
static void rt_health_lazy_checked(struct rt_health *h, bool ok, const char *why)
{
    enum rt_lazy_state state = rt_lazy_check(&h->lazy, &h->cfg, ok);

    if (state == RT_LAZY_HEALTHY) {
        rt_health_set(h, true, ""); /* back to watching its queries */
        return;
    }
    if (state == RT_LAZY_FAILED) {
        rt_health_set(h, false, why);
    }
    rt_health_schedule(h, rt_lazy_check_delay_ms(&h->lazy, &h->cfg));
}

/* One check's outcome, by dnsdist's rule: any rcode but SERVFAIL is a success. */
static void rt_health_on_answer(void *user, int status, uint8_t *answer, size_t len)
{
    struct rt_health *h = user;
    bool ok =
        status == 0 && len >= DNS_HEADER_LEN && (answer[3] & DNS_RCODE_MASK) != DNS_RCODE_SERVFAIL;
    char why[96];

    h->req = NULL;
    snprintf(why, sizeof(why), "%s",
             status == 0            ? "health check answered SERVFAIL"
             : status == -ETIMEDOUT ? "health check timed out"
                                    : strerror(-status));
    if (h->cfg.health == RT_HEALTH_LAZY) {
        rt_health_lazy_checked(h, ok, why);
        return;
    }
    if (ok) {
        h->fails = 0;
        h->successes++;
    } else {
        h->successes = 0;
        h->fails++;
    }
    if (!h->settled) {
        /* The first verdict counts at once, as dnsdist's checks at start-up do. */
        rt_health_set(h, ok, why);
    } else if (h->up_now && h->fails >= h->cfg.max_check_failures) {
        rt_health_set(h, false, why);
    } else if (!h->up_now && h->successes >= h->cfg.rise) {
        rt_health_set(h, true, "");
    }
    if (h->board != NULL && h->cfg.health == RT_HEALTH_AUTO) {
        rt_health_board_post(h->board, &h->cfg, h->up_now);
    }
    rt_health_schedule(h, h->cfg.check_interval_ms);
}

static int rt_health_query(const struct rt_health *h, uint8_t *buf, size_t cap)
{
    struct dns_writer w;
    struct dns_header hdr = {.flags = DNS_FLAG_RD, .qdcount = 1};

    dns_writer_init(&w, buf, cap);
    dns_writer_header(&w, &hdr);
    dns_writer_question(&w, h->cfg.check_name, h->cfg.check_name_len, h->cfg.check_type,
                        h->cfg.check_class);
    return dns_writer_finish(&w);
}

static void rt_health_on_timer(uv_timer_t *t)
{
    struct rt_health *h = t->data;
    uint8_t query[DNS_NAME_MAX + 32];
    int len = rt_health_query(h, query, sizeof(query));
    int rc;

    if (h->req != NULL || len < 0) {
        return;
    }
    rc = h->cfg.tcp_only
             ? upstream_query_tcp(h->up, &h->cfg.addr, query, (size_t)len, h->cfg.check_timeout_ms,
                                  rt_health_on_answer, h, &h->req)
             : upstream_query(h->up, &h->cfg.addr, query, (size_t)len, h->cfg.check_timeout_ms,
                              rt_health_on_answer, h, &h->req);
    if (rc != 0) {
        h->req = NULL;
        rt_health_on_answer(h, rc, NULL, 0);
    }
}

/* Applies the mode: fixed verdicts for up and down, checks for auto. */
static void rt_health_start(struct rt_health *h)
{
    uv_timer_stop(&h->timer);
    h->fails = 0;
    h->successes = 0;
    rt_lazy_reset(&h->lazy);
    switch (h->cfg.health) {
    case RT_HEALTH_UP:
        rt_health_set(h, true, "");
        break;
    case RT_HEALTH_DOWN:
        rt_health_set(h, false, "set down by the configuration");
        break;
    case RT_HEALTH_LAZY:
        rt_health_set(h, true, ""); /* trusted until queries fail */
        break;
    case RT_HEALTH_AUTO:
        if (h->follow) {
            rt_health_follow(h);
        } else {
            rt_health_schedule(h, 0);
        }
        break;
    }
}

int rt_health_new(uv_loop_t *loop, struct upstream *up, const struct rt_backend_config *cfg,
                  const struct rt_health_opts *opts, rt_health_cb cb, void *user,
                  struct rt_health **out)
{
    struct rt_health *h = calloc(1, sizeof(*h));

    if (h == NULL) {
        return -ENOMEM;
    }
    h->loop = loop;
    h->up = up;
    h->cfg = *cfg;
    h->log_changes = opts->log_changes;
    h->board = opts->board;
    h->follow = opts->board != NULL && opts->follow;
    h->cb = cb;
    h->user = user;
    uv_timer_init(loop, &h->timer);
    h->timer.data = h;
    *out = h;
    rt_health_start(h);
    return 0;
}

void rt_health_update(struct rt_health *h, const struct rt_backend_config *cfg)
{
    enum rt_health_mode old = h->cfg.health;

    if (cfg->lazy.sample_size != h->cfg.lazy.sample_size) {
        rt_lazy_clear_samples(&h->lazy);
    }
    h->cfg = *cfg;
    if (old != cfg->health) {
        if (h->req != NULL) {
            upstream_cancel(h->req);
            h->req = NULL;
        }
        rt_health_start(h);
    }
}

void rt_health_follow(struct rt_health *h)
{
    int verdict;

    if (!h->follow || h->cfg.health != RT_HEALTH_AUTO) {
        return;
    }
    verdict = rt_health_board_read(h->board, &h->cfg);
    if (verdict >= 0) {
        rt_health_set(h, verdict == 1, "the health checks say so");
    }
}

bool rt_health_is_up(const struct rt_health *h)
{
    return h->settled && h->up_now;
}

bool rt_health_settled(const struct rt_health *h)
{
    return h->settled;
}

/* Logs that a lazy backend's queries failed too often and that checks begin. */
static void rt_health_log_potential_failure(const struct rt_health *h)
{
    char text[ADDR_TEXT_MAX];

    if (h->log_changes) {
        log_notice(RT_HEALTH_TAG, "backend %s (%s): %u of its last %u queries failed; checking it",
                   h->cfg.name, addr_format(&h->cfg.addr, text, sizeof(text)), h->lazy.failures,
                   h->lazy.count);
    }
}

void rt_health_query_result(struct rt_health *h, enum rt_query_outcome outcome)
{
    if (h->cfg.health != RT_HEALTH_LAZY || !rt_lazy_record(&h->lazy, &h->cfg, outcome)) {
        return;
    }
    rt_health_log_potential_failure(h);
    rt_health_schedule(h, 0); /* the first check at once, the next every check interval */
}

static void rt_health_on_closed(uv_handle_t *handle)
{
    free(handle->data);
}

void rt_health_free(struct rt_health *h)
{
    if (h == NULL) {
        return;
    }
    if (h->req != NULL) {
        upstream_cancel(h->req);
        h->req = NULL;
    }
    uv_close((uv_handle_t *)&h->timer, rt_health_on_closed);
}
