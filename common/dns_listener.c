/* The listener's lifecycle, binding and public API; the UDP batches are in
 * dns_listener_udp.c and the TCP connections in dns_listener_tcp.c. */
#include "dns_listener_int.h"

#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* RFC 1035 4.2.2: the 2-byte length prefix bounds a TCP message, and so any reply. */
#define TCP_FRAME_MAX_BYTES 65535

#define UDP_BATCH_DEFAULT 32
/* Room for a burst at a few hundred thousand queries a second; the kernel caps it at
 * net.core.rmem_max, and a smaller buffer is no error. */
#define UDP_RCVBUF_BYTES (4 * 1024 * 1024)

#define TCP_MAX_CLIENTS_DEFAULT 128
#define TCP_MAX_CLIENTS_LIMIT 65536
#define TCP_IDLE_TIMEOUT_MS_DEFAULT 10000
#define TCP_MAX_PENDING_DEFAULT 32

/* Port 0: the free UDP port may be taken for TCP; pick another that many times. */
#define BIND_PORT_ZERO_ATTEMPTS 8

/* ---- lifetime ---- */

static void dns_listener_free_memory(struct dns_listener *l)
{
    free(l->endpoints);
    free(l->rx_data);
    free(l->tx_data);
    free(l->conns);
    free(l->free_slots);
    free(l->tcp_read_buf);
    free(l);
}

void dns_listener_handle_closed(struct dns_listener *l)
{
    void (*cb)(void *arg) = l->close_cb;
    void *arg = l->close_arg;

    l->handles_open--;
    if (!l->closing || l->handles_open > 0) {
        return;
    }
    dns_listener_free_memory(l);
    if (cb != NULL) {
        cb(arg);
    }
}

static void dns_listener_on_idle_closed(uv_handle_t *handle)
{
    dns_listener_handle_closed(handle->data);
}

static int dns_listener_config_resolve(const struct dns_listener_config *in,
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

int dns_listener_new(uv_loop_t *loop, const struct dns_listener_config *cfg,
                     dns_listener_query_cb cb, void *user, struct dns_listener **out)
{
    struct dns_listener_config resolved;
    struct dns_listener *l;
    int rc;

    *out = NULL;
    rc = dns_listener_config_resolve(cfg, &resolved);
    if (rc < 0) {
        return rc;
    }
    l = calloc(1, sizeof(*l));
    if (l == NULL) {
        return -ENOMEM;
    }
    l->loop = loop;
    l->cfg = resolved;
    l->paused = resolved.start_paused;
    l->cb = cb;
    l->user = user;
    l->rx_data = malloc((size_t)resolved.udp_batch * UDP_SLOT_BYTES);
    l->tx_data = malloc((size_t)resolved.udp_batch * UDP_SLOT_BYTES);
    l->conns = calloc(resolved.max_tcp_clients, sizeof(*l->conns));
    l->free_slots = calloc(resolved.max_tcp_clients, sizeof(*l->free_slots));
    l->tcp_read_buf = malloc(TCP_READ_BUF_BYTES);
    if (l->rx_data == NULL || l->tx_data == NULL || l->conns == NULL || l->free_slots == NULL ||
        l->tcp_read_buf == NULL) {
        dns_listener_free_memory(l);
        return -ENOMEM;
    }
    dns_listener_udp_prepare(l);
    dns_listener_tcp_prepare(l);

    rc = uv_idle_init(loop, &l->resume_idle);
    if (rc < 0) {
        dns_listener_free_memory(l);
        return rc;
    }
    l->resume_idle.data = l;
    uv_idle_init(loop, &l->tx_idle);
    l->tx_idle.data = l;
    l->handles_open = 2;
    *out = l;
    return 0;
}

/* ---- binding ---- */

static int dns_listener_socket_set(int fd, int level, int name, int value)
{
    return setsockopt(fd, level, name, &value, sizeof(value)) == 0 ? 0 : -errno;
}

/* Opens a non-blocking socket of `type` bound to `a`, with the options both kinds share. */
static int dns_listener_socket_open(int type, const struct addr *a, bool reuseport)
{
    int family = a->sa.ss_family;
    int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int rc = 0;

    if (fd < 0) {
        return -errno;
    }
    if (type == SOCK_STREAM) {
        rc = dns_listener_socket_set(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    }
    if (rc == 0 && reuseport) {
        rc = dns_listener_socket_set(fd, SOL_SOCKET, SO_REUSEPORT, 1);
    }
    if (rc == 0 && family == AF_INET6) {
        rc = dns_listener_socket_set(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
    }
    if (rc == 0 && type == SOCK_DGRAM) {
        (void)dns_listener_socket_set(fd, SOL_SOCKET, SO_RCVBUF,
                                      UDP_RCVBUF_BYTES); /* best effort */
    }
    if (rc == 0 && type == SOCK_DGRAM && addr_is_any(a)) {
        rc = family == AF_INET ? dns_listener_socket_set(fd, IPPROTO_IP, IP_PKTINFO, 1)
                               : dns_listener_socket_set(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
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
static int dns_listener_open_sockets(const struct addr *want, bool reuseport,
                                     struct listen_endpoint *ep, int *tcp_fd, const char **proto)
{
    for (int attempt = 1;; attempt++) {
        struct sockaddr_storage bound;
        socklen_t bound_len = sizeof(bound);
        struct addr tcp_addr = *want;
        int rc;

        *proto = "UDP";
        ep->udp_fd = dns_listener_socket_open(SOCK_DGRAM, want, reuseport);
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
            rc = *tcp_fd = dns_listener_socket_open(SOCK_STREAM, &tcp_addr, reuseport);
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

static void dns_listener_endpoint_on_closed(uv_handle_t *handle)
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
    dns_listener_handle_closed(l);
}

static void dns_listener_endpoint_close(struct listen_endpoint *ep)
{
    uv_close((uv_handle_t *)&ep->udp_poll, dns_listener_endpoint_on_closed);
    uv_close((uv_handle_t *)&ep->tcp, dns_listener_endpoint_on_closed);
}

/* Wraps the two bound sockets in handles and starts them. On failure the handles are closed
 * and the endpoint frees itself from the close callbacks. */
/* The sockets listen from the start (the kernel queues for them); this starts reading them. */
static int dns_listener_endpoint_read(struct listen_endpoint *ep)
{
    int rc = dns_listener_tcp_listen(ep);

    return rc == 0 ? dns_listener_udp_start(ep) : rc;
}

static int dns_listener_endpoint_start(struct dns_listener *l, struct listen_endpoint *ep,
                                       int tcp_fd)
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
    if (rc == 0 && !l->paused) {
        rc = dns_listener_endpoint_read(ep);
    }
    if (rc < 0) {
        dns_listener_endpoint_close(ep);
    }
    return rc;
}

static int dns_listener_grow_endpoints(struct dns_listener *l)
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
    rc = dns_listener_grow_endpoints(l);
    ep = rc == 0 ? calloc(1, sizeof(*ep)) : NULL;
    if (ep == NULL) {
        return -ENOMEM;
    }
    ep->owner = l;
    ep->index = (uint32_t)l->endpoint_count;

    rc = dns_listener_open_sockets(addr, l->cfg.reuseport, ep, &tcp_fd, &proto);
    if (rc < 0) {
        free(ep);
    } else {
        proto = "UDP and TCP";
        rc = dns_listener_endpoint_start(l, ep, tcp_fd);
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

int dns_listener_resume(struct dns_listener *l)
{
    int first = 0;

    if (!l->paused) {
        return 0;
    }
    l->paused = false;
    for (size_t i = 0; i < l->endpoint_count; i++) {
        int rc = dns_listener_endpoint_read(l->endpoints[i]);
        if (rc < 0 && first == 0) {
            first = rc;
        }
    }
    return first;
}

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
        return dns_listener_tcp_send(l, c, msg, len);
    }
    return dns_listener_udp_send(l, c, msg, len);
}

void dns_listener_done(struct dns_listener *l, const struct dns_client *c)
{
    if (c->transport == DNS_TRANSPORT_TCP) {
        dns_listener_tcp_done(l, c);
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
        dns_listener_endpoint_close(l->endpoints[i]);
    }
    dns_listener_tcp_close_all(l);
    dns_listener_udp_flush(l);
    uv_close((uv_handle_t *)&l->resume_idle, dns_listener_on_idle_closed);
    uv_close((uv_handle_t *)&l->tx_idle, dns_listener_on_idle_closed);
}
