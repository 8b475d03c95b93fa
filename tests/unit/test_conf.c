#include "conf.h"
#include "log.h"
#include "unit.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

/* Files are written to one temporary directory, removed at the end. */
static char tmp_dir[] = "/tmp/pk-conf-XXXXXX";
static char tmp_files[32][128];
static size_t tmp_count;

static const char *write_file(const char *name, const char *content)
{
    char *path = tmp_files[tmp_count++];
    FILE *fp;

    snprintf(path, sizeof(tmp_files[0]), "%s/%s", tmp_dir, name);
    fp = fopen(path, "w");
    CHECK(fp != NULL);
    if (fp != NULL) {
        fputs(content, fp);
        fclose(fp);
    }
    return path;
}

/* What the last capture held. */
static const char *captured = "";

static void capture_begin(void)
{
    unit_capture_begin();
}

static const char *capture_end(void)
{
    captured = unit_capture_end();
    return captured;
}

/* What the callbacks saw, one "LINE [section] key=value" per line; "key" alone for a bare word. */
static char seen[16384];

static void seen_add(const struct conf_ctx *ctx, const char *section, const char *key,
                     const char *value)
{
    size_t len = strlen(seen);

    snprintf(seen + len, sizeof(seen) - len, "%d%s%s%s %s%s%s\n", ctx->line, section ? " [" : "",
             section ? section : "", section ? "]" : "", key, value ? "=" : "", value ? value : "");
}

/* Accepts everything except the key "bad" (reported) and "neg" (a bare -ERANGE). */
static int record_kv(struct conf_ctx *ctx, const char *key, const char *value, void *user)
{
    (void)user;
    if (strcmp(key, "bad") == 0) {
        conf_error(ctx, "unknown option '%s'", key);
        return -EINVAL;
    }
    if (strcmp(key, "neg") == 0) {
        return -ERANGE;
    }
    if (strcmp(key, "conf-file") == 0 && value != NULL) {
        conf_read_kv_file(value, record_kv, user, ctx);
    }
    seen_add(ctx, NULL, key, value);
    return 0;
}

static int record_ini(struct conf_ctx *ctx, const char *section, const char *key, const char *value,
                      void *user)
{
    (void)user;
    if (strcmp(key, "bad") == 0) {
        conf_error(ctx, "unknown key '%s' in [%s]", key, section);
        return -EINVAL;
    }
    seen_add(ctx, section, key, value);
    return 0;
}

static void test_conf_kv_reads_values_bare_words_and_comments(void)
{
    const char *path = write_file("good.conf", "# a comment\n"
                                               "port=5301\n"
                                               "\n"
                                               "  resolv-file = /etc/resolv.conf  \r\n"
                                               "no-resolv\n"
                                               "   # an indented comment\n"
                                               "server=1.1.1.1 # dnsmasq keeps this\n"
                                               "empty=\n");
    struct conf_ctx ctx = {0};

    seen[0] = '\0';
    CHECK_INT(conf_read_kv_file(path, record_kv, NULL, &ctx), 0);
    CHECK_INT(ctx.errors, 0);
    CHECK_STR(seen, "2 port=5301\n"
                    "4 resolv-file=/etc/resolv.conf\n"
                    "5 no-resolv\n"
                    "7 server=1.1.1.1 # dnsmasq keeps this\n"
                    "8 empty=\n");
}

static void test_conf_kv_reads_last_line_without_newline(void)
{
    const char *path = write_file("no-newline.conf", "a=1\nb=2");
    struct conf_ctx ctx = {0};

    seen[0] = '\0';
    CHECK_INT(conf_read_kv_file(path, record_kv, NULL, &ctx), 0);
    CHECK_STR(seen, "1 a=1\n2 b=2\n");
}

static void test_conf_kv_reports_every_error_with_its_line(void)
{
    const char *path = write_file("bad.conf", "port=1\nbad=1\n = x\nneg=5\nbad\nok\n");
    struct conf_ctx ctx = {0};
    char expected[1024];
    int rc;

    seen[0] = '\0';
    capture_begin();
    rc = conf_read_kv_file(path, record_kv, NULL, &ctx);
    capture_end();
    CHECK_INT(rc, -EINVAL);
    CHECK_INT(ctx.errors, 4);
    CHECK_STR(seen, "1 port=1\n6 ok\n");
    snprintf(expected, sizeof(expected),
             "ERROR [config] %s:2: unknown option 'bad'\n"
             "ERROR [config] %s:3: missing option name before '='\n"
             "ERROR [config] %s:4: neg: Numerical result out of range\n"
             "ERROR [config] %s:5: unknown option 'bad'\n",
             path, path, path, path);
    CHECK_STR(captured, expected);
    CHECK(ctx.file == NULL);
    CHECK_INT(ctx.line, 0);
}

static void test_conf_kv_rejects_long_line_and_goes_on(void)
{
    static char content[2 * CONF_LINE_MAX + 64];
    static char expected_seen[CONF_LINE_MAX + 64];
    char expected_log[256];
    const char *path;
    struct conf_ctx ctx = {0};
    size_t len = 0;
    int rc;

    len += (size_t)sprintf(content + len, "a=1\n");
    memset(content + len, 'x', CONF_LINE_MAX + 1); /* one byte too many */
    len += CONF_LINE_MAX + 1;
    len += (size_t)sprintf(content + len, "\nb=2\n");
    memset(content + len, 'y', CONF_LINE_MAX); /* exactly the limit */
    len += CONF_LINE_MAX;
    content[len] = '\0';
    path = write_file("long.conf", content);

    seen[0] = '\0';
    capture_begin();
    rc = conf_read_kv_file(path, record_kv, NULL, &ctx);
    capture_end();
    CHECK_INT(rc, -EINVAL);
    CHECK_INT(ctx.errors, 1);
    snprintf(expected_log, sizeof(expected_log),
             "ERROR [config] %s:2: line is longer than 4096 bytes\n", path);
    CHECK_STR(captured, expected_log);
    len = (size_t)sprintf(expected_seen, "1 a=1\n3 b=2\n4 ");
    memset(expected_seen + len, 'y', CONF_LINE_MAX);
    strcpy(expected_seen + len + CONF_LINE_MAX, "\n");
    CHECK_STR(seen, expected_seen);
}

static void test_conf_kv_missing_file_returns_errno_and_logs_path(void)
{
    struct conf_ctx ctx = {0};
    int rc;

    capture_begin();
    rc = conf_read_kv_file("/nonexistent/pk.conf", record_kv, NULL, &ctx);
    capture_end();
    CHECK_INT(rc, -ENOENT);
    CHECK_INT(ctx.errors, 1);
    CHECK_STR(captured,
              "ERROR [config] /nonexistent/pk.conf: cannot open: No such file or directory\n");
}

static void test_conf_kv_included_file_keeps_outer_position(void)
{
    char text[256];
    char expected[1024];
    const char *inner = write_file("inner.conf", "x=1\nbad\n");
    const char *outer;
    struct conf_ctx ctx = {0};
    int rc;

    snprintf(text, sizeof(text), "a=1\nconf-file=%s\nbad\n", inner);
    outer = write_file("outer.conf", text);
    seen[0] = '\0';
    capture_begin();
    rc = conf_read_kv_file(outer, record_kv, NULL, &ctx);
    capture_end();
    CHECK_INT(rc, -EINVAL);
    CHECK_INT(ctx.errors, 2);
    snprintf(expected, sizeof(expected),
             "ERROR [config] %s:2: unknown option 'bad'\n"
             "ERROR [config] %s:3: unknown option 'bad'\n",
             inner, outer);
    CHECK_STR(captured, expected);
}

static void test_conf_error_and_warn_count_separately(void)
{
    struct conf_ctx ctx = {.file = "pk.conf", .line = 7};

    capture_begin();
    conf_warn(&ctx, "option %s is ignored", "dhcp-range");
    conf_error(&ctx, "bad value %d", 42);
    ctx.line = 0;
    conf_error(&ctx, "no servers configured");
    ctx.file = NULL;
    conf_error(&ctx, "no config file");
    capture_end();
    CHECK_INT(ctx.errors, 3);
    CHECK_INT(ctx.warnings, 1);
    CHECK_STR(captured, "WARNING [config] pk.conf:7: option dhcp-range is ignored\n"
                        "ERROR [config] pk.conf:7: bad value 42\n"
                        "ERROR [config] pk.conf: no servers configured\n"
                        "ERROR [config] no config file\n");
}

static void test_conf_ini_reads_sections_keys_and_line_numbers(void)
{
    const char *path = write_file("good.toml", "; header comment\n"
                                               "top = 1\n"
                                               "[general]\n"
                                               "socket = \"0.0.0.0:5300\" # listen here\n"
                                               "# a comment\n"
                                               "forward=\"8.8.8.8:53\"\n"
                                               "\n"
                                               "[dht]\n"
                                               "cache = 100 ; inih strips this\n"
                                               "empty =\n");
    struct conf_ctx ctx = {0};

    seen[0] = '\0';
    CHECK_INT(conf_read_ini_file(path, record_ini, NULL, &ctx), 0);
    CHECK_INT(ctx.errors, 0);
    CHECK_STR(seen, "2 [] top=1\n"
                    "4 [general] socket=\"0.0.0.0:5300\" # listen here\n"
                    "6 [general] forward=\"8.8.8.8:53\"\n"
                    "9 [dht] cache=100\n"
                    "10 [dht] empty=\n");
}

static void test_conf_ini_reports_every_syntax_error(void)
{
    const char *path = write_file("syntax.toml", "[general]\n"
                                                 "[broken\n"
                                                 "a = 1\n"
                                                 "just words\n"
                                                 "[dht]\n"
                                                 "more words\n"
                                                 "bad = 2\n"
                                                 "b = 3\n");
    struct conf_ctx ctx = {0};
    char expected[1024];
    int rc;

    seen[0] = '\0';
    capture_begin();
    rc = conf_read_ini_file(path, record_ini, NULL, &ctx);
    capture_end();
    CHECK_INT(rc, -EINVAL);
    CHECK_INT(ctx.errors, 4);
    snprintf(expected, sizeof(expected),
             "ERROR [config] %s:2: section header without ']'\n"
             "ERROR [config] %s:4: expected 'key = value', '[section]' or a comment\n"
             "ERROR [config] %s:6: expected 'key = value', '[section]' or a comment\n"
             "ERROR [config] %s:7: unknown key 'bad' in [dht]\n",
             path, path, path, path);
    CHECK_STR(captured, expected);
    CHECK_STR(seen, "3 [general] a=1\n8 [dht] b=3\n");
}

static void test_conf_ini_indented_line_continues_previous_key(void)
{
    const char *path = write_file("multi.toml", "[dht]\n"
                                                "nodes = a:1\n"
                                                "  b:2\n"
                                                "[other]\n"
                                                "  indented = 1\n");
    struct conf_ctx ctx = {0};

    seen[0] = '\0';
    CHECK_INT(conf_read_ini_file(path, record_ini, NULL, &ctx), 0);
    CHECK_STR(seen, "2 [dht] nodes=a:1\n3 [dht] nodes=b:2\n5 [other] indented=1\n");
}

static int record_section(struct conf_ctx *ctx, const char *section, void *user)
{
    (void)user;
    seen_add(ctx, NULL, "section", section);
    return 0;
}

static void test_conf_ini_sections_are_seen_before_their_keys_even_when_empty(void)
{
    const char *path = write_file("sections.ini", "[empty]\n"
                                                  "; a comment\n"
                                                  "[a]\n"
                                                  "k = 1\n"
                                                  "  [continued]\n"
                                                  "[ spaced name ]\n"
                                                  "[]\n"
                                                  "[broken\n");
    struct conf_ctx ctx = {0};

    seen[0] = '\0';
    capture_begin();
    CHECK_INT(conf_read_ini_sections(path, record_section, record_ini, NULL, &ctx), -EINVAL);
    capture_end();
    CHECK_INT(ctx.errors, 1); /* [broken */
    CHECK_STR(seen, "1 section=empty\n"
                    "3 section=a\n"
                    "4 [a] k=1\n"
                    "5 [a] k=[continued]\n"
                    "6 section= spaced name \n"
                    "7 section=\n");
}

static void test_conf_ini_rejects_line_longer_than_inih_buffer(void)
{
    char content[512];
    char expected[256];
    const char *path;
    struct conf_ctx ctx = {0};
    int rc;

    memset(content, 0, sizeof(content));
    strcpy(content, "[a]\nk = ");
    memset(content + strlen(content), 'v', 300);
    strcat(content, "\nj = 2\n");
    path = write_file("long.toml", content);

    seen[0] = '\0';
    capture_begin();
    rc = conf_read_ini_file(path, record_ini, NULL, &ctx);
    capture_end();
    CHECK_INT(rc, -EINVAL);
    CHECK_INT(ctx.errors, 1);
    snprintf(expected, sizeof(expected), "ERROR [config] %s:2: line is longer than 199 bytes\n",
             path);
    CHECK_STR(captured, expected);
    CHECK_STR(seen, "3 [a] j=2\n");
}

static void test_conf_ini_missing_key_is_an_error(void)
{
    const char *path = write_file("nokey.toml", "[a]\n= 1\n");
    struct conf_ctx ctx = {0};
    char expected[256];
    int rc;

    capture_begin();
    rc = conf_read_ini_file(path, record_ini, NULL, &ctx);
    capture_end();
    CHECK_INT(rc, -EINVAL);
    snprintf(expected, sizeof(expected), "ERROR [config] %s:2: missing key before '='\n", path);
    CHECK_STR(captured, expected);
}

static void test_conf_ini_missing_file_returns_errno(void)
{
    struct conf_ctx ctx = {0};
    int rc;

    capture_begin();
    rc = conf_read_ini_file("/nonexistent/pkdns.toml", record_ini, NULL, &ctx);
    capture_end();
    CHECK_INT(rc, -ENOENT);
    CHECK_INT(ctx.errors, 1);
}

static void test_conf_reads_the_stack_configs_cleanly(void)
{
    struct conf_ctx ctx = {0};

    seen[0] = '\0';
    CHECK_INT(conf_read_ini_file("tests/data/stack/pkdns.toml", record_ini, NULL, &ctx), 0);
    CHECK_STR(seen, "2 [general] socket=\"0.0.0.0:5300\"\n"
                    "3 [general] forward=\"8.8.8.8:53\"\n");
    seen[0] = '\0';
    CHECK_INT(conf_read_kv_file("tests/data/stack/dnsmasq.conf", record_kv, NULL, &ctx), 0);
    CHECK_STR(seen, "1 dhcp-leasefile=/var/lib/dnsmasq/dnsmasq.leases\n"
                    "2 port=5301\n"
                    "3 resolv-file=/etc/dnsmasq-resolv.conf\n");
    CHECK_INT(ctx.errors, 0);
}

/* conf_value into a roomy buffer; "ERR<code>" when it fails. */
static const char *value_of(const char *raw)
{
    static char out[256];
    int rc = conf_value(raw, out, sizeof(out));

    if (rc != 0) {
        snprintf(out, sizeof(out), "ERR%d", rc);
    }
    return out;
}

static void test_conf_value_unquotes_double_quoted_with_escapes(void)
{
    CHECK_STR(value_of("\"0.0.0.0:5300\""), "0.0.0.0:5300");
    CHECK_STR(value_of("  \"spaced out\"  "), "spaced out");
    CHECK_STR(value_of("\"a \\\"q\\\" b\""), "a \"q\" b");
    CHECK_STR(value_of("\"back\\\\slash\""), "back\\slash");
    CHECK_STR(value_of("\"tab\\there\\nnext\""), "tab\there\nnext");
    CHECK_STR(value_of("\"has # hash\""), "has # hash");
    CHECK_STR(value_of("\"\""), "");
}

static void test_conf_value_keeps_single_quoted_literally(void)
{
    CHECK_STR(value_of("'C:\\path\\n'"), "C:\\path\\n");
    CHECK_STR(value_of("'say \"hi\"'"), "say \"hi\"");
    CHECK_STR(value_of("''"), "");
}

static void test_conf_value_allows_comment_after_string(void)
{
    CHECK_STR(value_of("\"8.8.8.8:53\" # upstream"), "8.8.8.8:53");
    CHECK_STR(value_of("\"8.8.8.8:53\"#upstream"), "8.8.8.8:53");
    CHECK_STR(value_of("'x' \t# note"), "x");
}

static void test_conf_value_rejects_unterminated_string_and_junk(void)
{
    CHECK_INT(conf_value("\"open", (char[8]){0}, 8), -EINVAL);
    CHECK_INT(conf_value("'open", (char[8]){0}, 8), -EINVAL);
    CHECK_INT(conf_value("\"ends in escape\\\"", (char[32]){0}, 32), -EINVAL);
    CHECK_INT(conf_value("\"a\" b", (char[8]){0}, 8), -EINVAL);
    CHECK_INT(conf_value("'a'b", (char[8]){0}, 8), -EINVAL);
    CHECK_INT(conf_value("\"bad \\q escape\"", (char[32]){0}, 32), -EINVAL);
    CHECK_INT(conf_value(NULL, (char[8]){0}, 8), -EINVAL);
}

static void test_conf_value_drops_comment_from_bare_value(void)
{
    CHECK_STR(value_of("  60   "), "60");
    CHECK_STR(value_of("60 # seconds"), "60");
    CHECK_STR(value_of("60\t#seconds"), "60");
    CHECK_STR(value_of("a#b"), "a#b");
    CHECK_STR(value_of("# only a comment"), "");
    CHECK_STR(value_of(""), "");
    CHECK_STR(value_of("two words # c"), "two words");
}

static void test_conf_value_reports_value_too_long(void)
{
    char out[4];

    CHECK_INT(conf_value("abc", out, sizeof(out)), 0);
    CHECK_STR(out, "abc");
    CHECK_INT(conf_value("abcd", out, sizeof(out)), -ENAMETOOLONG);
    CHECK_INT(conf_value("\"abcd\"", out, sizeof(out)), -ENAMETOOLONG);
    CHECK_INT(conf_value("'abc'", out, sizeof(out)), 0);
    CHECK_INT(conf_value("", out, 0), -ENAMETOOLONG);
    /* A syntax error is reported before the length. */
    CHECK_INT(conf_value("\"abcdef", out, sizeof(out)), -EINVAL);
}

static void test_conf_parse_uint_accepts_digits_within_range(void)
{
    uint64_t v = 99;

    CHECK_INT(conf_parse_uint("0", 0, 10, &v), 0);
    CHECK_INT(v, 0);
    CHECK_INT(conf_parse_uint("10", 0, 10, &v), 0);
    CHECK_INT(v, 10);
    CHECK_INT(conf_parse_uint("007", 1, 10, &v), 0);
    CHECK_INT(v, 7);
    CHECK_INT(conf_parse_uint("65535", 1, 65535, &v), 0);
    CHECK_INT(v, 65535);
    CHECK_INT(conf_parse_uint("18446744073709551615", 0, UINT64_MAX, &v), 0);
    CHECK(v == UINT64_MAX);
}

static void test_conf_parse_uint_rejects_signs_junk_and_overflow(void)
{
    static const char *const junk[] = {"", "-1", "+1", " 1", "1 ", "0x10", "1e3", "1.0", "ten"};
    uint64_t v = 42;

    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        if (conf_parse_uint(junk[i], 0, UINT64_MAX, &v) != -EINVAL) {
            fprintf(stderr, "  accepted \"%s\"\n", junk[i]);
            unit_failures_in_test++;
        }
    }
    CHECK_INT(conf_parse_uint(NULL, 0, 1, &v), -EINVAL);
    CHECK_INT(conf_parse_uint("18446744073709551616", 0, UINT64_MAX, &v), -ERANGE);
    CHECK_INT(conf_parse_uint("99999999999999999999999", 0, UINT64_MAX, &v), -ERANGE);
    CHECK_INT(conf_parse_uint("11", 0, 10, &v), -ERANGE);
    CHECK_INT(conf_parse_uint("0", 1, 10, &v), -ERANGE);
    CHECK_INT(conf_parse_uint("65536", 1, 65535, &v), -ERANGE);
    CHECK_INT(v, 42);
}

static void test_conf_parse_bool_accepts_every_spelling(void)
{
    static const char *const yes[] = {"true", "TRUE", "Yes", "on", "ON", "1"};
    static const char *const no[] = {"false", "False", "no", "NO", "off", "Off", "0"};
    bool b;

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        b = false;
        CHECK_INT(conf_parse_bool(yes[i], &b), 0);
        CHECK(b);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        b = true;
        CHECK_INT(conf_parse_bool(no[i], &b), 0);
        CHECK(!b);
    }
}

static void test_conf_parse_bool_rejects_anything_else(void)
{
    static const char *const bad[] = {"", "2", "y", "n", "truee", " yes", "no ", "enabled"};
    bool b = true;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (conf_parse_bool(bad[i], &b) != -EINVAL) {
            fprintf(stderr, "  accepted \"%s\"\n", bad[i]);
            unit_failures_in_test++;
        }
    }
    CHECK_INT(conf_parse_bool(NULL, &b), -EINVAL);
    CHECK(b);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_conf_kv_reads_values_bare_words_and_comments),
        UNIT(test_conf_kv_reads_last_line_without_newline),
        UNIT(test_conf_kv_reports_every_error_with_its_line),
        UNIT(test_conf_kv_rejects_long_line_and_goes_on),
        UNIT(test_conf_kv_missing_file_returns_errno_and_logs_path),
        UNIT(test_conf_kv_included_file_keeps_outer_position),
        UNIT(test_conf_error_and_warn_count_separately),
        UNIT(test_conf_ini_reads_sections_keys_and_line_numbers),
        UNIT(test_conf_ini_reports_every_syntax_error),
        UNIT(test_conf_ini_indented_line_continues_previous_key),
        UNIT(test_conf_ini_sections_are_seen_before_their_keys_even_when_empty),
        UNIT(test_conf_ini_rejects_line_longer_than_inih_buffer),
        UNIT(test_conf_ini_missing_key_is_an_error),
        UNIT(test_conf_ini_missing_file_returns_errno),
        UNIT(test_conf_reads_the_stack_configs_cleanly),
        UNIT(test_conf_value_unquotes_double_quoted_with_escapes),
        UNIT(test_conf_value_keeps_single_quoted_literally),
        UNIT(test_conf_value_allows_comment_after_string),
        UNIT(test_conf_value_rejects_unterminated_string_and_junk),
        UNIT(test_conf_value_drops_comment_from_bare_value),
        UNIT(test_conf_value_reports_value_too_long),
        UNIT(test_conf_parse_uint_accepts_digits_within_range),
        UNIT(test_conf_parse_uint_rejects_signs_junk_and_overflow),
        UNIT(test_conf_parse_bool_accepts_every_spelling),
        UNIT(test_conf_parse_bool_rejects_anything_else),
    };
    int status;

    log_init();
    if (mkdtemp(tmp_dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    status = unit_run("conf", tests, sizeof(tests) / sizeof(tests[0]));
    for (size_t i = 0; i < tmp_count; i++) {
        unlink(tmp_files[i]);
    }
    rmdir(tmp_dir);
    return status;
}
