/* smtp/smtp_client_txn.c: one mail transaction of the outbound client:
 * what a message needs from the server (SIZE, 8BITMIME, SMTPUTF8), MAIL and
 * RCPT with their parameters (pipelined when offered, RFC 2920), DATA and
 * the content streamed from the read callback with dot-stuffing and CRLF
 * normalization (RFC 5321 4.5.2, 2.3.8), per-recipient results, and the
 * RSET that leaves the connection clean for the next message. */
#include "smtp/smtp_client_private.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

/* RFC 5321 4.5.3.2 timeouts, in seconds. */
#define TX_MAIL_TIMEOUT 300
#define TX_RCPT_TIMEOUT 300
#define TX_DATA_INIT_TIMEOUT 120
#define TX_DATA_BLOCK_TIMEOUT 180
#define TX_DOT_TIMEOUT 600
#define TX_RSET_TIMEOUT 300
/* Content is read in chunks of this size and the output kept between the
 * low and high marks, so a message of any size costs about 100 KiB. */
#define TX_CHUNK 16384
#define TX_OUT_HIGH (64 * 1024)
#define TX_OUT_LOW (16 * 1024)

static void info_set(struct smtp_client_info *info, int code, const char *status,
		     bool permanent, const char *text)
{
	memset(info, 0, sizeof(*info));
	info->code = code;
	snprintf(info->status, sizeof(info->status), "%s", status);
	info->permanent = permanent;
	snprintf(info->text, sizeof(info->text), "%s", text);
}

static void rcpt_set(struct smtp_client_rcpt *r, int code, const char *status, const char *text)
{
	r->code = code;
	snprintf(r->status, sizeof(r->status), "%s", status);
	snprintf(r->reply, sizeof(r->reply), "%s", text);
}

static void rcpt_set_reply(struct smtp_client *c, struct smtp_client_rcpt *r)
{
	char text[sizeof(r->reply)];
	smtp_reply_text_oneline(&c->reply, text, sizeof(text));
	rcpt_set(r, c->reply.code, c->reply.status, text);
}

static void info_set_reply(struct smtp_client *c, struct smtp_client_info *info)
{
	char text[sizeof(info->text)];
	smtp_reply_text_oneline(&c->reply, text, sizeof(text));
	info_set(info, c->reply.code, c->reply.status, c->reply.code >= 500, text);
}

/* A path we may put between < and >: no control characters (they would
 * end the command: command injection), no angle brackets.  *eight_r is set
 * when it has 8-bit octets (it then needs SMTPUTF8). */
static bool path_ok(const char *s, bool *eight_r)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == '<' || *p == '>')
			return false;
		if (*p >= 0x80)
			*eight_r = true;
	}
	return strlen(s) <= 1000;
}

/* RFC 3461 4: xtext is printable ASCII except '+' and '=', else "+HH". */
static void xtext_add(struct evbuffer *out, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p >= 33 && *p <= 126 && *p != '+' && *p != '=')
			evbuffer_add(out, p, 1);
		else
			evbuffer_add_printf(out, "+%02X", *p);
	}
}

static bool dsn_on(const struct smtp_client *c)
{
	return c->ehlo.ext & SMTP_EXT_DSN;
}

static void rcpt_write(struct smtp_client *c, size_t i)
{
	const struct smtp_client_rcpt *r = &c->msg->rcpts[i];
	struct evbuffer *out = bufferevent_get_output(c->bev);
	evbuffer_add_printf(out, "RCPT TO:<%s>", r->address);
	if (dsn_on(c) && r->notify) {
		/* RFC 3461 4.1: NEVER alone, or a list of the others. */
		if (r->notify & SMTP_NOTIFY_NEVER) {
			evbuffer_add_printf(out, " NOTIFY=NEVER");
		} else {
			const char *sep = " NOTIFY=";
			static const struct {
				unsigned bit;
				const char *name;
			} kinds[] = { { SMTP_NOTIFY_SUCCESS, "SUCCESS" },
				      { SMTP_NOTIFY_FAILURE, "FAILURE" },
				      { SMTP_NOTIFY_DELAY, "DELAY" } };
			for (size_t k = 0; k < 3; k++)
				if (r->notify & kinds[k].bit) {
					evbuffer_add_printf(out, "%s%s", sep, kinds[k].name);
					sep = ",";
				}
		}
	}
	if (dsn_on(c) && r->orcpt && r->orcpt[0]) {
		/* RFC 3461 4.2: ORCPT=addr-type ";" xtext(address). */
		const char *semi = strchr(r->orcpt, ';');
		evbuffer_add_printf(out, " ORCPT=");
		if (semi) {
			evbuffer_add(out, r->orcpt, (size_t)(semi - r->orcpt + 1));
			xtext_add(out, semi + 1);
		} else {
			evbuffer_add_printf(out, "rfc822;");
			xtext_add(out, r->orcpt);
		}
	}
	evbuffer_add(out, "\r\n", 2);
	c->rcpt_sent = i + 1;
}

/* Refuse a message before anything is sent: every recipient gets info. */
static int send_refuse(struct smtp_client_msg *m, struct smtp_client_info *info_r, int code,
		       const char *status, bool permanent, const char *text)
{
	info_set(info_r, code, status, permanent, text);
	for (size_t i = 0; i < m->nrcpts; i++)
		rcpt_set(&m->rcpts[i], code, status, text);
	return -1;
}

bool smtp_client_8bitmime(const struct smtp_client *c)
{
	return (c->ehlo.ext & SMTP_EXT_8BITMIME) != 0;
}

int smtp_client_send(struct smtp_client *c, struct smtp_client_msg *m,
		     struct smtp_client_info *info_r)
{
	char why[300];
	memset(info_r, 0, sizeof(*info_r));
	if (c->st != CL_IDLE || !c->bev || c->msg) {
		info_set(info_r, 451, "4.3.0", false, "the connection is not ready for a message");
		return -1;
	}
	smtp_client_info_fill(c, info_r);
	if (m->nrcpts == 0 || !m->read || !m->sender)
		return send_refuse(m, info_r, 554, "5.5.1", true, "no recipients or no content");
	bool eight = m->utf8;
	bool ok = path_ok(m->sender, &eight);
	for (size_t i = 0; ok && i < m->nrcpts; i++)
		ok = m->rcpts[i].address && path_ok(m->rcpts[i].address, &eight);
	if (!ok)
		return send_refuse(m, info_r, 553, "5.1.3", true,
				   "invalid character in an envelope address");
	if ((c->ehlo.ext & SMTP_EXT_SIZE) && c->ehlo.size_max && m->size > c->ehlo.size_max) {
		snprintf(why, sizeof(why),
			 "message size %" PRIu64 " exceeds the limit of %" PRIu64 " of %s",
			 m->size, c->ehlo.size_max, c->host);
		return send_refuse(m, info_r, 552, "5.3.4", true, why);
	}
	/* RFC 6152 3: 8-bit content to a server without 8BITMIME must be
	 * converted (to quoted-printable or base64); the caller does that
	 * (smtp_queue_content.c), so what still comes here 8-bit is refused. */
	if (m->eightbit && !(c->ehlo.ext & SMTP_EXT_8BITMIME)) {
		snprintf(why, sizeof(why),
			 "8-bit content, %s does not offer 8BITMIME, and it was not converted",
			 c->host);
		return send_refuse(m, info_r, 554, "5.6.3", true, why);
	}
	/* RFC 6531 3.2: without SMTPUTF8, no UTF-8 envelope or headers. */
	if (eight && !(c->ehlo.ext & SMTP_EXT_SMTPUTF8)) {
		snprintf(why, sizeof(why), "SMTPUTF8 is required but %s does not offer it",
			 c->host);
		return send_refuse(m, info_r, 553, "5.6.7", true, why);
	}
	free(c->accepted);
	c->accepted = calloc(m->nrcpts, sizeof(*c->accepted));
	if (!c->accepted) {
		info_set(info_r, 451, "4.3.0", false, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < m->nrcpts; i++)
		rcpt_set(&m->rcpts[i], 0, "", "");
	c->msg = m;
	c->rcpt_sent = c->rcpt_replied = c->naccepted = 0;
	c->mail_ok = false;
	memset(&c->done_info, 0, sizeof(c->done_info));

	struct evbuffer *out = bufferevent_get_output(c->bev);
	evbuffer_add_printf(out, "MAIL FROM:<%s>", m->sender);
	if (c->ehlo.ext & SMTP_EXT_SIZE)
		evbuffer_add_printf(out, " SIZE=%" PRIu64, m->size);
	if (m->eightbit)
		evbuffer_add_printf(out, " BODY=8BITMIME");
	if (eight)
		evbuffer_add_printf(out, " SMTPUTF8");
	if (dsn_on(c) && (m->ret == 1 || m->ret == 2))
		evbuffer_add_printf(out, " RET=%s", m->ret == 1 ? "FULL" : "HDRS");
	if (dsn_on(c) && m->envid && m->envid[0]) {
		evbuffer_add_printf(out, " ENVID=");
		xtext_add(out, m->envid);
	}
	evbuffer_add(out, "\r\n", 2);
	/* RFC 2920 3.1: MAIL and every RCPT in one write; DATA waits for
	 * their replies, so a message with no recipient left sends none. */
	if (c->ehlo.ext & SMTP_EXT_PIPELINING)
		for (size_t i = 0; i < m->nrcpts; i++)
			rcpt_write(c, i);
	c->st = CL_MAIL;
	smtp_client_timeouts(c, TX_MAIL_TIMEOUT, TX_MAIL_TIMEOUT);
	return 0;
}

static void txn_done(struct smtp_client *c, const struct smtp_client_info *info)
{
	struct smtp_client_info out = *info;
	smtp_client_info_fill(c, &out);
	c->msg = NULL;
	free(c->accepted);
	c->accepted = NULL;
	c->st = CL_IDLE;
	smtp_client_timeouts(c, 0, 0);
	smtp_client_emit(c, SMTP_CLIENT_DONE, &out);
}

/* The transaction is over but may have left state on the server (a MAIL
 * accepted, recipients accepted): RSET, then DONE. */
static void txn_rset_then_done(struct smtp_client *c)
{
	smtp_client_write(c, "RSET\r\n");
	c->st = CL_RSET;
	smtp_client_timeouts(c, TX_RSET_TIMEOUT, TX_RSET_TIMEOUT);
}

/* The content cannot be sent whole: only closing the connection ends DATA
 * without delivering what went out (RFC 5321 4.1.1.4 has no abort). */
static void txn_abort(struct smtp_client *c, const char *why)
{
	char text[300];
	snprintf(text, sizeof(text), "%s; the message was not sent", why);
	for (size_t i = 0; i < c->msg->nrcpts; i++)
		if (c->accepted[i])
			rcpt_set(&c->msg->rcpts[i], 451, "4.3.0", text);
	smtp_client_fail(c, 451, "4.3.0", false, "%s", text);
}

/* Stuff and normalize n bytes of content into out (room for 2n + 5):
 * a '.' opening a line is doubled, a bare LF or bare CR becomes CRLF. */
static size_t txn_stuff(struct smtp_client *c, const char *in, size_t n, char *out)
{
	size_t o = 0;
	size_t i = 0;
	while (i < n) {
		char ch = in[i];
		if (c->pending_cr) {
			c->pending_cr = false;
			out[o++] = '\r';
			out[o++] = '\n';
			c->line_start = true;
			if (ch == '\n') {
				i++;
				continue;
			}
		}
		if (ch == '\r') {
			c->pending_cr = true;
			i++;
			continue;
		}
		if (ch == '\n') {
			out[o++] = '\r';
			out[o++] = '\n';
			c->line_start = true;
			i++;
			continue;
		}
		if (c->line_start && ch == '.')
			out[o++] = '.';
		c->line_start = false;
		/* The rest of the line up to its CR or LF goes as it is: found
		 * a word at a time (memchr), copied whole. */
		const char *cr = memchr(in + i, '\r', n - i);
		size_t end = cr ? (size_t)(cr - in) : n;
		const char *lf = memchr(in + i, '\n', end - i);
		if (lf)
			end = (size_t)(lf - in);
		memcpy(out + o, in + i, end - i);
		o += end - i;
		i = end;
	}
	return o;
}

void smtp_client_txn_pump(struct smtp_client *c)
{
	struct smtp_client_msg *m = c->msg;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	char in[TX_CHUNK];
	char enc[2 * TX_CHUNK + 8];
	while (!c->read_held && evbuffer_get_length(out) < TX_OUT_HIGH) {
		size_t got = 0;
		int rc = m->read(m->read_arg, c->off, in, sizeof(in), &got);
		if (rc > 0) {
			/* Not now: what is written goes on; the rest after
			 * smtp_client_resume.  The write timeout runs only
			 * while output waits, so the lock's wait costs none. */
			c->read_held = true;
			return;
		}
		if (rc < 0) {
			txn_abort(c, "error reading the message from the queue");
			return;
		}
		if (got > sizeof(in) || got > m->size - c->off || c->off > m->size) {
			txn_abort(c, "the message is longer than its recorded size");
			return;
		}
		if (got == 0) {
			size_t o = 0;
			if (c->pending_cr) {
				enc[o++] = '\r';
				enc[o++] = '\n';
				c->pending_cr = false;
				c->line_start = true;
			}
			/* RFC 5321 4.1.1.4: the content ends with CRLF before the dot. */
			if (!c->line_start) {
				enc[o++] = '\r';
				enc[o++] = '\n';
			}
			memcpy(enc + o, ".\r\n", 3);
			evbuffer_add(out, enc, o + 3);
			c->st = CL_DOT;
			bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
			smtp_client_timeouts(c, TX_DOT_TIMEOUT, TX_DATA_BLOCK_TIMEOUT);
			return;
		}
		c->off += got;
		evbuffer_add(out, enc, txn_stuff(c, in, got, enc));
	}
}

void smtp_client_txn_reply(struct smtp_client *c)
{
	struct smtp_client_msg *m = c->msg;
	int cls = c->reply.code / 100;
	bool pipelining = c->ehlo.ext & SMTP_EXT_PIPELINING;
	/* Only DATA may be answered 354 (RFC 5321 4.3.2), and DATA only with
	 * 354 or a failure: anything else is a server out of step with us,
	 * whose later replies cannot be matched to our commands. */
	bool out_of_step = c->st == CL_DATA ? c->reply.code != 354 : cls == 3;
	if (out_of_step && cls < 4) {
		smtp_client_fail_reply(c, false, "unexpected reply");
		return;
	}
	switch (c->st) {
	case CL_MAIL:
		c->mail_ok = cls == 2;
		if (!c->mail_ok) {
			info_set_reply(c, &c->done_info);
			c->done_info.msg_refused = true;
			for (size_t i = 0; i < m->nrcpts; i++)
				rcpt_set_reply(c, &m->rcpts[i]);
			if (!pipelining) {
				txn_done(c, &c->done_info);
				return;
			}
		} else if (!pipelining) {
			rcpt_write(c, 0);
		}
		c->st = CL_RCPT;
		smtp_client_timeouts(c, TX_RCPT_TIMEOUT, TX_RCPT_TIMEOUT);
		return;
	case CL_RCPT: {
		size_t i = c->rcpt_replied++;
		if (c->mail_ok) {
			if (cls == 2) {
				c->accepted[i] = true;
				c->naccepted++;
			} else {
				rcpt_set_reply(c, &m->rcpts[i]);
			}
		}
		if (c->rcpt_replied < m->nrcpts) {
			if (!pipelining)
				rcpt_write(c, c->rcpt_replied);
			return;
		}
		if (!c->mail_ok) {
			txn_done(c, &c->done_info);
		} else if (c->naccepted == 0) {
			info_set(&c->done_info, 0, "", false, "no recipient accepted");
			txn_rset_then_done(c);
		} else {
			smtp_client_write(c, "DATA\r\n");
			c->st = CL_DATA;
			smtp_client_timeouts(c, TX_DATA_INIT_TIMEOUT, TX_DATA_INIT_TIMEOUT);
		}
		return;
	}
	case CL_DATA:
		if (c->reply.code == 354) {
			c->st = CL_BODY;
			c->off = 0;
			c->line_start = true;
			c->pending_cr = false;
			c->read_held = false;
			/* No read timeout while we talk; the write timeout is the
			 * data block timeout. */
			smtp_client_timeouts(c, 0, TX_DATA_BLOCK_TIMEOUT);
			bufferevent_setwatermark(c->bev, EV_WRITE, TX_OUT_LOW, 0);
			smtp_client_txn_pump(c);
			return;
		}
		info_set_reply(c, &c->done_info);
		c->done_info.msg_refused = true;
		for (size_t i = 0; i < m->nrcpts; i++)
			if (c->accepted[i])
				rcpt_set_reply(c, &m->rcpts[i]);
		txn_rset_then_done(c);
		return;
	case CL_DOT:
		info_set_reply(c, &c->done_info);
		for (size_t i = 0; i < m->nrcpts; i++)
			if (c->accepted[i])
				rcpt_set_reply(c, &m->rcpts[i]);
		txn_done(c, &c->done_info);
		return;
	case CL_RSET:
		if (cls == 2)
			txn_done(c, &c->done_info);
		else
			smtp_client_fail_reply(c, false, "RSET");
		return;
	case CL_BODY:
		/* A reply before the final dot: the server gave up on the data. */
		smtp_client_fail_reply(c, false, "reply in the middle of DATA");
		return;
	default:
		return;
	}
}
