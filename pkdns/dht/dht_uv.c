/* The node on a libuv loop: the socket (recvmmsg in, sendmmsg out), the tick timer, the
 * prepare hook that sends what lookups queued before the loop waits, the state-file timer,
 * and the close sequence. */
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

static void dht_uv_flush(struct dht_uv *d, unsigned count)
{
    unsigned off = 0;

    if (count == 0) {
        return;
    }
    d->stats.send_batches++;
    while (off < count) {
        int n = sendmmsg(d->fd, d->tx_msgs + off, count - off, MSG_DONTWAIT);
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

/* Sends everything the node has queued, a batch at a time. */
static void dht_uv_drain(struct dht_uv *d)
{
    unsigned count = 0;

    for (;;) {
        struct addr to;
        int len = dht_node_next_output(d->node, d->tx_data[count], DHT_NODE_DATAGRAM_MAX, &to);
        if (len <= 0) {
            break;
        }
        memcpy(&d->tx_names[count], &to.sa, to.len);
        d->tx_iov[count].iov_len = (size_t)len;
        d->tx_msgs[count].msg_hdr.msg_namelen = to.len;
        if (++count == DHT_UV_TX_BATCH) {
            dht_uv_flush(d, count);
            count = 0;
        }
    }
    dht_uv_flush(d, count);
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
        from.sa.ss_family != AF_INET) {
        d->stats.not_ipv4++;
        return;
    }
    dht_node_input(d->node, d->rx_data[i], len, &from, uv_now(d->loop));
}

/* Reads and hands over one batch; returns how many datagrams came. */
static int dht_uv_receive_batch(struct dht_uv *d)
{
    int n;

    for (unsigned i = 0; i < DHT_UV_RX_BATCH; i++) {
        d->rx_msgs[i].msg_hdr.msg_namelen = sizeof(d->rx_names[i]);
        d->rx_msgs[i].msg_hdr.msg_flags = 0;
    }
    do {
        n = recvmmsg(d->fd, d->rx_msgs, DHT_UV_RX_BATCH, MSG_DONTWAIT, NULL);
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

static void dht_uv_on_readable(uv_poll_t *poll, int status, int events)
{
    struct dht_uv *d = poll->data;

    (void)events;
    if (status < 0) {
        log_warn(DHT_UV_TAG, "socket poll failed: %s", uv_strerror(status));
        return;
    }
    for (int round = 0; round < DHT_UV_RX_ROUNDS && !d->closing; round++) {
        if (dht_uv_receive_batch(d) < DHT_UV_RX_BATCH) {
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

/* Opens and binds the socket; d->bound gets the address with its port. */
static int dht_uv_bind(struct dht_uv *d, const char *bind_text, uint32_t rcvbuf_bytes)
{
    struct addr want;
    socklen_t len = sizeof(d->bound.sa);

    if (bind_text == NULL || addr_parse(bind_text, 0, &want) < 0 || want.sa.ss_family != AF_INET) {
        return -EINVAL;
    }
    d->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (d->fd < 0) {
        return -errno;
    }
    if (rcvbuf_bytes > 0) {
        int size = (int)rcvbuf_bytes;
        setsockopt(d->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    }
    if (bind(d->fd, (const struct sockaddr *)&want.sa, want.len) != 0 ||
        getsockname(d->fd, (struct sockaddr *)&d->bound.sa, &len) != 0) {
        return -errno;
    }
    d->bound.len = len;
    return 0;
}

/* Makes the node, with the ID and contacts of the state file when there is one. */
static int dht_uv_make_node(struct dht_uv *d, const struct dht_uv_config *cfg)
{
    uint8_t saved[DHT_UV_STATE_NODES * KRPC_NODE_LEN];
    struct dht_node_config ncfg = cfg->node;
    size_t saved_len = 0;
    int rc;

    if (!addr_is_any(&d->bound)) {
        ncfg.own_addr = d->bound;
    }
    if (d->state_file != NULL) {
        uint8_t id[KRPC_ID_LEN];
        rc = dht_uv_state_read(d->state_file, id, saved, sizeof(saved), &saved_len);
        if (rc == 0) {
            memcpy(ncfg.id, id, KRPC_ID_LEN);
        } else if (rc != -ENOENT) {
            log_warn(DHT_UV_TAG, "ignoring state file %s: %s", d->state_file, strerror(-rc));
        }
    }
    if ((rc = dht_node_new(&ncfg, uv_now(d->loop), &d->node)) < 0) {
        return rc;
    }
    d->nbootstrap = cfg->node.nbootstrap;
    if (saved_len > 0) {
        rc = dht_node_import_nodes(d->node, saved, saved_len);
        log_info(DHT_UV_TAG, "state file %s: %d saved nodes", d->state_file, rc);
    }
    return 0;
}

/* Starts the handles once the poll handle exists (the only one whose setup can fail). */
static int dht_uv_start_handles(struct dht_uv *d)
{
    uv_timer_init(d->loop, &d->timer);
    uv_timer_init(d->loop, &d->save);
    uv_prepare_init(d->loop, &d->prepare);
    d->open_handles = 4;
    d->poll.data = d->timer.data = d->save.data = d->prepare.data = d;
    d->armed_ms = UINT64_MAX;
    uv_prepare_start(&d->prepare, dht_uv_on_prepare);
    if (d->state_file != NULL) {
        uv_timer_start(&d->save, dht_uv_on_save, DHT_UV_SAVE_MS, DHT_UV_SAVE_MS);
    }
    return uv_poll_start(&d->poll, UV_READABLE, dht_uv_on_readable);
}

/* Undoes a dht_uv_new that failed before any handle was opened. */
static void dht_uv_discard(struct dht_uv *d)
{
    if (d->fd >= 0) {
        close(d->fd);
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
    if ((rc = dht_uv_bind(d, cfg->bind, cfg->rcvbuf_bytes)) < 0 ||
        (rc = dht_uv_make_node(d, cfg)) < 0) {
        return rc;
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
    d->ready = cfg->ready;
    d->user = cfg->user;
    dht_uv_prepare_batches(d);
    if ((rc = dht_uv_setup(d, cfg)) < 0) {
        dht_uv_discard(d);
        return rc;
    }
    if ((rc = dht_uv_start_handles(d)) < 0 ||
        (rc = dht_uv_boot_add(d, cfg->bootstrap != NULL ? cfg->bootstrap
                                                        : DHT_UV_DEFAULT_BOOTSTRAP)) < 0) {
        dht_uv_close(d, NULL, NULL);
        return rc;
    }
    *out = d;
    return 0;
}

/* ---- closing ---- */

static void dht_uv_on_close(uv_handle_t *handle)
{
    struct dht_uv *d = handle->data;

    if (--d->open_handles > 0) {
        return;
    }
    close(d->fd);
    if (d->closed != NULL) {
        d->closed(d->closed_user);
    }
    free(d->state_file);
    free(d);
}

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

int dht_uv_add_bootstrap(struct dht_uv *d, const char *list)
{
    return dht_uv_boot_add(d, list);
}

int dht_uv_save(struct dht_uv *d)
{
    uint8_t nodes[DHT_UV_STATE_NODES * KRPC_NODE_LEN];
    size_t len;
    int rc;

    if (d->state_file == NULL) {
        return -ENOENT;
    }
    len = dht_node_export_nodes(d->node, nodes, sizeof(nodes));
    rc = dht_uv_state_write(d->state_file, dht_node_id(d->node), nodes, len);
    if (rc == 0) {
        d->stats.saves++;
    }
    return rc;
}

const struct dht_uv_stats *dht_uv_stats(const struct dht_uv *d)
{
    return &d->stats;
}
