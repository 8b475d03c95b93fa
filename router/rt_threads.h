/* threads = N: N routers, each on its own loop and thread, every one binding the listen
 * addresses with SO_REUSEPORT so the kernel spreads clients over them. Each has its own
 * backends sockets, outstanding tables and health checks (router 0 alone logs the health
 * changes). The main thread keeps the signals and passes reloads, counter dumps and the stop
 * on to the workers; it logs their counters summed, as one router's. A reload comes into
 * force in every loop or in none: each loop stages it, and only when all have done so do
 * they release it; when one cannot, every loop drops it and keeps the old configuration. */
#ifndef PK_RT_THREADS_H
#define PK_RT_THREADS_H

#include <uv.h>

#include "rt_config.h"

struct rt_threads;

/* Starts n workers from cfg (copied) and waits until each has bound its sockets. ready_cb(arg)
 * runs on main_loop once every worker has its first health verdicts. Returns 0, or the first
 * worker's error (logged), after stopping the others. */
int rt_threads_start(uv_loop_t *main_loop, const struct rt_config *cfg, unsigned n,
                     void (*ready_cb)(void *arg), void *arg, struct rt_threads **out);

/* What came of a reload: 0, or the error of the first loop (numbered from 1) that could not
 * take it, in which case none took it. */
typedef void (*rt_threads_reload_cb)(void *arg, int rc, unsigned loop);

/* Hands a new configuration (copied) to every worker, which stages it (router_reload_stage);
 * once all have answered, all release it, or, if one failed, all drop it, and done(arg, ...)
 * runs on the main loop. A newer reload replaces one still on its way (done is then called
 * for the newer one only). */
void rt_threads_reload(struct rt_threads *t, const struct rt_config *cfg, rt_threads_reload_cb done,
                       void *arg);

/* Asks every worker for its counters; the main loop logs their sum once all are in. */
void rt_threads_log_stats(struct rt_threads *t);

/* Stops every worker, waits for their threads to end, logs their counters summed and frees
 * t. */
void rt_threads_stop(struct rt_threads *t);

#endif
