/* Private to the dnsdist reader (rt_lua.c, rt_lua_lex.c, rt_lua_calls.c): tokens, values and
 * the state of one reading. No Lua is run: a file is a list of statements (calls and
 * assignments) whose calls are the dnsdist functions the router understands. */
#ifndef PK_RT_LUA_INT_H
#define PK_RT_LUA_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "rt_config.h"

#define RT_LUA_TOKEN_MAX 4096  /* longest string or name */
#define RT_LUA_MAX_FIELDS 64   /* fields in one table constructor */
#define RT_LUA_MAX_ARGS 8      /* arguments of one call */
#define RT_LUA_MAX_VARS 64     /* variables assigned */
#define RT_LUA_MAX_DEPTH 16    /* nesting of calls and tables */
#define RT_LUA_MAX_OBJECTS 256 /* rules and actions built */
#define RT_LUA_POOL_FIELDS 4096
#define RT_LUA_MAX_TABLES 1024
#define RT_LUA_MAX_CACHES 32 /* newPacketCache calls */
#define RT_LUA_ARENA_BYTES (256 * 1024)
#define RT_LUA_MAX_OPEN 64 /* brackets remembered while a statement is read */

enum rt_lua_tok {
    RT_LUA_TOK_EOF = 0,
    RT_LUA_TOK_NAME,
    RT_LUA_TOK_STRING,
    RT_LUA_TOK_NUMBER,
    RT_LUA_TOK_PUNCT, /* one of ( ) { } [ ] , ; = . : - */
    RT_LUA_TOK_ERROR,
};

struct rt_lua_token {
    enum rt_lua_tok kind;
    int line;
    bool first_on_line;
    char punct;
    double number;
    size_t len; /* of text, which is NUL-terminated (strings may hold NULs) */
    char text[RT_LUA_TOKEN_MAX + 1];
};

struct rt_lua_lex {
    const char *src;
    size_t len;
    size_t pos;
    int line;
    int last_line; /* of the previous token, to tell the first token of a line */
};

enum rt_lua_type {
    RT_LUA_NIL = 0,
    RT_LUA_BOOL,
    RT_LUA_NUMBER,
    RT_LUA_STRING,
    RT_LUA_TABLE,
    RT_LUA_SERVER, /* index into cfg->backends */
    RT_LUA_RULE,   /* index into the reader's rules */
    RT_LUA_ACTION, /* index into the reader's actions */
    RT_LUA_POLICY, /* enum rt_policy */
    RT_LUA_CACHE,  /* index into the reader's caches */
    RT_LUA_POOL,   /* index into cfg->pools */
};

struct rt_lua_value {
    enum rt_lua_type type;
    bool boolean;
    double number;
    uint32_t str; /* arena offset */
    uint32_t index;
};

struct rt_lua_field {
    uint32_t key; /* arena offset of the name; 0 for a positional field */
    int line;     /* where the field starts, for messages about it */
    struct rt_lua_value value;
};

struct rt_lua_table {
    uint32_t first; /* into fields[] */
    uint32_t count;
};

struct rt_lua_var {
    char name[RT_NAME_MAX];
    struct rt_lua_value value;
};

struct rt_lua_action {
    enum rt_action_kind kind;
    uint16_t pool;
    uint16_t rcode;
};

struct rt_lua {
    struct rt_config *cfg;
    struct conf_ctx *ctx;
    struct rt_lua_lex lex;
    struct rt_lua_token tok;  /* the current token */
    struct rt_lua_token peek; /* the one after it, when a table field needs to know */
    int line;                 /* where errors are reported */
    int depth;
    char open[RT_LUA_MAX_OPEN]; /* the brackets read and not yet closed, innermost last */
    size_t n_open;
    char prev_punct; /* the token before the current one, when it was punctuation */
    bool failed;     /* the current statement had an error; skip to the next */
    bool listen_set;
    uint32_t listen_copies[RT_MAX_LISTEN]; /* times each listen address was given */
    bool listen_reuse[RT_MAX_LISTEN];      /* given with reusePort=true every time */
    struct rt_lua_var vars[RT_LUA_MAX_VARS];
    size_t n_vars;
    struct rt_rule_config rules[RT_LUA_MAX_OBJECTS]; /* matches only, until addAction */
    size_t n_rules;
    struct rt_lua_action actions[RT_LUA_MAX_OBJECTS];
    size_t n_actions;
    struct rt_cache_config caches[RT_LUA_MAX_CACHES]; /* until a pool's :setCache takes one */
    size_t n_caches;
    struct rt_lua_table tables[RT_LUA_MAX_TABLES];
    size_t n_tables;
    struct rt_lua_field fields[RT_LUA_POOL_FIELDS];
    size_t n_fields;
    char arena[RT_LUA_ARENA_BYTES];
    size_t arena_used;
};

/* Starts reading src[0..len) at line 1. */
void rt_lua_lex_init(struct rt_lua_lex *lx, const char *src, size_t len);

/* Reads the next token into *t. Comments and white space are skipped. A malformed token is
 * RT_LUA_TOK_ERROR with a message in t->text. */
void rt_lua_lex_next(struct rt_lua_lex *lx, struct rt_lua_token *t);

/* Reports an error at the current statement's line and marks the statement failed; returns a
 * nil value so handlers can `return rt_lua_fail(...)`. */
struct rt_lua_value rt_lua_fail(struct rt_lua *L, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The text of a string value (arena offset). */
const char *rt_lua_str(const struct rt_lua *L, const struct rt_lua_value *v);

/* Looks up field `key` of a table value; NULL when absent. */
const struct rt_lua_value *rt_lua_field(const struct rt_lua *L, const struct rt_lua_value *t,
                                        const char *key);

/* Name of a value's type for messages ("string", "table", ...). */
const char *rt_lua_type_name(enum rt_lua_type type);

/* Checks the argument count (min..max) and that args[i] has type types[i] (RT_LUA_NIL: any);
 * reports and returns false otherwise. */
bool rt_lua_calls_args(struct rt_lua *L, const char *fn, const struct rt_lua_value *args, size_t n,
                       size_t min, size_t max, const enum rt_lua_type *types);

/* Reads a whole number within [min, max] into *out; reports and returns false otherwise. */
bool rt_lua_calls_uint(struct rt_lua *L, const char *what, const struct rt_lua_value *v, double min,
                       double max, uint32_t *out);

/* Calls fn(L, text, user) for a string, or for each string of a table of strings; false when
 * the value is neither or fn returned false. */
bool rt_lua_calls_each_string(struct rt_lua *L, const char *what, const struct rt_lua_value *v,
                              bool (*fn)(struct rt_lua *, const char *, void *), void *user);

/* Handles the rule and action functions and addAction: true (result in *out) when `name` is
 * one of them. */
bool rt_lua_rules_function(struct rt_lua *L, const char *name, const struct rt_lua_value *args,
                           size_t n_args, struct rt_lua_value *out);

/* Handles newPacketCache and getPool: true (result in *out) when `name` is one of them. */
bool rt_lua_cache_function(struct rt_lua *L, const char *name, const struct rt_lua_value *args,
                           size_t n_args, struct rt_lua_value *out);

/* Calls method `name` on a pool (pool:setCache(pc)); an unknown method is an error. */
struct rt_lua_value rt_lua_cache_pool_method(struct rt_lua *L, const struct rt_lua_value *pool,
                                             const char *name, const struct rt_lua_value *args,
                                             size_t n_args);

/* Calls the dnsdist function `name` with args; a name the router does not know is an error
 * naming it. */
struct rt_lua_value rt_lua_calls_function(struct rt_lua *L, const char *name,
                                          const struct rt_lua_value *args, size_t n_args);

/* Calls method `name` on `self` (srv:setUp()). */
struct rt_lua_value rt_lua_calls_method(struct rt_lua *L, const struct rt_lua_value *self,
                                        const char *name, const struct rt_lua_value *args,
                                        size_t n_args);

/* The value of a global name that is not a variable: policies (leastOutstanding) and
 * constants (DNSQType.AAAA, DNSRCode.REFUSED, DNSClass.CHAOS). Fails for anything else. */
struct rt_lua_value rt_lua_calls_global(struct rt_lua *L, const char *name);

#endif
