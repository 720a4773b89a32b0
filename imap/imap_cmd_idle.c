/* imap/imap_cmd_idle.c: IDLE (RFC 2177, RFC 9051 6.3.13): the session
 * hears of changes to its mailbox at once (imap_session_notify) until the
 * client sends DONE. */
#include <strings.h>

#include "imap/imap_notify_set.h"
#include "imap/imap_session.h"
#include "imap/imap_view.h"

enum imap_cmd_rc imap_cmd_idle(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	if (cmd->stage == 0) {
		if (cmd->pc->nargs) {
			imap_cmd_bad(cmd, "IDLE takes no arguments");
			return IMAP_CMD_DONE;
		}
		cmd->stage = 1;
		imap_write(s, "+ idling\r\n", 10);
		s->idling = true;
		/* RFC 2177 3: what is already pending goes out now. */
		if (s->view && imap_notify_view_sync(s, true, false) < 0) {
			s->idling = false;
			return IMAP_CMD_DONE;
		}
		imap_notify_set_flush(s);   /* RFC 5465 4: the same events */
		return imap_cmd_want_line(cmd);
	}
	s->idling = false;
	/* RFC 2177 3: the only valid continuation is DONE. */
	if (cmd->line_len == 4 && strncasecmp(cmd->line, "DONE", 4) == 0)
		imap_cmd_ok(cmd, "IDLE terminated");
	else
		imap_cmd_bad(cmd, "Expected DONE");
	return IMAP_CMD_DONE;
}
