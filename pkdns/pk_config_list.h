/* Lists in pkdns.toml: TOML arrays of strings (["a", "b"]), also over several lines, and the
 * comma-separated strings ("a, b") our extensions accept as well. inih hands over an indented
 * line after a key as another value of that key; an array opened with '[' collects those
 * lines until its ']'. */
#ifndef PK_CONFIG_LIST_H
#define PK_CONFIG_LIST_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"

#define PK_CONFIG_LIST_TEXT_MAX 4096

/* An array being collected, and the user pointer of the reader around it. */
struct pk_config_list {
    void *user;
    bool open;
    int line; /* where the open array began */
    char section[32];
    char key[64];
    char text[PK_CONFIG_LIST_TEXT_MAX];
};

/* Starts with no array open. */
void pk_config_list_init(struct pk_config_list *l, void *user);

/* Takes the value of one line. Returns 1 with *whole, section and key in l set when a whole
 * value is ready (a value that is not an open array comes back as it is), 0 while an array
 * is still open, -EINVAL after reporting an error. */
int pk_config_list_feed(struct pk_config_list *l, struct conf_ctx *ctx, const char *section,
                        const char *key, const char *raw, const char **whole);

/* At the end of a file: reports an array still open. Returns true when there was one. */
bool pk_config_list_unclosed(struct pk_config_list *l, struct conf_ctx *ctx);

typedef int (*pk_config_list_fn)(struct conf_ctx *ctx, const char *item, void *user);

/* Calls fn with each string of the array or comma-separated string `raw` (quotes removed,
 * items trimmed, empty ones skipped). Returns 0, or -EINVAL after reporting a syntax error or
 * when fn failed. */
int pk_config_list_each(struct conf_ctx *ctx, const char *key, const char *raw,
                        pk_config_list_fn fn, void *user);

#endif
