/* The listener's UDP side: datagrams are read with recvmmsg in batches on non-blocking sockets
 * driven by uv_poll_t, and the replies the query callback gives while a batch is being handled
 * leave together with one sendmmsg when the batch ends. Nothing is allocated per query. */
#include "dns_listener_int.h"

#include "log.h"

#include <errno.h>
#include <string.h>

/* Batches read per wakeup, so that a UDP flood leaves the loop time for TCP and timers. */
#define UDP_BATCHES_PER_WAKEUP 4

/* Points every batch slot at its buffers; what changes per datagram is set later. */
void dns_listener_udp_prepare(struct dns_listener *l)
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

/* Reads the destination address of a datagram from its IP_PKTINFO or IPV6_PKTINFO. */
static void dns_listener_udp_read_local(struct msghdr *h, struct dns_client *client)
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
static size_t dns_listener_udp_write_local(union udp_control *control, const struct dns_client *c)
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
static void dns_listener_udp_address_reply(struct msghdr *h, struct sockaddr_storage *name,
                                           union udp_control *control, const struct dns_client *c)
{
    size_t control_len = dns_listener_udp_write_local(control, c);

    memcpy(name, &c->peer.sa, c->peer.len);
    h->msg_name = name;
    h->msg_namelen = c->peer.len;
    h->msg_control = control_len > 0 ? control : NULL;
    h->msg_controllen = control_len;
    h->msg_flags = 0;
}

void dns_listener_udp_flush(struct dns_listener *l)
{
    struct listen_endpoint *ep = l->tx_endpoint;
    size_t off = 0;

    if (l->tx_count == 0 || ep == NULL) {
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

static void dns_listener_udp_queue(struct dns_listener *l, const struct dns_client *c,
                                   const uint8_t *msg, size_t len)
{
    size_t i = l->tx_count++;

    memcpy(l->tx_iov[i].iov_base, msg, len);
    l->tx_iov[i].iov_len = len;
    dns_listener_udp_address_reply(&l->tx_msgs[i].msg_hdr, &l->tx_names[i], &l->tx_control[i], c);
}

static int dns_listener_udp_send_now(struct dns_listener *l, struct listen_endpoint *ep,
                                     const struct dns_client *c, const uint8_t *msg, size_t len)
{
    struct sockaddr_storage name;
    union udp_control control;
    /* sendmsg only reads the buffer; iov_base is not const for recvmsg's sake. */
    struct iovec iov = {.iov_base = (void *)(uintptr_t)msg, .iov_len = len};
    struct msghdr h = {.msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n;

    dns_listener_udp_address_reply(&h, &name, &control, c);
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

static void dns_listener_udp_on_idle(uv_idle_t *idle)
{
    struct dns_listener *l = idle->data;

    dns_listener_udp_flush(l);
    uv_idle_stop(idle);
}

int dns_listener_udp_send(struct dns_listener *l, const struct dns_client *c, const uint8_t *msg,
                          size_t len)
{
    struct listen_endpoint *ep;

    if (c->socket_index >= l->endpoint_count) {
        return -EINVAL;
    }
    ep = l->endpoints[c->socket_index];
    if (len > UDP_SLOT_BYTES || l->closing) {
        return dns_listener_udp_send_now(l, ep, c, msg, len);
    }
    if (l->tx_count == l->cfg.udp_batch || (l->tx_count > 0 && l->tx_endpoint != ep)) {
        dns_listener_udp_flush(l);
    }
    dns_listener_udp_queue(l, c, msg, len);
    l->tx_endpoint = ep;
    /* Replies made outside a receive batch (answers from upstream, timers) wait for the
     * loop's idle phase, which runs before it polls again and keeps that poll from blocking:
     * those made in one loop turn leave together in one sendmmsg. */
    if (l->batch_endpoint == NULL && !uv_is_active((uv_handle_t *)&l->tx_idle)) {
        uv_idle_start(&l->tx_idle, dns_listener_udp_on_idle);
    }
    return 0;
}

/* Hands one received datagram to the query callback, unless it cannot be a query. */
static void dns_listener_udp_deliver(struct dns_listener *l, struct listen_endpoint *ep, size_t i)
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
        dns_listener_udp_read_local(h, &client);
    }
    l->cb(l->user, &client, l->rx_iov[i].iov_base, len);
}

/* Reads one batch and answers it; returns how many datagrams were read. */
static int dns_listener_udp_receive_batch(struct dns_listener *l, struct listen_endpoint *ep)
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

    dns_listener_udp_flush(l);
    l->batch_endpoint = ep;
    for (int i = 0; i < n && !l->closing; i++) {
        dns_listener_udp_deliver(l, ep, (size_t)i);
    }
    l->batch_endpoint = NULL;
    dns_listener_udp_flush(l);
    return n;
}

static void dns_listener_udp_on_readable(uv_poll_t *poll, int status, int events)
{
    struct listen_endpoint *ep = poll->data;
    struct dns_listener *l = ep->owner;

    (void)events;
    if (status < 0) {
        log_warn(LISTEN_TAG, "UDP socket poll failed: %s", uv_strerror(status));
        return;
    }
    for (int i = 0; i < UDP_BATCHES_PER_WAKEUP && !l->closing; i++) {
        if (dns_listener_udp_receive_batch(l, ep) < (int)l->cfg.udp_batch) {
            break;
        }
    }
}

int dns_listener_udp_start(struct listen_endpoint *ep)
{
    return uv_poll_start(&ep->udp_poll, UV_READABLE, dns_listener_udp_on_readable);
}
