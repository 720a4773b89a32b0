/* pop3/pop3_cmd_trans.c: the TRANSACTION-state commands over the snapshot
 * (RFC 1939 5 and 7): STAT, LIST, UIDL, DELE, RSET and NOOP.  Nothing here
 * touches the store: DELE only marks, and QUIT applies the marks. */
#include "core/conn.h"
#include "pop3/pop3_session.h"

void pop3_cmd_stat(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	/* RFC 1939 5: "+OK nn mm", messages marked deleted not counted. */
	pop3_reply(s, "+OK %zu %llu", s->nmsgs - s->ndeleted,
		   (unsigned long long)(s->total_size - s->deleted_size));
}

/* LIST and UIDL without an argument: one line per message not marked
 * deleted, written a batch at a time so that a large maildrop never
 * queues its whole listing. */
static bool pop3_list_lines(struct pop3_session *s, bool uidl)
{
	for (unsigned batch = 0; batch < POP3_LIST_BATCH && s->list_next < s->nmsgs; batch++) {
		size_t i = s->list_next++;
		const struct pop3_msg *m = &s->msgs[i];
		if (m->deleted)
			continue;
		if (uidl) {
			char id[POP3_UIDL_MAX + 1];
			pop3_uidl_format(s->mbox.uidvalidity, m->uid, id);
			pop3_reply(s, "%zu %s", i + 1, id);
		} else {
			pop3_reply(s, "%zu %llu", i + 1, (unsigned long long)m->size);
		}
	}
	if (s->list_next < s->nmsgs)
		return false;
	pop3_reply(s, ".");
	return true;
}

static bool pop3_list_pump(struct pop3_session *s)
{
	return pop3_list_lines(s, false);
}

static bool pop3_uidl_pump(struct pop3_session *s)
{
	return pop3_list_lines(s, true);
}

void pop3_cmd_list(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	if (cmd->nargs == 1) {
		/* RFC 1939 5: the scan listing "n size" on the status line. */
		const struct pop3_msg *m = pop3_session_msg(s, cmd->num[0]);
		if (m)
			pop3_reply(s, "+OK %u %llu", (unsigned)cmd->num[0], (unsigned long long)m->size);
		return;
	}
	pop3_reply(s, "+OK %zu messages (%llu octets)", s->nmsgs - s->ndeleted,
		   (unsigned long long)(s->total_size - s->deleted_size));
	s->list_next = 0;
	pop3_session_stream(s, pop3_list_pump);
}

void pop3_cmd_uidl(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	if (cmd->nargs == 1) {
		/* RFC 1939 7: "n unique-id" on the status line. */
		const struct pop3_msg *m = pop3_session_msg(s, cmd->num[0]);
		if (m) {
			char id[POP3_UIDL_MAX + 1];
			pop3_uidl_format(s->mbox.uidvalidity, m->uid, id);
			pop3_reply(s, "+OK %u %s", (unsigned)cmd->num[0], id);
		}
		return;
	}
	pop3_reply(s, "+OK Unique-ID listing follows");
	s->list_next = 0;
	pop3_session_stream(s, pop3_uidl_pump);
}

void pop3_cmd_dele(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	/* RFC 1939 5: mark only; the UPDATE state removes it. */
	struct pop3_msg *m = pop3_session_msg(s, cmd->num[0]);
	if (!m)
		return;
	m->deleted = true;
	s->ndeleted++;
	s->deleted_size += m->size;
	pop3_reply(s, "+OK Message %u deleted", (unsigned)cmd->num[0]);
}

void pop3_cmd_rset(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	/* RFC 1939 5: unmark every message. */
	for (size_t i = 0; i < s->nmsgs; i++)
		s->msgs[i].deleted = false;
	s->ndeleted = 0;
	s->deleted_size = 0;
	pop3_reply(s, "+OK Maildrop has %zu messages (%llu octets)", s->nmsgs,
		   (unsigned long long)s->total_size);
}

void pop3_cmd_noop(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	pop3_reply(s, "+OK");
}
