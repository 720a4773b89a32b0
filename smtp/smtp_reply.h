/* smtp/smtp_reply.h: the SMTP client's reply parser (pure: no I/O).
 * Takes the server's bytes as they come and returns one complete reply at a
 * time (RFC 5321 4.2, 4.2.1: "250-" continuation lines, "250 " last line),
 * with its enhanced status code (RFC 3463) when the first line carries one,
 * and reads the EHLO keywords out of an EHLO reply.  Bounded: a server that
 * sends too many lines, too many bytes, an over-long line, a malformed code
 * or codes that change inside one reply gets a parse error, which the client
 * treats as a broken server. */
#ifndef POSTINO_SMTP_REPLY_H
#define POSTINO_SMTP_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* RFC 5321 4.5.3.1.5 sets 512 octets for a reply line; servers in the wild
 * send longer ones (long EHLO AUTH lists, URLs), so we allow four times
 * that before calling the server broken. */
#define SMTP_REPLY_LINE_MAX 2048
#define SMTP_REPLY_LINES_MAX 100
#define SMTP_REPLY_BYTES_MAX 65536
#define SMTP_REPLY_STATUS_MAX 16

enum smtp_reply_rc {
	SMTP_REPLY_DONE,    /* a whole reply is in r; the next call starts a new one */
	SMTP_REPLY_MORE,    /* everything given was consumed (or is an incomplete line) */
	SMTP_REPLY_ERROR,   /* r->err says why; the connection is unusable */
};

struct smtp_reply {
	int code;                          /* 200..599 */
	char status[SMTP_REPLY_STATUS_MAX]; /* "2.1.0" from the first line, or "" */
	size_t nlines;
	/* Each line's text (after the code, separator and, on the first line,
	 * the enhanced status), NUL-separated, in order. */
	struct buf text;
	char err[128];
	/* parser state */
	size_t total;
	bool done;
};

void smtp_reply_init(struct smtp_reply *r);
void smtp_reply_free(struct smtp_reply *r);
/* Consume whole lines of data[0..len) into r; *consumed_r says how many
 * bytes were taken (an incomplete last line is left for the next call, so
 * the caller keeps and re-presents it).  After DONE, the next call starts
 * a fresh reply in r. */
enum smtp_reply_rc smtp_reply_parse(struct smtp_reply *r, const char *data, size_t len,
				    size_t *consumed_r);
/* The text of line i (0-based), NUL-terminated, or NULL. */
const char *smtp_reply_line(const struct smtp_reply *r, size_t i);
/* The whole text on one line: lines joined with a space, control
 * characters and non-ASCII replaced by '?', truncated to fit out. */
void smtp_reply_text_oneline(const struct smtp_reply *r, char *out, size_t outlen);

/* EHLO extensions (RFC 5321 4.1.1.1; keywords are case-insensitive). */
enum {
	SMTP_EXT_PIPELINING = 1u << 0,   /* RFC 2920 */
	SMTP_EXT_SIZE = 1u << 1,         /* RFC 1870 */
	SMTP_EXT_8BITMIME = 1u << 2,     /* RFC 6152 */
	SMTP_EXT_SMTPUTF8 = 1u << 3,     /* RFC 6531 */
	SMTP_EXT_STARTTLS = 1u << 4,     /* RFC 3207 */
	SMTP_EXT_AUTH = 1u << 5,         /* RFC 4954 */
	SMTP_EXT_DSN = 1u << 6,          /* RFC 3461 */
	SMTP_EXT_CHUNKING = 1u << 7,     /* RFC 3030 */
	SMTP_EXT_ENHANCEDSTATUSCODES = 1u << 8,   /* RFC 2034 */
};
enum {
	SMTP_AUTH_PLAIN = 1u << 0,
	SMTP_AUTH_LOGIN = 1u << 1,
};
struct smtp_ehlo {
	unsigned ext;        /* SMTP_EXT_* */
	uint64_t size_max;   /* SIZE n; 0 = no limit announced */
	unsigned auth;       /* SMTP_AUTH_* mechanisms offered */
};
/* Read the keywords of an EHLO reply (every line after the first);
 * unknown keywords and malformed parameters are ignored. */
void smtp_ehlo_parse(const struct smtp_reply *r, struct smtp_ehlo *e_r);

#endif
