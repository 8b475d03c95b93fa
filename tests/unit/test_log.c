#include "log.h"
#include "unit.h"

#include <stdlib.h>
#include <unistd.h>

/* What the last run wrote to stderr. */
static const char *captured = "";

static void capture_run(void (*fn)(void))
{
    unit_capture_begin();
    fn();
    captured = unit_capture_end();
}

static void emit_info_and_debug(void)
{
    log_info("fwd", "listening on %s", "127.0.0.1:5301");
    log_debug("fwd", "this is %s", "hidden");
}

static void test_log_formats_level_and_tag(void)
{
    unsetenv("JOURNAL_STREAM");
    log_init();
    log_set_level(LOG_LEVEL_INFO);
    capture_run(emit_info_and_debug);
    CHECK_STR(captured, "INFO [fwd] listening on 127.0.0.1:5301\n");
}

static void test_log_debug_shown_when_enabled(void)
{
    log_set_level(LOG_LEVEL_DEBUG);
    capture_run(emit_info_and_debug);
    CHECK_STR(captured, "INFO [fwd] listening on 127.0.0.1:5301\nDEBUG [fwd] this is hidden\n");
    log_set_level(LOG_LEVEL_INFO);
}

static void emit_long(void)
{
    char big[3000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    log_err("t", "%s", big);
}

static void test_log_cuts_long_lines_once(void)
{
    capture_run(emit_long);
    CHECK(strlen(captured) == 1023);
    CHECK(captured[strlen(captured) - 1] == '\n');
    CHECK(strchr(captured, '\n') == captured + strlen(captured) - 1);
}

static void test_log_level_is_clamped(void)
{
    log_set_level(99);
    CHECK_INT(log_threshold, LOG_LEVEL_DEBUG);
    log_set_level(-1);
    CHECK_INT(log_threshold, LOG_LEVEL_ERR);
    log_set_level(LOG_LEVEL_INFO);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_log_formats_level_and_tag),
        UNIT(test_log_debug_shown_when_enabled),
        UNIT(test_log_cuts_long_lines_once),
        UNIT(test_log_level_is_clamped),
    };
    return unit_run("log", tests, sizeof(tests) / sizeof(tests[0]));
}
