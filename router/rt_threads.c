#include "rt_threads.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "router.h"
#include "rt_health_board.h"
#include "rt_ratelimit.h"
#include "rt_stats.h"

#define RT_THREADS_TAG "router"

struct rt_threads;

/* What the main thread tells the loops once every one has answered a reload. */
enum rt_threads_verdict {
    RT_VERDICT_NONE = 0,
    RT_VERDICT_RELEASE, /* every loop staged it: in force everywhere */
    RT_VERDICT_DISCARD, /* one could not: dropped everywhere */
};

/* One worker: a loop, its router, and the requests the main thread left for it. */
struct rt_worker {
    struct rt_threads *owner;
    unsigned index;
    uv_thread_t thread;
    bool thread_started;
    uv_loop_t loop;
    uv_async_t wake;
    struct router *router;
    uv_sem_t started;
    int start_rc;
    uv_mutex_t lock; /* guards the requests and the counters below */
    struct rt_config *pending_reload;
    uint32_t pending_seq;            /* the reload it belongs to */
    enum rt_threads_verdict verdict; /* on the reload verdict_seq */
    uint32_t verdict_seq;
    uint32_t staged_seq; /* the reload this loop holds staged (0: none); its thread's own */
    bool want_stats;
    bool want_stop;
    bool want_health;       /* the health board has changed */
    struct rt_stats *stats; /* taken when asked (and at stop), for the main thread to sum */
};

struct rt_threads {
    const struct rt_config *start_cfg; /* during start only */
    unsigned n;
    uv_async_t ready_wake;                /* on the main loop */
    uv_async_t stats_wake;                /* on the main loop: a worker has left its counters */
    uv_async_t reload_wake;               /* on the main loop: a worker has answered a reload */
    unsigned handles_open;                /* of the three above; t is freed when all are closed */
    struct rt_health_board *health;       /* worker 0 checks the backends, the others follow */
    struct rt_ratelimit_share *ratelimit; /* every worker's rate limiter */
    uv_mutex_t ready_lock;
    unsigned ready_count;
    bool ready_told;
    void (*ready_cb)(void *arg);
    void *ready_arg;
    uv_mutex_t reload_lock; /* guards the reload's answers */
    uint32_t reload_seq;    /* the reload being answered; older answers are ignored */
    unsigned reload_answers;
    int reload_rc;               /* the first failure, or 0 */
    unsigned reload_failed_loop; /* from 1 */
    bool reload_decided;
    rt_threads_reload_cb reload_cb;
    void *reload_arg;
    struct rt_worker workers[];
};

static void rt_threads_close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}

/* Takes the worker's counters and leaves them for the main thread; tell_main wakes it. */
static void rt_threads_leave_stats(struct rt_worker *w, bool tell_main)
{
    struct rt_stats *s = malloc(sizeof(*s));

    if (s == NULL) {
        log_err(RT_THREADS_TAG, "loop %u: no memory for its counters", w->index + 1);
        return;
    }
    router_stats(w->router, s);
    uv_mutex_lock(&w->lock);
    free(w->stats);
    w->stats = s;
    uv_mutex_unlock(&w->lock);
    if (tell_main) {
        uv_async_send(&w->owner->stats_wake);
    }
}

/* A loop's answer to reload seq (rc from router_reload_stage), for the main thread. */
static void rt_threads_reload_answer(struct rt_threads *t, unsigned index, uint32_t seq, int rc)
{
    uv_mutex_lock(&t->reload_lock);
    if (seq == t->reload_seq) {
        t->reload_answers++;
        if (rc != 0 && t->reload_rc == 0) {
            t->reload_rc = rc;
            t->reload_failed_loop = index + 1;
        }
    }
    uv_mutex_unlock(&t->reload_lock);
    uv_async_send(&t->reload_wake);
}

/* On a worker's loop: a new configuration to stage, and the verdict on the one staged. */
static void rt_threads_apply_reload(struct rt_worker *w, struct rt_config *cfg, uint32_t seq,
                                    enum rt_threads_verdict verdict, uint32_t verdict_seq)
{
    if (verdict != RT_VERDICT_NONE && verdict_seq == w->staged_seq) {
        if (verdict == RT_VERDICT_RELEASE) {
            router_reload_release(w->router);
        } else {
            router_reload_discard(w->router);
        }
        w->staged_seq = 0;
    }
    if (cfg != NULL) {
        int rc = router_reload_stage(w->router, cfg);
        w->staged_seq = rc == 0 ? seq : 0;
        rt_threads_reload_answer(w->owner, w->index, seq, rc);
    }
}

/* Runs on a worker's loop whenever the main thread has left it something to do. */
static void rt_threads_on_wake(uv_async_t *a)
{
    struct rt_worker *w = a->data;
    struct rt_config *cfg;
    enum rt_threads_verdict verdict;
    uint32_t seq, verdict_seq;
    bool stats, stop, health;

    uv_mutex_lock(&w->lock);
    cfg = w->pending_reload;
    w->pending_reload = NULL;
    seq = w->pending_seq;
    verdict = w->verdict;
    verdict_seq = w->verdict_seq;
    w->verdict = RT_VERDICT_NONE;
    stats = w->want_stats;
    w->want_stats = false;
    health = w->want_health;
    w->want_health = false;
    stop = w->want_stop;
    uv_mutex_unlock(&w->lock);

    if (health && !stop && w->router != NULL) {
        router_follow_health(w->router);
    }
    if (!stop && w->router != NULL) {
        rt_threads_apply_reload(w, cfg, seq, verdict, verdict_seq);
    }
    free(cfg);
    if ((stats || stop) && w->router != NULL) {
        rt_threads_leave_stats(w, !stop); /* at stop the main thread reads them after joining */
    }
    if (stop && w->router != NULL) {
        router_stop(w->router, NULL, NULL);
        w->router = NULL;
        uv_walk(&w->loop, rt_threads_close_walk, NULL);
    }
}

/* Logs the counters of n loops (taken[i] NULL for a loop that left none) summed into one set
 * named as a single router's, or, when they were taken under different configurations (a
 * reload on its way), one by one as stats1, stats2, ...; frees them. */
static void rt_threads_log_stats_of(struct rt_stats **taken, unsigned n)
{
    struct rt_stats *sum = malloc(sizeof(*sum)); /* a copy: each set stays as taken */
    bool merged = sum != NULL, started = false;

    for (unsigned i = 0; i < n && merged; i++) {
        if (taken[i] != NULL && !started) {
            memcpy(sum, taken[i], sizeof(*sum));
            started = true;
        } else if (taken[i] != NULL) {
            merged = rt_stats_merge(sum, taken[i]);
        }
    }
    merged = merged && started;
    if (merged) {
        rt_stats_log(sum, RT_STATS_TAG);
    }
    for (unsigned i = 0; i < n; i++) {
        char tag[16];
        if (taken[i] != NULL && !merged) {
            snprintf(tag, sizeof(tag), "%s%u", RT_STATS_TAG, i + 1);
            rt_stats_log(taken[i], tag);
        }
        free(taken[i]);
    }
    free(sum);
}

/* Logs and takes the counters the workers have left; with `all`, only once every worker has
 * left its own. */
static void rt_threads_log_left_stats(struct rt_threads *t, bool all)
{
    struct rt_stats *taken[RT_MAX_THREADS];
    unsigned n_taken = 0;

    for (unsigned i = 0; i < t->n; i++) {
        uv_mutex_lock(&t->workers[i].lock);
        n_taken += t->workers[i].stats != NULL;
        uv_mutex_unlock(&t->workers[i].lock);
    }
    if (n_taken == 0 || (all && n_taken < t->n)) {
        return;
    }
    for (unsigned i = 0; i < t->n; i++) {
        uv_mutex_lock(&t->workers[i].lock);
        taken[i] = t->workers[i].stats;
        t->workers[i].stats = NULL;
        uv_mutex_unlock(&t->workers[i].lock);
    }
    rt_threads_log_stats_of(taken, t->n);
}

/* Runs on the main loop when a worker has left its counters (SIGUSR1). */
static void rt_threads_on_stats_wake(uv_async_t *a)
{
    rt_threads_log_left_stats(a->data, true);
}

/* Runs on the main loop when a worker has answered a reload: once all have, tells each to
 * release it or, when one failed, to drop it, and reports. */
static void rt_threads_on_reload_wake(uv_async_t *a)
{
    struct rt_threads *t = a->data;
    enum rt_threads_verdict verdict;
    unsigned failed_loop;
    uint32_t seq;
    bool all;
    int rc;

    uv_mutex_lock(&t->reload_lock);
    all = !t->reload_decided && t->reload_cb != NULL && t->reload_answers == t->n;
    t->reload_decided = t->reload_decided || all;
    seq = t->reload_seq;
    rc = t->reload_rc;
    failed_loop = t->reload_failed_loop;
    uv_mutex_unlock(&t->reload_lock);
    if (!all) {
        return;
    }
    verdict = rc == 0 ? RT_VERDICT_RELEASE : RT_VERDICT_DISCARD;
    for (unsigned i = 0; i < t->n; i++) {
        struct rt_worker *w = &t->workers[i];
        uv_mutex_lock(&w->lock);
        w->verdict = verdict;
        w->verdict_seq = seq;
        uv_mutex_unlock(&w->lock);
        uv_async_send(&w->wake);
    }
    t->reload_cb(t->reload_arg, rc, failed_loop);
}

/* The health board's change callback, on worker 0's thread: wakes the workers that follow. */
static void rt_threads_on_health_changed(void *arg)
{
    struct rt_threads *t = arg;

    for (unsigned i = 1; i < t->n; i++) {
        struct rt_worker *w = &t->workers[i];
        uv_mutex_lock(&w->lock);
        w->want_health = true;
        uv_mutex_unlock(&w->lock);
        uv_async_send(&w->wake);
    }
}

static void rt_threads_on_worker_ready(void *arg)
{
    struct rt_worker *w = arg;
    struct rt_threads *t = w->owner;

    uv_mutex_lock(&t->ready_lock);
    t->ready_count++;
    uv_mutex_unlock(&t->ready_lock);
    uv_async_send(&t->ready_wake);
}

static void rt_threads_run(void *arg)
{
    struct rt_worker *w = arg;
    struct router_options opts = {
        .reuseport = true,
        .quiet = w->index > 0,
        .index = w->index,
        .n_routers = w->owner->n,
        .health = w->owner->health,
        .ratelimit = w->owner->ratelimit,
    };

    w->start_rc = router_new(&w->loop, w->owner->start_cfg, &opts, &w->router);
    if (w->start_rc == 0) {
        w->start_rc = router_start(w->router);
    }
    uv_sem_post(&w->started);
    if (w->start_rc != 0) {
        return; /* the main thread stops the whole process */
    }
    router_when_ready(w->router, rt_threads_on_worker_ready, w);
    uv_run(&w->loop, UV_RUN_DEFAULT);
}

/* Runs on the main loop: tells once that every worker is ready. */
static void rt_threads_on_ready_wake(uv_async_t *a)
{
    struct rt_threads *t = a->data;
    bool all;

    uv_mutex_lock(&t->ready_lock);
    all = t->ready_count == t->n;
    uv_mutex_unlock(&t->ready_lock);
    if (all && !t->ready_told) {
        t->ready_told = true;
        t->ready_cb(t->ready_arg);
    }
}

/* Everything of w that other threads may touch, made before any worker runs: the health
 * board wakes workers as soon as worker 0's first check is in. */
static void rt_threads_init_worker(struct rt_threads *t, struct rt_worker *w, unsigned index)
{
    w->owner = t;
    w->index = index;
    uv_loop_init(&w->loop);
    uv_mutex_init(&w->lock);
    uv_sem_init(&w->started, 0);
    uv_async_init(&w->loop, &w->wake, rt_threads_on_wake);
    w->wake.data = w;
}

static int rt_threads_start_worker(struct rt_worker *w)
{
    int rc = uv_thread_create(&w->thread, rt_threads_run, w);

    if (rc != 0) {
        return rc;
    }
    w->thread_started = true;
    uv_sem_wait(&w->started);
    return w->start_rc;
}

static void rt_threads_on_closed(uv_handle_t *h)
{
    struct rt_threads *t = h->data;

    if (--t->handles_open == 0) {
        free(t);
    }
}

int rt_threads_start(uv_loop_t *main_loop, const struct rt_config *cfg, unsigned n,
                     void (*ready_cb)(void *arg), void *arg, struct rt_threads **out)
{
    struct rt_threads *t = calloc(1, sizeof(*t) + n * sizeof(t->workers[0]));
    int rc = 0;

    if (t == NULL) {
        return -ENOMEM;
    }
    t->start_cfg = cfg;
    t->n = n;
    t->ready_cb = ready_cb;
    t->ready_arg = arg;
    uv_mutex_init(&t->ready_lock);
    uv_async_init(main_loop, &t->ready_wake, rt_threads_on_ready_wake);
    t->ready_wake.data = t;
    uv_async_init(main_loop, &t->stats_wake, rt_threads_on_stats_wake);
    t->stats_wake.data = t;
    uv_mutex_init(&t->reload_lock);
    uv_async_init(main_loop, &t->reload_wake, rt_threads_on_reload_wake);
    t->reload_wake.data = t;
    t->handles_open = 3;
    if (n > 1) {
        rc = rt_health_board_new(rt_threads_on_health_changed, t, &t->health);
    }
    if (n > 1 && rc == 0) {
        rc = rt_ratelimit_share_new(&t->ratelimit);
    }
    for (unsigned i = 0; i < n; i++) {
        rt_threads_init_worker(t, &t->workers[i], i);
    }
    for (unsigned i = 0; i < n && rc == 0; i++) {
        rc = rt_threads_start_worker(&t->workers[i]);
    }
    t->start_cfg = NULL;
    if (rc != 0) {
        log_err(RT_THREADS_TAG, "cannot start the loops: %s", strerror(-rc));
        rt_threads_stop(t);
        return rc;
    }
    *out = t;
    return 0;
}

void rt_threads_reload(struct rt_threads *t, const struct rt_config *cfg, rt_threads_reload_cb done,
                       void *arg)
{
    uint32_t seq;

    uv_mutex_lock(&t->reload_lock);
    if (++t->reload_seq == 0) {
        t->reload_seq = 1; /* 0 means none */
    }
    seq = t->reload_seq;
    t->reload_answers = 0;
    t->reload_rc = 0;
    t->reload_failed_loop = 0;
    t->reload_decided = false;
    t->reload_cb = done;
    t->reload_arg = arg;
    uv_mutex_unlock(&t->reload_lock);
    for (unsigned i = 0; i < t->n; i++) {
        struct rt_worker *w = &t->workers[i];
        struct rt_config *copy = malloc(sizeof(*copy));
        if (copy == NULL) {
            rt_threads_reload_answer(t, i, seq, -ENOMEM); /* answered for it */
            continue;
        }
        memcpy(copy, cfg, sizeof(*copy));
        uv_mutex_lock(&w->lock);
        free(w->pending_reload);
        w->pending_reload = copy;
        w->pending_seq = seq;
        uv_mutex_unlock(&w->lock);
        uv_async_send(&w->wake);
    }
}

void rt_threads_log_stats(struct rt_threads *t)
{
    for (unsigned i = 0; i < t->n; i++) {
        uv_mutex_lock(&t->workers[i].lock);
        t->workers[i].want_stats = true;
        uv_mutex_unlock(&t->workers[i].lock);
        uv_async_send(&t->workers[i].wake);
    }
}

void rt_threads_stop(struct rt_threads *t)
{
    for (unsigned i = 0; i < t->n; i++) {
        struct rt_worker *w = &t->workers[i];
        if (!w->thread_started) {
            /* Made ready but never run (an earlier worker failed): only its wake to close. */
            uv_close((uv_handle_t *)&w->wake, NULL);
            uv_run(&w->loop, UV_RUN_NOWAIT);
            uv_loop_close(&w->loop);
            continue;
        }
        uv_mutex_lock(&w->lock);
        w->want_stop = true;
        uv_mutex_unlock(&w->lock);
        if (w->start_rc == 0) {
            uv_async_send(&w->wake);
        }
        uv_thread_join(&w->thread);
        if (w->start_rc == 0) {
            uv_loop_close(&w->loop); /* a loop that failed to start dies with the process */
        }
        free(w->pending_reload);
    }
    rt_threads_log_left_stats(t, false);
    rt_health_board_free(t->health); /* worker 0, which posts to it, has stopped */
    rt_ratelimit_share_free(t->ratelimit);
    /* The handles live in t: t is freed in the last close callback, on the main loop. */
    uv_close((uv_handle_t *)&t->ready_wake, rt_threads_on_closed);
    uv_close((uv_handle_t *)&t->stats_wake, rt_threads_on_closed);
    uv_close((uv_handle_t *)&t->reload_wake, rt_threads_on_closed);
}
