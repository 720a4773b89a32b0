/* pop3/pop3_cmd_auth.c: the AUTHORIZATION state (RFC 1939 4): USER and
 * PASS (RFC 1939 7) and AUTH (RFC 5034) through core's login policy
 * (core/auth.h), STLS (RFC 2595 4), CAPA
 * (RFC 2449 5), and opening the maildrop after a login: the IN-USE lock
 * (RFC 2449 8.1.2) and the INBOX snapshot. */
#include <stdlib.h>
#include <string.h>

#include "core/auth.h"
#include "core/config.h"
#include "core/conn.h"
#include "core/server.h"
#include "pop3/pop3_session.h"

/* RFC 2595 / issue policy: USER/PASS send the password itself, so not
 * in plaintext except where auth.plaintext allows it.  True if refused. */
static bool plaintext_refused(struct pop3_session *s)
{
	if (auth_plaintext_allowed(s->c))
		return false;
	pop3_reply(s, "-ERR [AUTH] Plaintext authentication is not allowed without TLS, use STLS first");
	return true;
}

void pop3_cmd_user(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	if (plaintext_refused(s))
		return;
	/* RFC 1939 7: always +OK, so that USER does not tell which names
	 * exist; PASS decides.  A second USER replaces the first. */
	memcpy(s->user, cmd->arg[0], cmd->arg_len[0]);
	s->user[cmd->arg_len[0]] = '\0';
	s->have_user = true;
	pop3_reply(s, "+OK");
}

/* The answer to PASS, at once or from the worker pool. */
static void pop3_pass_result(struct pop3_session *s, enum auth_result r)
{
	switch (r) {
	case AUTH_OK:
		pop3_session_open_maildrop(s);
		return;
	case AUTH_PENDING:
	case AUTH_TEMPFAIL:
		/* RFC 3206 4: SYS/TEMP, the client may retry later. */
		pop3_reply(s, "-ERR [SYS/TEMP] Authentication temporarily unavailable, try again later");
		return;
	case AUTH_FAIL:
		break;
	}
	/* RFC 3206 4: [AUTH], the credentials are wrong.  Held for a delay
	 * that grows with recent failures (core/auth.h). */
	conn_hold(s->c, auth_failure_delay(s->c, s->user));
	pop3_reply(s, "-ERR [AUTH] Authentication failed");
}

static void pop3_pass_checked(void *arg, enum auth_result r)
{
	struct pop3_session *s = arg;
	s->check = NULL;
	pop3_pass_result(s, r);
	pop3_session_auth_resume(s);
}

void pop3_cmd_pass(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	if (plaintext_refused(s))
		return;
	/* RFC 1939 7: PASS only right after a successful USER. */
	if (!s->have_user) {
		pop3_reply(s, "-ERR No user name given, send USER first");
		return;
	}
	char pass[POP3_ARG_MAX + 1];
	memcpy(pass, cmd->arg[0], cmd->arg_len[0]);
	pass[cmd->arg_len[0]] = '\0';
	/* A failed PASS leaves the session in AUTHORIZATION wanting a new
	 * USER/PASS pair (RFC 1939 7). */
	s->have_user = false;
	enum auth_result r = auth_login_start(s->c, s->user, pass, &s->account, pop3_pass_checked,
					      s, &s->check);
	explicit_bzero(pass, sizeof(pass));
	if (r == AUTH_PENDING) {
		/* The hash runs on the worker pool; no command is read until
		 * it answers (RFC 2449 6.6: commands in turn). */
		s->auth_checking = true;
		conn_suspend(s->c);
		return;
	}
	pop3_pass_result(s, r);
}

/* ---- AUTH (RFC 5034) ---- */

static void sasl_end(struct pop3_session *s)
{
	auth_sasl_free(&s->sasl);
}

/* What a step of the exchange says to the client. */
static void sasl_step_result(struct pop3_session *s, enum auth_step st, char *challenge)
{
	switch (st) {
	case AUTH_STEP_CONTINUE:
		/* RFC 5034 4: "+" SP base64 (an empty challenge is "+ "). */
		pop3_reply(s, "+ %s", challenge ? challenge : "");
		free(challenge);
		return;
	case AUTH_STEP_PENDING:
		/* The password is checked on the worker pool; sasl_checked
		 * answers. */
		s->auth_checking = true;
		conn_suspend(s->c);
		return;
	case AUTH_STEP_OK:
		sasl_end(s);
		pop3_session_open_maildrop(s);
		return;
	case AUTH_STEP_FAIL:
		conn_hold(s->c, auth_failure_delay(s->c, auth_sasl_username(s->sasl)));
		sasl_end(s);
		pop3_reply(s, "-ERR [AUTH] Authentication failed");
		return;
	case AUTH_STEP_AUTHZ:
		sasl_end(s);
		pop3_reply(s, "-ERR [AUTH] Not authorized to act as that user");
		return;
	case AUTH_STEP_MALFORMED:
		sasl_end(s);
		pop3_reply(s, "-ERR Cannot decode the response");
		return;
	case AUTH_STEP_TEMPFAIL:
		sasl_end(s);
		pop3_reply(s, "-ERR [SYS/TEMP] Authentication temporarily unavailable, try again later");
		return;
	}
}

static void sasl_step(struct pop3_session *s, const char *resp, size_t len, bool initial)
{
	char *challenge = NULL;
	enum auth_step st = auth_sasl_step(s->sasl, resp, len, initial, &challenge, &s->account);
	sasl_step_result(s, st, challenge);
}

/* A PLAIN or LOGIN password checked on the worker pool. */
static void sasl_checked(void *arg, enum auth_step st)
{
	struct pop3_session *s = arg;
	sasl_step_result(s, st, NULL);
	pop3_session_auth_resume(s);
}

void pop3_cmd_auth(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	if (cmd->nargs == 0) {
		/* RFC 1734's listing form, which Outlook and others still send:
		 * the mechanisms, one per line. */
		pop3_reply(s, "+OK");
		const char *m = auth_mechanisms(s->c);
		while (*m) {
			size_t n = strcspn(m, " ");
			pop3_reply(s, "%.*s", (int)n, m);
			m += n;
			while (*m == ' ')
				m++;
		}
		pop3_reply(s, ".");
		return;
	}
	switch (auth_sasl_start(s->c, cmd->arg[0], cmd->arg_len[0], sasl_checked, s, &s->sasl)) {
	case AUTH_START_OK:
		break;
	case AUTH_START_UNKNOWN_MECH:
		pop3_reply(s, "-ERR Unrecognized authentication mechanism");
		return;
	case AUTH_START_NEEDS_TLS:
		pop3_reply(s, "-ERR [AUTH] Plaintext authentication is not allowed without TLS, use STLS first");
		return;
	case AUTH_START_NOMEM:
		pop3_reply(s, "-ERR [SYS/TEMP] Authentication temporarily unavailable, try again later");
		return;
	}
	/* RFC 5034 4: the optional initial response, "=" for an empty one. */
	if (cmd->nargs > 1)
		sasl_step(s, cmd->arg[1], cmd->arg_len[1], true);
	else
		sasl_step(s, NULL, 0, true);
}

void pop3_auth_phase_line(struct pop3_session *s, const char *line, size_t len)
{
	if (len == 1 && line[0] == '*') {
		/* RFC 5034 4: the client cancels; "-ERR". */
		sasl_end(s);
		pop3_reply(s, "-ERR Authentication canceled");
		return;
	}
	sasl_step(s, line, len, false);
}

void pop3_auth_phase_too_long(struct pop3_session *s)
{
	sasl_end(s);
	pop3_reply(s, "-ERR Authentication exchange line too long");
}

void pop3_cmd_stls(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	/* RFC 2595 4: "-ERR ... if a security layer is already active". */
	if (conn_is_tls(s->c)) {
		pop3_reply(s, "-ERR Command not permitted when TLS active");
		return;
	}
	if (!conn_tls_available(s->c)) {
		pop3_reply(s, "-ERR [SYS/TEMP] TLS not available");
		return;
	}
	pop3_reply(s, "+OK Begin TLS negotiation");
	/* core drops whatever plaintext the client pipelined after STLS
	 * (CVE-2011-0411); we forget the USER name given in clear. */
	if (conn_starttls(s->c) < 0) {
		conn_close(s->c, "stls failed");
		return;
	}
	s->have_user = false;
	s->user[0] = '\0';
}

void pop3_cmd_capa(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	/* RFC 2449 5: the same list in both states, except STLS, which RFC
	 * 2595 4 lists only where it is "permitted in the current state";
	 * after STLS the client asks again and no longer sees it.
	 * AUTH-RESP-CODE is RFC 3206 3. */
	pop3_reply(s, "+OK Capability list follows");
	pop3_reply(s, "TOP");
	pop3_reply(s, "UIDL");
	/* RFC 2595 4: USER is listed only where it may be used. */
	if (s->state != POP3_S_AUTH || auth_plaintext_allowed(s->c))
		pop3_reply(s, "USER");
	/* RFC 5034 5: the mechanisms usable now, in the AUTHORIZATION state. */
	if (s->state == POP3_S_AUTH)
		pop3_reply(s, "SASL %s", auth_mechanisms(s->c));
	pop3_reply(s, "RESP-CODES");
	pop3_reply(s, "AUTH-RESP-CODE");
	pop3_reply(s, "PIPELINING");
	if (s->state == POP3_S_AUTH && conn_tls_available(s->c) && !conn_is_tls(s->c))
		pop3_reply(s, "STLS");
	pop3_reply(s, "IMPLEMENTATION postino");
	pop3_reply(s, ".");
}

/* store_msg_list callback: append one message to the snapshot. */
static int pop3_snapshot_add(void *arg, const struct store_msg *msg)
{
	struct pop3_session *s = arg;
	size_t cap = s->msgs_cap;
	if (s->nmsgs == cap) {
		size_t ncap = cap ? cap : 64;
		if (cap) {
			if (cap > SIZE_MAX / 2 / sizeof(*s->msgs))
				return STORE_ERR_TEMP;
			ncap = cap * 2;
		}
		struct pop3_msg *n = realloc(s->msgs, ncap * sizeof(*n));
		if (!n)
			return STORE_ERR_TEMP;
		s->msgs = n;
		s->msgs_cap = ncap;
	}
	s->msgs[s->nmsgs++] = (struct pop3_msg){
		.uid = msg->uid,
		.size = msg->size,
		.content_id = msg->content_id,
	};
	if (s->total_size > UINT64_MAX - msg->size)
		return STORE_ERR_CORRUPT;
	s->total_size += msg->size;
	return STORE_OK;
}

static void pop3_snapshot_clear(struct pop3_session *s)
{
	free(s->msgs);
	s->msgs = NULL;
	s->nmsgs = s->msgs_cap = 0;
	s->total_size = 0;
}

void pop3_session_open_maildrop(struct pop3_session *s)
{
	struct store *store = s->srv->store;
	/* RFC 2449 8.1.2: the credentials were good, the maildrop is busy. */
	if (!pop3_inuse_acquire(&s->inuse, s->account.id)) {
		conn_log(s->c, PLOG_INFO, "login refused user=%s reason=in-use", s->account.address);
		pop3_reply(s, "-ERR [IN-USE] Mailbox is locked by another session");
		return;
	}
	s->store_gen = store_generation(store);
	int rc = store_mailbox_get(store, s->account.id, "INBOX", &s->mbox);
	s->have_mbox = rc == STORE_OK;
	if (rc == STORE_OK)
		rc = store_msg_list(store, s->mbox.id, pop3_snapshot_add, s);
	else if (rc == STORE_ERR_NOTFOUND)
		rc = STORE_OK;  /* no INBOX yet: an empty maildrop */
	if (rc != STORE_OK) {
		conn_log(s->c, PLOG_ERROR, "maildrop open failed user=%s error=\"%s\"",
			 s->account.address, store_strerror(rc));
		pop3_snapshot_clear(s);
		pop3_inuse_release(&s->inuse);
		pop3_reply(s, "-ERR [SYS/TEMP] Unable to open the maildrop, try again later");
		return;
	}
	s->state = POP3_S_TRANS;
	conn_trust_set(s->c, CONN_TRUST_LOGIN);
	conn_log(s->c, PLOG_INFO, "login user=%s messages=%zu size=%llu", s->account.address,
		 s->nmsgs, (unsigned long long)s->total_size);
	/* RFC 1939 7 (PASS): "+OK maildrop locked and ready". */
	pop3_reply(s, "+OK Logged in, %zu messages (%llu octets)", s->nmsgs,
		   (unsigned long long)s->total_size);
}
