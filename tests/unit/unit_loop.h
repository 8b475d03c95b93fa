/* Running a libuv loop in a test until something has happened, with a deadline, so that a
 * test that waits in vain fails instead of hanging. */
#ifndef PK_UNIT_LOOP_H
#define PK_UNIT_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

/* Runs the loop of `deadline` (a timer the caller has initialised, and closes at the end of
 * its test) one turn at a time until done(arg) is true or `ms` have passed; returns
 * done(arg). */
bool unit_loop_until(uv_timer_t *deadline, bool (*done)(void *arg), void *arg, uint64_t ms);

/* Runs the loop of `deadline` for `ms`, whatever happens. */
void unit_loop_for(uv_timer_t *deadline, uint64_t ms);

#endif
