/* smtp/smtp_cmd_starttls.c: STARTTLS (RFC 3207).  core's conn_starttls
 * drops any plaintext pipelined after the command (CVE-2011-0411); this
 * file resets the session to its just-connected state. */
#include "core/conn.h"
#include "smtp/smtp_session.h"

void smtp_cmd_starttls(struct smtp_session *s, const char *arg, size_t len)
{
	if (conn_is_tls(s->c)) {
		smtp_reply(s, "503 5.5.1 Error: TLS already active");
		return;
	}
	if (!conn_tls_available(s->c)) {
		/* RFC 3207 4 */
		smtp_reply(s, "454 4.7.0 TLS not available due to temporary reason");
		return;
	}
	smtp_reply(s, "220 2.0.0 Ready to start TLS");
	if (conn_starttls(s->c) < 0) {
		conn_close(s->c, "starttls failed");
		return;
	}
	/* RFC 3207 4.2: discard what the client told us, the EHLO name
	 * included; the client must greet again. */
	s->state = SMTP_S_INIT;
	smtp_session_reset_tx(s);
	s->helo[0] = '\0';
	s->esmtp = false;
	/* RFC 3207 4.2: that knowledge includes an authentication made in
	 * plaintext; the client authenticates again inside TLS. */
	smtp_auth_forget(s);
}
