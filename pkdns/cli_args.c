/* Options and their values for pkdns-cli. */
#include "cli_args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool cli_args_is_bare(const char *name, const char *const *bare)
{
    for (size_t i = 0; bare != NULL && bare[i] != NULL; i++) {
        if (strcmp(name, bare[i]) == 0) {
            return true;
        }
    }
    return false;
}

int cli_args_next(int argc, char **argv, int *i, const char *const *bare, struct cli_args_opt *out)
{
    const char *a = argv[*i], *eq;
    size_t len;

    out->value = NULL;
    if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
        if (strcmp(a, "-h") == 0 || strcmp(a, "-v") == 0) {
            snprintf(out->name, sizeof(out->name), "%s", a[1] == 'h' ? "help" : "verbose");
            (*i)++;
            return 0;
        }
        return -EINVAL;
    }
    eq = strchr(a + 2, '=');
    len = eq != NULL ? (size_t)(eq - (a + 2)) : strlen(a + 2);
    if (len >= sizeof(out->name)) {
        return -EINVAL;
    }
    memcpy(out->name, a + 2, len);
    out->name[len] = '\0';
    (*i)++;
    if (eq != NULL) {
        out->value = eq + 1;
    } else if (!cli_args_is_bare(out->name, bare) && *i < argc) {
        out->value = argv[(*i)++];
    }
    return 0;
}

int cli_args_number(const char *text, long long min, long long max, long long *out)
{
    char *end;
    long long v;

    if (text == NULL || text[0] == '\0') {
        return -EINVAL;
    }
    errno = 0;
    v = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) {
        return -EINVAL;
    }
    *out = v;
    return 0;
}

static int cli_args_nibble(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

int cli_args_hex(const char *text, uint8_t *out, size_t cap, size_t *len)
{
    size_t n = strlen(text);

    if (n % 2 != 0) {
        return -EINVAL;
    }
    if (n / 2 > cap) {
        return -ENOSPC;
    }
    for (size_t i = 0; i < n; i += 2) {
        int hi = cli_args_nibble(text[i]), lo = cli_args_nibble(text[i + 1]);
        if (hi < 0 || lo < 0) {
            return -EINVAL;
        }
        out[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    *len = n / 2;
    return 0;
}

void cli_args_to_hex(const uint8_t *data, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 0x0f];
    }
    out[2 * len] = '\0';
}
