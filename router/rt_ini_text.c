#include "rt_ini_text.h"

#include <errno.h>
#include <string.h>

#define RT_INI_SEPARATORS ", \t"
#define RT_INI_TOKEN_MAX 4 /* the longest spelling of one byte: \xHH */

static int rt_ini_hex_digit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
        return (c | 0x20) - 'a' + 10;
    }
    return -1;
}

/* The byte an escape at p (just past its backslash) stands for; *len gets the characters it
 * takes. Returns the byte, -EAGAIN when raw ends inside it, -EINVAL for anything else. */
static int rt_ini_escape(const char *p, size_t *len)
{
    int hi, lo;

    if (*p == '\\' || *p == '"') {
        *len = 1;
        return (unsigned char)*p;
    }
    if (*p == '\0' || (*p == 'x' && (p[1] == '\0' || p[2] == '\0'))) {
        return -EAGAIN;
    }
    hi = *p == 'x' ? rt_ini_hex_digit(p[1]) : -1;
    lo = hi >= 0 ? rt_ini_hex_digit(p[2]) : -1;
    if (lo < 0 || (hi == 0 && lo == 0)) {
        return -EINVAL; /* not an escape, or a NUL byte */
    }
    *len = 3;
    return hi * 16 + lo;
}

/* Decodes the quoted string at raw (raw[0] is '"') into out (NULL: only checks it); *end is
 * set just past its closing quote. */
static int rt_ini_unquote(const char *raw, char *out, size_t cap, const char **end)
{
    const char *p = raw + 1;
    size_t n = 0, len;
    int c;

    while (*p != '"') {
        if (*p == '\0') {
            return -EAGAIN;
        }
        c = (unsigned char)*p;
        len = 1;
        if (c == '\\') {
            c = rt_ini_escape(p + 1, &len);
            if (c < 0) {
                return c;
            }
            len++;
        }
        if (out != NULL && n + 1 >= cap) {
            return -ENOSPC;
        }
        if (out != NULL) {
            out[n] = (char)c;
        }
        n++;
        p += len;
    }
    if (out != NULL) {
        out[n] = '\0';
    }
    *end = p + 1;
    return 0;
}

bool rt_ini_text_open(const char *raw)
{
    const char *end;

    return raw[0] == '"' && rt_ini_unquote(raw, NULL, 0, &end) == -EAGAIN;
}

int rt_ini_text_decode(const char *raw, char *out, size_t cap)
{
    const char *end;
    int rc;

    if (raw[0] != '"') {
        if (strlen(raw) >= cap) {
            return -ENOSPC;
        }
        memcpy(out, raw, strlen(raw) + 1);
        return 0;
    }
    rc = rt_ini_unquote(raw, out, cap, &end);
    if (rc != 0) {
        return rc;
    }
    end += strspn(end, " \t");
    return *end == '\0' ? 0 : -EINVAL;
}

/* One item at p (not a separator) into item[0..cap); *end is set past it. */
static int rt_ini_list_item(const char *p, char *item, size_t cap, const char **end)
{
    size_t len;
    int rc;

    if (*p == '"') {
        rc = rt_ini_unquote(p, item, cap, end);
        if (rc == 0 && **end != '\0' && strchr(RT_INI_SEPARATORS, **end) == NULL) {
            rc = -EINVAL; /* "a"b */
        }
        return rc;
    }
    len = strcspn(p, RT_INI_SEPARATORS);
    if (len >= cap) {
        return -ENOSPC;
    }
    memcpy(item, p, len);
    item[len] = '\0';
    *end = p + len;
    return 0;
}

int rt_ini_list_decode(const char *raw, char *buf, size_t cap, char **items, size_t max)
{
    const char *p = raw + strspn(raw, RT_INI_SEPARATORS);
    size_t used = 0, n = 0;
    int rc;

    while (*p != '\0') {
        if (n == max) {
            return -E2BIG;
        }
        rc = rt_ini_list_item(p, buf + used, cap - used, &p);
        if (rc != 0) {
            return rc;
        }
        items[n++] = buf + used;
        used += strlen(buf + used) + 1;
        p += strspn(p, RT_INI_SEPARATORS);
    }
    return (int)n;
}

static bool rt_ini_printable(char c)
{
    return c >= 0x20 && c < 0x7f;
}

/* True when text, written bare, reads back as itself (line length aside). */
static bool rt_ini_bare_text(const char *text)
{
    size_t len = strlen(text);

    if (len == 0 || text[0] == '"' || text[0] == ' ' || text[len - 1] == ' ') {
        return false;
    }
    for (const char *p = text; *p != '\0'; p++) {
        if (!rt_ini_printable(*p) || *p == ';') {
            return false;
        }
    }
    return true;
}

/* How byte c is written inside quotes: escaped when it is a quote, a backslash, a ';', not
 * printable, or a space or '#' where inih would drop it (`edge`: the start of a continuation
 * line). Returns the length written into tok. */
static size_t rt_ini_token(char c, bool edge, char tok[RT_INI_TOKEN_MAX + 1])
{
    if (c == '"' || c == '\\') {
        tok[0] = '\\', tok[1] = c, tok[2] = '\0';
        return 2;
    }
    if (!rt_ini_printable(c) || c == ';' || (edge && (c == ' ' || c == '#'))) {
        snprintf(tok, RT_INI_TOKEN_MAX + 1, "\\x%02x", (unsigned char)c);
        return RT_INI_TOKEN_MAX;
    }
    tok[0] = c, tok[1] = '\0';
    return 1;
}

/* Ends a quoted value's line and starts the next, indented. */
static size_t rt_ini_print_break(FILE *out)
{
    fprintf(out, "\n%*s", RT_INI_CONTINUE_INDENT, "");
    return RT_INI_CONTINUE_INDENT;
}

void rt_ini_print_text(FILE *out, const char *prefix, const char *text)
{
    size_t col = strlen(prefix), len;
    bool line_start = false;
    char tok[RT_INI_TOKEN_MAX + 1];

    if (rt_ini_bare_text(text) && col + strlen(text) <= RT_INI_LINE_MAX) {
        fprintf(out, "%s%s\n", prefix, text);
        return;
    }
    fprintf(out, "%s\"", prefix);
    col++;
    for (const char *p = text; *p != '\0'; p++) {
        /* A space before a word that does not fit ends the line, escaped: inih strips white
         * space at both ends of a line (and takes one that starts with '#' for a comment). */
        if (*p == ' ' && !line_start &&
            col + RT_INI_TOKEN_MAX + strcspn(p + 1, " ") + 1 > RT_INI_PRINT_WIDTH) {
            fputs("\\x20", out);
            col = rt_ini_print_break(out);
            line_start = true;
            continue;
        }
        len = rt_ini_token(*p, line_start, tok);
        if (col + len + 1 > RT_INI_PRINT_WIDTH) {
            col = rt_ini_print_break(out);
            len = rt_ini_token(*p, true, tok);
        }
        fputs(tok, out);
        col += len;
        line_start = false;
    }
    fputs("\"\n", out);
}

static bool rt_ini_bare_item(const char *item)
{
    if (item[0] == '\0' || item[0] == '"') {
        return false;
    }
    for (const char *p = item; *p != '\0'; p++) {
        if (!rt_ini_printable(*p) || strchr(RT_INI_SEPARATORS ";\"", *p) != NULL) {
            return false;
        }
    }
    return true;
}

size_t rt_ini_item_width(const char *item)
{
    char tok[RT_INI_TOKEN_MAX + 1];
    size_t width = 2;

    if (rt_ini_bare_item(item)) {
        return strlen(item);
    }
    for (const char *p = item; *p != '\0'; p++) {
        width += rt_ini_token(*p, false, tok);
    }
    return width;
}

size_t rt_ini_print_item(FILE *out, const char *item)
{
    char tok[RT_INI_TOKEN_MAX + 1];

    if (rt_ini_bare_item(item)) {
        fputs(item, out);
        return strlen(item);
    }
    fputc('"', out);
    for (const char *p = item; *p != '\0'; p++) {
        rt_ini_token(*p, false, tok);
        fputs(tok, out);
    }
    fputc('"', out);
    return rt_ini_item_width(item);
}

bool rt_ini_bare_name(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || name[0] == ' ' || name[len - 1] == ' ') {
        return false;
    }
    for (const char *p = name; *p != '\0'; p++) {
        if (!rt_ini_printable(*p) || *p == ']' || *p == ';') {
            return false;
        }
    }
    return true;
}
