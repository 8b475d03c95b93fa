/* The statements of a dnsdist configuration, evaluated as they are read: assignments
 * (`srv = newServer{...}`), calls (`addAction(RegexRule("..."), PoolAction("pkdns"))`), method
 * calls (`srv:setUp()`), table constructors and the literals inside them. */
#include "rt_lua.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_lua_int.h"

/* A configuration file larger than this is surely not a router configuration. */
#define RT_LUA_FILE_MAX (1024 * 1024)

static const struct rt_lua_value rt_lua_nil = {.type = RT_LUA_NIL};

struct rt_lua_value rt_lua_fail(struct rt_lua *L, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    if (!L->failed) {
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        L->ctx->line = L->line;
        conf_error(L->ctx, "%s", msg);
        L->failed = true;
    }
    return rt_lua_nil;
}

const char *rt_lua_str(const struct rt_lua *L, const struct rt_lua_value *v)
{
    return v->type == RT_LUA_STRING && v->str < L->arena_used ? L->arena + v->str : "";
}

const struct rt_lua_value *rt_lua_field(const struct rt_lua *L, const struct rt_lua_value *t,
                                        const char *key)
{
    const struct rt_lua_table *tab;

    if (t->type != RT_LUA_TABLE) {
        return NULL;
    }
    tab = &L->tables[t->index];
    for (uint32_t i = 0; i < tab->count; i++) {
        const struct rt_lua_field *f = &L->fields[tab->first + i];
        if (f->key != 0 && strcmp(L->arena + f->key, key) == 0) {
            return &f->value;
        }
    }
    return NULL;
}

const char *rt_lua_type_name(enum rt_lua_type type)
{
    static const char *const names[] = {
        "nil",  "boolean", "number", "string",       "table", "server",
        "rule", "action",  "policy", "packet cache", "pool",
    };
    return names[type];
}

/* Moves to the next token, keeping count of the brackets it opens and closes. */
static void rt_lua_next(struct rt_lua *L)
{
    L->prev_punct = L->tok.kind == RT_LUA_TOK_PUNCT ? L->tok.punct : 0;
    rt_lua_lex_next(&L->lex, &L->tok);
    if (L->tok.kind != RT_LUA_TOK_PUNCT) {
        return;
    }
    if (strchr("({[", L->tok.punct) != NULL && L->n_open < RT_LUA_MAX_OPEN) {
        L->open[L->n_open++] = L->tok.punct;
    } else if (strchr(")}]", L->tok.punct) != NULL && L->n_open > 0) {
        L->n_open--;
    }
}

static void rt_lua_advance(struct rt_lua *L)
{
    rt_lua_next(L);
    L->line = L->tok.line;
    if (L->tok.kind == RT_LUA_TOK_ERROR) {
        rt_lua_fail(L, "%s", L->tok.text);
    }
}

static bool rt_lua_is(const struct rt_lua *L, char punct)
{
    return L->tok.kind == RT_LUA_TOK_PUNCT && L->tok.punct == punct;
}

static bool rt_lua_expect(struct rt_lua *L, char punct)
{
    if (!rt_lua_is(L, punct)) {
        rt_lua_fail(L, "expected '%c' near '%s'", punct, L->tok.text);
        return false;
    }
    rt_lua_advance(L);
    return true;
}

/* Copies a string into the reading's arena; returns its offset (0 after an error). */
static uint32_t rt_lua_keep(struct rt_lua *L, const char *s, size_t len)
{
    if (memchr(s, '\0', len) != NULL) {
        rt_lua_fail(L, "a string with a NUL byte");
        return 0;
    }
    if (sizeof(L->arena) - L->arena_used < len + 1) {
        rt_lua_fail(L, "configuration too large");
        return 0;
    }
    memcpy(L->arena + L->arena_used, s, len);
    L->arena[L->arena_used + len] = '\0';
    L->arena_used += len + 1;
    return (uint32_t)(L->arena_used - len - 1);
}

static struct rt_lua_value rt_lua_expr(struct rt_lua *L);

/* One field of a table constructor: `name = expr`, `["key"] = expr` or a positional `expr`. */
static void rt_lua_table_field(struct rt_lua *L, struct rt_lua_field *f)
{
    f->key = 0;
    f->line = L->tok.line;
    if (L->tok.kind == RT_LUA_TOK_NAME) {
        struct rt_lua_lex after = L->lex;
        rt_lua_lex_next(&after, &L->peek);
        if (L->peek.kind == RT_LUA_TOK_PUNCT && L->peek.punct == '=') {
            f->key = rt_lua_keep(L, L->tok.text, L->tok.len);
            rt_lua_advance(L);
            rt_lua_advance(L);
        }
    } else if (rt_lua_is(L, '[')) {
        rt_lua_advance(L);
        struct rt_lua_value key = rt_lua_expr(L);
        if (!L->failed && key.type != RT_LUA_STRING) {
            rt_lua_fail(L, "only string keys are supported in tables");
            return;
        }
        f->key = key.str;
        if (!rt_lua_expect(L, ']') || !rt_lua_expect(L, '=')) {
            return;
        }
    }
    f->value = rt_lua_expr(L);
}

static struct rt_lua_value rt_lua_table(struct rt_lua *L)
{
    struct rt_lua_field fields[RT_LUA_MAX_FIELDS];
    struct rt_lua_value v = {.type = RT_LUA_TABLE};
    size_t n = 0;

    rt_lua_advance(L); /* '{' */
    while (!L->failed && !rt_lua_is(L, '}')) {
        if (n == RT_LUA_MAX_FIELDS) {
            return rt_lua_fail(L, "more than %d fields in a table", RT_LUA_MAX_FIELDS);
        }
        rt_lua_table_field(L, &fields[n++]);
        if (rt_lua_is(L, ',') || rt_lua_is(L, ';')) {
            rt_lua_advance(L);
        } else if (!rt_lua_is(L, '}')) {
            rt_lua_fail(L, "expected ',' or '}' near '%s'", L->tok.text);
        }
    }
    if (L->failed) {
        return rt_lua_nil;
    }
    rt_lua_advance(L); /* '}' */
    if (L->n_tables == RT_LUA_MAX_TABLES || RT_LUA_POOL_FIELDS - L->n_fields < n) {
        return rt_lua_fail(L, "configuration too large");
    }
    memcpy(&L->fields[L->n_fields], fields, n * sizeof(fields[0]));
    L->tables[L->n_tables] = (struct rt_lua_table){(uint32_t)L->n_fields, (uint32_t)n};
    L->n_fields += n;
    v.index = (uint32_t)L->n_tables++;
    return v;
}

static bool rt_lua_call_starts(const struct rt_lua *L)
{
    return rt_lua_is(L, '(') || rt_lua_is(L, '{') || L->tok.kind == RT_LUA_TOK_STRING;
}

/* The arguments of a call: `(a, b)`, a lone table `{...}` or a lone string. */
static size_t rt_lua_args(struct rt_lua *L, struct rt_lua_value *args)
{
    size_t n = 0;

    if (L->tok.kind == RT_LUA_TOK_STRING) {
        args[0] = (struct rt_lua_value){.type = RT_LUA_STRING};
        args[0].str = rt_lua_keep(L, L->tok.text, L->tok.len);
        rt_lua_advance(L);
        return 1;
    }
    if (rt_lua_is(L, '{')) {
        args[0] = rt_lua_table(L);
        return 1;
    }
    rt_lua_advance(L); /* '(' */
    while (!L->failed && !rt_lua_is(L, ')')) {
        if (n == RT_LUA_MAX_ARGS) {
            rt_lua_fail(L, "more than %d arguments", RT_LUA_MAX_ARGS);
            return 0;
        }
        args[n++] = rt_lua_expr(L);
        if (rt_lua_is(L, ',')) {
            rt_lua_advance(L);
        } else if (!rt_lua_is(L, ')')) {
            rt_lua_fail(L, "expected ',' or ')' near '%s'", L->tok.text);
        }
    }
    if (!L->failed) {
        rt_lua_advance(L); /* ')' */
    }
    return n;
}

static struct rt_lua_var *rt_lua_var(struct rt_lua *L, const char *name)
{
    for (size_t i = 0; i < L->n_vars; i++) {
        if (strcmp(L->vars[i].name, name) == 0) {
            return &L->vars[i];
        }
    }
    return NULL;
}

/* A name and what follows it: `a.b.c`, calls `f(...)`, `f{...}`, `f"..."`, and method calls
 * `v:m(...)`. *called tells whether a call happened (a statement must be one). */
static struct rt_lua_value rt_lua_name_expr(struct rt_lua *L, bool *called)
{
    struct rt_lua_value args[RT_LUA_MAX_ARGS], v;
    char name[RT_LUA_TOKEN_MAX + 1];
    int line = L->tok.line;
    size_t n;

    snprintf(name, sizeof(name), "%s", L->tok.text);
    rt_lua_advance(L);
    while (!L->failed && rt_lua_is(L, '.')) {
        rt_lua_advance(L);
        if (L->tok.kind != RT_LUA_TOK_NAME || strlen(name) + L->tok.len + 2 > sizeof(name)) {
            return rt_lua_fail(L, "expected a name after '.'");
        }
        strcat(name, ".");
        strcat(name, L->tok.text);
        rt_lua_advance(L);
    }
    if (L->failed) {
        return rt_lua_nil;
    }
    if (rt_lua_call_starts(L)) {
        n = rt_lua_args(L, args);
        L->line = line;
        v = L->failed ? rt_lua_nil : rt_lua_calls_function(L, name, args, n);
        *called = true;
    } else {
        struct rt_lua_var *var = rt_lua_var(L, name);
        L->line = line;
        v = var != NULL ? var->value : rt_lua_calls_global(L, name);
    }
    while (!L->failed && rt_lua_is(L, ':')) {
        rt_lua_advance(L);
        if (L->tok.kind != RT_LUA_TOK_NAME) {
            return rt_lua_fail(L, "expected a method name after ':'");
        }
        snprintf(name, sizeof(name), "%s", L->tok.text);
        line = L->tok.line;
        rt_lua_advance(L);
        if (!rt_lua_call_starts(L)) {
            return rt_lua_fail(L, "expected arguments after :%s", name);
        }
        n = rt_lua_args(L, args);
        L->line = line;
        v = L->failed ? rt_lua_nil : rt_lua_calls_method(L, &v, name, args, n);
        *called = true;
    }
    return v;
}

static struct rt_lua_value rt_lua_expr(struct rt_lua *L)
{
    struct rt_lua_value v = rt_lua_nil;
    bool called = false;

    if (L->failed) {
        return v;
    }
    if (++L->depth > RT_LUA_MAX_DEPTH) {
        return rt_lua_fail(L, "expressions nested too deeply");
    }
    if (L->tok.kind == RT_LUA_TOK_STRING) {
        v.type = RT_LUA_STRING;
        v.str = rt_lua_keep(L, L->tok.text, L->tok.len);
        rt_lua_advance(L);
    } else if (L->tok.kind == RT_LUA_TOK_NUMBER) {
        v.type = RT_LUA_NUMBER;
        v.number = L->tok.number;
        rt_lua_advance(L);
    } else if (rt_lua_is(L, '-')) {
        rt_lua_advance(L);
        if (L->tok.kind != RT_LUA_TOK_NUMBER) {
            return rt_lua_fail(L, "expected a number after '-'");
        }
        v.type = RT_LUA_NUMBER;
        v.number = -L->tok.number;
        rt_lua_advance(L);
    } else if (rt_lua_is(L, '{')) {
        v = rt_lua_table(L);
    } else if (L->tok.kind == RT_LUA_TOK_NAME &&
               (strcmp(L->tok.text, "true") == 0 || strcmp(L->tok.text, "false") == 0)) {
        v.type = RT_LUA_BOOL;
        v.boolean = L->tok.text[0] == 't';
        rt_lua_advance(L);
    } else if (L->tok.kind == RT_LUA_TOK_NAME && strcmp(L->tok.text, "nil") == 0) {
        rt_lua_advance(L);
    } else if (L->tok.kind == RT_LUA_TOK_NAME) {
        v = rt_lua_name_expr(L, &called);
    } else {
        rt_lua_fail(L, "unexpected '%s'",
                    L->tok.kind == RT_LUA_TOK_EOF ? "end of file" : L->tok.text);
    }
    L->depth--;
    return v;
}

static void rt_lua_assign(struct rt_lua *L, const char *name)
{
    struct rt_lua_var *var = rt_lua_var(L, name);
    struct rt_lua_value v;

    rt_lua_advance(L); /* '=' */
    v = rt_lua_expr(L);
    if (L->failed) {
        return;
    }
    if (var == NULL) {
        if (L->n_vars == RT_LUA_MAX_VARS || strlen(name) >= RT_NAME_MAX) {
            rt_lua_fail(L, "too many variables, or a name too long");
            return;
        }
        var = &L->vars[L->n_vars++];
        snprintf(var->name, sizeof(var->name), "%s", name);
    }
    var->value = v;
}

static void rt_lua_statement(struct rt_lua *L)
{
    bool called = false;

    if (rt_lua_is(L, ';')) {
        rt_lua_advance(L);
        return;
    }
    if (L->tok.kind == RT_LUA_TOK_NAME && strcmp(L->tok.text, "local") == 0) {
        rt_lua_advance(L);
        if (L->tok.kind != RT_LUA_TOK_NAME) {
            rt_lua_fail(L, "expected a name after 'local'");
            return;
        }
    }
    if (L->tok.kind != RT_LUA_TOK_NAME) {
        rt_lua_fail(L, "expected a call or an assignment, not '%s'", L->tok.text);
        return;
    }
    struct rt_lua_lex after = L->lex;
    rt_lua_lex_next(&after, &L->peek);
    if (L->peek.kind == RT_LUA_TOK_PUNCT && L->peek.punct == '=') {
        char name[RT_LUA_TOKEN_MAX + 1];
        snprintf(name, sizeof(name), "%s", L->tok.text);
        rt_lua_advance(L);
        rt_lua_assign(L, name);
        return;
    }
    rt_lua_name_expr(L, &called);
    if (!L->failed && !called) {
        rt_lua_fail(L, "expected a call or an assignment");
    }
}

/* Whether the current token, a name that starts a line, is inside a table that an error left
 * open: a `key =` line, or a line after a field's ',' or ';'. Anything else starting a line
 * (also after a bracket that was never closed) is taken for the next statement. */
static bool rt_lua_inside_table(struct rt_lua *L)
{
    struct rt_lua_lex after = L->lex;

    if (L->n_open == 0 || L->open[L->n_open - 1] != '{') {
        return false;
    }
    if (L->prev_punct == ',' || L->prev_punct == ';' || L->prev_punct == '{') {
        return true;
    }
    rt_lua_lex_next(&after, &L->peek);
    return L->peek.kind == RT_LUA_TOK_PUNCT && L->peek.punct == '=';
}

/* After an error, skips the rest of the statement, to the first name that starts a line
 * outside any table the statement opened: the likely next statement. */
static void rt_lua_recover(struct rt_lua *L)
{
    while (L->tok.kind != RT_LUA_TOK_EOF &&
           !(L->tok.kind == RT_LUA_TOK_NAME && L->tok.first_on_line && !rt_lua_inside_table(L))) {
        rt_lua_next(L);
    }
    L->failed = false;
    L->depth = 0;
    L->n_open = 0;
}

int rt_lua_parse(struct rt_config *cfg, const char *text, size_t len, struct conf_ctx *ctx)
{
    struct rt_lua *L = calloc(1, sizeof(*L));
    int errors = ctx->errors;

    if (L == NULL) {
        return -ENOMEM;
    }
    L->cfg = cfg;
    L->ctx = ctx;
    L->arena_used = 1; /* offset 0 is "no string" */
    rt_lua_lex_init(&L->lex, text, len);
    rt_lua_advance(L);
    while (L->tok.kind != RT_LUA_TOK_EOF) {
        int line = L->tok.line;
        if (!L->failed) {
            rt_lua_statement(L);
        }
        if (L->failed) {
            rt_lua_recover(L);
            if (L->tok.line == line && L->tok.kind != RT_LUA_TOK_EOF) {
                rt_lua_next(L); /* always move on */
            }
        }
    }
    free(L);
    return ctx->errors == errors ? 0 : -EINVAL;
}

int rt_lua_read(struct rt_config *cfg, const char *path, struct conf_ctx *ctx)
{
    FILE *fp = fopen(path, "rb");
    const char *saved_file = ctx->file;
    int saved_line = ctx->line, rc;
    char *text;
    size_t len;

    if (fp == NULL) {
        rc = -errno;
        conf_error(ctx, "cannot open %s: %s", path, strerror(errno));
        return rc;
    }
    text = malloc(RT_LUA_FILE_MAX + 1);
    len = text != NULL ? fread(text, 1, RT_LUA_FILE_MAX + 1, fp) : 0;
    fclose(fp);
    ctx->file = path;
    ctx->line = 0;
    if (text == NULL || len > RT_LUA_FILE_MAX) {
        conf_error(ctx, "larger than %d bytes", RT_LUA_FILE_MAX);
        free(text);
        ctx->file = saved_file;
        return -EINVAL;
    }
    rc = rt_lua_parse(cfg, text, len, ctx);
    free(text);
    ctx->file = saved_file;
    ctx->line = saved_line;
    return rc;
}
