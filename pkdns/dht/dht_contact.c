#include "dht_contact.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

int dht_contact_cmp(const uint8_t target[KRPC_ID_LEN], const uint8_t a[KRPC_ID_LEN],
                    const uint8_t b[KRPC_ID_LEN])
{
    for (size_t i = 0; i < KRPC_ID_LEN; i++) {
        uint8_t da = (uint8_t)(a[i] ^ target[i]);
        uint8_t db = (uint8_t)(b[i] ^ target[i]);
        if (da != db) {
            return da < db ? -1 : 1;
        }
    }
    return 0;
}

unsigned dht_contact_prefix_len(const uint8_t a[KRPC_ID_LEN], const uint8_t b[KRPC_ID_LEN])
{
    for (size_t i = 0; i < KRPC_ID_LEN; i++) {
        unsigned x = (unsigned)(a[i] ^ b[i]);
        if (x != 0) {
            unsigned bits = (unsigned)i * 8;
            while ((x & 0x80u) == 0) {
                x <<= 1;
                bits++;
            }
            return bits;
        }
    }
    return DHT_CONTACT_ID_BITS;
}

static bool dht_contact_addr6_usable(const struct addr *a)
{
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->sa;
    const struct in6_addr *ip = &sin6->sin6_addr;

    if (sin6->sin6_port == 0) {
        return false;
    }
    /* RFC 4291: :: unspecified, ff00::/8 multicast, fe80::/10 link-local (needs a scope that
     * compact node info lacks), ::ffff:0:0/96 IPv4-mapped (an IPv4 node in disguise). */
    return !IN6_IS_ADDR_UNSPECIFIED(ip) && !IN6_IS_ADDR_MULTICAST(ip) &&
           !IN6_IS_ADDR_LINKLOCAL(ip) && !IN6_IS_ADDR_V4MAPPED(ip);
}

bool dht_contact_addr_usable(const struct addr *a)
{
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->sa;
    uint32_t ip;

    if (a->len == sizeof(struct sockaddr_in6) && a->sa.ss_family == AF_INET6) {
        return dht_contact_addr6_usable(a);
    }
    if (a->len != sizeof(*sin) || sin->sin_family != AF_INET || sin->sin_port == 0) {
        return false;
    }
    ip = ntohl(sin->sin_addr.s_addr);
    /* 0.0.0.0/8 is "this network"; 224.0.0.0/4 multicast; 240.0.0.0/4 reserved and broadcast. */
    return (ip >> 24) != 0 && ip < 0xe0000000u;
}

void dht_contact_read_addr6(const uint8_t in[KRPC_PEER6_LEN], struct addr *a)
{
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->sa;

    memset(a, 0, sizeof(*a));
    sin6->sin6_family = AF_INET6;
    memcpy(&sin6->sin6_addr, in, 16);
    memcpy(&sin6->sin6_port, in + 16, 2);
    a->len = sizeof(*sin6);
}

int dht_contact_write_addr6(const struct addr *a, uint8_t out[KRPC_PEER6_LEN])
{
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->sa;

    if (a->len != sizeof(*sin6) || sin6->sin6_family != AF_INET6) {
        return -EAFNOSUPPORT;
    }
    memcpy(out, &sin6->sin6_addr, 16);
    memcpy(out + 16, &sin6->sin6_port, 2);
    return 0;
}

int dht_contact_read6(const uint8_t in[KRPC_NODE6_LEN], struct dht_contact *c)
{
    memcpy(c->id, in, KRPC_ID_LEN);
    dht_contact_read_addr6(in + KRPC_ID_LEN, &c->addr);
    return dht_contact_addr_usable(&c->addr) ? 0 : -EINVAL;
}

int dht_contact_write6(const struct dht_contact *c, uint8_t out[KRPC_NODE6_LEN])
{
    memcpy(out, c->id, KRPC_ID_LEN);
    return dht_contact_write_addr6(&c->addr, out + KRPC_ID_LEN);
}

size_t dht_contact_node_len(int family)
{
    return family == AF_INET ? KRPC_NODE_LEN : family == AF_INET6 ? KRPC_NODE6_LEN : 0;
}

int dht_contact_read_any(const uint8_t *in, size_t len, struct dht_contact *c)
{
    if (len == KRPC_NODE_LEN) {
        return dht_contact_read(in, c);
    }
    return len == KRPC_NODE6_LEN ? dht_contact_read6(in, c) : -EINVAL;
}

int dht_contact_write_any(const struct dht_contact *c, uint8_t *out, size_t len)
{
    if (len == KRPC_NODE_LEN) {
        return dht_contact_write(c, out);
    }
    return len == KRPC_NODE6_LEN ? dht_contact_write6(c, out) : -EAFNOSUPPORT;
}

void dht_contact_read_addr(const uint8_t in[KRPC_PEER_LEN], struct addr *a)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)&a->sa;

    memset(a, 0, sizeof(*a));
    sin->sin_family = AF_INET;
    memcpy(&sin->sin_addr.s_addr, in, 4);
    memcpy(&sin->sin_port, in + 4, 2);
    a->len = sizeof(*sin);
}

int dht_contact_read(const uint8_t in[KRPC_NODE_LEN], struct dht_contact *c)
{
    memcpy(c->id, in, KRPC_ID_LEN);
    dht_contact_read_addr(in + KRPC_ID_LEN, &c->addr);
    return dht_contact_addr_usable(&c->addr) ? 0 : -EINVAL;
}

int dht_contact_write_addr(const struct addr *a, uint8_t out[KRPC_PEER_LEN])
{
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->sa;

    if (a->len != sizeof(*sin) || sin->sin_family != AF_INET) {
        return -EAFNOSUPPORT;
    }
    memcpy(out, &sin->sin_addr.s_addr, 4);
    memcpy(out + 4, &sin->sin_port, 2);
    return 0;
}

int dht_contact_write(const struct dht_contact *c, uint8_t out[KRPC_NODE_LEN])
{
    memcpy(out, c->id, KRPC_ID_LEN);
    return dht_contact_write_addr(&c->addr, out + KRPC_ID_LEN);
}

bool dht_contact_ip_bytes(const struct addr *a, const uint8_t **ip, size_t *len)
{
    if (a->len == sizeof(struct sockaddr_in) && a->sa.ss_family == AF_INET) {
        *ip = (const uint8_t *)&((const struct sockaddr_in *)&a->sa)->sin_addr;
        *len = 4;
        return true;
    }
    if (a->len == sizeof(struct sockaddr_in6) && a->sa.ss_family == AF_INET6) {
        *ip = (const uint8_t *)&((const struct sockaddr_in6 *)&a->sa)->sin6_addr;
        *len = 16;
        return true;
    }
    return false;
}
