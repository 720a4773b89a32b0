/* imap/imap_sort.h: private to SORT and THREAD (imap_cmd_sort.c and the
 * pure files below; RFC 5256, RFC 5957 SORT=DISPLAY).
 *
 * The pure parts, unit-tested without a store or a session:
 *   imap_sort_subject.c  base subject extraction (RFC 5256 2.1) and the
 *                        i;ascii-casemap key;
 *   imap_sort_keys.c     a message's header to its sort and thread data
 *                        (sent date 2.2, first addresses, Message-ID,
 *                        References, In-Reply-To), and the comparison of
 *                        two messages under a sort program;
 *   imap_thread.c        ORDEREDSUBJECT and REFERENCES (RFC 5256 3) and the
 *                        THREAD response.
 * Every string of a message lives in one pool (struct buf) at an offset,
 * NUL-terminated, so a whole mailbox's keys are two allocations and can be
 * handed to a worker thread as they are. */
#ifndef POSTINO_IMAP_SORT_H
#define POSTINO_IMAP_SORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "imap/imap_parse.h"

/* sort-key (RFC 5256 5, RFC 5957 3). */
enum imap_sort_key {
	IMAP_SORT_ARRIVAL,
	IMAP_SORT_CC,
	IMAP_SORT_DATE,
	IMAP_SORT_FROM,
	IMAP_SORT_SIZE,
	IMAP_SORT_SUBJECT,
	IMAP_SORT_TO,
	IMAP_SORT_DISPLAYFROM,
	IMAP_SORT_DISPLAYTO,
};

/* Criteria in one program: each key at most twice (with and without
 * REVERSE) is far below this; a longer list is BAD. */
#define IMAP_SORT_MAX_CRITERIA 16

struct imap_sort_crit {
	enum imap_sort_key key;
	bool reverse;
};

/* The string keys a message carries (offsets into the pool). */
enum imap_sort_str {
	IMAP_SORT_S_SUBJECT,     /* base subject, casemapped */
	IMAP_SORT_S_FROM,        /* addr-mailbox of the first From, casemapped */
	IMAP_SORT_S_TO,
	IMAP_SORT_S_CC,
	IMAP_SORT_S_DISPLAYFROM, /* RFC 5957: display name, else addr-spec */
	IMAP_SORT_S_DISPLAYTO,
	IMAP_SORT_S_N,
};

/* What to extract from a header (bits). */
enum imap_sort_want {
	IMAP_SORT_W_SUBJECT = 1 << IMAP_SORT_S_SUBJECT,
	IMAP_SORT_W_FROM = 1 << IMAP_SORT_S_FROM,
	IMAP_SORT_W_TO = 1 << IMAP_SORT_S_TO,
	IMAP_SORT_W_CC = 1 << IMAP_SORT_S_CC,
	IMAP_SORT_W_DISPLAYFROM = 1 << IMAP_SORT_S_DISPLAYFROM,
	IMAP_SORT_W_DISPLAYTO = 1 << IMAP_SORT_S_DISPLAYTO,
	IMAP_SORT_W_DATE = 1 << 8,
	IMAP_SORT_W_REFS = 1 << 9,   /* Message-ID, References / In-Reply-To */
};

/* The offset of the empty string every pool starts with. */
#define IMAP_SORT_EMPTY 0u
/* No Message-ID. */
#define IMAP_SORT_NONE UINT32_MAX

/* At most this many references are kept per message (the last ones,
 * nearest the message): a References field of megabytes costs no more. */
#define IMAP_THREAD_MAX_REFS 256

struct imap_sort_msg {
	uint32_t seq;             /* position in the mailbox: the final tie-break */
	uint32_t num;             /* what is written: sequence number or UID */
	int64_t arrival;          /* INTERNALDATE */
	int64_t date;             /* sent date in UTC (2.2), else INTERNALDATE */
	uint64_t size;
	uint32_t str[IMAP_SORT_S_N];
	uint32_t msgid;           /* normalized Message-ID, or IMAP_SORT_NONE */
	uint32_t refs;            /* first of nrefs strings back to back */
	uint32_t nrefs;
	bool reply;               /* the subject was a reply or forward (3) */
};

enum imap_thread_alg {
	IMAP_THREAD_ORDEREDSUBJECT,
	IMAP_THREAD_REFERENCES,
};

/* ---- imap_parse_sort.c (in imap_parse_lib) ---- */

/* A SORT or THREAD command's arguments.  Strings point into the command. */
struct imap_sort_program {
	bool has_return;             /* SORT RETURN (...): ESORT (RFC 5267 3) */
	unsigned ret;                /* IMAP_SEARCH_RET_MIN MAX ALL COUNT, and
				      * CONTEXT UPDATE PARTIAL (RFC 5267 4) */
	uint32_t partial_lo, partial_hi;
	struct imap_sort_crit crit[IMAP_SORT_MAX_CRITERIA];
	size_t ncrit;
	enum imap_thread_alg alg;    /* THREAD */
	struct imap_string charset;
	struct imap_search_key root; /* an AND of the search keys */
};

/* sort = "SORT" [SP "RETURN" SP "(" [opts] ")"] SP sort-criteria SP
 * search-criteria (RFC 5256 5, RFC 5267 3; DISPLAYFROM/DISPLAYTO, RFC 5957
 * 4, when display is set).  0, or -1 with a static error text for BAD. */
int imap_sort_parse(const struct imap_arg *args, size_t count, bool display,
		    struct imap_sort_program *p, const char **error_r);
/* thread = "THREAD" SP thread-alg SP search-criteria. */
int imap_thread_parse(const struct imap_arg *args, size_t count, struct imap_sort_program *p,
		      const char **error_r);
void imap_sort_program_clear(struct imap_sort_program *p);

/* ---- imap_sort_subject.c ---- */

/* RFC 5256 2.1: the base subject of a Subject value (raw: folds and RFC
 * 2047 words as sent), appended to out.  *reply_r (may be NULL) tells
 * whether a subj-refwd, a "(fwd)" trailer or a [fwd: ...] was removed.
 * 0, or -1 when out of memory. */
int imap_sort_base_subject(const char *value, size_t len, struct buf *out, bool *reply_r);
/* i;ascii-casemap (RFC 4790 9.2): a-z to A-Z in s[0..len), in place, so
 * that keys compare as octets. */
void imap_sort_casemap(char *s, size_t len);

/* ---- imap_sort_keys.c ---- */

/* A pool starts with the empty string (IMAP_SORT_EMPTY). */
int imap_sort_pool_init(struct buf *pool);

/* Fills the keys `want` asks for from the header block hdr[0..len) into m
 * (seq, num, arrival and size are the caller's; date starts as arrival).
 * scratch is working space.  0, or -1 when out of memory or past 4 GiB. */
int imap_sort_msg_fill(struct imap_sort_msg *m, unsigned want, const char *hdr, size_t len,
		       struct buf *pool, struct buf *scratch);

/* RFC 5322 3.3 date-time (with 4.3's obsolete forms) to UTC seconds (RFC
 * 5256 2.2: a bad zone counts as UTC, a bad time as 00:00:00).  0, or -1
 * when there is no date to be found. */
int imap_sort_date_parse(const char *s, size_t len, int64_t *t_r);

/* The next msg-id in s[*pos..len) from *pos on (RFC 5322 3.6.4, leniently:
 * comments and quoting dropped, so <"a"@b> and <a@b> are one id, RFC 5256
 * 3), as "left@right" appended to out.  1 with an id, 0 when none is left. */
int imap_sort_msgid_next(const char *s, size_t len, size_t *pos, struct buf *out);

/* Orders two messages by the program: <0, 0 (only for the same message),
 * >0.  Ties go to the sequence number (RFC 5256 3 "implicit sort
 * criterion"), which REVERSE does not turn. */
int imap_sort_compare(const struct imap_sort_msg *a, const struct imap_sort_msg *b,
		      const struct imap_sort_crit *crit, size_t ncrit, const char *pool);

/* Stable merge sort of n messages by the program.  0, or -1 on memory. */
int imap_sort_run(struct imap_sort_msg *msgs, size_t n, const struct imap_sort_crit *crit,
		  size_t ncrit, const char *pool);

/* ---- imap_thread.c ---- */

/* Threads msgs[0..n) (in mailbox order; needs SUBJECT, DATE and for
 * REFERENCES also REFS data) and appends the thread-lists of the THREAD
 * response (RFC 5256 4, without "* THREAD") to out.  Iterative
 * throughout, so a chain of 100,000 replies is no deeper on the stack than
 * one.  0, or -1 when out of memory. */
int imap_thread_run(enum imap_thread_alg alg, const struct imap_sort_msg *msgs, size_t n,
		    const char *pool, struct buf *out);

#endif
