/* Where the forwarder listens, worked out when it starts. */
#ifndef PK_FWD_LISTEN_H
#define PK_FWD_LISTEN_H

#include <stddef.h>

#include "addr.h"
#include "fwd_config.h"

/* The addresses most interface names and listen addresses can give. */
#define FWD_LISTEN_MAX 64

/* Fills out[0..*n) with cfg's port on: every listen-address; every address of each
 * interface= name and of the loopback interface (dnsmasq adds it whenever interfaces are
 * named); or 127.0.0.1 when neither is given. IPv6 link-local addresses are left out.
 * Returns 0; -ENODEV (logged, naming it) when a named interface has no address; -ENOBUFS
 * beyond cap; or a getifaddrs error. */
int fwd_listen_addresses(const struct fwd_config *cfg, struct addr *out, size_t cap, size_t *n);

#endif
