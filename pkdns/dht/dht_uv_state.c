/* The state file that lets a node restart warm: a magic line, the node's ID, then the
 * contacts of its routing tables. Version 2: the byte length of the IPv4 contacts (4 bytes,
 * big-endian), the IPv4 contacts as compact node info (BEP 5, 26 bytes each), and to the end
 * the IPv6 contacts (BEP 32, 38 bytes each). Version 1, still read, has only IPv4 contacts
 * after the ID. The file is written to a temporary file that is renamed over the old one, so
 * a crash leaves either. */
#include "dht_uv_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define DHT_UV_STATE_MAGIC_V1 "pkdht-state-1\n" /* ours: names the format and its version */
#define DHT_UV_STATE_MAGIC "pkdht-state-2\n"
#define DHT_UV_STATE_MAGIC_LEN (sizeof(DHT_UV_STATE_MAGIC) - 1)
#define DHT_UV_STATE_HEADER (DHT_UV_STATE_MAGIC_LEN + KRPC_ID_LEN)
#define DHT_UV_STATE_MAX                                                                           \
    (DHT_UV_STATE_HEADER + 4 + DHT_UV_STATE_NODES * (KRPC_NODE_LEN + KRPC_NODE6_LEN))

/* Reads up to cap bytes; returns how many, or a negative errno. */
static ssize_t dht_uv_state_read_all(int fd, uint8_t *buf, size_t cap)
{
    size_t got = 0;

    while (got < cap) {
        ssize_t n = read(fd, buf + got, cap - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -errno;
        }
        if (n == 0) {
            break;
        }
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* Splits the body of a version 2 file (after the header) into st. */
static int dht_uv_state_split(const uint8_t *body, size_t len, struct dht_uv_state *st)
{
    size_t len4, len6;

    if (len < 4) {
        return -EINVAL;
    }
    len4 = (size_t)body[0] << 24 | (size_t)body[1] << 16 | (size_t)body[2] << 8 | body[3];
    if (len4 > len - 4 || len4 > sizeof(st->nodes)) {
        return -EINVAL;
    }
    len6 = len - 4 - len4;
    if (len6 > sizeof(st->nodes6)) {
        len6 = sizeof(st->nodes6);
    }
    memcpy(st->nodes, body + 4, len4);
    memcpy(st->nodes6, body + 4 + len4, len6);
    /* A file cut short keeps its whole contacts. */
    st->nodes_len = len4 - len4 % KRPC_NODE_LEN;
    st->nodes6_len = len6 - len6 % KRPC_NODE6_LEN;
    return 0;
}

int dht_uv_state_read(const char *path, struct dht_uv_state *st)
{
    uint8_t file[DHT_UV_STATE_MAX];
    size_t body_len;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    memset(st, 0, sizeof(*st));
    if (fd < 0) {
        return -errno;
    }
    n = dht_uv_state_read_all(fd, file, sizeof(file));
    close(fd);
    if (n < 0) {
        return (int)n;
    }
    if ((size_t)n < DHT_UV_STATE_HEADER) {
        return -EINVAL;
    }
    memcpy(st->id, file + DHT_UV_STATE_MAGIC_LEN, KRPC_ID_LEN);
    body_len = (size_t)n - DHT_UV_STATE_HEADER;
    if (memcmp(file, DHT_UV_STATE_MAGIC, DHT_UV_STATE_MAGIC_LEN) == 0) {
        return dht_uv_state_split(file + DHT_UV_STATE_HEADER, body_len, st);
    }
    if (memcmp(file, DHT_UV_STATE_MAGIC_V1, DHT_UV_STATE_MAGIC_LEN) != 0) {
        return -EINVAL;
    }
    if (body_len > sizeof(st->nodes)) {
        body_len = sizeof(st->nodes);
    }
    memcpy(st->nodes, file + DHT_UV_STATE_HEADER, body_len);
    st->nodes_len = body_len - body_len % KRPC_NODE_LEN;
    return 0;
}

static int dht_uv_state_write_all(int fd, const uint8_t *buf, size_t len)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n = write(fd, buf + done, len - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -errno;
        }
        done += (size_t)n;
    }
    return 0;
}

int dht_uv_state_write(const char *path, const struct dht_uv_state *st)
{
    uint8_t len4[4] = {(uint8_t)(st->nodes_len >> 24), (uint8_t)(st->nodes_len >> 16),
                       (uint8_t)(st->nodes_len >> 8), (uint8_t)st->nodes_len};
    char tmp[4096];
    int fd, rc;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
        return -ENAMETOOLONG;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return -errno;
    }
    rc = dht_uv_state_write_all(fd, (const uint8_t *)DHT_UV_STATE_MAGIC, DHT_UV_STATE_MAGIC_LEN);
    if (rc == 0) {
        rc = dht_uv_state_write_all(fd, st->id, KRPC_ID_LEN);
    }
    if (rc == 0) {
        rc = dht_uv_state_write_all(fd, len4, sizeof(len4));
    }
    if (rc == 0) {
        rc = dht_uv_state_write_all(fd, st->nodes, st->nodes_len);
    }
    if (rc == 0) {
        rc = dht_uv_state_write_all(fd, st->nodes6, st->nodes6_len);
    }
    if (rc == 0 && fsync(fd) != 0) {
        rc = -errno;
    }
    if (close(fd) != 0 && rc == 0) {
        rc = -errno;
    }
    if (rc == 0 && rename(tmp, path) != 0) {
        rc = -errno;
    }
    if (rc != 0) {
        unlink(tmp);
    }
    return rc;
}
