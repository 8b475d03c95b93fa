/* threads = N: N routers, each on its own loop and thread, every one binding the listen
 * addresses with SO_REUSEPORT so the kernel spreads clients over them. Each has its own
 * backends sockets, outstanding tables and health checks (router 0 alone logs the health
 * changes). The main thread keeps the signals and passes reloads, counter dumps and the stop
 * on to the workers; it logs their counters summed, as one router's. */
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

/* Hands a new configuration (copied) to every worker, which applies it as router_reload. */
void rt_threads_reload(struct rt_threads *t, const struct rt_config *cfg);

/* Asks every worker for its counters; the main loop logs their sum once all are in. */
void rt_threads_log_stats(struct rt_threads *t);

/* Stops every worker, waits for their threads to end, logs their counters summed and frees
 * t. */
void rt_threads_stop(struct rt_threads *t);

#endif
