/* smtp/smtp_session.h: the SMTP session as the command files see it (not
 * for other folders): its state, the command table and the helpers every
 * handler uses.  smtp_session.c owns the session's life (new, dispatch,
 * timeout, shutdown, the one free); each smtp_cmd_*.c owns its commands. */
#ifndef POSTINO_SMTP_SESSION_H
#define POSTINO_SMTP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/durable.h"
#include "smtp/smtp_data.h"
#include "smtp/smtp_parse.h"

struct auth_sasl;
struct store_user;
struct conn;
struct server;
struct config;

/* RFC 5321 4.1.4 / 3.3: where we are in the session.  Bits, so that a
 * command lists the states it is allowed in. */
enum smtp_state {
	SMTP_S_INIT = 1 << 0,     /* after the greeting or STARTTLS: no EHLO/HELO yet */
	SMTP_S_GREETED = 1 << 1,  /* EHLO/HELO done, no transaction */
	SMTP_S_MAIL = 1 << 2,     /* MAIL accepted, no recipient yet */
	SMTP_S_RCPT = 1 << 3,     /* at least one RCPT accepted */
	SMTP_S_DATA = 1 << 4,     /* reading the message; lines bypass the dispatcher */
	SMTP_S_FLUSH = 1 << 5,    /* delivered, waiting for the log flush (input suspended) */
	SMTP_S_AUTH = 1 << 6,     /* in a SASL exchange; lines are responses (RFC 4954 4) */
	SMTP_S_CHUNK = 1 << 7,    /* between the BDAT chunks of a message (RFC 3030) */
};
#define SMTP_S_ANY (SMTP_S_INIT | SMTP_S_GREETED | SMTP_S_MAIL | SMTP_S_RCPT | SMTP_S_CHUNK)

/* A DATA line may be this long: generous, since RFC 5321 4.5.3.1.6's 1000
 * octets is widely exceeded, but bounded.  Over it the message is refused. */
#define SMTP_DATA_MAX_LINE (64 * 1024)
/* A DATA body goes to the spool file in pieces of this size (smtp_data
 * sink); a session holds at most this plus one line of it in memory. */
#define SMTP_DATA_CHUNK (64 * 1024)
/* RFC 5321 6.3: more Received: headers than this means a mail loop. */
#define SMTP_MAX_RECEIVED 100
/* Whatever the configuration says, a transaction never holds more. */
#define SMTP_RCPTS_HARD_MAX 10000

/* A transaction's recipients with their RFC 3461 NOTIFY and ORCPT. */
struct smtp_rcpt_list {
	char **addr;
	uint8_t *notify;                     /* SMTP_NOTIFY_* bits, 0 = not given */
	char **orcpt;                        /* decoded "type;address", NULL = none */
	size_t n, cap;
};

struct smtp_deliver_job;

struct smtp_session {
	struct conn *c;
	struct server *srv;
	const struct config *cfg;
	enum smtp_state state;
	bool esmtp;                          /* greeted with EHLO, not HELO */
	char helo[SMTP_DOMAIN_MAX + 1];

	/* the mail transaction (RFC 5321 3.3) */
	char sender[SMTP_ADDRESS_MAX + 1];   /* "" for the null reverse-path */
	bool body_8bit;                      /* MAIL BODY=8BITMIME (RFC 6152) */
	bool smtputf8;                       /* MAIL SMTPUTF8 (RFC 6531 3.4) */
	struct smtp_rcpt_list rcpt_list;     /* ours: canonical mailbox addresses */
	bool rcpt_refused;                   /* some RCPT got an error reply */
	bool create_postmaster;              /* the delivery makes smtp.postmaster's mailbox */
	struct smtp_rcpt_list remote_list;   /* elsewhere, for the outbound queue */
	/* RFC 3461 parameters of the transaction: RET and ENVID from MAIL
	 * (NOTIFY and ORCPT are in the recipient lists). */
	uint8_t ret;
	char envid[SMTP_ENVID_MAX + 1];
	struct smtp_data data;
	char msg_id[40];                     /* "queued as" id of the current message */
	unsigned ntx;                        /* messages so far, for the id */

	/* the DATA body being received (core/spool.h), and the input budget
	 * its chunk buffer holds (core/session_limits.h) */
	struct spool *spool;
	int spool_err;                       /* errno of a failed spool write */
	/* A large message being stored by a worker (smtp_cmd_data.c). */
	struct smtp_deliver_job *deliver_job;
	size_t budget_held;
	size_t spool_budget;     /* of budget_held: the in-memory spool's (smtp_spool_sink) */

	/* BDAT (smtp_cmd_bdat.c): the chunk being read (state SMTP_S_DATA
	 * meanwhile), whether it is the LAST, and, when its octets are only
	 * read to be dropped, the state to go back to and the reply owed
	 * after them. */
	uint64_t bdat_size;
	bool bdat_last;
	bool bdat_discard;
	bool bdat_reset;                     /* the transaction failed: reset after the chunk */
	enum smtp_state bdat_resume;
	const char *bdat_reply;

	/* delivery in flight */
	struct durable_waiter waiter;
	size_t delivered_rcpts;
	size_t delivered_size;

	/* SMTP AUTH (RFC 4954) */
	struct auth_sasl *sasl;              /* the exchange in progress */
	struct store_user *auth_account;     /* the user it authenticates, during it */
	bool auth_checking;                  /* its password is on the worker pool
					      * (input suspended) */
	bool authed;
	char auth_user[SMTP_ADDRESS_MAX + 1];

	bool shutdown_pending;               /* finish the delivery, then 421 and close */

	/* Abuse limits (smtp_session.c): protocol errors this session and
	 * commands without progress since the last accepted message. */
	unsigned errors;
	unsigned junk;
	bool limit_closed;                   /* closed for one of them */
};

enum smtp_arity { SMTP_ARG_NONE, SMTP_ARG_OPTIONAL, SMTP_ARG_REQUIRED };

/* One row per verb, indexed by enum smtp_verb.  The dispatcher checks the
 * state and the arity; a row without a handler is a verb we recognize but
 * do not implement (502).  SMTP AUTH (RFC 4954) will fill its row. */
struct smtp_command {
	unsigned states;                     /* enum smtp_state bits */
	enum smtp_arity arity;
	void (*fn)(struct smtp_session *s, const char *arg, size_t len);
	const char *usage;                   /* for the 501 reply */
};
extern const struct smtp_command smtp_commands[SMTP_VERB_COUNT];

/* Write one reply line; CRLF is added.  RFC 5321 4.5.3.1.5 limits a reply
 * line to 512 octets, which every caller stays under. */
void smtp_reply(struct smtp_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Map a MAIL (sender=true) or RCPT argument error to its reply. */
void smtp_reply_perr(struct smtp_session *s, enum smtp_perr err, bool sender);
/* Forget the transaction (RSET, EHLO, after DATA); the state falls back to
 * GREETED, or stays INIT. */
void smtp_session_reset_tx(struct smtp_session *s);
void smtp_rcpt_list_free(struct smtp_rcpt_list *l);
/* The session is going away while a worker stores its message: the job
 * finishes alone and frees what it holds (smtp_cmd_data.c). */
void smtp_deliver_detach(struct smtp_session *s);
/* core's limits for the session's state (before or after AUTH) on the
 * connection (core/session_limits.h). */
void smtp_session_limits_apply(struct smtp_session *s);
/* After a command line, or a login answered from the worker pool: the
 * error count (a login forgives it: `authed_before` is whether the
 * session was authenticated before) and the abuse limits. */
void smtp_session_line_done(struct smtp_session *s, bool authed_before);
/* Close after a reply when the server is shutting down; true if it did. */
bool smtp_session_close_if_shutdown(struct smtp_session *s);

/* Handlers (smtp_cmd_*.c). */
void smtp_cmd_helo(struct smtp_session *s, const char *arg, size_t len);
void smtp_cmd_ehlo(struct smtp_session *s, const char *arg, size_t len);
void smtp_cmd_mail(struct smtp_session *s, const char *arg, size_t len);
void smtp_cmd_rcpt(struct smtp_session *s, const char *arg, size_t len);
void smtp_cmd_data(struct smtp_session *s, const char *arg, size_t len);
void smtp_cmd_rset(struct smtp_session *s, const char *arg, size_t len);
void smtp_cmd_noop(struct smtp_session *s, const char *arg, size_t len);
void smtp_cmd_quit(struct smtp_session *s, const char *arg, size_t len);
void smtp_cmd_vrfy(struct smtp_session *s, const char *arg, size_t len);
void smtp_cmd_help(struct smtp_session *s, const char *arg, size_t len);
void smtp_cmd_starttls(struct smtp_session *s, const char *arg, size_t len);
void smtp_cmd_auth(struct smtp_session *s, const char *arg, size_t len);
void smtp_cmd_bdat(struct smtp_session *s, const char *arg, size_t len);

/* SASL exchange (smtp_cmd_auth.c): response lines, over-long ones, and
 * forgetting the authentication (STARTTLS, session end). */
void smtp_auth_phase_line(struct smtp_session *s, const char *line, size_t len);
void smtp_auth_phase_too_long(struct smtp_session *s);
void smtp_auth_forget(struct smtp_session *s);

/* DATA phase (smtp_cmd_data.c): the message's octets as they come
 * (conn_read_stream); returns how many it took: all, or up to the end of
 * the "." line, after which input is read as command lines again.  Lines
 * and over-long lines while in DATA, should core hand them over. */
size_t smtp_data_phase_stream(struct smtp_session *s, const char *data, size_t len);
void smtp_data_phase_line(struct smtp_session *s, const char *line, size_t len, bool crlf);
void smtp_data_phase_too_long(struct smtp_session *s);
/* A message, by DATA or BDAT (smtp_cmd_data.c): begin it (input budget,
 * spool file, trace headers): 0, or -1 with the reply to give in
 * *reply_r (not written: BDAT reads its chunk first, RFC 3030 2); and end
 * it as the machine said (SMTP_DATA_DONE: deliver, else refuse). */
int smtp_message_begin(struct smtp_session *s, const char **reply_r);
void smtp_message_end(struct smtp_session *s, enum smtp_data_rc rc);
/* BDAT (smtp_cmd_bdat.c): the octets of the chunk being read. */
void smtp_bdat_phase_raw(struct smtp_session *s, const char *data, size_t len, bool last);

#endif
