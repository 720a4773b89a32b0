/* imap/imap_context.h: reading one message for SORT/THREAD
 * (imap_sort_read.c) and the live search and sort contexts of RFC 5267 4
 * (CONTEXT=SEARCH, CONTEXT=SORT: RETURN (UPDATE), ADDTO/REMOVEFROM,
 * CANCELUPDATE; imap_context.c).
 *
 * A context belongs to the selected mailbox's view (struct imap_view
 * contexts) and ends with it.  It keeps its own copy of the search program
 * and its result: the matching UIDs ascending, and for SORT the matches
 * in sort order with their keys.  The view tells it of each change as it
 * reports it (imap_view.c): expunged UIDs before the EXPUNGE responses,
 * new ones after EXISTS, flag changes after their FETCH (or the session's
 * own STORE).  Only the changed messages are read and evaluated, so an
 * update costs what changed (plus moving the kept array for SORT), not
 * the mailbox. */
#ifndef POSTINO_IMAP_CONTEXT_H
#define POSTINO_IMAP_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/mime.h"
#include "imap/imap_search.h"
#include "imap/imap_sort.h"
#include "storage/storage.h"

struct imap_session;
struct imap_cmd;
struct imap_context;

/* ---- imap_sort_read.c ---- */

/* Reusable buffers for reading messages one after another. */
struct imap_sort_reader {
	struct imap_search_msg smsg;
	struct buf content, scratch;
	char *chunk;
	struct mime_message *mime;
};

/* Evaluates root on message m (sequence number seq); when it matches,
 * *match_r is set and out gets the record's data (seq and num are seq)
 * and the keys `want` asks for, strings in pool.  STORE_OK or a store
 * error (NOTFOUND: expunged meanwhile). */
int imap_sort_read(struct imap_sort_reader *r, struct store *st,
		   const struct imap_search_env *env, const struct imap_search_key *root,
		   unsigned want, const struct store_msg *m, uint32_t seq, bool *match_r,
		   struct imap_sort_msg *out, struct buf *pool);
/* Drops a large message's bytes kept from the last read. */
void imap_sort_reader_trim(struct imap_sort_reader *r);
void imap_sort_reader_clear(struct imap_sort_reader *r);

/* ---- imap_context.c ---- */

/* Contexts per selected mailbox; past this, UPDATE gets NO [NOUPDATE]
 * (RFC 5267 4.3.1). */
#define IMAP_CONTEXT_MAX 8

/* What a searching command hands over for RETURN (UPDATE). */
struct imap_context_spec {
	const struct imap_search_key *root;  /* copied */
	bool uid;                            /* UID SEARCH / UID SORT */
	bool sort;
	const struct imap_sort_crit *crit;   /* SORT */
	size_t ncrit;
	unsigned want;                       /* SORT's keys */
};

/* True when the view has an updating context for this tag (RFC 5267 4.3:
 * a reused tag is BAD). */
bool imap_context_tag_used(struct imap_session *s, const char *tag, size_t len);
/* Whether a program can be kept up to date: message sequence numbers and
 * "$" are fixed when the command runs (RFC 5267 4.3), so a program using
 * them is refused with NOUPDATE. */
bool imap_context_program_ok(const struct imap_search_key *root);
/* Starts an updating context with the current result: uids ascending
 * (SEARCH), or for SORT the matches in sort order with their strings in
 * *pool (taken: *msgs and *pool are emptied).  Writes "* NO [NOUPDATE
 * "tag"]" and returns -1 when it cannot (limit, program, memory). */
int imap_context_start(struct imap_cmd *cmd, const struct imap_context_spec *spec,
		       const uint32_t *uids, size_t n, struct imap_sort_msg **msgs,
		       struct buf *pool);
/* CANCELUPDATE: the context of this tag ends; false when there is none. */
bool imap_context_cancel(struct imap_session *s, const char *tag, size_t len);
/* The view's changes (imap_view.c), each written as ESEARCH ADDTO or
 * REMOVEFROM for the contexts whose result it changes. */
void imap_context_expunged(struct imap_session *s, const uint32_t *uids, size_t n);
void imap_context_arrived(struct imap_session *s, const uint32_t *uids, size_t n);
void imap_context_flags(struct imap_session *s, const uint32_t *uids, size_t n);
/* The messages whose read found a writer's lock held, read again once a
 * worker has waited for it (from the view's sync). */
void imap_context_recheck(struct imap_session *s);
/* The view's contexts end (it closes); a worker's wait is let go. */
struct imap_view;
void imap_context_view_end(struct imap_view *v);

#endif
