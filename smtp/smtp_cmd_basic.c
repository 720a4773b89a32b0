/* smtp/smtp_cmd_basic.c: the commands without a transaction of their own:
 * RSET, NOOP, QUIT, VRFY and HELP (RFC 5321 4.1.1.5-4.1.1.10). */
#include <string.h>

#include "core/conn.h"
#include "smtp/smtp_session.h"

void smtp_cmd_rset(struct smtp_session *s, const char *arg, size_t len)
{
	/* RFC 5321 4.1.1.5: abort the transaction, keep the EHLO. */
	smtp_session_reset_tx(s);
	smtp_reply(s, "250 2.0.0 Ok");
}

void smtp_cmd_noop(struct smtp_session *s, const char *arg, size_t len)
{
	/* RFC 5321 4.1.1.9: any argument is ignored. */
	smtp_reply(s, "250 2.0.0 Ok");
}

void smtp_cmd_quit(struct smtp_session *s, const char *arg, size_t len)
{
	/* RFC 5321 4.1.1.10: 221, then close; an open transaction is dropped
	 * by session_free. */
	smtp_reply(s, "221 2.0.0 Bye");
	conn_close(s->c, "quit");
}

void smtp_cmd_vrfy(struct smtp_session *s, const char *arg, size_t len)
{
	/* RFC 5321 3.5.3 and 7.3: we do not confirm addresses (that would
	 * hand out the user list); 252 says "try delivering". */
	smtp_reply(s, "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery");
}

void smtp_cmd_help(struct smtp_session *s, const char *arg, size_t len)
{
	/* RFC 5321 4.1.1.8: 214, built from the command table so it never
	 * lists a verb we would refuse. */
	char list[256] = "";
	size_t n = 0;
	for (int v = SMTP_VERB_UNKNOWN + 1; v < SMTP_VERB_COUNT; v++) {
		if (!smtp_commands[v].fn)
			continue;
		const char *name = smtp_verb_name((enum smtp_verb)v);
		size_t nl = strlen(name);
		if (n + nl + 2 > sizeof(list))
			break;
		if (n)
			list[n++] = ' ';
		memcpy(list + n, name, nl);
		n += nl;
		list[n] = '\0';
	}
	smtp_reply(s, "214-2.0.0 Commands supported:");
	smtp_reply(s, "214-2.0.0 %s", list);
	smtp_reply(s, "214 2.0.0 See RFC 5321 for details");
}
