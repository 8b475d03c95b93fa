#include "conf.h"

#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static void conf_log(struct conf_ctx *ctx, int level, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void conf_log(struct conf_ctx *ctx, int level, const char *fmt, va_list ap)
{
    char msg[1024];

    if (level > log_threshold) {
        return;
    }
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (ctx->file == NULL) {
        log_write(level, "config", "%s", msg);
    } else if (ctx->line <= 0) {
        log_write(level, "config", "%s: %s", ctx->file, msg);
    } else {
        log_write(level, "config", "%s:%d: %s", ctx->file, ctx->line, msg);
    }
}

void conf_error(struct conf_ctx *ctx, const char *fmt, ...)
{
    va_list ap;

    ctx->errors++;
    va_start(ap, fmt);
    conf_log(ctx, LOG_LEVEL_ERR, fmt, ap);
    va_end(ap);
}

void conf_warn(struct conf_ctx *ctx, const char *fmt, ...)
{
    va_list ap;

    ctx->warnings++;
    va_start(ap, fmt);
    conf_log(ctx, LOG_LEVEL_WARNING, fmt, ap);
    va_end(ap);
}

/* A callback that failed without saying why still gets one error line. */
static void conf_check_result(struct conf_ctx *ctx, const char *key, int rc, int errors_before)
{
    if (rc < 0 && ctx->errors == errors_before) {
        conf_error(ctx, "%s: %s", key, strerror(-rc));
    }
}

static char *conf_trim(char *s)
{
    size_t len;

    while (isspace((unsigned char)*s)) {
        s++;
    }
    len = strlen(s);
    while (len > 0 && isspace((unsigned char)s[len - 1])) {
        s[--len] = '\0';
    }
    return s;
}

/* Reads one line without its newline into buf, which holds CONF_LINE_MAX + 2 bytes. Returns 1
 * for a line, 0 at the end of the file, -ENAMETOOLONG for a longer line (its rest is skipped). */
static int conf_read_line(FILE *fp, char *buf, size_t cap)
{
    size_t len;
    int c;

    if (fgets(buf, (int)cap, fp) == NULL) {
        return 0;
    }
    len = strlen(buf);
    if (len > 0 && buf[len - 1] == '\n') {
        buf[len - 1] = '\0';
        return 1;
    }
    if (len < cap - 1) {
        return 1; /* the last line, without a newline */
    }
    while ((c = getc(fp)) != EOF && c != '\n') {
        /* the rest of the long line is dropped */
    }
    return -ENAMETOOLONG;
}

/* The caller's position, put back when a file is done, so that reading may nest. */
struct conf_saved {
    const char *file;
    int line;
    int errors;
};

/* Saves the position and opens `path`, or logs why not (counted) and returns -errno. */
static int conf_begin(const char *path, struct conf_ctx *ctx, struct conf_saved *saved, FILE **fp)
{
    int err;

    saved->file = ctx->file;
    saved->line = ctx->line;
    saved->errors = ctx->errors;
    ctx->file = path;
    ctx->line = 0;
    *fp = fopen(path, "r");
    if (*fp != NULL) {
        return 0;
    }
    err = errno;
    conf_error(ctx, "cannot open: %s", strerror(err));
    ctx->file = saved->file;
    ctx->line = saved->line;
    return -err;
}

/* Closes the file, puts the position back and says whether this file added errors. */
static int conf_end(struct conf_ctx *ctx, const struct conf_saved *saved, FILE *fp)
{
    if (ferror(fp)) {
        conf_error(ctx, "read error: %s", strerror(errno));
    }
    fclose(fp);
    ctx->file = saved->file;
    ctx->line = saved->line;
    return ctx->errors > saved->errors ? -EINVAL : 0;
}

static void conf_kv_line(struct conf_ctx *ctx, char *line, conf_kv_fn fn, void *user)
{
    char *key = conf_trim(line);
    char *value = NULL;
    char *eq;
    int errors_before = ctx->errors;

    /* dnsmasq: '#' is a comment only as the first character; "a=b # c" keeps " # c". */
    if (*key == '\0' || *key == '#') {
        return;
    }
    eq = strchr(key, '=');
    if (eq != NULL) {
        *eq = '\0';
        key = conf_trim(key);
        value = conf_trim(eq + 1);
        if (*key == '\0') {
            conf_error(ctx, "missing option name before '='");
            return;
        }
    }
    conf_check_result(ctx, key, fn(ctx, key, value, user), errors_before);
}

int conf_read_kv_file(const char *path, conf_kv_fn fn, void *user, struct conf_ctx *ctx)
{
    char line[CONF_LINE_MAX + 2];
    struct conf_saved saved;
    FILE *fp;
    int rc;

    if (path == NULL || fn == NULL || ctx == NULL) {
        return -EINVAL;
    }
    rc = conf_begin(path, ctx, &saved, &fp);
    if (rc < 0) {
        return rc;
    }
    while ((rc = conf_read_line(fp, line, sizeof(line))) != 0) {
        ctx->line++;
        if (rc < 0) {
            conf_error(ctx, "line is longer than %d bytes", CONF_LINE_MAX);
            continue;
        }
        conf_kv_line(ctx, line, fn, user);
    }
    return conf_end(ctx, &saved, fp);
}

/* State shared by the INI reader and handler that inih calls. */
struct conf_ini_state {
    FILE *fp;
    struct conf_ctx *ctx;
    conf_ini_fn fn;
    conf_ini_section_fn section_fn; /* may be NULL */
    void *user;
    bool after_key;         /* a key line came last, so an indented line continues it */
    int first_syntax_error; /* line of the first syntax error reported, 0 if none */
};

/* Where inih's find_chars_or_comment stops: at one of `chars`, or at ';' after whitespace
 * (inih's inline comment), or at the end. */
static const char *conf_ini_find(const char *s, const char *chars)
{
    bool was_space = false;

    while (*s != '\0' && strchr(chars, *s) == NULL && !(was_space && *s == ';')) {
        was_space = isspace((unsigned char)*s);
        s++;
    }
    return s;
}

static void conf_ini_syntax_error(struct conf_ini_state *st, const char *msg)
{
    conf_error(st->ctx, "%s", msg);
    if (st->first_syntax_error == 0) {
        st->first_syntax_error = st->ctx->line;
    }
}

/* Hands a well-formed section header to section_fn, with ctx->line on the header. inih has
 * not seen the line yet, so this comes before the calls for the section's keys. */
static void conf_ini_section(struct conf_ini_state *st, const char *name, size_t len)
{
    char section[CONF_LINE_MAX + 1];
    int errors_before = st->ctx->errors;

    if (st->section_fn == NULL) {
        return;
    }
    memcpy(section, name, len);
    section[len] = '\0';
    conf_check_result(st->ctx, section, st->section_fn(st->ctx, section, st->user), errors_before);
}

/* inih reports only its first syntax error, so each line is checked here by inih's own rules
 * (ini.c, ini_parse_stream) before inih sees it, and every bad line is reported. */
static void conf_ini_check_line(struct conf_ini_state *st, const char *line)
{
    const char *start = line;
    const char *end;

    if (st->ctx->line == 1 && strncmp(start, "\xEF\xBB\xBF", 3) == 0) {
        start += 3; /* a UTF-8 byte order mark, which inih skips */
    }
    while (isspace((unsigned char)*start)) {
        start++;
    }
    if (*start == '\0' || *start == ';' || *start == '#') {
        return;
    }
    if (st->after_key && start > line) {
        return;
    }
    if (*start == '[') {
        end = conf_ini_find(start + 1, "]");
        if (*end == ']') {
            st->after_key = false;
            conf_ini_section(st, start + 1, (size_t)(end - start - 1));
        } else {
            conf_ini_syntax_error(st, "section header without ']'");
        }
        return;
    }
    end = conf_ini_find(start, "=:");
    if (*end == '=' || *end == ':') {
        st->after_key = end > start;
    } else {
        conf_ini_syntax_error(st, "expected 'key = value', '[section]' or a comment");
    }
}

/* inih's fgets-style reader: one physical line per call, so inih's line count stays ours. */
static char *conf_ini_reader(char *str, int num, void *stream)
{
    struct conf_ini_state *st = stream;
    char line[CONF_LINE_MAX + 2];
    size_t len;
    int rc;

    rc = conf_read_line(st->fp, line, sizeof(line));
    if (rc == 0 || num < 1) {
        return NULL;
    }
    st->ctx->line++;
    len = rc > 0 ? strlen(line) : 0;
    if (rc < 0 || len >= (size_t)num) {
        /* inih's line buffer is fixed (200 bytes unless built otherwise); a longer line would
         * reach it in pieces, so it gets an empty line instead and the error is ours. */
        conf_error(st->ctx, "line is longer than %d bytes", rc < 0 ? CONF_LINE_MAX : num - 1);
        len = 0;
    } else {
        conf_ini_check_line(st, line);
    }
    memcpy(str, line, len);
    str[len] = '\0';
    return str;
}

static int conf_ini_handler(void *user, const char *section, const char *name, const char *value)
{
    struct conf_ini_state *st = user;
    int errors_before = st->ctx->errors;

    if (name[0] == '\0') {
        conf_error(st->ctx, "missing key before '='");
        return 1;
    }
    conf_check_result(st->ctx, name, st->fn(st->ctx, section, name, value, st->user),
                      errors_before);
    return 1; /* errors are counted here, not by inih */
}

int conf_read_ini_file(const char *path, conf_ini_fn fn, void *user, struct conf_ctx *ctx)
{
    return conf_read_ini_sections(path, NULL, fn, user, ctx);
}

int conf_read_ini_sections(const char *path, conf_ini_section_fn section_fn, conf_ini_fn fn,
                           void *user, struct conf_ctx *ctx)
{
    struct conf_ini_state st = {.ctx = ctx, .fn = fn, .section_fn = section_fn, .user = user};
    struct conf_saved saved;
    int rc;

    if (path == NULL || fn == NULL || ctx == NULL) {
        return -EINVAL;
    }
    rc = conf_begin(path, ctx, &saved, &st.fp);
    if (rc < 0) {
        return rc;
    }
    rc = ini_parse_stream(conf_ini_reader, &st, conf_ini_handler, &st);
    if (rc == -2) {
        conf_error(ctx, "out of memory");
    } else if (rc > 0 && rc != st.first_syntax_error) {
        /* inih found an error that the line check above did not: report it all the same. */
        ctx->line = rc;
        conf_error(ctx, "syntax error");
    }
    return conf_end(ctx, &saved, st.fp);
}

/* The value being built by conf_value: too long is remembered, so that a syntax error found
 * later still wins over the length. */
struct conf_out {
    char *buf;
    size_t cap;
    size_t len;
    bool overflow;
};

static void conf_out_put(struct conf_out *o, char c)
{
    if (o->len + 1 < o->cap) {
        o->buf[o->len++] = c;
    } else {
        o->overflow = true;
    }
}

/* After a closing quote only whitespace or a '#' comment may follow. */
static int conf_value_finish(struct conf_out *o, const char *rest)
{
    if (rest != NULL) {
        while (isspace((unsigned char)*rest)) {
            rest++;
        }
        if (*rest != '\0' && *rest != '#') {
            return -EINVAL;
        }
    }
    if (o->overflow) {
        if (o->cap > 0) {
            o->buf[0] = '\0';
        }
        return -ENAMETOOLONG;
    }
    o->buf[o->len] = '\0';
    return 0;
}

/* `p` is just past the opening '"'. */
static int conf_value_basic(const char *p, struct conf_out *o)
{
    char c;

    for (; *p != '"'; p++) {
        if (*p == '\0') {
            return -EINVAL;
        }
        c = *p;
        if (c == '\\') {
            p++;
            switch (*p) {
            case '"':
            case '\\':
                c = *p;
                break;
            case 'n':
                c = '\n';
                break;
            case 't':
                c = '\t';
                break;
            default:
                return -EINVAL;
            }
        }
        conf_out_put(o, c);
    }
    return conf_value_finish(o, p + 1);
}

/* `p` is just past the opening '\''; a literal string has no escapes. */
static int conf_value_literal(const char *p, struct conf_out *o)
{
    for (; *p != '\''; p++) {
        if (*p == '\0') {
            return -EINVAL;
        }
        conf_out_put(o, *p);
    }
    return conf_value_finish(o, p + 1);
}

/* A bare value ends at a '#' that starts it or follows whitespace; "a#b" stays whole. */
static int conf_value_bare(const char *p, struct conf_out *o)
{
    size_t end = 0;

    while (p[end] != '\0' && !(p[end] == '#' && (end == 0 || isspace((unsigned char)p[end - 1])))) {
        end++;
    }
    while (end > 0 && isspace((unsigned char)p[end - 1])) {
        end--;
    }
    for (size_t i = 0; i < end; i++) {
        conf_out_put(o, p[i]);
    }
    return conf_value_finish(o, NULL);
}

int conf_value(const char *raw, char *out, size_t cap)
{
    struct conf_out o = {.buf = out, .cap = cap};

    if (raw == NULL || out == NULL) {
        return -EINVAL;
    }
    if (cap == 0) {
        o.overflow = true;
    }
    while (isspace((unsigned char)*raw)) {
        raw++;
    }
    if (*raw == '"') {
        return conf_value_basic(raw + 1, &o);
    }
    if (*raw == '\'') {
        return conf_value_literal(raw + 1, &o);
    }
    return conf_value_bare(raw, &o);
}

int conf_parse_uint(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    uint64_t value = 0;
    uint64_t digit;
    bool too_big = false;

    if (text == NULL || out == NULL || *text == '\0') {
        return -EINVAL;
    }
    for (const char *p = text; *p != '\0'; p++) {
        if (*p < '0' || *p > '9') {
            return -EINVAL;
        }
        digit = (uint64_t)(*p - '0');
        if (value > (UINT64_MAX - digit) / 10) {
            too_big = true;
        } else {
            value = value * 10 + digit;
        }
    }
    if (too_big || value < min || value > max) {
        return -ERANGE;
    }
    *out = value;
    return 0;
}

int conf_parse_bool(const char *text, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};

    if (text == NULL || out == NULL) {
        return -EINVAL;
    }
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -EINVAL;
}
