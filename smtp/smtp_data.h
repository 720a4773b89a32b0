/* smtp/smtp_data.h: the pure DATA-phase state machine and the trace header
 * builder (no I/O).
 *
 * The session feeds the machine one line at a time, as core's line reader
 * hands them over, with whether the line ended in CRLF.  The machine undoes
 * dot-stuffing (RFC 5321 4.5.2), stores the content with CRLF line ends,
 * counts the size against the limit, notes the Message-ID and the number of
 * Received: headers, and recognizes the end of data only as CRLF "." CRLF:
 * a "." line ended by a bare LF, or preceded by a line that was, is content
 * (refusing SMTP smuggling, CVE-2023-51764).  Bare LF and bare CR follow the
 * policy in the limits (Postfix 3.9's smtpd_forbid_bare_newline): normalized
 * (a bare LF ends a line as CRLF does, a bare CR is stored as a space) or
 * refused.  Problems (too big, a line too long, a NUL, a bare line end under
 * "reject") are remembered and reported at the end: RFC 5321 gives no way to
 * refuse a message before its final ".", so the machine reads to it either
 * way.
 *
 * With a sink (smtp_data_set_sink) the stored form leaves in bounded
 * chunks as it grows (to the session's spool file), so a message is never
 * held whole in memory.
 *
 * smtp_data_feed() is the same machine over raw bytes, splitting lines as
 * core does; the tests and the fuzzer use it to feed input byte by byte. */
#ifndef POSTINO_SMTP_DATA_H
#define POSTINO_SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/buf.h"

/* Bare LF (an LF without the CR before it) and bare CR (a CR without the LF
 * after it), which RFC 5321 2.3.8 forbids in SMTP and RFC 5322 2.3 in
 * messages.  Neither ever ends the data: only CRLF "." CRLF does. */
enum smtp_bare_policy {
	SMTP_BARE_NORMALIZE = 0, /* bare LF ends a line like CRLF; bare CR stored as a space */
	SMTP_BARE_REJECT,        /* the message is refused (SMTP_DATA_ERR_BARE_LF/_CR) */
};

struct smtp_data_limits {
	size_t max_size;         /* content octets (RFC 1870 SIZE); 0 = no limit */
	size_t max_line;         /* smtp_data_feed only: longest line, CRLF excluded */
	unsigned max_received;   /* more Received: headers than this is a loop
				  * (RFC 5321 6.3); 0 = no check */
	enum smtp_bare_policy bare;
};

enum smtp_data_rc {
	SMTP_DATA_MORE = 0,      /* need more lines */
	SMTP_DATA_DONE,          /* end of data; the message is good */
	SMTP_DATA_ERROR,         /* end of data; the message is refused, see smtp_data_error */
};

enum smtp_data_err {
	SMTP_DATA_OK = 0,
	SMTP_DATA_ERR_SIZE,      /* over max_size (RFC 1870: 552 5.3.4) */
	SMTP_DATA_ERR_LINE,      /* a line over the line limit */
	SMTP_DATA_ERR_NUL,       /* a NUL byte (RFC 5322 2.1 forbids it, IMAP can't carry it) */
	SMTP_DATA_ERR_LOOP,      /* too many Received: headers (RFC 5321 6.3) */
	SMTP_DATA_ERR_NOMEM,
	SMTP_DATA_ERR_BARE_LF,   /* a line ended in a bare LF, under SMTP_BARE_REJECT */
	SMTP_DATA_ERR_BARE_CR,   /* a line held a bare CR, under SMTP_BARE_REJECT */
	SMTP_DATA_ERR_SINK,      /* the sink refused bytes (spool disk full: 452 4.3.1) */
};

/* Where stored bytes go as they accumulate (the session's spool file):
 * 0, or -1 to refuse them (the message is then refused, SMTP_DATA_ERR_SINK). */
typedef int smtp_data_sink_fn(void *arg, const char *data, size_t len);

#define SMTP_DATA_MSGID_MAX 250
/* A Message-ID we add: <time.id@hostname>, the hostname up to 255 octets. */
#define SMTP_DATA_ADD_MSGID_MAX 320

struct smtp_data {
	struct smtp_data_limits lim;
	struct buf msg;          /* prefix + unstuffed content, CRLF line ends */
	size_t prefix_len;
	uint64_t size;           /* content octets, counted on past the limit */
	enum smtp_data_err err;  /* the first problem */
	bool prev_crlf;          /* the previous line ended in CRLF */
	bool after_long_line;    /* the previous line was over-long: its end is unknown */
	bool ambiguous_end;      /* the end "." came right after an over-long line */
	bool in_headers;
	bool in_msgid;           /* the header being read is Message-ID */
	unsigned received;
	char msgid_raw[SMTP_DATA_MSGID_MAX * 2 + 1];
	size_t msgid_raw_len;
	char msgid[SMTP_DATA_MSGID_MAX + 1];
	bool has_msgid;          /* a Message-ID field was seen (even a bad one) */
	bool has_date;           /* a Date field was seen */
	/* smtp_data_add_missing: the fields to add if the header section has
	 * none, "" once added or when not asked for */
	char add_msgid[SMTP_DATA_ADD_MSGID_MAX + 1];
	char add_date[64];
	/* smtp_data_feed only */
	struct buf partial;
	bool discarding;
	/* smtp_data_set_sink */
	smtp_data_sink_fn *sink;
	void *sink_arg;
	size_t sink_chunk;
};

void smtp_data_init(struct smtp_data *d, const struct smtp_data_limits *lim);
/* Begin a message whose stored form starts with `prefix` (trace headers,
 * not counted in the size).  0, or -1 when out of memory. */
int smtp_data_start(struct smtp_data *d, const char *prefix, size_t prefix_len);
/* Message submission (RFC 6409 8.2, 8.3): add "Message-ID: `msgid`" and
 * "Date: `date`" when the header section has no such field.  They go at
 * the end of the header section (before its blank line, or at the end of
 * a message that is all header), the first point where their absence is
 * known: the top may already be in the spool.  They count in the size.
 * Call after smtp_data_start; NULL leaves a field alone. */
void smtp_data_add_missing(struct smtp_data *d, const char *msgid, const char *date);
/* Hand the stored form (prefix + content) to `fn` in pieces of about
 * `chunk` bytes as it accumulates, and the rest at the end of data, so
 * that at most about chunk + one line is held in memory.  Kept across
 * smtp_data_start.  Without a sink the message is kept whole
 * (smtp_data_message). */
void smtp_data_set_sink(struct smtp_data *d, size_t chunk, smtp_data_sink_fn *fn, void *arg);
/* One line without its terminator; crlf false for a bare LF ending. */
enum smtp_data_rc smtp_data_line(struct smtp_data *d, const char *line, size_t len, bool crlf);
/* The line being read was over the limit and is being discarded. */
void smtp_data_line_too_long(struct smtp_data *d);
/* Raw bytes; *consumed_r gets how many were used: all of them on
 * SMTP_DATA_MORE, through the end line otherwise (the rest is the next
 * command). */
enum smtp_data_rc smtp_data_feed(struct smtp_data *d, const char *data, size_t len,
				 size_t *consumed_r);

/* BDAT (RFC 3030): the octets of a chunk, taken as they are (no
 * dot-stuffing, no end line).  SMTP_DATA_ERROR as soon as the message is
 * refused (too big, a line too long...): the caller still reads the rest
 * of the chunk (RFC 3030 2) and feeds or drops it; feeding it is harmless. */
enum smtp_data_rc smtp_data_chunk(struct smtp_data *d, const char *data, size_t len);
/* A chunk's octets are all in: SMTP_DATA_MORE for the next chunk,
 * SMTP_DATA_DONE at the end of the LAST one (the message is good) or
 * SMTP_DATA_ERROR (refused, see smtp_data_error). */
enum smtp_data_rc smtp_data_chunk_end(struct smtp_data *d, bool last);

enum smtp_data_err smtp_data_error(const struct smtp_data *d);
const char *smtp_data_error_str(enum smtp_data_err err);
/* The stored form: prefix + content (with a sink: what the sink has not
 * been given, nothing after SMTP_DATA_DONE).  Valid after SMTP_DATA_DONE
 * until the next smtp_data_start or smtp_data_clear. */
const char *smtp_data_message(const struct smtp_data *d, size_t *len_r);
/* The content size in octets as stored (dot-unstuffed, CRLF line ends). */
uint64_t smtp_data_size(const struct smtp_data *d);
/* "<id@host>" from the Message-ID header, printable ASCII only; "" if none. */
const char *smtp_data_message_id(struct smtp_data *d);
/* True when the end "." directly followed an over-long line: the client may
 * have meant that "." as content after a bare LF that we never saw, so what
 * follows may be smuggled commands.  The session closes the connection. */
bool smtp_data_end_ambiguous(const struct smtp_data *d);
/* Free the buffers; the struct may be started again. */
void smtp_data_clear(struct smtp_data *d);

/* ---- trace headers (RFC 5321 4.4) ---- */

struct smtp_trace {
	const char *reverse_path;  /* the MAIL FROM mailbox, "" for "<>" */
	const char *helo;          /* the EHLO/HELO argument */
	const char *peer_addr;     /* "192.0.2.1" or "2001:db8::1" */
	const char *hostname;      /* our name */
	const char *protocol;      /* "SMTP", "ESMTP", "ESMTPS" (RFC 3848) */
	const char *id;            /* our id for this message */
	const char *for_rcpt;      /* the recipient when there is exactly one, else NULL */
	time_t when;
};

/* Append "Return-Path: <...>" and the "Received:" header, each ending in
 * CRLF, to b.  0, or -1 when b refuses the bytes. */
int smtp_trace_format(struct buf *b, const struct smtp_trace *t);
/* RFC 5322 3.3 date-time in local time, e.g. "Tue, 1 Jul 2003 10:52:37 +0200". */
void smtp_date_format(time_t when, char *out, size_t outlen);

#endif
