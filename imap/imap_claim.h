/* imap/imap_claim.h: the \Recent claim of a sync, without a lock wait on
 * the loop (issue 11 point 1).
 *
 * A sync that shows new messages first claims their \Recent (RFC 3501
 * 2.3.2, imap_recent.h): a write of the mailbox record, which every
 * delivery to the mailbox also writes and holds until its commit.  The
 * claim is tried on the loop without waiting (store_thread_nowait); when
 * another transaction holds the record, a worker makes it instead and the
 * sync holds the new messages back until it is done: the session is not
 * told of them before it knows which are \Recent for it.  When the claim
 * returns, the session hears of them (imap_session_claimed): a command
 * whose tagged OK was held for them (imap_cmd_ok) completes with them,
 * an IDLE hears at once, and otherwise they go with the next command. */
#ifndef POSTINO_IMAP_CLAIM_H
#define POSTINO_IMAP_CLAIM_H

#include <stdint.h>

#include "storage/storage.h"

struct imap_session;
struct imap_view;

/* Claims \Recent for v's new messages, the newest being `last`, when they
 * need it.  mbox is the mailbox record the sync read.  0: go on and report
 * them; 1: hold them back, a claim is running on a worker. */
int imap_claim_recent(struct imap_session *s, struct imap_view *v,
		      const struct store_mailbox *mbox, uint32_t last);
/* The view is closing: a claim still running is dropped when it returns
 * (its UIDs stay claimed, \Recent in no session, as if the session had
 * been told and gone). */
void imap_claim_detach(struct imap_view *v);

#endif
