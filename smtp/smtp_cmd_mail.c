/* smtp/smtp_cmd_mail.c: MAIL FROM (RFC 5321 4.1.1.2) with the SIZE
 * (RFC 1870) and BODY (RFC 1652) parameters: starts a mail transaction. */
#include <string.h>

#include "core/config.h"
#include "core/conn.h"
#include "smtp/smtp_session.h"

void smtp_cmd_mail(struct smtp_session *s, const char *arg, size_t len)
{
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
	memcpy(s->sender, m.path.address, m.path.address_len + 1);
	s->rcpt_refused = false;
	s->state = SMTP_S_MAIL;
	conn_log(s->c, PLOG_DEBUG, "mail from=<%s> size=%llu body=%s%s", s->sender,
		 (unsigned long long)(m.has_size ? m.size : 0),
		 m.body == SMTP_BODY_8BITMIME ? "8bitmime" : "7bit", m.path.routed ? " route=dropped" : "");
	smtp_reply(s, "250 2.1.0 Ok");
}
