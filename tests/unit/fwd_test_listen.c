#include "fwd_config.h"
#include "fwd_listen.h"
#include "unit.h"

#include <errno.h>

/* Where the forwarder listens, from listen-address, interface= and the default. */

static struct fwd_config cfg;
static struct addr addrs[FWD_LISTEN_MAX];
static size_t n;

static bool listens_on(const char *ip, uint16_t port)
{
    struct addr want;

    if (addr_parse(ip, port, &want) != 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (addr_equal(&addrs[i], &want)) {
            return true;
        }
    }
    return false;
}

static void test_nothing_given_listens_on_127_0_0_1(void)
{
    fwd_config_defaults(&cfg);
    cfg.port = 5301;
    CHECK_INT(fwd_listen_addresses(&cfg, addrs, FWD_LISTEN_MAX, &n), 0);
    CHECK_INT(n, 1);
    CHECK(listens_on("127.0.0.1", 5301));
}

static void test_listen_addresses_take_the_port_and_repeats_collapse(void)
{
    fwd_config_defaults(&cfg);
    cfg.port = 5302;
    CHECK_INT(addr_parse("192.0.2.1", 0, &cfg.listen[0]), 0);
    CHECK_INT(addr_parse("::1", 0, &cfg.listen[1]), 0);
    CHECK_INT(addr_parse("192.0.2.1", 0, &cfg.listen[2]), 0);
    cfg.n_listen = 3;
    CHECK_INT(fwd_listen_addresses(&cfg, addrs, FWD_LISTEN_MAX, &n), 0);
    CHECK_INT(n, 2);
    CHECK(listens_on("192.0.2.1", 5302));
    CHECK(listens_on("::1", 5302));
    CHECK(!listens_on("127.0.0.1", 5302)); /* no default once something is given */
}

static void test_interface_lo_listens_on_its_ipv4_address(void)
{
    fwd_config_defaults(&cfg);
    cfg.port = 5303;
    snprintf(cfg.interfaces[0], IF_NAMESIZE, "lo");
    cfg.n_interfaces = 1;
    CHECK_INT(fwd_listen_addresses(&cfg, addrs, FWD_LISTEN_MAX, &n), 0);
    CHECK(listens_on("127.0.0.1", 5303));
}

static void test_an_interface_that_does_not_exist_is_an_error(void)
{
    fwd_config_defaults(&cfg);
    snprintf(cfg.interfaces[0], IF_NAMESIZE, "nosuch0pk");
    cfg.n_interfaces = 1;
    unit_capture_begin();
    CHECK_INT(fwd_listen_addresses(&cfg, addrs, FWD_LISTEN_MAX, &n), -ENODEV);
    CHECK(strstr(unit_capture_end(), "interface nosuch0pk: no such interface") != NULL);
}

static void test_more_addresses_than_room_is_an_error(void)
{
    fwd_config_defaults(&cfg);
    CHECK_INT(addr_parse("192.0.2.1", 0, &cfg.listen[0]), 0);
    CHECK_INT(addr_parse("192.0.2.2", 0, &cfg.listen[1]), 0);
    cfg.n_listen = 2;
    unit_capture_begin();
    CHECK_INT(fwd_listen_addresses(&cfg, addrs, 1, &n), -ENOBUFS);
    (void)unit_capture_end();
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_nothing_given_listens_on_127_0_0_1),
        UNIT(test_listen_addresses_take_the_port_and_repeats_collapse),
        UNIT(test_interface_lo_listens_on_its_ipv4_address),
        UNIT(test_an_interface_that_does_not_exist_is_an_error),
        UNIT(test_more_addresses_than_room_is_an_error),
    };
    return unit_run("fwd_listen", tests, sizeof(tests) / sizeof(tests[0]));
}
