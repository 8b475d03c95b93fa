/* Fuzz target for the router's dnsdist reader: any bytes as a dnsdist.conf, then the checks
 * and the compilation of what it accepted, and the native form printed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "rt_config.h"
#include "rt_lua.h"
#include "rt_rules.h"

/* Longer inputs add nothing but time (regcomp on huge repetitions). */
#define FUZZ_MAX_INPUT 8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct rt_config cfg;
    struct conf_ctx ctx = {.file = "fuzz"};
    struct rt_rules *rules = NULL;
    FILE *sink;

    if (size > FUZZ_MAX_INPUT) {
        return 0;
    }
    log_threshold = 0; /* the reader reports every error; nobody reads them here */
    rt_config_defaults(&cfg);
    rt_lua_parse(&cfg, (const char *)data, size, &ctx);
    if (rt_config_finish(&cfg, &ctx) == 0 && ctx.errors == 0 && rt_rules_new(&cfg, &rules) == 0) {
        rt_rules_free(rules);
    }
    sink = fopen("/dev/null", "w");
    if (sink != NULL) {
        rt_config_print(&cfg, sink);
        fclose(sink);
    }
    return 0;
}
