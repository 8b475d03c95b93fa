/* The forwarder's upstream servers, read from resolv.conf-style files (the ones resolvconf
 * rewrites when the network changes) and kept current by watching those files. */
#ifndef PK_RESOLV_WATCH_H
#define PK_RESOLV_WATCH_H

#include "addr.h"

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

/* Servers kept from all files together; more `nameserver` lines are ignored. */
#define RESOLV_MAX_SERVERS 16

/* Servers listen on port 53 (RFC 1035 4.2.1); resolv.conf has no way to name another. */
#define RESOLV_PORT 53

struct resolv_servers {
    size_t count;
    size_t ignored; /* nameserver lines that were malformed or beyond RESOLV_MAX_SERVERS */
    struct addr addr[RESOLV_MAX_SERVERS];
};

/* Parses `len` bytes of resolv.conf text (no NUL terminator needed) into `out`: every
 * `nameserver IP` line (IPv4, or IPv6 with an optional %scope) in order, port 53, duplicates
 * dropped. Other lines are ignored. Returns 0, or -EINVAL when text is NULL but len is not 0. */
int resolv_parse(const char *text, size_t len, struct resolv_servers *out);

/* Zero in any field picks the default. */
struct resolv_watch_config {
    unsigned poll_interval_ms; /* how often files are stat()ed as a fallback; default 1000 */
    unsigned debounce_ms;      /* quiet time after a change before re-reading; default 20 */
    bool no_poll;              /* dnsmasq's no-poll: read at start and on reload only */
};

/* Called with the union of all files' servers, in file order, whenever it differs from the
 * last one given. `servers` is valid only during the call. */
typedef void (*resolv_watch_cb)(void *user, const struct resolv_servers *servers);

struct resolv_watch;

/* Reads the n_paths files (paths are copied), calls cb once with what they hold before
 * returning, then watches them on `loop`; cfg may be NULL and *out is set before that call.
 * A missing file or directory holds no servers until it appears. Returns 0, -EINVAL (no
 * paths, an empty one, or one ending in '/') or -ENOMEM. */
int resolv_watch_new(uv_loop_t *loop, const char *const *paths, size_t n_paths,
                     const struct resolv_watch_config *cfg, resolv_watch_cb cb, void *user,
                     struct resolv_watch **out);

/* Stops watching and closes the handles; the memory goes in their close callbacks, so run the
 * loop once more afterwards. No callback follows. Safe inside cb; NULL is a no-op. */
void resolv_watch_free(struct resolv_watch *w);

/* Re-reads every file now (SIGHUP) and calls cb, before returning, if the servers changed.
 * Returns 0, or -EINVAL when w is NULL or being freed. */
int resolv_watch_reload(struct resolv_watch *w);

#endif
