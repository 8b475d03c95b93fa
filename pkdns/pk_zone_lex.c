/* Zone-file lines into tokens (RFC 1035 5.1): blanks separate, ';' starts a comment,
 * parentheses continue an entry over lines, "quoted strings" hold blanks, backslash escapes. */
#include <errno.h>
#include <string.h>

#include "pk_zone_int.h"

static bool pk_zone_lex_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

static int pk_zone_lex_add(struct pk_zone *z, const char *s, size_t len, bool quoted)
{
    struct pk_zone_token *t;

    if (memchr(s, '\0', len) != NULL) {
        return pk_zone_fail(z, "NUL byte in the zone text");
    }
    if (z->n_tokens == PK_ZONE_TOKENS_MAX || sizeof(z->store) - z->used < len + 1) {
        return pk_zone_fail(z, "entry longer than %d words or %d bytes", PK_ZONE_TOKENS_MAX,
                            PK_ZONE_ENTRY_MAX);
    }
    t = &z->tokens[z->n_tokens++];
    t->text = memcpy(z->store + z->used, s, len);
    z->store[z->used + len] = '\0';
    t->len = len;
    t->quoted = quoted;
    z->used += len + 1;
    return 0;
}

/* Where the string that opens at s[i] (a '"') closes, or len when it does not. */
static size_t pk_zone_lex_string_end(const char *s, size_t len, size_t i)
{
    for (i++; i < len && s[i] != '"'; i++) {
        if (s[i] == '\\' && i + 1 < len) {
            i++;
        }
    }
    return i;
}

/* Where a bare word starting at s[i] ends; a quoted part inside it ("alpn="h2,h3"") belongs
 * to the word. Returns len + 1 for an unclosed quote. */
static size_t pk_zone_lex_word_end(const char *s, size_t len, size_t i)
{
    while (i < len && !pk_zone_lex_blank(s[i]) && s[i] != ';' && s[i] != '(' && s[i] != ')') {
        if (s[i] == '\\' && i + 1 < len) {
            i += 2;
        } else if (s[i] == '"') {
            i = pk_zone_lex_string_end(s, len, i);
            if (i == len) {
                return len + 1;
            }
            i++;
        } else {
            i++;
        }
    }
    return i;
}

static int pk_zone_lex_line(struct pk_zone *z, const char *s, size_t len, int *depth)
{
    size_t i = 0;
    size_t end;

    while (i < len) {
        if (pk_zone_lex_blank(s[i])) {
            i++;
        } else if (s[i] == ';') {
            break;
        } else if (s[i] == '(') {
            (*depth)++;
            i++;
        } else if (s[i] == ')') {
            if (*depth == 0) {
                return pk_zone_fail(z, "')' without '('");
            }
            (*depth)--;
            i++;
        } else if (s[i] == '"') {
            end = pk_zone_lex_string_end(s, len, i);
            if (end == len) {
                return pk_zone_fail(z, "string without its closing quote");
            }
            if (pk_zone_lex_add(z, s + i + 1, end - i - 1, true) != 0) {
                return -EINVAL;
            }
            i = end + 1;
        } else {
            end = pk_zone_lex_word_end(s, len, i);
            if (end > len) {
                return pk_zone_fail(z, "string without its closing quote");
            }
            if (pk_zone_lex_add(z, s + i, end - i, false) != 0) {
                return -EINVAL;
            }
            i = end;
        }
    }
    return 0;
}

int pk_zone_lex_entry(struct pk_zone *z)
{
    int depth = 0;

    z->n_tokens = 0;
    z->used = 0;
    while (z->pos < z->len) {
        const char *line = z->text + z->pos;
        const char *nl = memchr(line, '\n', z->len - z->pos);
        size_t line_len = nl != NULL ? (size_t)(nl - line) : z->len - z->pos;

        z->pos += line_len + (nl != NULL ? 1 : 0);
        z->line++;
        if (z->n_tokens == 0 && depth == 0) {
            z->entry_line = z->line;
            z->indented = line_len > 0 && (line[0] == ' ' || line[0] == '\t');
        }
        if (pk_zone_lex_line(z, line, line_len, &depth) != 0) {
            return -EINVAL;
        }
        if (depth == 0 && z->n_tokens > 0) {
            return 1;
        }
    }
    if (depth > 0) {
        return pk_zone_fail(z, "'(' without ')'");
    }
    return z->n_tokens > 0 ? 1 : 0;
}

/* RFC 1035 5.1: \X is X, \DDD the octet with that decimal value. */
int pk_zone_lex_unescape(struct pk_zone *z, const struct pk_zone_token *t, uint8_t *out, size_t cap)
{
    size_t n = 0;

    for (size_t i = 0; i < t->len; i++) {
        unsigned c = (unsigned char)t->text[i];
        if (c == '\\') {
            const char *d = t->text + i + 1;
            if (i + 3 < t->len && d[0] >= '0' && d[0] <= '9' && d[1] >= '0' && d[1] <= '9' &&
                d[2] >= '0' && d[2] <= '9') {
                c = (unsigned)(d[0] - '0') * 100 + (unsigned)(d[1] - '0') * 10 +
                    (unsigned)(d[2] - '0');
                i += 3;
            } else if (i + 1 < t->len) {
                c = (unsigned char)d[0];
                i++;
            } else {
                return pk_zone_fail(z, "'\\' at the end of \"%s\"", t->text);
            }
            if (c > 255) {
                return pk_zone_fail(z, "escape above \\255 in \"%s\"", t->text);
            }
        }
        if (n == cap) {
            return pk_zone_fail(z, "string longer than %zu bytes", cap);
        }
        out[n++] = (uint8_t)c;
    }
    return (int)n;
}
