/* SvcParams of SVCB and HTTPS records (RFC 9460 2.1 and 7): key=value words, written in
 * ascending key order, each key once. */
#include <arpa/inet.h>
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "pk_zone_int.h"

#define PK_ZONE_SVCB_PARAMS_MAX 16
#define PK_ZONE_SVCB_VALUE_MAX 1024
#define PK_ZONE_SVCB_KEY_MAX 65534 /* RFC 9460 14.3.2: 65535 is reserved */

/* RFC 9460 14.3.2: the registered keys we read by name, in the order of their numbers. */
enum pk_zone_svcb_keys {
    PK_ZONE_SVCB_MANDATORY = 0,
    PK_ZONE_SVCB_ALPN = 1,
    PK_ZONE_SVCB_NO_DEFAULT_ALPN = 2,
    PK_ZONE_SVCB_PORT = 3,
    PK_ZONE_SVCB_IPV4HINT = 4,
    PK_ZONE_SVCB_ECH = 5,
    PK_ZONE_SVCB_IPV6HINT = 6,
};

static const char *const pk_zone_svcb_names[] = {
    "mandatory", "alpn", "no-default-alpn", "port", "ipv4hint", "ech", "ipv6hint",
};

struct pk_zone_svcb_param {
    uint16_t key;
    uint16_t len;
    uint8_t value[PK_ZONE_SVCB_VALUE_MAX];
};

/* "alpn" gives 1, "key65000" gives 65000; -1 for anything else. */
static long pk_zone_svcb_key(const char *name, size_t len)
{
    struct pk_zone_token t;

    for (size_t i = 0; i < sizeof(pk_zone_svcb_names) / sizeof(pk_zone_svcb_names[0]); i++) {
        if (strlen(pk_zone_svcb_names[i]) == len &&
            strncmp(name, pk_zone_svcb_names[i], len) == 0) {
            return (long)i;
        }
    }
    uint32_t key;
    t.text = name + 3;
    t.len = len - 3;
    if (len > 3 && strncmp(name, "key", 3) == 0 &&
        pk_zone_number(&t, PK_ZONE_SVCB_KEY_MAX, &key) == 0) {
        return (long)key;
    }
    return -1;
}

/* Splits a value list at commas not escaped by a backslash (RFC 9460 A.1), unescapes each
 * item and calls fn with it (NUL-terminated as well). */
static int pk_zone_svcb_each(struct pk_zone *z, const char *value,
                             int (*fn)(struct pk_zone *z, const uint8_t *item, size_t len,
                                       struct pk_zone_svcb_param *p),
                             struct pk_zone_svcb_param *p)
{
    char piece[PK_ZONE_SVCB_VALUE_MAX];
    uint8_t item[PK_ZONE_SVCB_VALUE_MAX];
    size_t start = 0;

    for (size_t i = 0;; i++) {
        if (value[i] == '\\' && value[i + 1] != '\0') {
            i++;
            continue;
        }
        if (value[i] != ',' && value[i] != '\0') {
            continue;
        }
        struct pk_zone_token t = {.text = piece, .len = i - start};
        if (t.len >= sizeof(piece)) {
            return pk_zone_fail(z, "SvcParam value too long");
        }
        memcpy(piece, value + start, t.len);
        piece[t.len] = '\0';
        int len = pk_zone_lex_unescape(z, &t, item, sizeof(item) - 1);
        if (len < 0) {
            return -EINVAL;
        }
        item[len] = '\0'; /* for inet_pton */
        if (fn(z, item, (size_t)len, p) != 0) {
            return -EINVAL;
        }
        if (value[i] == '\0') {
            return 0;
        }
        start = i + 1;
    }
}

static int pk_zone_svcb_put(struct pk_zone *z, struct pk_zone_svcb_param *p, const void *bytes,
                            size_t len)
{
    if (sizeof(p->value) - p->len < len) {
        return pk_zone_fail(z, "SvcParam value too long");
    }
    memcpy(p->value + p->len, bytes, len);
    p->len = (uint16_t)(p->len + len);
    return 0;
}

static int pk_zone_svcb_alpn(struct pk_zone *z, const uint8_t *item, size_t len,
                             struct pk_zone_svcb_param *p)
{
    uint8_t n = (uint8_t)len;

    if (len == 0 || len > 255) {
        return pk_zone_fail(z, "alpn: protocol IDs are 1 to 255 bytes");
    }
    return pk_zone_svcb_put(z, p, &n, 1) != 0 ? -EINVAL : pk_zone_svcb_put(z, p, item, len);
}

static int pk_zone_svcb_mandatory(struct pk_zone *z, const uint8_t *item, size_t len,
                                  struct pk_zone_svcb_param *p)
{
    long key = pk_zone_svcb_key((const char *)item, len);
    uint8_t wire[2] = {(uint8_t)(key >> 8), (uint8_t)key};

    if (key <= PK_ZONE_SVCB_MANDATORY) { /* RFC 9460 8: "mandatory" may not list itself */
        return pk_zone_fail(z, "mandatory: '%.*s' is not a key", (int)len, (const char *)item);
    }
    return pk_zone_svcb_put(z, p, wire, sizeof(wire));
}

static int pk_zone_svcb_hint(struct pk_zone *z, const uint8_t *item, size_t len,
                             struct pk_zone_svcb_param *p)
{
    int family = p->key == PK_ZONE_SVCB_IPV4HINT ? AF_INET : AF_INET6;
    uint8_t bytes[16];

    if (inet_pton(family, (const char *)item, bytes) != 1) {
        return pk_zone_fail(z, "%s: '%.*s' is not an address",
                            family == AF_INET ? "ipv4hint" : "ipv6hint", (int)len,
                            (const char *)item);
    }
    return pk_zone_svcb_put(z, p, bytes, family == AF_INET ? 4 : 16);
}

/* Fills p->value from the presentation value of p->key. */
static int pk_zone_svcb_value(struct pk_zone *z, struct pk_zone_svcb_param *p, const char *value)
{
    struct pk_zone_token t = {.text = value, .len = value != NULL ? strlen(value) : 0};
    size_t len;
    uint32_t port;

    if ((p->key == PK_ZONE_SVCB_NO_DEFAULT_ALPN) != (value == NULL)) {
        return pk_zone_fail(z, "%s",
                            value != NULL ? "no-default-alpn takes no value"
                                          : "SvcParam without '=value'");
    }
    switch (p->key) {
    case PK_ZONE_SVCB_MANDATORY:
        return pk_zone_svcb_each(z, value, pk_zone_svcb_mandatory, p);
    case PK_ZONE_SVCB_ALPN:
        return pk_zone_svcb_each(z, value, pk_zone_svcb_alpn, p);
    case PK_ZONE_SVCB_NO_DEFAULT_ALPN:
        return 0;
    case PK_ZONE_SVCB_PORT:
        if (pk_zone_number(&t, UINT16_MAX, &port) != 0) {
            return pk_zone_fail(z, "port: '%s' is not a port", value);
        }
        p->value[0] = (uint8_t)(port >> 8);
        p->value[1] = (uint8_t)port;
        p->len = 2;
        return 0;
    case PK_ZONE_SVCB_IPV4HINT:
    case PK_ZONE_SVCB_IPV6HINT:
        return pk_zone_svcb_each(z, value, pk_zone_svcb_hint, p);
    case PK_ZONE_SVCB_ECH:
        if (sodium_base642bin(p->value, sizeof(p->value), value, t.len, NULL, &len, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0) {
            return pk_zone_fail(z, "ech: not base64");
        }
        p->len = (uint16_t)len;
        return 0;
    default: {
        int n = pk_zone_lex_unescape(z, &t, p->value, sizeof(p->value));
        p->len = (uint16_t)(n < 0 ? 0 : n);
        return n < 0 ? -EINVAL : 0;
    }
    }
}

/* Reads "key=value", "key="value"" or "key" into p. */
static int pk_zone_svcb_param(struct pk_zone *z, const struct pk_zone_token *t,
                              struct pk_zone_svcb_param *p)
{
    char value[PK_ZONE_SVCB_VALUE_MAX];
    const char *eq = strchr(t->text, '=');
    size_t name_len = eq != NULL ? (size_t)(eq - t->text) : t->len;
    long key = pk_zone_svcb_key(t->text, name_len);

    if (key < 0) {
        return pk_zone_fail(z, "unknown SvcParam '%.*s'", (int)name_len, t->text);
    }
    p->key = (uint16_t)key;
    p->len = 0;
    if (eq == NULL) {
        return pk_zone_svcb_value(z, p, NULL);
    }
    size_t vlen = strlen(eq + 1);
    const char *v = eq + 1;
    if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
        v++;
        vlen -= 2;
    }
    if (vlen >= sizeof(value)) {
        return pk_zone_fail(z, "SvcParam value too long");
    }
    memcpy(value, v, vlen);
    value[vlen] = '\0';
    return pk_zone_svcb_value(z, p, value);
}

static int pk_zone_svcb_order(const void *a, const void *b)
{
    const struct pk_zone_svcb_param *pa = a, *pb = b;

    return (int)pa->key - (int)pb->key;
}

int pk_zone_svcb_params(struct pk_zone *z, const struct pk_zone_token *t, size_t n, uint8_t *out,
                        size_t cap)
{
    struct pk_zone_svcb_param *params;
    size_t len = 0;
    int rc = 0;

    if (n > PK_ZONE_SVCB_PARAMS_MAX) {
        return pk_zone_fail(z, "more than %d SvcParams", PK_ZONE_SVCB_PARAMS_MAX);
    }
    params = calloc(n > 0 ? n : 1, sizeof(params[0]));
    if (params == NULL) {
        return pk_zone_fail(z, "out of memory");
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = pk_zone_svcb_param(z, &t[i], &params[i]);
    }
    if (rc == 0) {
        qsort(params, n, sizeof(params[0]), pk_zone_svcb_order);
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (i > 0 && params[i].key == params[i - 1].key) {
            rc = pk_zone_fail(z, "SvcParam key%u given twice", params[i].key);
        } else if (cap - len < 4u + params[i].len) {
            rc = pk_zone_fail(z, "SvcParams longer than %zu bytes", cap);
        } else {
            /* RFC 9460 2.2: SvcParamKey, SvcParamValue length, SvcParamValue */
            out[len] = (uint8_t)(params[i].key >> 8);
            out[len + 1] = (uint8_t)params[i].key;
            out[len + 2] = (uint8_t)(params[i].len >> 8);
            out[len + 3] = (uint8_t)params[i].len;
            memcpy(out + len + 4, params[i].value, params[i].len);
            len += 4u + params[i].len;
        }
    }
    free(params);
    return rc != 0 ? -EINVAL : (int)len;
}
