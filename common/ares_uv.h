/* c-ares driven by a libuv loop: one uv_poll_t per socket c-ares opens (from its sock-state
 * callback) and one uv_timer_t for its retransmissions and timeouts. Queries are made with the
 * ordinary c-ares calls on ares_uv_channel(), or with ares_uv_resolve for a bootstrap name. */
#ifndef PK_ARES_UV_H
#define PK_ARES_UV_H

#include "addr.h"

#include <ares.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct ares_uv;

/* Creates a channel on `loop` with the caller's options (may be NULL) plus the sock-state
 * callback, which this module owns. Servers come from resolv.conf or opts until
 * ares_uv_set_servers. Returns 0 and *out, or a negative code from ares_uv_error. */
int ares_uv_new(uv_loop_t *loop, const struct ares_options *opts, int optmask,
                struct ares_uv **out);

/* The c-ares channel, for ares_send/ares_query/ares_search; owned by the ares_uv. */
ares_channel ares_uv_channel(struct ares_uv *u);

/* Ends every pending query (callbacks run with ARES_ECANCELLED or ARES_EDESTRUCTION), destroys
 * the channel and closes the handles; memory goes once the last close callback ran, so run the
 * loop afterwards. NULL is a no-op. From a query callback run by the loop or ares_uv_resolve it
 * waits until c-ares has returned; never call it inside your own call into the channel. */
void ares_uv_free(struct ares_uv *u);

/* Replaces the servers (UDP and TCP on each address's port). Returns 0, -EBUSY while queries
 * are pending (c-ares 1.18 refuses then), -EINVAL for a v6 address with a scope id (c-ares
 * 1.18 cannot carry one), or another code from ares_uv_error. n = 0 leaves no servers. */
int ares_uv_set_servers(struct ares_uv *u, const struct addr *servers, size_t n);

/* Maps a c-ares status to 0 or a negative errno-style code:
 *   SUCCESS 0; ENODATA -ENODATA; ENOTFOUND, ENONAME -ENOENT; ETIMEOUT -ETIMEDOUT;
 *   ESERVFAIL -EREMOTEIO; EREFUSED -EACCES; ENOTIMP -EOPNOTSUPP; EFORMERR, EBADRESP -EBADMSG;
 *   ECONNREFUSED -ECONNREFUSED; ENOMEM -ENOMEM; ECANCELLED, EDESTRUCTION -ECANCELED;
 *   EBADQUERY, EBADNAME, EBADFAMILY, EBADFLAGS, EBADHINTS, EBADSTR, ESERVICE -EINVAL;
 *   anything else (EOF, EFILE, ENOTINITIALIZED, ...) -EIO. */
int ares_uv_error(int ares_status);

/* Called once with status 0 and the addresses (port set; valid only during the call), or with
 * a negative code from ares_uv_error and n = 0. */
typedef void (*ares_uv_resolve_cb)(void *user, int status, const struct addr *addrs, size_t n);

/* Resolves `host` (a name, an IPv4 address, or an IPv6 address with optional %scope) to
 * addresses with `port`, for names such as a DHT bootstrap "host:port" split by the caller.
 * A numeric host is answered without a query, before this returns. Returns 0 when cb will be
 * (or was) called, or a negative code and cb is not called. */
int ares_uv_resolve(struct ares_uv *u, const char *host, uint16_t port, ares_uv_resolve_cb cb,
                    void *user);

#endif
