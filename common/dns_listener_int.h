/* Private to the listener: the structures its three files share and the functions they call
 * across. dns_listener.c owns the lifecycle, binding and the public API; dns_listener_udp.c the
 * UDP batches; dns_listener_tcp.c the connection table. Nothing outside common/dns_listener*.c
 * includes this. */
#ifndef PK_DNS_LISTENER_INT_H
#define PK_DNS_LISTENER_INT_H

#include "dns_listener.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#define LISTEN_TAG "listen"

/* RFC 1035 4.1.1: every message starts with a 12-byte header. */
#define DNS_HEADER_BYTES 12

/* Queries are small even with EDNS, so a receive slot is 4 KiB rather than 64 KiB; a longer
 * datagram comes back with MSG_TRUNC and is dropped. Queued replies use slots of the same size;
 * a longer reply is sent at once. */
#define UDP_SLOT_BYTES 4096
#define UDP_BATCH_MAX 64

#define TCP_BACKLOG 1024
/* One read of whole frames goes here and is handled in place; only the bytes of a frame not
 * yet complete are copied to the connection. */
#define TCP_READ_BUF_BYTES 65536

/* Room for one IP_PKTINFO or IPV6_PKTINFO control message. */
union udp_control {
    struct cmsghdr align;
    uint8_t bytes[CMSG_SPACE(sizeof(struct in6_pktinfo))];
};

/* One dns_listener_bind: a UDP socket and a TCP listener on the same address and port. Freed
 * when both handles are closed. */
struct listen_endpoint {
    struct dns_listener *owner;
    uint32_t index;
    int udp_fd;          /* owned; closed in the poll handle's close callback */
    bool udp_wildcard;   /* bound to 0.0.0.0 or ::, so replies name their source address */
    bool accept_failing; /* the last accept failed; logged once per run of failures */
    int handles_open;
    struct addr local;
    uv_poll_t udp_poll;
    uv_tcp_t tcp;
};

/* A slot of the connection table. The slot is reused only after both handles are closed. */
struct tcp_conn {
    uv_tcp_t handle;
    uv_timer_t idle_timer;
    struct dns_listener *owner;
    struct dns_client client; /* handed to the query callback */
    uint32_t slot;
    uint32_t generation;
    uint32_t pending;          /* queries delivered and not yet settled */
    uint32_t writes_in_flight; /* uv_write requests whose callback has not run */
    int handles_open;
    bool in_use;
    bool closing;
    bool paused;        /* reading stopped at the pending or write-queue limit */
    bool resume_queued; /* on the listener's resume list (may outlive the connection) */
    uint32_t resume_next;
    uint8_t *rbuf; /* received bytes not yet handled: a partial frame, or frames held back */
    size_t rlen;
    size_t rcap;
};

struct dns_listener {
    uv_loop_t *loop;
    struct dns_listener_config cfg;
    dns_listener_query_cb cb;
    void *user;
    struct dns_listener_stats stats;

    bool paused; /* cfg.start_paused until dns_listener_resume */
    struct listen_endpoint **endpoints;
    size_t endpoint_count;
    size_t endpoint_cap;

    /* UDP batches. One poll callback runs at a time, so every socket shares these. */
    struct listen_endpoint *batch_endpoint; /* set while a batch is handed to the callback */
    struct listen_endpoint *tx_endpoint;    /* whose socket the queued replies leave from */
    uint8_t *rx_data;
    uint8_t *tx_data;
    size_t tx_count;
    struct mmsghdr rx_msgs[UDP_BATCH_MAX];
    struct iovec rx_iov[UDP_BATCH_MAX];
    struct sockaddr_storage rx_names[UDP_BATCH_MAX];
    union udp_control rx_control[UDP_BATCH_MAX];
    struct mmsghdr tx_msgs[UDP_BATCH_MAX];
    struct iovec tx_iov[UDP_BATCH_MAX];
    struct sockaddr_storage tx_names[UDP_BATCH_MAX];
    union udp_control tx_control[UDP_BATCH_MAX];

    /* TCP connections. */
    struct tcp_conn *conns;
    uint32_t *free_slots;
    uint32_t free_count;
    bool tcp_full_logged;
    uint8_t *tcp_read_buf;
    uv_idle_t resume_idle; /* runs held-back frames of connections that may read again */
    uv_idle_t tx_idle;     /* sends replies queued outside a batch at the next loop turn */
    uint32_t resume_head;

    int handles_open;
    bool closing;
    void (*close_cb)(void *arg);
    void *close_arg;
};

/* ---- dns_listener.c ---- */

/* Counts one closed handle; the last one after dns_listener_close frees the listener and runs
 * its close callback. Every close callback of the listener's handles ends here. */
void dns_listener_handle_closed(struct dns_listener *l);

/* ---- dns_listener_udp.c ---- */

/* Points every batch slot at the listener's rx_data and tx_data buffers, which must be
 * allocated for cfg.udp_batch slots. */
void dns_listener_udp_prepare(struct dns_listener *l);

/* Starts reading datagrams on the endpoint's UDP socket. Returns 0 or a libuv error. */
int dns_listener_udp_start(struct listen_endpoint *ep);

/* Answers a UDP client: queued while its endpoint's batch is being handled, else sent at once.
 * Returns 0, -EINVAL for an unknown endpoint, or the send error (counted). */
/* Sends the replies queued so far with one sendmmsg; refused ones are counted. */
void dns_listener_udp_flush(struct dns_listener *l);

int dns_listener_udp_send(struct dns_listener *l, const struct dns_client *c, const uint8_t *msg,
                          size_t len);

/* ---- dns_listener_tcp.c ---- */

/* Fills the connection table with free slots; the listener's conns and free_slots must be
 * allocated for cfg.max_tcp_clients entries. */
void dns_listener_tcp_prepare(struct dns_listener *l);

/* Starts accepting connections on the endpoint's TCP handle. Returns 0 or a libuv error. */
int dns_listener_tcp_listen(struct listen_endpoint *ep);

/* Writes a framed reply to the client's connection and settles its query. Returns 0,
 * -ENOTCONN when the connection is gone, -ENOMEM, or the write error (the connection closes). */
int dns_listener_tcp_send(struct dns_listener *l, const struct dns_client *c, const uint8_t *msg,
                          size_t len);

/* Settles a TCP query that gets no answer; nothing happens when its connection is gone. */
void dns_listener_tcp_done(struct dns_listener *l, const struct dns_client *c);

/* Closes every open connection; each frees its slot from its close callbacks. */
void dns_listener_tcp_close_all(struct dns_listener *l);

#endif
