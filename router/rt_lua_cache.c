/* The packet cache calls of a dnsdist configuration: `pc = newPacketCache(N, {...})`, which
 * makes a cache object, and `getPool("name"):setCache(pc)`, which gives it to a pool
 * (dnsdist 1.7 documentation, "Caching responses"). A cache object given to several pools
 * gives each its own cache with those settings. */
#include <stdio.h>
#include <string.h>

#include "rt_lua_int.h"

static const struct rt_lua_value rt_lua_cache_nil = {.type = RT_LUA_NIL};

/* Options of newPacketCache that tune dnsdist's internals (shards, locking) or only matter
 * with a setting refused below (staleTTL needs keepStaleData): accepted, nothing to set. */
static const char *const rt_lua_cache_ignored[] = {
    "numberOfShards",
    "deferrableInsertLock",
    "staleTTL",
};

/* Options whose default is what the router does; they are accepted only when false. */
static const char *const rt_lua_cache_only_false[] = {
    "dontAge",
    "keepStaleData",
    "parseECS",
    "cookieHashing",
};

static bool rt_lua_cache_listed(const char *key, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(key, list[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* One named field of newPacketCache's options table. */
static void rt_lua_cache_option(struct rt_lua *L, struct rt_cache_config *c, const char *key,
                                const struct rt_lua_value *v)
{
    static const struct {
        const char *key;
        size_t offset;
    } ttls[] = {
        {"maxTTL", offsetof(struct rt_cache_config, max_ttl)},
        {"minTTL", offsetof(struct rt_cache_config, min_ttl)},
        {"temporaryFailureTTL", offsetof(struct rt_cache_config, temp_failure_ttl)},
        {"maxNegativeTTL", offsetof(struct rt_cache_config, max_negative_ttl)},
    };
    size_t n_ignored = sizeof(rt_lua_cache_ignored) / sizeof(rt_lua_cache_ignored[0]);
    size_t n_false = sizeof(rt_lua_cache_only_false) / sizeof(rt_lua_cache_only_false[0]);

    for (size_t i = 0; i < sizeof(ttls) / sizeof(ttls[0]); i++) {
        if (strcmp(key, ttls[i].key) == 0) {
            rt_lua_calls_uint(L, key, v, 0, RT_CACHE_TTL_MAX,
                              (uint32_t *)((char *)c + ttls[i].offset));
            return;
        }
    }
    if (rt_lua_cache_listed(key, rt_lua_cache_ignored, n_ignored)) {
        return;
    }
    if (rt_lua_cache_listed(key, rt_lua_cache_only_false, n_false)) {
        if (v->type != RT_LUA_BOOL || v->boolean) {
            rt_lua_fail(L, "newPacketCache: only %s=false is supported", key);
        }
        return;
    }
    rt_lua_fail(L, "newPacketCache: parameter '%s' is not supported", key);
}

/* newPacketCache(maxEntries[, {maxTTL=..., minTTL=..., temporaryFailureTTL=...,
 * maxNegativeTTL=...}]) */
static struct rt_lua_value rt_lua_cache_new(struct rt_lua *L, const struct rt_lua_value *args,
                                            size_t n)
{
    static const enum rt_lua_type types[] = {RT_LUA_NUMBER, RT_LUA_TABLE};
    struct rt_lua_value out = {.type = RT_LUA_CACHE};
    struct rt_cache_config *c;
    uint32_t entries;

    if (!rt_lua_calls_args(L, "newPacketCache", args, n, 1, 2, types) ||
        !rt_lua_calls_uint(L, "newPacketCache's number of entries", &args[0], 1,
                           RT_CACHE_MAX_ENTRIES, &entries)) {
        return rt_lua_cache_nil;
    }
    if (L->n_caches == RT_LUA_MAX_CACHES) {
        return rt_lua_fail(L, "more than %d packet caches", RT_LUA_MAX_CACHES);
    }
    c = &L->caches[L->n_caches];
    rt_config_cache_defaults(c, entries);
    if (n == 2) {
        const struct rt_lua_table *t = &L->tables[args[1].index];
        for (uint32_t i = 0; i < t->count && !L->failed; i++) {
            const struct rt_lua_field *f = &L->fields[t->first + i];
            if (f->key == 0) {
                return rt_lua_fail(L, "newPacketCache: the options table needs named fields");
            }
            rt_lua_cache_option(L, c, L->arena + f->key, &f->value);
        }
    }
    if (L->failed) {
        return rt_lua_cache_nil;
    }
    out.index = (uint32_t)L->n_caches++;
    return out;
}

static struct rt_lua_value rt_lua_cache_get_pool(struct rt_lua *L, const struct rt_lua_value *args,
                                                 size_t n)
{
    static const enum rt_lua_type types[] = {RT_LUA_STRING};
    int idx;

    if (!rt_lua_calls_args(L, "getPool", args, n, 1, 1, types)) {
        return rt_lua_cache_nil;
    }
    idx = rt_config_pool(L->cfg, L->ctx, rt_lua_str(L, &args[0]));
    if (idx < 0) {
        L->failed = true; /* reported by rt_config_pool */
        return rt_lua_cache_nil;
    }
    return (struct rt_lua_value){.type = RT_LUA_POOL, .index = (uint32_t)idx};
}

bool rt_lua_cache_function(struct rt_lua *L, const char *name, const struct rt_lua_value *args,
                           size_t n_args, struct rt_lua_value *out)
{
    if (strcmp(name, "newPacketCache") == 0) {
        *out = rt_lua_cache_new(L, args, n_args);
    } else if (strcmp(name, "getPool") == 0) {
        *out = rt_lua_cache_get_pool(L, args, n_args);
    } else {
        return false;
    }
    return true;
}

struct rt_lua_value rt_lua_cache_pool_method(struct rt_lua *L, const struct rt_lua_value *pool,
                                             const char *name, const struct rt_lua_value *args,
                                             size_t n_args)
{
    static const enum rt_lua_type cache[] = {RT_LUA_CACHE};

    if (strcmp(name, "setCache") != 0) {
        return rt_lua_fail(L, "pool method :%s() is not supported by pkdns-router", name);
    }
    if (rt_lua_calls_args(L, name, args, n_args, 1, 1, cache)) {
        L->cfg->pools[pool->index].cache = L->caches[args[0].index];
    }
    return rt_lua_cache_nil;
}
