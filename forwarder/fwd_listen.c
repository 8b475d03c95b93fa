#include "fwd_listen.h"

#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>

#include "log.h"

/* Appends a, with the port, unless it is there already. */
static int fwd_listen_add(struct addr *out, size_t cap, size_t *n, const struct addr *a,
                          uint16_t port)
{
    struct addr with_port = *a;

    addr_set_port(&with_port, port);
    for (size_t i = 0; i < *n; i++) {
        if (addr_equal(&out[i], &with_port)) {
            return 0;
        }
    }
    if (*n == cap) {
        log_err("fwd", "more than %zu addresses to listen on", cap);
        return -ENOBUFS;
    }
    out[(*n)++] = with_port;
    return 0;
}

/* Link-local IPv6 (fe80::/10) needs a scope in every client's query; left out. */
static bool fwd_listen_is_link_local(const struct sockaddr *sa)
{
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;

    return sa->sa_family == AF_INET6 && IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr);
}

/* Index in cfg->interfaces of the interface `ifa` belongs to, -1 when not named; the loopback
 * interface counts as named (-2) whenever any interface is. */
static int fwd_listen_wanted(const struct fwd_config *cfg, const struct ifaddrs *ifa)
{
    for (size_t i = 0; i < cfg->n_interfaces; i++) {
        if (strcmp(ifa->ifa_name, cfg->interfaces[i]) == 0) {
            return (int)i;
        }
    }
    return (ifa->ifa_flags & IFF_LOOPBACK) != 0 ? -2 : -1;
}

static int fwd_listen_interfaces(const struct fwd_config *cfg, struct addr *out, size_t cap,
                                 size_t *n)
{
    bool found[FWD_MAX_INTERFACES] = {false};
    struct ifaddrs *list, *ifa;
    struct addr a;
    int rc = 0;

    if (getifaddrs(&list) != 0) {
        rc = -errno;
        log_err("fwd", "cannot list the network interfaces: %s", strerror(errno));
        return rc;
    }
    for (ifa = list; ifa != NULL && rc == 0; ifa = ifa->ifa_next) {
        int which = fwd_listen_wanted(cfg, ifa);
        if (which == -1 || ifa->ifa_addr == NULL || fwd_listen_is_link_local(ifa->ifa_addr) ||
            addr_from_sockaddr(ifa->ifa_addr,
                               ifa->ifa_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                                    : sizeof(struct sockaddr_in),
                               &a) != 0) {
            continue;
        }
        if (which >= 0) {
            found[which] = true;
        }
        rc = fwd_listen_add(out, cap, n, &a, cfg->port);
    }
    freeifaddrs(list);
    for (size_t i = 0; i < cfg->n_interfaces && rc == 0; i++) {
        if (!found[i]) {
            log_err("fwd", "interface %s: no such interface, or it has no address to listen on",
                    cfg->interfaces[i]);
            rc = -ENODEV;
        }
    }
    return rc;
}

int fwd_listen_addresses(const struct fwd_config *cfg, struct addr *out, size_t cap, size_t *n)
{
    struct addr a;
    int rc = 0;

    *n = 0;
    for (size_t i = 0; i < cfg->n_listen && rc == 0; i++) {
        rc = fwd_listen_add(out, cap, n, &cfg->listen[i], cfg->port);
    }
    if (rc == 0 && cfg->n_interfaces > 0) {
        rc = fwd_listen_interfaces(cfg, out, cap, n);
    }
    if (rc == 0 && *n == 0) {
        addr_parse("127.0.0.1", 0, &a);
        rc = fwd_listen_add(out, cap, n, &a, cfg->port);
    }
    return rc;
}
