/* imap/imap_append.h: what APPEND (imap_cmd_append.c, which implements it)
 * shares with REPLACE (imap_cmd_replace.c, RFC 8508): turning one parsed
 * message into what the store takes, and the APPENDUID response code. */
#ifndef POSTINO_IMAP_APPEND_H
#define POSTINO_IMAP_APPEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "imap/imap_session.h"
#include "storage/storage.h"

/* Fills m from am for the mailbox it goes to: flags, internal date, the
 * keywords interned in that mailbox's table, the NUL-free form of a
 * binary message (into encoded) and the MIME structure (into structure;
 * both buffers initialised by the caller and kept while m is used).  0, or
 * -1 after the tagged NO is written ([LIMIT], [UNKNOWN-CTE], store errors).
 * With late, a keyword entry that would wait for another transaction's
 * lock is not made: *late is set, and the caller makes the keywords
 * (imap_append_msg_keywords) where it may wait. */
int imap_append_msg_prepare(struct imap_cmd *cmd, uint32_t mailbox_id,
			    const struct imap_append_msg *am, struct store_append_msg *m,
			    struct buf *structure, struct buf *encoded, bool *late);

/* The keywords' bits of am in the mailbox's table (store_keywords_intern:
 * their entries made when new), on any thread.  STORE_ERR_NOQUOTA: the
 * table is full. */
int imap_append_msg_keywords(struct store *st, uint32_t mailbox_id,
			     const struct imap_append_msg *am, uint64_t *mask_r);

/* CATENATE (RFC 4469; imap_cmd_catenate.c): each of msgs[0..n) that has
 * CATENATE parts is put together from its TEXT literals and the octets of
 * its URLs into bufs[i] (initialised and freed by the caller), and its
 * data/len then point there.  0, or -1 after the tagged NO ([BADURL url],
 * [TOOBIG], [LIMIT], store errors); nothing is stored then.  1: a worker
 * waits for a URL's message's pages, which a writer held (cmd->job set):
 * the handler drops what it made, returns IMAP_CMD_WAIT and starts over
 * when called back. */
int imap_catenate_build(struct imap_cmd *cmd, struct imap_append_msg *msgs, size_t n,
			struct buf *bufs);

/* "[APPENDUID uidvalidity uid-set] " (RFC 4315 3), ranges for runs of
 * ascending UIDs.  0, or -1 (out emptied) when memory is short. */
int imap_appenduid_write(struct buf *out, uint32_t uidvalidity, const uint32_t *uids, size_t n);

#endif
