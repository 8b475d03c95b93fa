/* Private to the libuv layer: the structure dht_uv.c (socket, timers, lifecycle),
 * dht_uv_boot.c (bootstrap names) and dht_uv_state.c (the state file) share. Nothing else
 * includes this. */
#ifndef PK_DHT_UV_INT_H
#define PK_DHT_UV_INT_H

#include "ares_uv.h"
#include "dht_node.h"
#include "dht_uv.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#define DHT_UV_TAG "dht"

#define DHT_UV_RX_BATCH 16 /* ours: datagrams read with one recvmmsg */
#define DHT_UV_TX_BATCH 16 /* ours: datagrams sent with one sendmmsg */
/* Room for one byte more than the node ever writes, so that a longer datagram shows as such
 * even where the kernel reports no MSG_TRUNC. */
#define DHT_UV_SLOT_BYTES (DHT_NODE_DATAGRAM_MAX + 1)

struct dht_uv {
    uv_loop_t *loop;
    struct dht_node *node;
    struct addr bound;
    int fd;
    struct addr bound6; /* BEP 32: the IPv6 socket, when configured (fd6 -1 otherwise) */
    int fd6;
    char *state_file;
    uint64_t save_interval_ms;
    void (*ready)(void *user, size_t nbootstrap);
    void *user;

    uv_poll_t poll;       /* the socket is readable */
    uv_poll_t poll6;      /* the IPv6 socket is readable */
    bool poll6_open;      /* poll6 was made (there is an IPv6 socket) */
    uv_timer_t timer;     /* dht_node_tick is due */
    uv_timer_t save;      /* the state file is due */
    uv_prepare_t prepare; /* before the loop waits: send what is queued, re-arm the timer */
    uint64_t armed_ms;    /* when the timer is set to fire; UINT64_MAX when stopped */
    unsigned open_handles;
    bool closing;
    void (*closed)(void *user);
    void *closed_user;

    struct ares_uv *resolver; /* made for the first bootstrap name that is not an address */
    unsigned resolving;       /* names waiting for an answer */
    size_t nbootstrap;        /* bootstrap addresses the node has been given */
    bool ready_due;           /* resolving reached 0: call ready from the loop */
    bool ready_called;

    struct dht_uv_stats stats;

    struct mmsghdr rx_msgs[DHT_UV_RX_BATCH];
    struct iovec rx_iov[DHT_UV_RX_BATCH];
    struct sockaddr_storage rx_names[DHT_UV_RX_BATCH];
    uint8_t rx_data[DHT_UV_RX_BATCH][DHT_UV_SLOT_BYTES];

    struct mmsghdr tx_msgs[DHT_UV_TX_BATCH];
    struct iovec tx_iov[DHT_UV_TX_BATCH];
    struct sockaddr_storage tx_names[DHT_UV_TX_BATCH];
    uint8_t tx_data[DHT_UV_TX_BATCH][DHT_NODE_DATAGRAM_MAX];
};

/* ---- dht_uv_boot.c ---- */

/* Gives the node every entry of a comma-separated "host:port" list: addresses at once,
 * names when they resolve. Returns 0, or -EINVAL (nothing started) for a malformed entry. */
int dht_uv_boot_add(struct dht_uv *d, const char *list);

/* Gives the node resolved bootstrap addresses (IPv6 ones only with an IPv6 socket). */
void dht_uv_boot_give(struct dht_uv *d, const struct addr *addrs, size_t n);

/* ---- dht_uv_state.c ---- */

/* What a state file holds: the node ID and the saved contacts of each family as compact node
 * info (BEP 5's 26 bytes, BEP 32's 38). */
struct dht_uv_state {
    uint8_t id[KRPC_ID_LEN];
    uint8_t nodes[DHT_UV_STATE_NODES * KRPC_NODE_LEN];
    size_t nodes_len;
    uint8_t nodes6[DHT_UV_STATE_NODES * KRPC_NODE6_LEN];
    size_t nodes6_len;
};

/* Reads a state file (either version) into st. Returns 0, -ENOENT when there is no file,
 * -EINVAL when it is not a state file, or another negative errno. */
int dht_uv_state_read(const char *path, struct dht_uv_state *st);

/* Writes st to a temporary file beside path, then renames it over path. Returns 0 or a
 * negative errno. */
int dht_uv_state_write(const char *path, const struct dht_uv_state *st);

#endif
