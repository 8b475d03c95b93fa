/* Socket addresses: parsing of the forms our configs use, formatting, comparison, prefixes. */
#ifndef PK_ADDR_H
#define PK_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Longest text addr_format writes, with the terminating NUL: "[v6%scope]:65535". */
#define ADDR_TEXT_MAX 72

struct addr {
    struct sockaddr_storage sa;
    socklen_t len; /* sizeof(sockaddr_in) or sizeof(sockaddr_in6); 0 when unset */
};

/* Parses "1.2.3.4", "1.2.3.4:53", "1.2.3.4#53", "::1", "[::1]", "[::1]:53", "::1#53",
 * "fe80::1%eth0" (scope by name or number). `default_port` applies when none is given.
 * Returns 0, or -EINVAL for anything else (names are not resolved here). */
int addr_parse(const char *text, uint16_t default_port, struct addr *out);

/* Writes "1.2.3.4:53" or "[::1]:53" into buf (ADDR_TEXT_MAX is always enough); returns buf. */
const char *addr_format(const struct addr *a, char *buf, size_t cap);

/* Writes the address without the port ("1.2.3.4", "::1"); returns buf. */
const char *addr_format_ip(const struct addr *a, char *buf, size_t cap);

/* Builds an addr from a sockaddr of either family; returns -EAFNOSUPPORT for others. */
int addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct addr *out);

/* True when family, address and port are equal (the v6 scope id too). */
bool addr_equal(const struct addr *a, const struct addr *b);

/* True when the IP addresses are equal, ports ignored. Different families are never equal:
 * 1.2.3.4 and ::ffff:1.2.3.4 differ. */
bool addr_equal_ip(const struct addr *a, const struct addr *b);

/* True when the address is 0.0.0.0 or ::. */
bool addr_is_any(const struct addr *a);

/* True for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104. */
bool addr_is_loopback(const struct addr *a);

/* The port in host byte order; 0 for an unset address. */
uint16_t addr_port(const struct addr *a);

/* Sets the port (host byte order); does nothing to an unset address. */
void addr_set_port(struct addr *a, uint16_t port);

/* An address prefix for ACLs: "10.0.0.0/8", "::1/128", "192.168.1.1" (a host). */
struct addr_prefix {
    int family; /* AF_INET or AF_INET6 */
    uint8_t bytes[16];
    uint8_t bits;
};

/* Parses a prefix; host bits beyond the length must be zero. Returns 0 or -EINVAL. */
int addr_prefix_parse(const char *text, struct addr_prefix *out);

/* True when `a` lies inside `p`. IPv4-mapped IPv6 addresses match IPv4 prefixes. */
bool addr_prefix_match(const struct addr_prefix *p, const struct addr *a);

#endif
