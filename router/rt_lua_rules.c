/* The rules and actions of a dnsdist configuration (RegexRule, SuffixMatchNodeRule,
 * QTypeRule, AllRule, AndRule; PoolAction, DropAction, RCodeAction) and addAction, which joins
 * one of each into a router rule. */
#include <stdio.h>
#include <string.h>

#include "rt_lua_int.h"
#include "rt_names.h"

static const struct rt_lua_value rt_lua_rules_nil = {.type = RT_LUA_NIL};

/* A new rule object with one match of `kind`; NULL (reported) when there are too many. */
static struct rt_rule_config *rt_lua_rules_new_rule(struct rt_lua *L, enum rt_match_kind kind,
                                                    struct rt_lua_value *out)
{
    struct rt_rule_config *r;

    if (L->n_rules == RT_LUA_MAX_OBJECTS) {
        rt_lua_fail(L, "more than %d rules", RT_LUA_MAX_OBJECTS);
        return NULL;
    }
    r = &L->rules[L->n_rules];
    memset(r, 0, sizeof(*r));
    r->n_match = 1;
    r->match[0].kind = kind;
    *out = (struct rt_lua_value){.type = RT_LUA_RULE, .index = (uint32_t)L->n_rules++};
    return r;
}

/* Appends a name to the space-separated list in user (a char[RT_LUA_TOKEN_MAX + 1]). */
static bool rt_lua_rules_append_name(struct rt_lua *L, const char *text, void *user)
{
    char *list = user;
    size_t used = strlen(list);

    if (used + strlen(text) + 2 > RT_LUA_TOKEN_MAX) {
        rt_lua_fail(L, "SuffixMatchNodeRule: too many names");
        return false;
    }
    snprintf(list + used, RT_LUA_TOKEN_MAX + 1 - used, "%s%s", used > 0 ? " " : "", text);
    return true;
}

static struct rt_lua_value rt_lua_rules_suffix_rule(struct rt_lua *L,
                                                    const struct rt_lua_value *names)
{
    char list[RT_LUA_TOKEN_MAX + 1] = "";
    struct rt_lua_value out = rt_lua_rules_nil;
    struct rt_rule_config *r;

    if (!rt_lua_calls_each_string(L, "SuffixMatchNodeRule's names", names, rt_lua_rules_append_name,
                                  list)) {
        return rt_lua_rules_nil;
    }
    if (list[0] == '\0') {
        return rt_lua_fail(L, "SuffixMatchNodeRule needs at least one name");
    }
    r = rt_lua_rules_new_rule(L, RT_MATCH_SUFFIX, &out);
    if (r != NULL) {
        r->match[0].text = rt_config_keep(L->cfg, L->ctx, list);
    }
    return out;
}

/* A query type as dnsdist takes it: DNSQType.AAAA (a number), 28, or "AAAA". */
static bool rt_lua_rules_qtype(struct rt_lua *L, const struct rt_lua_value *v, uint16_t *out)
{
    uint32_t n;

    if (v->type == RT_LUA_STRING) {
        if (rt_names_parse_qtype(rt_lua_str(L, v), out) != 0) {
            rt_lua_fail(L, "'%s' is not a query type", rt_lua_str(L, v));
            return false;
        }
        return true;
    }
    if (!rt_lua_calls_uint(L, "a query type", v, 1, 65535, &n)) {
        return false;
    }
    *out = (uint16_t)n;
    return true;
}

/* AndRule({r1, r2}): every match of every rule must hold. */
static struct rt_lua_value rt_lua_rules_and_rule(struct rt_lua *L, const struct rt_lua_value *t)
{
    const struct rt_lua_table *tab = &L->tables[t->index];
    struct rt_lua_value out = rt_lua_rules_nil;
    struct rt_rule_config *r = rt_lua_rules_new_rule(L, RT_MATCH_ALL, &out);

    if (r == NULL) {
        return out;
    }
    r->n_match = 0;
    for (uint32_t i = 0; i < tab->count; i++) {
        const struct rt_lua_field *f = &L->fields[tab->first + i];
        if (f->key != 0 || f->value.type != RT_LUA_RULE) {
            return rt_lua_fail(L, "AndRule takes a table of rules");
        }
        const struct rt_rule_config *part = &L->rules[f->value.index];
        for (size_t m = 0; m < part->n_match; m++) {
            if (r->n_match == RT_MAX_MATCHES) {
                return rt_lua_fail(L, "AndRule: at most %d conditions", RT_MAX_MATCHES);
            }
            r->match[r->n_match++] = part->match[m];
        }
    }
    if (r->n_match == 0) {
        return rt_lua_fail(L, "AndRule needs at least one rule");
    }
    return out;
}

static struct rt_lua_value rt_lua_rules_rule(struct rt_lua *L, const char *fn,
                                             const struct rt_lua_value *args, size_t n)
{
    static const enum rt_lua_type one_string[] = {RT_LUA_STRING};
    static const enum rt_lua_type any[] = {RT_LUA_NIL, RT_LUA_BOOL};
    static const enum rt_lua_type one_table[] = {RT_LUA_TABLE};
    struct rt_lua_value out = rt_lua_rules_nil;
    struct rt_rule_config *r;

    if (strcmp(fn, "RegexRule") == 0) {
        if (rt_lua_calls_args(L, fn, args, n, 1, 1, one_string) &&
            (r = rt_lua_rules_new_rule(L, RT_MATCH_REGEX, &out)) != NULL) {
            r->match[0].text = rt_config_keep(L->cfg, L->ctx, rt_lua_str(L, &args[0]));
        }
    } else if (strcmp(fn, "SuffixMatchNodeRule") == 0) {
        if (rt_lua_calls_args(L, fn, args, n, 1, 2, any)) {
            out = rt_lua_rules_suffix_rule(L, &args[0]);
        }
    } else if (strcmp(fn, "QTypeRule") == 0) {
        uint16_t qtype;
        if (rt_lua_calls_args(L, fn, args, n, 1, 1, any) && rt_lua_rules_qtype(L, args, &qtype) &&
            (r = rt_lua_rules_new_rule(L, RT_MATCH_QTYPE, &out)) != NULL) {
            r->match[0].qtypes[0] = qtype;
            r->match[0].n_qtypes = 1;
        }
    } else if (strcmp(fn, "AllRule") == 0) {
        if (rt_lua_calls_args(L, fn, args, n, 0, 0, any)) {
            rt_lua_rules_new_rule(L, RT_MATCH_ALL, &out);
        }
    } else if (rt_lua_calls_args(L, fn, args, n, 1, 1, one_table)) {
        out = rt_lua_rules_and_rule(L, &args[0]);
    }
    return out;
}

static struct rt_lua_value rt_lua_rules_new_action(struct rt_lua *L, enum rt_action_kind kind,
                                                   uint16_t pool, uint16_t rcode)
{
    if (L->n_actions == RT_LUA_MAX_OBJECTS) {
        return rt_lua_fail(L, "more than %d actions", RT_LUA_MAX_OBJECTS);
    }
    L->actions[L->n_actions] = (struct rt_lua_action){kind, pool, rcode};
    return (struct rt_lua_value){.type = RT_LUA_ACTION, .index = (uint32_t)L->n_actions++};
}

static struct rt_lua_value rt_lua_rules_action(struct rt_lua *L, const char *fn,
                                               const struct rt_lua_value *args, size_t n)
{
    static const enum rt_lua_type pool_types[] = {RT_LUA_STRING, RT_LUA_BOOL};
    static const enum rt_lua_type rcode_types[] = {RT_LUA_NUMBER, RT_LUA_TABLE};
    uint32_t rcode;
    int pool;

    if (strcmp(fn, "PoolAction") == 0) {
        if (!rt_lua_calls_args(L, fn, args, n, 1, 2, pool_types)) {
            return rt_lua_rules_nil;
        }
        if (n == 2 && !args[1].boolean) {
            return rt_lua_fail(L, "PoolAction with stop=false is not supported");
        }
        pool = rt_config_pool(L->cfg, L->ctx, rt_lua_str(L, &args[0]));
        if (pool < 0) {
            L->failed = true;
            return rt_lua_rules_nil;
        }
        return rt_lua_rules_new_action(L, RT_ACTION_POOL, (uint16_t)pool, 0);
    }
    if (strcmp(fn, "DropAction") == 0) {
        if (!rt_lua_calls_args(L, fn, args, n, 0, 0, pool_types)) {
            return rt_lua_rules_nil;
        }
        return rt_lua_rules_new_action(L, RT_ACTION_DROP, 0, 0);
    }
    if (!rt_lua_calls_args(L, fn, args, n, 1, 2, rcode_types) ||
        !rt_lua_calls_uint(L, "RCodeAction's rcode", &args[0], 0, 15, &rcode)) {
        return rt_lua_rules_nil;
    }
    return rt_lua_rules_new_action(L, RT_ACTION_RCODE, 0, (uint16_t)rcode);
}

/* addAction(rule, action[, {name=...}]); a string or table of strings is a suffix rule. */
static void rt_lua_rules_add_action(struct rt_lua *L, const struct rt_lua_value *args, size_t n)
{
    static const enum rt_lua_type types[] = {RT_LUA_NIL, RT_LUA_ACTION, RT_LUA_TABLE};
    struct rt_config *cfg = L->cfg;
    struct rt_lua_value rule;
    struct rt_rule_config *r;

    if (!rt_lua_calls_args(L, "addAction", args, n, 2, 3, types)) {
        return;
    }
    rule = args[0].type == RT_LUA_RULE ? args[0] : rt_lua_rules_suffix_rule(L, &args[0]);
    if (L->failed) {
        return;
    }
    if (cfg->n_rules == RT_MAX_RULES) {
        rt_lua_fail(L, "more than %d rules", RT_MAX_RULES);
        return;
    }
    r = &cfg->rules[cfg->n_rules++];
    *r = L->rules[rule.index];
    r->line = L->line;
    r->action = L->actions[args[1].index].kind;
    r->pool = L->actions[args[1].index].pool;
    r->rcode = L->actions[args[1].index].rcode;
    snprintf(r->name, sizeof(r->name), "rule%zu", cfg->n_rules);
    const struct rt_lua_value *name = n == 3 ? rt_lua_field(L, &args[2], "name") : NULL;
    if (name != NULL && name->type == RT_LUA_STRING && strlen(rt_lua_str(L, name)) > 0) {
        snprintf(r->name, sizeof(r->name), "%s", rt_lua_str(L, name));
    }
}

bool rt_lua_rules_function(struct rt_lua *L, const char *name, const struct rt_lua_value *args,
                           size_t n_args, struct rt_lua_value *out)
{
    *out = rt_lua_rules_nil;
    if (strcmp(name, "addAction") == 0) {
        rt_lua_rules_add_action(L, args, n_args);
    } else if (strcmp(name, "RegexRule") == 0 || strcmp(name, "SuffixMatchNodeRule") == 0 ||
               strcmp(name, "QTypeRule") == 0 || strcmp(name, "AllRule") == 0 ||
               strcmp(name, "AndRule") == 0) {
        *out = rt_lua_rules_rule(L, name, args, n_args);
    } else if (strcmp(name, "PoolAction") == 0 || strcmp(name, "DropAction") == 0 ||
               strcmp(name, "RCodeAction") == 0) {
        *out = rt_lua_rules_action(L, name, args, n_args);
    } else {
        return false;
    }
    return true;
}
