/* imap/imap_view.h: the selected mailbox as one IMAP session sees it
 * (imap_view.c).
 *
 * RFC 3501 2.3.1.2 / RFC 9051 2.3.1.2: message sequence numbers are this
 * session's view, not the store's.  A message expunged by another session
 * (or by POP3) keeps its number here until this session is told with an
 * untagged EXPUNGE, and a new message exists here only once EXISTS was
 * sent.  The view is an ascending array of UIDs (seq n = uids[n - 1]), kept
 * in step with the store by reading the change records past the MODSEQ the
 * view has seen (store_changes_since), so catching up costs what changed,
 * not the mailbox size.
 *
 * The array is loaded only when sequence numbers are needed
 * (imap_view_uids_load: FETCH, STORE, SEARCH, COPY, EXPUNGE reports...):
 * SELECT, EXISTS, RECENT and IDLE work from the counters of the mailbox
 * record, so they cost the same at any mailbox size.  Once loaded it is an
 * immutable snapshot shared with every other session that sees the mailbox
 * in the same state (imap_snap.h): a session owns only what it knows and
 * has not told yet (pending expunges and new messages), so an idle session
 * costs the same whatever the mailbox size.  A change the session reports
 * replaces its snapshot (copy-on-write, or the one another session already
 * made for that MODSEQ).
 *
 * Flag changes are reported as untagged FETCH (FLAGS) (with UID, and with
 * MODSEQ when CONDSTORE is on); this session's own STORE writes its own
 * responses and then calls imap_view_absorb() so they are not repeated. */
#ifndef POSTINO_IMAP_VIEW_H
#define POSTINO_IMAP_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/imap_recent.h"
#include "imap/imap_session.h"
#include "storage/storage.h"

struct buf;
struct imap_snap;
struct imap_context;
struct imap_context_later;
struct imap_claim;

struct imap_view {
	uint32_t mailbox_id;
	char name[STORE_MAILBOX_NAME_MAX + 1];   /* store (UTF-8) name */
	bool readonly;                           /* EXAMINE, or [READ-ONLY] */
	uint32_t uidvalidity;
	uint32_t uidnext;                        /* as last reported */
	uint64_t modseq;                         /* changes up to here are known */
	/* Every change up to here has been reported to the client: the
	 * HIGHESTMODSEQ it may be given (RFC 7162 3.2: never above an
	 * expunge or flag change still held back). */
	uint64_t modseq_told;

	size_t count;                            /* as last reported (EXISTS) */
	/* The view is every message of the store's state at `modseq` with a
	 * UID <= uid_hi, plus the pending expunges (imap_view.c). */
	uint32_t uid_hi;
	/* seq n -> uids[n - 1], ascending: only once imap_view_uids_load()
	 * succeeded (snap != NULL).  Shared: never write through uids. */
	const uint32_t *uids;
	struct imap_snap *snap;

	/* \Recent for this session (RFC 3501 2.3.2): every UID interval it
	 * claimed (imap_recent.h).  EXAMINE claims nothing: a read-only view
	 * shows the unclaimed ones as they were when it was opened. */
	struct imap_recent recent;
	size_t nrecent;                          /* messages of the view in it */
	/* A claim running on a worker (imap_claim.h): new messages wait. */
	struct imap_claim *claim;

	struct store_keywords *keywords;         /* the mailbox's keyword table */
	size_t keywords_reported;                /* entries in the last FLAGS response */
	/* Another session reset the mailbox's URLAUTH key (imap_notify.c):
	 * "* OK [URLMECH INTERNAL]" with the next updates (RFC 4467 7). */
	bool urlmech_pending;

	/* SEARCHRES (RFC 5182): the UIDs a SEARCH ... RETURN (SAVE) saved,
	 * ascending; "$" refers to them. */
	uint32_t *saved;
	size_t nsaved;

	/* RFC 5267 4.3 updating contexts (imap_context.h), ended with the view. */
	struct imap_context *contexts;
	/* Changed messages they could not read yet, for a lock held on
	 * their pages, and the worker that waits for it (imap_context.c). */
	struct imap_context_later *contexts_later;

	/* Private to imap_view.c: expunges known but not yet reported
	 * (ascending UIDs). */
	uint32_t *pending_expunge;
	size_t npending_expunge, pending_cap;
};

/* SELECT / EXAMINE open `name` (store name) for a session in two parts:
 * the store part (the mailbox record, the \Recent claim unless read-only,
 * the keyword table), which touches nothing of the session, so that it can
 * run without waiting for a lock on the loop and be finished by any
 * thread, a worker (issue 11 point 1); then, on the session's loop, the
 * view, registered with the change feed (imap_view_open_loaded).  Nothing
 * is written to the client; the handler writes the responses from the
 * view and the mailbox record.  Store errors are returned as they are. */
struct imap_view_load {
	struct store *store;
	uint32_t user_id;
	bool readonly;
	char *name;                      /* owned */
	unsigned step;                   /* the next step to make */
	struct store_mailbox mbox;
	uint32_t first_recent, claimed;  /* the \Recent claim (read-write) */
	struct store_keywords *keywords; /* owned until the view takes it */
};
int imap_view_load_init(struct imap_view_load *l, struct store *st, uint32_t user_id,
			const char *name, bool readonly);
void imap_view_load_free(struct imap_view_load *l);
/* The steps from l->step on: STORE_OK when all are made, else the error of
 * the one that failed, from which a later call goes on (STORE_ERR_BUSY
 * under store_thread_nowait: nothing of it changed).  Each step is made
 * once: the \Recent claim is never made twice. */
int imap_view_load_steps(struct imap_view_load *l);
/* On s's loop, all steps made: the view from l (which gives up its
 * keywords), registered with the change feed. */
int imap_view_open_loaded(struct imap_session *s, struct imap_view_load *l,
			  struct imap_view **view_r, struct store_mailbox *mbox_r);
/* Unregister and free; *v becomes NULL. */
void imap_view_close(struct imap_session *s, struct imap_view **v);

/* Load the view's UID array (seq n -> uids[n - 1]) if it is not yet:
 * the cached snapshot of this state, or the store's list adjusted to what
 * this session was told.  Everything below that takes a view needs it
 * (count 0 excepted).  Store errors as they are. */
int imap_view_uids_load(struct imap_session *s);
/* What SEARCH and SORT programs are evaluated against (imap_search.h): the
 * view's "*" of each kind, \Recent, "$" and keywords, and now (RFC 5032
 * OLDER/YOUNGER).  The array must be loaded. */
struct imap_search_env;
void imap_view_search_env(const struct imap_view *v, struct imap_search_env *env);
/* Before a command that will load the array runs: when the mailbox is
 * large and no snapshot of its state is cached, read the store's list on
 * the worker pool (imap_cmd_job_submit) so that the command's load finds
 * it done.  0: submitted (the command runs once it is read); -1: nothing
 * to do, or the pool is full: the command loads in place. */
struct imap_cmd;
int imap_view_uids_preload(struct imap_cmd *cmd);

/* Index (0-based) of the first UID in the view >= uid; count when none. */
size_t imap_view_lower(const struct imap_view *v, uint32_t uid);
/* 1-based sequence number of uid in the view, 0 when absent. */
uint32_t imap_view_seq(const struct imap_view *v, uint32_t uid);
bool imap_view_is_recent(const struct imap_view *v, uint32_t uid);
/* True when uid was expunged in the store but not yet reported. */
bool imap_view_is_expunged(const struct imap_view *v, uint32_t uid);

/* A sequence or UID set (cmd->uid tells which) to the ascending UIDs of the
 * view it names, malloc'd (*uids_r NULL when none).  "$" is the saved
 * result.  RFC 3501 9: a message number above EXISTS is an error (returns
 * -1 with *error_r set, for a BAD); UIDs that do not exist are simply not
 * included (RFC 3501 6.4.8).  "*" is the last message / highest UID. */
int imap_view_resolve(const struct imap_view *v, const struct imap_seqset *set, bool uid,
		      uint32_t **uids_r, size_t *n_r, const char **error_r);

/* Bring the view up to date and write what the session owes, in this order:
 * "* n EXPUNGE" (or "* VANISHED uid-set" once QRESYNC is enabled, RFC
 * 7162 3.2.10.2) only when allow_expunge, otherwise they stay pending (and
 * under QRESYNC "* OK [HIGHESTMODSEQ modseq_told]" says how far the client
 * is in step, RFC 7162 3.2); "* n EXISTS" and "* n RECENT" when new
 * messages arrived (claiming their \Recent unless readonly); "* FLAGS" and
 * "* OK [PERMANENTFLAGS ...]" when the keyword table grew; and
 * "* n FETCH (FLAGS (...) UID u [MODSEQ (m)])" for flag changes made by
 * others.  When the mailbox no longer exists (deleted, renamed away, user
 * removed) writes "* BYE" and closes the connection, returning -1. */
int imap_view_sync(struct imap_session *s, bool allow_expunge);
/* After this session's own STORE (or FETCH's implicit \Seen), given its
 * results: take every change up to the mailbox's current MODSEQ as known,
 * dropping the FLAGS changes that STORE made (the handler reported them)
 * and keeping new messages, expunges and other sessions' flag changes for
 * the next sync. */
int imap_view_absorb(struct imap_session *s, const struct store_flag_result *res, size_t n);

/* The flag list of a message, "(\Seen \Recent $Label1)", appended to out:
 * system flags, \Recent from the view, keywords by name. */
int imap_view_flags_write(const struct imap_view *v, struct buf *out, const struct store_msg *m);
/* "* FLAGS (...)" and "* OK [PERMANENTFLAGS (... \*)]" for the current
 * keyword table (SELECT, and when keywords were added). */
void imap_view_flags_announce(struct imap_session *s);
/* Before a response that writes the flags of a message with keyword mask
 * `mask`: when it names a keyword this client has not been given in FLAGS
 * (another session interned it since the view read its table), re-read
 * the table and write "* FLAGS" and "* OK [PERMANENTFLAGS ...]" first
 * (RFC 3501 7.2.6, RFC 9051 7.3.5).  Call between responses.  Store errors
 * as they are (the table then stays, and the keyword is left out). */
int imap_view_keywords_cover(struct imap_session *s, uint64_t mask);
/* Intern STORE/APPEND keywords in the view's mailbox, refreshing the view's
 * table: *mask_r gets their bits.  Store errors as they are (NOQUOTA when
 * the table is full). */
int imap_view_keywords_intern(struct imap_session *s, const struct imap_flags *f, uint64_t *mask_r);

/* enum imap_sysflag bits to enum store_flag bits. */
uint32_t imap_view_store_flags(unsigned sysflags);

#endif
