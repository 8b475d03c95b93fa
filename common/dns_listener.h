/* The UDP and TCP DNS listener that the three daemons share.
 *
 * UDP runs on its own non-blocking sockets driven by uv_poll_t: datagrams are read with
 * recvmmsg in batches, and the replies a query callback produces while the batch is being
 * handled are queued and leave with one sendmmsg when the batch ends. Nothing is allocated per
 * UDP query. TCP runs on uv_tcp_t with RFC 1035 4.2.2 framing (a 2-byte length before each
 * message), pipelining, a per-connection limit of queries in progress, an idle timeout and a
 * fixed table of connections. A zero-length frame, or the end of the client's stream, closes a
 * connection; answers still to come for it are dropped. On a wildcard address (0.0.0.0, ::)
 * UDP replies leave from the address each query was sent to.
 *
 * Everything runs on one loop and is not thread-safe; for several cores run one listener per
 * loop and thread, each bound with `reuseport`. */
#ifndef PK_DNS_LISTENER_H
#define PK_DNS_LISTENER_H

#include "addr.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

enum dns_transport {
    DNS_TRANSPORT_UDP = 0,
    DNS_TRANSPORT_TCP = 1,
    DNS_TRANSPORT_HTTP = 2, /* pkdns's DNS over HTTP; the listener never produces it */
};

/* Who asked: everything needed to answer later. Copied by value; it holds no pointers. */
struct dns_client {
    struct addr peer;
    uint8_t transport;     /* enum dns_transport */
    uint8_t has_local_ip;  /* UDP on a wildcard socket: local_ip is the address queried */
    uint32_t socket_index; /* the endpoint (dns_listener_bind call) the query came in on */
    uint32_t local_ifindex;
    uint8_t local_ip[16]; /* IPv4 in the first 4 bytes; the reply's source address */
    uint64_t conn_id;     /* TCP: generation << 32 | slot, so a closed connection never matches */
};

/* Called once per query. `msg` (at least a DNS header long) is valid during the call only.
 * Every TCP query must be settled with dns_listener_send or dns_listener_done, now or later. */
typedef void (*dns_listener_query_cb)(void *user, const struct dns_client *client,
                                      const uint8_t *msg, size_t len);

/* A field left 0 takes its default. */
struct dns_listener_config {
    uint32_t max_tcp_clients;     /* default 128, at most 65536 */
    uint32_t tcp_idle_timeout_ms; /* default 10000 */
    uint32_t tcp_max_pending;     /* queries in progress per connection, default 32 */
    uint32_t udp_batch;           /* datagrams per recvmmsg, default 32, at most 64 */
    bool reuseport;               /* SO_REUSEPORT, for N loops on N threads */
    bool start_paused;            /* bound sockets queue what comes until dns_listener_resume */
};

/* Counters since dns_listener_new. udp_received counts every datagram read, including those
 * then dropped as short or truncated. */
struct dns_listener_stats {
    uint64_t udp_received;
    uint64_t udp_sent;
    uint64_t udp_send_errors;  /* replies dropped: EAGAIN, or the kernel refused them */
    uint64_t udp_send_batches; /* flushes of replies queued during a batch (sendmmsg) */
    uint64_t udp_truncated;    /* datagrams longer than a receive slot, dropped */
    uint64_t short_dropped;    /* UDP datagrams and TCP frames shorter than a DNS header */
    uint64_t tcp_accepted;
    uint64_t tcp_rejected; /* connections beyond max_tcp_clients, closed at once */
    uint64_t tcp_idle_closed;
    uint64_t tcp_received;
    uint64_t tcp_sent;
};

struct dns_listener;

/* Creates a listener on `loop` that calls `cb(user, ...)` for each query; cfg NULL means the
 * defaults. Binds nothing yet. Returns 0, -EINVAL for a config out of range, or -ENOMEM. */
int dns_listener_new(uv_loop_t *loop, const struct dns_listener_config *cfg,
                     dns_listener_query_cb cb, void *user, struct dns_listener **out);

/* Binds UDP and TCP on `addr`, both on the same port (port 0 picks one free for both); IPv6 is
 * IPv6-only. May be called several times; the i-th successful call is endpoint i. Returns 0 or
 * the bind error (-EADDRINUSE, -EACCES, ...), after logging a line that names the address. */
int dns_listener_bind(struct dns_listener *l, const struct addr *addr);

/* Starts reading the endpoints of a listener made with start_paused: the datagrams and TCP
 * connections the kernel queued meanwhile are served then. Endpoints bound later start at
 * once. Returns 0, or the first error (the endpoint that failed stays silent). */
int dns_listener_resume(struct dns_listener *l);

/* Writes the actual address of endpoint i (with the port picked for port 0) to `out`.
 * Returns 0, or -ENOENT when there is no endpoint i. */
int dns_listener_local_addr(const struct dns_listener *l, size_t i, struct addr *out);

/* Answers `c`; msg is copied. UDP inside a query callback is queued and sent when the batch
 * ends, otherwise at once (-EAGAIN: dropped and counted). TCP is written with its length prefix
 * and settles the query; -ENOTCONN when the connection is gone. After any other error
 * (-EMSGSIZE over 65535 bytes, -ENOMEM) a TCP query is still pending: answer or settle it. */
int dns_listener_send(struct dns_listener *l, const struct dns_client *c, const uint8_t *msg,
                      size_t len);

/* Settles a query that gets no answer, so its TCP connection may read more (no-op for UDP and
 * for connections already closed). */
void dns_listener_done(struct dns_listener *l, const struct dns_client *c);

/* Copies the counters to `out`. */
void dns_listener_stats(const struct dns_listener *l, struct dns_listener_stats *out);

/* Stops listening and closes every connection and handle; `cb(arg)` (may be NULL) runs once
 * all close callbacks ran and the listener is freed. Nothing may use `l` after this call. */
void dns_listener_close(struct dns_listener *l, void (*cb)(void *arg), void *arg);

#endif
