/* imap/imap_notify.c: the change feed from the store to the IMAP sessions
 * that have a mailbox selected (DESIGN.md "Sessions see each other").
 *
 * The store calls one hook after each committed change to a mailbox
 * (store_set_notify); this file keeps the sessions with a mailbox selected
 * in a list and hands the news to each one whose view is that mailbox.
 * Every session and every store change runs on core's one event-loop
 * thread, so the list needs no lock; a change made by another process (the
 * admin CLI) is not announced and is seen at the session's next sync. */
#include <stddef.h>

#include "imap/imap_session.h"
#include "imap/imap_view.h"

static struct imap_session *imap_notify_head;
static struct store *imap_notify_store;

static void imap_notify_hook(void *arg, uint32_t mailbox_id)
{
	(void)arg;
	/* A session's sync may close it (mailbox deleted: BYE), which only
	 * unregisters it later, from session_free; keep the next one first. */
	struct imap_session *next;
	for (struct imap_session *s = imap_notify_head; s; s = next) {
		next = s->notify_next;
		if (s->view && s->view->mailbox_id == mailbox_id)
			imap_session_notify(s);
	}
}

void imap_notify_register(struct imap_session *s)
{
	if (imap_notify_store != s->store) {
		store_set_notify(s->store, imap_notify_hook, NULL);
		imap_notify_store = s->store;
	}
	for (struct imap_session *p = imap_notify_head; p; p = p->notify_next)
		if (p == s)
			return;
	s->notify_next = imap_notify_head;
	imap_notify_head = s;
}

void imap_notify_unregister(struct imap_session *s)
{
	for (struct imap_session **pp = &imap_notify_head; *pp; pp = &(*pp)->notify_next) {
		if (*pp == s) {
			*pp = s->notify_next;
			s->notify_next = NULL;
			return;
		}
	}
}
