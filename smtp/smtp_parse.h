/* smtp/smtp_parse.h: the pure SMTP command parsers (no I/O, no libevent,
 * OpenSSL or Berkeley DB): a command line into a verb and its argument, and
 * the MAIL FROM / RCPT TO arguments into a path and ESMTP parameters.
 *
 * Every function here works on a complete line the caller already holds
 * (core's line reader), so each returns either SMTP_P_OK or the precise
 * error; the session maps errors to replies.  Tokens carry their length and
 * the input may contain NUL bytes, which are refused. */
#ifndef POSTINO_SMTP_PARSE_H
#define POSTINO_SMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 5321 4.5.3.1.1-4.5.3.1.3: the limits a server must accept, which we
 * also enforce so that every later buffer has a known size. */
#define SMTP_LOCAL_MAX 64
#define SMTP_DOMAIN_MAX 255
#define SMTP_PATH_MAX 256       /* "<" ... ">" inclusive */
#define SMTP_ADDRESS_MAX (SMTP_LOCAL_MAX + 1 + SMTP_DOMAIN_MAX)

/* The verbs we recognize.  A recognized verb may still be unimplemented
 * (the session answers 502); anything else is SMTP_VERB_UNKNOWN (500). */
enum smtp_verb {
	SMTP_VERB_UNKNOWN = 0,
	SMTP_VERB_HELO,
	SMTP_VERB_EHLO,
	SMTP_VERB_MAIL,
	SMTP_VERB_RCPT,
	SMTP_VERB_DATA,
	SMTP_VERB_BDAT,
	SMTP_VERB_RSET,
	SMTP_VERB_NOOP,
	SMTP_VERB_QUIT,
	SMTP_VERB_VRFY,
	SMTP_VERB_EXPN,
	SMTP_VERB_HELP,
	SMTP_VERB_STARTTLS,
	SMTP_VERB_AUTH,
	SMTP_VERB_COUNT
};

enum smtp_perr {
	SMTP_P_OK = 0,
	SMTP_P_EMPTY,           /* empty command line */
	SMTP_P_BAD_CHAR,        /* NUL or another control byte in a command line */
	SMTP_P_UNKNOWN_VERB,    /* not a verb we know */
	SMTP_P_SYNTAX,          /* MAIL/RCPT: no "FROM:"/"TO:", no "<", junk after ">" */
	SMTP_P_PATH_SYNTAX,     /* the path does not follow RFC 5321 4.1.2 */
	SMTP_P_PATH_8BIT,       /* non-ASCII address without SMTPUTF8 (RFC 6531 3.5) */
	SMTP_P_PATH_UTF8,       /* an octet >= 0x80 that is not strict UTF-8 (RFC 3629) */
	SMTP_P_LOCAL_TOO_LONG,  /* RFC 5321 4.5.3.1.1 */
	SMTP_P_DOMAIN_TOO_LONG, /* RFC 5321 4.5.3.1.2 */
	SMTP_P_PATH_TOO_LONG,   /* RFC 5321 4.5.3.1.3 */
	SMTP_P_NULL_PATH,       /* "<>" as a forward-path (RCPT) */
	SMTP_P_PARAM_SYNTAX,    /* an esmtp-param that is not keyword[=value] */
	SMTP_P_PARAM_UNKNOWN,   /* a parameter we do not implement (555) */
	SMTP_P_PARAM_DUP,       /* the same parameter twice */
	SMTP_P_PARAM_VALUE,     /* SIZE=abc, BODY=9BIT, SIZE without a value */
	SMTP_P_BARE_LF,         /* the line ended in an LF without CR (RFC 5321 2.3.8) */
	SMTP_P_BARE_CR,         /* the line holds a CR that is not part of its CRLF */
};

/* A short English phrase for an error, for replies and logs. */
const char *smtp_perr_str(enum smtp_perr err);

/* ---- command line (RFC 5321 4.1.1: verb [SP argument]) ---- */

struct smtp_cmdline {
	enum smtp_verb verb;
	const char *verb_text;  /* the verb as sent (inside the caller's line) */
	size_t verb_len;
	const char *arg;        /* after the separating blank(s); trailing blanks */
	size_t arg_len;         /* trimmed; arg_len 0 = no argument */
};

/* RFC 5321 2.3.8: a line ends in CRLF, and CR and LF appear nowhere else.
 * Checks a line as core's reader hands it over (without its terminator;
 * crlf false when that was a bare LF): SMTP_P_OK, SMTP_P_BARE_LF or
 * SMTP_P_BARE_CR. */
enum smtp_perr smtp_parse_line_end(const char *line, size_t len, bool crlf);

/* Split a command line (without its CRLF).  Verbs match case-insensitively
 * (RFC 5321 2.4).  SMTP_P_UNKNOWN_VERB still fills verb_text. */
enum smtp_perr smtp_parse_command(const char *line, size_t len, struct smtp_cmdline *cmd_r);
/* Upper-case name of a verb ("MAIL"), "" for SMTP_VERB_UNKNOWN. */
const char *smtp_verb_name(enum smtp_verb verb);

/* ---- paths (RFC 5321 4.1.2) ---- */

struct smtp_path {
	bool null;              /* reverse-path "<>" */
	bool postmaster;        /* "<Postmaster>" with no domain (RFC 5321 4.1.1.3) */
	bool routed;            /* a source route was given and dropped (4.1.1.3, C) */
	bool quoted;            /* the local part was a Quoted-string */
	bool route_chars;       /* local part holds '%', '!' or '@': a relay trick */
	bool domain_literal;    /* domain is an address literal "[...]" */
	bool utf8;              /* UTF-8 in the local part or domain (RFC 6531 3.3) */
	char local[SMTP_LOCAL_MAX + 1];     /* unquoted local part */
	size_t local_len;
	char domain[SMTP_DOMAIN_MAX + 1];   /* as sent, literal brackets included */
	size_t domain_len;
	/* The mailbox as we use it: local@domain, the local part as a
	 * Dot-string when it can be one, re-quoted otherwise; "" for "<>" and
	 * "Postmaster" for the bare postmaster.  NUL-free. */
	char address[SMTP_ADDRESS_MAX + 1];
	size_t address_len;
};

/* Parse one path starting at s[0] == '<'.  `reverse` allows "<>".
 * *used_r receives the bytes consumed (through the closing '>'). */
enum smtp_perr smtp_parse_path(const char *s, size_t len, bool reverse, struct smtp_path *path_r,
			       size_t *used_r);

/* ---- MAIL FROM / RCPT TO with ESMTP parameters (RFC 5321 4.1.1.2-3) ---- */

enum smtp_body { SMTP_BODY_NONE = 0, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME };
/* RFC 3461 DSN parameters. */
enum smtp_ret { SMTP_RET_NONE = 0, SMTP_RET_FULL, SMTP_RET_HDRS };
enum {
	SMTP_NOTIFY_NEVER = 1,
	SMTP_NOTIFY_SUCCESS = 2,
	SMTP_NOTIFY_FAILURE = 4,
	SMTP_NOTIFY_DELAY = 8,
};
#define SMTP_ENVID_MAX 100      /* RFC 3461 4.4 */
#define SMTP_ORCPT_MAX 500      /* RFC 3461 4.2 */

struct smtp_mail_args {
	struct smtp_path path;
	bool has_size;
	uint64_t size;          /* RFC 1870 SIZE=; UINT64_MAX when it overflows */
	enum smtp_body body;    /* RFC 1652 BODY= */
	bool has_auth;          /* RFC 4954 5 AUTH= (validated, not kept) */
	enum smtp_ret ret;      /* RFC 3461 4.3 RET= */
	char envid[SMTP_ENVID_MAX + 1];   /* RFC 3461 4.4 ENVID=, decoded; "" = none */
	bool smtputf8;          /* RFC 6531 3.4 SMTPUTF8 */
};

struct smtp_rcpt_args {
	struct smtp_path path;
	unsigned notify;        /* RFC 3461 4.1 NOTIFY= (SMTP_NOTIFY_* bits), 0 = none */
	char orcpt[SMTP_ORCPT_MAX + 1];   /* RFC 3461 4.2 ORCPT= "type;address", decoded */
};

/* Paths may hold UTF-8 (RFC 6531 3.3), validated strictly (path.utf8 then
 * says so).  MAIL refuses one without its SMTPUTF8 parameter
 * (SMTP_P_PATH_8BIT, RFC 6531 3.5); RCPT cannot tell, so the session
 * refuses a UTF-8 recipient in a transaction without it. */
/* `arg` is the command's argument: "FROM:<path> [params]".  A blank after
 * the colon is tolerated (common client bug); the angle brackets are not
 * optional. */
enum smtp_perr smtp_parse_mail(const char *arg, size_t len, struct smtp_mail_args *mail_r);
/* `arg` is "TO:<path> [params]" (NOTIFY, ORCPT). */
enum smtp_perr smtp_parse_rcpt(const char *arg, size_t len, struct smtp_rcpt_args *rcpt_r);

/* Length of the UTF-8 encoded character (not ASCII) starting at s, or 0:
 * strict RFC 3629 (no overlong forms, no surrogates, nothing past
 * U+10FFFF), and no C1 control either. */
size_t smtp_utf8_char(const char *s, size_t len);

/* ---- BDAT (RFC 3030) ---- */

/* `arg` is "size [LAST]": SMTP_P_OK, SMTP_P_PARAM_VALUE for a size that
 * is not 1 to 20 digits fitting in 64 bits, SMTP_P_SYNTAX for anything
 * else after it. */
enum smtp_perr smtp_parse_bdat(const char *arg, size_t len, uint64_t *size_r, bool *last_r);

/* 1 when the EHLO/HELO argument is acceptable: 1..255 octets of letters,
 * digits and "-._:[]".  A domain or an address literal, leniently: RFC 5321
 * 4.1.2 forbids "_" in labels, but hosts named that way are common and
 * 4.1.4 says not to refuse a client over its name; the name goes into our
 * Received: header, though, so nothing beyond those characters. */
int smtp_helo_valid(const char *arg, size_t len);

#endif
