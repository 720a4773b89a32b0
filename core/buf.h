/* core/buf.h: the one binary-safe growable buffer used everywhere.
 * A buffer never grows past `max` (0 = no limit besides SIZE_MAX); an append
 * that would is refused whole, so callers can map it to a protocol error. */
#ifndef POSTINO_BUF_H
#define POSTINO_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
	char *data;   /* always NUL-terminated when non-NULL (not counted in len) */
	size_t len, cap, max;
};

void buf_init(struct buf *b, size_t max);
/* 0 on success, -1 if it would exceed max or memory is short. */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_putc(struct buf *b, char ch);
int buf_puts(struct buf *b, const char *s);
/* The decimal digits of v (for hot paths where printf's parsing shows). */
int buf_put_u64(struct buf *b, uint64_t v);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Remove the first n bytes. */
void buf_consume(struct buf *b, size_t n);
void buf_reset(struct buf *b);
void buf_free(struct buf *b);

#endif
