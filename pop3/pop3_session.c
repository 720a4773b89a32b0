/* pop3/pop3_session.c: the POP3 session's life: the greeting, the command
 * table and its one dispatcher (state and syntax are checked here, once,
 * not in handlers), multi-line responses streamed as output drains,
 * timeouts, shutdown, and the one exit, session_free, which every way a
 * connection ends goes through (core calls it exactly once). */
#include "pop3/pop3_session.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/auth.h"
#include "core/config.h"
#include "core/conn.h"
#include "core/proto.h"
#include "core/server.h"

const struct pop3_command pop3_commands[POP3_VERB_COUNT] = {
	/* RFC 1939 4 and 7: USER/PASS only before login; RFC 2595 4: STLS
	 * "only permitted in AUTHORIZATION state"; RFC 2449 5: CAPA in both. */
	[POP3_VERB_USER] = {POP3_S_AUTH, pop3_cmd_user},
	[POP3_VERB_PASS] = {POP3_S_AUTH, pop3_cmd_pass},
	[POP3_VERB_STLS] = {POP3_S_AUTH, pop3_cmd_stls},
	[POP3_VERB_CAPA] = {POP3_S_AUTH | POP3_S_TRANS, pop3_cmd_capa},
	/* RFC 1939 5 and 7: the maildrop commands, after login only. */
	[POP3_VERB_STAT] = {POP3_S_TRANS, pop3_cmd_stat},
	[POP3_VERB_LIST] = {POP3_S_TRANS, pop3_cmd_list},
	[POP3_VERB_UIDL] = {POP3_S_TRANS, pop3_cmd_uidl},
	[POP3_VERB_RETR] = {POP3_S_TRANS, pop3_cmd_retr},
	[POP3_VERB_TOP] = {POP3_S_TRANS, pop3_cmd_top},
	[POP3_VERB_DELE] = {POP3_S_TRANS, pop3_cmd_dele},
	[POP3_VERB_RSET] = {POP3_S_TRANS, pop3_cmd_rset},
	[POP3_VERB_NOOP] = {POP3_S_TRANS, pop3_cmd_noop},
	/* RFC 1939 4 (AUTHORIZATION) and 6 (TRANSACTION -> UPDATE). */
	[POP3_VERB_QUIT] = {POP3_S_AUTH | POP3_S_TRANS, pop3_cmd_quit},
	/* RFC 5034 4: AUTHORIZATION state only. */
	[POP3_VERB_AUTH] = {POP3_S_AUTH, pop3_cmd_auth},
};

void pop3_reply(struct pop3_session *s, const char *fmt, ...)
{
	/* RFC 1939 3: a response line is at most 512 octets with its CRLF. */
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	size_t len = (size_t)n < sizeof(line) - 2 ? (size_t)n : sizeof(line) - 3;
	/* Protocol errors, for limits.max_errors: every -ERR but those that
	 * tell of the server's state, not the client's mistake (RFC 3206
	 * SYS/TEMP and SYS/PERM, RFC 2449 8.1.2 IN-USE). */
	if (len >= 4 && memcmp(line, "-ERR", 4) == 0 && strncmp(line, "-ERR [SYS/", 10) != 0 &&
	    strncmp(line, "-ERR [IN-USE]", 13) != 0)
		s->errors++;
	line[len++] = '\r';
	line[len++] = '\n';
	conn_write(s->c, line, len);
}

struct pop3_msg *pop3_session_msg(struct pop3_session *s, uint32_t n)
{
	/* RFC 1939 5: numbers count from 1 in the snapshot; a message marked
	 * deleted may not be referred to again. */
	if (n == 0 || n > s->nmsgs) {
		pop3_reply(s, "-ERR No such message");
		return NULL;
	}
	struct pop3_msg *m = &s->msgs[n - 1];
	if (m->deleted) {
		pop3_reply(s, "-ERR Message %u already deleted", (unsigned)n);
		return NULL;
	}
	return m;
}

/* Run the multi-line producer while the output queue has room.  on_drain
 * calls this again; the flag stops re-entry should a producer ever reach
 * the event loop's callbacks. */
static void pop3_session_pump(struct pop3_session *s)
{
	if (s->pumping || !s->pump)
		return;
	s->pumping = true;
	bool done = false;
	/* (a pump that hands a read to a worker pauses until it is back) */
	while (!done && !s->read_wait && conn_output_pending(s->c) < POP3_OUTPUT_HIGH)
		done = s->pump(s);
	s->pumping = false;
	if (done) {
		s->pump = NULL;
		if (s->suspended) {
			s->suspended = false;
			conn_resume(s->c);
		}
	} else if (!s->suspended) {
		s->suspended = true;
		conn_suspend(s->c);
	}
}

void pop3_session_stream(struct pop3_session *s, pop3_pump_fn fn)
{
	s->pump = fn;
	pop3_session_pump(s);
}

static void *pop3_session_new(struct conn *c)
{
	struct pop3_session *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->c = c;
	s->srv = conn_server(c);
	s->cfg = s->srv->cfg;
	s->state = POP3_S_AUTH;
	conn_set_max_line(c, s->cfg->max_line);
	/* RFC 1939 3: the autologout timer; core's login deadline
	 * (limits.login_timeout) bounds the time before login. */
	conn_set_timeout(c, s->cfg->pop3_timeout);
	/* RFC 1939 4: any positive greeting.  No timestamp: we do not offer
	 * APOP (RFC 2449 6: it is announced only that way). */
	pop3_reply(s, "+OK postino ready.");
	return s;
}

/* Too many errors, or too many commands without logging in: a client
 * that keeps failing or stalling holds a connection others could use, or
 * is guessing.  Closed without UPDATE, so nothing is expunged (RFC 1939 6). */
static void pop3_check_limits(struct pop3_session *s)
{
	if (s->limit_closed || (s->state & (POP3_S_UPDATE | POP3_S_DONE)) || s->pump ||
	    s->read_wait)
		return;
	bool errors = s->errors >= s->cfg->max_errors;
	if (!errors && (s->state != POP3_S_AUTH || s->junk <= s->cfg->max_junk_commands))
		return;
	s->limit_closed = true;
	conn_log(s->c, PLOG_WARN, "closing: too many %s errors=%u junk=%u",
		 errors ? "errors" : "commands without login", s->errors, s->junk);
	pop3_reply(s, errors ? "-ERR too many errors" : "-ERR too many commands without login");
	conn_close(s->c, errors ? "too many errors" : "too many junk commands");
}

/* One command line through the table. */
static void pop3_dispatch(struct pop3_session *s, const char *line, size_t len)
{
	struct pop3_cmd cmd;
	enum pop3_perr rc = pop3_parse_command(line, len, &cmd);
	const struct pop3_command *def = &pop3_commands[cmd.verb];
	/* RFC 1939 3: "-ERR" for an unrecognized, unimplemented or invalid
	 * command, and for one issued in the wrong state. */
	if (rc == POP3_P_EMPTY || rc == POP3_P_UNKNOWN || !def->fn) {
		pop3_reply(s, "-ERR Unknown command");
		return;
	}
	if (!(def->states & s->state)) {
		pop3_reply(s, "-ERR Command not valid in this state");
		return;
	}
	if (rc != POP3_P_OK) {
		conn_log(s->c, PLOG_DEBUG, "syntax error verb=%s error=\"%s\"",
			 pop3_verb_syntax[cmd.verb].name, pop3_perr_str(rc));
		pop3_reply(s, "-ERR Syntax error");
		return;
	}
	def->fn(s, &cmd);
}

static void pop3_on_line(void *sess, const char *line, size_t len, bool crlf)
{
	struct pop3_session *s = sess;
	/* Input is suspended in UPDATE and while a response streams; a line
	 * can only get here if core resumed us early.  Ignore it rather than
	 * interleave replies. */
	if ((s->state & (POP3_S_UPDATE | POP3_S_DONE)) || s->pump || s->limit_closed ||
	    s->auth_checking || s->read_wait)
		return;
	enum pop3_state before = s->state;
	if (s->sasl) {
		pop3_auth_phase_line(s, line, len);
	} else {
		/* Before login every command is junk: only logging in is
		 * progress (CAPA, STLS and a USER/PASS pair take a few). */
		if (s->state == POP3_S_AUTH)
			s->junk++;
		pop3_dispatch(s, line, len);
	}
	/* A login forgives the fumbling before it (failed attempts included). */
	if (before == POP3_S_AUTH && s->state != POP3_S_AUTH)
		s->errors = 0;
	pop3_check_limits(s);
}

void pop3_session_auth_resume(struct pop3_session *s)
{
	s->auth_checking = false;
	if (s->state != POP3_S_AUTH)
		s->errors = 0;
	pop3_check_limits(s);
	conn_resume(s->c);
}

static void pop3_on_line_too_long(void *sess, const char *head, size_t head_len)
{
	struct pop3_session *s = sess;
	(void)head;
	(void)head_len;
	if ((s->state & (POP3_S_UPDATE | POP3_S_DONE)) || s->pump || s->limit_closed ||
	    s->auth_checking || s->read_wait)
		return;
	if (s->sasl) {
		pop3_auth_phase_too_long(s);
	} else {
		if (s->state == POP3_S_AUTH)
			s->junk++;
		pop3_reply(s, "-ERR Line too long");
	}
	pop3_check_limits(s);
}

static void pop3_on_drain(void *sess)
{
	struct pop3_session *s = sess;
	if (!s->pump)
		return;
	/* The client is reading: that is activity too, or a long RETR to a
	 * slow reader would hit the idle timer half-way. */
	conn_set_timeout(s->c, s->cfg->pop3_timeout);
	pop3_session_pump(s);
}

static void pop3_on_timeout(void *sess, enum conn_expiry why)
{
	struct pop3_session *s = sess;
	static const char *const farewell[] = {
		[CONN_EXPIRY_IDLE] = "-ERR [SYS/TEMP] Autologout: idle for too long",
		[CONN_EXPIRY_DEADLINE] = "-ERR [SYS/TEMP] Autologout: no login in time",
		[CONN_EXPIRY_EVICTED] = "-ERR [SYS/TEMP] Too many connections, closing this idle one",
	};
	/* RFC 1939 3: an autologout does not enter UPDATE, so nothing is
	 * expunged (session_free drops the marks).  A farewell line is only
	 * written between responses, never inside a multi-line one. */
	if (!s->pump && !(s->state & (POP3_S_UPDATE | POP3_S_DONE)))
		pop3_reply(s, "%s", farewell[why]);
}

static void pop3_on_shutdown(void *sess)
{
	struct pop3_session *s = sess;
	if (s->state & (POP3_S_UPDATE | POP3_S_DONE)) {
		/* The expunge is committed (or on a worker, whose end
		 * answers); the flush callback answers QUIT and closes (or
		 * already did). */
		s->shutdown_pending = true;
		return;
	}
	/* Not in UPDATE: nothing is expunged (RFC 1939 6). */
	if (!s->pump)
		pop3_reply(s, "-ERR [SYS/TEMP] Server shutting down");
	conn_close(s->c, "shutdown");
}

static void pop3_session_free(void *sess, const char *reason)
{
	struct pop3_session *s = sess;
	durable_cancel(s->srv, &s->waiter);
	if (s->store_job)
		conn_log(s->c, PLOG_WARN, "disconnected before the QUIT reply; the expunge of "
			 "marked=%zu is left to a worker", s->ndeleted);
	else if (s->state == POP3_S_TRANS && s->ndeleted)
		/* RFC 1939 6: no QUIT, no UPDATE state, nothing removed. */
		conn_log(s->c, PLOG_INFO, "session ended without QUIT reason=\"%s\" "
			 "marked=%zu expunged=0", reason, s->ndeleted);
	else if (s->state == POP3_S_UPDATE)
		conn_log(s->c, PLOG_WARN, "disconnected before the QUIT reply expunged=%zu",
			 s->removed);
	pop3_read_wait_detach(s);
	pop3_retr_clear(s);
	/* Like Dovecot, the read state of a session that ends without QUIT
	 * is kept (only DELE needs the UPDATE state).  Before the detach:
	 * the last batch may go to a worker too. */
	pop3_seen_free(s);
	/* (a worker's expunge keeps the maildrop locked until it is done) */
	pop3_store_job_detach(s);
	auth_check_cancel(&s->check);
	auth_sasl_free(&s->sasl);
	pop3_inuse_release(&s->inuse);
	free(s->msgs);
	free(s);
}

const struct proto_ops pop3_proto_ops = {
	.name = "pop3",
	.session_new = pop3_session_new,
	.on_line = pop3_on_line,
	.on_line_too_long = pop3_on_line_too_long,
	.on_drain = pop3_on_drain,
	.on_timeout = pop3_on_timeout,
	.on_shutdown = pop3_on_shutdown,
	.session_free = pop3_session_free,
	.busy_reply = "-ERR [SYS/TEMP] Too many connections, try again later\r\n",
};
