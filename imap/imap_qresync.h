/* imap/imap_qresync.h: QRESYNC (RFC 7162 3.2) as SELECT, UID FETCH,
 * EXPUNGE, MOVE and the view's sync use it (imap_qresync.c): which UIDs
 * vanished since a MODSEQ, the VANISHED responses, the resync of SELECT /
 * EXAMINE (QRESYNC ...), and the tagged OK [HIGHESTMODSEQ] after an
 * expunge.
 *
 * Expunged UIDs come from the store's change records: every expunge keeps
 * its record at the MODSEQ it was given (storage.h "changes"), and the
 * records are ordered by MODSEQ, so what vanished since N costs the
 * changes since N, never the mailbox size.  The store trims no history, so
 * the answer is exact; seq-match-data (RFC 7162 3.2.5.2) then only
 * shortens it. */
#ifndef POSTINO_IMAP_QRESYNC_H
#define POSTINO_IMAP_QRESYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/imap_session.h"

struct imap_view;

/* UIDs to report in VANISHED responses, ascending, written from `done`
 * on (several lines when long; AGAIN between them). */
struct imap_vanished {
	uint32_t *uids;
	size_t n, done;
};

/* The UIDs a client asks about: a normalised set (imap_seqset_normalize)
 * or, for "$" (RFC 5182), an ascending list. */
struct imap_uid_filter {
	const struct imap_seqset *norm;
	const uint32_t *list;
	size_t nlist;
};

/* Read the change records of the view's mailbox with since < MODSEQ <=
 * until (until 0: no bound) whose UID the filter keeps: expunges into
 * *van (ascending), and, when changed_r is given, the UIDs of messages new
 * or changed in that window, at most uid_hi (ascending, malloc'd).  Store
 * errors as they are. */
int imap_qresync_collect(struct imap_session *s, uint64_t since, uint64_t until,
			 const struct imap_uid_filter *f, uint32_t uid_hi, struct imap_vanished *van,
			 uint32_t **changed_r, size_t *nchanged_r);
/* "* VANISHED (EARLIER) uid-set" (earlier) or "* VANISHED uid-set" lines
 * for what is left of van.  With `pause`, returns false when the output
 * queue filled before the end (write the rest on the next call); true
 * when all went. */
bool imap_vanished_write(struct imap_session *s, struct imap_vanished *van, bool earlier,
			 bool pause);
void imap_vanished_free(struct imap_vanished *van);

/* SELECT / EXAMINE with (QRESYNC (...)) whose UIDVALIDITY matches: after
 * the usual responses, "* VANISHED (EARLIER)" and "* n FETCH (UID FLAGS
 * MODSEQ)" for what changed in the client's known UIDs between its MODSEQ
 * and the view's, then the tagged OK with `ok_text`.  Keeps its state in
 * cmd->ctx: call imap_qresync_select_run() again on IMAP_CMD_AGAIN. */
enum imap_cmd_rc imap_qresync_select_start(struct imap_cmd *cmd, const struct imap_select *sel,
					   const char *ok_text);
enum imap_cmd_rc imap_qresync_select_run(struct imap_cmd *cmd);

/* The tagged OK of EXPUNGE, UID EXPUNGE or MOVE that removed messages:
 * with QRESYNC on, the updates first and then "OK [HIGHESTMODSEQ n] text"
 * (RFC 7162 3.2.7, 3.2.9; RFC 6851 4.4), n being what the client has been
 * told completely (imap_view.h modseq_told). */
void imap_qresync_ok_expunged(struct imap_cmd *cmd, const char *text);

#endif
