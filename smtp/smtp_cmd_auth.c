/* smtp/smtp_cmd_auth.c: AUTH (RFC 4954): the SASL exchange over "334"
 * challenges, with the mechanisms and policy of core/auth.h (plaintext
 * ones only over TLS or where the config allows, RFC 4954 4 and 14). */
#include <stdlib.h>
#include <string.h>

#include "core/auth.h"
#include "core/conn.h"
#include "storage/storage.h"
#include "smtp/smtp_session.h"

/* The exchange is over, whatever its outcome: back to command lines. */
static void auth_end(struct smtp_session *s)
{
	auth_sasl_free(&s->sasl);
	free(s->auth_account);
	s->auth_account = NULL;
	s->state = SMTP_S_GREETED;
}

/* What a step of the exchange says to the client. */
static void auth_step_result(struct smtp_session *s, enum auth_step st, char *challenge)
{
	switch (st) {
	case AUTH_STEP_CONTINUE:
		s->state = SMTP_S_AUTH;
		smtp_reply(s, "334 %s", challenge ? challenge : "");
		free(challenge);
		return;
	case AUTH_STEP_PENDING:
		/* The password is checked on the worker pool; auth_checked
		 * answers, and no line is read meanwhile. */
		s->state = SMTP_S_AUTH;
		s->auth_checking = true;
		conn_suspend(s->c);
		return;
	case AUTH_STEP_OK:
		s->authed = true;
		conn_trust_set(s->c, CONN_TRUST_LOGIN);
		memcpy(s->auth_user, s->auth_account->address, strlen(s->auth_account->address) + 1);
		auth_end(s);
		smtp_session_limits_apply(s);
		smtp_reply(s, "235 2.7.0 Authentication successful");
		return;
	case AUTH_STEP_FAIL: {
		/* Held for a delay that grows with recent failures (core/auth.h). */
		conn_hold(s->c, auth_failure_delay(s->c, auth_sasl_username(s->sasl)));
		auth_end(s);
		smtp_reply(s, "535 5.7.8 Error: authentication failed");
		return;
	}
	case AUTH_STEP_AUTHZ:
		/* RFC 4954 4: the credentials were fine but may not act as the
		 * identity asked for. */
		auth_end(s);
		smtp_reply(s, "535 5.7.8 Error: not authorized to act as that user");
		return;
	case AUTH_STEP_MALFORMED:
		/* RFC 4954 4: a response that cannot be decoded is 501. */
		auth_end(s);
		smtp_reply(s, "501 5.5.2 Error: cannot decode the response");
		return;
	case AUTH_STEP_TEMPFAIL:
		auth_end(s);
		smtp_reply(s, "454 4.7.0 Temporary authentication failure");
		return;
	}
}

static void auth_step(struct smtp_session *s, const char *resp, size_t len, bool initial)
{
	char *challenge = NULL;
	enum auth_step st = auth_sasl_step(s->sasl, resp, len, initial, &challenge, s->auth_account);
	auth_step_result(s, st, challenge);
}

/* A PLAIN or LOGIN password checked on the worker pool. */
static void auth_checked(void *arg, enum auth_step st)
{
	struct smtp_session *s = arg;
	bool authed = s->authed;
	s->auth_checking = false;
	auth_step_result(s, st, NULL);
	smtp_session_line_done(s, authed);
	conn_resume(s->c);
}

void smtp_cmd_auth(struct smtp_session *s, const char *arg, size_t len)
{
	/* RFC 4954 4: AUTH is an EHLO extension, once per session. */
	if (!s->esmtp) {
		smtp_reply(s, "503 5.5.1 Error: send EHLO first");
		return;
	}
	if (s->authed) {
		smtp_reply(s, "503 5.5.1 Error: already authenticated");
		return;
	}
	size_t ml = 0;
	while (ml < len && arg[ml] != ' ')
		ml++;
	const char *ir = NULL;
	size_t irlen = 0;
	if (ml < len) {
		ir = arg + ml + 1;
		irlen = len - ml - 1;
		if (irlen == 0 || memchr(ir, ' ', irlen)) {
			smtp_reply(s, "501 5.5.4 Syntax: AUTH mechanism [initial-response]");
			return;
		}
	}
	switch (auth_sasl_start(s->c, arg, ml, auth_checked, s, &s->sasl)) {
	case AUTH_START_OK:
		s->auth_account = malloc(sizeof(*s->auth_account));
		if (s->auth_account)
			break;
		auth_end(s);
		smtp_reply(s, "454 4.7.0 Temporary authentication failure");
		return;
	case AUTH_START_UNKNOWN_MECH:
		smtp_reply(s, "504 5.5.4 Error: unrecognized authentication type");
		return;
	case AUTH_START_NEEDS_TLS:
		/* RFC 4954 6: 538, encryption required for the mechanism. */
		smtp_reply(s, "538 5.7.11 Encryption required for requested authentication mechanism");
		return;
	case AUTH_START_NOMEM:
		smtp_reply(s, "454 4.7.0 Temporary authentication failure");
		return;
	}
	auth_step(s, ir, irlen, true);
}

void smtp_auth_phase_line(struct smtp_session *s, const char *line, size_t len)
{
	if (len == 1 && line[0] == '*') {
		/* RFC 4954 4: the client cancels. */
		auth_end(s);
		smtp_reply(s, "501 5.0.0 Authentication canceled");
		return;
	}
	auth_step(s, line, len, false);
}

void smtp_auth_phase_too_long(struct smtp_session *s)
{
	/* RFC 4954 4: "500 5.5.6 Authentication Exchange line is too long". */
	auth_end(s);
	smtp_reply(s, "500 5.5.6 Authentication exchange line is too long");
}

void smtp_auth_forget(struct smtp_session *s)
{
	auth_sasl_free(&s->sasl);
	free(s->auth_account);
	s->auth_account = NULL;
	s->auth_checking = false;
	s->authed = false;
	s->auth_user[0] = '\0';
}
