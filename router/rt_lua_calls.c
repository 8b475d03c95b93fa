/* The dnsdist functions the router understands (dnsdist 1.8 documentation, "Configuration
 * reference"), each turned into the router's configuration; and the constants they take. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dns_name.h"
#include "rt_lua_int.h"
#include "rt_names.h"

static const struct rt_lua_value rt_lua_calls_nil = {.type = RT_LUA_NIL};

bool rt_lua_calls_args(struct rt_lua *L, const char *fn, const struct rt_lua_value *args, size_t n,
                       size_t min, size_t max, const enum rt_lua_type *types)
{
    if (n < min || n > max) {
        rt_lua_fail(L, "%s takes %zu to %zu arguments, not %zu", fn, min, max, n);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (types[i] != RT_LUA_NIL && args[i].type != types[i]) {
            rt_lua_fail(L, "%s: argument %zu must be a %s, not a %s", fn, i + 1,
                        rt_lua_type_name(types[i]), rt_lua_type_name(args[i].type));
            return false;
        }
    }
    return true;
}

bool rt_lua_calls_uint(struct rt_lua *L, const char *what, const struct rt_lua_value *v, double min,
                       double max, uint32_t *out)
{
    if (v->type != RT_LUA_NUMBER || v->number != floor(v->number) || v->number < min ||
        v->number > max) {
        rt_lua_fail(L, "%s must be a whole number from %.0f to %.0f", what, min, max);
        return false;
    }
    *out = (uint32_t)v->number;
    return true;
}

/* The options table of setLocal / addLocal: only reusePort is understood. Returns false (after
 * reporting) for anything else. */
static bool rt_lua_calls_local_options(struct rt_lua *L, const char *fn,
                                       const struct rt_lua_value *opts, bool *reuse)
{
    const struct rt_lua_table *t = &L->tables[opts->index];

    for (uint32_t i = 0; i < t->count; i++) {
        const struct rt_lua_field *f = &L->fields[t->first + i];
        const char *key = f->key != 0 ? L->arena + f->key : NULL;
        if (key == NULL) {
            rt_lua_fail(L, "%s: the options table needs named fields", fn);
            return false;
        }
        if (strcmp(key, "reusePort") != 0) {
            rt_lua_fail(L, "%s: option '%s' is not supported (only reusePort)", fn, key);
            return false;
        }
        if (f->value.type != RT_LUA_BOOL) {
            rt_lua_fail(L, "%s: reusePort must be true or false", fn);
            return false;
        }
        *reuse = f->value.boolean;
    }
    return true;
}

/* A listen address given again. dnsdist runs one listener per copy when every copy has
 * reusePort=true (that is how it spreads UDP over threads); the router does the same with
 * `threads`, which becomes the largest number of copies of any address. */
static void rt_lua_calls_local_again(struct rt_lua *L, const char *fn, const char *text, size_t i,
                                     bool reuse)
{
    if (!reuse || !L->listen_reuse[i]) {
        rt_lua_fail(L,
                    "%s: %s is already a listen address; a second listener on it needs "
                    "reusePort=true on every copy",
                    fn, text);
        return;
    }
    if (L->listen_copies[i] >= RT_MAX_THREADS) {
        rt_lua_fail(L, "%s: %s is given more than %d times", fn, text, RT_MAX_THREADS);
        return;
    }
    L->listen_copies[i]++;
    if (L->cfg->threads < L->listen_copies[i]) { /* two copies or more */
        L->cfg->threads = L->listen_copies[i];
    }
}

/* setLocal / addLocal: "IP[:PORT]", optionally with {reusePort=true}. */
static void rt_lua_calls_local(struct rt_lua *L, const char *fn, const struct rt_lua_value *args,
                               size_t n, bool replace)
{
    static const enum rt_lua_type types[] = {RT_LUA_STRING, RT_LUA_TABLE};
    struct rt_config *cfg = L->cfg;
    struct addr a;
    bool reuse = false;

    if (!rt_lua_calls_args(L, fn, args, n, 1, 2, types) ||
        (n == 2 && !rt_lua_calls_local_options(L, fn, &args[1], &reuse))) {
        return;
    }
    if (addr_parse(rt_lua_str(L, &args[0]), RT_DEFAULT_PORT, &a) != 0) {
        rt_lua_fail(L, "%s: '%s' is not an address", fn, rt_lua_str(L, &args[0]));
        return;
    }
    if (replace || !L->listen_set) {
        cfg->n_listen = 0;
        cfg->threads = 0; /* the default, unless copies of an address ask for more loops */
        L->listen_set = true;
    }
    for (size_t i = 0; i < cfg->n_listen; i++) {
        if (addr_equal(&cfg->listen[i], &a)) {
            rt_lua_calls_local_again(L, fn, rt_lua_str(L, &args[0]), i, reuse);
            return;
        }
    }
    if (cfg->n_listen == RT_MAX_LISTEN) {
        rt_lua_fail(L, "more than %d listen addresses", RT_MAX_LISTEN);
        return;
    }
    L->listen_copies[cfg->n_listen] = 1;
    L->listen_reuse[cfg->n_listen] = reuse;
    cfg->listen[cfg->n_listen++] = a;
}

bool rt_lua_calls_each_string(struct rt_lua *L, const char *what, const struct rt_lua_value *v,
                              bool (*fn)(struct rt_lua *, const char *, void *), void *user)
{
    if (v->type == RT_LUA_STRING) {
        return fn(L, rt_lua_str(L, v), user);
    }
    if (v->type != RT_LUA_TABLE) {
        rt_lua_fail(L, "%s must be a string or a table of strings", what);
        return false;
    }
    const struct rt_lua_table *t = &L->tables[v->index];
    for (uint32_t i = 0; i < t->count; i++) {
        const struct rt_lua_field *f = &L->fields[t->first + i];
        if (f->key != 0 || f->value.type != RT_LUA_STRING) {
            rt_lua_fail(L, "%s must be a string or a table of strings", what);
            return false;
        }
        if (!fn(L, rt_lua_str(L, &f->value), user)) {
            return false;
        }
    }
    return true;
}

static bool rt_lua_calls_acl_add(struct rt_lua *L, const char *text, void *user)
{
    struct rt_config *cfg = L->cfg;

    (void)user;
    if (cfg->n_acl == RT_MAX_ACL) {
        rt_lua_fail(L, "more than %d ACL entries", RT_MAX_ACL);
        return false;
    }
    if (addr_prefix_parse(text, &cfg->acl[cfg->n_acl]) != 0) {
        rt_lua_fail(L, "'%s' is not a netmask", text);
        return false;
    }
    cfg->n_acl++;
    return true;
}

static bool rt_lua_calls_server_pool(struct rt_lua *L, const char *text, void *user)
{
    struct rt_backend_config *b = user;
    int idx;

    if (b->n_pools == RT_MAX_BACKEND_POOLS) {
        rt_lua_fail(L, "a server may be in at most %d pools", RT_MAX_BACKEND_POOLS);
        return false;
    }
    idx = rt_config_pool(L->cfg, L->ctx, text);
    if (idx < 0) {
        L->failed = true;
        return false;
    }
    b->pools[b->n_pools++] = (uint16_t)idx;
    return true;
}

/* newServer{...} keys of lazy health checking that hold whole numbers (intervals in seconds
 * in dnsdist). Returns false when key is none of them. */
static bool rt_lua_calls_server_lazy_number(struct rt_lua *L, struct rt_lazy_config *lazy,
                                            const char *key, const struct rt_lua_value *v)
{
    uint32_t n;

    if (strcmp(key, "lazyHealthCheckSampleSize") == 0) {
        rt_lua_calls_uint(L, key, v, 1, RT_LAZY_MAX_SAMPLES, &lazy->sample_size);
    } else if (strcmp(key, "lazyHealthCheckMinSampleCount") == 0) {
        rt_lua_calls_uint(L, key, v, 1, RT_LAZY_MAX_SAMPLES, &lazy->min_samples);
    } else if (strcmp(key, "lazyHealthCheckThreshold") == 0) {
        rt_lua_calls_uint(L, key, v, 1, 100, &lazy->threshold);
    } else if (strcmp(key, "lazyHealthCheckFailedInterval") == 0) {
        if (rt_lua_calls_uint(L, key, v, 1, RT_LAZY_MAX_INTERVAL_MS / 1000, &n)) {
            lazy->failed_interval_ms = n * 1000;
        }
    } else if (strcmp(key, "lazyHealthCheckMaxBackOff") == 0) {
        if (rt_lua_calls_uint(L, key, v, 1, RT_LAZY_MAX_INTERVAL_MS / 1000, &n)) {
            lazy->max_backoff_ms = n * 1000;
        }
    } else {
        return false;
    }
    return true;
}

/* newServer{...} keys of lazy health checking that hold a mode or a flag. Returns false when
 * key is none of them. */
static bool rt_lua_calls_server_lazy_choice(struct rt_lua *L, struct rt_lazy_config *lazy,
                                            const char *key, const struct rt_lua_value *v)
{
    const char *s = rt_lua_str(L, v);

    if (strcmp(key, "lazyHealthCheckMode") == 0) {
        if (v->type == RT_LUA_STRING && strcmp(s, "TimeoutOnly") == 0) {
            lazy->servfail_fails = false;
        } else if (v->type == RT_LUA_STRING && strcmp(s, "TimeoutOrServFail") == 0) {
            lazy->servfail_fails = true;
        } else {
            rt_lua_fail(L, "lazyHealthCheckMode must be \"TimeoutOnly\" or \"TimeoutOrServFail\"");
        }
    } else if (strcmp(key, "lazyHealthCheckUseExponentialBackOff") == 0) {
        if (v->type != RT_LUA_BOOL) {
            rt_lua_fail(L, "lazyHealthCheckUseExponentialBackOff must be true or false");
        }
        lazy->backoff = v->boolean;
    } else {
        return false;
    }
    return true;
}

/* newServer{...} keys that hold whole numbers, with their bounds and scale. */
static bool rt_lua_calls_server_number(struct rt_lua *L, struct rt_backend_config *b,
                                       const char *key, const struct rt_lua_value *v)
{
    uint32_t n;

    if (strcmp(key, "checkInterval") == 0) { /* seconds in dnsdist */
        if (rt_lua_calls_uint(L, key, v, 1, 86400, &n)) {
            b->check_interval_ms = n * 1000;
        }
    } else if (strcmp(key, "checkTimeout") == 0) { /* milliseconds in dnsdist */
        rt_lua_calls_uint(L, key, v, 1, 600000, &b->check_timeout_ms);
    } else if (strcmp(key, "maxCheckFailures") == 0) {
        rt_lua_calls_uint(L, key, v, 1, 1000, &b->max_check_failures);
    } else if (strcmp(key, "rise") == 0) {
        rt_lua_calls_uint(L, key, v, 1, 1000, &b->rise);
    } else if (strcmp(key, "weight") == 0) {
        rt_lua_calls_uint(L, key, v, 1, 1000000, &b->weight);
    } else if (strcmp(key, "sockets") == 0) {
        rt_lua_calls_uint(L, key, v, 1, RT_MAX_SOCKETS, &b->sockets);
    } else if (strcmp(key, "order") == 0) {
        if (rt_lua_calls_uint(L, key, v, 0, INT32_MAX, &n)) {
            b->order = (int32_t)n;
        }
    } else if (strcmp(key, "checkClass") == 0) {
        if (rt_lua_calls_uint(L, key, v, 1, 65535, &n)) {
            b->check_class = (uint16_t)n;
        }
    } else {
        return false;
    }
    return true;
}

static void rt_lua_calls_server_key(struct rt_lua *L, struct rt_backend_config *b, const char *key,
                                    const struct rt_lua_value *v)
{
    const char *s = rt_lua_str(L, v);
    bool is_string = v->type == RT_LUA_STRING;

    if (rt_lua_calls_server_number(L, b, key, v) ||
        rt_lua_calls_server_lazy_number(L, &b->lazy, key, v) ||
        rt_lua_calls_server_lazy_choice(L, &b->lazy, key, v)) {
        return;
    }
    if (strcmp(key, "address") == 0) {
        if (!is_string || addr_parse(s, RT_DEFAULT_PORT, &b->addr) != 0) {
            rt_lua_fail(L, "newServer: address '%s' is not an IP address with optional port", s);
        }
    } else if (strcmp(key, "pool") == 0) {
        rt_lua_calls_each_string(L, "pool", v, rt_lua_calls_server_pool, b);
    } else if (strcmp(key, "healthCheckMode") == 0) {
        if (!is_string || rt_config_parse_health(s, &b->health) != 0) {
            rt_lua_fail(L, "healthCheckMode must be \"auto\", \"up\", \"down\" or \"lazy\"");
        }
    } else if (strcmp(key, "checkName") == 0) {
        if (!is_string || dns_name_from_text(s, b->check_name, &b->check_name_len) != 0) {
            rt_lua_fail(L, "checkName '%s' is not a domain name", s);
        }
    } else if (strcmp(key, "checkType") == 0) {
        if (!is_string || rt_names_parse_qtype(s, &b->check_type) != 0) {
            rt_lua_fail(L, "checkType '%s' is not a query type", s);
        }
    } else if (strcmp(key, "tcpOnly") == 0) {
        if (v->type != RT_LUA_BOOL) {
            rt_lua_fail(L, "tcpOnly must be true or false");
        }
        b->tcp_only = v->boolean;
    } else if (strcmp(key, "name") == 0) {
        if (!is_string || s[0] == '\0' || strlen(s) >= RT_NAME_MAX) {
            rt_lua_fail(L, "newServer: name must be a string of 1 to %d characters",
                        RT_NAME_MAX - 1);
            return;
        }
        snprintf(b->name, sizeof(b->name), "%s", s);
    } else {
        rt_lua_fail(L, "newServer: parameter '%s' is not supported", key);
    }
}

static bool rt_lua_calls_has_key(const struct rt_lua *L, const struct rt_lua_table *t,
                                 const char *key)
{
    for (uint32_t i = 0; i < t->count; i++) {
        const struct rt_lua_field *f = &L->fields[t->first + i];
        if (f->key != 0 && strcmp(L->arena + f->key, key) == 0) {
            return true;
        }
    }
    return false;
}

/* The router's own check (no checkName) is id.server CH TXT; a checkName asks dnsdist's
 * default type and class, A and IN, unless checkType or checkClass say otherwise. */
static void rt_lua_calls_server_check_defaults(const struct rt_lua *L, const struct rt_lua_table *t,
                                               struct rt_backend_config *b)
{
    if (!rt_lua_calls_has_key(L, t, "checkName")) {
        return;
    }
    if (!rt_lua_calls_has_key(L, t, "checkType")) {
        b->check_type = DNS_TYPE_A;
    }
    if (!rt_lua_calls_has_key(L, t, "checkClass")) {
        b->check_class = DNS_CLASS_IN;
    }
}

/* The keys of a newServer table, each looked at whatever the others hold, and each error
 * reported at its own key's line. Returns true when every key was good. */
static bool rt_lua_calls_server_table(struct rt_lua *L, struct rt_backend_config *b,
                                      const struct rt_lua_table *t)
{
    int line = L->line;
    bool ok = true;

    for (uint32_t i = 0; i < t->count; i++) {
        const struct rt_lua_field *f = &L->fields[t->first + i];
        L->line = f->line;
        L->ctx->line = f->line; /* for the pool errors rt_config_pool reports itself */
        L->failed = false;
        if (f->key == 0) {
            rt_lua_fail(L, "newServer: the table needs named fields");
        } else {
            rt_lua_calls_server_key(L, b, L->arena + f->key, &f->value);
        }
        ok = ok && !L->failed;
    }
    L->line = line;
    L->failed = !ok;
    rt_lua_calls_server_check_defaults(L, t, b);
    return ok;
}

static struct rt_lua_value rt_lua_calls_new_server(struct rt_lua *L,
                                                   const struct rt_lua_value *args, size_t n)
{
    static const enum rt_lua_type types[] = {RT_LUA_NIL};
    struct rt_config *cfg = L->cfg;
    struct rt_lua_value out = {.type = RT_LUA_SERVER};
    struct rt_backend_config *b;
    char text[ADDR_TEXT_MAX];

    if (!rt_lua_calls_args(L, "newServer", args, n, 1, 1, types)) {
        return rt_lua_calls_nil;
    }
    if (cfg->n_backends == RT_MAX_BACKENDS) {
        return rt_lua_fail(L, "more than %d servers", RT_MAX_BACKENDS);
    }
    b = &cfg->backends[cfg->n_backends];
    rt_config_backend_defaults(b);
    b->line = L->line;
    if (args[0].type == RT_LUA_STRING) {
        rt_lua_calls_server_key(L, b, "address", &args[0]);
    } else if (args[0].type == RT_LUA_TABLE) {
        bool ok = rt_lua_calls_server_table(L, b, &L->tables[args[0].index]);
        if (!rt_lua_calls_has_key(L, &L->tables[args[0].index], "address")) {
            L->failed = false; /* reported besides any bad key */
            rt_lua_fail(L, "newServer: no address");
        }
        L->failed = L->failed || !ok;
    } else {
        return rt_lua_fail(L, "newServer takes an address or a table");
    }
    if (L->failed) {
        return rt_lua_calls_nil;
    }
    if (b->name[0] == '\0') {
        snprintf(b->name, sizeof(b->name), "%s", addr_format(&b->addr, text, sizeof(text)));
    }
    if (b->n_pools == 0) {
        rt_lua_calls_server_pool(L, "", b);
    }
    out.index = (uint32_t)cfg->n_backends++;
    return out;
}

/* setServerPolicy, setServFailWhenNoServer, setUDPTimeout, setSecurityPollSuffix, setACL,
 * addACL. Returns false when fn is none of them. */
static bool rt_lua_calls_setting(struct rt_lua *L, const char *fn, const struct rt_lua_value *args,
                                 size_t n)
{
    static const enum rt_lua_type policy[] = {RT_LUA_POLICY};
    static const enum rt_lua_type boolean[] = {RT_LUA_BOOL};
    static const enum rt_lua_type number[] = {RT_LUA_NUMBER};
    static const enum rt_lua_type string[] = {RT_LUA_STRING};
    static const enum rt_lua_type any[] = {RT_LUA_NIL};
    struct rt_config *cfg = L->cfg;
    uint32_t seconds;

    if (strcmp(fn, "setServerPolicy") == 0) {
        if (rt_lua_calls_args(L, fn, args, n, 1, 1, policy)) {
            cfg->policy = (enum rt_policy)args[0].index;
        }
    } else if (strcmp(fn, "setServFailWhenNoServer") == 0) {
        if (rt_lua_calls_args(L, fn, args, n, 1, 1, boolean)) {
            cfg->servfail_no_server = args[0].boolean;
        }
    } else if (strcmp(fn, "setUDPTimeout") == 0) { /* seconds in dnsdist */
        if (rt_lua_calls_args(L, fn, args, n, 1, 1, number) &&
            rt_lua_calls_uint(L, "setUDPTimeout's argument", &args[0], 1, 600, &seconds)) {
            cfg->timeout_ms = seconds * 1000;
        }
    } else if (strcmp(fn, "setSecurityPollSuffix") == 0) {
        rt_lua_calls_args(L, fn, args, n, 1, 1, string); /* we never poll: nothing to set */
    } else if (strcmp(fn, "setACL") == 0 || strcmp(fn, "addACL") == 0) {
        if (rt_lua_calls_args(L, fn, args, n, 1, 1, any)) {
            if (fn[0] == 's') {
                cfg->n_acl = 0;
            }
            rt_lua_calls_each_string(L, fn, &args[0], rt_lua_calls_acl_add, NULL);
        }
    } else {
        return false;
    }
    return true;
}

struct rt_lua_value rt_lua_calls_function(struct rt_lua *L, const char *name,
                                          const struct rt_lua_value *args, size_t n_args)
{
    struct rt_lua_value v;

    L->ctx->line = L->line; /* for the errors rt_config_pool reports itself */
    if (strcmp(name, "setLocal") == 0 || strcmp(name, "addLocal") == 0) {
        rt_lua_calls_local(L, name, args, n_args, name[0] == 's');
        return rt_lua_calls_nil;
    }
    if (strcmp(name, "newServer") == 0) {
        return rt_lua_calls_new_server(L, args, n_args);
    }
    if (rt_lua_rules_function(L, name, args, n_args, &v) ||
        rt_lua_cache_function(L, name, args, n_args, &v)) {
        return v;
    }
    if (!rt_lua_calls_setting(L, name, args, n_args)) {
        rt_lua_fail(L, "%s() is not supported by pkdns-router", name);
    }
    return rt_lua_calls_nil;
}

struct rt_lua_value rt_lua_calls_method(struct rt_lua *L, const struct rt_lua_value *self,
                                        const char *name, const struct rt_lua_value *args,
                                        size_t n_args)
{
    static const enum rt_lua_type none[] = {RT_LUA_NIL};
    enum rt_health_mode mode;

    if (self->type == RT_LUA_POOL) {
        return rt_lua_cache_pool_method(L, self, name, args, n_args);
    }
    if (self->type != RT_LUA_SERVER) {
        return rt_lua_fail(L, ":%s() called on a %s", name, rt_lua_type_name(self->type));
    }
    if (strcmp(name, "setUp") == 0) {
        mode = RT_HEALTH_UP;
    } else if (strcmp(name, "setDown") == 0) {
        mode = RT_HEALTH_DOWN;
    } else if (strcmp(name, "setAuto") == 0) {
        mode = RT_HEALTH_AUTO;
    } else {
        return rt_lua_fail(L, "server method :%s() is not supported by pkdns-router", name);
    }
    if (rt_lua_calls_args(L, name, args, n_args, 0, 0, none)) {
        L->cfg->backends[self->index].health = mode;
    }
    return rt_lua_calls_nil;
}

/* DNSClass values (RFC 1035 3.2.4, RFC 2136 for NONE). */
static int rt_lua_calls_class(const char *name)
{
    static const struct {
        const char *name;
        int value;
    } classes[] = {{"IN", 1}, {"CHAOS", 3}, {"CH", 3}, {"HESIOD", 4}, {"NONE", 254}, {"ANY", 255}};

    for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
        if (strcmp(classes[i].name, name) == 0) {
            return classes[i].value;
        }
    }
    return -1;
}

struct rt_lua_value rt_lua_calls_global(struct rt_lua *L, const char *name)
{
    struct rt_lua_value v = {.type = RT_LUA_NUMBER};
    enum rt_policy policy;
    uint16_t value;
    int cls;

    if (rt_config_parse_policy(name, &policy) == 0 && strchr(name, '.') == NULL) {
        return (struct rt_lua_value){.type = RT_LUA_POLICY, .index = (uint32_t)policy};
    }
    if (strncmp(name, "DNSQType.", 9) == 0 && rt_names_parse_qtype(name + 9, &value) == 0) {
        v.number = value;
        return v;
    }
    if ((strncmp(name, "DNSRCode.", 9) == 0 && rt_names_parse_rcode(name + 9, &value) == 0) ||
        (strncmp(name, "dnsdist.", 8) == 0 && rt_names_parse_rcode(name + 8, &value) == 0)) {
        v.number = value;
        return v;
    }
    if (strncmp(name, "DNSClass.", 9) == 0 && (cls = rt_lua_calls_class(name + 9)) > 0) {
        v.number = cls;
        return v;
    }
    if (strcmp(name, "chashed") == 0 || strcmp(name, "whashed") == 0) {
        return rt_lua_fail(L, "server policy %s is not supported by pkdns-router", name);
    }
    return rt_lua_fail(L, "unknown name '%s'", name);
}
