/* Fuzz target for what the forwarder reads from files others write: the resolv file
 * (resolvconf fills it from DHCP and router advertisements) and dnsmasq-style option lines. */
#include <stdint.h>
#include <string.h>

#include "conf.h"
#include "fwd_config.h"
#include "log.h"
#include "resolv_watch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_option_lines(const uint8_t *data, size_t size)
{
    static struct fwd_config cfg;
    struct conf_ctx ctx = {.file = "fuzz"};
    char line[CONF_LINE_MAX];
    size_t start = 0;

    fwd_config_defaults(&cfg);
    while (start < size) {
        size_t end = start;
        while (end < size && data[end] != '\n') {
            end++;
        }
        size_t len = end - start < sizeof(line) - 1 ? end - start : sizeof(line) - 1;
        memcpy(line, data + start, len);
        line[len] = '\0';
        ctx.line++;
        start = end + 1;
        /* The file reader hands over text lines: none with a NUL inside, none empty. */
        if (len == 0 || memchr(line, '\0', len) != NULL) {
            continue;
        }
        char *value = strchr(line, '=');
        if (value != NULL) {
            *value++ = '\0';
        }
        fwd_config_apply(&cfg, &ctx, line, value);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct resolv_servers servers;

    log_threshold = 0; /* errors about bad lines are expected; keep the output quiet */
    resolv_parse((const char *)data, size, &servers);
    fuzz_option_lines(data, size);
    return 0;
}
