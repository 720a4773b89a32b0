/* imap/imap_parse.h: the pure IMAP command parser (imap_parse_lib).
 *
 * Three layers, none of which does I/O:
 *  1. A command reader (imap_parse.c).  The session hands it input lines
 *     (CRLF removed) and the raw bytes of literals; it answers DONE (a whole
 *     command is ready), NEED_LINE, NEED_LITERAL (read n raw bytes, after a
 *     "+" continuation if the literal is synchronizing) or ERROR (with the
 *     text, whether the tag is known, [TOOBIG], and how to resynchronise).
 *  2. The command it produces: tag, upper-cased name (a "UID" prefix is
 *     folded into a flag) and a generic argument tree (struct imap_arg).
 *  3. Typed parsers over those arguments (sequence sets, FETCH, STORE,
 *     SEARCH, APPEND, LIST, STATUS, SELECT, ...), each returning 0 or -1
 *     with a precise static error text for the BAD response.  Error texts
 *     never echo client bytes, so they are always safe to send.
 * Plus small pure helpers: dates, mailbox names (INBOX, modified UTF-7,
 * UTF-8) and the response-side string quoting (imap_write_*).
 *
 * Grammar: RFC 3501 9 and RFC 9051 9, with RFC 4466 (extended ABNF),
 * RFC 7888 (LITERAL+/LITERAL-), RFC 3516 (BINARY), RFC 3502 (MULTIAPPEND),
 * RFC 5182 (SEARCHRES), RFC 4731 (ESEARCH), RFC 5258/5819/6154 (LIST),
 * RFC 7162 (CONDSTORE/QRESYNC), RFC 2971 (ID), RFC 4959 (SASL-IR),
 * RFC 5161 (ENABLE), RFC 6855 (UTF8=ACCEPT), RFC 5032 (WITHIN), RFC 6154 3
 * (CREATE-SPECIAL-USE), RFC 8514 (SAVEDATE), RFC 8474 (OBJECTID), RFC 8508
 * (REPLACE), RFC 8970 (PREVIEW), RFC 5464 (METADATA).
 *
 * Lifetime: strings produced by the typed parsers (struct imap_string,
 * search texts, header names...) point into the struct imap_command they
 * were parsed from and are valid until imap_command_free(). */
#ifndef POSTINO_IMAP_PARSE_H
#define POSTINO_IMAP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct buf;

/* ------------------------------------------------------------------ */
/* 1. The command reader                                               */

/* What a non-synchronizing literal ({n+}, RFC 7888) may be. */
enum imap_nonsync_mode {
	IMAP_NONSYNC_NONE,   /* neither LITERAL+ nor LITERAL- advertised */
	IMAP_NONSYNC_MINUS,  /* LITERAL- / IMAP4rev2: at most 4096 octets (RFC 7888 5) */
	IMAP_NONSYNC_PLUS,   /* LITERAL+: any size up to the limits */
};

#define IMAP_LITERAL_MINUS_MAX 4096

struct imap_parse_limits {
	size_t max_line;         /* one line, CRLF excluded (RFC 2683 3.2.1.5: >= 8000) */
	size_t max_literal;      /* one literal, except APPEND message data */
	size_t max_append;       /* one APPEND message literal (APPENDLIMIT); 0: no
	                          * message data at all (before login), refused
	                          * at its announcement, before any is read */
	size_t max_append_total; /* all message literals of one APPEND (MULTIAPPEND) */
	size_t max_command;      /* a whole command: lines + literals, message data excluded */
	size_t max_depth;        /* nesting of ( ) and BODY[ ] */
	size_t max_tokens;       /* arguments in one command, lists included */
	size_t max_discard;      /* largest unwanted {n+} literal read and dropped
	                          * rather than closing the connection (RFC 7888 4) */
	size_t max_metadata_value; /* a SETMETADATA value literal (RFC 5464 4.3); a
	                          * larger one is refused at its announcement with
	                          * metadata_maxsize, not read into memory; 0: no
	                          * such rule (before login), the literal limits apply */
	enum imap_nonsync_mode nonsync;
	bool literal8;           /* BINARY advertised: ~{n} accepted (RFC 3516 4.4) */
};

/* Fill in the defaults (64 KiB lines and literals, 256 KiB commands,
 * 64 MiB messages, LITERAL- and BINARY on). */
void imap_parse_limits_default(struct imap_parse_limits *lim);

enum imap_parse_status {
	IMAP_PARSE_DONE,         /* a command is ready: imap_parser_take() */
	IMAP_PARSE_NEED_LINE,    /* nothing to do; feed the next line */
	IMAP_PARSE_NEED_LITERAL, /* see imap_parser_literal() */
	IMAP_PARSE_ERROR,        /* see imap_parser_error() */
};

/* Returned with IMAP_PARSE_NEED_LITERAL.  If `sync`, send a "+"
 * continuation first (RFC 3501 7.5); then read `size` raw bytes and pass
 * them, in as many chunks as convenient, to imap_parser_feed_literal().
 * A zero-size literal is already complete: after the "+" (if sync), simply
 * wait for the next line.  `discard` means the bytes belong to a command
 * that was already rejected: read and feed them, they are dropped. */
struct imap_literal_info {
	uint64_t size;
	bool sync;
	bool literal8;
	bool discard;
};

/* How the connection resynchronises after an error. */
enum imap_parse_recovery {
	IMAP_RECOVER_NONE,    /* the command is over; the next line is a new command */
	IMAP_RECOVER_DISCARD, /* the client still sends the rest of the rejected
	                       * command (a {n+} literal of `discard` bytes and/or
	                       * further lines): keep feeding, the parser drops it */
	IMAP_RECOVER_CLOSE,   /* too much unwanted data: send "* BYE" and close */
};

struct imap_parse_error {
	const char *msg;          /* static, safe to send after "BAD " */
	bool tag_known;           /* reply "TAG BAD ...", else "* BAD ..." */
	const char *tag;          /* valid until the next feed call */
	size_t tag_len;
	bool toobig;              /* a size limit was exceeded: add [TOOBIG] (RFC 7888 5, RFC 4469) */
	bool limit;               /* any limit (also arguments, nesting): [LIMIT] (RFC 5530 3) */
	enum imap_parse_recovery recovery;
	uint64_t discard;         /* literal bytes the client will send anyway */
	/* Not 0: the command is valid, but a SETMETADATA value is larger than
	 * this, the largest the server takes: reply "NO [METADATA MAXSIZE n]"
	 * (RFC 5464 4.3), not BAD.  For a {n+} value the error comes when the
	 * client has sent the whole command, which the parser drops. */
	uint64_t metadata_maxsize;
};

enum imap_arg_type {
	IMAP_ARG_ATOM,     /* a bare word: atom, sequence set, flag, list-mailbox... */
	IMAP_ARG_NUMBER,   /* a bare word of digits that fits in 64 bits */
	IMAP_ARG_NIL,      /* the bare word NIL (any case) */
	IMAP_ARG_QUOTED,   /* "..." with \" and \\ already unescaped */
	IMAP_ARG_LITERAL,  /* {n} or {n+}; never contains NUL */
	IMAP_ARG_LITERAL8, /* ~{n} or ~{n+} (RFC 3516); may contain NUL */
	IMAP_ARG_LIST,     /* ( ... ) */
	IMAP_ARG_SECTION,  /* FETCH only: BODY[...]<p>, BODY.PEEK, BINARY, BINARY.PEEK,
	                    * BINARY.SIZE (elsewhere brackets are atom chars) */
};

struct imap_arg {
	enum imap_arg_type type;
	/* The bytes, NUL-terminated after `len` (the terminator is not part of
	 * the value).  SECTION: the word before '[' ("BODY.PEEK").  LIST: "". */
	const char *str;
	size_t len;
	uint64_t num;                  /* NUMBER */
	const struct imap_arg *list;   /* LIST: items; SECTION: what is inside [ ] */
	size_t count;
	const char *partial;           /* SECTION: text between '<' and '>', or NULL */
	size_t partial_len;
	bool eightbit;                 /* QUOTED/LITERAL: contains octets >= 0x80 */
};

struct imap_command {
	const char *tag;
	size_t tag_len;
	const char *name;              /* upper-cased: "FETCH", not "UID" */
	bool uid;                      /* "UID FETCH ..." (RFC 3501 6.4.8) */
	const struct imap_arg *args;   /* what follows the name */
	size_t nargs;
	size_t size;                   /* octets received for this command */
	/* private */
	struct imap_arg *nodes_;
	char *arena_;
	char **lits_;
	size_t nlits_;
};

/* How a session drives the reader (core hands it lines and raw runs):
 *
 *   on_line(line, len):
 *     switch (imap_parser_feed_line(p, line, len)) {
 *     case IMAP_PARSE_DONE:     cmd = imap_parser_take(p); dispatch(cmd); break;
 *     case IMAP_PARSE_NEED_LINE: break;
 *     case IMAP_PARSE_NEED_LITERAL:
 *       li = imap_parser_literal(p);
 *       if (li->sync && !li->discard) write "+ Ready for literal data";
 *       if (li->size) conn_read_raw(c, li->size);
 *       break;
 *     case IMAP_PARSE_ERROR:
 *       e = imap_parser_error(p);
 *       write (e->tag_known ? tag : "*") " BAD " (e->toobig ? "[TOOBIG] " : "") e->msg;
 *       if (e->recovery == IMAP_RECOVER_CLOSE) { write "* BYE ..."; close; }
 *       else if (e->discard) conn_read_raw(c, e->discard);
 *     }
 *   on_raw(data, len, last):
 *     st = imap_parser_feed_literal(p, data, len, NULL);
 *     (ERROR: as above; NEED_LINE: lines resume; NEED_LITERAL: more to come)
 *
 * An empty line between commands is ignored (NEED_LINE).  Lines that are
 * not commands (AUTHENTICATE responses, IDLE's DONE) are the session's
 * business and must not be fed here.  When core drops an over-long line
 * (on_line_too_long), answer "* BAD" and call imap_parser_reset(). */

struct imap_parser;

/* NULL on allocation failure.  The limits are copied. */
struct imap_parser *imap_parser_new(const struct imap_parse_limits *lim);
void imap_parser_free(struct imap_parser **p);
/* New size limits (the session's state changed: core/session_limits.h); between
 * commands.  max_depth and max_tokens keep their values from creation. */
void imap_parser_set_limits(struct imap_parser *p, const struct imap_parse_limits *lim);
/* One input line without its CRLF (it may contain NUL bytes: they are an
 * error).  A line is never split: lines are the unit the session reads. */
enum imap_parse_status imap_parser_feed_line(struct imap_parser *p, const char *line, size_t len);
/* Literal bytes.  At most the announced remainder is consumed; *consumed_r
 * (may be NULL) says how much.  Returns NEED_LITERAL while bytes are still
 * owed, NEED_LINE once the literal is complete (the command goes on in the
 * next line), or ERROR. */
enum imap_parse_status imap_parser_feed_literal(struct imap_parser *p, const void *data, size_t len,
                                                size_t *consumed_r);
const struct imap_literal_info *imap_parser_literal(const struct imap_parser *p);
/* The tag a line too long for core's reader belongs to (for its BAD):
 * the command under way, when the line continues one after a literal, or
 * else the tag at the start of head, the line's first octets.  The tag
 * stays valid until the next call on p.  false when there is none. */
bool imap_parser_line_tag(const struct imap_parser *p, const char *head, size_t len,
			  const char **tag_r, size_t *len_r);
/* After NEED_LITERAL, before any of its bytes: the session cannot take
 * this literal now (memory budget).  Returns ERROR; the error has the tag
 * and `msg`, and for a {n+} literal recovery DISCARD with the bytes still
 * coming (whatever max_discard says: dropping costs no memory). */
enum imap_parse_status imap_parser_literal_refuse(struct imap_parser *p, const char *msg);
const struct imap_parse_error *imap_parser_error(const struct imap_parser *p);
/* After DONE: the command, now owned by the caller.  NULL otherwise. */
struct imap_command *imap_parser_take(struct imap_parser *p);
/* Forget any partial command (e.g. after core dropped an over-long line,
 * or STARTTLS); the next line starts a new command. */
void imap_parser_reset(struct imap_parser *p);
void imap_command_free(struct imap_command **cmd);

/* ------------------------------------------------------------------ */
/* 2. Argument helpers                                                  */

struct imap_string {
	const char *s;   /* NUL-terminated after len; NULL for NIL where allowed */
	size_t len;
};

/* atom (ASTRING-CHARs), quoted or literal; NUMBER and NIL count as atoms. */
int imap_arg_astring(const struct imap_arg *a, struct imap_string *out_r, const char **error_r);
/* quoted or literal only. */
int imap_arg_string(const struct imap_arg *a, struct imap_string *out_r, const char **error_r);
/* string or NIL (out->s = NULL). */
int imap_arg_nstring(const struct imap_arg *a, struct imap_string *out_r, const char **error_r);
/* A strict RFC 3501 atom (no wildcards, '\\', ']'...). */
int imap_arg_atom(const struct imap_arg *a, struct imap_string *out_r, const char **error_r);
/* number (1*DIGIT) not above max; nz additionally refuses 0. */
int imap_arg_number(const struct imap_arg *a, uint64_t max, bool nz, uint64_t *v_r, const char **error_r);
/* mailbox = "INBOX" / astring: any case of INBOX becomes "INBOX". */
int imap_arg_mailbox(const struct imap_arg *a, struct imap_string *out_r, const char **error_r);
/* list-mailbox = 1*list-char / string (wildcards allowed). */
int imap_arg_list_mailbox(const struct imap_arg *a, struct imap_string *out_r, const char **error_r);
/* Case-insensitive comparison of a bare word with an upper-case keyword. */
bool imap_arg_is_word(const struct imap_arg *a, const char *upper);

/* ------------------------------------------------------------------ */
/* 3. Sequence sets (RFC 3501 9 sequence-set, RFC 5182 "$")             */

#define IMAP_SEQ_STAR 0u          /* "*" inside a range (0 is never a valid number) */

struct imap_seq_range {
	uint32_t lo, hi;          /* lo <= hi unless one is IMAP_SEQ_STAR */
};

struct imap_seqset {
	bool saved;               /* "$": the saved SEARCH result (no ranges) */
	bool star;                /* some range uses "*" */
	size_t count;
	struct imap_seq_range *ranges;   /* as given, reversed ranges normalised */
};

enum imap_seq_flags {
	IMAP_SEQ_ALLOW_SAVED = 1 << 0,   /* "$" allowed (SEARCHRES) */
	IMAP_SEQ_NO_STAR = 1 << 1,       /* "*" refused (QRESYNC known-uids) */
};

int imap_seqset_parse(const char *s, size_t len, unsigned flags, struct imap_seqset **set_r,
                      const char **error_r);
/* From an argument (ATOM or NUMBER). */
int imap_arg_seqset(const struct imap_arg *a, unsigned flags, struct imap_seqset **set_r,
                    const char **error_r);
void imap_seqset_free(struct imap_seqset **set);
/* `star` is the value of "*" (messages in the mailbox, or the highest UID;
 * 0 for an empty mailbox, where "*" then matches nothing).  A saved set
 * ("$") contains nothing: the session substitutes its saved result. */
bool imap_seqset_contains(const struct imap_seqset *set, uint32_t n, uint32_t star);
/* Largest explicit number (ignoring "*"), so the session can refuse a
 * message number beyond the mailbox (RFC 3501 9 seq-number). */
uint32_t imap_seqset_highest(const struct imap_seqset *set);
/* A sorted, merged copy with "*" resolved: iterate its ranges in order to
 * visit each number once in ascending order.  Memory is O(ranges). */
int imap_seqset_normalize(const struct imap_seqset *set, uint32_t star, struct imap_seqset **out_r);

struct imap_seq_iter {
	const struct imap_seqset *set;   /* normalised */
	size_t i;
	uint64_t next;
};
void imap_seq_iter_init(struct imap_seq_iter *it, const struct imap_seqset *normalized);
bool imap_seq_iter_next(struct imap_seq_iter *it, uint32_t *n_r);

/* ------------------------------------------------------------------ */
/* 4. Dates                                                             */

struct imap_date {
	int year, month, day;     /* 1-9999, 1-12, 1-31 */
};

/* date-text "d-Mon-yyyy" (1 or 2 digit day, English month any case),
 * checked against the month's length and leap years. */
int imap_date_parse(const char *s, size_t len, struct imap_date *d_r, const char **error_r);
/* date = date-text / DQUOTE date-text DQUOTE (SEARCH). */
int imap_arg_date(const struct imap_arg *a, struct imap_date *d_r, const char **error_r);
/* 00:00:00 UTC of that day. */
time_t imap_date_to_time(const struct imap_date *d);
/* date-time "dd-Mon-yyyy hh:mm:ss +zzzz" (quotes removed) to UTC; the zone
 * in minutes east of UTC is returned too (RFC 3501 9 zone). */
int imap_datetime_parse(const char *s, size_t len, time_t *t_r, int *zone_r, const char **error_r);

/* ------------------------------------------------------------------ */
/* 5. Flags (flag-list, STORE, APPEND)                                  */

enum imap_sysflag {
	IMAP_FLAG_SEEN = 1 << 0,
	IMAP_FLAG_ANSWERED = 1 << 1,
	IMAP_FLAG_FLAGGED = 1 << 2,
	IMAP_FLAG_DELETED = 1 << 3,
	IMAP_FLAG_DRAFT = 1 << 4,
};

struct imap_flags {
	unsigned sys;                     /* enum imap_sysflag */
	struct imap_string *keywords;     /* atoms, case-insensitively unique */
	size_t nkeywords;
};

/* Keywords in one flag list; beyond it "Too many keywords" (a flag list is
 * deduplicated, and a mailbox holds few keywords anyway). */
#define IMAP_FLAGS_MAX_KEYWORDS 256

/* Either one LIST argument, a flag-list "(" [flag *(SP flag)] ")" (may be
 * empty), or count >= 1 bare flags (STORE's "flag *(SP flag)" form).
 * \Recent and unknown \flags are refused; keywords must be atoms. */
int imap_flags_parse(const struct imap_arg *args, size_t count, struct imap_flags *out_r,
                     const char **error_r);
void imap_flags_clear(struct imap_flags *f);

/* ------------------------------------------------------------------ */
/* 6. FETCH (RFC 3501 6.4.5, RFC 9051 6.4.5, RFC 3516, RFC 7162)        */

enum imap_fetch_item {
	IMAP_FETCH_FLAGS,
	IMAP_FETCH_INTERNALDATE,
	IMAP_FETCH_RFC822_SIZE,
	IMAP_FETCH_ENVELOPE,
	IMAP_FETCH_BODY,           /* non-extensible BODYSTRUCTURE */
	IMAP_FETCH_BODYSTRUCTURE,
	IMAP_FETCH_UID,
	IMAP_FETCH_RFC822,
	IMAP_FETCH_RFC822_HEADER,
	IMAP_FETCH_RFC822_TEXT,
	IMAP_FETCH_MODSEQ,
	IMAP_FETCH_BODY_SECTION,   /* BODY[...] / BODY.PEEK[...] */
	IMAP_FETCH_BINARY,         /* BINARY[...] / BINARY.PEEK[...] */
	IMAP_FETCH_BINARY_SIZE,
	IMAP_FETCH_SAVEDATE,       /* RFC 8514 4.2 */
	IMAP_FETCH_EMAILID,        /* RFC 8474 5.3 */
	IMAP_FETCH_THREADID,
	IMAP_FETCH_PREVIEW,        /* RFC 8970 */
	IMAP_FETCH_ITEM_COUNT
};

enum imap_section_text {
	IMAP_SECTION_NONE,           /* BODY[] or BODY[1.2] */
	IMAP_SECTION_HEADER,
	IMAP_SECTION_HEADER_FIELDS,
	IMAP_SECTION_HEADER_FIELDS_NOT,
	IMAP_SECTION_TEXT,
	IMAP_SECTION_MIME,           /* only after a part number */
};

struct imap_section {
	uint32_t *parts;             /* 1.2.3: each > 0 */
	size_t nparts;
	enum imap_section_text text;
	struct imap_string *fields;  /* HEADER.FIELDS[.NOT] names */
	size_t nfields;
};

struct imap_fetch_att {
	enum imap_fetch_item item;
	bool peek;                   /* BODY.PEEK / BINARY.PEEK: do not set \Seen */
	struct imap_section section;
	bool partial;                /* <offset.count> */
	uint64_t offset, count;
	bool lazy;                   /* PREVIEW (LAZY) (RFC 8970 3.2) */
};

struct imap_fetch {
	struct imap_seqset *set;
	struct imap_fetch_att *atts;
	size_t natts;
	uint32_t items;              /* 1u << enum imap_fetch_item, for quick tests */
	bool changedsince;           /* (CHANGEDSINCE n) RFC 7162 3.1.4.1: MODSEQ is then
	                              * returned even if not asked for */
	uint64_t changedsince_modseq;
	bool vanished;               /* (VANISHED) RFC 7162 3.2.6: UID FETCH only */
};

/* FETCH arguments: sequence-set SP (macro / att / "(" att... ")") [modifiers].
 * PREVIEW may be followed by its own list of modifiers, "(LAZY)"; alone
 * (not in a list) that list is taken as PREVIEW's when it holds only
 * preview modifiers. */
int imap_fetch_parse(const struct imap_arg *args, size_t count, bool uid, struct imap_fetch **fetch_r,
                     const char **error_r);
void imap_fetch_free(struct imap_fetch **fetch);
/* One fetch-att (not a macro). */
int imap_fetch_att_parse(const struct imap_arg *a, struct imap_fetch_att *att_r, const char **error_r);
void imap_fetch_att_clear(struct imap_fetch_att *att);
/* The name as the response gives it: "BODY[1.HEADER.FIELDS (From)]<0>",
 * "BINARY.SIZE[2]", "RFC822.SIZE" (PEEK dropped; only the partial offset,
 * RFC 3501 7.4.2). */
int imap_fetch_att_write_name(struct buf *out, const struct imap_fetch_att *att);

/* ------------------------------------------------------------------ */
/* 7. STORE (RFC 3501 6.4.6, RFC 7162 3.1.3)                            */

enum imap_store_op {
	IMAP_STORE_SET,      /* FLAGS */
	IMAP_STORE_ADD,      /* +FLAGS */
	IMAP_STORE_REMOVE,   /* -FLAGS */
};

struct imap_store {
	struct imap_seqset *set;
	enum imap_store_op op;
	bool silent;
	struct imap_flags flags;
	bool unchangedsince;
	uint64_t unchangedsince_modseq;
};

int imap_store_parse(const struct imap_arg *args, size_t count, struct imap_store **store_r,
                     const char **error_r);
void imap_store_free(struct imap_store **store);

/* ------------------------------------------------------------------ */
/* 8. SEARCH (RFC 3501 6.4.4, RFC 9051 6.4.4, RFC 4731, RFC 5182, RFC 7162) */

enum imap_search_type {
	IMAP_SK_AND,        /* children: the program, or ( ... ) */
	IMAP_SK_OR,         /* 2 children */
	IMAP_SK_NOT,        /* 1 child */
	IMAP_SK_ALL,
	IMAP_SK_ANSWERED, IMAP_SK_DELETED, IMAP_SK_DRAFT, IMAP_SK_FLAGGED,
	IMAP_SK_NEW, IMAP_SK_OLD, IMAP_SK_RECENT, IMAP_SK_SEEN,
	IMAP_SK_UNANSWERED, IMAP_SK_UNDELETED, IMAP_SK_UNDRAFT, IMAP_SK_UNFLAGGED,
	IMAP_SK_UNSEEN,
	IMAP_SK_KEYWORD, IMAP_SK_UNKEYWORD,           /* str: the keyword */
	IMAP_SK_BCC, IMAP_SK_BODY, IMAP_SK_CC, IMAP_SK_FROM,
	IMAP_SK_SUBJECT, IMAP_SK_TEXT, IMAP_SK_TO,    /* str: the text */
	IMAP_SK_HEADER,                               /* str: field, str2: text */
	IMAP_SK_BEFORE, IMAP_SK_ON, IMAP_SK_SINCE,    /* date: internal date */
	IMAP_SK_SENTBEFORE, IMAP_SK_SENTON, IMAP_SK_SENTSINCE,  /* date: Date: header */
	IMAP_SK_LARGER, IMAP_SK_SMALLER,              /* num */
	IMAP_SK_UID,                                  /* set */
	IMAP_SK_SEQSET,                               /* set */
	IMAP_SK_MODSEQ,                               /* num; str = entry name or NULL */
	IMAP_SK_OLDER, IMAP_SK_YOUNGER,               /* num: seconds (RFC 5032 WITHIN) */
	IMAP_SK_SAVEDBEFORE, IMAP_SK_SAVEDON, IMAP_SK_SAVEDSINCE,  /* date: save date
	                                              * (RFC 8514 4.3) */
	IMAP_SK_SAVEDATESUPPORTED,
	IMAP_SK_EMAILID, IMAP_SK_THREADID,            /* str: objectid (RFC 8474 6) */
};

enum imap_modseq_entry {
	IMAP_MODSEQ_ENTRY_NONE,
	IMAP_MODSEQ_ENTRY_PRIV,
	IMAP_MODSEQ_ENTRY_SHARED,
	IMAP_MODSEQ_ENTRY_ALL,
};

struct imap_search_key {
	enum imap_search_type type;
	struct imap_string str, str2;
	struct imap_date date;
	uint64_t num;
	enum imap_modseq_entry entry_type;
	struct imap_seqset *set;
	struct imap_search_key *children;
	size_t count;
};

enum imap_search_return {
	IMAP_SEARCH_RET_MIN = 1 << 0,
	IMAP_SEARCH_RET_MAX = 1 << 1,
	IMAP_SEARCH_RET_ALL = 1 << 2,
	IMAP_SEARCH_RET_COUNT = 1 << 3,
	IMAP_SEARCH_RET_SAVE = 1 << 4,
	/* RFC 5267 4: CONTEXT=SEARCH and CONTEXT=SORT. */
	IMAP_SEARCH_RET_CONTEXT = 1 << 5,
	IMAP_SEARCH_RET_UPDATE = 1 << 6,
	IMAP_SEARCH_RET_PARTIAL = 1 << 7,
};

/* RFC 5267 4.4 "PARTIAL" SP partial-range, from the option that follows
 * PARTIAL in a RETURN list: lo <= hi, both nonzero. */
int imap_partial_parse(const struct imap_arg *a, uint32_t *lo_r, uint32_t *hi_r,
		       const char **error_r);

/* NOT/OR/( ) nesting beyond this is refused (each level recurses). */
#define IMAP_SEARCH_MAX_DEPTH 256

struct imap_search {
	bool has_return;             /* RETURN (...) given: answer with ESEARCH */
	unsigned ret;                /* enum imap_search_return; RETURN () = ALL */
	uint32_t partial_lo, partial_hi; /* IMAP_SEARCH_RET_PARTIAL */
	struct imap_string charset;  /* s == NULL when absent */
	struct imap_search_key root; /* IMAP_SK_AND of the keys */
	bool uses_saved;             /* some set is "$" */
};

/* SEARCH arguments: [RETURN (...)] [CHARSET x] 1*search-key. */
int imap_search_parse(const struct imap_arg *args, size_t count, struct imap_search **search_r,
                      const char **error_r);
/* Only 1*search-key, into an AND node (for SORT/THREAD later). */
int imap_search_keys_parse(const struct imap_arg *args, size_t count, struct imap_search_key *root_r,
                           const char **error_r);
void imap_search_key_clear(struct imap_search_key *key);
void imap_search_free(struct imap_search **search);

/* ------------------------------------------------------------------ */
/* 9. Mailbox commands                                                  */

/* One part of a CATENATE list (RFC 4469 5): "TEXT" literal (literal8 when
 * BINARY is announced, RFC 4469 4) or "URL" astring. */
struct imap_cat_part {
	bool url;
	const char *data;            /* the literal, or the URL text */
	size_t len;
	bool literal8;
};

struct imap_append_msg {
	struct imap_flags flags;
	bool has_date;
	time_t date;
	int zone;                    /* minutes east of UTC, as given */
	const char *data;            /* the message */
	size_t len;
	bool binary;                 /* sent as literal8 (RFC 3516 4.4) */
	bool utf8;                   /* UTF8 (literal8) (RFC 6855 4) */
	/* CATENATE (RFC 4469): the parts; data/len stay NULL/0 until
	 * imap_cmd_catenate.c has put the message together. */
	struct imap_cat_part *cat;
	size_t ncat;
};

struct imap_append {
	struct imap_string mailbox;
	struct imap_append_msg *msgs;  /* more than one: MULTIAPPEND (RFC 3502) */
	size_t nmsgs;
};

int imap_append_parse(const struct imap_arg *args, size_t count, struct imap_append **append_r,
                      const char **error_r);
void imap_append_free(struct imap_append **append);

/* [UID] REPLACE seq-number SP mailbox append-message (RFC 8508 5): one
 * message, with APPEND's options (flags, date, literal8, UTF8). */
struct imap_replace {
	bool star;                   /* "*": the last message / highest UID */
	uint32_t number;             /* sequence number or UID, unless star */
	struct imap_string mailbox;
	struct imap_append_msg msg;
};
int imap_replace_parse(const struct imap_arg *args, size_t count, struct imap_replace *replace_r,
                       const char **error_r);
void imap_replace_clear(struct imap_replace *replace);

enum imap_status_item {
	IMAP_STATUS_MESSAGES = 1 << 0,
	IMAP_STATUS_UIDNEXT = 1 << 1,
	IMAP_STATUS_UIDVALIDITY = 1 << 2,
	IMAP_STATUS_UNSEEN = 1 << 3,
	IMAP_STATUS_RECENT = 1 << 4,
	IMAP_STATUS_SIZE = 1 << 5,          /* RFC 8438 */
	IMAP_STATUS_HIGHESTMODSEQ = 1 << 6, /* RFC 7162 */
	IMAP_STATUS_DELETED = 1 << 7,       /* RFC 9051 */
	IMAP_STATUS_APPENDLIMIT = 1 << 8,   /* RFC 7889 */
	IMAP_STATUS_MAILBOXID = 1 << 9,     /* RFC 8474 4.3 */
};

/* "(" status-att *(SP status-att) ")" into a bit set. */
int imap_status_items_parse(const struct imap_arg *list, unsigned *items_r, const char **error_r);
/* STATUS mailbox (items) */
int imap_status_parse(const struct imap_arg *args, size_t count, struct imap_string *mailbox_r,
                      unsigned *items_r, const char **error_r);

enum imap_list_select {
	IMAP_LIST_SEL_SUBSCRIBED = 1 << 0,
	IMAP_LIST_SEL_REMOTE = 1 << 1,
	IMAP_LIST_SEL_RECURSIVEMATCH = 1 << 2,
	IMAP_LIST_SEL_SPECIAL_USE = 1 << 3,   /* RFC 6154 */
};

enum imap_list_return {
	IMAP_LIST_RET_SUBSCRIBED = 1 << 0,
	IMAP_LIST_RET_CHILDREN = 1 << 1,
	IMAP_LIST_RET_SPECIAL_USE = 1 << 2,
	IMAP_LIST_RET_STATUS = 1 << 3,        /* RFC 5819 */
};

struct imap_list {
	bool extended;               /* selection options, pattern list or RETURN used */
	unsigned select;             /* enum imap_list_select */
	unsigned ret;                /* enum imap_list_return */
	unsigned status_items;       /* with IMAP_LIST_RET_STATUS */
	struct imap_string reference;
	struct imap_string *patterns;
	size_t npatterns;
};

/* LIST (RFC 5258 6) when `lsub` is false; LSUB otherwise (no extensions). */
int imap_list_parse(const struct imap_arg *args, size_t count, bool lsub, struct imap_list **list_r,
                    const char **error_r);
void imap_list_free(struct imap_list **list);

struct imap_select {
	struct imap_string mailbox;
	bool condstore;
	bool qresync;                /* RFC 7162 3.2.5 */
	uint32_t uidvalidity;
	uint64_t modseq;
	struct imap_seqset *known_uids;      /* optional, no "*" */
	struct imap_seqset *known_seqs;      /* optional seq-match-data */
	struct imap_seqset *known_seq_uids;
};

/* SELECT / EXAMINE mailbox [(CONDSTORE) / (QRESYNC (...))]. */
int imap_select_parse(const struct imap_arg *args, size_t count, struct imap_select **select_r,
                      const char **error_r);
void imap_select_free(struct imap_select **select);

/* RFC 6154 2, 6: use-attr.  OTHER is any other "\" atom (use-attr-ext). */
enum imap_use_attr {
	IMAP_USE_ALL = 1 << 0,
	IMAP_USE_ARCHIVE = 1 << 1,
	IMAP_USE_DRAFTS = 1 << 2,
	IMAP_USE_FLAGGED = 1 << 3,
	IMAP_USE_JUNK = 1 << 4,
	IMAP_USE_SENT = 1 << 5,
	IMAP_USE_TRASH = 1 << 6,
	IMAP_USE_OTHER = 1 << 7,
};

/* CREATE mailbox [SP "(" create-param *(SP create-param) ")"] (RFC 4466
 * 2.2); the one parameter known is USE (RFC 6154 3, CREATE-SPECIAL-USE):
 * "USE" SP "(" [use-attr *(SP use-attr)] ")".  The mailbox is the first
 * argument, for the session to decode. */
struct imap_create {
	const struct imap_arg *mailbox;
	bool has_use;
	unsigned use;                /* enum imap_use_attr */
};
int imap_create_parse(const struct imap_arg *args, size_t count, struct imap_create *create_r,
                      const char **error_r);

/* COPY / MOVE sequence-set mailbox. */
int imap_copy_parse(const struct imap_arg *args, size_t count, struct imap_seqset **set_r,
                    struct imap_string *mailbox_r, const char **error_r);

/* ENABLE 1*(SP capability): caps points into an allocated array. */
int imap_enable_parse(const struct imap_arg *args, size_t count, struct imap_string **caps_r,
                      size_t *ncaps_r, const char **error_r);

/* ID NIL / "(" *(string SP nstring) ")" (RFC 2971 3.1, 3.3 limits).
 * Values that are NIL have s == NULL.  An ID NIL gives npairs == 0. */
struct imap_id {
	struct imap_string *fields, *values;
	size_t npairs;
};
int imap_id_parse(const struct imap_arg *args, size_t count, struct imap_id *id_r, const char **error_r);
void imap_id_clear(struct imap_id *id);

/* AUTHENTICATE mechanism [SP initial-response] (RFC 9051 6.2.2, RFC 4959).
 * The response is checked base64 text; "=" means an empty response. */
struct imap_authenticate {
	struct imap_string mech;
	bool has_ir;
	struct imap_string ir;       /* base64 text, len 0 for "=" */
};
int imap_authenticate_parse(const struct imap_arg *args, size_t count, struct imap_authenticate *auth_r,
                            const char **error_r);
/* base64 (RFC 9051 9): *(4base64-char) [base64-terminal]. */
bool imap_base64_valid(const char *s, size_t len);

/* LOGIN userid password */
int imap_login_parse(const struct imap_arg *args, size_t count, struct imap_string *user_r,
                     struct imap_string *pass_r, const char **error_r);

/* ------------------------------------------------------------------ */
/* 10. Mailbox names                                                    */

bool imap_mailbox_is_inbox(const char *name, size_t len);
/* Copy a name into out, upper-casing "INBOX" and, when sep != 0, an
 * "INBOX<sep>" prefix (RFC 3501 5.1: INBOX is case-insensitive). */
int imap_mailbox_normalize(struct buf *out, const char *name, size_t len, char sep);
/* RFC 3629 UTF-8: no overlongs, surrogates or values above U+10FFFF. */
bool imap_utf8_valid(const char *s, size_t len);
/* Modified UTF-7 (RFC 3501 5.1.3) to UTF-8, refusing every non-canonical
 * form so that each name has exactly one spelling. */
int imap_mutf7_decode(struct buf *out, const char *s, size_t len, const char **error_r);
/* UTF-8 to modified UTF-7; -1 if s is not valid UTF-8. */
int imap_mutf7_encode(struct buf *out, const char *s, size_t len);
/* A client's mailbox name to UTF-8 for storage: with UTF8=ACCEPT enabled
 * (RFC 6855 3, RFC 9051 5.1) the name must be UTF-8 without control
 * characters; otherwise it must be 7-bit modified UTF-7. */
int imap_mailbox_decode(struct buf *out, const char *s, size_t len, bool utf8, const char **error_r);

/* ------------------------------------------------------------------ */
/* 11. Response side                                                    */

/* Append s as an astring: an atom when every octet is an ATOM-CHAR and it
 * is not NIL, a quoted string when it is short 7-bit text, a literal
 * otherwise.  -1 if s contains NUL (no IMAP string can) or out is full. */
int imap_write_astring(struct buf *out, const char *s, size_t len);
/* The same, never as an atom (for string / nstring positions). */
int imap_write_string(struct buf *out, const char *s, size_t len);
/* NIL when s is NULL. */
int imap_write_nstring(struct buf *out, const char *s, size_t len);
/* Append ascending, distinct uids[0..n) as a compact sequence-set ("3:5,9",
 * RFC 9051 9), stopping before a range that would take out past max_len
 * octets (at least one range is always written).  Returns how many UIDs
 * were written, 0 when out is full. */
size_t imap_write_uidset(struct buf *out, const uint32_t *uids, size_t n, size_t max_len);

/* ------------------------------------------------------------------ */
/* 12. METADATA (RFC 5464)                                              */

/* Entry names longer than this are refused (BAD): RFC 5464 sets no limit;
 * the store's key has room for this many octets. */
#define IMAP_METADATA_ENTRY_MAX 255
/* RFC 5464 3.2: "/" components, none empty, no trailing "/", no "*" or
 * "%", printable ASCII only, scope "/private" or "/shared".  to_set (an
 * entry that holds a value): at least 2 components, 4 under
 * /private/vendor and /shared/vendor; otherwise (GETMETADATA) the scope
 * alone is allowed, for DEPTH. */
int imap_metadata_entry_check(const char *s, size_t len, bool to_set, const char **error_r);

enum imap_metadata_depth {
	IMAP_METADATA_DEPTH_0,          /* the default (4.2.2) */
	IMAP_METADATA_DEPTH_1,
	IMAP_METADATA_DEPTH_INFINITY,
};
struct imap_getmetadata {
	bool has_maxsize;
	uint64_t maxsize;                /* 4.2.1 */
	enum imap_metadata_depth depth;
	const struct imap_arg *mailbox;  /* for the session to decode; "" = server */
	struct imap_string *entries;
	size_t nentries;
};
/* GETMETADATA [options] mailbox entries (RFC 5464 4.2, 5). */
int imap_getmetadata_parse(const struct imap_arg *args, size_t count,
			   struct imap_getmetadata *get_r, const char **error_r);
void imap_getmetadata_clear(struct imap_getmetadata *get);

struct imap_metadata_value {
	struct imap_string entry;
	struct imap_string value;        /* s == NULL: NIL (remove) */
	bool binary;                     /* sent as literal8: may hold NUL */
};
struct imap_setmetadata {
	const struct imap_arg *mailbox;
	struct imap_metadata_value *values;   /* no entry twice (any case) */
	size_t n;
};
/* SETMETADATA mailbox (entry value ...) (RFC 5464 4.3, 5). */
int imap_setmetadata_parse(const struct imap_arg *args, size_t count,
			   struct imap_setmetadata *set_r, const char **error_r);
void imap_setmetadata_clear(struct imap_setmetadata *set);

#endif
