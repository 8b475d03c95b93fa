/* The libuv layer, driven for real over loopback: nodes on one loop bootstrap from each
 * other, store and find an item, keep their state across a restart, and count what they
 * drop. An alarm kills a test that hangs. */
#include "bep44.h"
#include "dht_lookup.h"
#include "dht_node.h"
#include "dht_store.h"
#include "dht_table.h"
#include "dht_uv.h"
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NODES 6
#define WAIT_MS 5000
#define WATCHDOG_S 30
#define FAST 10000 /* per-IP limits: every node shares 127.0.0.1 */

static struct {
    uv_loop_t loop;
    uv_timer_t deadline;
    bool timed_out;
    struct dht_uv *nodes[NODES];
    size_t closed;
    size_t ready_calls;
    size_t ready_count;
    size_t ready_counts[NODES]; /* what each node's ready callback reported */
    bool done;
    int status;
    size_t stored;
    int64_t seq;
    uint8_t value[BEP44_VALUE_MAX];
    size_t value_len;
} fx;

static void on_deadline(uv_timer_t *t)
{
    (void)t;
    fx.timed_out = true;
    uv_stop(&fx.loop);
}

/* Runs the loop until *flag is true or WAIT_MS pass; returns *flag. */
static bool run_until(const bool *flag)
{
    fx.timed_out = false;
    uv_timer_start(&fx.deadline, on_deadline, WAIT_MS, 0);
    while (!*flag && !fx.timed_out) {
        uv_run(&fx.loop, UV_RUN_ONCE);
    }
    uv_timer_stop(&fx.deadline);
    return *flag;
}

static void run_for(uint64_t ms)
{
    fx.timed_out = false;
    uv_timer_start(&fx.deadline, on_deadline, ms, 0);
    while (!fx.timed_out) {
        uv_run(&fx.loop, UV_RUN_ONCE);
    }
}

static void setup(void)
{
    memset(&fx, 0, sizeof(fx));
    CHECK_INT(uv_loop_init(&fx.loop), 0);
    uv_timer_init(&fx.loop, &fx.deadline);
}

static void on_closed(void *user)
{
    (void)user;
    fx.closed++;
}

/* Closes every node and the loop; ASan reports anything not freed. */
static void teardown(void)
{
    size_t open = 0;

    for (size_t i = 0; i < NODES; i++) {
        if (fx.nodes[i] != NULL) {
            dht_uv_close(fx.nodes[i], on_closed, NULL);
            fx.nodes[i] = NULL;
            open++;
        }
    }
    uv_close((uv_handle_t *)&fx.deadline, NULL);
    uv_run(&fx.loop, UV_RUN_DEFAULT);
    CHECK_INT(fx.closed, open);
    CHECK_INT(uv_loop_close(&fx.loop), 0);
}

static void on_ready(void *user, size_t n)
{
    fx.ready_calls++;
    fx.ready_count = n;
    fx.ready_counts[(uintptr_t)user] = n;
}

static int start_node(size_t i, const char *bootstrap, const char *state_file)
{
    struct dht_uv_config cfg;

    memset(&cfg, 0, sizeof(cfg));
    cfg.bind = "127.0.0.1:0";
    cfg.bootstrap = bootstrap;
    cfg.state_file = state_file;
    cfg.ready = on_ready;
    cfg.user = (void *)(uintptr_t)i;
    cfg.node.query_rate_per_s = cfg.node.query_burst = FAST;
    cfg.node.send_rate_per_s = cfg.node.send_burst = FAST;
    return dht_uv_new(&fx.loop, &cfg, &fx.nodes[i]);
}

/* Node i with an IPv6 socket on ::1 as well (BEP 32). */
static int start_node6(size_t i, const char *bootstrap, const char *state_file)
{
    struct dht_uv_config cfg;

    memset(&cfg, 0, sizeof(cfg));
    cfg.bind = "127.0.0.1:0";
    cfg.bind6 = "[::1]:0";
    cfg.bootstrap = bootstrap;
    cfg.state_file = state_file;
    cfg.node.query_rate_per_s = cfg.node.query_burst = FAST;
    cfg.node.send_rate_per_s = cfg.node.send_burst = FAST;
    return dht_uv_new(&fx.loop, &cfg, &fx.nodes[i]);
}

/* True when this host can bind ::1 (some containers have no IPv6). */
static bool have_ipv6_loopback(void)
{
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int fd = socket(AF_INET6, SOCK_DGRAM, 0);
    bool ok = fd >= 0 && bind(fd, (const struct sockaddr *)&sin6, sizeof(sin6)) == 0;

    if (fd >= 0) {
        close(fd);
    }
    if (!ok) {
        printf("no IPv6 loopback here; IPv6 socket tests skipped\n");
    }
    return ok;
}

static size_t table6_size(size_t i)
{
    const struct dht_table *t = dht_node_table6(dht_uv_node(fx.nodes[i]));

    return t != NULL ? dht_table_count(t, uv_now(&fx.loop), NULL) : 0;
}

/* Node 0 alone, then nodes 1.. bootstrapping from node 0 by "127.0.0.1:port". */
static void start_network(size_t n)
{
    char first[ADDR_TEXT_MAX];

    CHECK_INT(start_node(0, "", NULL), 0);
    addr_format(dht_uv_addr(fx.nodes[0]), first, sizeof(first));
    for (size_t i = 1; i < n; i++) {
        CHECK_INT(start_node(i, first, NULL), 0);
    }
}

static size_t table_size(size_t i)
{
    return dht_table_count(dht_node_table(dht_uv_node(fx.nodes[i])), uv_now(&fx.loop), NULL);
}

/* ---- tests ---- */

/* The well-known routers (PROTOCOLS.md); tests only read the list and never contact them. */
static void test_uv_default_bootstrap_is_the_four_public_routers(void)
{
    static const char *const routers[] = {
        "router.bittorrent.com:6881",
        "dht.transmissionbt.com:6881",
        "dht.libtorrent.org:25401",
        "router.utorrent.com:6881",
    };
    const char *p = dht_uv_bootstrap_list(NULL);
    size_t n = 0;

    while (*p != '\0') {
        size_t len = strcspn(p, ",");
        CHECK(n < sizeof(routers) / sizeof(routers[0]));
        if (n < sizeof(routers) / sizeof(routers[0])) {
            CHECK(len == strlen(routers[n]) && memcmp(p, routers[n], len) == 0);
        }
        n++;
        p += len + (p[len] == ',');
    }
    CHECK_INT(n, sizeof(routers) / sizeof(routers[0]));
}

static void test_uv_given_bootstrap_list_replaces_the_default(void)
{
    CHECK_STR(dht_uv_bootstrap_list(""), "");
    CHECK_STR(dht_uv_bootstrap_list("127.0.0.1:6881"), "127.0.0.1:6881");
}

static void test_uv_binds_any_port_and_reports_it(void)
{
    setup();
    CHECK_INT(start_node(0, "", NULL), 0);
    CHECK_INT(dht_uv_addr(fx.nodes[0])->sa.ss_family, AF_INET);
    CHECK(addr_port(dht_uv_addr(fx.nodes[0])) != 0);
    teardown();
}

static void test_uv_refuses_bad_bind_and_bootstrap_entries(void)
{
    struct dht_uv_config cfg;
    struct dht_uv *d = NULL;

    setup();
    memset(&cfg, 0, sizeof(cfg));
    cfg.bootstrap = "";
    cfg.bind = "[::1]:0";
    CHECK_INT(dht_uv_new(&fx.loop, &cfg, &d), -EINVAL);
    cfg.bind = "not an address";
    CHECK_INT(dht_uv_new(&fx.loop, &cfg, &d), -EINVAL);
    cfg.bind = "127.0.0.1:0";
    cfg.bootstrap = "127.0.0.1";
    CHECK_INT(dht_uv_new(&fx.loop, &cfg, &d), -EINVAL);
    cfg.bootstrap = "127.0.0.1:70000";
    CHECK_INT(dht_uv_new(&fx.loop, &cfg, &d), -EINVAL);
    CHECK(d == NULL);
    teardown();
}

static void test_uv_ready_reports_numeric_bootstrap_entries(void)
{
    setup();
    CHECK_INT(start_node(0, "127.0.0.1:9,127.0.0.2:10,", NULL), 0);
    CHECK_INT(fx.ready_calls, 0); /* never from inside dht_uv_new */
    run_for(50);
    CHECK_INT(fx.ready_calls, 1);
    CHECK_INT(fx.ready_count, 2);
    teardown();
}

/* Node 0 knows every other node, and every other node knows someone. */
static bool network_bootstrapped(size_t n)
{
    if (table_size(0) < n - 1) {
        return false;
    }
    for (size_t i = 1; i < n; i++) {
        if (table_size(i) == 0) {
            return false;
        }
    }
    return true;
}

static void test_uv_nodes_bootstrap_from_one_address(void)
{
    bool all = false;

    setup();
    start_network(NODES);
    for (int i = 0; i < 50 && !all; i++) {
        run_for(100);
        all = network_bootstrapped(NODES);
    }
    CHECK(all);
    teardown();
}

static void test_uv_node_bootstraps_from_a_host_name(void)
{
    char name[32];
    bool joined = false;

    setup();
    CHECK_INT(start_node(0, "", NULL), 0);
    /* A name, not an address: c-ares finds it in /etc/hosts. */
    snprintf(name, sizeof(name), "localhost:%u", (unsigned)addr_port(dht_uv_addr(fx.nodes[0])));
    CHECK_INT(start_node(1, name, NULL), 0);
    for (int i = 0; i < 50 && (fx.ready_calls < 2 || !joined); i++) {
        run_for(100);
        joined = table_size(0) == 1 && table_size(1) == 1;
    }
    CHECK_INT(fx.ready_calls, 2); /* node 0's, with nothing to resolve, and node 1's */
    CHECK_INT(fx.ready_counts[1], 1);
    CHECK(joined);
    teardown();
}

static void on_put(void *user, const struct dht_lookup_event *ev)
{
    (void)user;
    if (ev->type == DHT_LOOKUP_DONE) {
        fx.status = ev->status;
        fx.stored = ev->stored;
        fx.done = true;
    }
}

static void on_get(void *user, const struct dht_lookup_event *ev)
{
    (void)user;
    if (ev->type == DHT_LOOKUP_VALUE) {
        fx.seq = ev->item->seq;
        memcpy(fx.value, ev->item->value, ev->item->value_len);
        fx.value_len = ev->item->value_len;
        return;
    }
    fx.status = ev->status;
    fx.done = true;
}

static void test_uv_item_put_by_one_node_is_found_by_another(void)
{
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    uint8_t sig[BEP44_SIG_LEN];
    static const uint8_t value[] = "5:hello";
    struct dht_store_item item = {.k = pk, .sig = sig, .seq = 42, .value = value};
    struct dht_lookup_get_args args = {.k = pk};

    setup();
    start_network(NODES);
    run_for(500);
    crypto_sign_keypair(pk, sk);
    item.value_len = sizeof(value) - 1;
    CHECK_INT(bep44_sign(sk, NULL, 0, 42, value, item.value_len, sig), 0);
    CHECK_INT(
        dht_lookup_put(dht_uv_node(fx.nodes[1]), &item, NULL, on_put, NULL, uv_now(&fx.loop), NULL),
        0);
    CHECK(run_until(&fx.done));
    CHECK_INT(fx.status, 0);
    CHECK(fx.stored >= 1);

    fx.done = false;
    CHECK_INT(dht_lookup_get(dht_uv_node(fx.nodes[NODES - 1]), &args, on_get, NULL,
                             uv_now(&fx.loop), NULL),
              0);
    CHECK(run_until(&fx.done));
    CHECK_INT(fx.status, 0);
    CHECK_INT(fx.seq, 42);
    CHECK_INT(fx.value_len, item.value_len);
    CHECK_MEM(fx.value, value, item.value_len);
    teardown();
}

static void test_uv_restart_from_state_file_keeps_id_and_contacts(void)
{
    char path[] = "/tmp/dht_test_uv_XXXXXX", first[ADDR_TEXT_MAX];
    uint8_t id[KRPC_ID_LEN];
    size_t good = 0, saved;
    int fd = mkstemp(path);

    CHECK(fd >= 0);
    close(fd);
    unlink(path); /* no file yet: the first start is cold */
    setup();
    start_network(2);
    addr_format(dht_uv_addr(fx.nodes[0]), first, sizeof(first));
    CHECK_INT(start_node(2, first, path), 0);
    for (int i = 0; i < 50 && table_size(2) < 2; i++) {
        run_for(100);
    }
    saved = table_size(2);
    CHECK(saved >= 1);
    memcpy(id, dht_node_id(dht_uv_node(fx.nodes[2])), KRPC_ID_LEN);
    dht_uv_close(fx.nodes[2], NULL, NULL); /* writes the state file */
    fx.nodes[2] = NULL;

    /* No bootstrap entry at all: what it knows comes from the file. */
    CHECK_INT(start_node(2, "", path), 0);
    CHECK_MEM(dht_node_id(dht_uv_node(fx.nodes[2])), id, KRPC_ID_LEN);
    CHECK_INT(table_size(2), saved);
    for (int i = 0; i < 50 && good < saved; i++) {
        run_for(100);
        dht_table_count(dht_node_table(dht_uv_node(fx.nodes[2])), uv_now(&fx.loop), &good);
    }
    CHECK(good >= saved);
    teardown();
    unlink(path);
}

/* The state file's bytes; returns how many were read (0 when there is none). */
static size_t read_file(const char *path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    size_t n;

    if (f == NULL) {
        return 0;
    }
    n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

static void test_uv_state_file_is_rewritten_every_interval_while_running(void)
{
    char path[] = "/tmp/dht_test_uv_save_XXXXXX", first[ADDR_TEXT_MAX];
    static uint8_t file[4096];
    struct dht_uv_config cfg;
    size_t len = 0;
    int fd = mkstemp(path);

    CHECK(fd >= 0);
    close(fd);
    unlink(path);
    setup();
    CHECK_INT(start_node(0, "", NULL), 0);
    addr_format(dht_uv_addr(fx.nodes[0]), first, sizeof(first));
    memset(&cfg, 0, sizeof(cfg));
    cfg.bind = "127.0.0.1:0";
    cfg.bootstrap = first;
    cfg.state_file = path;
    cfg.save_interval_ms = 100;
    cfg.node.query_rate_per_s = cfg.node.query_burst = FAST;
    cfg.node.send_rate_per_s = cfg.node.send_burst = FAST;
    CHECK_INT(dht_uv_new(&fx.loop, &cfg, &fx.nodes[1]), 0);
    CHECK_INT(dht_uv_stats(fx.nodes[1])->saves, 0);

    /* Without a stop, the file appears and is written again, and comes to hold node 0. */
    for (int i = 0; i < 50 && (dht_uv_stats(fx.nodes[1])->saves < 3 ||
                               len < 14 + KRPC_ID_LEN + 4 + KRPC_NODE_LEN);
         i++) {
        run_for(100);
        len = read_file(path, file, sizeof(file));
    }
    CHECK(dht_uv_stats(fx.nodes[1])->saves >= 3);
    CHECK(len >= 14 + KRPC_ID_LEN + 4 + KRPC_NODE_LEN);
    CHECK_MEM(file, "pkdht-state-2\n", 14);
    CHECK_MEM(file + 14, dht_node_id(dht_uv_node(fx.nodes[1])), KRPC_ID_LEN);
    CHECK_MEM(file + 14 + KRPC_ID_LEN + 4, dht_node_id(dht_uv_node(fx.nodes[0])), KRPC_ID_LEN);
    teardown();
    unlink(path);
}

static void test_uv_ipv4_only_by_default(void)
{
    struct dht_uv_config cfg;
    struct dht_uv *d = NULL;

    setup();
    CHECK_INT(start_node(0, "", NULL), 0);
    CHECK(dht_uv_addr6(fx.nodes[0]) == NULL);
    CHECK(dht_node_table6(dht_uv_node(fx.nodes[0])) == NULL);
    memset(&cfg, 0, sizeof(cfg));
    cfg.bootstrap = "";
    cfg.bind = "127.0.0.1:0";
    cfg.bind6 = "127.0.0.1:0"; /* the IPv6 socket takes an IPv6 address only */
    CHECK_INT(dht_uv_new(&fx.loop, &cfg, &d), -EINVAL);
    CHECK(d == NULL);
    teardown();
}

static void test_uv_dual_stack_nodes_bootstrap_and_store_over_ipv6(void)
{
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    uint8_t sig[BEP44_SIG_LEN];
    static const uint8_t value[] = "4:six!";
    struct dht_store_item item = {.k = pk, .sig = sig, .seq = 6, .value = value};
    struct dht_lookup_get_args args = {.k = pk};
    char first[ADDR_TEXT_MAX];
    bool all = false;

    if (!have_ipv6_loopback()) {
        return;
    }
    setup();
    CHECK_INT(start_node6(0, "", NULL), 0);
    CHECK_INT(dht_uv_addr6(fx.nodes[0])->sa.ss_family, AF_INET6);
    /* The others know node 0 by its IPv6 address only. */
    addr_format(dht_uv_addr6(fx.nodes[0]), first, sizeof(first));
    for (size_t i = 1; i < NODES; i++) {
        CHECK_INT(start_node6(i, first, NULL), 0);
    }
    for (int i = 0; i < 50 && !all; i++) {
        run_for(100);
        all = table6_size(0) >= NODES - 1 && table6_size(NODES - 1) > 0;
    }
    CHECK(all);
    CHECK_INT(table_size(NODES - 1), 0);

    crypto_sign_keypair(pk, sk);
    item.value_len = sizeof(value) - 1;
    CHECK_INT(bep44_sign(sk, NULL, 0, 6, value, item.value_len, sig), 0);
    CHECK_INT(
        dht_lookup_put(dht_uv_node(fx.nodes[1]), &item, NULL, on_put, NULL, uv_now(&fx.loop), NULL),
        0);
    CHECK(run_until(&fx.done));
    CHECK_INT(fx.status, 0);
    fx.done = false;
    CHECK_INT(dht_lookup_get(dht_uv_node(fx.nodes[NODES - 1]), &args, on_get, NULL,
                             uv_now(&fx.loop), NULL),
              0);
    CHECK(run_until(&fx.done));
    CHECK_INT(fx.status, 0);
    CHECK_INT(fx.seq, 6);
    teardown();
}

static void test_uv_state_file_keeps_ipv6_contacts(void)
{
    char path[] = "/tmp/dht_test_uv6_XXXXXX", first[ADDR_TEXT_MAX];
    size_t saved;
    int fd;

    if (!have_ipv6_loopback()) {
        return;
    }
    fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    unlink(path);
    setup();
    CHECK_INT(start_node6(0, "", NULL), 0);
    CHECK_INT(start_node6(1, "", NULL), 0);
    addr_format(dht_uv_addr6(fx.nodes[0]), first, sizeof(first));
    CHECK_INT(start_node6(2, first, path), 0);
    dht_node_add_bootstrap(dht_uv_node(fx.nodes[1]), dht_uv_addr6(fx.nodes[0]), 1,
                           uv_now(&fx.loop));
    for (int i = 0; i < 50 && table6_size(2) < 2; i++) {
        run_for(100);
    }
    saved = table6_size(2);
    CHECK(saved >= 1);
    dht_uv_close(fx.nodes[2], NULL, NULL);
    fx.nodes[2] = NULL;

    CHECK_INT(start_node6(2, "", path), 0);
    CHECK_INT(table6_size(2), saved);
    teardown();
    unlink(path);
}

static void test_uv_reads_version_1_state_file(void)
{
    char path[] = "/tmp/dht_test_uv1_XXXXXX";
    uint8_t file[14 + KRPC_ID_LEN + KRPC_NODE_LEN], id[KRPC_ID_LEN];
    int fd = mkstemp(path);

    CHECK(fd >= 0);
    memcpy(file, "pkdht-state-1\n", 14);
    memset(id, 0x5c, sizeof(id));
    memcpy(file + 14, id, KRPC_ID_LEN);
    memset(file + 14 + KRPC_ID_LEN, 0x7e, KRPC_ID_LEN);                 /* a contact's ID */
    memcpy(file + 14 + 2 * KRPC_ID_LEN, "\x7f\x00\x00\x01\x00\x09", 6); /* 127.0.0.1:9 */
    CHECK(write(fd, file, sizeof(file)) == (ssize_t)sizeof(file));
    close(fd);
    setup();
    CHECK_INT(start_node(0, "", path), 0);
    CHECK_MEM(dht_node_id(dht_uv_node(fx.nodes[0])), id, KRPC_ID_LEN);
    CHECK_INT(table_size(0), 1);
    teardown();
    unlink(path);
}

/* Sends len bytes from a plain socket to node i. */
static void send_to(size_t i, const uint8_t *data, size_t len)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    const struct addr *to = dht_uv_addr(fx.nodes[i]);

    CHECK(fd >= 0);
    CHECK(sendto(fd, data, len, 0, (const struct sockaddr *)&to->sa, to->len) == (ssize_t)len);
    close(fd);
}

static void test_uv_counts_garbage_and_oversized_datagrams(void)
{
    static uint8_t big[4000];
    static const uint8_t garbage[] = "this is not bencode";
    const struct dht_node_stats *s;

    setup();
    CHECK_INT(start_node(0, "", NULL), 0);
    memset(big, 'x', sizeof(big));
    for (int i = 0; i < 20; i++) {
        send_to(0, garbage, sizeof(garbage) - 1);
    }
    send_to(0, big, sizeof(big));
    run_for(200);
    s = dht_node_stats(dht_uv_node(fx.nodes[0]));
    CHECK_INT(s->malformed, 20);
    CHECK_INT(dht_uv_stats(fx.nodes[0])->truncated, 1);
    CHECK_INT(dht_uv_stats(fx.nodes[0])->received, 21);
    teardown();
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_uv_default_bootstrap_is_the_four_public_routers),
        UNIT(test_uv_given_bootstrap_list_replaces_the_default),
        UNIT(test_uv_binds_any_port_and_reports_it),
        UNIT(test_uv_refuses_bad_bind_and_bootstrap_entries),
        UNIT(test_uv_ready_reports_numeric_bootstrap_entries),
        UNIT(test_uv_nodes_bootstrap_from_one_address),
        UNIT(test_uv_node_bootstraps_from_a_host_name),
        UNIT(test_uv_item_put_by_one_node_is_found_by_another),
        UNIT(test_uv_restart_from_state_file_keeps_id_and_contacts),
        UNIT(test_uv_state_file_is_rewritten_every_interval_while_running),
        UNIT(test_uv_counts_garbage_and_oversized_datagrams),
        UNIT(test_uv_ipv4_only_by_default),
        UNIT(test_uv_dual_stack_nodes_bootstrap_and_store_over_ipv6),
        UNIT(test_uv_state_file_keeps_ipv6_contacts),
        UNIT(test_uv_reads_version_1_state_file),
    };

    if (sodium_init() < 0) {
        return 1;
    }
    alarm(WATCHDOG_S);
    return unit_run("dht_uv", tests, sizeof(tests) / sizeof(tests[0]));
}
