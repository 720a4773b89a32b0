/* imap/imap_qresync.h: QRESYNC (RFC 7162 3.2) as SELECT, UID FETCH,
 * EXPUNGE, MOVE and the view's sync use it (imap_qresync.c): which UIDs
 * vanished since a MODSEQ, the VANISHED responses, the resync of SELECT /
 * EXAMINE (QRESYNC ...), and the tagged OK [HIGHESTMODSEQ] after an
 * expunge.
 *
 * Expunged UIDs come from the store's change records: every expunge keeps
 * its record at the MODSEQ it was given (storage.h "changes"), and the
 * records are ordered by MODSEQ, so what vanished since N costs the
 * changes since N, never the mailbox size.  They are read in batches and
 * written as they are read, so memory stays one batch however long ago N
 * was.  The store trims no history, so the answer is exact;
 * seq-match-data (RFC 7162 3.2.5.2) then only shortens it. */
#ifndef POSTINO_IMAP_QRESYNC_H
#define POSTINO_IMAP_QRESYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/imap_session.h"

/* UIDs to report in one VANISHED response, ascending, written from `done`
 * on (several lines when long). */
struct imap_vanished {
	const uint32_t *uids;
	size_t n, done;
};

/* "* VANISHED (EARLIER) uid-set" (earlier) or "* VANISHED uid-set" lines
 * for what is left of van.  With `pause`, returns false when the output
 * queue filled before the end (write the rest on the next call); true
 * when all went. */
bool imap_vanished_write(struct imap_session *s, struct imap_vanished *van, bool earlier,
			 bool pause);

/* The UIDs a client asks about: a normalised set (imap_seqset_normalize),
 * owned, or for "$" (RFC 5182) an ascending list, borrowed. */
struct imap_uid_filter {
	struct imap_seqset *norm;
	const uint32_t *list;
	size_t nlist;
};

/* "* VANISHED (EARLIER)" for the expunge records of the selected mailbox
 * with since < MODSEQ <= until (until 0: no bound) whose UID the filter
 * keeps and is above floor. */
struct imap_vanished_scan {
	uint64_t since, until;
	uint32_t floor;
	struct imap_uid_filter f;
	bool done;
};
/* Write the next lines.  STORE_OK with sc->done set when all went;
 * STORE_OK without it when the output queue is full or the command has
 * had its share of the loop (IMAP_CMD_AGAIN, then call again); store
 * errors as they are. */
int imap_vanished_scan_run(struct imap_session *s, struct imap_vanished_scan *sc);
void imap_vanished_scan_clear(struct imap_vanished_scan *sc);

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
