#include "unit_loop.h"

static void unit_loop_on_deadline(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

bool unit_loop_until(uv_timer_t *deadline, bool (*done)(void *arg), void *arg, uint64_t ms)
{
    bool passed = false;

    deadline->data = &passed;
    uv_timer_start(deadline, unit_loop_on_deadline, ms, 0);
    while (!done(arg) && !passed) {
        uv_run(deadline->loop, UV_RUN_ONCE);
    }
    uv_timer_stop(deadline);
    deadline->data = NULL;
    return done(arg);
}

static bool unit_loop_never(void *arg)
{
    (void)arg;
    return false;
}

void unit_loop_for(uv_timer_t *deadline, uint64_t ms)
{
    unit_loop_until(deadline, unit_loop_never, NULL, ms);
}
