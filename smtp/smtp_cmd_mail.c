/* smtp/smtp_cmd_mail.c: MAIL FROM (RFC 5321 4.1.1.2) with the SIZE
 * (RFC 1870), BODY (RFC 1652), AUTH (RFC 4954 5), RET/ENVID (RFC 3461)
 * and SMTPUTF8 (RFC 6531) parameters: starts a
 * mail transaction, after the submission policy (RFC 6409) allows it. */
#include <string.h>

#include "core/config.h"
#include "core/conn.h"
#include "core/proto.h"
#include "core/server.h"
#include "storage/storage.h"
#include "smtp/smtp_session.h"

void smtp_cmd_mail(struct smtp_session *s, const char *arg, size_t len)
{
	/* RFC 6409 4.3 and RFC 4954 6: the submission ports take mail only
	 * from authenticated users. */
	if ((conn_listener_flags(s->c) & LISTEN_SUBMISSION) && !s->authed) {
		smtp_reply(s, "530 5.7.0 Authentication required");
		return;
	}
	struct smtp_mail_args m;
	enum smtp_perr rc = smtp_parse_mail(arg, len, &m);
	if (rc != SMTP_P_OK) {
		smtp_reply_perr(s, rc, true);
		return;
	}
	/* RFC 1870 6.1: refuse at once a message declared bigger than we
	 * take, before the client sends it. */
	size_t max = s->cfg->smtp_max_message_size;
	if (m.has_size && max && m.size > max) {
		smtp_reply(s, "552 5.3.4 Message size exceeds fixed maximum message size");
		return;
	}
	/* RFC 1870 6.1 and RFC 5321 4.5.3.1.10: when the disk cannot take the
	 * message (the declared size, or anything at all below the reserve),
	 * a temporary 452 before the client sends it. */
	if (store_space_check(s->srv->store, m.has_size ? m.size : 0) == STORE_ERR_NOSPACE) {
		conn_log(s->c, PLOG_WARN, "mail refused reason=disk-full size=%llu",
			 (unsigned long long)(m.has_size ? m.size : 0));
		smtp_reply(s, "452 4.3.1 Insufficient system storage");
		return;
	}
	/* RFC 6409 6.1: an authenticated user sends as themselves, or as an
	 * address the configuration gives them; the null reverse-path stays
	 * allowed (RFC 5321 4.5.5: notifications, MDNs).  Postfix calls this
	 * reject_sender_login_mismatch. */
	if (s->authed && !m.path.null && !config_sender_allowed(s->cfg, s->auth_user, m.path.address)) {
		conn_log(s->c, PLOG_WARN, "mail refused from=<%s> user=%s reason=sender-not-owned",
			 m.path.address, s->auth_user);
		smtp_reply(s, "553 5.7.1 <%s>: Sender address rejected: not owned by user %s",
			   m.path.address, s->auth_user);
		return;
	}
	memcpy(s->sender, m.path.address, m.path.address_len + 1);
	s->body_8bit = m.body == SMTP_BODY_8BITMIME;
	s->smtputf8 = m.smtputf8;
	s->ret = (uint8_t)m.ret;
	memcpy(s->envid, m.envid, sizeof(s->envid));
	s->rcpt_refused = false;
	s->state = SMTP_S_MAIL;
	/* Port 25's deadline ends here: anonymous mail is what it is for. */
	conn_trust_set(s->c, CONN_TRUST_MAIL);
	conn_log(s->c, PLOG_DEBUG, "mail from=<%s> size=%llu body=%s%s", s->sender,
		 (unsigned long long)(m.has_size ? m.size : 0),
		 m.body == SMTP_BODY_8BITMIME ? "8bitmime" : "7bit", m.path.routed ? " route=dropped" : "");
	smtp_reply(s, "250 2.1.0 Ok");
}
