/* pop3/pop3_parse.h: the pure POP3 command parser (no I/O, no libevent,
 * OpenSSL or Berkeley DB): one command line into a verb and up to two
 * checked arguments, plus the UIDL unique-id format.
 *
 * The grammar of each verb (how many arguments, which are numbers) lives in
 * the parser's verb table, so that every syntax check is here, unit-tested
 * byte by byte and fuzzed; the session's command table (pop3_session.h) adds
 * the states a verb is allowed in and its handler.  The parser fills `verb`
 * before it checks the arguments, so the session can answer "not valid in
 * this state" before "syntax error" for a known verb. */
#ifndef POSTINO_POP3_PARSE_H
#define POSTINO_POP3_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 2449 4: a command line is at most 255 octets with its CRLF, so no
 * argument is longer than this.  (RFC 1939 3 said 40 per argument; real
 * addresses and passwords are longer.) */
#define POP3_ARG_MAX 255
#define POP3_MAX_ARGS 2
/* Message numbers and TOP line counts: 1..2^31-1 (0 only for TOP's lines). */
#define POP3_NUM_MAX 2147483647u
/* RFC 1939 7: a unique-id is 1 to 70 characters in 0x21..0x7E. */
#define POP3_UIDL_MAX 70

enum pop3_verb {
	POP3_VERB_UNKNOWN = 0,
	POP3_VERB_USER,
	POP3_VERB_PASS,
	POP3_VERB_AUTH,
	POP3_VERB_STLS,
	POP3_VERB_CAPA,
	POP3_VERB_STAT,
	POP3_VERB_LIST,
	POP3_VERB_UIDL,
	POP3_VERB_RETR,
	POP3_VERB_TOP,
	POP3_VERB_DELE,
	POP3_VERB_RSET,
	POP3_VERB_NOOP,
	POP3_VERB_QUIT,
	POP3_VERB_COUNT
};

enum pop3_perr {
	POP3_P_OK = 0,
	POP3_P_EMPTY,       /* an empty line */
	POP3_P_UNKNOWN,     /* not a keyword we know */
	POP3_P_BAD_CHAR,    /* NUL, a control byte or DEL in an argument */
	POP3_P_SYNTAX,      /* an empty argument: two spaces, a trailing space */
	POP3_P_ARITY,       /* too few or too many arguments for the verb */
	POP3_P_TOO_LONG,    /* an argument over POP3_ARG_MAX */
	POP3_P_NUMBER,      /* a numeric argument that is not 1*DIGIT in range */
};

const char *pop3_perr_str(enum pop3_perr err);

/* What one argument position holds. */
enum pop3_arg_kind {
	POP3_ARG_STRING = 0,   /* 1*(VCHAR / 8-bit) */
	POP3_ARG_MSGNUM,       /* a message number, 1..POP3_NUM_MAX */
	POP3_ARG_LINES,        /* a line count, 0..POP3_NUM_MAX (TOP) */
};

struct pop3_verb_syntax {
	const char *name;      /* upper case */
	unsigned char min_args, max_args;
	enum pop3_arg_kind kind[POP3_MAX_ARGS];
	/* The one argument is the rest of the line, spaces included (RFC 1939
	 * 7 on PASS: "a POP3 server may treat spaces in the argument as part of
	 * the password, instead of as argument separators"). */
	bool rest_of_line;
};

/* Indexed by enum pop3_verb; POP3_VERB_UNKNOWN has name "". */
extern const struct pop3_verb_syntax pop3_verb_syntax[POP3_VERB_COUNT];

struct pop3_cmd {
	enum pop3_verb verb;
	unsigned nargs;
	const char *arg[POP3_MAX_ARGS];     /* inside the caller's line */
	size_t arg_len[POP3_MAX_ARGS];
	uint32_t num[POP3_MAX_ARGS];        /* the value of numeric arguments */
};

/* Parse one command line (without its CRLF; it may hold NUL bytes).
 * Keywords match case-insensitively (RFC 1939 3); keyword and arguments
 * are separated by exactly one space.  On any error after the keyword was
 * recognized, cmd_r->verb is still set. */
enum pop3_perr pop3_parse_command(const char *line, size_t len, struct pop3_cmd *cmd_r);

/* Strict decimal: 1*DIGIT (leading zeros allowed), no sign or blanks, value
 * in min..POP3_NUM_MAX.  0 or -1. */
int pop3_parse_number(const char *s, size_t len, uint32_t min, uint32_t *num_r);

/* The unique-id of a message: stable across sessions (derived only from the
 * mailbox's UIDVALIDITY and the message's UID, RFC 1939 7) and unique in the
 * maildrop.  Writes a NUL-terminated string of 0x21..0x7E into out, which
 * has room for POP3_UIDL_MAX + 1 bytes; returns its length. */
size_t pop3_uidl_format(uint32_t uidvalidity, uint32_t uid, char *out);

#endif
