/* Bootstrap entries: "host:port" items of a comma-separated list. An address goes to the node
 * at once; a name is resolved through ares_uv, and its addresses follow when the answer comes
 * (IPv6 ones only when an IPv6 socket is open). When nothing is left to resolve, the owner's ready
 * callback is due. */
#include "dht_uv_int.h"

#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DHT_UV_BOOT_HOST_MAX 256 /* ours: longer than any DNS name (RFC 1035: 253) */

void dht_uv_boot_give(struct dht_uv *d, const struct addr *addrs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char text[ADDR_TEXT_MAX];
        int family = addrs[i].sa.ss_family;
        if (family != AF_INET && (family != AF_INET6 || d->fd6 < 0)) {
            continue;
        }
        if (dht_node_add_bootstrap(d->node, &addrs[i], 1, uv_now(d->loop)) == 0) {
            d->nbootstrap++;
            log_debug(DHT_UV_TAG, "bootstrap node %s", addr_format(&addrs[i], text, sizeof(text)));
        }
    }
}

static void dht_uv_boot_resolved(void *user, int status, const struct addr *addrs, size_t n)
{
    struct dht_uv *d = user;

    d->resolving--;
    if (d->closing) {
        return;
    }
    if (status < 0) {
        log_warn(DHT_UV_TAG, "bootstrap name did not resolve: %s", strerror(-status));
    } else {
        dht_uv_boot_give(d, addrs, n);
    }
    if (d->resolving == 0) {
        d->ready_due = true;
    }
}

/* Splits "host:port" (host may be "[v6]") into host and port. Returns 0 or -EINVAL. */
static int dht_uv_boot_split(const char *entry, size_t len, char host[DHT_UV_BOOT_HOST_MAX],
                             uint16_t *port)
{
    const char *colon = NULL;
    unsigned long value;
    char digits[8], *end;
    size_t host_len, port_len;

    for (size_t i = 0; i < len; i++) {
        if (entry[i] == ':') {
            colon = entry + i;
        }
    }
    if (colon == NULL) {
        return -EINVAL;
    }
    host_len = (size_t)(colon - entry);
    port_len = len - host_len - 1;
    if (host_len == 0 || host_len >= DHT_UV_BOOT_HOST_MAX || port_len == 0 ||
        port_len >= sizeof(digits)) {
        return -EINVAL;
    }
    if (entry[0] == '[' && host_len >= 2 && entry[host_len - 1] == ']') {
        entry++;
        host_len -= 2;
    }
    memcpy(host, entry, host_len);
    host[host_len] = '\0';
    memcpy(digits, colon + 1, port_len);
    digits[port_len] = '\0';
    errno = 0;
    value = strtoul(digits, &end, 10);
    if (errno != 0 || *end != '\0' || digits[0] == '-' || value == 0 || value > 65535) {
        return -EINVAL;
    }
    *port = (uint16_t)value;
    return 0;
}

/* Starts one entry: an address at once, a name through the resolver. */
static int dht_uv_boot_start(struct dht_uv *d, const char *host, uint16_t port)
{
    struct addr a;
    int rc;

    if (addr_parse(host, port, &a) == 0) {
        dht_uv_boot_give(d, &a, 1);
        return 0;
    }
    if (d->resolver == NULL && (rc = ares_uv_new(d->loop, NULL, 0, &d->resolver)) < 0) {
        return rc;
    }
    d->resolving++;
    rc = ares_uv_resolve(d->resolver, host, port, dht_uv_boot_resolved, d);
    if (rc < 0) {
        d->resolving--;
    }
    return rc;
}

/* Checks every entry before any is started, so that a typo changes nothing. */
static int dht_uv_boot_check(const char *list)
{
    char host[DHT_UV_BOOT_HOST_MAX];
    uint16_t port;

    for (const char *p = list; *p != '\0';) {
        size_t len = strcspn(p, ",");
        if (len > 0 && dht_uv_boot_split(p, len, host, &port) < 0) {
            return -EINVAL;
        }
        p += len + (p[len] == ',');
    }
    return 0;
}

const char *dht_uv_bootstrap_list(const char *configured)
{
    return configured != NULL ? configured : DHT_UV_DEFAULT_BOOTSTRAP;
}

int dht_uv_boot_add(struct dht_uv *d, const char *list)
{
    char host[DHT_UV_BOOT_HOST_MAX];
    uint16_t port;

    if (dht_uv_boot_check(list) < 0) {
        return -EINVAL;
    }
    for (const char *p = list; *p != '\0';) {
        size_t len = strcspn(p, ",");
        int rc;
        if (len > 0 && dht_uv_boot_split(p, len, host, &port) == 0 &&
            (rc = dht_uv_boot_start(d, host, port)) < 0) {
            log_warn(DHT_UV_TAG, "bootstrap %s: %s", host, strerror(-rc));
        }
        p += len + (p[len] == ',');
    }
    if (d->resolving == 0) {
        d->ready_due = true;
    }
    return 0;
}
