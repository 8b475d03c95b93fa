#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* The longest host part addr_parse accepts: an IPv6 address, '%' and an interface name. */
#define ADDR_HOST_MAX (INET6_ADDRSTRLEN + 1 + IF_NAMESIZE)

/* Decimal digits only; `max_digits` stops overflow before the range check. */
static int addr_parse_decimal(const char *text, size_t max_digits, uint32_t max, uint32_t *out)
{
    uint64_t value = 0;
    size_t i;

    if (text[0] == '\0') {
        return -EINVAL;
    }
    for (i = 0; text[i] != '\0'; i++) {
        if (text[i] < '0' || text[i] > '9' || i >= max_digits) {
            return -EINVAL;
        }
        value = value * 10 + (uint64_t)(text[i] - '0');
    }
    if (value > max) {
        return -EINVAL;
    }
    *out = (uint32_t)value;
    return 0;
}

/* A scope is an interface index ("%2") or an interface name that exists now ("%eth0"). */
static int addr_parse_scope(const char *text, uint32_t *out)
{
    unsigned index;

    if (text[0] >= '0' && text[0] <= '9') {
        return addr_parse_decimal(text, 10, UINT32_MAX, out);
    }
    index = if_nametoindex(text);
    if (index == 0) {
        return -EINVAL;
    }
    *out = index;
    return 0;
}

static void addr_set_v4(struct addr *out, const struct in_addr *ip, uint16_t port)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)&out->sa;

    memset(out, 0, sizeof(*out));
    sin->sin_family = AF_INET;
    sin->sin_addr = *ip;
    sin->sin_port = htons(port);
    out->len = sizeof(*sin);
}

static void addr_set_v6(struct addr *out, const struct in6_addr *ip, uint32_t scope, uint16_t port)
{
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->sa;

    memset(out, 0, sizeof(*out));
    sin6->sin6_family = AF_INET6;
    sin6->sin6_addr = *ip;
    sin6->sin6_scope_id = scope;
    sin6->sin6_port = htons(port);
    out->len = sizeof(*sin6);
}

/* `host` is the address alone, without brackets or port; `v6_only` after a '['. */
static int addr_parse_host(char *host, bool v6_only, uint16_t port, struct addr *out)
{
    struct in_addr ip4;
    struct in6_addr ip6;
    uint32_t scope = 0;
    char *percent = strchr(host, '%');

    if (percent != NULL) {
        *percent = '\0';
        if (addr_parse_scope(percent + 1, &scope) != 0) {
            return -EINVAL;
        }
    }
    if (strchr(host, ':') != NULL) {
        if (inet_pton(AF_INET6, host, &ip6) != 1) {
            return -EINVAL;
        }
        addr_set_v6(out, &ip6, scope, port);
        return 0;
    }
    if (v6_only || percent != NULL || inet_pton(AF_INET, host, &ip4) != 1) {
        return -EINVAL;
    }
    addr_set_v4(out, &ip4, port);
    return 0;
}

int addr_parse(const char *text, uint16_t default_port, struct addr *out)
{
    char host[ADDR_HOST_MAX];
    const char *host_start = text;
    const char *port_text = NULL;
    const char *mark;
    size_t host_len;
    uint32_t port = default_port;

    if (text == NULL || out == NULL) {
        return -EINVAL;
    }

    /* Split host and port: "[v6]:port", "host#port" (dnsmasq), "v4:port", or a bare address;
     * a bare IPv6 address has two or more colons and so never carries a port that way. */
    if (text[0] == '[') {
        mark = strchr(text, ']');
        if (mark == NULL || (mark[1] != '\0' && mark[1] != ':')) {
            return -EINVAL;
        }
        host_start = text + 1;
        host_len = (size_t)(mark - host_start);
        port_text = mark[1] == ':' ? mark + 2 : NULL;
    } else if ((mark = strchr(text, '#')) != NULL) {
        host_len = (size_t)(mark - text);
        port_text = mark + 1;
    } else if ((mark = strchr(text, ':')) != NULL && strchr(mark + 1, ':') == NULL) {
        host_len = (size_t)(mark - text);
        port_text = mark + 1;
    } else {
        host_len = strlen(text);
    }

    if (host_len == 0 || host_len >= sizeof(host)) {
        return -EINVAL;
    }
    memcpy(host, host_start, host_len);
    host[host_len] = '\0';
    if (port_text != NULL && addr_parse_decimal(port_text, 5, UINT16_MAX, &port) != 0) {
        return -EINVAL;
    }
    return addr_parse_host(host, text[0] == '[', (uint16_t)port, out);
}

const char *addr_format_ip(const struct addr *a, char *buf, size_t cap)
{
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->sa;
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->sa;
    char ip[INET6_ADDRSTRLEN];
    char ifname[IF_NAMESIZE];

    if (cap == 0) {
        return buf;
    }
    if (a->len == 0 || (a->sa.ss_family != AF_INET && a->sa.ss_family != AF_INET6)) {
        snprintf(buf, cap, "(none)");
        return buf;
    }
    if (a->sa.ss_family == AF_INET) {
        inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
        snprintf(buf, cap, "%s", ip);
        return buf;
    }
    inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
    if (sin6->sin6_scope_id == 0) {
        snprintf(buf, cap, "%s", ip);
    } else if (if_indextoname(sin6->sin6_scope_id, ifname) != NULL) {
        snprintf(buf, cap, "%s%%%s", ip, ifname);
    } else {
        snprintf(buf, cap, "%s%%%u", ip, (unsigned)sin6->sin6_scope_id);
    }
    return buf;
}

const char *addr_format(const struct addr *a, char *buf, size_t cap)
{
    char ip[ADDR_TEXT_MAX];

    if (cap == 0) {
        return buf;
    }
    addr_format_ip(a, ip, sizeof(ip));
    if (a->len == 0) {
        snprintf(buf, cap, "%s", ip);
    } else if (a->sa.ss_family == AF_INET6) {
        snprintf(buf, cap, "[%s]:%u", ip, (unsigned)addr_port(a));
    } else {
        snprintf(buf, cap, "%s:%u", ip, (unsigned)addr_port(a));
    }
    return buf;
}

int addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct addr *out)
{
    socklen_t need;

    if (sa == NULL || out == NULL) {
        return -EINVAL;
    }
    if (sa->sa_family == AF_INET) {
        need = sizeof(struct sockaddr_in);
    } else if (sa->sa_family == AF_INET6) {
        need = sizeof(struct sockaddr_in6);
    } else {
        return -EAFNOSUPPORT;
    }
    if (len < need) {
        return -EINVAL;
    }
    memset(out, 0, sizeof(*out));
    memcpy(&out->sa, sa, need);
    out->len = need;
    return 0;
}

bool addr_equal_ip(const struct addr *a, const struct addr *b)
{
    const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&a->sa;
    const struct sockaddr_in6 *b6 = (const struct sockaddr_in6 *)&b->sa;
    const struct sockaddr_in *a4 = (const struct sockaddr_in *)&a->sa;
    const struct sockaddr_in *b4 = (const struct sockaddr_in *)&b->sa;

    if (a->len != b->len || a->sa.ss_family != b->sa.ss_family) {
        return false;
    }
    if (a->len == 0) {
        return true;
    }
    if (a->sa.ss_family == AF_INET) {
        return a4->sin_addr.s_addr == b4->sin_addr.s_addr;
    }
    return memcmp(&a6->sin6_addr, &b6->sin6_addr, sizeof(a6->sin6_addr)) == 0 &&
           a6->sin6_scope_id == b6->sin6_scope_id;
}

bool addr_equal(const struct addr *a, const struct addr *b)
{
    return addr_equal_ip(a, b) && addr_port(a) == addr_port(b);
}

bool addr_is_any(const struct addr *a)
{
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->sa;
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->sa;

    if (a->len == 0) {
        return false;
    }
    if (a->sa.ss_family == AF_INET) {
        return sin->sin_addr.s_addr == htonl(INADDR_ANY);
    }
    return IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr);
}

bool addr_is_loopback(const struct addr *a)
{
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->sa;
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->sa;

    if (a->len == 0) {
        return false;
    }
    if (a->sa.ss_family == AF_INET) {
        return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
    }
    if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
        return sin6->sin6_addr.s6_addr[12] == 127;
    }
    return IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
}

uint16_t addr_port(const struct addr *a)
{
    if (a->len == 0) {
        return 0;
    }
    if (a->sa.ss_family == AF_INET) {
        return ntohs(((const struct sockaddr_in *)&a->sa)->sin_port);
    }
    return ntohs(((const struct sockaddr_in6 *)&a->sa)->sin6_port);
}

void addr_set_port(struct addr *a, uint16_t port)
{
    if (a->len == 0) {
        return;
    }
    if (a->sa.ss_family == AF_INET) {
        ((struct sockaddr_in *)&a->sa)->sin_port = htons(port);
    } else {
        ((struct sockaddr_in6 *)&a->sa)->sin6_port = htons(port);
    }
}

/* True when the first `bits` bits of x and y agree. */
static bool addr_bits_equal(const uint8_t *x, const uint8_t *y, unsigned bits)
{
    unsigned whole = bits / 8;
    unsigned rest = bits % 8;
    uint8_t mask;

    if (memcmp(x, y, whole) != 0) {
        return false;
    }
    if (rest == 0) {
        return true;
    }
    mask = (uint8_t)(0xffu << (8 - rest));
    return (x[whole] & mask) == (y[whole] & mask);
}

/* True when every bit of `bytes` after the first `bits` is zero. */
static bool addr_host_bits_zero(const uint8_t *bytes, unsigned bits, unsigned total_bits)
{
    for (unsigned i = bits; i < total_bits; i++) {
        if (bytes[i / 8] & (0x80u >> (i % 8))) {
            return false;
        }
    }
    return true;
}

int addr_prefix_parse(const char *text, struct addr_prefix *out)
{
    char host[INET6_ADDRSTRLEN];
    const char *slash;
    size_t host_len;
    uint32_t bits;
    unsigned total_bits;

    if (text == NULL || out == NULL) {
        return -EINVAL;
    }
    slash = strchr(text, '/');
    host_len = slash != NULL ? (size_t)(slash - text) : strlen(text);
    if (host_len == 0 || host_len >= sizeof(host)) {
        return -EINVAL;
    }
    memcpy(host, text, host_len);
    host[host_len] = '\0';

    memset(out, 0, sizeof(*out));
    if (strchr(host, ':') != NULL) {
        out->family = AF_INET6;
        total_bits = 128;
    } else {
        out->family = AF_INET;
        total_bits = 32;
    }
    if (inet_pton(out->family, host, out->bytes) != 1) {
        return -EINVAL;
    }
    bits = total_bits;
    if (slash != NULL && addr_parse_decimal(slash + 1, 3, total_bits, &bits) != 0) {
        return -EINVAL;
    }
    if (!addr_host_bits_zero(out->bytes, bits, total_bits)) {
        return -EINVAL;
    }
    out->bits = (uint8_t)bits;
    return 0;
}

bool addr_prefix_match(const struct addr_prefix *p, const struct addr *a)
{
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->sa;
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->sa;
    const uint8_t *bytes;
    int family;

    if (a->len == 0) {
        return false;
    }
    if (a->sa.ss_family == AF_INET) {
        family = AF_INET;
        bytes = (const uint8_t *)&sin->sin_addr;
    } else if (p->family == AF_INET && IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
        family = AF_INET; /* ::ffff:a.b.c.d, RFC 4291 2.5.5.2 */
        bytes = sin6->sin6_addr.s6_addr + 12;
    } else {
        family = AF_INET6;
        bytes = sin6->sin6_addr.s6_addr;
    }
    return family == p->family && addr_bits_equal(p->bytes, bytes, p->bits);
}
