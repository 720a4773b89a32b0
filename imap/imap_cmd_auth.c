/* imap/imap_cmd_auth.c: the not-authenticated state (RFC 9051 6.2):
 * STARTTLS, LOGIN, and AUTHENTICATE with every mechanism core offers
 * (PLAIN, LOGIN, SCRAM-SHA-256), an initial response (SASL-IR, RFC 4959)
 * or "+" continuations; and the way back to it, UNAUTHENTICATE (RFC 8437).  The mechanisms and the login policy are core's
 * (core/auth.h), shared with POP3 and SMTP. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/auth.h"
#include "core/config.h"
#include "core/conn.h"
#include "core/log.h"
#include "core/sasl.h"
#include "imap/imap_session.h"

enum imap_cmd_rc imap_cmd_starttls(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	if (cmd->pc->nargs) {
		imap_cmd_bad(cmd, "STARTTLS takes no arguments");
		return IMAP_CMD_DONE;
	}
	if (conn_is_tls(s->c)) {
		imap_cmd_bad(cmd, "TLS is already active");
		return IMAP_CMD_DONE;
	}
	if (!conn_tls_available(s->c)) {
		imap_cmd_no(cmd, "[UNAVAILABLE] TLS is not available");
		return IMAP_CMD_DONE;
	}
	imap_cmd_ok(cmd, "Begin TLS negotiation now");
	/* RFC 9051 6.2.1: the client must ask for the capabilities again;
	 * core drops what was pipelined in plaintext (CVE-2011-0411), and the
	 * parser forgets any partial command. */
	imap_parser_reset(s->parser);
	if (conn_starttls(s->c) < 0) {
		imap_session_close(s, NULL, "starttls failed");
	}
	return IMAP_CMD_DONE;
}

/* A login succeeded: AUTHENTICATED, and the capabilities that come with
 * it in the OK (RFC 9051 6.2.3, 7.1 CAPABILITY response code). */
static void imap_login_ok(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	s->state = IMAP_S_AUTH;
	s->auth_failures = 0;
	conn_trust_set(s->c, CONN_TRUST_LOGIN);
	imap_session_limits_apply(s);
	struct buf b;
	buf_init(&b, 0);
	imap_capability_write(s, &b);
	imap_cmd_ok(cmd, "[CAPABILITY %s] Logged in", b.data ? b.data : "");
	buf_free(&b);
}

/* Wrong credentials: RFC 5530 3 AUTHENTICATIONFAILED says nothing of
 * which part was wrong; the reply is held for a delay that grows with
 * recent failures (core/auth.h). */
static void imap_login_failed(struct imap_cmd *cmd, const char *user)
{
	struct imap_session *s = cmd->s;
	s->auth_failures++;
	conn_hold(s->c, auth_failure_delay(s->c, user));
	imap_cmd_no(cmd, "[AUTHENTICATIONFAILED] Authentication failed");
}

/* RFC 9051 6.2.3 and 7.2.2: LOGIN and the plaintext mechanisms are
 * disabled (LOGINDISABLED) where auth.plaintext does not allow them. */
static const char privacy_required[] =
	"[PRIVACYREQUIRED] Plaintext authentication is not allowed without TLS, use STARTTLS";

/* LOGIN's answer, at once or from the worker pool. */
static void imap_login_result(struct imap_cmd *cmd, enum auth_result r, const char *user)
{
	switch (r) {
	case AUTH_OK:
		imap_login_ok(cmd);
		break;
	case AUTH_PENDING:
	case AUTH_TEMPFAIL:
		imap_cmd_no(cmd, "[UNAVAILABLE] Authentication temporarily unavailable");
		break;
	case AUTH_FAIL:
		imap_login_failed(cmd, user);
		break;
	}
}

/* The worker pool checked the password (core/auth.h). */
static void imap_login_checked(void *arg, enum auth_result r)
{
	struct imap_cmd *cmd = arg;
	cmd->check = NULL;
	cmd->auth_result = (int)r;
	imap_cmd_resume(cmd);
}

/* Stage 2: resumed with the worker pool's answer. */
enum imap_cmd_rc imap_cmd_login(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct imap_string user, pass;
	const char *error = NULL;
	if (imap_login_parse(cmd->pc->args, cmd->pc->nargs, &user, &pass, &error) < 0) {
		imap_cmd_bad(cmd, "%s", error);
		return IMAP_CMD_DONE;
	}
	if (cmd->stage == 2) {
		imap_login_result(cmd, (enum auth_result)cmd->auth_result, user.s);
		return IMAP_CMD_DONE;
	}
	if (memchr(user.s, '\0', user.len) || memchr(pass.s, '\0', pass.len)) {
		imap_cmd_bad(cmd, "NUL in user name or password");
		return IMAP_CMD_DONE;
	}
	if (!auth_plaintext_allowed(s->c)) {
		imap_cmd_no(cmd, "%s", privacy_required);
		return IMAP_CMD_DONE;
	}
	enum auth_result r = auth_login_start(s->c, user.s, pass.s, &s->user, imap_login_checked,
					      cmd, &cmd->check);
	if (r == AUTH_PENDING) {
		cmd->stage = 2;
		cmd->auth_waiting = true;
		return IMAP_CMD_WAIT;
	}
	imap_login_result(cmd, r, user.s);
	return IMAP_CMD_DONE;
}

/* The tagged result of an exchange that ended. */
static void imap_auth_result(struct imap_cmd *cmd, enum auth_step st)
{
	struct imap_session *s = cmd->s;
	char who[SASL_NAME_MAX + 1];
	snprintf(who, sizeof(who), "%s", auth_sasl_username(s->sasl));
	auth_sasl_free(&s->sasl);
	switch (st) {
	case AUTH_STEP_OK:
		imap_login_ok(cmd);
		break;
	case AUTH_STEP_FAIL:
		imap_login_failed(cmd, who);
		break;
	case AUTH_STEP_AUTHZ:
		s->auth_failures++;
		imap_cmd_no(cmd, "[AUTHORIZATIONFAILED] Not authorized to act as that user");
		break;
	case AUTH_STEP_MALFORMED:
		/* RFC 9051 6.2.2: BAD, the exchange is cancelled. */
		imap_cmd_bad(cmd, "Invalid SASL response");
		break;
	case AUTH_STEP_TEMPFAIL:
	case AUTH_STEP_PENDING:
		imap_cmd_no(cmd, "[UNAVAILABLE] Authentication temporarily unavailable");
		break;
	case AUTH_STEP_CONTINUE:
		break;
	}
}

/* One step of the SASL exchange: a challenge ("+ " base64, RFC 9051
 * 6.2.2), a wait for the worker pool, or the tagged result. */
static enum imap_cmd_rc imap_auth_step(struct imap_cmd *cmd, const char *resp, size_t len,
				       bool initial)
{
	struct imap_session *s = cmd->s;
	char *challenge = NULL;
	enum auth_step st = auth_sasl_step(s->sasl, resp, len, initial, &challenge, &s->user);
	if (st == AUTH_STEP_CONTINUE) {
		imap_printf(s, "+ %s\r\n", challenge ? challenge : "");
		free(challenge);
		cmd->stage = 1;
		return imap_cmd_want_line(cmd);
	}
	if (st == AUTH_STEP_PENDING) {
		cmd->stage = 2;
		cmd->auth_waiting = true;
		return IMAP_CMD_WAIT;
	}
	imap_auth_result(cmd, st);
	return IMAP_CMD_DONE;
}

/* A PLAIN or LOGIN password checked on the worker pool. */
static void imap_auth_checked(void *arg, enum auth_step st)
{
	struct imap_cmd *cmd = arg;
	cmd->auth_result = (int)st;
	imap_cmd_resume(cmd);
}

enum imap_cmd_rc imap_cmd_authenticate(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct imap_authenticate a;
	const char *error = NULL;
	if (cmd->stage == 2) {
		imap_auth_result(cmd, (enum auth_step)cmd->auth_result);
		return IMAP_CMD_DONE;
	}
	if (cmd->stage == 1) {
		/* RFC 9051 6.2.2: "*" cancels, with a BAD. */
		if (cmd->line_len == 1 && cmd->line[0] == '*') {
			auth_sasl_free(&s->sasl);
			imap_cmd_bad(cmd, "Authentication cancelled");
			return IMAP_CMD_DONE;
		}
		return imap_auth_step(cmd, cmd->line, cmd->line_len, false);
	}
	if (imap_authenticate_parse(cmd->pc->args, cmd->pc->nargs, &a, &error) < 0) {
		imap_cmd_bad(cmd, "%s", error);
		return IMAP_CMD_DONE;
	}
	auth_sasl_free(&s->sasl);
	switch (auth_sasl_start(s->c, a.mech.s, a.mech.len, imap_auth_checked, cmd, &s->sasl)) {
	case AUTH_START_OK:
		break;
	case AUTH_START_UNKNOWN_MECH:
		imap_cmd_no(cmd, "[CANNOT] Unsupported authentication mechanism");
		return IMAP_CMD_DONE;
	case AUTH_START_NEEDS_TLS:
		imap_cmd_no(cmd, "%s", privacy_required);
		return IMAP_CMD_DONE;
	case AUTH_START_NOMEM:
		imap_cmd_no(cmd, "[UNAVAILABLE] Authentication temporarily unavailable");
		return IMAP_CMD_DONE;
	}
	/* RFC 4959 3: the initial response, "=" for an empty one. */
	if (a.has_ir)
		return imap_auth_step(cmd, a.ir.s, a.ir.len, true);
	return imap_auth_step(cmd, NULL, 0, true);
}

/* RFC 8437 3: back to the not-authenticated state with all connection
 * state but TLS reset; no NO is allowed (a pipelined AUTHENTICATE
 * follows), and none of our mechanisms has a security layer to end. */
enum imap_cmd_rc imap_cmd_unauthenticate(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	if (cmd->pc->nargs) {
		imap_cmd_bad(cmd, "UNAUTHENTICATE takes no arguments");
		return IMAP_CMD_DONE;
	}
	conn_log(s->c, PLOG_INFO, "unauthenticate user=%s", s->user.address);
	imap_session_unauthenticate(s);
	/* The capabilities change with the state (RFC 8437 3: AUTH= and
	 * STARTTLS, LOGINDISABLED again): say them, as after a login. */
	struct buf b;
	buf_init(&b, 0);
	imap_capability_write(s, &b);
	imap_cmd_ok(cmd, "[CAPABILITY %s] Not authenticated", b.data ? b.data : "");
	buf_free(&b);
	return IMAP_CMD_DONE;
}
