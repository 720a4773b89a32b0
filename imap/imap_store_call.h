/* imap/imap_store_call.h: a command's store work, made so that the loop
 * never waits for another transaction's lock (issue 11 point 1).
 *   - imap_store_call_run: one store write, run in place with
 *     store_thread_nowait and, when that finds a lock held
 *     (STORE_ERR_BUSY: nothing changed), again by a worker, which may
 *     wait.  For the commands whose store work is one call (REPLACE,
 *     SETMETADATA, GENURLAUTH, RESETKEY); those with steps or batches
 *     have their own jobs (imap_cmd_mailbox.c, imap_cmd_store.c,
 *     imap_cmd_append.c).
 *   - imap_content_wait: a content read (FETCH, SEARCH, SORT) that found a
 *     writer's lock on the pages: a worker waits for them, then the
 *     command reads again. */
#ifndef POSTINO_IMAP_STORE_CALL_H
#define POSTINO_IMAP_STORE_CALL_H

#include <stdbool.h>
#include <stdint.h>

#include "imap/imap_session.h"

/* Embedded first in the command's own struct, which holds the call's
 * arguments and results and owns what they point to (a job may outlive
 * its command). */
struct imap_store_call {
	struct imap_job job;                            /* first; private */
	struct store *store;
	/* The store work, on the loop (without waiting), then perhaps on a
	 * worker: its result is rc.  It must change nothing when it answers
	 * STORE_ERR_BUSY, so that it can be made again. */
	int (*call)(struct imap_store_call *c);
	void (*free)(struct imap_store_call *c);       /* c and what it owns */
	/* The call reads the command's literals (they stay with the job if
	 * the command goes first). */
	bool reads_command;
	int rc;
	uint64_t origin;                                /* private: NOTIFY's (RFC 5465 5) */
};

/* Runs c (c->store, call, free set; cmd->ctx unused).  IMAP_CMD_DONE: c->rc
 * is the result, and c is still the caller's.  IMAP_CMD_WAIT: a worker has
 * c; the handler returns IMAP_CMD_WAIT, and is called again with
 * cmd->stage = stage, c in cmd->ctx (freed with the command, or taken with
 * imap_store_call_take) and c->rc set. */
enum imap_cmd_rc imap_store_call_run(struct imap_cmd *cmd, struct imap_store_call *c,
				     unsigned stage);

/* The call a worker finished, from cmd->ctx; the caller frees it. */
struct imap_store_call *imap_store_call_take(struct imap_cmd *cmd);

/* A content read of cmd's, under store_thread_nowait, found a writer's
 * lock on the pages (STORE_ERR_BUSY): a worker waits for them
 * (store_content_wait of the same content, offset and length).  2: the
 * handler returns IMAP_CMD_WAIT and reads again when it is called back
 * (cmd->job is set until then); 0: the pool could not take it, the wait
 * was made here, read again now. */
int imap_content_wait(struct imap_cmd *cmd, uint64_t content_id, uint64_t offset, uint64_t len);

#endif
