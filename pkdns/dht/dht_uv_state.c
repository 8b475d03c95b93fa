/* The state file that lets a node restart warm: a magic line, the node's ID, then the
 * contacts of its routing table as compact node info (BEP 5, 26 bytes each). It is written
 * to a temporary file that is renamed over the old one, so a crash leaves either. */
#include "dht_uv_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define DHT_UV_STATE_MAGIC "pkdht-state-1\n" /* ours: names the format and its version */
#define DHT_UV_STATE_MAGIC_LEN (sizeof(DHT_UV_STATE_MAGIC) - 1)
#define DHT_UV_STATE_HEADER (DHT_UV_STATE_MAGIC_LEN + KRPC_ID_LEN)

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

int dht_uv_state_read(const char *path, uint8_t id[KRPC_ID_LEN], uint8_t *nodes, size_t cap,
                      size_t *len)
{
    uint8_t header[DHT_UV_STATE_HEADER];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    *len = 0;
    if (fd < 0) {
        return -errno;
    }
    n = dht_uv_state_read_all(fd, header, sizeof(header));
    if (n >= 0 && (size_t)n == sizeof(header)) {
        n = dht_uv_state_read_all(fd, nodes, cap);
    } else if (n >= 0) {
        n = -EINVAL;
    }
    close(fd);
    if (n < 0) {
        return (int)n;
    }
    if (memcmp(header, DHT_UV_STATE_MAGIC, DHT_UV_STATE_MAGIC_LEN) != 0) {
        return -EINVAL;
    }
    memcpy(id, header + DHT_UV_STATE_MAGIC_LEN, KRPC_ID_LEN);
    /* A file cut short keeps its whole contacts. */
    *len = (size_t)n - (size_t)n % KRPC_NODE_LEN;
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

int dht_uv_state_write(const char *path, const uint8_t id[KRPC_ID_LEN], const uint8_t *nodes,
                       size_t len)
{
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
        rc = dht_uv_state_write_all(fd, id, KRPC_ID_LEN);
    }
    if (rc == 0) {
        rc = dht_uv_state_write_all(fd, nodes, len);
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
