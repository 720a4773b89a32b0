/* smtp/smtp_dsn.c: writes delivery status notifications (RFC 3464,
 * RFC 3461 6): a multipart/report (RFC 6522) with a human-readable part,
 * a message/delivery-status part with one per-recipient block each, and
 * the original message (message/rfc822) or its header section
 * (text/rfc822-headers) as RET asked.  For SMTPUTF8 mail the same in its
 * global form (RFC 6533 6): report-type global-delivery-status,
 * message/global-delivery-status with "utf-8" address types where an
 * address is not ASCII (RFC 6533 3), and message/global or
 * message/global-headers for what is returned. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "smtp/smtp_dsn.h"

#define DSN_CHUNK 16384
/* The header section returned when only headers go back: a bound, so a
 * message without a blank line does not come back whole. */
#define DSN_HEADERS_MAX (256 * 1024)

/* RFC 5322 3.3 date-time. */
static void dsn_date(int64_t t, char *out, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || !strftime(out, cap, "%a, %d %b %Y %H:%M:%S +0000", &tm))
		snprintf(out, cap, "Thu, 01 Jan 1970 00:00:00 +0000");
}

static const char *action_word(enum smtp_dsn_action a)
{
	switch (a) {
	case SMTP_DSN_FAILED: return "failed";
	case SMTP_DSN_DELAYED: return "delayed";
	case SMTP_DSN_DELIVERED: return "delivered";
	case SMTP_DSN_RELAYED: return "relayed";
	}
	return "failed";
}

static const char *default_status(enum smtp_dsn_action a)
{
	/* RFC 3463 3.1: 5.0.0 other permanent, 4.0.0 other transient. */
	switch (a) {
	case SMTP_DSN_FAILED: return "5.0.0";
	case SMTP_DSN_DELAYED: return "4.0.0";
	default: return "2.0.0";
	}
}

/* A field value from untrusted text (a remote reply): no CR, LF or other
 * controls that could end the field or start a new one. */
static int put_clean(struct buf *b, const char *s, size_t max)
{
	for (size_t i = 0; s[i] && i < max; i++) {
		unsigned char c = (unsigned char)s[i];
		if (buf_putc(b, c < 0x20 || c == 0x7f ? ' ' : (char)c) < 0)
			return -1;
	}
	return 0;
}

/* The notice's kind decides the subject and the text: failures first. */
static enum smtp_dsn_action dsn_kind(const struct smtp_dsn *d)
{
	bool delayed = false;
	for (size_t i = 0; i < d->nrcpts; i++) {
		if (d->rcpts[i].action == SMTP_DSN_FAILED)
			return SMTP_DSN_FAILED;
		if (d->rcpts[i].action == SMTP_DSN_DELAYED)
			delayed = true;
	}
	return delayed ? SMTP_DSN_DELAYED : SMTP_DSN_DELIVERED;
}

static int put_human(const struct smtp_dsn *d, struct buf *b, enum smtp_dsn_action kind)
{
	int rc = 0;
	rc |= buf_printf(b, "This is the mail system at %s.\r\n\r\n", d->reporting_mta);
	if (kind == SMTP_DSN_FAILED)
		rc |= buf_puts(b, "Your message could not be delivered to one or more recipients.\r\n"
				  "It is attached below.  The reasons:\r\n\r\n");
	else if (kind == SMTP_DSN_DELAYED) {
		char until[64];
		dsn_date(d->retry_until, until, sizeof(until));
		rc |= buf_printf(b, "Your message has not been delivered yet to the recipients below.\r\n"
				    "This is only a warning: delivery will be tried again until\r\n"
				    "%s.  You do not need to send it again.\r\n\r\n", until);
	} else
		rc |= buf_puts(b, "Your message was delivered to the recipients below, as you "
				  "asked to be told.\r\n\r\n");
	for (size_t i = 0; i < d->nrcpts; i++) {
		const struct smtp_dsn_rcpt *r = &d->rcpts[i];
		rc |= buf_puts(b, "<");
		rc |= put_clean(b, r->address, 512);
		rc |= buf_printf(b, ">: %s", action_word(r->action));
		if (r->remote_mta) {
			rc |= buf_puts(b, " (host ");
			rc |= put_clean(b, r->remote_mta, 255);
			rc |= buf_puts(b, ")");
		}
		if (r->diagnostic) {
			rc |= buf_puts(b, "\r\n    ");
			rc |= put_clean(b, r->diagnostic, 1000);
		}
		rc |= buf_puts(b, "\r\n");
	}
	return rc < 0 ? -1 : 0;
}

static bool is_ascii(const char *s)
{
	for (; s && *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

bool smtp_dsn_is_global(const struct smtp_dsn *d)
{
	if (d->utf8 || !is_ascii(d->to))
		return true;
	for (size_t i = 0; i < d->nrcpts; i++)
		if (!is_ascii(d->rcpts[i].address) || !is_ascii(d->rcpts[i].orcpt))
			return true;
	return false;
}

/* RFC 3464 2.3.2 address-type: "rfc822" for an ASCII address, and in a
 * global notice "utf-8" for the others, written in the utf-8-address
 * form (RFC 6533 3: the Mailbox itself, as RFC 6531 allows it). */
static int put_address(struct buf *b, const char *field, const char *addr)
{
	int rc = buf_printf(b, "%s: %s; ", field, is_ascii(addr) ? "rfc822" : "utf-8");
	rc |= put_clean(b, addr, 512);
	rc |= buf_puts(b, "\r\n");
	return rc;
}

/* RFC 3464 2.2 and 2.3 (RFC 6533 6.2 for the global form: the same
 * fields, UTF-8 allowed). */
static int put_status(const struct smtp_dsn *d, struct buf *b)
{
	char date[64];
	int rc = 0;
	rc |= buf_printf(b, "Reporting-MTA: dns; %s\r\n", d->reporting_mta);
	if (d->envid && d->envid[0]) {
		rc |= buf_puts(b, "Original-Envelope-Id: ");
		rc |= put_clean(b, d->envid, 100);
		rc |= buf_puts(b, "\r\n");
	}
	if (d->arrival) {
		dsn_date(d->arrival, date, sizeof(date));
		rc |= buf_printf(b, "Arrival-Date: %s\r\n", date);
	}
	for (size_t i = 0; i < d->nrcpts; i++) {
		const struct smtp_dsn_rcpt *r = &d->rcpts[i];
		rc |= buf_puts(b, "\r\n");
		if (r->orcpt && strchr(r->orcpt, ';')) {
			rc |= buf_puts(b, "Original-Recipient: ");
			rc |= put_clean(b, r->orcpt, 600);
			rc |= buf_puts(b, "\r\n");
		}
		rc |= put_address(b, "Final-Recipient", r->address);
		rc |= buf_printf(b, "Action: %s\r\nStatus: ", action_word(r->action));
		rc |= put_clean(b, r->status && r->status[0] ? r->status : default_status(r->action),
				16);
		rc |= buf_puts(b, "\r\n");
		if (r->remote_mta) {
			rc |= buf_puts(b, "Remote-MTA: dns; ");
			rc |= put_clean(b, r->remote_mta, 255);
			rc |= buf_puts(b, "\r\n");
		}
		if (r->diagnostic) {
			/* RFC 3464 2.3.6: "smtp" when it is a reply we got,
			 * which is how the runner passes its own reasons too
			 * ("4xx"/"5xx" text). */
			rc |= buf_puts(b, "Diagnostic-Code: smtp; ");
			rc |= put_clean(b, r->diagnostic, 1000);
			rc |= buf_puts(b, "\r\n");
		}
		if (r->last_attempt) {
			dsn_date(r->last_attempt, date, sizeof(date));
			rc |= buf_printf(b, "Last-Attempt-Date: %s\r\n", date);
		}
		if (r->action == SMTP_DSN_DELAYED && d->retry_until) {
			dsn_date(d->retry_until, date, sizeof(date));
			rc |= buf_printf(b, "Will-Retry-Until: %s\r\n", date);
		}
	}
	return rc < 0 ? -1 : 0;
}

/* Appends the original: whole, or its header section only (up to and
 * including the blank line, bounded). */
static int put_original(const struct smtp_dsn *d, struct buf *b, bool whole)
{
	char *chunk = malloc(DSN_CHUNK);
	if (!chunk)
		return -1;
	uint64_t off = 0;
	int rc = 0;
	/* The last bytes seen, to find CRLF CRLF across chunks. */
	char tail[4] = {0};
	bool done = false;
	while (!done && off < d->size) {
		size_t got = 0;
		if (d->read(d->read_arg, off, chunk, DSN_CHUNK, &got) != 0) {
			rc = -1;
			break;
		}
		if (got == 0)
			break;
		size_t take = got;
		if (!whole) {
			for (size_t i = 0; i < got; i++) {
				memmove(tail, tail + 1, 3);
				tail[3] = chunk[i];
				if (memcmp(tail, "\r\n\r\n", 4) == 0 ||
				    (off + i == 1 && memcmp(tail + 2, "\r\n", 2) == 0)) {
					take = i + 1;
					done = true;
					break;
				}
			}
			if (off + take >= DSN_HEADERS_MAX) {
				take = off < DSN_HEADERS_MAX ? (size_t)(DSN_HEADERS_MAX - off) : 0;
				done = true;
			}
		}
		if (take && buf_append(b, chunk, take) < 0) {
			rc = -1;
			break;
		}
		off += got;
	}
	free(chunk);
	bool ends_crlf = b->len >= 2 && b->data[b->len - 2] == '\r' && b->data[b->len - 1] == '\n';
	if (rc == 0 && !ends_crlf && buf_puts(b, "\r\n") < 0)
		rc = -1;
	return rc;
}

int smtp_dsn_build(const struct smtp_dsn *d, struct buf *b)
{
	enum smtp_dsn_action kind = dsn_kind(d);
	char date[64], boundary[64];
	dsn_date(d->now, date, sizeof(date));
	snprintf(boundary, sizeof(boundary), "=_postino_dsn_%016" PRIx64, d->unique);
	const char *subject = kind == SMTP_DSN_FAILED ? "Undelivered Mail Returned to Sender"
			      : kind == SMTP_DSN_DELAYED ? "Delayed Mail (still being retried)"
							 : "Successful Mail Delivery Report";
	bool global = smtp_dsn_is_global(d);
	int rc = 0;
	rc |= buf_printf(b, "Date: %s\r\nFrom: Mail Delivery System <%s>\r\nTo: <", date, d->from);
	rc |= put_clean(b, d->to, 512);
	rc |= buf_printf(b, ">\r\nSubject: %s\r\n"
			    "Message-ID: <dsn.%016" PRIx64 "@%s>\r\n"
			    "Auto-Submitted: auto-replied\r\n"   /* RFC 3834 5 */
			    "MIME-Version: 1.0\r\n"
			    "Content-Type: multipart/report; report-type=%sdelivery-status;\r\n"
			    "\tboundary=\"%s\"\r\n\r\n"
			    "This is a MIME-encapsulated message.\r\n\r\n",
			 subject, d->unique, d->reporting_mta, global ? "global-" : "", boundary);
	rc |= buf_printf(b, "--%s\r\nContent-Description: Notification\r\n"
			    "Content-Type: text/plain; charset=utf-8\r\n\r\n", boundary);
	if (rc < 0 || put_human(d, b, kind) < 0)
		return -1;
	rc |= buf_printf(b, "\r\n--%s\r\nContent-Description: Delivery report\r\n"
			    "Content-Type: message/%sdelivery-status\r\n\r\n", boundary,
			 global ? "global-" : "");
	if (rc < 0 || put_status(d, b) < 0)
		return -1;
	/* RFC 3461 4.3: RET=HDRS returns the headers, RET=FULL the whole
	 * message; without RET we choose: the whole for a failure when it
	 * is not large, headers otherwise (a delay or success notice does
	 * not need the body back). */
	bool whole = d->ret == SMTP_DSN_RETURN_FULL ||
		     (d->ret == SMTP_DSN_RETURN_DEFAULT && kind == SMTP_DSN_FAILED &&
		      d->size <= d->full_max);
	if (d->ret == SMTP_DSN_RETURN_FULL && kind != SMTP_DSN_FAILED)
		whole = false;   /* RFC 3461 4.3: RET applies to failure notices */
	if (d->read && d->size > 0) {
		rc |= buf_printf(b, "\r\n--%s\r\nContent-Description: %s\r\n"
				    "Content-Type: %s\r\n\r\n", boundary,
				 whole ? "Undelivered Message" : "Undelivered Message Headers",
				 whole ? (global ? "message/global" : "message/rfc822")
				       : (global ? "message/global-headers" : "text/rfc822-headers"));
		if (rc < 0 || put_original(d, b, whole) < 0)
			return -1;
	}
	rc |= buf_printf(b, "\r\n--%s--\r\n", boundary);
	return rc < 0 ? -1 : 0;
}
