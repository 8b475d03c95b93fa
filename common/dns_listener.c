#include "dns_listener.h"

#include "log.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTEN_TAG "listen"

/* RFC 1035 4.1.1: every message starts with a 12-byte header. */
#define DNS_HEADER_BYTES 12
/* RFC 1035 4.2.2: over TCP each message is preceded by its length in 2 bytes. */
#define TCP_LENGTH_BYTES 2
#define TCP_FRAME_MAX_BYTES 65535

/* Queries are small even with EDNS, so a receive slot is 4 KiB rather than 64 KiB; a longer
 * datagram comes back with MSG_TRUNC and is dropped. Queued replies use slots of the same size;
 * a longer reply is sent at once. */
#define UDP_SLOT_BYTES 4096
#define UDP_BATCH_MAX 64
#define UDP_BATCH_DEFAULT 32
/* Batches read per wakeup, so that a UDP flood leaves the loop time for TCP and timers. */
#define UDP_BATCHES_PER_WAKEUP 4
/* Room for a burst at a few hundred thousand queries a second; the kernel caps it at
 * net.core.rmem_max, and a smaller buffer is no error. */
#define UDP_RCVBUF_BYTES (4 * 1024 * 1024)

#define TCP_MAX_CLIENTS_DEFAULT 128
#define TCP_MAX_CLIENTS_LIMIT 65536
#define TCP_IDLE_TIMEOUT_MS_DEFAULT 10000
#define TCP_MAX_PENDING_DEFAULT 32
#define TCP_BACKLOG 1024
/* One read of whole frames goes here and is handled in place; only the bytes of a frame not
 * yet complete are copied to the connection. */
#define TCP_READ_BUF_BYTES 65536
/* A connection whose replies pile up unread beyond this is not read until they drain. */
#define TCP_WRITE_QUEUE_MAX_BYTES (64 * 1024)
#define TCP_NO_SLOT UINT32_MAX

/* Port 0: the free UDP port may be taken for TCP; pick another that many times. */
#define BIND_PORT_ZERO_ATTEMPTS 8

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

/* A TCP reply: the write request, then the length prefix and the message. */
struct tcp_write {
    uv_write_t req;
    uint8_t bytes[];
};

struct dns_listener {
    uv_loop_t *loop;
    struct dns_listener_config cfg;
    dns_listener_query_cb cb;
    void *user;
    struct dns_listener_stats stats;

    struct listen_endpoint **endpoints;
    size_t endpoint_count;
    size_t endpoint_cap;

    /* UDP batches. One poll callback runs at a time, so every socket shares these. */
    struct listen_endpoint *batch_endpoint; /* set while a batch is handed to the callback */
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
    uint32_t resume_head;

    int handles_open;
    bool closing;
    void (*close_cb)(void *arg);
    void *close_arg;
};

static void conn_close(struct tcp_conn *conn);
static void conn_process_rbuf(struct tcp_conn *conn);
static void listener_on_resume(uv_idle_t *idle);
static void tcp_on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf);
static void tcp_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

/* ---- lifetime ---- */

static void listener_free_memory(struct dns_listener *l)
{
    free(l->endpoints);
    free(l->rx_data);
    free(l->tx_data);
    free(l->conns);
    free(l->free_slots);
    free(l->tcp_read_buf);
    free(l);
}

/* Every close callback ends here; the last one after dns_listener_close frees the listener. */
static void listener_handle_closed(struct dns_listener *l)
{
    void (*cb)(void *arg) = l->close_cb;
    void *arg = l->close_arg;

    l->handles_open--;
    if (!l->closing || l->handles_open > 0) {
        return;
    }
    listener_free_memory(l);
    if (cb != NULL) {
        cb(arg);
    }
}

static void listener_on_idle_closed(uv_handle_t *handle)
{
    listener_handle_closed(handle->data);
}

static int listener_config_resolve(const struct dns_listener_config *in,
                                   struct dns_listener_config *out)
{
    struct dns_listener_config c = {0};

    if (in != NULL) {
        c = *in;
    }
    if (c.max_tcp_clients == 0) {
        c.max_tcp_clients = TCP_MAX_CLIENTS_DEFAULT;
    }
    if (c.tcp_idle_timeout_ms == 0) {
        c.tcp_idle_timeout_ms = TCP_IDLE_TIMEOUT_MS_DEFAULT;
    }
    if (c.tcp_max_pending == 0) {
        c.tcp_max_pending = TCP_MAX_PENDING_DEFAULT;
    }
    if (c.udp_batch == 0) {
        c.udp_batch = UDP_BATCH_DEFAULT;
    }
    if (c.udp_batch > UDP_BATCH_MAX || c.max_tcp_clients > TCP_MAX_CLIENTS_LIMIT) {
        return -EINVAL;
    }
    *out = c;
    return 0;
}

/* Points every batch slot at its buffers; what changes per datagram is set later. */
static void listener_prepare_batches(struct dns_listener *l)
{
    for (size_t i = 0; i < UDP_BATCH_MAX; i++) {
        if (i < l->cfg.udp_batch) {
            l->rx_iov[i].iov_base = l->rx_data + i * UDP_SLOT_BYTES;
            l->tx_iov[i].iov_base = l->tx_data + i * UDP_SLOT_BYTES;
        }
        l->rx_iov[i].iov_len = UDP_SLOT_BYTES;
        l->rx_msgs[i].msg_hdr.msg_iov = &l->rx_iov[i];
        l->rx_msgs[i].msg_hdr.msg_iovlen = 1;
        l->rx_msgs[i].msg_hdr.msg_name = &l->rx_names[i];
        l->tx_msgs[i].msg_hdr.msg_iov = &l->tx_iov[i];
        l->tx_msgs[i].msg_hdr.msg_iovlen = 1;
    }
}

static void listener_prepare_slots(struct dns_listener *l)
{
    uint32_t n = l->cfg.max_tcp_clients;

    for (uint32_t i = 0; i < n; i++) {
        l->conns[i].owner = l;
        l->conns[i].slot = i;
        l->conns[i].resume_next = TCP_NO_SLOT;
        l->free_slots[i] = n - 1 - i; /* slot 0 is taken first */
    }
    l->free_count = n;
    l->resume_head = TCP_NO_SLOT;
}

int dns_listener_new(uv_loop_t *loop, const struct dns_listener_config *cfg,
                     dns_listener_query_cb cb, void *user, struct dns_listener **out)
{
    struct dns_listener_config resolved;
    struct dns_listener *l;
    int rc;

    *out = NULL;
    rc = listener_config_resolve(cfg, &resolved);
    if (rc < 0) {
        return rc;
    }
    l = calloc(1, sizeof(*l));
    if (l == NULL) {
        return -ENOMEM;
    }
    l->loop = loop;
    l->cfg = resolved;
    l->cb = cb;
    l->user = user;
    l->rx_data = malloc((size_t)resolved.udp_batch * UDP_SLOT_BYTES);
    l->tx_data = malloc((size_t)resolved.udp_batch * UDP_SLOT_BYTES);
    l->conns = calloc(resolved.max_tcp_clients, sizeof(*l->conns));
    l->free_slots = calloc(resolved.max_tcp_clients, sizeof(*l->free_slots));
    l->tcp_read_buf = malloc(TCP_READ_BUF_BYTES);
    if (l->rx_data == NULL || l->tx_data == NULL || l->conns == NULL || l->free_slots == NULL ||
        l->tcp_read_buf == NULL) {
        listener_free_memory(l);
        return -ENOMEM;
    }
    listener_prepare_batches(l);
    listener_prepare_slots(l);

    rc = uv_idle_init(loop, &l->resume_idle);
    if (rc < 0) {
        listener_free_memory(l);
        return rc;
    }
    l->resume_idle.data = l;
    l->handles_open = 1;
    *out = l;
    return 0;
}

/* ---- UDP ---- */

/* Reads the destination address of a datagram from its IP_PKTINFO or IPV6_PKTINFO. */
static void udp_read_local(struct msghdr *h, struct dns_client *client)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(h); cm != NULL; cm = CMSG_NXTHDR(h, cm)) {
        if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo pi;
            memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
            memcpy(client->local_ip, &pi.ipi_addr, sizeof(pi.ipi_addr));
            client->local_ifindex = (uint32_t)pi.ipi_ifindex;
            client->has_local_ip = 1;
        } else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo pi;
            memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
            memcpy(client->local_ip, &pi.ipi6_addr, sizeof(pi.ipi6_addr));
            client->local_ifindex = pi.ipi6_ifindex;
            client->has_local_ip = 1;
        }
    }
}

/* Writes the control message that makes a reply leave from the address the query went to.
 * Returns its length, 0 when the client needs none. */
static size_t udp_write_local(union udp_control *control, const struct dns_client *c)
{
    struct cmsghdr *cm = &control->align;

    if (!c->has_local_ip) {
        return 0;
    }
    memset(control, 0, sizeof(*control));
    if (c->peer.sa.ss_family == AF_INET) {
        struct in_pktinfo pi = {0};
        memcpy(&pi.ipi_spec_dst, c->local_ip, sizeof(pi.ipi_spec_dst));
        cm->cmsg_level = IPPROTO_IP;
        cm->cmsg_type = IP_PKTINFO;
        cm->cmsg_len = CMSG_LEN(sizeof(pi));
        memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
        return CMSG_SPACE(sizeof(pi));
    }
    struct in6_pktinfo pi6 = {0};
    memcpy(&pi6.ipi6_addr, c->local_ip, sizeof(pi6.ipi6_addr));
    pi6.ipi6_ifindex = c->local_ifindex;
    cm->cmsg_level = IPPROTO_IPV6;
    cm->cmsg_type = IPV6_PKTINFO;
    cm->cmsg_len = CMSG_LEN(sizeof(pi6));
    memcpy(CMSG_DATA(cm), &pi6, sizeof(pi6));
    return CMSG_SPACE(sizeof(pi6));
}

/* Fills the name and control parts of a reply's header. */
static void udp_address_reply(struct msghdr *h, struct sockaddr_storage *name,
                              union udp_control *control, const struct dns_client *c)
{
    size_t control_len = udp_write_local(control, c);

    memcpy(name, &c->peer.sa, c->peer.len);
    h->msg_name = name;
    h->msg_namelen = c->peer.len;
    h->msg_control = control_len > 0 ? control : NULL;
    h->msg_controllen = control_len;
    h->msg_flags = 0;
}

/* Sends everything queued during the batch; refused or unsendable replies are counted. */
static void udp_flush(struct dns_listener *l, struct listen_endpoint *ep)
{
    size_t off = 0;

    if (l->tx_count == 0) {
        return;
    }
    l->stats.udp_send_batches++;
    while (off < l->tx_count) {
        int n = sendmmsg(ep->udp_fd, l->tx_msgs + off, (unsigned)(l->tx_count - off), 0);
        if (n > 0) {
            off += (size_t)n;
            l->stats.udp_sent += (uint64_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
            l->stats.udp_send_errors += l->tx_count - off;
            break;
        } else {
            /* sendmmsg reports an error only for the first message: drop it, send the rest. */
            l->stats.udp_send_errors++;
            off++;
        }
    }
    l->tx_count = 0;
}

static void udp_queue(struct dns_listener *l, const struct dns_client *c, const uint8_t *msg,
                      size_t len)
{
    size_t i = l->tx_count++;

    memcpy(l->tx_iov[i].iov_base, msg, len);
    l->tx_iov[i].iov_len = len;
    udp_address_reply(&l->tx_msgs[i].msg_hdr, &l->tx_names[i], &l->tx_control[i], c);
}

static int udp_send_now(struct dns_listener *l, struct listen_endpoint *ep,
                        const struct dns_client *c, const uint8_t *msg, size_t len)
{
    struct sockaddr_storage name;
    union udp_control control;
    /* sendmsg only reads the buffer; iov_base is not const for recvmsg's sake. */
    struct iovec iov = {.iov_base = (void *)(uintptr_t)msg, .iov_len = len};
    struct msghdr h = {.msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n;

    udp_address_reply(&h, &name, &control, c);
    do {
        n = sendmsg(ep->udp_fd, &h, MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        l->stats.udp_send_errors++;
        return -errno;
    }
    l->stats.udp_sent++;
    return 0;
}

static int udp_send(struct dns_listener *l, const struct dns_client *c, const uint8_t *msg,
                    size_t len)
{
    struct listen_endpoint *ep;

    if (c->socket_index >= l->endpoint_count) {
        return -EINVAL;
    }
    ep = l->endpoints[c->socket_index];
    if (ep != l->batch_endpoint || len > UDP_SLOT_BYTES) {
        return udp_send_now(l, ep, c, msg, len);
    }
    if (l->tx_count == l->cfg.udp_batch) {
        udp_flush(l, ep);
    }
    udp_queue(l, c, msg, len);
    return 0;
}

/* Hands one received datagram to the query callback, unless it cannot be a query. */
static void udp_deliver(struct dns_listener *l, struct listen_endpoint *ep, size_t i)
{
    struct msghdr *h = &l->rx_msgs[i].msg_hdr;
    size_t len = l->rx_msgs[i].msg_len;
    struct dns_client client;

    l->stats.udp_received++;
    if (h->msg_flags & MSG_TRUNC) {
        l->stats.udp_truncated++;
        return;
    }
    if (len < DNS_HEADER_BYTES) {
        l->stats.short_dropped++;
        return;
    }
    memset(&client, 0, sizeof(client));
    if (addr_from_sockaddr(h->msg_name, h->msg_namelen, &client.peer) < 0) {
        return;
    }
    client.transport = DNS_TRANSPORT_UDP;
    client.socket_index = ep->index;
    if (ep->udp_wildcard) {
        udp_read_local(h, &client);
    }
    l->cb(l->user, &client, l->rx_iov[i].iov_base, len);
}

/* Reads one batch and answers it; returns how many datagrams were read. */
static int udp_receive_batch(struct dns_listener *l, struct listen_endpoint *ep)
{
    unsigned batch = l->cfg.udp_batch;
    int n;

    for (unsigned i = 0; i < batch; i++) {
        struct msghdr *h = &l->rx_msgs[i].msg_hdr;
        h->msg_namelen = sizeof(l->rx_names[i]);
        h->msg_control = ep->udp_wildcard ? &l->rx_control[i] : NULL;
        h->msg_controllen = ep->udp_wildcard ? sizeof(l->rx_control[i]) : 0;
        h->msg_flags = 0;
    }
    do {
        n = recvmmsg(ep->udp_fd, l->rx_msgs, batch, MSG_DONTWAIT, NULL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            log_debug(LISTEN_TAG, "UDP receive failed: %s", strerror(errno));
        }
        return 0;
    }

    l->batch_endpoint = ep;
    for (int i = 0; i < n && !l->closing; i++) {
        udp_deliver(l, ep, (size_t)i);
    }
    l->batch_endpoint = NULL;
    udp_flush(l, ep);
    return n;
}

static void udp_on_readable(uv_poll_t *poll, int status, int events)
{
    struct listen_endpoint *ep = poll->data;
    struct dns_listener *l = ep->owner;

    (void)events;
    if (status < 0) {
        log_warn(LISTEN_TAG, "UDP socket poll failed: %s", uv_strerror(status));
        return;
    }
    for (int i = 0; i < UDP_BATCHES_PER_WAKEUP && !l->closing; i++) {
        if (udp_receive_batch(l, ep) < (int)l->cfg.udp_batch) {
            break;
        }
    }
}

/* ---- TCP connections ---- */

static struct tcp_conn *conn_lookup(struct dns_listener *l, uint64_t conn_id)
{
    uint32_t slot = (uint32_t)(conn_id & UINT32_MAX);
    struct tcp_conn *conn;

    if (slot >= l->cfg.max_tcp_clients) {
        return NULL;
    }
    conn = &l->conns[slot];
    if (!conn->in_use || conn->closing || conn->generation != (uint32_t)(conn_id >> 32)) {
        return NULL;
    }
    return conn;
}

static void conn_on_idle(uv_timer_t *timer)
{
    struct tcp_conn *conn = timer->data;

    conn->owner->stats.tcp_idle_closed++;
    conn_close(conn);
}

/* Restarts the idle timeout; it runs only while no query is in progress. */
static void conn_touch(struct tcp_conn *conn)
{
    if (!conn->closing && conn->pending == 0) {
        uv_timer_start(&conn->idle_timer, conn_on_idle, conn->owner->cfg.tcp_idle_timeout_ms, 0);
    }
}

static bool conn_over_limit(const struct tcp_conn *conn)
{
    return conn->pending >= conn->owner->cfg.tcp_max_pending ||
           uv_stream_get_write_queue_size((const uv_stream_t *)&conn->handle) >
               TCP_WRITE_QUEUE_MAX_BYTES;
}

static void conn_pause(struct tcp_conn *conn)
{
    if (!conn->paused) {
        uv_read_stop((uv_stream_t *)&conn->handle);
    }
    conn->paused = true;
}

/* A paused connection under its limits again goes on the resume list; the frames it holds
 * back are handed out from the idle callback, never from inside dns_listener_send. */
static void conn_resume_later(struct tcp_conn *conn)
{
    struct dns_listener *l = conn->owner;

    if (!conn->paused || conn->closing || conn_over_limit(conn) || conn->resume_queued) {
        return;
    }
    conn->resume_queued = true;
    conn->resume_next = l->resume_head;
    l->resume_head = conn->slot;
    uv_idle_start(&l->resume_idle, listener_on_resume);
}

static void conn_resume(struct tcp_conn *conn)
{
    int rc;

    if (!conn->in_use || conn->closing || !conn->paused || conn_over_limit(conn)) {
        return;
    }
    conn->paused = false;
    if (conn->rlen > 0) {
        conn_process_rbuf(conn);
        if (conn->closing || conn->paused) {
            return;
        }
    }
    rc = uv_read_start((uv_stream_t *)&conn->handle, tcp_on_alloc, tcp_on_read);
    if (rc < 0) {
        conn_close(conn);
    }
}

static void listener_on_resume(uv_idle_t *idle)
{
    struct dns_listener *l = idle->data;
    uint32_t slot = l->resume_head;

    l->resume_head = TCP_NO_SLOT;
    while (slot != TCP_NO_SLOT) {
        struct tcp_conn *conn = &l->conns[slot];
        slot = conn->resume_next;
        conn->resume_queued = false;
        conn_resume(conn);
    }
    if (l->resume_head == TCP_NO_SLOT) {
        uv_idle_stop(idle);
    }
}

/* A query is answered or dropped: the connection may read again. */
static void conn_settle(struct tcp_conn *conn)
{
    if (conn->pending > 0) {
        conn->pending--;
    }
    conn_touch(conn);
    conn_resume_later(conn);
}

static void conn_deliver(struct tcp_conn *conn, const uint8_t *msg, size_t len)
{
    struct dns_listener *l = conn->owner;

    if (len < DNS_HEADER_BYTES) {
        l->stats.short_dropped++;
        return;
    }
    l->stats.tcp_received++;
    conn->pending++;
    if (conn->pending == 1) {
        uv_timer_stop(&conn->idle_timer);
    }
    l->cb(l->user, &conn->client, msg, len);
}

/* Hands out the complete frames at the start of data; stops at a partial frame, at the
 * connection's limits, or when it closes. Returns the bytes used. */
static size_t conn_process(struct tcp_conn *conn, const uint8_t *data, size_t len)
{
    size_t off = 0;

    while (!conn->closing && len - off >= TCP_LENGTH_BYTES) {
        size_t frame = (size_t)data[off] << 8 | data[off + 1];
        if (frame == 0) {
            /* Our rule, not the RFC's: a zero-length frame asks us to hang up. */
            conn_close(conn);
            break;
        }
        if (len - off - TCP_LENGTH_BYTES < frame) {
            break;
        }
        if (conn_over_limit(conn)) {
            conn_pause(conn);
            break;
        }
        conn_deliver(conn, data + off + TCP_LENGTH_BYTES, frame);
        off += TCP_LENGTH_BYTES + frame;
    }
    return off;
}

static int conn_reserve(struct tcp_conn *conn, size_t cap)
{
    uint8_t *grown;

    if (conn->rcap >= cap) {
        return 0;
    }
    grown = realloc(conn->rbuf, cap);
    if (grown == NULL) {
        return -ENOMEM;
    }
    conn->rbuf = grown;
    conn->rcap = cap;
    return 0;
}

/* Handles the frames in rbuf and keeps what is left. */
static void conn_process_rbuf(struct tcp_conn *conn)
{
    size_t used = conn_process(conn, conn->rbuf, conn->rlen);

    if (conn->closing) {
        return; /* rbuf is freed in the close callback */
    }
    conn->rlen -= used;
    if (conn->rlen == 0) {
        free(conn->rbuf);
        conn->rbuf = NULL;
        conn->rcap = 0;
    } else if (used > 0) {
        memmove(conn->rbuf, conn->rbuf + used, conn->rlen);
    }
}

/* Reads into the shared buffer, or, while a frame is partly received, into rbuf exactly up to
 * its end, so that rbuf never holds a complete frame while reading. */
static void tcp_on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    struct tcp_conn *conn = handle->data;
    size_t want;

    (void)suggested;
    if (conn->rlen == 0) {
        *buf = uv_buf_init((char *)conn->owner->tcp_read_buf, TCP_READ_BUF_BYTES);
        return;
    }
    want = TCP_LENGTH_BYTES;
    if (conn->rlen >= TCP_LENGTH_BYTES) {
        want += (size_t)conn->rbuf[0] << 8 | conn->rbuf[1];
    }
    if (conn_reserve(conn, want) < 0) {
        *buf = uv_buf_init(NULL, 0); /* tcp_on_read gets UV_ENOBUFS */
        return;
    }
    *buf = uv_buf_init((char *)conn->rbuf + conn->rlen, (unsigned)(want - conn->rlen));
}

static void tcp_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct tcp_conn *conn = stream->data;
    const uint8_t *data = (const uint8_t *)buf->base;
    size_t used;

    if (nread < 0) {
        /* End of stream included: as other servers do, a client that stops sending is gone,
         * and answers still to come for it are dropped. */
        if (nread != UV_EOF) {
            log_debug(LISTEN_TAG, "TCP read failed: %s", uv_strerror((int)nread));
        }
        conn_close(conn);
        return;
    }
    if (nread == 0) {
        return;
    }
    conn_touch(conn);
    if (data != conn->owner->tcp_read_buf) {
        conn->rlen += (size_t)nread;
        conn_process_rbuf(conn);
        return;
    }

    used = conn_process(conn, data, (size_t)nread);
    if (conn->closing || used == (size_t)nread) {
        return;
    }
    if (conn_reserve(conn, (size_t)nread - used) < 0) {
        conn_close(conn);
        return;
    }
    memcpy(conn->rbuf, data + used, (size_t)nread - used);
    conn->rlen = (size_t)nread - used;
}

static void conn_on_closed(uv_handle_t *handle)
{
    struct tcp_conn *conn = handle->data;
    struct dns_listener *l = conn->owner;

    conn->handles_open--;
    if (conn->handles_open == 0) {
        free(conn->rbuf);
        conn->rbuf = NULL;
        conn->rlen = 0;
        conn->rcap = 0;
        conn->in_use = false;
        l->free_slots[l->free_count++] = conn->slot;
    }
    listener_handle_closed(l);
}

static void conn_close(struct tcp_conn *conn)
{
    if (conn->closing) {
        return;
    }
    conn->closing = true;
    uv_close((uv_handle_t *)&conn->handle, conn_on_closed);
    uv_close((uv_handle_t *)&conn->idle_timer, conn_on_closed);
}

static void tcp_on_written(uv_write_t *req, int status)
{
    struct tcp_conn *conn = req->handle->data;

    free((struct tcp_write *)req);
    conn->writes_in_flight--;
    if (conn->closing) {
        return;
    }
    if (status < 0) {
        log_debug(LISTEN_TAG, "TCP write failed: %s", uv_strerror(status));
        conn_close(conn);
        return;
    }
    conn->owner->stats.tcp_sent++;
    conn_touch(conn);
    conn_resume_later(conn);
}

static int tcp_send(struct dns_listener *l, const struct dns_client *c, const uint8_t *msg,
                    size_t len)
{
    struct tcp_conn *conn = conn_lookup(l, c->conn_id);
    struct tcp_write *w;
    uv_buf_t buf;
    int rc;

    if (conn == NULL) {
        return -ENOTCONN;
    }
    w = malloc(sizeof(*w) + TCP_LENGTH_BYTES + len);
    if (w == NULL) {
        return -ENOMEM;
    }
    w->bytes[0] = (uint8_t)(len >> 8);
    w->bytes[1] = (uint8_t)(len & 0xff);
    memcpy(w->bytes + TCP_LENGTH_BYTES, msg, len);
    buf = uv_buf_init((char *)w->bytes, (unsigned)(TCP_LENGTH_BYTES + len));

    rc = uv_write(&w->req, (uv_stream_t *)&conn->handle, &buf, 1, tcp_on_written);
    if (rc < 0) {
        free(w);
        conn_close(conn);
        return rc;
    }
    conn->writes_in_flight++;
    conn_settle(conn);
    return 0;
}

/* ---- accepting ---- */

static void tcp_on_rejected_closed(uv_handle_t *handle)
{
    struct dns_listener *l = handle->data;

    free(handle);
    listener_handle_closed(l);
}

/* The table is full: accept the connection and close it at once, so that the client learns
 * now rather than after its timeout, and libuv goes on accepting. */
static void tcp_reject(struct dns_listener *l, uv_stream_t *server)
{
    uv_tcp_t *tcp = malloc(sizeof(*tcp));

    if (tcp == NULL || uv_tcp_init(l->loop, tcp) < 0) {
        free(tcp);
        log_err(LISTEN_TAG, "out of memory rejecting a TCP connection");
        return;
    }
    tcp->data = l;
    l->handles_open++;
    if (uv_accept(server, (uv_stream_t *)tcp) == 0) {
        l->stats.tcp_rejected++;
    }
    uv_close((uv_handle_t *)tcp, tcp_on_rejected_closed);
    if (!l->tcp_full_logged) {
        log_warn(LISTEN_TAG, "TCP connection limit (%u) reached; closing new connections",
                 l->cfg.max_tcp_clients);
        l->tcp_full_logged = true;
    }
}

/* Takes the new connection into a free slot; returns 0 or an error after closing it. */
static int conn_open(struct tcp_conn *conn, struct listen_endpoint *ep, uv_stream_t *server)
{
    struct dns_listener *l = ep->owner;
    struct sockaddr_storage peer;
    int peer_len = sizeof(peer);
    int rc;

    /* Neither can fail: a TCP handle without a family opens no socket yet. */
    (void)uv_tcp_init(l->loop, &conn->handle);
    (void)uv_timer_init(l->loop, &conn->idle_timer);
    conn->handle.data = conn;
    conn->idle_timer.data = conn;
    conn->handles_open = 2;
    l->handles_open += 2;
    conn->in_use = true;
    conn->closing = conn->paused = false;
    conn->pending = conn->writes_in_flight = 0;
    conn->generation++;

    memset(&conn->client, 0, sizeof(conn->client));
    conn->client.transport = DNS_TRANSPORT_TCP;
    conn->client.socket_index = ep->index;
    conn->client.conn_id = (uint64_t)conn->generation << 32 | conn->slot;

    rc = uv_accept(server, (uv_stream_t *)&conn->handle);
    if (rc == 0) {
        rc = uv_tcp_getpeername(&conn->handle, (struct sockaddr *)&peer, &peer_len);
    }
    if (rc == 0) {
        rc = addr_from_sockaddr((struct sockaddr *)&peer, (socklen_t)peer_len, &conn->client.peer);
    }
    if (rc == 0) {
        rc = uv_read_start((uv_stream_t *)&conn->handle, tcp_on_alloc, tcp_on_read);
    }
    if (rc < 0) {
        conn_close(conn);
        return rc;
    }
    uv_tcp_nodelay(&conn->handle, 1);
    conn_touch(conn);
    return 0;
}

static void tcp_on_connection(uv_stream_t *server, int status)
{
    struct listen_endpoint *ep = server->data;
    struct dns_listener *l = ep->owner;
    char text[ADDR_TEXT_MAX];
    int rc = status;

    if (rc == 0 && l->free_count == 0) {
        tcp_reject(l, server);
        return;
    }
    if (rc == 0) {
        l->tcp_full_logged = false;
        rc = conn_open(&l->conns[l->free_slots[--l->free_count]], ep, server);
    }
    if (rc == 0) {
        l->stats.tcp_accepted++;
        ep->accept_failing = false;
    } else if (!ep->accept_failing) {
        log_warn(LISTEN_TAG, "accepting a TCP connection on %s failed: %s",
                 addr_format(&ep->local, text, sizeof(text)), uv_strerror(rc));
        ep->accept_failing = true;
    }
}

/* ---- binding ---- */

static int socket_set(int fd, int level, int name, int value)
{
    return setsockopt(fd, level, name, &value, sizeof(value)) == 0 ? 0 : -errno;
}

/* Opens a non-blocking socket of `type` bound to `a`, with the options both kinds share. */
static int socket_open_bound(int type, const struct addr *a, bool reuseport)
{
    int family = a->sa.ss_family;
    int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int rc = 0;

    if (fd < 0) {
        return -errno;
    }
    if (type == SOCK_STREAM) {
        rc = socket_set(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    }
    if (rc == 0 && reuseport) {
        rc = socket_set(fd, SOL_SOCKET, SO_REUSEPORT, 1);
    }
    if (rc == 0 && family == AF_INET6) {
        rc = socket_set(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
    }
    if (rc == 0 && type == SOCK_DGRAM) {
        (void)socket_set(fd, SOL_SOCKET, SO_RCVBUF, UDP_RCVBUF_BYTES); /* best effort */
    }
    if (rc == 0 && type == SOCK_DGRAM && addr_is_any(a)) {
        rc = family == AF_INET ? socket_set(fd, IPPROTO_IP, IP_PKTINFO, 1)
                               : socket_set(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
    }
    if (rc == 0 && bind(fd, (const struct sockaddr *)&a->sa, a->len) != 0) {
        rc = -errno;
    }
    if (rc == 0 && type == SOCK_STREAM && listen(fd, TCP_BACKLOG) != 0) {
        rc = -errno;
    }
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

/* Opens the UDP socket, then TCP on the port UDP got. Returns 0, or the error with `*proto`
 * naming the protocol that failed. */
static int endpoint_open_sockets(const struct addr *want, bool reuseport,
                                 struct listen_endpoint *ep, int *tcp_fd, const char **proto)
{
    for (int attempt = 1;; attempt++) {
        struct sockaddr_storage bound;
        socklen_t bound_len = sizeof(bound);
        struct addr tcp_addr = *want;
        int rc;

        *proto = "UDP";
        ep->udp_fd = socket_open_bound(SOCK_DGRAM, want, reuseport);
        if (ep->udp_fd < 0) {
            return ep->udp_fd;
        }
        rc = getsockname(ep->udp_fd, (struct sockaddr *)&bound, &bound_len) == 0 ? 0 : -errno;
        if (rc == 0) {
            rc = addr_from_sockaddr((struct sockaddr *)&bound, bound_len, &ep->local);
        }
        if (rc == 0) {
            *proto = "TCP";
            addr_set_port(&tcp_addr, addr_port(&ep->local));
            rc = *tcp_fd = socket_open_bound(SOCK_STREAM, &tcp_addr, reuseport);
        }
        if (rc >= 0) {
            ep->udp_wildcard = addr_is_any(want);
            return 0;
        }
        close(ep->udp_fd);
        if (rc != -EADDRINUSE || addr_port(want) != 0 || attempt == BIND_PORT_ZERO_ATTEMPTS) {
            return rc;
        }
    }
}

static void endpoint_on_closed(uv_handle_t *handle)
{
    struct listen_endpoint *ep = handle->data;
    struct dns_listener *l = ep->owner;

    if (handle == (uv_handle_t *)&ep->udp_poll) {
        close(ep->udp_fd);
    }
    ep->handles_open--;
    if (ep->handles_open == 0) {
        free(ep);
    }
    listener_handle_closed(l);
}

static void endpoint_close(struct listen_endpoint *ep)
{
    uv_close((uv_handle_t *)&ep->udp_poll, endpoint_on_closed);
    uv_close((uv_handle_t *)&ep->tcp, endpoint_on_closed);
}

/* Wraps the two bound sockets in handles and starts them. On failure the handles are closed
 * and the endpoint frees itself from the close callbacks. */
static int endpoint_start(struct dns_listener *l, struct listen_endpoint *ep, int tcp_fd)
{
    int rc = uv_poll_init_socket(l->loop, &ep->udp_poll, ep->udp_fd);

    if (rc < 0) {
        close(ep->udp_fd);
        close(tcp_fd);
        free(ep);
        return rc;
    }
    (void)uv_tcp_init(l->loop, &ep->tcp); /* no family: opens nothing, cannot fail */
    ep->udp_poll.data = ep;
    ep->tcp.data = ep;
    ep->handles_open = 2;
    l->handles_open += 2;

    rc = uv_tcp_open(&ep->tcp, tcp_fd);
    if (rc < 0) {
        close(tcp_fd); /* not taken over by the handle */
    }
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&ep->tcp, TCP_BACKLOG, tcp_on_connection);
    }
    if (rc == 0) {
        rc = uv_poll_start(&ep->udp_poll, UV_READABLE, udp_on_readable);
    }
    if (rc < 0) {
        endpoint_close(ep);
    }
    return rc;
}

static int listener_grow_endpoints(struct dns_listener *l)
{
    size_t cap = l->endpoint_cap == 0 ? 4 : l->endpoint_cap * 2;
    struct listen_endpoint **grown;

    if (l->endpoint_count < l->endpoint_cap) {
        return 0;
    }
    grown = realloc(l->endpoints, cap * sizeof(*grown));
    if (grown == NULL) {
        return -ENOMEM;
    }
    l->endpoints = grown;
    l->endpoint_cap = cap;
    return 0;
}

int dns_listener_bind(struct dns_listener *l, const struct addr *addr)
{
    struct listen_endpoint *ep;
    char text[ADDR_TEXT_MAX];
    const char *proto = "UDP";
    int tcp_fd = -1;
    int rc;

    if (addr->sa.ss_family != AF_INET && addr->sa.ss_family != AF_INET6) {
        return -EAFNOSUPPORT;
    }
    rc = listener_grow_endpoints(l);
    ep = rc == 0 ? calloc(1, sizeof(*ep)) : NULL;
    if (ep == NULL) {
        return -ENOMEM;
    }
    ep->owner = l;
    ep->index = (uint32_t)l->endpoint_count;

    rc = endpoint_open_sockets(addr, l->cfg.reuseport, ep, &tcp_fd, &proto);
    if (rc < 0) {
        free(ep);
    } else {
        proto = "UDP and TCP";
        rc = endpoint_start(l, ep, tcp_fd);
    }
    if (rc < 0) {
        log_err(LISTEN_TAG, "cannot listen on %s (%s): %s", addr_format(addr, text, sizeof(text)),
                proto, strerror(-rc));
        return rc;
    }
    l->endpoints[l->endpoint_count++] = ep;
    log_debug(LISTEN_TAG, "listening on %s (UDP and TCP)",
              addr_format(&ep->local, text, sizeof(text)));
    return 0;
}

/* ---- the rest of the API ---- */

int dns_listener_local_addr(const struct dns_listener *l, size_t i, struct addr *out)
{
    if (i >= l->endpoint_count) {
        return -ENOENT;
    }
    *out = l->endpoints[i]->local;
    return 0;
}

int dns_listener_send(struct dns_listener *l, const struct dns_client *c, const uint8_t *msg,
                      size_t len)
{
    if (len > TCP_FRAME_MAX_BYTES) {
        return -EMSGSIZE;
    }
    if (c->transport == DNS_TRANSPORT_TCP) {
        return tcp_send(l, c, msg, len);
    }
    return udp_send(l, c, msg, len);
}

void dns_listener_done(struct dns_listener *l, const struct dns_client *c)
{
    struct tcp_conn *conn;

    if (c->transport != DNS_TRANSPORT_TCP) {
        return;
    }
    conn = conn_lookup(l, c->conn_id);
    if (conn != NULL) {
        conn_settle(conn);
    }
}

void dns_listener_stats(const struct dns_listener *l, struct dns_listener_stats *out)
{
    *out = l->stats;
}

void dns_listener_close(struct dns_listener *l, void (*cb)(void *arg), void *arg)
{
    if (l->closing) {
        return;
    }
    l->closing = true;
    l->close_cb = cb;
    l->close_arg = arg;
    for (size_t i = 0; i < l->endpoint_count; i++) {
        endpoint_close(l->endpoints[i]);
    }
    for (uint32_t i = 0; i < l->cfg.max_tcp_clients; i++) {
        if (l->conns[i].in_use) {
            conn_close(&l->conns[i]);
        }
    }
    uv_close((uv_handle_t *)&l->resume_idle, listener_on_idle_closed);
}
