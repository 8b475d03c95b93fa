#include "rt_health_board.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

struct rt_health_slot {
    bool used;
    bool up;
    uint64_t posted; /* the board's post counter when it was last posted */
    char name[RT_NAME_MAX];
    struct addr addr;
};

struct rt_health_board {
    uv_mutex_t lock; /* guards everything below */
    uint64_t posts;
    struct rt_health_slot slots[RT_HEALTH_BOARD_SLOTS];
    void (*changed)(void *arg);
    void *changed_arg;
};

int rt_health_board_new(void (*changed)(void *arg), void *arg, struct rt_health_board **out)
{
    struct rt_health_board *b = calloc(1, sizeof(*b));

    if (b == NULL || uv_mutex_init(&b->lock) != 0) {
        free(b);
        return -ENOMEM;
    }
    b->changed = changed;
    b->changed_arg = arg;
    *out = b;
    return 0;
}

void rt_health_board_free(struct rt_health_board *b)
{
    if (b == NULL) {
        return;
    }
    uv_mutex_destroy(&b->lock);
    free(b);
}

static bool rt_health_board_is(const struct rt_health_slot *s, const struct rt_backend_config *cfg)
{
    return s->used && strcmp(s->name, cfg->name) == 0 && addr_equal(&s->addr, &cfg->addr);
}

/* The slot of cfg's backend, or NULL. Called with the lock held. */
static struct rt_health_slot *rt_health_board_find(struct rt_health_board *b,
                                                   const struct rt_backend_config *cfg)
{
    for (size_t i = 0; i < RT_HEALTH_BOARD_SLOTS; i++) {
        if (rt_health_board_is(&b->slots[i], cfg)) {
            return &b->slots[i];
        }
    }
    return NULL;
}

/* A free slot, or the one posted longest ago. Called with the lock held. */
static struct rt_health_slot *rt_health_board_room(struct rt_health_board *b)
{
    struct rt_health_slot *oldest = &b->slots[0];

    for (size_t i = 0; i < RT_HEALTH_BOARD_SLOTS; i++) {
        if (!b->slots[i].used) {
            return &b->slots[i];
        }
        if (b->slots[i].posted < oldest->posted) {
            oldest = &b->slots[i];
        }
    }
    return oldest;
}

void rt_health_board_post(struct rt_health_board *b, const struct rt_backend_config *cfg, bool up)
{
    struct rt_health_slot *s;
    bool changed;

    uv_mutex_lock(&b->lock);
    s = rt_health_board_find(b, cfg);
    changed = s == NULL || s->up != up;
    if (s == NULL) {
        s = rt_health_board_room(b);
        memset(s, 0, sizeof(*s));
        s->used = true;
        memcpy(s->name, cfg->name, sizeof(s->name));
        s->addr = cfg->addr;
    }
    s->up = up;
    s->posted = ++b->posts;
    uv_mutex_unlock(&b->lock);

    if (changed && b->changed != NULL) {
        b->changed(b->changed_arg);
    }
}

int rt_health_board_read(struct rt_health_board *b, const struct rt_backend_config *cfg)
{
    const struct rt_health_slot *s;
    int verdict;

    uv_mutex_lock(&b->lock);
    s = rt_health_board_find(b, cfg);
    verdict = s == NULL ? -ENOENT : s->up;
    uv_mutex_unlock(&b->lock);
    return verdict;
}
