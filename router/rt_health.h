/* Health of one backend, as dnsdist judges it: a check query (by default id.server CH TXT)
 * every check interval; any answer but SERVFAIL within the check timeout is a success;
 * max_check_failures failures in a row mark a live backend down, `rise` successes in a row
 * mark it up again. Modes up and down skip the checks; lazy mode checks only once too many
 * of its queries failed (rt_health_lazy.h). Each change of state is logged once. Several loops
 * share the verdicts of one through a board (rt_health_board.h). */
#ifndef PK_RT_HEALTH_H
#define PK_RT_HEALTH_H

#include <stdbool.h>
#include <uv.h>

#include "rt_config.h"
#include "rt_health_lazy.h"
#include "upstream.h"

struct rt_health;

struct rt_health_board;

/* Called when the state is first known and whenever it changes. */
typedef void (*rt_health_cb)(void *user, struct rt_health *h, bool up);

/* How one judge of several (threads = N) takes part. */
struct rt_health_opts {
    bool log_changes;              /* log each change of state */
    struct rt_health_board *board; /* NULL: judge alone */
    bool follow; /* with a board: in auto mode take its verdicts instead of checking */
};

/* Starts judging the backend of cfg (copied), checking through `up`. With a board, a judge
 * that checks posts its auto-mode verdicts there and one that follows takes them from there
 * (rt_health_follow). The first check goes out at once. Returns 0 or -ENOMEM. */
int rt_health_new(uv_loop_t *loop, struct upstream *up, const struct rt_backend_config *cfg,
                  const struct rt_health_opts *opts, rt_health_cb cb, void *user,
                  struct rt_health **out);

/* A following judge in auto mode takes the verdict now on the board, if there is one; the
 * board's owner calls this on the judge's loop when the board has changed. */
void rt_health_follow(struct rt_health *h);

/* Takes new check settings (a reload); a mode change applies at once. */
void rt_health_update(struct rt_health *h, const struct rt_backend_config *cfg);

/* Whether queries may go to the backend now. */
bool rt_health_is_up(const struct rt_health *h);

/* Whether the first verdict is in (always, for modes up and down). */
bool rt_health_settled(const struct rt_health *h);

/* Tells lazy mode how a query fared: a timeout, and by default a SERVFAIL, is a failure; too
 * many of them among the last queries start the checks. Ignored in other modes. */
void rt_health_query_result(struct rt_health *h, enum rt_query_outcome outcome);

/* Cancels the check in flight and frees h once its timer is closed; NULL is a no-op. */
void rt_health_free(struct rt_health *h);

#endif
