#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int log_threshold = LOG_LEVEL_INFO;
static int log_to_journal;

static const char *const log_level_names[] = {
    [LOG_LEVEL_ERR] = "ERROR", [LOG_LEVEL_WARNING] = "WARNING", [LOG_LEVEL_NOTICE] = "NOTICE",
    [LOG_LEVEL_INFO] = "INFO", [LOG_LEVEL_DEBUG] = "DEBUG",
};

/* systemd sets JOURNAL_STREAM to "<dev>:<inode>" of the stream it connected to stderr. */
static int log_stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;

    if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2) {
        return 0;
    }
    if (fstat(2, &st) != 0) {
        return 0;
    }
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(void)
{
    log_to_journal = log_stderr_is_journal();
}

void log_set_level(int level)
{
    if (level < LOG_LEVEL_ERR) {
        level = LOG_LEVEL_ERR;
    }
    if (level > LOG_LEVEL_DEBUG) {
        level = LOG_LEVEL_DEBUG;
    }
    log_threshold = level;
}

void log_write(int level, const char *tag, const char *fmt, ...)
{
    char line[1024];
    size_t len = 0;
    int n;
    va_list ap;

    if (level < LOG_LEVEL_ERR || level > LOG_LEVEL_DEBUG) {
        level = LOG_LEVEL_ERR;
    }
    if (log_to_journal) {
        n = snprintf(line, sizeof(line), "<%d>", level);
        len = n > 0 ? (size_t)n : 0;
    }
    n = snprintf(line + len, sizeof(line) - len, "%s [%s] ", log_level_names[level], tag);
    len += n > 0 ? (size_t)n : 0;
    if (len < sizeof(line)) {
        va_start(ap, fmt);
        n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
        va_end(ap);
        len += n > 0 ? (size_t)n : 0;
    }
    if (len >= sizeof(line) - 1) {
        len = sizeof(line) - 2; /* long lines are cut, never split */
    }
    line[len++] = '\n';
    /* One write per line so lines from several threads never interleave. */
    fwrite(line, 1, len, stderr);
}
