/* smtp/smtp_cmd_ehlo.c: HELO and EHLO (RFC 5321 4.1.1.1) and the list of
 * service extensions we announce. */
#include <string.h>

#include "core/auth.h"
#include "core/config.h"
#include "core/conn.h"
#include "smtp/smtp_session.h"

/* Both greetings start a fresh session state (RFC 5321 4.1.4: an EHLO in
 * the middle of a transaction acts as RSET).  False if the name is bad. */
static bool greet(struct smtp_session *s, const char *arg, size_t len, bool esmtp)
{
	if (!smtp_helo_valid(arg, len)) {
		smtp_reply(s, "501 5.5.4 Syntax: %s hostname", esmtp ? "EHLO" : "HELO");
		return false;
	}
	s->state = SMTP_S_GREETED;
	smtp_session_reset_tx(s);
	memcpy(s->helo, arg, len);
	s->helo[len] = '\0';
	s->esmtp = esmtp;
	return true;
}

void smtp_cmd_helo(struct smtp_session *s, const char *arg, size_t len)
{
	if (!greet(s, arg, len, false))
		return;
	/* RFC 2034 4: no enhanced status code on the HELO/EHLO reply. */
	smtp_reply(s, "250 %s", s->cfg->hostname);
}

void smtp_cmd_ehlo(struct smtp_session *s, const char *arg, size_t len)
{
	if (!greet(s, arg, len, true))
		return;
	smtp_reply(s, "250-%s", s->cfg->hostname);
	smtp_reply(s, "250-PIPELINING");          /* RFC 2920 */
	/* RFC 1870 4: the fixed maximum, or no number for "no limit". */
	if (s->cfg->smtp_max_message_size)
		smtp_reply(s, "250-SIZE %zu", s->cfg->smtp_max_message_size);
	else
		smtp_reply(s, "250-SIZE");
	smtp_reply(s, "250-8BITMIME");            /* RFC 1652 */
	smtp_reply(s, "250-ENHANCEDSTATUSCODES"); /* RFC 2034 */
	smtp_reply(s, "250-DSN");                 /* RFC 3461 */
	/* RFC 3030 2; not BINARYMIME: a binary body would need storing and
	 * serving without line conversion, which IMAP/POP3 do not offer. */
	smtp_reply(s, "250-CHUNKING");
	smtp_reply(s, "250-SMTPUTF8");            /* RFC 6531 3.1 */
	/* RFC 3207 4.2: not offered again once TLS is up. */
	if (conn_tls_available(s->c) && !conn_is_tls(s->c))
		smtp_reply(s, "250-STARTTLS");
	/* RFC 4954 3: the mechanisms usable now; plaintext ones appear only
	 * where they are allowed (TLS or loopback, by default). */
	smtp_reply(s, "250-AUTH %s", auth_mechanisms(s->c));
	smtp_reply(s, "250 HELP");
}
