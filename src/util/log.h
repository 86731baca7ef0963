/* log.h - leveled logging to stderr. Never pass request bodies or secrets. */
#ifndef KIMCHID_LOG_H
#define KIMCHID_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Sets the threshold; messages above it are dropped. Thread-safe. */
void log_set_level(enum log_level level);

/* Parses "error|warn|info|debug"; returns 0 and sets *out, or -1. */
int log_level_parse(const char *s, enum log_level *out);

/* Writes one line "TIME LEVEL message" to stderr. Thread-safe. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
