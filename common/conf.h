/* Helpers for reading configuration files: errors are logged as "FILE:LINE: message" with the
 * tag "config" and counted, and reading goes on, so that one run reports every error in a file.
 * Two file shapes: dnsmasq-style "key=value" lines and INI (through inih), plus value parsers. */
#ifndef PK_CONF_H
#define PK_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where reading is and what it found. Zero it before the first file; one context may be passed
 * to several files (and to an included file from inside a callback) to add up their errors. */
struct conf_ctx {
    const char *file; /* the file being read; NULL outside a file */
    int line;         /* 1-based line being read; 0 for errors about the whole file */
    int errors;
    int warnings;
};

/* Longest line the key=value reader takes, newline not counted. */
#define CONF_LINE_MAX 4096

/* Logs "FILE:LINE: message" at ERROR ("FILE: message" when line is 0, just the message when
 * file is NULL) and counts it in ctx->errors. */
void conf_error(struct conf_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* As conf_error, at WARNING, counted in ctx->warnings. */
void conf_warn(struct conf_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Called once per option; value is NULL for a bare word. Report problems with conf_error; a
 * negative return that did not call conf_error is reported with strerror and counted. */
typedef int (*conf_kv_fn)(struct conf_ctx *ctx, const char *key, const char *value, void *user);

/* Reads a dnsmasq-style file: one "key=value" or bare "key" per line, '#' comments only at the
 * start of a line, blank lines skipped, key and value trimmed, lines up to CONF_LINE_MAX bytes.
 * ctx->file and ctx->line are set while reading and restored afterwards. Returns 0 when the file
 * had no errors, -EINVAL when it had some, -errno when it cannot be opened (logged, counted). */
int conf_read_kv_file(const char *path, conf_kv_fn fn, void *user, struct conf_ctx *ctx);

/* Called once per INI key (section "" before the first header); an indented line after a key is
 * a continuation and comes as another call with the same key. Error rules as conf_kv_fn. */
typedef int (*conf_ini_fn)(struct conf_ctx *ctx, const char *section, const char *key,
                           const char *value, void *user);

/* Reads an INI file with inih: every syntax error is reported with its line, ';' after
 * whitespace starts an inline comment (inih's rule), lines are limited by inih's buffer
 * (200 bytes by default). Same return rules as conf_read_kv_file. */
int conf_read_ini_file(const char *path, conf_ini_fn fn, void *user, struct conf_ctx *ctx);

/* Called once per well-formed section header, with ctx->line on the header and before the
 * calls for its keys, so that a section without keys is seen too. `section` is the text
 * between the brackets, whole (inih cuts the one it gives key calls to 49 bytes). */
typedef int (*conf_ini_section_fn)(struct conf_ctx *ctx, const char *section, void *user);

/* As conf_read_ini_file, also calling section_fn (NULL: none) for every section header. */
int conf_read_ini_sections(const char *path, conf_ini_section_fn section_fn, conf_ini_fn fn,
                           void *user, struct conf_ctx *ctx);

/* Cleans up a TOML-style value into out: "double quoted" (escapes \" \\ \n \t) and 'literal'
 * strings are unquoted and may be followed only by whitespace or a '#' comment; an unquoted
 * value loses a trailing " # comment" and surrounding whitespace. Returns 0, -EINVAL for an
 * unterminated string, a bad escape or junk after it, -ENAMETOOLONG when out is too small. */
int conf_value(const char *raw, char *out, size_t cap);

/* Parses a decimal number (digits only: no sign, space or prefix) within [min, max].
 * Returns 0, -EINVAL for anything not a number, -ERANGE outside the range. */
int conf_parse_uint(const char *text, uint64_t min, uint64_t max, uint64_t *out);

/* Parses true/false, yes/no, on/off, 1/0 in any case. Returns 0 or -EINVAL. */
int conf_parse_bool(const char *text, bool *out);

#endif
