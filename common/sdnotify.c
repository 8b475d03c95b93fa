#include "sdnotify.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Fills `sun` from $NOTIFY_SOCKET's value; returns the address length or a negative errno. */
static int sdnotify_address(const char *name, struct sockaddr_un *sun)
{
    size_t len = strlen(name);

    if (name[0] != '/' && name[0] != '@') {
        return -EAFNOSUPPORT; /* e.g. "vsock:...", which newer systemd may hand out */
    }
    /* A path needs room for its NUL; an abstract name uses the whole array. */
    if (len > sizeof(sun->sun_path) || (name[0] == '/' && len == sizeof(sun->sun_path))) {
        return -ENAMETOOLONG;
    }
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, name, len);
    if (name[0] == '@') {
        sun->sun_path[0] = '\0'; /* abstract namespace: the length, not a NUL, ends the name */
        return (int)(offsetof(struct sockaddr_un, sun_path) + len);
    }
    return (int)(offsetof(struct sockaddr_un, sun_path) + len + 1);
}

int sdnotify_send(const char *state)
{
    const char *name = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sun;
    size_t state_len;
    ssize_t sent;
    int addr_len;
    int fd;
    int err = 0;

    if (state == NULL) {
        return -EINVAL;
    }
    if (name == NULL || name[0] == '\0') {
        return 0;
    }
    addr_len = sdnotify_address(name, &sun);
    if (addr_len < 0) {
        return addr_len;
    }

    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    state_len = strlen(state);
    sent = sendto(fd, state, state_len, MSG_NOSIGNAL, (const struct sockaddr *)&sun,
                  (socklen_t)addr_len);
    if (sent < 0) {
        err = -errno;
    } else if ((size_t)sent != state_len) {
        err = -EMSGSIZE;
    }
    close(fd);
    return err;
}

int sdnotify_reloading(void)
{
    struct timespec now;
    char state[64];
    uint64_t usec;

    if (clock_gettime(CLOCK_MONOTONIC, &now) != 0) {
        return -errno;
    }
    usec = (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u;
    snprintf(state, sizeof(state), "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, usec);
    return sdnotify_send(state);
}
