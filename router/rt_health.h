/* Health of one backend, as dnsdist judges it: a check query (by default id.server CH TXT)
 * every check interval; any answer but SERVFAIL within the check timeout is a success;
 * max_check_failures failures in a row mark a live backend down, `rise` successes in a row
 * mark it up again. Modes up and down skip the checks; lazy mode checks only after queries
 * failed (see docs/router.md). Each change of state is logged once. */
#ifndef PK_RT_HEALTH_H
#define PK_RT_HEALTH_H

#include <stdbool.h>
#include <uv.h>

#include "rt_config.h"
#include "upstream.h"

struct rt_health;

/* Called when the state is first known and whenever it changes. */
typedef void (*rt_health_cb)(void *user, struct rt_health *h, bool up);

/* Starts judging the backend of cfg (copied), checking through `up`; state changes are logged
 * when `log_changes`. The first check goes out at once. Returns 0 or -ENOMEM. */
int rt_health_new(uv_loop_t *loop, struct upstream *up, const struct rt_backend_config *cfg,
                  bool log_changes, rt_health_cb cb, void *user, struct rt_health **out);

/* Takes new check settings (a reload); a mode change applies at once. */
void rt_health_update(struct rt_health *h, const struct rt_backend_config *cfg);

/* Whether queries may go to the backend now. */
bool rt_health_is_up(const struct rt_health *h);

/* Whether the first verdict is in (always, for modes up and down). */
bool rt_health_settled(const struct rt_health *h);

/* Tells lazy mode how a query fared: timeouts count as failures. Ignored in other modes. */
void rt_health_query_result(struct rt_health *h, bool ok);

/* Cancels the check in flight and frees h once its timer is closed; NULL is a no-op. */
void rt_health_free(struct rt_health *h);

#endif
