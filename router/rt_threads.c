#include "rt_threads.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "router.h"

#define RT_THREADS_TAG "router"

struct rt_threads;

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
    uv_mutex_t lock; /* guards the three requests below */
    struct rt_config *pending_reload;
    bool want_stats;
    bool want_stop;
};

struct rt_threads {
    const struct rt_config *start_cfg; /* during start only */
    unsigned n;
    uv_async_t ready_wake; /* on the main loop */
    uv_mutex_t ready_lock;
    unsigned ready_count;
    bool ready_told;
    void (*ready_cb)(void *arg);
    void *ready_arg;
    struct rt_worker workers[];
};

static void rt_threads_close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}

/* Runs on a worker's loop whenever the main thread has left it something to do. */
static void rt_threads_on_wake(uv_async_t *a)
{
    struct rt_worker *w = a->data;
    struct rt_config *cfg;
    bool stats, stop;

    uv_mutex_lock(&w->lock);
    cfg = w->pending_reload;
    w->pending_reload = NULL;
    stats = w->want_stats;
    w->want_stats = false;
    stop = w->want_stop;
    uv_mutex_unlock(&w->lock);

    if (cfg != NULL && !stop && router_reload(w->router, cfg) != 0) {
        log_err(RT_THREADS_TAG, "loop %u could not apply the new configuration", w->index + 1);
    }
    free(cfg);
    if (stats && w->router != NULL) {
        router_log_stats(w->router);
    }
    if (stop && w->router != NULL) {
        router_stop(w->router, NULL, NULL);
        w->router = NULL;
        uv_walk(&w->loop, rt_threads_close_walk, NULL);
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

static int rt_threads_start_worker(struct rt_threads *t, struct rt_worker *w)
{
    int rc;

    w->owner = t;
    uv_loop_init(&w->loop);
    uv_mutex_init(&w->lock);
    uv_sem_init(&w->started, 0);
    uv_async_init(&w->loop, &w->wake, rt_threads_on_wake);
    w->wake.data = w;
    rc = uv_thread_create(&w->thread, rt_threads_run, w);
    if (rc != 0) {
        return rc;
    }
    w->thread_started = true;
    uv_sem_wait(&w->started);
    return w->start_rc;
}

static void rt_threads_on_closed(uv_handle_t *h)
{
    free(h->data);
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
    for (unsigned i = 0; i < n && rc == 0; i++) {
        t->workers[i].index = i;
        rc = rt_threads_start_worker(t, &t->workers[i]);
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

void rt_threads_reload(struct rt_threads *t, const struct rt_config *cfg)
{
    for (unsigned i = 0; i < t->n; i++) {
        struct rt_worker *w = &t->workers[i];
        struct rt_config *copy = malloc(sizeof(*copy));
        if (copy == NULL) {
            continue;
        }
        memcpy(copy, cfg, sizeof(*copy));
        uv_mutex_lock(&w->lock);
        free(w->pending_reload);
        w->pending_reload = copy;
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
    /* The handle lives in t: t is freed in its close callback, on the main loop. */
    uv_close((uv_handle_t *)&t->ready_wake, rt_threads_on_closed);
}
