/* core/log.h: leveled key=value logging to stderr or syslog.
 * One line per event; session lines carry `session=<id>` (see conn_log). */
#ifndef POSTINO_LOG_H
#define POSTINO_LOG_H

#include <stdarg.h>

enum log_level { PLOG_ERROR = 0, PLOG_WARN, PLOG_INFO, PLOG_DEBUG };

/* target: "stderr" or "syslog". Returns -1 for an unknown level/target name. */
int log_setup(const char *target, const char *level);
int log_level_parse(const char *name, enum log_level *level_r);
void log_set_level(enum log_level level);
int log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Printed whatever the level: start-up lines a harness waits for. */
void log_always(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define log_error(...) log_msg(PLOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(PLOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(PLOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(PLOG_DEBUG, __VA_ARGS__)

#endif
