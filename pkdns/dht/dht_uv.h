/* A dht_node on a libuv loop: an IPv4 UDP socket, and when configured a second one bound to an
 * IPv6 address (BEP 32), read and written in batches (recvmmsg, sendmmsg); one timer that follows
 * dht_node_timeout_ms; bootstrap names ("host:port") resolved through ares_uv; and a state file
 * that keeps the node's ID and good contacts across restarts (saved every few minutes and at close,
 * read at start).
 *
 * Lookups are started on dht_uv_node() with the calls of dht_lookup.h, from anywhere on the
 * loop's thread: what they queue is sent before the loop next waits, and their callbacks run
 * from the loop. The node is not thread-safe. */
#ifndef PK_DHT_UV_H
#define PK_DHT_UV_H

#include "addr.h"
#include "ares_uv.h"
#include "dht_node.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* BEP 5 practice: the well-known routers, used when a configuration names none. */
#define DHT_UV_DEFAULT_BOOTSTRAP                                                                   \
    "router.bittorrent.com:6881,dht.transmissionbt.com:6881,dht.libtorrent.org:25401,"             \
    "router.utorrent.com:6881"
#define DHT_UV_SAVE_MS (5ull * 60 * 1000) /* ours: the state file is rewritten this often */
#define DHT_UV_STATE_NODES 200            /* ours: contacts kept in the state file */

struct dht_uv_config {
    const char *bind;  /* "IPv4:port"; port 0 takes any free port */
    const char *bind6; /* "[IPv6]:port" for the IPv6 socket; NULL: IPv4 only */
    /* Comma-separated "host:port" names and addresses to bootstrap from; NULL:
     * DHT_UV_DEFAULT_BOOTSTRAP; "" none. */
    const char *bootstrap;
    const char *state_file;    /* NULL: none */
    uint64_t save_interval_ms; /* how often the state file is rewritten; 0: DHT_UV_SAVE_MS */
    /* The node's settings; bootstrap, own_addr, own_addr6 and ipv6 are filled in from the
     * above. */
    struct dht_node_config node;
    /* Called once from the loop when every bootstrap name is resolved (or failed), so that
     * lookups find someone to ask; may be NULL. */
    void (*ready)(void *user, size_t nbootstrap);
    void *user;
    uint32_t rcvbuf_bytes; /* socket receive buffer; 0: the system's default */
};

/* Counters of the socket layer (the node's own are in dht_node_stats). */
struct dht_uv_stats {
    uint64_t received;     /* datagrams read */
    uint64_t truncated;    /* longer than DHT_NODE_DATAGRAM_MAX: dropped */
    uint64_t not_ipv4;     /* from a source we cannot answer (neither family): dropped */
    uint64_t sent;         /* datagrams the kernel took */
    uint64_t send_errors;  /* datagrams lost to send errors */
    uint64_t send_batches; /* sendmmsg calls */
    uint64_t saves;        /* state files written */
};

struct dht_uv;

/* Binds the socket(s), reads the state file, creates the node and starts resolving the
 * bootstrap names. Strings in cfg are copied. Returns 0; -EINVAL for a bad bind address or
 * bootstrap entry, a socket error (-EADDRINUSE, ...), or -ENOMEM. */
int dht_uv_new(uv_loop_t *loop, const struct dht_uv_config *cfg, struct dht_uv **out);

/* Saves the state file, stops the node (lookups end without callbacks) and closes every
 * handle; memory is freed in the last close callback, after which `closed` (may be NULL)
 * runs. NULL is a no-op. Not from inside a lookup callback of this node. */
void dht_uv_close(struct dht_uv *d, void (*closed)(void *user), void *user);

/* The node, for dht_lookup.h and the read-only accessors of dht_node.h. */
struct dht_node *dht_uv_node(struct dht_uv *d);

/* The address the socket is bound to (the port filled in when 0 was asked for). */
const struct addr *dht_uv_addr(const struct dht_uv *d);

/* The address the IPv6 socket is bound to, or NULL when there is none. */
const struct addr *dht_uv_addr6(const struct dht_uv *d);

/* The bootstrap list a node configured with `configured` starts from: DHT_UV_DEFAULT_BOOTSTRAP
 * for NULL, `configured` itself otherwise ("" is none). */
const char *dht_uv_bootstrap_list(const char *configured);

/* Resolves more "host:port" entries (comma-separated) and gives them to the node as
 * bootstrap addresses. Returns 0, or -EINVAL for an entry that is not host:port. */
int dht_uv_add_bootstrap(struct dht_uv *d, const char *list);

/* Writes the state file now (temporary file, then rename). Returns 0, -ENOENT when no state
 * file is configured, or the error of the write. */
int dht_uv_save(struct dht_uv *d);

/* The socket layer's counters. */
const struct dht_uv_stats *dht_uv_stats(const struct dht_uv *d);

#endif
