/* Logging to stderr with syslog levels, as "LEVEL [tag] message".
 * When stderr is connected to the journal (JOURNAL_STREAM), each line starts with "<N>" so
 * journald keeps the level. The level is checked before anything is formatted. */
#ifndef PK_LOG_H
#define PK_LOG_H

#include <stdarg.h>

enum log_level {
    LOG_LEVEL_ERR = 3, /* syslog's LOG_ERR */
    LOG_LEVEL_WARNING = 4,
    LOG_LEVEL_NOTICE = 5,
    LOG_LEVEL_INFO = 6,
    LOG_LEVEL_DEBUG = 7,
};

/* The current threshold; lines above it are not formatted. Default: LOG_LEVEL_INFO. */
extern int log_threshold;

/* Detects whether stderr is the journal. Call once at start. */
void log_init(void);

/* Sets the threshold (clamped to ERR..DEBUG). */
void log_set_level(int level);

/* Writes one line at `level` with `tag`. Use the macros below instead. */
void log_write(int level, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_at(level, tag, ...)                                                                    \
    do {                                                                                           \
        if ((level) <= log_threshold) {                                                            \
            log_write((level), (tag), __VA_ARGS__);                                                \
        }                                                                                          \
    } while (0)

#define log_err(tag, ...) log_at(LOG_LEVEL_ERR, tag, __VA_ARGS__)
#define log_warn(tag, ...) log_at(LOG_LEVEL_WARNING, tag, __VA_ARGS__)
#define log_notice(tag, ...) log_at(LOG_LEVEL_NOTICE, tag, __VA_ARGS__)
#define log_info(tag, ...) log_at(LOG_LEVEL_INFO, tag, __VA_ARGS__)
#define log_debug(tag, ...) log_at(LOG_LEVEL_DEBUG, tag, __VA_ARGS__)

#endif
