/* Fuzz target for pkdns's reader of the Rust pkdns's pkdns.toml: any bytes as the file (TOML
 * quoting, comments, arrays over several lines, every key's value checks), handed over through
 * an in-memory file so that the same path-based reader the daemon uses runs. */
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "pk_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct pk_config cfg;
    struct conf_ctx ctx = {.file = "fuzz"};
    char path[64];
    int fd = memfd_create("pkdns.toml", 0);

    if (fd < 0) {
        return 0;
    }
    if (write(fd, data, size) == (ssize_t)size) {
        log_threshold = 0; /* the reader reports every bad line; nobody reads them here */
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        pk_config_defaults(&cfg);
        pk_config_read_file(&cfg, path, &ctx);
    }
    close(fd);
    return 0;
}
