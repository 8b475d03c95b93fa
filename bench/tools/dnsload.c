/* dnsload: a light UDP DNS load generator for measuring how many queries a server answers on
 * one core when the generator costs it as little as possible.
 *
 * It reads a query file in dnsperf's format ("name type" per line), builds every query once,
 * and then, on one thread that never sleeps, keeps up to -q queries outstanding over -c
 * sockets: queries leave in batches with sendmmsg, answers are read with non-blocking
 * recvmmsg. Because it polls instead of sleeping, the server's replies never have to wake it
 * (on loopback the sender pays for waking the receiver), so the server's share of a query is
 * what the server itself costs. dnsperf sleeps in poll and is measured separately; this tool
 * does not replace it, it shows where the server's own ceiling is.
 *
 * An answer is matched by socket, ID and question (the name as sent, case included); anything
 * else is counted as unmatched. A query unanswered after -t seconds is counted lost. Results
 * go to stdout as "key value" lines. The run stops by itself after -l seconds plus -t. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SOCKETS 64
#define MAX_BATCH 64
#define MAX_QUERY_BYTES 300
#define ANSWER_BYTES 4096
#define SLOTS_PER_SOCKET 65536 /* one per DNS ID */
#define RCODES 16

struct query {
    uint8_t wire[MAX_QUERY_BYTES];
    uint16_t len;
};

struct slot {
    uint64_t sent_ns; /* 0: free */
    uint32_t query;
};

struct sock {
    int fd;
    struct slot *slots;
    uint16_t *free_ids; /* a stack of free IDs */
    uint32_t free_count;
};

struct options {
    const char *server;
    int port;
    const char *datafile;
    double duration_s;
    double timeout_s;
    uint32_t outstanding;
    uint32_t sockets;
    uint32_t batch;
};

struct totals {
    uint64_t sent, answered, lost, unmatched, send_errors;
    uint64_t rcodes[RCODES];
    uint64_t latency_ns_sum, latency_ns_max;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint16_t qtype_code(const char *s)
{
    static const struct {
        const char *name;
        uint16_t code;
    } types[] = {{"A", 1},    {"NS", 2},    {"CNAME", 5}, {"SOA", 6},    {"PTR", 12}, {"MX", 15},
                 {"TXT", 16}, {"AAAA", 28}, {"SRV", 33},  {"HTTPS", 65}, {"ANY", 255}};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcasecmp(s, types[i].name) == 0) {
            return types[i].code;
        }
    }
    return 0;
}

/* Writes a query with RD set and ID 0 for NAME and TYPE; returns its length or 0 when the
 * name does not fit or has an empty or over-long label. */
static uint16_t build_query(uint8_t *out, const char *name, uint16_t qtype)
{
    static const uint8_t header[12] = {0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
    size_t pos = sizeof(header);
    memcpy(out, header, sizeof(header));

    const char *p = name;
    while (*p != '\0' && !(p[0] == '.' && p[1] == '\0')) {
        const char *dot = strchr(p, '.');
        size_t label = dot != NULL ? (size_t)(dot - p) : strlen(p);
        if (label == 0 || label > 63 || pos + 1 + label + 5 > MAX_QUERY_BYTES) {
            return 0;
        }
        out[pos++] = (uint8_t)label;
        memcpy(out + pos, p, label);
        pos += label;
        p += label;
        if (*p == '.') {
            p++;
        }
    }
    out[pos++] = 0;
    out[pos++] = (uint8_t)(qtype >> 8);
    out[pos++] = (uint8_t)qtype;
    out[pos++] = 0;
    out[pos++] = 1; /* class IN */
    return (uint16_t)pos;
}

static struct query *load_queries(const char *path, uint32_t *count)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "dnsload: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1024, n = 0;
    struct query *qs = malloc(cap * sizeof(*qs));
    char line[512];
    unsigned lineno = 0;
    while (qs != NULL && fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        char name[300], type[16];
        if (line[0] == '#' || sscanf(line, "%299s %15s", name, type) != 2) {
            continue;
        }
        uint16_t code = qtype_code(type);
        if (n == cap) {
            cap *= 2;
            struct query *grown = realloc(qs, cap * sizeof(*qs));
            if (grown == NULL) {
                free(qs);
                qs = NULL;
                break;
            }
            qs = grown;
        }
        qs[n].len = code != 0 ? build_query(qs[n].wire, name, code) : 0;
        if (qs[n].len == 0) {
            fprintf(stderr, "dnsload: %s:%u: cannot make a query of this line\n", path, lineno);
            continue;
        }
        n++;
    }
    fclose(f);
    if (qs != NULL && n == 0) {
        fprintf(stderr, "dnsload: %s: no queries\n", path);
        free(qs);
        qs = NULL;
    }
    *count = (uint32_t)n;
    return qs;
}

static int open_sockets(struct sock *socks, uint32_t n, const struct sockaddr_in *server)
{
    for (uint32_t i = 0; i < n; i++) {
        socks[i].fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        if (socks[i].fd < 0 ||
            connect(socks[i].fd, (const struct sockaddr *)server, sizeof(*server)) != 0) {
            perror("dnsload: socket");
            return -1;
        }
        int rcvbuf = 4 << 20;
        (void)setsockopt(socks[i].fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
        socks[i].slots = calloc(SLOTS_PER_SOCKET, sizeof(struct slot));
        socks[i].free_ids = malloc(SLOTS_PER_SOCKET * sizeof(uint16_t));
        if (socks[i].slots == NULL || socks[i].free_ids == NULL) {
            return -1;
        }
        for (uint32_t id = 0; id < SLOTS_PER_SOCKET; id++) {
            socks[i].free_ids[id] = (uint16_t)(SLOTS_PER_SOCKET - 1 - id);
        }
        socks[i].free_count = SLOTS_PER_SOCKET;
    }
    return 0;
}

struct generator {
    struct options opt;
    struct query *queries;
    uint32_t query_count, next_query;
    struct sock socks[MAX_SOCKETS];
    uint32_t outstanding;
    struct totals t;
    uint8_t tx[MAX_BATCH][MAX_QUERY_BYTES];
    uint8_t rx[MAX_BATCH][ANSWER_BYTES];
};

/* Sends up to one batch on socket S, as far as the outstanding limit allows. */
static void send_batch(struct generator *g, struct sock *s, uint64_t now)
{
    struct mmsghdr msgs[MAX_BATCH];
    struct iovec iov[MAX_BATCH];
    uint16_t ids[MAX_BATCH];
    uint32_t want = g->opt.outstanding - g->outstanding;
    if (want > g->opt.batch) {
        want = g->opt.batch;
    }
    uint32_t n = 0;
    for (; n < want && s->free_count > 0; n++) {
        uint32_t qi = g->next_query;
        g->next_query = (g->next_query + 1) % g->query_count;
        uint16_t id = s->free_ids[--s->free_count];
        memcpy(g->tx[n], g->queries[qi].wire, g->queries[qi].len);
        g->tx[n][0] = (uint8_t)(id >> 8);
        g->tx[n][1] = (uint8_t)id;
        s->slots[id].sent_ns = now;
        s->slots[id].query = qi;
        ids[n] = id;
        iov[n] = (struct iovec){.iov_base = g->tx[n], .iov_len = g->queries[qi].len};
        msgs[n] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[n], .msg_iovlen = 1}};
    }
    int sent = n > 0 ? sendmmsg(s->fd, msgs, n, 0) : 0;
    uint32_t ok = sent > 0 ? (uint32_t)sent : 0;
    for (uint32_t i = ok; i < n; i++) { /* not sent: the IDs go back */
        s->slots[ids[i]].sent_ns = 0;
        s->free_ids[s->free_count++] = ids[i];
        g->t.send_errors++;
    }
    g->outstanding += ok;
    g->t.sent += ok;
}

static bool answer_matches(const struct generator *g, const struct slot *sl, const uint8_t *a,
                           size_t len)
{
    const struct query *q = &g->queries[sl->query];
    /* the question follows the 12-byte header in both */
    return len >= q->len && (a[2] & 0x80) != 0 && memcmp(a + 12, q->wire + 12, q->len - 12u) == 0;
}

/* Reads what has arrived on socket S without waiting; returns how many datagrams. */
static int receive_batch(struct generator *g, struct sock *s, uint64_t now)
{
    struct mmsghdr msgs[MAX_BATCH];
    struct iovec iov[MAX_BATCH];
    for (uint32_t i = 0; i < g->opt.batch; i++) {
        iov[i] = (struct iovec){.iov_base = g->rx[i], .iov_len = ANSWER_BYTES};
        msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
    }
    int n = recvmmsg(s->fd, msgs, g->opt.batch, MSG_DONTWAIT, NULL);
    for (int i = 0; i < n; i++) {
        const uint8_t *a = g->rx[i];
        size_t len = msgs[i].msg_len;
        uint16_t id = 0;
        if (len >= 12) {
            id = (uint16_t)(a[0] << 8 | a[1]);
        }
        struct slot *sl = &s->slots[id];
        if (len < 12 || sl->sent_ns == 0 || !answer_matches(g, sl, a, len)) {
            g->t.unmatched++;
            continue;
        }
        uint64_t latency = now - sl->sent_ns;
        g->t.latency_ns_sum += latency;
        if (latency > g->t.latency_ns_max) {
            g->t.latency_ns_max = latency;
        }
        g->t.rcodes[a[3] & 0x0f]++;
        g->t.answered++;
        sl->sent_ns = 0;
        s->free_ids[s->free_count++] = id;
        g->outstanding--;
    }
    return n > 0 ? n : 0;
}

/* Counts as lost, and frees, every query sent before CUTOFF. */
static void expire(struct generator *g, uint64_t cutoff)
{
    for (uint32_t i = 0; i < g->opt.sockets; i++) {
        struct sock *s = &g->socks[i];
        for (uint32_t id = 0; id < SLOTS_PER_SOCKET; id++) {
            if (s->slots[id].sent_ns != 0 && s->slots[id].sent_ns < cutoff) {
                s->slots[id].sent_ns = 0;
                s->free_ids[s->free_count++] = (uint16_t)id;
                g->outstanding--;
                g->t.lost++;
            }
        }
    }
}

static void run(struct generator *g)
{
    uint64_t start = now_ns();
    uint64_t send_until = start + (uint64_t)(g->opt.duration_s * 1e9);
    uint64_t timeout_ns = (uint64_t)(g->opt.timeout_s * 1e9);
    uint64_t next_expiry = start + timeout_ns;
    uint64_t now = start;

    while (now < send_until) {
        for (uint32_t i = 0; i < g->opt.sockets; i++) {
            if (g->outstanding < g->opt.outstanding) {
                send_batch(g, &g->socks[i], now);
            }
            receive_batch(g, &g->socks[i], now);
        }
        now = now_ns();
        if (now >= next_expiry) {
            expire(g, now - timeout_ns);
            next_expiry = now + timeout_ns / 4;
        }
    }
    double sending_s = (double)(now - start) / 1e9;

    /* the answers still to come get the timeout, as with dnsperf */
    uint64_t drain_until = now + timeout_ns;
    while (g->outstanding > 0 && now < drain_until) {
        for (uint32_t i = 0; i < g->opt.sockets; i++) {
            receive_batch(g, &g->socks[i], now);
        }
        now = now_ns();
    }
    expire(g, UINT64_MAX);

    printf("duration_s %.3f\nsent %llu\nanswered %llu\nlost %llu\nunmatched %llu\n"
           "send_errors %llu\nqps %.0f\n",
           sending_s, (unsigned long long)g->t.sent, (unsigned long long)g->t.answered,
           (unsigned long long)g->t.lost, (unsigned long long)g->t.unmatched,
           (unsigned long long)g->t.send_errors, (double)g->t.answered / sending_s);
    printf("latency_avg_ms %.3f\nlatency_max_ms %.3f\n",
           g->t.answered > 0 ? (double)g->t.latency_ns_sum / (double)g->t.answered / 1e6 : 0.0,
           (double)g->t.latency_ns_max / 1e6);
    for (int r = 0; r < RCODES; r++) {
        if (g->t.rcodes[r] > 0) {
            printf("rcode_%d %llu\n", r, (unsigned long long)g->t.rcodes[r]);
        }
    }
}

static void usage(void)
{
    fprintf(stderr,
            "usage: dnsload -s ADDR -p PORT -d FILE [-l SECONDS] [-t SECONDS] [-q OUTSTANDING]\n"
            "               [-c SOCKETS] [-b BATCH]\n"
            "  IPv4 only; FILE has \"name type\" lines as dnsperf's; defaults -l 10 -t 1\n"
            "  -q 100 -c 8 -b 32 (-c at most %d, -b at most %d, -l at most 600)\n",
            MAX_SOCKETS, MAX_BATCH);
}

static int parse_options(int argc, char **argv, struct options *o)
{
    *o = (struct options){.port = 53,
                          .duration_s = 10,
                          .timeout_s = 1,
                          .outstanding = 100,
                          .sockets = 8,
                          .batch = 32};
    int c;
    while ((c = getopt(argc, argv, "s:p:d:l:t:q:c:b:")) != -1) {
        switch (c) {
        case 's':
            o->server = optarg;
            break;
        case 'p':
            o->port = atoi(optarg);
            break;
        case 'd':
            o->datafile = optarg;
            break;
        case 'l':
            o->duration_s = atof(optarg);
            break;
        case 't':
            o->timeout_s = atof(optarg);
            break;
        case 'q':
            o->outstanding = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'c':
            o->sockets = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'b':
            o->batch = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        default:
            return -1;
        }
    }
    if (o->server == NULL || o->datafile == NULL || o->port <= 0 || o->port > 65535 ||
        !(o->duration_s > 0 && o->duration_s <= 600) || !(o->timeout_s > 0 && o->timeout_s <= 60) ||
        o->outstanding == 0 || o->sockets == 0 || o->sockets > MAX_SOCKETS || o->batch == 0 ||
        o->batch > MAX_BATCH) {
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct generator g;
    if (parse_options(argc, argv, &g.opt) != 0) {
        usage();
        return 2;
    }
    struct sockaddr_in server = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g.opt.port)};
    if (inet_pton(AF_INET, g.opt.server, &server.sin_addr) != 1) {
        fprintf(stderr, "dnsload: %s is not an IPv4 address\n", g.opt.server);
        return 2;
    }
    g.queries = load_queries(g.opt.datafile, &g.query_count);
    if (g.queries == NULL || open_sockets(g.socks, g.opt.sockets, &server) != 0) {
        return 1;
    }
    run(&g);
    return 0;
}
