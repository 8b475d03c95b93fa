/* pkdns-router: the front end on port 53. Each query is checked against the ACL and the rate
 * limit, the first matching rule picks a pool (or drops, or answers with an rcode), the pool's
 * policy picks a live backend, and the query goes there with a fresh random ID. */
#ifndef PK_ROUTER_H
#define PK_ROUTER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "rt_config.h"

struct router;

struct rt_health_board;
struct rt_ratelimit_share;

/* How one router of several (threads = N) differs from the others. */
struct router_options {
    bool reuseport;                 /* bind with SO_REUSEPORT: several routers share each address */
    bool quiet;                     /* leave health changes and reload lines to router 0 */
    unsigned index;                 /* which router this is */
    unsigned n_routers;             /* how many there are */
    struct rt_health_board *health; /* shared verdicts: router 0 checks, the others follow */
    struct rt_ratelimit_share *ratelimit; /* one rate limiter for all the routers */
};

/* Creates a router on `loop` from cfg (copied): backends opened and health checks started,
 * nothing bound yet. opts may be NULL (a single router). Returns 0 or a negative errno,
 * logged. */
int router_new(uv_loop_t *loop, const struct rt_config *cfg, const struct router_options *opts,
               struct router **out);

/* Binds every listen address, UDP and TCP. Returns 0 or the first error (logged). */
int router_start(struct router *r);

/* Calls cb(arg) once every backend's first health verdict is in (at once if it already is). */
void router_when_ready(struct router *r, void (*cb)(void *arg), void *arg);

/* Applies a new configuration (SIGHUP) without dropping queries in flight: rules, pools,
 * backends, ACL, limits. Listen addresses stay as they are. Returns 0 or an error (the old
 * configuration then stays). */
int router_reload(struct router *r, const struct rt_config *cfg);

/* router_reload in two steps, for several routers that must all take a configuration or all
 * keep theirs: stages cfg (opening the backends it adds) but holds it back. Returns 0 or an
 * error, after which nothing is staged and the running configuration stays. */
int router_reload_stage(struct router *r, const struct rt_config *cfg);

/* Lets the staged configuration come into force (once its new backends have their first
 * verdicts); nothing when none is staged. */
void router_reload_release(struct router *r);

/* Drops the staged configuration, closing the backends it opened; the running one stays. */
void router_reload_discard(struct router *r);

/* The address endpoint i is bound to (tests bind port 0). */
int router_local_addr(const struct router *r, size_t i, struct addr *out);

struct rt_stats;

/* Takes the verdicts now on the shared health board (router_options.health), for a router
 * that follows another's checks; runs on r's loop. */
void router_follow_health(struct router *r);

/* Logs every counter (SIGUSR1), with dnsdist-like names. */
void router_log_stats(const struct router *r);

/* Copies every counter, with the names it goes with, into out (rt_stats.h), for a caller
 * that sums the counters of several routers. */
void router_stats(const struct router *r, struct rt_stats *out);

/* Stops listening, abandons queries in flight and frees everything; cb(arg) runs once all
 * handles are closed. */
void router_stop(struct router *r, void (*cb)(void *arg), void *arg);

#endif
