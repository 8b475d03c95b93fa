#include "resolv_watch.h"

#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define RESOLV_DEFAULT_POLL_INTERVAL_MS 1000 /* dnsmasq's mtime check without inotify */
#define RESOLV_DEFAULT_DEBOUNCE_MS 20
#define RESOLV_DEBOUNCE_MAX_FACTOR 10 /* a file written without pause is read after this */
#define RESOLV_FILE_MAX_BYTES 65536   /* resolv.conf files are a few hundred bytes */

/* Everything that can change what the file at a name in the directory holds, and the
 * directory itself going away. IN_IGNORED always comes without being asked for. */
#define RESOLV_INOTIFY_MASK                                                                        \
    (IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MODIFY |            \
     IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

static const char resolv_tag[] = "resolv";

/* What stat() said about a file when it was last read; any difference means "read again". */
struct resolv_stamp {
    int err; /* 0, or -errno from stat() */
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtim;
};

struct resolv_file {
    char *path;
    char *dir;
    const char *base; /* inside path */
    int wd;           /* inotify watch on dir, or -1 */
    bool dirty;       /* to be read when the debounce timer fires */
    struct resolv_stamp stamp;
    struct resolv_servers servers; /* from the last successful read */
};

struct resolv_watch {
    uv_loop_t *loop;
    resolv_watch_cb cb;
    void *user;
    uint64_t poll_interval_ms;
    uint64_t debounce_ms;
    bool no_poll;
    bool closing;
    bool debounce_pending;
    uint64_t debounce_since_ms;
    int inotify_fd; /* -1 without inotify */
    int open_handles;
    uv_poll_t inotify_poll;
    uv_timer_t debounce_timer;
    uv_timer_t poll_timer;
    struct resolv_servers delivered;
    char *read_buf; /* RESOLV_FILE_MAX_BYTES + 1 */
    size_t n_files;
    struct resolv_file files[];
};

/* ---- parser ---- */

static bool resolv_is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static size_t resolv_skip_blank(const char *line, size_t len, size_t pos)
{
    while (pos < len && resolv_is_blank(line[pos])) {
        pos++;
    }
    return pos;
}

/* Accepts only an IP literal: ports, brackets and names that addr_parse would also take have
 * no place in resolv.conf. The scope, by name or number, is addr_parse's to resolve. */
static int resolv_parse_address(const char *token, size_t len, struct addr *out)
{
    char text[INET6_ADDRSTRLEN + 1 + IF_NAMESIZE];
    unsigned char bytes[sizeof(struct in6_addr)];
    char *scope;
    bool ok;

    if (len == 0 || len >= sizeof(text) || memchr(token, '\0', len) != NULL) {
        return -EINVAL;
    }
    memcpy(text, token, len);
    text[len] = '\0';

    scope = strchr(text, '%');
    if (scope != NULL) {
        if (scope[1] == '\0') {
            return -EINVAL;
        }
        *scope = '\0';
        ok = inet_pton(AF_INET6, text, bytes) == 1;
        *scope = '%';
    } else {
        ok = inet_pton(AF_INET, text, bytes) == 1 || inet_pton(AF_INET6, text, bytes) == 1;
    }
    if (!ok) {
        return -EINVAL;
    }
    return addr_parse(text, RESOLV_PORT, out);
}

/* Appends `a` unless it is already there; a server beyond the limit counts as ignored. */
static void resolv_servers_add(struct resolv_servers *s, const struct addr *a)
{
    for (size_t i = 0; i < s->count; i++) {
        if (addr_equal(&s->addr[i], a)) {
            return;
        }
    }
    if (s->count == RESOLV_MAX_SERVERS) {
        s->ignored++;
        return;
    }
    s->addr[s->count++] = *a;
}

static bool resolv_servers_equal(const struct resolv_servers *a, const struct resolv_servers *b)
{
    if (a->count != b->count) {
        return false;
    }
    for (size_t i = 0; i < a->count; i++) {
        if (!addr_equal(&a->addr[i], &b->addr[i])) {
            return false;
        }
    }
    return true;
}

/* One line without its '\n'. As in glibc and dnsmasq, words after the address are ignored. */
static void resolv_parse_line(const char *line, size_t len, struct resolv_servers *out)
{
    static const char keyword[] = "nameserver";
    const size_t keyword_len = sizeof(keyword) - 1;
    size_t pos = resolv_skip_blank(line, len, 0);
    size_t start;
    struct addr a;

    if (len - pos < keyword_len || memcmp(line + pos, keyword, keyword_len) != 0) {
        return;
    }
    pos += keyword_len;
    if (pos < len && !resolv_is_blank(line[pos])) {
        return; /* another keyword that starts with "nameserver" */
    }

    start = resolv_skip_blank(line, len, pos);
    pos = start;
    while (pos < len && !resolv_is_blank(line[pos])) {
        pos++;
    }
    if (resolv_parse_address(line + start, pos - start, &a) != 0) {
        out->ignored++;
        return;
    }
    resolv_servers_add(out, &a);
}

int resolv_parse(const char *text, size_t len, struct resolv_servers *out)
{
    size_t pos = 0;

    memset(out, 0, sizeof(*out));
    if (text == NULL) {
        return len == 0 ? 0 : -EINVAL;
    }
    while (pos < len) {
        const char *newline = memchr(text + pos, '\n', len - pos);
        size_t end = newline != NULL ? (size_t)(newline - text) : len;

        resolv_parse_line(text + pos, end - pos, out);
        pos = end + 1;
    }
    return 0;
}

/* ---- reading one file ---- */

static void resolv_stamp_take(const char *path, struct resolv_stamp *s)
{
    struct stat st;

    memset(s, 0, sizeof(*s));
    if (stat(path, &st) != 0) {
        s->err = -errno;
        return;
    }
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    s->size = st.st_size;
    s->mtim = st.st_mtim;
}

static bool resolv_stamp_equal(const struct resolv_stamp *a, const struct resolv_stamp *b)
{
    return a->err == b->err && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtim.tv_sec == b->mtim.tv_sec && a->mtim.tv_nsec == b->mtim.tv_nsec;
}

/* Reads a whole regular file into buf (cap + 1 bytes, to notice a file that is too big).
 * O_NONBLOCK keeps a FIFO put in the file's place from stopping the loop. */
static int resolv_read_file(const char *path, char *buf, size_t cap, size_t *len)
{
    struct stat st;
    size_t used = 0;
    int err = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

    if (fd < 0) {
        return -errno;
    }
    if (fstat(fd, &st) != 0) {
        err = -errno;
    } else if (S_ISDIR(st.st_mode)) {
        err = -EISDIR;
    } else if (!S_ISREG(st.st_mode)) {
        err = -EINVAL;
    }
    while (err == 0) {
        ssize_t n = read(fd, buf + used, cap + 1 - used);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            err = -errno;
        } else if (n == 0) {
            break;
        } else if ((used += (size_t)n) > cap) {
            err = -EFBIG;
        }
    }
    close(fd);
    *len = used;
    return err;
}

/* A file that is gone holds no servers; any other failure keeps what the file held before. */
static void resolv_file_read(struct resolv_watch *w, struct resolv_file *f)
{
    struct resolv_servers servers;
    size_t len = 0;
    int err;

    /* stat() before reading: a change that lands during the read then differs from the stamp
     * and the poll timer reads the file again. */
    resolv_stamp_take(f->path, &f->stamp);
    f->dirty = false;

    err = resolv_read_file(f->path, w->read_buf, RESOLV_FILE_MAX_BYTES, &len);
    if (err == -ENOENT) {
        memset(&f->servers, 0, sizeof(f->servers));
        return;
    }
    if (err < 0) {
        log_warn(resolv_tag, "cannot read %s: %s; keeping its last servers", f->path,
                 strerror(-err));
        return;
    }

    resolv_parse(w->read_buf, len, &servers);
    if (servers.ignored > 0 && servers.ignored != f->servers.ignored) {
        log_warn(resolv_tag, "%s: ignored %zu nameserver lines (malformed or over %d)", f->path,
                 servers.ignored, RESOLV_MAX_SERVERS);
    }
    f->servers = servers;
}

/* ---- delivering the union ---- */

static void resolv_append(char *buf, size_t cap, size_t *used, const char *text)
{
    size_t len = strlen(text);

    if (*used + 1 >= cap) {
        return;
    }
    if (len > cap - 1 - *used) {
        len = cap - 1 - *used; /* the log line is cut anyway */
    }
    memcpy(buf + *used, text, len);
    *used += len;
    buf[*used] = '\0';
}

/* "2 servers from /a: 192.0.2.1:53, [2001:db8::1]:53" or "no servers in /a, /b". */
static void resolv_watch_log(const struct resolv_watch *w, const struct resolv_servers *s)
{
    char line[1024] = "";
    char text[ADDR_TEXT_MAX];
    size_t used = 0;

    if (s->count == 0) {
        resolv_append(line, sizeof(line), &used, "no servers in ");
    } else {
        snprintf(text, sizeof(text), "%zu server%s from ", s->count, s->count == 1 ? "" : "s");
        resolv_append(line, sizeof(line), &used, text);
    }
    for (size_t i = 0; i < w->n_files; i++) {
        resolv_append(line, sizeof(line), &used, i > 0 ? ", " : "");
        resolv_append(line, sizeof(line), &used, w->files[i].path);
    }
    for (size_t i = 0; i < s->count; i++) {
        resolv_append(line, sizeof(line), &used, i > 0 ? ", " : ": ");
        resolv_append(line, sizeof(line), &used, addr_format(&s->addr[i], text, sizeof(text)));
    }
    log_info(resolv_tag, "%s", line);
}

/* Calls cb when the union of the files' servers differs from the last one delivered (or
 * always, the first time). */
static void resolv_watch_deliver(struct resolv_watch *w, bool first)
{
    struct resolv_servers all;

    memset(&all, 0, sizeof(all));
    for (size_t i = 0; i < w->n_files; i++) {
        const struct resolv_servers *s = &w->files[i].servers;

        all.ignored += s->ignored;
        for (size_t j = 0; j < s->count; j++) {
            resolv_servers_add(&all, &s->addr[j]);
        }
    }
    if (!first && resolv_servers_equal(&all, &w->delivered)) {
        return;
    }
    w->delivered = all;
    resolv_watch_log(w, &all);
    w->cb(w->user, &all);
}

/* ---- watching ---- */

static void resolv_watch_on_debounce(uv_timer_t *timer)
{
    struct resolv_watch *w = timer->data;

    w->debounce_pending = false;
    for (size_t i = 0; i < w->n_files; i++) {
        if (w->files[i].dirty) {
            resolv_file_read(w, &w->files[i]);
        }
    }
    resolv_watch_deliver(w, false);
}

/* Re-reads the dirty files once things have been quiet for debounce_ms: resolvconf truncates
 * the file and then writes it, and the empty file in between must not be applied. A file
 * written without pause is still read after RESOLV_DEBOUNCE_MAX_FACTOR quiet times. */
static void resolv_watch_schedule(struct resolv_watch *w)
{
    uint64_t now = uv_now(w->loop);

    if (w->closing) {
        return;
    }
    if (!w->debounce_pending) {
        w->debounce_pending = true;
        w->debounce_since_ms = now;
    } else if (now - w->debounce_since_ms >= RESOLV_DEBOUNCE_MAX_FACTOR * w->debounce_ms) {
        return;
    }
    uv_timer_start(&w->debounce_timer, resolv_watch_on_debounce, w->debounce_ms, 0);
}

/* Watches the file's directory; other files in the same directory share the watch. */
static int resolv_file_watch_dir(struct resolv_watch *w, struct resolv_file *f)
{
    int wd = inotify_add_watch(w->inotify_fd, f->dir, RESOLV_INOTIFY_MASK);

    if (wd < 0) {
        return -errno;
    }
    f->wd = wd;
    return 0;
}

/* Marks the files an event concerns as dirty; returns true when there was one. */
static bool resolv_watch_on_event(struct resolv_watch *w, const struct inotify_event *ev,
                                  const char *name)
{
    size_t name_len = strnlen(name, ev->len);
    bool hit = false;

    if (ev->mask & IN_Q_OVERFLOW) {
        for (size_t i = 0; i < w->n_files; i++) {
            w->files[i].dirty = true;
        }
        return true;
    }
    /* A moved directory keeps its watch, but our paths no longer lead to it. */
    if (ev->mask & IN_MOVE_SELF) {
        inotify_rm_watch(w->inotify_fd, ev->wd);
    }
    for (size_t i = 0; i < w->n_files; i++) {
        struct resolv_file *f = &w->files[i];

        if (f->wd != ev->wd) {
            continue;
        }
        if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
            f->wd = -1; /* the poll timer watches it again once it is back */
            f->dirty = true;
            hit = true;
        } else if (name_len == strlen(f->base) && memcmp(name, f->base, name_len) == 0) {
            f->dirty = true;
            hit = true;
        }
    }
    return hit;
}

/* Walks the events in one read(); the header is copied out, so the buffer needs no alignment. */
static bool resolv_watch_on_events(struct resolv_watch *w, const char *buf, size_t len)
{
    struct inotify_event ev;
    size_t pos = 0;
    bool hit = false;

    while (len - pos >= sizeof(ev)) {
        memcpy(&ev, buf + pos, sizeof(ev));
        if (ev.len > len - pos - sizeof(ev)) {
            break;
        }
        if (resolv_watch_on_event(w, &ev, buf + pos + sizeof(ev))) {
            hit = true;
        }
        pos += sizeof(ev) + ev.len;
    }
    return hit;
}

static void resolv_watch_on_inotify(uv_poll_t *handle, int status, int events)
{
    struct resolv_watch *w = handle->data;
    char buf[4096]; /* holds at least one event with the longest name (NAME_MAX) */
    bool hit = false;

    (void)events;
    if (status < 0) {
        log_warn(resolv_tag, "inotify failed: %s; checking files every %u ms", uv_strerror(status),
                 (unsigned)w->poll_interval_ms);
        uv_poll_stop(handle);
        return;
    }
    for (;;) {
        ssize_t n = read(w->inotify_fd, buf, sizeof(buf));

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break; /* EAGAIN: all read */
        }
        if (resolv_watch_on_events(w, buf, (size_t)n)) {
            hit = true;
        }
    }
    if (hit) {
        resolv_watch_schedule(w);
    }
}

/* The fallback: catches what inotify cannot see (a directory that did not exist, a symlink's
 * target changing elsewhere, no inotify at all), and adds watches once directories appear. */
static void resolv_watch_on_poll(uv_timer_t *timer)
{
    struct resolv_watch *w = timer->data;
    struct resolv_stamp now;
    bool hit = false;

    for (size_t i = 0; i < w->n_files; i++) {
        struct resolv_file *f = &w->files[i];

        if (f->wd < 0 && w->inotify_fd >= 0 && resolv_file_watch_dir(w, f) == 0) {
            log_info(resolv_tag, "watching %s for %s", f->dir, f->base);
            f->dirty = true;
        }
        resolv_stamp_take(f->path, &now);
        if (!resolv_stamp_equal(&now, &f->stamp)) {
            f->dirty = true;
        }
        hit = hit || f->dirty;
    }
    if (hit && !w->debounce_pending) {
        resolv_watch_schedule(w);
    }
}

/* ---- life cycle ---- */

static void resolv_watch_destroy(struct resolv_watch *w)
{
    if (w->inotify_fd >= 0) {
        close(w->inotify_fd);
    }
    for (size_t i = 0; i < w->n_files; i++) {
        free(w->files[i].path);
        free(w->files[i].dir);
    }
    free(w->read_buf);
    free(w);
}

static void resolv_watch_on_close(uv_handle_t *handle)
{
    struct resolv_watch *w = handle->data;

    if (--w->open_handles == 0) {
        resolv_watch_destroy(w);
    }
}

/* Splits a copy of path into directory and base name: "resolv.conf" lives in ".". */
static int resolv_file_init(struct resolv_file *f, const char *path)
{
    size_t len = path != NULL ? strlen(path) : 0;
    const char *slash;

    f->wd = -1;
    if (len == 0 || path[len - 1] == '/') {
        return -EINVAL;
    }
    f->path = strdup(path);
    if (f->path == NULL) {
        return -ENOMEM;
    }
    slash = strrchr(f->path, '/');
    if (slash == NULL) {
        f->dir = strdup(".");
        f->base = f->path;
    } else {
        f->dir = strndup(f->path, slash == f->path ? 1 : (size_t)(slash - f->path));
        f->base = slash + 1;
    }
    return f->dir != NULL ? 0 : -ENOMEM;
}

static int resolv_watch_alloc(const char *const *paths, size_t n_paths, struct resolv_watch **out)
{
    struct resolv_watch *w;
    int err = 0;

    if (paths == NULL || n_paths == 0 ||
        n_paths > (SIZE_MAX - sizeof(*w)) / sizeof(struct resolv_file)) {
        return -EINVAL;
    }
    w = calloc(1, sizeof(*w) + n_paths * sizeof(struct resolv_file));
    if (w == NULL) {
        return -ENOMEM;
    }
    w->inotify_fd = -1;
    w->n_files = n_paths;
    for (size_t i = 0; i < n_paths && err == 0; i++) {
        err = resolv_file_init(&w->files[i], paths[i]);
    }
    w->read_buf = malloc(RESOLV_FILE_MAX_BYTES + 1);
    if (err == 0 && w->read_buf == NULL) {
        err = -ENOMEM;
    }
    if (err < 0) {
        resolv_watch_destroy(w);
        return err;
    }
    *out = w;
    return 0;
}

static void resolv_watch_init_handle(struct resolv_watch *w, uv_handle_t *handle)
{
    handle->data = w;
    w->open_handles++;
}

/* Sets up inotify and its watches; without inotify the poll timer does the whole job. */
static void resolv_watch_start_inotify(struct resolv_watch *w)
{
    int err;

    w->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->inotify_fd < 0) {
        log_warn(resolv_tag, "inotify unavailable: %s; checking files every %u ms", strerror(errno),
                 (unsigned)w->poll_interval_ms);
        return;
    }
    err = uv_poll_init(w->loop, &w->inotify_poll, w->inotify_fd);
    if (err < 0) {
        log_warn(resolv_tag, "cannot poll inotify: %s; checking files every %u ms",
                 uv_strerror(err), (unsigned)w->poll_interval_ms);
        close(w->inotify_fd);
        w->inotify_fd = -1;
        return;
    }
    resolv_watch_init_handle(w, (uv_handle_t *)&w->inotify_poll);
    uv_poll_start(&w->inotify_poll, UV_READABLE, resolv_watch_on_inotify);

    for (size_t i = 0; i < w->n_files; i++) {
        struct resolv_file *f = &w->files[i];

        err = resolv_file_watch_dir(w, f);
        if (err < 0) {
            log_warn(resolv_tag, "cannot watch %s: %s; checking it every %u ms", f->dir,
                     strerror(-err), (unsigned)w->poll_interval_ms);
        }
    }
}

int resolv_watch_new(uv_loop_t *loop, const char *const *paths, size_t n_paths,
                     const struct resolv_watch_config *cfg, resolv_watch_cb cb, void *user,
                     struct resolv_watch **out)
{
    struct resolv_watch *w;
    int err;

    if (loop == NULL || cb == NULL || out == NULL) {
        return -EINVAL;
    }
    err = resolv_watch_alloc(paths, n_paths, &w);
    if (err < 0) {
        return err;
    }
    w->loop = loop;
    w->cb = cb;
    w->user = user;
    w->poll_interval_ms = RESOLV_DEFAULT_POLL_INTERVAL_MS;
    w->debounce_ms = RESOLV_DEFAULT_DEBOUNCE_MS;
    if (cfg != NULL) {
        w->poll_interval_ms =
            cfg->poll_interval_ms > 0 ? cfg->poll_interval_ms : w->poll_interval_ms;
        w->debounce_ms = cfg->debounce_ms > 0 ? cfg->debounce_ms : w->debounce_ms;
        w->no_poll = cfg->no_poll;
    }

    uv_timer_init(loop, &w->debounce_timer);
    resolv_watch_init_handle(w, (uv_handle_t *)&w->debounce_timer);
    uv_timer_init(loop, &w->poll_timer);
    resolv_watch_init_handle(w, (uv_handle_t *)&w->poll_timer);

    /* Watch before the first read, so that a change during it is not missed. */
    if (!w->no_poll) {
        resolv_watch_start_inotify(w);
        uv_timer_start(&w->poll_timer, resolv_watch_on_poll, w->poll_interval_ms,
                       w->poll_interval_ms);
    }
    for (size_t i = 0; i < w->n_files; i++) {
        resolv_file_read(w, &w->files[i]);
    }
    *out = w;
    resolv_watch_deliver(w, true);
    return 0;
}

void resolv_watch_free(struct resolv_watch *w)
{
    if (w == NULL || w->closing) {
        return;
    }
    w->closing = true;
    if (w->inotify_fd >= 0) {
        uv_close((uv_handle_t *)&w->inotify_poll, resolv_watch_on_close);
    }
    uv_close((uv_handle_t *)&w->debounce_timer, resolv_watch_on_close);
    uv_close((uv_handle_t *)&w->poll_timer, resolv_watch_on_close);
}

int resolv_watch_reload(struct resolv_watch *w)
{
    if (w == NULL || w->closing) {
        return -EINVAL;
    }
    for (size_t i = 0; i < w->n_files; i++) {
        resolv_file_read(w, &w->files[i]);
    }
    resolv_watch_deliver(w, false);
    return 0;
}
