/* The health verdicts that the loops of threads = N share. Loop 1 checks each backend and
 * posts every verdict here; the other loops check nothing themselves and take the verdicts
 * posted, so a backend sees one check per interval however many loops run, and every loop
 * calls it up or down at the same time. A backend is known by its name and address. The board
 * is locked; it is touched once per check and once per change, never per query. */
#ifndef PK_RT_HEALTH_BOARD_H
#define PK_RT_HEALTH_BOARD_H

#include <stdbool.h>

#include "rt_config.h"

/* Verdicts kept: enough for the backends of two configurations (one being reloaded). */
#define RT_HEALTH_BOARD_SLOTS (2 * RT_MAX_BACKENDS)

struct rt_health_board;

/* Creates an empty board. changed(arg), when not NULL, runs on the posting thread after a
 * verdict changed (or came in for the first time), so that the other loops can be woken.
 * Returns 0 or -ENOMEM. */
int rt_health_board_new(void (*changed)(void *arg), void *arg, struct rt_health_board **out);

/* Frees the board; NULL is a no-op. */
void rt_health_board_free(struct rt_health_board *b);

/* Posts the verdict on the backend of cfg. When every slot is taken, the verdict posted
 * longest ago makes room (a backend that is still checked is posted again at its next check). */
void rt_health_board_post(struct rt_health_board *b, const struct rt_backend_config *cfg, bool up);

/* The verdict posted for the backend of cfg: 1 up, 0 down, -ENOENT none yet. */
int rt_health_board_read(struct rt_health_board *b, const struct rt_backend_config *cfg);

#endif
