/* Lua tokens (Lua 5.1 reference manual, 2.1 "Lexical Conventions"): names, numbers, short and
 * long strings with their escapes, comments; the punctuation a dnsdist configuration uses. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_lua_int.h"

void rt_lua_lex_init(struct rt_lua_lex *lx, const char *src, size_t len)
{
    memset(lx, 0, sizeof(*lx));
    lx->src = src;
    lx->len = len;
    lx->line = 1;
}

static int rt_lua_lex_peek(const struct rt_lua_lex *lx, size_t ahead)
{
    return lx->pos + ahead < lx->len ? (unsigned char)lx->src[lx->pos + ahead] : -1;
}

static void rt_lua_lex_error(struct rt_lua_token *t, const char *msg)
{
    t->kind = RT_LUA_TOK_ERROR;
    snprintf(t->text, sizeof(t->text), "%s", msg);
    t->len = strlen(t->text);
}

/* The level of a long bracket at pos ("[[" is 0, "[==[" is 2), or -1 when there is none. */
static int rt_lua_lex_long_level(const struct rt_lua_lex *lx, char open)
{
    size_t k = 1;

    if (rt_lua_lex_peek(lx, 0) != open) {
        return -1;
    }
    while (rt_lua_lex_peek(lx, k) == '=') {
        k++;
    }
    return rt_lua_lex_peek(lx, k) == open ? (int)k - 1 : -1;
}

/* Reads a long bracket body after its opening; t (may be NULL for a comment) receives it.
 * Returns 0, or -1 when it does not end. */
static int rt_lua_lex_long(struct rt_lua_lex *lx, int level, struct rt_lua_token *t)
{
    lx->pos += (size_t)level + 2;
    if (rt_lua_lex_peek(lx, 0) == '\r' || rt_lua_lex_peek(lx, 0) == '\n') {
        lx->line++; /* a newline right after the opening is not part of the string */
        lx->pos += rt_lua_lex_peek(lx, 0) == '\r' && rt_lua_lex_peek(lx, 1) == '\n' ? 2 : 1;
    }
    while (lx->pos < lx->len) {
        if (rt_lua_lex_long_level(lx, ']') == level) {
            lx->pos += (size_t)level + 2;
            return 0;
        }
        char c = lx->src[lx->pos++];
        if (c == '\n') {
            lx->line++;
        }
        if (t != NULL) {
            if (t->len == RT_LUA_TOKEN_MAX) {
                return -1;
            }
            t->text[t->len++] = c;
        }
    }
    return -1;
}

static void rt_lua_lex_skip_space(struct rt_lua_lex *lx)
{
    int level;

    while (lx->pos < lx->len) {
        int c = rt_lua_lex_peek(lx, 0);
        if (c == '\n') {
            lx->line++;
            lx->pos++;
        } else if (isspace(c)) {
            lx->pos++;
        } else if (c == '-' && rt_lua_lex_peek(lx, 1) == '-') {
            lx->pos += 2;
            if ((level = rt_lua_lex_long_level(lx, '[')) >= 0) {
                if (rt_lua_lex_long(lx, level, NULL) != 0) {
                    lx->pos = lx->len;
                }
                continue;
            }
            while (lx->pos < lx->len && lx->src[lx->pos] != '\n') {
                lx->pos++;
            }
        } else {
            return;
        }
    }
}

/* One escape after a backslash (Lua 5.1 2.1, plus 5.2's \x and \z). Returns the byte, -2 for
 * "nothing" (\z), or -1 for a bad escape. */
static int rt_lua_lex_escape(struct rt_lua_lex *lx)
{
    static const char from[] = "abfnrtv\\\"'\n";
    static const char to[] = "\a\b\f\n\r\t\v\\\"'\n";
    int c = rt_lua_lex_peek(lx, 0);
    const char *hit = c > 0 ? strchr(from, c) : NULL;

    if (hit != NULL) {
        lx->pos++;
        lx->line += c == '\n';
        return to[hit - from];
    }
    if (c == 'x' && isxdigit(rt_lua_lex_peek(lx, 1)) && isxdigit(rt_lua_lex_peek(lx, 2))) {
        char hex[3] = {(char)rt_lua_lex_peek(lx, 1), (char)rt_lua_lex_peek(lx, 2), 0};
        lx->pos += 3;
        return (int)strtol(hex, NULL, 16);
    }
    if (c == 'z') {
        lx->pos++;
        rt_lua_lex_skip_space(lx);
        return -2;
    }
    int v = 0, digits = 0;
    while (digits < 3 && isdigit(rt_lua_lex_peek(lx, 0))) {
        v = v * 10 + (rt_lua_lex_peek(lx, 0) - '0');
        lx->pos++;
        digits++;
    }
    return digits > 0 && v <= 255 ? v : -1;
}

static void rt_lua_lex_string(struct rt_lua_lex *lx, struct rt_lua_token *t)
{
    char quote = lx->src[lx->pos++];

    t->kind = RT_LUA_TOK_STRING;
    while (lx->pos < lx->len && lx->src[lx->pos] != quote) {
        int c = (unsigned char)lx->src[lx->pos];
        if (c == '\n') {
            rt_lua_lex_error(t, "unfinished string");
            return;
        }
        lx->pos++;
        if (c == '\\' && (c = rt_lua_lex_escape(lx)) == -1) {
            rt_lua_lex_error(t, "invalid escape sequence in a string");
            return;
        }
        if (c == -2) {
            continue;
        }
        if (t->len == RT_LUA_TOKEN_MAX) {
            rt_lua_lex_error(t, "string too long");
            return;
        }
        t->text[t->len++] = (char)c;
    }
    if (lx->pos >= lx->len) {
        rt_lua_lex_error(t, "unfinished string");
        return;
    }
    lx->pos++;
    t->text[t->len] = '\0';
}

static void rt_lua_lex_number(struct rt_lua_lex *lx, struct rt_lua_token *t)
{
    size_t start = lx->pos;
    char *end;

    while (lx->pos < lx->len &&
           (isalnum((unsigned char)lx->src[lx->pos]) || lx->src[lx->pos] == '.' ||
            ((lx->src[lx->pos] == '-' || lx->src[lx->pos] == '+') &&
             (lx->src[lx->pos - 1] == 'e' || lx->src[lx->pos - 1] == 'E')))) {
        lx->pos++;
    }
    if (lx->pos - start >= 64) {
        rt_lua_lex_error(t, "malformed number");
        return;
    }
    snprintf(t->text, sizeof(t->text), "%.*s", (int)(lx->pos - start), lx->src + start);
    t->len = lx->pos - start;
    t->number = strtod(t->text, &end);
    t->kind = *end == '\0' ? RT_LUA_TOK_NUMBER : RT_LUA_TOK_ERROR;
    if (t->kind == RT_LUA_TOK_ERROR) {
        rt_lua_lex_error(t, "malformed number");
    }
}

void rt_lua_lex_next(struct rt_lua_lex *lx, struct rt_lua_token *t)
{
    int c, level;

    rt_lua_lex_skip_space(lx);
    t->len = 0;
    t->text[0] = '\0';
    t->line = lx->line;
    t->first_on_line = lx->line != lx->last_line;
    lx->last_line = lx->line;
    if (lx->pos >= lx->len) {
        t->kind = RT_LUA_TOK_EOF;
        return;
    }
    c = rt_lua_lex_peek(lx, 0);
    if (isalpha(c) || c == '_') {
        while (lx->pos < lx->len &&
               (isalnum((unsigned char)lx->src[lx->pos]) || lx->src[lx->pos] == '_')) {
            if (t->len < RT_LUA_TOKEN_MAX) {
                t->text[t->len++] = lx->src[lx->pos];
            }
            lx->pos++;
        }
        t->text[t->len] = '\0';
        t->kind = RT_LUA_TOK_NAME;
    } else if (isdigit(c) || (c == '.' && isdigit(rt_lua_lex_peek(lx, 1)))) {
        rt_lua_lex_number(lx, t);
    } else if (c == '"' || c == '\'') {
        rt_lua_lex_string(lx, t);
    } else if ((level = rt_lua_lex_long_level(lx, '[')) >= 0) {
        t->kind = RT_LUA_TOK_STRING;
        if (rt_lua_lex_long(lx, level, t) != 0) {
            rt_lua_lex_error(t, "unfinished long string");
            return;
        }
        t->text[t->len] = '\0';
    } else if (strchr("(){}[],;=.:-", c) != NULL && !(c == '.' && rt_lua_lex_peek(lx, 1) == '.') &&
               !(c == '=' && rt_lua_lex_peek(lx, 1) == '=')) {
        t->kind = RT_LUA_TOK_PUNCT;
        t->punct = (char)c;
        t->text[0] = (char)c;
        t->text[1] = '\0';
        t->len = 1;
        lx->pos++;
    } else {
        char msg[64];
        snprintf(msg, sizeof(msg), "unsupported symbol '%c'", isprint(c) ? c : '?');
        lx->pos++;
        rt_lua_lex_error(t, msg);
    }
}
