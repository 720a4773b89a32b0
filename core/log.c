/* core/log.c: leveled logging to stderr (with a UTC timestamp) or syslog.
 * Callers format key=value pairs; this file only adds time and level. */
#include "core/log.h"

#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <sys/time.h>

static enum log_level log_level = PLOG_INFO;
static int log_to_syslog;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int log_level_parse(const char *name, enum log_level *level_r)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*level_r = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

int log_setup(const char *target, const char *level)
{
	enum log_level lv;
	if (log_level_parse(level, &lv) < 0)
		return -1;
	if (strcmp(target, "syslog") == 0) {
		if (!log_to_syslog)
			openlog("postino", LOG_PID | LOG_NDELAY, LOG_MAIL);
		log_to_syslog = 1;
	} else if (strcmp(target, "stderr") == 0) {
		log_to_syslog = 0;
	} else {
		return -1;
	}
	log_level = lv;
	return 0;
}

void log_set_level(enum log_level level)
{
	log_level = level;
}

int log_enabled(enum log_level level)
{
	return level <= log_level;
}

static void log_emit(enum log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	if (level > log_level)
		return;
	log_emit(level, fmt, ap);
}

void log_always(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_emit(PLOG_INFO, fmt, ap);
	va_end(ap);
}

static void log_emit(enum log_level level, const char *fmt, va_list ap)
{
	if (log_to_syslog) {
		static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
		vsyslog(prio[level], fmt, ap);
		return;
	}
	char line[4096];
	struct timeval tv;
	gettimeofday(&tv, NULL);
	struct tm tm;
	gmtime_r(&tv.tv_sec, &tm);
	int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, (int)(tv.tv_usec / 1000), level_names[level]);
	if (n < 0)
		return;
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	if (m < 0)
		return;
	size_t len = (size_t)n + (size_t)m;
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	/* Never let a client-controlled byte break the one-event-one-line rule. */
	for (size_t i = (size_t)n; i < len; i++) {
		unsigned char ch = (unsigned char)line[i];
		if (ch < 0x20 || ch == 0x7f)
			line[i] = '?';
	}
	line[len++] = '\n';
	fwrite(line, 1, len, stderr);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}
