/* pop3/pop3_cmd_quit.c: QUIT (RFC 1939 4 and 6).  In TRANSACTION state it
 * enters UPDATE: every message marked by DELE is expunged in one store
 * transaction (in place, or by a worker when the store is locked:
 * pop3_store_job.c), and the +OK that promises it is sent only once the
 * log holding that transaction is on disk (core/durable.h). */
#include <stdlib.h>

#include <event2/event.h>

#include "core/conn.h"
#include "core/server.h"
#include "pop3/pop3_session.h"

/* Answer QUIT and close.  `err` is NULL on success, else the -ERR text. */
static void pop3_quit_reply(struct pop3_session *s, const char *err)
{
	/* The maildrop is ours no longer: a client that reconnects at once
	 * must not meet [IN-USE] while this connection drains. */
	pop3_inuse_release(&s->inuse);
	s->state = POP3_S_DONE;
	if (err)
		pop3_reply(s, "-ERR [SYS/TEMP] %s", err);
	else
		pop3_reply(s, "+OK postino signing off (%zu messages deleted)", s->removed);
	conn_close(s->c, "quit");
}

/* RFC 1939 6: "-ERR some deleted messages not removed". */
static const char expunge_failed[] = "Some deleted messages not removed, try again";

static void pop3_quit_flushed(struct durable_waiter *w, bool ok)
{
	struct pop3_session *s = w->arg;
	if (!ok)
		conn_log(s->c, PLOG_ERROR, "quit log flush failed expunged=%zu", s->removed);
	/* The expunge is committed even when the flush failed, but it is not
	 * known to be on disk, so we do not claim it. */
	pop3_quit_reply(s, ok ? NULL : "Deletions not confirmed on disk, check the maildrop again");
}

void pop3_quit_stored(struct pop3_session *s, int rc, size_t removed)
{
	s->removed = removed;
	if (s->seen_jobs) {
		/* Batches of RETR's \Seen marks are still on workers: the
		 * reply waits for them (pop3_store_job.c calls again). */
		s->quit_rc = rc;
		s->quit_waiting = true;
		return;
	}
	if (rc != STORE_OK) {
		conn_log(s->c, PLOG_ERROR, "quit expunge failed marked=%zu error=\"%s\"",
			 s->ndeleted, store_strerror(rc));
		pop3_quit_reply(s, expunge_failed);
		return;
	}
	if (s->ndeleted == 0) {
		pop3_quit_reply(s, NULL);
		return;
	}
	conn_log(s->c, PLOG_INFO, "quit marked=%zu expunged=%zu", s->ndeleted, s->removed);
	/* Input stays off until the reply; the flush callback runs on the
	 * loop thread, never inside this call. */
	conn_suspend(s->c);
	durable_wait(s->srv, &s->waiter, pop3_quit_flushed, s);
}

void pop3_cmd_quit(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	if (s->state == POP3_S_AUTH) {
		/* RFC 1939 4: QUIT before login, nothing to update. */
		s->state = POP3_S_DONE;
		pop3_reply(s, "+OK postino signing off");
		conn_close(s->c, "quit");
		return;
	}
	s->state = POP3_S_UPDATE;
	if (s->seen_ev)
		evtimer_del(s->seen_ev);
	uint32_t *uids = NULL;
	if (s->ndeleted > 0 && !(uids = calloc(s->ndeleted, sizeof(*uids)))) {
		conn_log(s->c, PLOG_ERROR, "quit out of memory marked=%zu", s->ndeleted);
		pop3_quit_reply(s, expunge_failed);
		return;
	}
	size_t n = 0;
	for (size_t i = 0; i < s->nmsgs && n < s->ndeleted; i++)
		if (s->msgs[i].deleted)
			uids[n++] = s->msgs[i].uid;
	/* Another protocol may have expunged some meanwhile: the store skips
	 * missing UIDs and reports how many it removed.  Input stays off
	 * while a worker does it. */
	conn_suspend(s->c);
	pop3_quit_store(s, uids, n);
}
