#include "pk_config_list.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Walks s outside its TOML strings ("basic" with backslash escapes, 'literal' without):
 * stops at a '#' comment and counts '[' up and ']' down. Returns the offset where the
 * content ends; *depth gets the brackets left open. */
static size_t pk_config_list_scan(const char *s, int *depth)
{
    char quote = 0;
    size_t i;

    *depth = 0;
    for (i = 0; s[i] != '\0'; i++) {
        char c = s[i];
        if (quote != 0) {
            if (quote == '"' && c == '\\' && s[i + 1] != '\0') {
                i++;
            } else if (c == quote) {
                quote = 0;
            }
        } else if (c == '"' || c == '\'') {
            quote = c;
        } else if (c == '#') {
            break;
        } else if (c == '[') {
            (*depth)++;
        } else if (c == ']') {
            (*depth)--;
        }
    }
    return i;
}

/* Copies s without its comment and surrounding whitespace into out[0..cap). Returns the
 * brackets left open, or INT32_MIN when it does not fit. */
static int pk_config_list_strip(const char *s, char *out, size_t cap)
{
    int depth;
    size_t end = pk_config_list_scan(s, &depth);

    while (isspace((unsigned char)*s) && end > 0) {
        s++;
        end--;
    }
    while (end > 0 && isspace((unsigned char)s[end - 1])) {
        end--;
    }
    if (end >= cap) {
        return INT32_MIN;
    }
    memcpy(out, s, end);
    out[end] = '\0';
    return depth;
}

void pk_config_list_init(struct pk_config_list *l, void *user)
{
    memset(l, 0, sizeof(*l));
    l->user = user;
}

static void pk_config_list_report_open(struct pk_config_list *l, struct conf_ctx *ctx)
{
    int line = ctx->line;

    ctx->line = l->line;
    conf_error(ctx, "%s: the array begun here has no closing ']'", l->key);
    ctx->line = line;
    l->open = false;
}

/* Adds a continuation line to the open array. Returns its brackets left open or
 * INT32_MIN when the array grew too long. */
static int pk_config_list_append(struct pk_config_list *l, const char *raw)
{
    size_t used = strlen(l->text);
    int depth;

    if (used + 1 >= sizeof(l->text) ||
        pk_config_list_strip(raw, l->text + used + 1, sizeof(l->text) - used - 1) == INT32_MIN) {
        return INT32_MIN;
    }
    l->text[used] = ' ';
    pk_config_list_scan(l->text, &depth);
    return depth;
}

int pk_config_list_feed(struct pk_config_list *l, struct conf_ctx *ctx, const char *section,
                        const char *key, const char *raw, const char **whole)
{
    int depth;

    if (l->open && strcmp(section, l->section) == 0 && strcmp(key, l->key) == 0) {
        depth = pk_config_list_append(l, raw);
        if (depth == INT32_MIN) {
            conf_error(ctx, "%s: array longer than %d bytes", l->key, PK_CONFIG_LIST_TEXT_MAX - 1);
            l->open = false;
            return -EINVAL;
        }
        if (depth > 0) {
            return 0;
        }
        l->open = false;
        *whole = l->text;
        return 1;
    }
    if (l->open) {
        pk_config_list_report_open(l, ctx);
    }

    snprintf(l->section, sizeof(l->section), "%s", section);
    snprintf(l->key, sizeof(l->key), "%s", key);
    depth = pk_config_list_strip(raw, l->text, sizeof(l->text));
    if (l->text[0] == '[' && depth > 0) {
        l->open = true;
        l->line = ctx->line;
        return 0;
    }
    *whole = raw;
    return 1;
}

bool pk_config_list_unclosed(struct pk_config_list *l, struct conf_ctx *ctx)
{
    if (!l->open) {
        return false;
    }
    pk_config_list_report_open(l, ctx);
    return true;
}

/* Calls fn for the string that piece[0..len) holds: quoted or bare, trimmed; empty pieces
 * (a trailing comma) are skipped. */
static int pk_config_list_item(struct conf_ctx *ctx, const char *key, const char *piece, size_t len,
                               pk_config_list_fn fn, void *user)
{
    char raw[PK_CONFIG_LIST_TEXT_MAX];
    char item[PK_CONFIG_LIST_TEXT_MAX];

    memcpy(raw, piece, len);
    raw[len] = '\0';
    if (conf_value(raw, item, sizeof(item)) != 0) {
        conf_error(ctx, "%s: bad list item %s", key, raw);
        return -EINVAL;
    }
    if (item[0] == '\0') {
        return 0;
    }
    return fn(ctx, item, user) < 0 ? -EINVAL : 0;
}

/* Splits text at the commas outside its strings. */
static int pk_config_list_split(struct conf_ctx *ctx, const char *key, const char *text,
                                pk_config_list_fn fn, void *user)
{
    char quote = 0;
    size_t start = 0;

    for (size_t i = 0;; i++) {
        char c = text[i];
        if (quote != 0 && c != '\0') {
            if (quote == '"' && c == '\\' && text[i + 1] != '\0') {
                i++;
            } else if (c == quote) {
                quote = 0;
            }
            continue;
        }
        if (c == '"' || c == '\'') {
            quote = c;
            continue;
        }
        if (c != ',' && c != '\0') {
            continue;
        }
        if (pk_config_list_item(ctx, key, text + start, i - start, fn, user) != 0) {
            return -EINVAL;
        }
        if (c == '\0') {
            return 0;
        }
        start = i + 1;
    }
}

int pk_config_list_each(struct conf_ctx *ctx, const char *key, const char *raw,
                        pk_config_list_fn fn, void *user)
{
    char text[PK_CONFIG_LIST_TEXT_MAX];
    size_t len;
    int depth = pk_config_list_strip(raw, text, sizeof(text));

    if (depth == INT32_MIN) {
        conf_error(ctx, "%s: value longer than %d bytes", key, PK_CONFIG_LIST_TEXT_MAX - 1);
        return -EINVAL;
    }
    if (text[0] != '[') {
        /* A string "a, b" (or a bare word list): unquote it, then split it. */
        char value[PK_CONFIG_LIST_TEXT_MAX];
        if (conf_value(raw, value, sizeof(value)) != 0) {
            conf_error(ctx, "%s: bad value %s", key, raw);
            return -EINVAL;
        }
        return pk_config_list_split(ctx, key, value, fn, user);
    }
    len = strlen(text);
    if (depth != 0 || text[len - 1] != ']') {
        conf_error(ctx, "%s: the array %s does not end with ']'", key, text);
        return -EINVAL;
    }
    text[len - 1] = '\0';
    return pk_config_list_split(ctx, key, text + 1, fn, user);
}
