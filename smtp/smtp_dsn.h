/* smtp/smtp_dsn.h: delivery status notifications (RFC 3464, and their
 * internationalized form, RFC 6533, for SMTPUTF8 mail): the message
 * postino writes to an envelope sender when a recipient failed, is
 * delayed, or was delivered and the sender asked to know (RFC 3461
 * NOTIFY=SUCCESS).  Pure: the original message comes through a read
 * callback, the notice goes into a buffer. */
#ifndef POSTINO_SMTP_DSN_H
#define POSTINO_SMTP_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

enum smtp_dsn_action {
	SMTP_DSN_FAILED,
	SMTP_DSN_DELAYED,
	SMTP_DSN_DELIVERED,
	SMTP_DSN_RELAYED,       /* handed to a server that does not offer DSN */
};

struct smtp_dsn_rcpt {
	const char *address;        /* Final-Recipient */
	const char *orcpt;          /* RFC 3461 ORCPT "type;address" or NULL */
	enum smtp_dsn_action action;
	const char *status;         /* "5.1.1"; NULL = a default for the action */
	const char *remote_mta;     /* the server that answered, or NULL */
	const char *diagnostic;     /* its reply ("550 5.1.1 no such user") or
	                             * our own reason; NULL = none */
	int64_t last_attempt;       /* unix time, 0 = none */
};

enum smtp_dsn_return { SMTP_DSN_RETURN_DEFAULT, SMTP_DSN_RETURN_FULL, SMTP_DSN_RETURN_HDRS };

struct smtp_dsn {
	const char *reporting_mta;  /* our host name */
	const char *from;           /* the notice's From: ("MAILER-DAEMON@host") */
	const char *to;             /* the envelope sender */
	const char *envid;          /* RFC 3461 ENVID, or NULL */
	int64_t arrival;            /* when we accepted the message */
	int64_t now;
	int64_t retry_until;        /* for delay notices: when we give up */
	enum smtp_dsn_return ret;   /* DEFAULT: the whole message for failures
	                             * if it is at most full_max, else headers */
	uint64_t full_max;
	const struct smtp_dsn_rcpt *rcpts;
	size_t nrcpts;
	/* The original message: bytes [off, off+cap); *got 0 at the end. */
	int (*read)(void *arg, uint64_t off, void *buf, size_t cap, size_t *got);
	void *read_arg;
	uint64_t size;
	/* Unique enough for a Message-ID and the MIME boundary. */
	uint64_t unique;
	/* The original was an SMTPUTF8 message (RFC 6531).  Then, or when an
	 * address in the notice is not ASCII, the notice is a global one
	 * (RFC 6533 6): message/global-delivery-status, "utf-8" addresses,
	 * message/global or message/global-headers for the returned content. */
	bool utf8;
};

/* Whether d makes a global notice (RFC 6533): d->utf8, or a non-ASCII
 * address (a recipient, its ORCPT, the notice's own To). */
bool smtp_dsn_is_global(const struct smtp_dsn *d);
/* The whole notice (headers, text, delivery-status, returned content)
 * appended to out, CRLF lines.  -1 on memory or read failure. */
int smtp_dsn_build(const struct smtp_dsn *d, struct buf *out);

#endif
