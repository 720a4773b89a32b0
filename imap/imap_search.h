/* imap/imap_search.h: private to SEARCH (imap_cmd_search.c,
 * imap_search_eval.c).
 *
 * imap_search_eval.c is pure (core/mime.h, core/buf.h and the parser's key
 * tree; no store, no session) so that the evaluator is unit-tested on
 * canned messages.  It evaluates a key tree against one message in two
 * passes: first on the store record alone (flags, UID, sequence number,
 * size, internal date, MODSEQ), answering IMAP_SEARCH_UNKNOWN when a key
 * needs the message's header or body; only then does imap_cmd_search.c
 * read the content (the header alone when no key needs more) and evaluate
 * again.  So "SEARCH UNSEEN", "UID SEARCH 1:*" or "DELETED TEXT x" never
 * read a body they do not need. */
#ifndef POSTINO_IMAP_SEARCH_H
#define POSTINO_IMAP_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/mime.h"
#include "imap/imap_parse.h"
#include "imap/imap_recent.h"
#include "storage/storage.h"

/* What the evaluator knows about the mailbox (a copy of the view's
 * facts, so that it needs no session). */
struct imap_search_env {
	uint32_t nmsgs;                 /* "*" of a sequence set: messages in the view */
	uint32_t max_uid;               /* "*" of a UID set: highest UID in the view */
	const struct imap_recent *recent;  /* \Recent UIDs of this session, or NULL */
	const uint32_t *saved;          /* "$" (RFC 5182), ascending UIDs */
	size_t nsaved;
	const struct store_keywords *keywords;  /* may be NULL: no keywords */
	int64_t now;                    /* unix time the command started: OLDER and
	                                 * YOUNGER count back from it (RFC 5032) */
};

/* What the content keys need from a message. */
enum imap_search_need {
	IMAP_SEARCH_NEED_RECORD = 0,    /* the store record is enough */
	IMAP_SEARCH_NEED_HEADER = 1,    /* the header block */
	IMAP_SEARCH_NEED_BODY = 2,      /* the whole message and its structure */
};

/* One message under evaluation.  The caller fills rec and seq, and for the
 * second pass data/len (the header block only, or the whole message) and,
 * with the whole message, mime (its structure).  The evaluator keeps
 * decoded text in the caches; imap_search_msg_clear() frees them. */
struct imap_search_msg {
	struct store_msg rec;
	uint32_t seq;

	bool have_content;              /* data/len are set */
	const char *data;               /* header block, or the whole message */
	size_t len;
	size_t header_len;              /* the header block within data */
	const struct mime_message *mime;/* NULL unless the whole message is loaded */

	/* Private to imap_search_eval.c. */
	struct buf scratch;
	struct buf body_text;           /* decoded text parts, NUL-separated */
	bool body_text_done;
	bool date_done, date_ok;
	struct imap_date sent;          /* Date: as written (its own zone) */
};

enum imap_search_result {
	IMAP_SEARCH_ERROR = -1,         /* out of memory */
	IMAP_SEARCH_NO = 0,
	IMAP_SEARCH_YES = 1,
	IMAP_SEARCH_UNKNOWN = 2,        /* needs content not loaded yet */
};

/* Evaluate key against msg.  Without content, keys that need it are
 * UNKNOWN, and AND/OR/NOT decide with what they know (an AND with one NO
 * is NO whatever the rest). */
enum imap_search_result imap_search_eval(const struct imap_search_env *env,
					 const struct imap_search_key *key,
					 struct imap_search_msg *msg);
/* The most any key of the tree needs. */
enum imap_search_need imap_search_need(const struct imap_search_key *key);
/* True when the tree has a MODSEQ key (RFC 7162 3.1.5: the result then
 * carries the highest MODSEQ of the messages found). */
bool imap_search_uses_modseq(const struct imap_search_key *key);
/* Forget the content and the caches (keeps the buffers for reuse). */
void imap_search_msg_reset(struct imap_search_msg *msg);
void imap_search_msg_clear(struct imap_search_msg *msg);

/* RFC 5322 3.3 date-time (with the obsolete forms of 4.3: two-digit years,
 * named zones, comments) to the date as written, which is the date in the
 * sender's zone that SENT* compares (RFC 3501 6.4.4: "disregarding time
 * and timezone").  0, or -1 when it is no date. */
int imap_search_date_parse(const char *s, size_t len, struct imap_date *d_r);

/* The offset just past the blank line that ends the header in data[0..len)
 * (CRLF or bare LF), or 0 when it is not there yet: the header-only pass
 * reads content until this is found. */
size_t imap_search_header_end(const char *data, size_t len);

/* Appends a set of ascending numbers in its compact form ("1:5,7").
 * 0 or -1 (out full). */
int imap_search_set_write(struct buf *out, const uint32_t *v, size_t n);

#endif
