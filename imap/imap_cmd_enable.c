/* imap/imap_cmd_enable.c: ENABLE (RFC 5161) and NAMESPACE (RFC 2342,
 * RFC 9051 6.3.10). */
#include <stdlib.h>
#include <strings.h>

#include "imap/imap_session.h"

enum imap_cmd_rc imap_cmd_enable(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct imap_string *caps = NULL;
	size_t ncaps = 0;
	const char *error = NULL;
	if (imap_enable_parse(cmd->pc->args, cmd->pc->nargs, &caps, &ncaps, &error) < 0) {
		imap_cmd_bad(cmd, "%s", error);
		return IMAP_CMD_DONE;
	}
	/* RFC 5161 3.1: "* ENABLED" lists what this command enabled; unknown
	 * names are ignored, and so (3.2 SHOULD NOT) are ones already on. */
	static const char *const known[] = { "IMAP4rev2", "UTF8=ACCEPT", "CONDSTORE", "QRESYNC" };
	bool *flags[] = { &s->rev2, &s->utf8, &s->condstore, &s->qresync };
	struct buf b;
	buf_init(&b, 0);
	buf_puts(&b, "* ENABLED");
	for (size_t i = 0; i < ncaps; i++) {
		size_t k = 0;
		while (k < sizeof(known) / sizeof(known[0]) && strcasecmp(caps[i].s, known[k]) != 0)
			k++;
		if (k == sizeof(known) / sizeof(known[0]) || *flags[k])
			continue;
		/* RFC 7162 3.1, 3.2.3: ENABLE CONDSTORE and ENABLE QRESYNC are
		 * CONDSTORE enabling commands (QRESYNC implies CONDSTORE); the
		 * first one with a mailbox selected announces HIGHESTMODSEQ. */
		if (flags[k] == &s->condstore || flags[k] == &s->qresync)
			imap_session_condstore_enable(s);
		*flags[k] = true;
		buf_putc(&b, ' ');
		buf_puts(&b, known[k]);
	}
	free(caps);
	buf_puts(&b, "\r\n");
	imap_write_buf(s, &b);
	buf_free(&b);
	imap_cmd_ok(cmd, "ENABLE completed");
	return IMAP_CMD_DONE;
}

enum imap_cmd_rc imap_cmd_namespace(struct imap_cmd *cmd)
{
	if (cmd->pc->nargs) {
		imap_cmd_bad(cmd, "NAMESPACE takes no arguments");
		return IMAP_CMD_DONE;
	}
	/* One personal namespace, no other users' or shared ones. */
	imap_untagged(cmd->s, "NAMESPACE ((\"\" \"%c\")) NIL NIL", IMAP_HIER_SEP);
	imap_cmd_ok(cmd, "NAMESPACE completed");
	return IMAP_CMD_DONE;
}
