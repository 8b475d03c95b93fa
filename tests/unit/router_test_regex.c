/* The estimate of what a rule's regex costs to compile (rt_regex.c), and the configuration's
 * refusal of patterns over the bound, in both formats and with their lines. */
#include "rt_config.h"
#include "rt_regex.h"
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STACK_REGEX "^(([^.]+\\.)+)?[ybndrfg8ejkmcpqxot1uwisza345h769]{52}\\.?$"

static struct rt_config *cfg;

/* ---- the estimate ---- */

static void test_plain_characters_and_brackets_are_one_node_each(void)
{
    CHECK_INT(rt_regex_nodes(""), 0);
    CHECK_INT(rt_regex_nodes("abc"), 3);
    CHECK_INT(rt_regex_nodes("[a-z]"), 1);
    CHECK_INT(rt_regex_nodes("[]a]"), 1); /* ']' first is a member */
    CHECK_INT(rt_regex_nodes("[^]a]b"), 2);
    CHECK_INT(rt_regex_nodes("[[:alpha:]]"), 1); /* the class's ']' does not close */
    CHECK_INT(rt_regex_nodes("[[.-.]x]"), 1);
    CHECK_INT(rt_regex_nodes("\\.\\("), 2); /* escapes are characters */
    CHECK_INT(rt_regex_nodes("a|b"), 3);
}

static void test_repetitions_count_their_copies(void)
{
    CHECK_INT(rt_regex_nodes("a*"), 2);
    CHECK_INT(rt_regex_nodes("a?"), 2);
    CHECK_INT(rt_regex_nodes("a+"), 3); /* a, then a starred copy */
    CHECK_INT(rt_regex_nodes("a{5}"), 6);
    CHECK_INT(rt_regex_nodes("a{2,7}"), 8);
    CHECK_INT(rt_regex_nodes("a{,7}"), 8);
    CHECK_INT(rt_regex_nodes("a{3,}"), 5);
    CHECK_INT(rt_regex_nodes("a{0}"), 2);
    CHECK_INT(rt_regex_nodes("ab{5}"), 7);    /* only the last atom is copied */
    CHECK_INT(rt_regex_nodes("(ab){5}"), 16); /* the whole group is */
    CHECK_INT(rt_regex_nodes("a{x}"), 4);     /* no interval: characters */
    CHECK_INT(rt_regex_nodes("a{2"), 3);
    CHECK_INT(rt_regex_nodes("[a-z]{52}"), 53);
}

static void test_nested_repetitions_multiply(void)
{
    CHECK_INT(rt_regex_nodes("(a{100}){100}"), 10201);
    CHECK_INT(rt_regex_nodes("((a?){1,100}){1,100}"), 30201);
    /* Each '+' doubles what it repeats: sixteen of them, 2^17 - 1. */
    CHECK_INT(rt_regex_nodes("a++++++++++++++++"), 131071);
    /* Counts past what regcomp takes do not overflow the estimate. */
    CHECK(rt_regex_nodes("((((a{32767}){32767}){32767}){32767}){32767}") > RT_REGEX_NODES_MAX);
}

static void test_useful_patterns_are_far_below_the_bound(void)
{
    CHECK_INT(rt_regex_nodes(STACK_REGEX), 70);
    CHECK(rt_regex_nodes("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$") < 256);
    CHECK(rt_regex_nodes("(([a-z]{1,63})\\.){1,10}") < 1024);
}

static void test_groups_nested_too_deep_are_refused(void)
{
    char text[2 * (RT_REGEX_DEPTH_MAX + 1) + 2];
    size_t n = 0;

    for (int i = 0; i < RT_REGEX_DEPTH_MAX; i++) {
        text[n++] = '(';
    }
    text[n++] = 'a';
    for (int i = 0; i < RT_REGEX_DEPTH_MAX; i++) {
        text[n++] = ')';
    }
    text[n] = '\0';
    CHECK_INT(rt_regex_nodes(text), RT_REGEX_DEPTH_MAX + 1); /* a, and a node per group */
    memmove(text + 1, text, n + 1);
    text[0] = '(';
    CHECK_INT(rt_regex_nodes(text), UINT64_MAX); /* one more, even unclosed */
}

static void test_unbalanced_groups_do_not_confuse_the_count(void)
{
    CHECK_INT(rt_regex_nodes("a)b"), 3);
    CHECK_INT(rt_regex_nodes("((a"), 3);
}

/* ---- in a configuration ---- */

static const char *logged = "";
static char path[64];

static int load(const char *text)
{
    struct conf_ctx ctx = {0};
    int rc;

    CHECK_INT(unit_write_temp(text, path, sizeof(path)), 0);
    rt_config_defaults(cfg);
    unit_capture_begin();
    rc = rt_config_read_file(cfg, path, &ctx);
    logged = unit_capture_end();
    unlink(path);
    return rc;
}

static void test_costly_regex_in_an_ini_file_is_an_error_at_its_line(void)
{
    char deep[2 * RT_REGEX_DEPTH_MAX + 64], file[1024];

    memset(deep, '(', RT_REGEX_DEPTH_MAX + 1);
    snprintf(deep + RT_REGEX_DEPTH_MAX + 1, sizeof(deep) - RT_REGEX_DEPTH_MAX - 1, "a");
    snprintf(file, sizeof(file),
             "[backend b]\n"                        /* 1 */
             "address = 127.0.0.1:5301\n"           /* 2 */
             "pool = p\n"                           /* 3 */
             "[rule r]\n"                           /* 4 */
             "match = regex ((a?){1,100}){1,100}\n" /* 5 */
             "action = pool p\n"                    /* 6 */
             "[rule s]\n"                           /* 7 */
             "match = regex %s\n"                   /* 8 */
             "action = pool p\n"                    /* 9 */
             "[rule t]\n"                           /* 10 */
             "match = regex [a-z]{1,63}\n"          /* 11 */
             "action = pool p\n",                   /* 12 */
             deep);
    CHECK_INT(load(file), -EINVAL);
    CHECK(unit_logged_at(logged, path, 5, "too costly to compile") != 0);
    CHECK(unit_logged_at(logged, path, 8, "groups nested deeper than") != 0);
    CHECK(unit_logged_at(logged, path, 11, "regex") == 0); /* within the bound */
}

static void test_costly_regex_in_a_dnsdist_file_is_an_error_at_its_line(void)
{
    CHECK_INT(load("newServer({address=\"127.0.0.1:5301\", pool=\"p\"})\n"
                   "addAction(RegexRule(\"^[a-z]{1,63}$\"), PoolAction(\"p\"))\n"
                   "addAction(RegexRule(\"a++++++++++++++++\"), PoolAction(\"p\"))\n"),
              -EINVAL);
    CHECK(unit_logged_at(logged, path, 3, "too costly to compile") != 0);
    CHECK(unit_logged_at(logged, path, 2, "regex") == 0);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_plain_characters_and_brackets_are_one_node_each),
        UNIT(test_repetitions_count_their_copies),
        UNIT(test_nested_repetitions_multiply),
        UNIT(test_useful_patterns_are_far_below_the_bound),
        UNIT(test_groups_nested_too_deep_are_refused),
        UNIT(test_unbalanced_groups_do_not_confuse_the_count),
        UNIT(test_costly_regex_in_an_ini_file_is_an_error_at_its_line),
        UNIT(test_costly_regex_in_a_dnsdist_file_is_an_error_at_its_line),
    };
    int rc;

    cfg = malloc(sizeof(*cfg));
    rc = unit_run("router_regex", tests, sizeof(tests) / sizeof(tests[0]));
    free(cfg);
    return rc;
}
