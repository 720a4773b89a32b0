/* imap/imap_cmd_auth.c: the not-authenticated state (RFC 9051 6.2):
 * STARTTLS, LOGIN, and AUTHENTICATE PLAIN (RFC 4616) with an initial
 * response (SASL-IR, RFC 4959) or a "+" continuation.  The login itself
 * is core's policy (core/auth.h), shared with POP3 and SMTP. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/auth.h"
#include "core/config.h"
#include "core/conn.h"
#include "core/log.h"
#include "core/mime.h"
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

/* Both login commands end here with the user checked by core. */
static void imap_login_done(struct imap_cmd *cmd, const char *user, const char *pass)
{
	struct imap_session *s = cmd->s;
	enum auth_result r = auth_login(s->c, user, pass, &s->user);
	switch (r) {
	case AUTH_OK: {
		s->state = IMAP_S_AUTH;
		s->auth_failures = 0;
		/* RFC 9051 6.2.3: the capabilities change with the state; say
		 * so in the OK (RFC 9051 7.1 CAPABILITY response code). */
		struct buf b;
		buf_init(&b, 0);
		imap_capability_write(s, &b);
		imap_cmd_ok(cmd, "[CAPABILITY %s] Logged in", b.data ? b.data : "");
		buf_free(&b);
		return;
	}
	case AUTH_TEMPFAIL:
		imap_cmd_no(cmd, "[UNAVAILABLE] Authentication temporarily unavailable");
		return;
	case AUTH_FAIL:
		break;
	}
	s->auth_failures++;
	/* RFC 5530 3: AUTHENTICATIONFAILED says nothing of which part was
	 * wrong. */
	imap_cmd_no(cmd, "[AUTHENTICATIONFAILED] Authentication failed");
}

enum imap_cmd_rc imap_cmd_login(struct imap_cmd *cmd)
{
	struct imap_string user, pass;
	const char *error = NULL;
	if (imap_login_parse(cmd->pc->args, cmd->pc->nargs, &user, &pass, &error) < 0) {
		imap_cmd_bad(cmd, "%s", error);
		return IMAP_CMD_DONE;
	}
	if (memchr(user.s, '\0', user.len) || memchr(pass.s, '\0', pass.len)) {
		imap_cmd_bad(cmd, "NUL in user name or password");
		return IMAP_CMD_DONE;
	}
	imap_login_done(cmd, user.s, pass.s);
	return IMAP_CMD_DONE;
}

/* RFC 4616 2: [authzid] NUL authcid NUL passwd, from base64. */
static void imap_auth_plain(struct imap_cmd *cmd, const char *b64, size_t len)
{
	if (!imap_base64_valid(b64, len)) {
		imap_cmd_bad(cmd, "Invalid base64");
		return;
	}
	struct buf raw;
	buf_init(&raw, 4096);
	if (mime_cte_decode("base64", 6, b64, len, &raw) < 0) {
		buf_free(&raw);
		imap_cmd_bad(cmd, "Invalid base64");
		return;
	}
	const char *p = raw.data ? raw.data : "";
	const char *end = p + raw.len;
	const char *n1 = memchr(p, '\0', raw.len);
	const char *n2 = n1 ? memchr(n1 + 1, '\0', (size_t)(end - n1 - 1)) : NULL;
	if (!n1 || !n2 || n2 + 1 > end || memchr(n2 + 1, '\0', (size_t)(end - n2 - 1)) ||
	    n2 == n1 + 1) {
		explicit_bzero(raw.data, raw.len);
		buf_free(&raw);
		imap_cmd_bad(cmd, "Invalid PLAIN response");
		return;
	}
	const char *authz = p, *authc = n1 + 1, *pass = n2 + 1;
	/* Acting as another user is not offered: authzid empty or the same. */
	if (n1 != p && strcmp(authz, authc) != 0) {
		explicit_bzero(raw.data, raw.len);
		buf_free(&raw);
		cmd->s->auth_failures++;
		imap_cmd_no(cmd, "[AUTHORIZATIONFAILED] Not authorized to act as that user");
		return;
	}
	imap_login_done(cmd, authc, pass);
	explicit_bzero(raw.data, raw.len);
	buf_free(&raw);
}

enum imap_cmd_rc imap_cmd_authenticate(struct imap_cmd *cmd)
{
	struct imap_authenticate a;
	const char *error = NULL;
	if (cmd->stage == 1) {
		/* RFC 9051 6.2.2: "*" cancels, with a BAD. */
		if (cmd->line_len == 1 && cmd->line[0] == '*') {
			imap_cmd_bad(cmd, "Authentication cancelled");
			return IMAP_CMD_DONE;
		}
		imap_auth_plain(cmd, cmd->line, cmd->line_len);
		return IMAP_CMD_DONE;
	}
	if (imap_authenticate_parse(cmd->pc->args, cmd->pc->nargs, &a, &error) < 0) {
		imap_cmd_bad(cmd, "%s", error);
		return IMAP_CMD_DONE;
	}
	if (strcasecmp(a.mech.s, "PLAIN") != 0) {
		imap_cmd_no(cmd, "[CANNOT] Unsupported authentication mechanism");
		return IMAP_CMD_DONE;
	}
	if (a.has_ir) {
		/* RFC 4959 3: "=" is an empty initial response. */
		imap_auth_plain(cmd, a.ir.s, a.ir.len);
		return IMAP_CMD_DONE;
	}
	/* RFC 4616 / RFC 9051 7.5: PLAIN starts with an empty challenge. */
	imap_write(cmd->s, "+ \r\n", 4);
	cmd->stage = 1;
	return imap_cmd_want_line(cmd);
}
