#include "ares_uv.h"

#include "log.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* c-ares tells us when it opens a socket, but not when it sends a new query on a socket that is
 * already open, so the timer cannot learn that query's deadline from an event. While any socket
 * is open the timer therefore looks at ares_timeout again at least this often. */
#define ARES_UV_TICK_MS 100

/* One socket c-ares opened. `poll` is valid when `polled`; the entry is unlinked when c-ares
 * closes the socket and freed in the poll handle's close callback. */
struct ares_uv_sock {
    uv_poll_t poll;
    bool polled;
    ares_socket_t fd;
    struct ares_uv *owner;
    struct ares_uv_sock *next;
};

struct ares_uv {
    uv_loop_t *loop;
    ares_channel channel;
    uv_timer_t timer;
    struct ares_uv_sock *socks; /* sockets c-ares has open now */
    size_t nsocks;
    unsigned open_handles; /* handles whose close callback has not run yet */
    unsigned depth;        /* our calls into c-ares in progress, which may run callbacks */
    bool closing;          /* ares_uv_free has begun */
    bool free_pending;     /* ares_uv_free was called from inside c-ares */
};

int ares_uv_error(int ares_status)
{
    switch (ares_status) {
    case ARES_SUCCESS:
        return 0;
    case ARES_ENODATA:
        return -ENODATA;
    case ARES_ENOTFOUND:
    case ARES_ENONAME:
        return -ENOENT;
    case ARES_ETIMEOUT:
        return -ETIMEDOUT;
    case ARES_ESERVFAIL:
        return -EREMOTEIO;
    case ARES_EREFUSED:
        return -EACCES;
    case ARES_ENOTIMP:
        return -EOPNOTSUPP;
    case ARES_EFORMERR:
    case ARES_EBADRESP:
        return -EBADMSG;
    case ARES_ECONNREFUSED:
        return -ECONNREFUSED;
    case ARES_ENOMEM:
        return -ENOMEM;
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION:
        return -ECANCELED;
    case ARES_EBADQUERY:
    case ARES_EBADNAME:
    case ARES_EBADFAMILY:
    case ARES_EBADFLAGS:
    case ARES_EBADHINTS:
    case ARES_EBADSTR:
    case ARES_ESERVICE:
        return -EINVAL;
    default:
        return -EIO;
    }
}

/* Frees the struct once ares_uv_free has run and every handle's close callback has too. */
static void ares_uv_release(struct ares_uv *u)
{
    if (u->closing && u->open_handles == 0) {
        free(u);
    }
}

static void ares_uv_on_timer_close(uv_handle_t *handle)
{
    struct ares_uv *u = handle->data;

    u->open_handles--;
    ares_uv_release(u);
}

static void ares_uv_on_sock_close(uv_handle_t *handle)
{
    struct ares_uv_sock *sock = handle->data;
    struct ares_uv *u = sock->owner;

    free(sock);
    u->open_handles--;
    ares_uv_release(u);
}

static void ares_uv_sock_close(struct ares_uv_sock *sock)
{
    if (sock->polled) {
        uv_close((uv_handle_t *)&sock->poll, ares_uv_on_sock_close);
    } else {
        free(sock);
    }
}

static void ares_uv_on_timer(uv_timer_t *timer);

/* Sets the timer to c-ares's next deadline (sooner while sockets are open), or stops it. */
static void ares_uv_arm_timer(struct ares_uv *u)
{
    struct timeval tick = {.tv_sec = 0, .tv_usec = ARES_UV_TICK_MS * 1000};
    struct timeval buf;
    struct timeval *next;
    uint64_t ms;

    if (u->closing) {
        return;
    }
    next = ares_timeout(u->channel, u->nsocks > 0 ? &tick : NULL, &buf);
    if (next == NULL) {
        uv_timer_stop(&u->timer);
        return;
    }
    /* Rounded up: firing before the deadline would only wake us twice. */
    ms = (uint64_t)next->tv_sec * 1000 + ((uint64_t)next->tv_usec + 999) / 1000;
    uv_timer_start(&u->timer, ares_uv_on_timer, ms, 0);
}

/* After one of our calls into c-ares: carry out a free requested from inside it, or re-arm. */
static void ares_uv_after_call(struct ares_uv *u)
{
    if (u->depth == 0 && u->free_pending) {
        ares_uv_free(u);
        return;
    }
    ares_uv_arm_timer(u);
}

static void ares_uv_process(struct ares_uv *u, ares_socket_t read_fd, ares_socket_t write_fd)
{
    u->depth++;
    ares_process_fd(u->channel, read_fd, write_fd);
    u->depth--;
    ares_uv_after_call(u);
}

static void ares_uv_on_timer(uv_timer_t *timer)
{
    ares_uv_process(timer->data, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
}

static void ares_uv_on_poll(uv_poll_t *poll, int status, int events)
{
    struct ares_uv_sock *sock = poll->data;
    ares_socket_t read_fd = ARES_SOCKET_BAD;
    ares_socket_t write_fd = ARES_SOCKET_BAD;

    /* On a poll error, let c-ares read and write: it meets the socket error and closes the
     * socket or retries elsewhere. `sock` may be unlinked inside, but is freed only later. */
    if (status < 0 || (events & UV_READABLE)) {
        read_fd = sock->fd;
    }
    if (status < 0 || (events & UV_WRITABLE)) {
        write_fd = sock->fd;
    }
    ares_uv_process(sock->owner, read_fd, write_fd);
}

static struct ares_uv_sock *ares_uv_sock_open(struct ares_uv *u, ares_socket_t fd)
{
    struct ares_uv_sock *sock = calloc(1, sizeof(*sock));
    int rc;

    if (sock == NULL) {
        log_err("ares", "out of memory for socket %d; its queries will time out", fd);
        return NULL;
    }
    sock->fd = fd;
    sock->owner = u;
    rc = uv_poll_init_socket(u->loop, &sock->poll, fd);
    if (rc < 0) {
        log_err("ares", "cannot poll socket %d: %s; its queries will time out", fd,
                uv_strerror(rc));
    } else {
        sock->polled = true;
        sock->poll.data = sock;
        u->open_handles++;
    }
    sock->next = u->socks;
    u->socks = sock;
    u->nsocks++;
    return sock;
}

/* c-ares's ARES_OPT_SOCK_STATE_CB: a socket wants these events, or none once it is closing. */
static void ares_uv_on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    struct ares_uv *u = data;
    struct ares_uv_sock **link = &u->socks;
    struct ares_uv_sock *sock;
    int events = (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0);
    int rc;

    while (*link != NULL && (*link)->fd != fd) {
        link = &(*link)->next;
    }
    sock = *link;

    if (events == 0) {
        if (sock != NULL) {
            *link = sock->next;
            u->nsocks--;
            ares_uv_sock_close(sock);
        }
        ares_uv_arm_timer(u);
        return;
    }
    if (sock == NULL) {
        if (u->closing) {
            return; /* a query started while ares_uv_free cancels; ares_destroy ends it */
        }
        sock = ares_uv_sock_open(u, fd);
    }
    if (sock != NULL && sock->polled) {
        rc = uv_poll_start(&sock->poll, events, ares_uv_on_poll);
        if (rc < 0) {
            log_err("ares", "cannot poll socket %d: %s", fd, uv_strerror(rc));
        }
    }
    ares_uv_arm_timer(u);
}

int ares_uv_new(uv_loop_t *loop, const struct ares_options *opts, int optmask, struct ares_uv **out)
{
    struct ares_options options;
    struct ares_uv *u;
    int status;

    if (loop == NULL || out == NULL) {
        return -EINVAL;
    }
    *out = NULL;
    u = calloc(1, sizeof(*u));
    if (u == NULL) {
        return -ENOMEM;
    }
    status = ares_library_init(ARES_LIB_INIT_ALL);
    if (status != ARES_SUCCESS) {
        free(u);
        return ares_uv_error(status);
    }

    if (opts != NULL) {
        options = *opts;
    } else {
        memset(&options, 0, sizeof(options));
    }
    options.sock_state_cb = ares_uv_on_sock_state;
    options.sock_state_cb_data = u;
    status = ares_init_options(&u->channel, &options, optmask | ARES_OPT_SOCK_STATE_CB);
    if (status != ARES_SUCCESS) {
        ares_library_cleanup();
        free(u);
        return ares_uv_error(status);
    }

    u->loop = loop;
    uv_timer_init(loop, &u->timer);
    u->timer.data = u;
    u->open_handles = 1;
    *out = u;
    return 0;
}

ares_channel ares_uv_channel(struct ares_uv *u)
{
    return u->channel;
}

void ares_uv_free(struct ares_uv *u)
{
    struct ares_uv_sock *sock;

    if (u == NULL || u->closing) {
        return;
    }
    if (u->depth > 0) {
        u->free_pending = true; /* destroying the channel inside c-ares would pull it away */
        return;
    }
    u->closing = true;

    /* Callbacks run here; one that asks for a new lookup or another free is turned away. */
    ares_cancel(u->channel);
    ares_destroy(u->channel);
    u->channel = NULL;
    ares_library_cleanup();

    while ((sock = u->socks) != NULL) {
        u->socks = sock->next;
        ares_uv_sock_close(sock);
    }
    u->nsocks = 0;
    uv_close((uv_handle_t *)&u->timer, ares_uv_on_timer_close);
}

int ares_uv_set_servers(struct ares_uv *u, const struct addr *servers, size_t n)
{
    struct ares_addr_port_node *nodes = NULL;
    int status;

    if (u == NULL || u->closing || (servers == NULL && n > 0)) {
        return -EINVAL;
    }
    if (n > 0) {
        nodes = calloc(n, sizeof(*nodes));
        if (nodes == NULL) {
            return -ENOMEM;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const struct addr *a = &servers[i];
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->sa;
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->sa;

        if (a->len != 0 && a->sa.ss_family == AF_INET) {
            nodes[i].family = AF_INET;
            memcpy(&nodes[i].addr.addr4, &sin->sin_addr, sizeof(sin->sin_addr));
        } else if (a->len != 0 && a->sa.ss_family == AF_INET6 && sin6->sin6_scope_id == 0) {
            nodes[i].family = AF_INET6;
            memcpy(&nodes[i].addr.addr6, &sin6->sin6_addr, sizeof(sin6->sin6_addr));
        } else {
            free(nodes);
            return -EINVAL;
        }
        nodes[i].udp_port = addr_port(a);
        nodes[i].tcp_port = addr_port(a);
        nodes[i].next = i + 1 < n ? &nodes[i + 1] : NULL;
    }
    status = ares_set_servers_ports(u->channel, nodes);
    free(nodes);
    ares_uv_arm_timer(u);
    /* c-ares 1.18 answers ENOTIMP while any query is pending (ares_options.c). */
    return status == ARES_ENOTIMP ? -EBUSY : ares_uv_error(status);
}

/* One ares_uv_resolve in flight. */
struct ares_uv_lookup {
    ares_uv_resolve_cb cb;
    void *user;
    uint16_t port;
};

static void ares_uv_on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
    struct ares_uv_lookup *lookup = arg;
    struct ares_addrinfo_node *node;
    struct addr *addrs = NULL;
    size_t count = 0;
    size_t n = 0;

    (void)timeouts;
    if (status == ARES_SUCCESS && res != NULL) {
        for (node = res->nodes; node != NULL; node = node->ai_next) {
            count++;
        }
        addrs = count > 0 ? calloc(count, sizeof(*addrs)) : NULL;
        for (node = res->nodes; addrs != NULL && node != NULL; node = node->ai_next) {
            if (addr_from_sockaddr(node->ai_addr, node->ai_addrlen, &addrs[n]) == 0) {
                addr_set_port(&addrs[n], lookup->port);
                n++;
            }
        }
        if (count > 0 && addrs == NULL) {
            status = ARES_ENOMEM;
        } else if (n == 0) {
            status = ARES_ENODATA;
        }
    }
    if (res != NULL) {
        ares_freeaddrinfo(res);
    }
    lookup->cb(lookup->user, ares_uv_error(status), n > 0 ? addrs : NULL, n);
    free(addrs);
    free(lookup);
}

/* An IPv4 address, or an IPv6 address with optional %scope, alone: no brackets, no port. */
static bool ares_uv_numeric_host(const char *host, uint16_t port, struct addr *out)
{
    if (strpbrk(host, "[]#") != NULL || addr_parse(host, port, out) != 0) {
        return false;
    }
    /* addr_parse reads "1.2.3.4:53" as a port; a host with a colon must be IPv6. */
    return strchr(host, ':') == NULL || out->sa.ss_family == AF_INET6;
}

int ares_uv_resolve(struct ares_uv *u, const char *host, uint16_t port, ares_uv_resolve_cb cb,
                    void *user)
{
    struct ares_addrinfo_hints hints;
    struct ares_uv_lookup *lookup;
    struct addr numeric;
    char service[8];

    if (u == NULL || host == NULL || host[0] == '\0' || cb == NULL) {
        return -EINVAL;
    }
    if (u->closing) {
        return -ECANCELED;
    }
    /* Done here, not by c-ares: 1.18.1 sends a DNS query for a dotted quad when the family is
     * AF_UNSPEC (fake_addrinfo in ares_getaddrinfo.c), and knows no %scope. */
    if (ares_uv_numeric_host(host, port, &numeric)) {
        cb(user, 0, &numeric, 1);
        return 0;
    }

    lookup = calloc(1, sizeof(*lookup));
    if (lookup == NULL) {
        return -ENOMEM;
    }
    lookup->cb = cb;
    lookup->user = user;
    lookup->port = port;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_flags = ARES_AI_NUMERICSERV;
    snprintf(service, sizeof(service), "%u", (unsigned)port);

    /* c-ares rejects service "0"; without a service the port is 0 anyway. */
    u->depth++;
    ares_getaddrinfo(u->channel, host, port != 0 ? service : NULL, &hints, ares_uv_on_addrinfo,
                     lookup);
    u->depth--;
    ares_uv_after_call(u);
    return 0;
}
