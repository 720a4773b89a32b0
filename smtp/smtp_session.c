/* smtp/smtp_session.c: the SMTP session's life: the greeting, the command
 * table and its one dispatcher (state and arity are checked here, once,
 * not in handlers), timeouts, shutdown, and the one exit, session_free,
 * which every way a connection ends goes through (core calls it exactly
 * once). */
#include "smtp/smtp_session.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/conn.h"
#include "core/proto.h"
#include "core/server.h"
#include "core/session_limits.h"
#include "core/spool.h"

const struct smtp_command smtp_commands[SMTP_VERB_COUNT] = {
	/* RFC 5321 4.1.4: EHLO may come again at any time and resets the
	 * transaction; RSET, NOOP, QUIT, VRFY and HELP are allowed anywhere. */
	[SMTP_VERB_HELO] = {SMTP_S_ANY, SMTP_ARG_REQUIRED, smtp_cmd_helo, "HELO hostname"},
	[SMTP_VERB_EHLO] = {SMTP_S_ANY, SMTP_ARG_REQUIRED, smtp_cmd_ehlo, "EHLO hostname"},
	[SMTP_VERB_MAIL] = {SMTP_S_GREETED, SMTP_ARG_REQUIRED, smtp_cmd_mail,
			    "MAIL FROM:<address>"},
	[SMTP_VERB_RCPT] = {SMTP_S_MAIL | SMTP_S_RCPT, SMTP_ARG_REQUIRED, smtp_cmd_rcpt,
			    "RCPT TO:<address>"},
	[SMTP_VERB_DATA] = {SMTP_S_RCPT, SMTP_ARG_NONE, smtp_cmd_data, "DATA"},
	[SMTP_VERB_RSET] = {SMTP_S_ANY, SMTP_ARG_NONE, smtp_cmd_rset, "RSET"},
	[SMTP_VERB_NOOP] = {SMTP_S_ANY, SMTP_ARG_OPTIONAL, smtp_cmd_noop, "NOOP"},
	[SMTP_VERB_QUIT] = {SMTP_S_ANY, SMTP_ARG_NONE, smtp_cmd_quit, "QUIT"},
	[SMTP_VERB_VRFY] = {SMTP_S_ANY, SMTP_ARG_REQUIRED, smtp_cmd_vrfy, "VRFY address"},
	[SMTP_VERB_HELP] = {SMTP_S_ANY, SMTP_ARG_OPTIONAL, smtp_cmd_help, "HELP [command]"},
	/* RFC 3207 4: not inside a mail transaction (our choice: the state it
	 * would throw away is the client's). */
	[SMTP_VERB_STARTTLS] = {SMTP_S_INIT | SMTP_S_GREETED, SMTP_ARG_NONE, smtp_cmd_starttls,
				"STARTTLS"},
	/* RFC 4954 4: not during a mail transaction. */
	[SMTP_VERB_AUTH] = {SMTP_S_GREETED, SMTP_ARG_REQUIRED, smtp_cmd_auth,
			    "AUTH mechanism [initial-response]"},
	/* RFC 3030 2: in every state, since the chunk's octets must be read
	 * whatever the reply; the handler refuses it out of a transaction. */
	[SMTP_VERB_BDAT] = {SMTP_S_ANY, SMTP_ARG_REQUIRED, smtp_cmd_bdat, "BDAT size [LAST]"},
	/* Recognized, not implemented (502): EXPN (RFC 5321 7.3 lets it be
	 * disabled; we have no lists). */
	[SMTP_VERB_EXPN] = {0, SMTP_ARG_REQUIRED, NULL, "EXPN list"},
};

/* Which replies are protocol errors, counted for limits.max_errors: the
 * syntax and sequence replies of RFC 5321 4.2.4 (500-504), any status of
 * RFC 3463's X.5.X class ("mail delivery protocol"), and 535, credentials
 * refused (RFC 4954 6).  Only the last line of a reply counts. */
static bool smtp_reply_is_error(const char *line, size_t len)
{
	if (len < 3 || line[0] != '5' || (len > 3 && line[3] == '-'))
		return false;
	if (line[1] == '0' || (line[1] == '3' && line[2] == '5'))
		return true;
	return len >= 8 && line[3] == ' ' && line[5] == '.' && line[6] == '5' && line[7] == '.';
}

void smtp_reply(struct smtp_session *s, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	size_t len = (size_t)n < sizeof(line) - 2 ? (size_t)n : sizeof(line) - 3;
	if (smtp_reply_is_error(line, len))
		s->errors++;
	/* The reply to a flushed message (flush_done, smtp_cmd_data.c): a
	 * 2xx there is a message accepted, the progress junk is measured
	 * against. */
	if (s->state == SMTP_S_FLUSH && line[0] == '2')
		s->junk = 0;
	line[len++] = '\r';
	line[len++] = '\n';
	conn_write(s->c, line, len);
}

void smtp_reply_perr(struct smtp_session *s, enum smtp_perr err, bool sender)
{
	/* RFC 3463: X.1.7 is the sender's address, X.1.3 a recipient's. */
	const char *sub = sender ? "5.1.7" : "5.1.3";
	const char *who = sender ? "sender" : "recipient";
	switch (err) {
	case SMTP_P_SYNTAX:
		smtp_reply(s, "501 5.5.4 Syntax: %s", sender ? "MAIL FROM:<address>" : "RCPT TO:<address>");
		break;
	case SMTP_P_PATH_8BIT:
		/* RFC 6531 3.5: 550 for MAIL, 553 for RCPT, both X.6.7. */
		smtp_reply(s, "%s 5.6.7 Non-ASCII addresses not permitted for that %s",
			   sender ? "550" : "553", who);
		break;
	case SMTP_P_PATH_UTF8:
	case SMTP_P_LOCAL_TOO_LONG:
	case SMTP_P_DOMAIN_TOO_LONG:
	case SMTP_P_PATH_TOO_LONG:
		/* RFC 5321 4.5.3.1.9: "501 Path too long". */
		smtp_reply(s, "501 %s Bad %s address: %s", sub, who, smtp_perr_str(err));
		break;
	case SMTP_P_NULL_PATH:
	case SMTP_P_PATH_SYNTAX:
		smtp_reply(s, "501 %s Bad %s address syntax", sub, who);
		break;
	case SMTP_P_PARAM_UNKNOWN:
		/* RFC 5321 4.1.1.11 */
		smtp_reply(s, "555 5.5.4 %s parameters not recognized or not implemented",
			   sender ? "MAIL FROM" : "RCPT TO");
		break;
	default:
		smtp_reply(s, "501 5.5.4 Syntax error in parameters: %s", smtp_perr_str(err));
		break;
	}
}

static void rcpt_list_clear(struct smtp_rcpt_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->addr[i]);
		free(l->orcpt[i]);
	}
	l->n = 0;
}

void smtp_rcpt_list_free(struct smtp_rcpt_list *l)
{
	rcpt_list_clear(l);
	free(l->addr);
	free(l->notify);
	free(l->orcpt);
}

void smtp_session_reset_tx(struct smtp_session *s)
{
	rcpt_list_clear(&s->rcpt_list);
	rcpt_list_clear(&s->remote_list);
	s->sender[0] = '\0';
	s->envid[0] = '\0';
	s->ret = 0;
	s->rcpt_refused = false;
	s->create_postmaster = false;
	s->smtputf8 = false;
	s->bdat_last = s->bdat_discard = s->bdat_reset = false;
	s->bdat_reply = NULL;
	s->delivered_rcpts = 0;
	s->delivered_size = 0;
	smtp_data_clear(&s->data);
	spool_free(&s->spool);
	limits_budget_give(s->srv, s->budget_held);
	s->budget_held = 0;
	s->spool_budget = 0;
	if (s->state != SMTP_S_INIT)
		s->state = SMTP_S_GREETED;
}

void smtp_session_limits_apply(struct smtp_session *s)
{
	struct limits lim;
	limits_get(s->cfg, s->authed ? LIMITS_AUTHED : LIMITS_PREAUTH, &lim);
	conn_set_limits(s->c, &lim);
}

/* smtp_data's sink: the body goes to the spool file as it arrives. */
/* A message up to this size stays in memory, while the input budget has
 * room for it, instead of going to a spool file: creating the file,
 * writing, mapping and closing it was about a fifth of the server's CPU
 * per 100 KiB delivery (and the file system's journal churns for each
 * one).  Past it the spool moves to its file as before and gives its
 * budget back.  Spools take only from the budget's first half: the rest
 * stays for what has no file to go to (DATA chunk buffers, IMAP
 * literals), so slow senders of large messages cannot spend it all. */
#define SMTP_SPOOL_MEM_MAX (256 * 1024)

static int smtp_spool_sink(void *arg, const char *data, size_t len)
{
	struct smtp_session *s = arg;
	if (s->spool && spool_in_memory(s->spool)) {
		size_t want = spool_size(s->spool) + len;
		if (want > SPOOL_MEM_MAX && want <= SMTP_SPOOL_MEM_MAX &&
		    limits_budget_used(s->srv) + len <= s->cfg->input_budget / 2 &&
		    limits_budget_take(s->srv, len)) {
			s->budget_held += len;
			s->spool_budget += len;
			spool_mem_allow(s->spool, want);
		}
	}
	int rc = s->spool ? spool_write(s->spool, data, len) : -EBADF;
	if (s->spool_budget && s->spool && !spool_in_memory(s->spool)) {
		/* Moved to its file: its memory is free, so is its budget. */
		limits_budget_give(s->srv, s->spool_budget);
		s->budget_held -= s->spool_budget;
		s->spool_budget = 0;
	}
	if (rc < 0) {
		s->spool_err = -rc;
		conn_log(s->c, PLOG_ERROR, "spool write failed id=%s error=\"%s\"", s->msg_id,
			 strerror(-rc));
		return -1;
	}
	return 0;
}

bool smtp_session_close_if_shutdown(struct smtp_session *s)
{
	if (!s->shutdown_pending && !s->srv->shutting_down)
		return false;
	smtp_reply(s, "421 4.3.2 Service shutting down");
	conn_close(s->c, "shutdown");
	return true;
}

static void *smtp_session_new(struct conn *c)
{
	struct smtp_session *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->c = c;
	s->srv = conn_server(c);
	s->cfg = s->srv->cfg;
	s->state = SMTP_S_INIT;
	struct smtp_data_limits lim = {
		.max_size = s->cfg->smtp_max_message_size,
		.max_line = SMTP_DATA_MAX_LINE,
		.max_received = SMTP_MAX_RECEIVED,
		.bare = s->cfg->smtp_reject_bare_newline ? SMTP_BARE_REJECT : SMTP_BARE_NORMALIZE,
	};
	smtp_data_init(&s->data, &lim);
	smtp_data_set_sink(&s->data, SMTP_DATA_CHUNK, smtp_spool_sink, s);
	/* RFC 5321 4.5.3.2.7: at least 5 minutes between commands. */
	conn_set_timeout(c, s->cfg->smtp_timeout);
	smtp_session_limits_apply(s);
	/* RFC 5321 4.2: the greeting names us; RFC 2034 4 exempts it from
	 * enhanced status codes. */
	smtp_reply(s, "220 %s ESMTP postino", s->cfg->hostname);
	return s;
}

static void smtp_reply_sequence(struct smtp_session *s, enum smtp_verb verb,
				const struct smtp_command *cmd)
{
	/* RFC 5321 4.1.4 and 3.3: 503 for a command out of order. */
	if (s->state == SMTP_S_INIT)
		smtp_reply(s, "503 5.5.1 Error: send HELO/EHLO first");
	else if (s->state == SMTP_S_GREETED && !(cmd->states & SMTP_S_GREETED))
		smtp_reply(s, "503 5.5.1 Error: need MAIL command");
	else if (s->state == SMTP_S_MAIL && cmd->states == SMTP_S_RCPT && s->rcpt_refused)
		/* RFC 5321 3.3: every RCPT failed, so "no valid recipients". */
		smtp_reply(s, "554 5.5.1 Error: no valid recipients");
	else if (s->state == SMTP_S_MAIL && cmd->states == SMTP_S_RCPT)
		smtp_reply(s, "503 5.5.1 Error: need RCPT command");
	else if (verb == SMTP_VERB_MAIL)
		smtp_reply(s, "503 5.5.1 Error: nested MAIL command");
	else
		smtp_reply(s, "503 5.5.1 Error: MAIL transaction in progress");
}

/* Too many errors or commands without progress: a client that keeps
 * failing or stalling holds a connection others could use, or is guessing
 * (passwords, addresses).  RFC 5321 3.8: 421 and close, at any time. */
static void smtp_check_limits(struct smtp_session *s)
{
	if (s->limit_closed || !(s->state & (SMTP_S_ANY | SMTP_S_AUTH)))
		return;   /* a message being read or flushed is finished first */
	const char *what;
	if (s->errors >= s->cfg->max_errors)
		what = "errors";
	else if (s->junk > s->cfg->max_junk_commands)
		what = "commands without progress";
	else
		return;
	s->limit_closed = true;
	conn_log(s->c, PLOG_WARN, "closing: too many %s errors=%u junk=%u", what, s->errors,
		 s->junk);
	smtp_reply(s, "421 4.7.0 %s Error: too many %s", s->cfg->hostname, what);
	conn_close(s->c, s->errors >= s->cfg->max_errors ? "too many errors" : "too many junk commands");
}

/* One command line through the table. */
static void smtp_dispatch(struct smtp_session *s, const char *line, size_t len)
{
	struct smtp_cmdline cmd;
	enum smtp_perr rc = smtp_parse_command(line, len, &cmd);
	if (rc == SMTP_P_UNKNOWN_VERB) {
		/* RFC 5321 4.2.4 */
		smtp_reply(s, "500 5.5.2 Error: command not recognized");
		return;
	}
	if (rc != SMTP_P_OK) {
		smtp_reply(s, "500 5.5.2 Error: bad syntax");
		return;
	}
	const struct smtp_command *def = &smtp_commands[cmd.verb];
	if (!def->fn) {
		smtp_reply(s, "502 5.5.1 Error: command not implemented");
		return;
	}
	if (!(def->states & s->state)) {
		smtp_reply_sequence(s, cmd.verb, def);
		return;
	}
	if ((def->arity == SMTP_ARG_NONE && cmd.arg_len > 0) ||
	    (def->arity == SMTP_ARG_REQUIRED && cmd.arg_len == 0)) {
		smtp_reply(s, "501 5.5.4 Syntax: %s", def->usage);
		return;
	}
	def->fn(s, cmd.arg, cmd.arg_len);
}

/* Bare LF and bare CR in a command line or a SASL response (RFC 5321
 * 2.3.8), as smtp.forbid_bare_newline says.  "normalize": a bare LF ends
 * the line as CRLF would, a command holding a bare CR is refused (a control
 * byte is never part of one).  "reject": either closes the session, as
 * Postfix 3.9 does; 521 says so (RFC 7504 3). */
enum smtp_line_fate { SMTP_LINE_GO, SMTP_LINE_REFUSED, SMTP_LINE_CLOSED };
static enum smtp_line_fate smtp_line_bare(struct smtp_session *s, const char *line, size_t len,
					  bool crlf)
{
	enum smtp_perr e = smtp_parse_line_end(line, len, crlf);
	if (e == SMTP_P_OK)
		return SMTP_LINE_GO;
	const char *what = e == SMTP_P_BARE_LF ? "LF" : "CR";
	if (s->cfg->smtp_reject_bare_newline) {
		conn_log(s->c, PLOG_WARN, "closing: bare <%s> in a command line", what);
		smtp_reply(s, "521 5.5.2 %s Error: bare <%s> received", s->cfg->hostname, what);
		conn_close(s->c, e == SMTP_P_BARE_LF ? "bare LF" : "bare CR");
		return SMTP_LINE_CLOSED;
	}
	if (e == SMTP_P_BARE_CR && s->state != SMTP_S_AUTH) {
		smtp_reply(s, "500 5.5.2 Error: bare <CR> received");
		s->junk++;
		return SMTP_LINE_REFUSED;
	}
	return SMTP_LINE_GO;
}

static void smtp_on_line(void *sess, const char *line, size_t len, bool crlf)
{
	struct smtp_session *s = sess;
	bool authed = s->authed;
	if (s->auth_checking)
		return; /* input is suspended until the password check answers */
	if (s->state != SMTP_S_DATA && s->state != SMTP_S_FLUSH) {
		enum smtp_line_fate fate = smtp_line_bare(s, line, len, crlf);
		if (fate == SMTP_LINE_REFUSED)
			smtp_check_limits(s);
		if (fate != SMTP_LINE_GO)
			return;
	}
	if (s->state == SMTP_S_DATA) {
		smtp_data_phase_line(s, line, len, crlf);
	} else if (s->state == SMTP_S_FLUSH) {
		return; /* input is suspended then; nothing to do */
	} else if (s->state == SMTP_S_AUTH) {
		smtp_auth_phase_line(s, line, len);
	} else {
		/* Progress is a transaction opened, a recipient taken or a
		 * message begun; anything else (NOOP, RSET, VRFY, HELP, EHLO
		 * again, refused commands, all that comes before MAIL) is junk
		 * until the next message is accepted. */
		enum smtp_state before = s->state;
		size_t rcpts = s->rcpt_list.n + s->remote_list.n;
		smtp_dispatch(s, line, len);
		bool progress = (before == SMTP_S_GREETED && s->state == SMTP_S_MAIL) ||
				s->rcpt_list.n + s->remote_list.n > rcpts || s->state == SMTP_S_DATA;
		if (!progress)
			s->junk++;
	}
	smtp_session_line_done(s, authed);
}

void smtp_session_line_done(struct smtp_session *s, bool authed_before)
{
	/* A login forgives the fumbling before it (failed attempts included). */
	if (!authed_before && s->authed)
		s->errors = 0;
	smtp_check_limits(s);
}

static void smtp_on_line_too_long(void *sess, const char *head, size_t head_len)
{
	struct smtp_session *s = sess;
	(void)head;
	(void)head_len;
	if (s->auth_checking) {
		return;
	} else if (s->state == SMTP_S_DATA) {
		smtp_data_phase_too_long(s);
	} else if (s->state == SMTP_S_AUTH) {
		smtp_auth_phase_too_long(s);
	} else {
		/* RFC 5321 4.5.3.1.9: "500 Line too long". */
		smtp_reply(s, "500 5.5.2 Line too long");
		s->junk++;
	}
	smtp_check_limits(s);
}

static size_t smtp_on_stream(void *sess, const char *data, size_t len)
{
	struct smtp_session *s = sess;
	bool authed = s->authed;
	size_t used = smtp_data_phase_stream(s, data, len);
	smtp_session_line_done(s, authed);
	return used;
}

static void smtp_on_raw(void *sess, const char *data, size_t len, bool last)
{
	smtp_bdat_phase_raw(sess, data, len, last);
}

static void smtp_on_timeout(void *sess, enum conn_expiry why)
{
	struct smtp_session *s = sess;
	/* RFC 5321 4.5.3.2 and 3.8: 421, and core closes after this.  A
	 * message in DATA is dropped: nothing of it was stored.  Only a
	 * session before its first MAIL is ever evicted. */
	if (why == CONN_EXPIRY_EVICTED)
		smtp_reply(s, "421 4.7.0 %s Error: too many connections, closing this idle one",
			   s->cfg->hostname);
	else
		smtp_reply(s, "421 4.4.2 %s Error: timeout exceeded", s->cfg->hostname);
}

static void smtp_on_shutdown(void *sess)
{
	struct smtp_session *s = sess;
	/* A message being received or flushed is finished first; the reply to
	 * it is followed by the 421 (smtp_session_close_if_shutdown). */
	if (s->state == SMTP_S_DATA || s->state == SMTP_S_FLUSH) {
		s->shutdown_pending = true;
		return;
	}
	smtp_reply(s, "421 4.3.2 Service shutting down");
	conn_close(s->c, "shutdown");
}

static void smtp_session_free(void *sess, const char *reason)
{
	struct smtp_session *s = sess;
	/* A delivery waiting for its flush stays committed (the next flush
	 * makes it durable), but nobody is left to tell. */
	durable_cancel(s->srv, &s->waiter);
	/* A delivery on the worker pool owns what it stores and finishes
	 * without us (smtp_cmd_data.c). */
	smtp_deliver_detach(s);
	if (s->state == SMTP_S_DATA)
		conn_log(s->c, PLOG_INFO, "transaction aborted in DATA reason=\"%s\" delivered=no", reason);
	else if (s->state == SMTP_S_FLUSH)
		conn_log(s->c, PLOG_WARN, "disconnected before the delivery reply id=%s", s->msg_id);
	s->state = SMTP_S_INIT;
	smtp_session_reset_tx(s);
	smtp_auth_forget(s);
	smtp_rcpt_list_free(&s->rcpt_list);
	smtp_rcpt_list_free(&s->remote_list);
	free(s);
}

const struct proto_ops smtp_proto_ops = {
	.name = "smtp",
	.session_new = smtp_session_new,
	.on_line = smtp_on_line,
	.on_line_too_long = smtp_on_line_too_long,
	.on_raw = smtp_on_raw,
	.on_stream = smtp_on_stream,
	.on_timeout = smtp_on_timeout,
	.on_shutdown = smtp_on_shutdown,
	.session_free = smtp_session_free,
	.busy_reply = "421 4.7.0 Too many connections, try again later\r\n",
};
