/* imap/imap_notify_meta.c: NOTIFY's METADATA events (RFC 5465 5.6
 * MailboxMetadataChange, 5.7 ServerMetadataChange): a committed
 * SETMETADATA, handed over by the feed (imap_notify.c), becomes the
 * unsolicited METADATA response of RFC 5464 4.4.2 (the mailbox, "" for
 * the server, and the changed entry names, no values) for the sessions
 * whose filters ask for it.  The response joins the LIST responses
 * waiting in the set (imap_notify_set.c), so the order of events is kept
 * and the same bound (NOTIFICATIONOVERFLOW past it, 5.8) holds. */
#include <string.h>

#include "imap/imap_notify_set.h"
#include "imap/imap_parse.h"
#include "imap/imap_session.h"
#include "imap/imap_view.h"

/* Which event the change is for this session, or 0 when it asked for
 * neither.  ServerMetadataChange is a user event (9: user-event): any
 * group that names it asks for it, whatever its mailboxes. */
static unsigned meta_wanted(struct imap_session *s, const struct imap_notify_meta *m,
			    struct store_mailbox *mb_r)
{
	struct imap_notify_set *ns = s->nset;
	if (m->mailbox_id == 0)
		return ns->events & IMAP_NEV_SERVER_METADATA_CHANGE;
	if (!(ns->events & IMAP_NEV_MAILBOX_METADATA_CHANGE))
		return 0;
	/* The name as it is now (a RENAME may have followed), and the
	 * subscription for SUBSCRIBED; gone since: nothing to say. */
	if (store_mailbox_get_by_id(s->store, m->mailbox_id, mb_r) != STORE_OK ||
	    mb_r->user_id != s->user.id)
		return 0;
	/* The selected mailbox too, as for MailboxName: section 6 keeps it
	 * for SELECTED, which takes message events only (6.1), so without
	 * this its metadata changes could never be heard. */
	return imap_notify_set_match(ns, mb_r->name, mb_r->subscribed) &
	       IMAP_NEV_MAILBOX_METADATA_CHANGE;
}

void imap_notify_set_meta_changed(struct imap_session *s, const struct imap_notify_meta *m,
				  uint64_t origin)
{
	struct imap_notify_set *ns = s->nset;
	if (!ns || m->user_id != s->user.id || m->nentries == 0)
		return;
	/* 5: "The server SHOULD omit notifying the client if the event is
	 * caused by this client." */
	if (origin == ns->serial)
		return;
	struct store_mailbox mb;
	if (!meta_wanted(s, m, &mb))
		return;
	struct buf b;
	buf_init(&b, 0);
	/* RFC 5464 4.4.2 and 5: "METADATA" SP mailbox SP entry-list, the
	 * entries without parentheses or values. */
	int rc = buf_puts(&b, "* METADATA ");
	rc |= imap_mailbox_write(s, &b, m->mailbox_id ? mb.name : "");
	for (size_t i = 0; i < m->nentries; i++) {
		rc |= buf_putc(&b, ' ');
		rc |= imap_write_astring(&b, m->entries[i], strlen(m->entries[i]));
	}
	rc |= buf_puts(&b, "\r\n");
	if (rc || buf_append(&ns->lists, b.data, b.len) < 0)
		ns->overflow = true;   /* 5.8: we could not keep up */
	buf_free(&b);
	if (imap_notify_set_can_push(s))
		imap_notify_set_flush(s);
}
