#include "unit.h"

#include <ctype.h>
#include <stdlib.h>
#include <unistd.h>

int unit_failures_in_test;

int unit_run(const char *suite, const struct unit_test *tests, size_t n)
{
    size_t passed = 0, failed = 0;

    for (size_t i = 0; i < n; i++) {
        unit_failures_in_test = 0;
        tests[i].fn();
        if (unit_failures_in_test == 0) {
            passed++;
        } else {
            failed++;
            fprintf(stderr, "FAIL %s: %s\n", suite, tests[i].name);
        }
    }
    printf("%s: %zu passed, %zu failed\n", suite, passed, failed);
    return failed == 0 ? 0 : 1;
}

static int unit_nibble(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = tolower(c);
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

int unit_hex(const char *hex, unsigned char *out, size_t cap)
{
    size_t len = 0;
    int hi = -1;

    for (; *hex != '\0'; hex++) {
        if (isspace((unsigned char)*hex)) {
            continue;
        }
        int v = unit_nibble((unsigned char)*hex);
        if (v < 0) {
            return -1;
        }
        if (hi < 0) {
            hi = v;
            continue;
        }
        if (len >= cap) {
            return -1;
        }
        out[len++] = (unsigned char)(hi << 4 | v);
        hi = -1;
    }
    return hi < 0 ? (int)len : -1;
}

static char unit_captured[16384];
static int unit_capture_fd = -1;
static int unit_saved_stderr = -1;

void unit_capture_begin(void)
{
    char path[] = "/tmp/pk-unit-log-XXXXXX";

    unit_capture_fd = mkstemp(path);
    unlink(path);
    fflush(stderr);
    unit_saved_stderr = dup(2);
    dup2(unit_capture_fd, 2);
}

const char *unit_capture_end(void)
{
    ssize_t n;

    fflush(stderr);
    dup2(unit_saved_stderr, 2);
    close(unit_saved_stderr);
    lseek(unit_capture_fd, 0, SEEK_SET);
    n = read(unit_capture_fd, unit_captured, sizeof(unit_captured) - 1);
    unit_captured[n > 0 ? n : 0] = '\0';
    close(unit_capture_fd);
    return unit_captured;
}

int unit_write_temp(const char *text, char *path, size_t cap)
{
    size_t len = strlen(text);
    int fd;

    snprintf(path, cap, "/tmp/pk-unit-file-XXXXXX");
    fd = mkstemp(path);
    if (fd < 0) {
        return -1;
    }
    if (write(fd, text, len) != (ssize_t)len) {
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

int unit_logged_at(const char *log, const char *path, int line, const char *what)
{
    char where[256];

    snprintf(where, sizeof(where), "%s:%d: ", path, line);
    for (const char *p = strstr(log, where); p != NULL; p = strstr(p + 1, where)) {
        const char *eol = strchr(p, '\n');
        const char *hit = strstr(p, what);
        if (hit != NULL && (eol == NULL || hit < eol)) {
            return 1;
        }
    }
    return 0;
}
