#include "sdnotify.h"
#include "unit.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* A datagram socket standing in for systemd's notify socket. */
struct listener {
    int fd;
    char path[108];
};

static int listener_bind(struct listener *l, const char *name)
{
    struct sockaddr_un sun;
    size_t len = strlen(name);
    socklen_t addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, name, len);
    if (name[0] == '@') {
        sun.sun_path[0] = '\0';
    }
    snprintf(l->path, sizeof(l->path), "%s", name);
    l->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (l->fd < 0 || bind(l->fd, (struct sockaddr *)&sun, addr_len) != 0) {
        perror("bind");
        return -1;
    }
    return 0;
}

/* Reads one datagram without blocking; "" when none is waiting. */
static const char *listener_read(struct listener *l)
{
    static char buf[512];
    ssize_t n = recv(l->fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static void listener_close(struct listener *l)
{
    close(l->fd);
    if (l->path[0] == '/') {
        unlink(l->path);
    }
}

static char tmp_dir[] = "/tmp/pk-sdnotify-XXXXXX";

static void test_sdnotify_sends_state_to_path_socket(void)
{
    struct listener l;
    char path[128];

    snprintf(path, sizeof(path), "%s/notify", tmp_dir);
    CHECK_INT(listener_bind(&l, path), 0);
    setenv("NOTIFY_SOCKET", path, 1);
    CHECK_INT(sdnotify_send("READY=1"), 0);
    CHECK_STR(listener_read(&l), "READY=1");
    CHECK_INT(sdnotify_send("STOPPING=1"), 0);
    CHECK_STR(listener_read(&l), "STOPPING=1");
    listener_close(&l);
    unsetenv("NOTIFY_SOCKET");
}

static void test_sdnotify_sends_state_to_abstract_socket(void)
{
    struct listener l;
    char name[64];

    snprintf(name, sizeof(name), "@pk-sdnotify-test-%ld", (long)getpid());
    CHECK_INT(listener_bind(&l, name), 0);
    setenv("NOTIFY_SOCKET", name, 1);
    CHECK_INT(sdnotify_send("READY=1\nSTATUS=serving"), 0);
    CHECK_STR(listener_read(&l), "READY=1\nSTATUS=serving");
    listener_close(&l);
    unsetenv("NOTIFY_SOCKET");
}

static uint64_t monotonic_usec(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u;
}

static void test_sdnotify_reloading_carries_monotonic_time(void)
{
    static const char prefix[] = "RELOADING=1\nMONOTONIC_USEC=";
    struct listener l;
    char path[128];
    const char *got;
    uint64_t before, after, stamp;

    snprintf(path, sizeof(path), "%s/reload", tmp_dir);
    CHECK_INT(listener_bind(&l, path), 0);
    setenv("NOTIFY_SOCKET", path, 1);
    before = monotonic_usec();
    CHECK_INT(sdnotify_reloading(), 0);
    after = monotonic_usec();
    got = listener_read(&l);
    CHECK(strncmp(got, prefix, strlen(prefix)) == 0);
    stamp = strtoull(got + strlen(prefix), NULL, 10);
    CHECK(stamp >= before && stamp <= after);
    listener_close(&l);
    unsetenv("NOTIFY_SOCKET");
}

static void test_sdnotify_without_variable_does_nothing(void)
{
    unsetenv("NOTIFY_SOCKET");
    CHECK_INT(sdnotify_send("READY=1"), 0);
    CHECK_INT(sdnotify_reloading(), 0);
    setenv("NOTIFY_SOCKET", "", 1);
    CHECK_INT(sdnotify_send("READY=1"), 0);
    unsetenv("NOTIFY_SOCKET");
}

static void test_sdnotify_missing_socket_fails(void)
{
    char path[128];

    snprintf(path, sizeof(path), "%s/nobody-listens", tmp_dir);
    setenv("NOTIFY_SOCKET", path, 1);
    CHECK_INT(sdnotify_send("READY=1"), -ENOENT);
    setenv("NOTIFY_SOCKET", "@pk-sdnotify-nobody-listens-here", 1);
    CHECK(sdnotify_send("READY=1") < 0);
    unsetenv("NOTIFY_SOCKET");
}

static void test_sdnotify_rejects_unusable_addresses(void)
{
    char long_path[200];

    setenv("NOTIFY_SOCKET", "relative/path", 1);
    CHECK_INT(sdnotify_send("READY=1"), -EAFNOSUPPORT);
    setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
    CHECK_INT(sdnotify_send("READY=1"), -EAFNOSUPPORT);
    memset(long_path, 'a', sizeof(long_path) - 1);
    long_path[0] = '/';
    long_path[sizeof(long_path) - 1] = '\0';
    setenv("NOTIFY_SOCKET", long_path, 1);
    CHECK_INT(sdnotify_send("READY=1"), -ENAMETOOLONG);
    CHECK_INT(sdnotify_send(NULL), -EINVAL);
    unsetenv("NOTIFY_SOCKET");
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_sdnotify_sends_state_to_path_socket),
        UNIT(test_sdnotify_sends_state_to_abstract_socket),
        UNIT(test_sdnotify_reloading_carries_monotonic_time),
        UNIT(test_sdnotify_without_variable_does_nothing),
        UNIT(test_sdnotify_missing_socket_fails),
        UNIT(test_sdnotify_rejects_unusable_addresses),
    };
    int status;

    if (mkdtemp(tmp_dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    status = unit_run("sdnotify", tests, sizeof(tests) / sizeof(tests[0]));
    rmdir(tmp_dir);
    return status;
}
