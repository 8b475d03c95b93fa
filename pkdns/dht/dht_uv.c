/* The node on a libuv loop: the sockets (recvmmsg in, sendmmsg out; one per family), the tick
 * timer, the prepare hook that sends what lookups queued before the loop waits, the state-file
 * timer, and the close sequence. */
#include "dht_uv.h"

#include "dht_uv_int.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DHT_UV_RX_ROUNDS 8 /* ours: batches read per wakeup, so a flood leaves timers time */

/* ---- sending ---- */

/* Sends the first count datagrams of the batch through fd. */
static void dht_uv_flush(struct dht_uv *d, int fd, unsigned count)
{
    unsigned off = 0;

    if (count == 0) {
        return;
    }
    d->stats.send_batches++;
    while (off < count) {
        int n = sendmmsg(fd, d->tx_msgs + off, count - off, MSG_DONTWAIT);
        if (n > 0) {
            off += (unsigned)n;
            d->stats.sent += (uint64_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
            d->stats.send_errors += count - off; /* a DHT lives with lost datagrams */
            break;
        } else {
            /* sendmmsg reports an error for the first message only: skip it, send the rest. */
            d->stats.send_errors++;
            off++;
        }
    }
}

/* Sends everything the node has queued, a batch at a time; a batch holds datagrams of one
 * family, as it goes out through one socket. */
static void dht_uv_drain(struct dht_uv *d)
{
    unsigned count = 0;
    int fd = d->fd;

    for (;;) {
        struct addr to;
        int len = dht_node_next_output(d->node, d->tx_data[count], DHT_NODE_DATAGRAM_MAX, &to);
        int to_fd = to.sa.ss_family == AF_INET6 ? d->fd6 : d->fd;
        if (len <= 0) {
            break;
        }
        if (to_fd < 0) {
            d->stats.send_errors++; /* the node sends IPv6 only when told it may */
            continue;
        }
        if (to_fd != fd && count > 0) {
            /* The datagram just taken waits in slot `count`; move it to the front after. */
            dht_uv_flush(d, fd, count);
            memmove(d->tx_data[0], d->tx_data[count], (size_t)len);
            count = 0;
        }
        fd = to_fd;
        memcpy(&d->tx_names[count], &to.sa, to.len);
        d->tx_iov[count].iov_len = (size_t)len;
        d->tx_msgs[count].msg_hdr.msg_namelen = to.len;
        if (++count == DHT_UV_TX_BATCH) {
            dht_uv_flush(d, fd, count);
            count = 0;
        }
    }
    dht_uv_flush(d, fd, count);
}

/* ---- timers ---- */

static void dht_uv_on_tick(uv_timer_t *timer)
{
    struct dht_uv *d = timer->data;

    d->armed_ms = UINT64_MAX;
    dht_node_tick(d->node, uv_now(d->loop));
}

/* Sets the tick timer for when the node next needs it, unless it is set for that already. */
static void dht_uv_arm(struct dht_uv *d)
{
    uint64_t now = uv_now(d->loop);
    uint64_t wait_ms = dht_node_timeout_ms(d->node, now);

    if (d->armed_ms == now + wait_ms) {
        return;
    }
    d->armed_ms = now + wait_ms;
    uv_timer_start(&d->timer, dht_uv_on_tick, wait_ms, 0);
}

/* Runs before the loop waits: whatever queued datagrams since (lookups started by the
 * program, callbacks, the tick) is sent now. */
static void dht_uv_on_prepare(uv_prepare_t *prepare)
{
    struct dht_uv *d = prepare->data;

    if (d->ready_due && !d->ready_called) {
        d->ready_called = true;
        if (d->ready != NULL) {
            d->ready(d->user, d->nbootstrap);
        }
    }
    dht_uv_drain(d);
    dht_uv_arm(d);
}

static void dht_uv_on_save(uv_timer_t *timer)
{
    struct dht_uv *d = timer->data;
    int rc = dht_uv_save(d);

    if (rc < 0) {
        log_warn(DHT_UV_TAG, "cannot write state file %s: %s", d->state_file, strerror(-rc));
    }
}

/* ---- receiving ---- */

static void dht_uv_deliver(struct dht_uv *d, unsigned i)
{
    struct msghdr *h = &d->rx_msgs[i].msg_hdr;
    size_t len = d->rx_msgs[i].msg_len;
    struct addr from;

    d->stats.received++;
    if ((h->msg_flags & MSG_TRUNC) != 0 || len > DHT_NODE_DATAGRAM_MAX) {
        d->stats.truncated++;
        return;
    }
    if (addr_from_sockaddr(h->msg_name, h->msg_namelen, &from) < 0 ||
        (from.sa.ss_family != AF_INET && from.sa.ss_family != AF_INET6)) {
        d->stats.not_ipv4++;
        return;
    }
    dht_node_input(d->node, d->rx_data[i], len, &from, uv_now(d->loop));
}

/* Reads and hands over one batch from fd; returns how many datagrams came. */
static int dht_uv_receive_batch(struct dht_uv *d, int fd)
{
    int n;

    for (unsigned i = 0; i < DHT_UV_RX_BATCH; i++) {
        d->rx_msgs[i].msg_hdr.msg_namelen = sizeof(d->rx_names[i]);
        d->rx_msgs[i].msg_hdr.msg_flags = 0;
    }
    do {
        n = recvmmsg(fd, d->rx_msgs, DHT_UV_RX_BATCH, MSG_DONTWAIT, NULL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            log_debug(DHT_UV_TAG, "receive failed: %s", strerror(errno));
        }
        return 0;
    }
    for (int i = 0; i < n && !d->closing; i++) {
        dht_uv_deliver(d, (unsigned)i);
    }
    /* Answers leave with each batch, so that a burst never fills the node's queue. */
    dht_uv_drain(d);
    return n;
}

/* Either socket is readable; both share the receive slots, which are free again when a
 * batch has been handed over. */
static void dht_uv_on_readable(uv_poll_t *poll, int status, int events)
{
    struct dht_uv *d = poll->data;
    int fd = poll == &d->poll6 ? d->fd6 : d->fd;

    (void)events;
    if (status < 0) {
        log_warn(DHT_UV_TAG, "socket poll failed: %s", uv_strerror(status));
        return;
    }
    for (int round = 0; round < DHT_UV_RX_ROUNDS && !d->closing; round++) {
        if (dht_uv_receive_batch(d, fd) < DHT_UV_RX_BATCH) {
            break;
        }
    }
}

/* ---- setting up ---- */

static void dht_uv_prepare_batches(struct dht_uv *d)
{
    for (unsigned i = 0; i < DHT_UV_RX_BATCH; i++) {
        d->rx_iov[i].iov_base = d->rx_data[i];
        d->rx_iov[i].iov_len = DHT_UV_SLOT_BYTES;
        d->rx_msgs[i].msg_hdr.msg_iov = &d->rx_iov[i];
        d->rx_msgs[i].msg_hdr.msg_iovlen = 1;
        d->rx_msgs[i].msg_hdr.msg_name = &d->rx_names[i];
    }
    for (unsigned i = 0; i < DHT_UV_TX_BATCH; i++) {
        d->tx_iov[i].iov_base = d->tx_data[i];
        d->tx_msgs[i].msg_hdr.msg_iov = &d->tx_iov[i];
        d->tx_msgs[i].msg_hdr.msg_iovlen = 1;
        d->tx_msgs[i].msg_hdr.msg_name = &d->tx_names[i];
    }
}

/* Opens a socket of `family` (the IPv6 one takes IPv6 only) bound to bind_text into *fd;
 * *bound gets the address with its port. */
static int dht_uv_bind(const char *bind_text, int family, uint32_t rcvbuf_bytes, int *fd,
                       struct addr *bound)
{
    struct addr want;
    socklen_t len = sizeof(bound->sa);
    int on = 1;

    if (bind_text == NULL || addr_parse(bind_text, 0, &want) < 0 || want.sa.ss_family != family) {
        return -EINVAL;
    }
    *fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (*fd < 0) {
        return -errno;
    }
    if (family == AF_INET6 && setsockopt(*fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) != 0) {
        return -errno;
    }
    if (rcvbuf_bytes > 0) {
        int size = (int)rcvbuf_bytes;
        setsockopt(*fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    }
    if (bind(*fd, (const struct sockaddr *)&want.sa, want.len) != 0 ||
        getsockname(*fd, (struct sockaddr *)&bound->sa, &len) != 0) {
        return -errno;
    }
    bound->len = len;
    return 0;
}

/* Makes the node, with the ID and contacts of the state file when there is one. */
static int dht_uv_make_node(struct dht_uv *d, const struct dht_uv_config *cfg)
{
    struct dht_uv_state saved;
    struct dht_node_config ncfg = cfg->node;
    bool warm = false;
    int rc;

    if (!addr_is_any(&d->bound)) {
        ncfg.own_addr = d->bound;
    }
    ncfg.ipv6 = d->fd6 >= 0;
    if (ncfg.ipv6 && !addr_is_any(&d->bound6)) {
        ncfg.own_addr6 = d->bound6;
    }
    if (d->state_file != NULL) {
        rc = dht_uv_state_read(d->state_file, &saved);
        if (rc == 0) {
            memcpy(ncfg.id, saved.id, KRPC_ID_LEN);
            warm = true;
        } else if (rc != -ENOENT) {
            log_warn(DHT_UV_TAG, "ignoring state file %s: %s", d->state_file, strerror(-rc));
        }
    }
    if ((rc = dht_node_new(&ncfg, uv_now(d->loop), &d->node)) < 0) {
        return rc;
    }
    d->nbootstrap = cfg->node.nbootstrap;
    if (warm && saved.nodes_len + saved.nodes6_len > 0) {
        int n4 = dht_node_import_nodes(d->node, saved.nodes, saved.nodes_len);
        int n6 = ncfg.ipv6 ? dht_node_import_nodes6(d->node, saved.nodes6, saved.nodes6_len) : 0;
        log_info(DHT_UV_TAG, "state file %s: %d saved nodes, %d IPv6", d->state_file, n4 + n6, n6);
    }
    return 0;
}

/* Starts the handles once the poll handle exists (the only one whose setup can fail). */
static int dht_uv_start_handles(struct dht_uv *d)
{
    uv_timer_init(d->loop, &d->timer);
    uv_timer_init(d->loop, &d->save);
    uv_prepare_init(d->loop, &d->prepare);
    d->open_handles = d->poll6_open ? 5 : 4;
    d->poll.data = d->timer.data = d->save.data = d->prepare.data = d;
    if (d->poll6_open) {
        int rc = uv_poll_start(&d->poll6, UV_READABLE, dht_uv_on_readable);
        if (rc < 0) {
            return rc;
        }
    }
    d->armed_ms = UINT64_MAX;
    uv_prepare_start(&d->prepare, dht_uv_on_prepare);
    if (d->state_file != NULL) {
        uv_timer_start(&d->save, dht_uv_on_save, d->save_interval_ms, d->save_interval_ms);
    }
    return uv_poll_start(&d->poll, UV_READABLE, dht_uv_on_readable);
}

static void dht_uv_on_close(uv_handle_t *handle)
{
    struct dht_uv *d = handle->data;

    if (--d->open_handles > 0) {
        return;
    }
    close(d->fd);
    if (d->fd6 >= 0) {
        close(d->fd6);
    }
    if (d->closed != NULL) {
        d->closed(d->closed_user);
    }
    free(d->state_file);
    free(d);
}

/* Undoes a dht_uv_new that failed before the handles started: at once, or, when the IPv6
 * poll handle was made, in its close callback. */
static void dht_uv_discard(struct dht_uv *d)
{
    if (d->poll6_open) {
        dht_node_free(d->node);
        d->node = NULL;
        d->closing = true;
        d->open_handles = 1;
        uv_close((uv_handle_t *)&d->poll6, dht_uv_on_close);
        return;
    }
    if (d->fd >= 0) {
        close(d->fd);
    }
    if (d->fd6 >= 0) {
        close(d->fd6);
    }
    dht_node_free(d->node);
    free(d->state_file);
    free(d);
}

/* The steps of dht_uv_new that need no handle. */
static int dht_uv_setup(struct dht_uv *d, const struct dht_uv_config *cfg)
{
    int rc;

    if (cfg->state_file != NULL && (d->state_file = strdup(cfg->state_file)) == NULL) {
        return -ENOMEM;
    }
    if ((rc = dht_uv_bind(cfg->bind, AF_INET, cfg->rcvbuf_bytes, &d->fd, &d->bound)) < 0) {
        return rc;
    }
    if (cfg->bind6 != NULL &&
        (rc = dht_uv_bind(cfg->bind6, AF_INET6, cfg->rcvbuf_bytes, &d->fd6, &d->bound6)) < 0) {
        return rc;
    }
    if ((rc = dht_uv_make_node(d, cfg)) < 0) {
        return rc;
    }
    if (d->fd6 >= 0) {
        if ((rc = uv_poll_init_socket(d->loop, &d->poll6, d->fd6)) < 0) {
            return rc;
        }
        d->poll6_open = true;
        d->poll6.data = d;
    }
    return uv_poll_init_socket(d->loop, &d->poll, d->fd);
}

int dht_uv_new(uv_loop_t *loop, const struct dht_uv_config *cfg, struct dht_uv **out)
{
    struct dht_uv *d = calloc(1, sizeof(*d));
    int rc;

    *out = NULL;
    if (d == NULL) {
        return -ENOMEM;
    }
    d->loop = loop;
    d->fd = -1;
    d->fd6 = -1;
    d->ready = cfg->ready;
    d->user = cfg->user;
    d->save_interval_ms = cfg->save_interval_ms > 0 ? cfg->save_interval_ms : DHT_UV_SAVE_MS;
    dht_uv_prepare_batches(d);
    if ((rc = dht_uv_setup(d, cfg)) < 0) {
        dht_uv_discard(d);
        return rc;
    }
    if ((rc = dht_uv_start_handles(d)) < 0 ||
        (rc = dht_uv_boot_add(d, dht_uv_bootstrap_list(cfg->bootstrap))) < 0) {
        dht_uv_close(d, NULL, NULL);
        return rc;
    }
    *out = d;
    return 0;
}

/* ---- closing ---- */

void dht_uv_close(struct dht_uv *d, void (*closed)(void *user), void *user)
{
    int rc;

    if (d == NULL || d->closing) {
        return;
    }
    if (d->state_file != NULL && (rc = dht_uv_save(d)) < 0) {
        log_warn(DHT_UV_TAG, "cannot write state file %s: %s", d->state_file, strerror(-rc));
    }
    d->closing = true;
    d->closed = closed;
    d->closed_user = user;
    ares_uv_free(d->resolver); /* cancelled names call back here and are ignored */
    d->resolver = NULL;
    dht_node_free(d->node);
    d->node = NULL;
    uv_close((uv_handle_t *)&d->poll, dht_uv_on_close);
    if (d->poll6_open) {
        uv_close((uv_handle_t *)&d->poll6, dht_uv_on_close);
    }
    uv_close((uv_handle_t *)&d->timer, dht_uv_on_close);
    uv_close((uv_handle_t *)&d->save, dht_uv_on_close);
    uv_close((uv_handle_t *)&d->prepare, dht_uv_on_close);
}

/* ---- the rest of the interface ---- */

struct dht_node *dht_uv_node(struct dht_uv *d)
{
    return d->node;
}

const struct addr *dht_uv_addr(const struct dht_uv *d)
{
    return &d->bound;
}

const struct addr *dht_uv_addr6(const struct dht_uv *d)
{
    return d->fd6 >= 0 ? &d->bound6 : NULL;
}

int dht_uv_add_bootstrap(struct dht_uv *d, const char *list)
{
    return dht_uv_boot_add(d, list);
}

int dht_uv_save(struct dht_uv *d)
{
    struct dht_uv_state st;
    int rc;

    if (d->state_file == NULL) {
        return -ENOENT;
    }
    memcpy(st.id, dht_node_id(d->node), KRPC_ID_LEN);
    st.nodes_len = dht_node_export_nodes(d->node, st.nodes, sizeof(st.nodes));
    st.nodes6_len = dht_node_export_nodes6(d->node, st.nodes6, sizeof(st.nodes6));
    rc = dht_uv_state_write(d->state_file, &st);
    if (rc == 0) {
        d->stats.saves++;
    }
    return rc;
}

const struct dht_uv_stats *dht_uv_stats(const struct dht_uv *d)
{
    return &d->stats;
}
