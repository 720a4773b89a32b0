/* core/session_limits.h: the input limits of a session, chosen by its state
 * (DESIGN.md: "Limits are one concept owned by core and chosen by a
 * session's state"), and the server-wide budget of input held in memory.
 *
 * Before authentication a client is a stranger: it gets short lines, tiny
 * literals and little read-ahead, so a thousand of them cost a few MiB
 * (Redis CVE-2021-32675: unbounded allocation before AUTH).  After, the
 * configured sizes apply.  SMTP DATA is the exception: a mail exchanger
 * takes mail from anyone, so its size limit is the same in both states;
 * the body streams to a spool file (core/spool.h) instead of memory.
 *
 * The budget (limits.input_budget) bounds what all sessions together hold
 * in memory for large inputs (IMAP literals, DATA chunk buffers): a session
 * takes its share before buffering and gives it back when done; when the
 * budget is spent the command gets a temporary error instead of the
 * server growing. */
#ifndef POSTINO_SESSION_LIMITS_H
#define POSTINO_SESSION_LIMITS_H

#include <stdbool.h>
#include <stddef.h>

struct config;
struct server;

enum limits_state {
	LIMITS_PREAUTH,   /* not (yet) authenticated */
	LIMITS_AUTHED,
};

/* Before authentication: a line (a LOGIN, an AUTHENTICATE response with a
 * SASL-IR, an EHLO) fits in this, and so does any literal a login needs. */
#define LIMITS_PREAUTH_LINE (8 * 1024)
#define LIMITS_PREAUTH_LITERAL (8 * 1024)
#define LIMITS_PREAUTH_COMMAND (16 * 1024)
/* Input core may read ahead of the session (pipelining) beyond one line. */
#define LIMITS_PREAUTH_READ_AHEAD (16 * 1024)
#define LIMITS_AUTHED_READ_AHEAD (256 * 1024)

struct limits {
	size_t max_line;          /* one command line, terminator excluded */
	size_t max_literal;       /* one literal that is not message data */
	size_t max_command;       /* a whole command, message data excluded */
	size_t max_imap_message;  /* an APPEND message (0 = none may be sent) */
	size_t max_imap_metadata; /* an IMAP METADATA value (0 = none may be set) */
	size_t max_smtp_message;  /* a DATA body */
	size_t read_ahead;        /* input buffered beyond the current line */
};

/* The limits of a session in `st`; the protocol may raise max_line for
 * its own reasons (IMAP wants over-long commands to reach its parser). */
void limits_get(const struct config *cfg, enum limits_state st, struct limits *r);

/* Take n bytes of the input budget; false (nothing taken) when that would
 * go over limits.input_budget. */
bool limits_budget_take(struct server *srv, size_t n);
/* Give back what limits_budget_take took. */
void limits_budget_give(struct server *srv, size_t n);
size_t limits_budget_used(const struct server *srv);

#endif
