/* imap/imap_session.h: the IMAP session as the command files see it (not for
 * other folders): its state, the command table, the running command and the
 * helpers every handler uses.
 *
 * imap_session.c owns the session's life: greeting, the parser, the one
 * dispatcher (state, UID prefix and pending updates are checked there, once),
 * running a command across output drains and asynchronous waits (log flush,
 * IDLE, AUTHENTICATE continuations), timeouts, shutdown and the one free.
 * imap_view.c owns the selected mailbox (imap_view.h).  Each imap_cmd_*.c
 * owns one command or a small group of them.
 *
 * How a handler runs (STYLE.md: one command table, CMD_DONE / CMD_AGAIN):
 *   - The dispatcher has checked the state and that UID is allowed; the
 *     handler checks its own arguments with the typed parsers of
 *     imap_parse.h and answers `imap_cmd_bad(cmd, "%s", error)`.
 *   - It writes untagged data with imap_untagged()/imap_write*() and ends by
 *     writing exactly one tagged reply with imap_cmd_ok/no/bad (or
 *     imap_cmd_store_error) and returning IMAP_CMD_DONE.
 *   - IMAP_CMD_AGAIN: the output queue is full (imap_output_full()); the
 *     handler is called again, with the same cmd, when it drains.  State
 *     between calls lives in cmd->ctx (freed with cmd->ctx_free) or in
 *     cmd->stage.
 *   - IMAP_CMD_WAIT: something else resumes the handler: the log flush after
 *     imap_cmd_wait_durable() (cmd->durable_ok then tells the result), the
 *     next input line after imap_cmd_want_line() (cmd->line/cmd->line_len),
 *     or a password check on the worker pool (imap_cmd_resume).
 *   While a command runs, input is suspended (pipelined commands wait their
 *   turn, RFC 9051 5.5), except for the line a handler asked for.
 *
 * Mailbox names: the store keeps UTF-8 names; on the wire they are modified
 * UTF-7 unless the client enabled UTF8=ACCEPT (RFC 6855 3, RFC 9051 5.1).
 * The hierarchy delimiter is IMAP_HIER_SEP. */
#ifndef POSTINO_IMAP_SESSION_H
#define POSTINO_IMAP_SESSION_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/durable.h"
#include "core/workpool.h"
#include "imap/imap_parse.h"
#include "storage/storage.h"

struct conn;
struct server;
struct config;
struct auth_sasl;
struct auth_check;
struct imap_view;
struct imap_session;

#define IMAP_HIER_SEP '/'

/* Output is produced while less than this is queued; the rest follows from
 * on_drain (FETCH of large bodies, long SEARCH results, LIST). */
#define IMAP_OUTPUT_HIGH (256 * 1024)
/* Bytes of a message body read from the store per step when streaming. */
#define IMAP_STREAM_CHUNK (64 * 1024)

/* RFC 3501 3 / RFC 9051 3: the states, as bits so that a command lists the
 * states it is allowed in. */
enum imap_state {
	IMAP_S_NOAUTH = 1 << 0,
	IMAP_S_AUTH = 1 << 1,
	IMAP_S_SELECTED = 1 << 2,
	IMAP_S_LOGOUT = 1 << 3,
};
#define IMAP_S_ANY (IMAP_S_NOAUTH | IMAP_S_AUTH | IMAP_S_SELECTED)
#define IMAP_S_LOGGED_IN (IMAP_S_AUTH | IMAP_S_SELECTED)

enum imap_cmd_flag {
	/* Refers to messages by sequence number (FETCH, STORE, SEARCH, COPY,
	 * MOVE without the UID prefix): no untagged EXPUNGE may be sent while
	 * it runs or in its completion (RFC 3501 7.4.1, RFC 9051 7.5.1); the
	 * expunges stay pending until a command that allows them. */
	IMAP_CMD_SEQS = 1 << 0,
	/* May be prefixed with UID (RFC 3501 6.4.8, RFC 4315 2.1 UID EXPUNGE).
	 * With the prefix, IMAP_CMD_SEQS no longer applies. */
	IMAP_CMD_UID_OK = 1 << 1,
	/* Never sends pending mailbox updates (LOGOUT, STARTTLS, IDLE's own
	 * handling, AUTHENTICATE). */
	IMAP_CMD_NO_UPDATES = 1 << 2,
};

enum imap_cmd_rc {
	IMAP_CMD_DONE,     /* the tagged reply is written */
	IMAP_CMD_AGAIN,    /* call again when output drains */
	IMAP_CMD_WAIT,     /* resumed by a flush or an input line */
};

struct imap_cmd;
typedef enum imap_cmd_rc imap_cmd_fn(struct imap_cmd *cmd);

struct imap_command_def {
	const char *name;        /* upper case, as the parser gives it */
	unsigned states;         /* enum imap_state bits */
	unsigned flags;          /* enum imap_cmd_flag bits */
	imap_cmd_fn *fn;
};
/* The table, in imap_session.c; the dispatcher looks names up here. */
extern const struct imap_command_def imap_commands[];
extern const size_t imap_ncommands;

struct imap_cmd {
	struct imap_session *s;
	const struct imap_command_def *def;
	struct imap_command *pc;     /* tag, name, uid, args (imap_parse.h) */
	bool uid;                    /* pc->uid: the UID form */
	bool allow_expunge;          /* untagged EXPUNGE may be sent now */
	/* The handler's own state across AGAIN / WAIT. */
	unsigned stage;
	void *ctx;
	void (*ctx_free)(void *ctx);
	/* After imap_cmd_wait_durable(): the flush's result. */
	bool durable_ok;
	struct durable_waiter waiter;
	/* LOGIN, AUTHENTICATE: a password check on the worker pool (core/auth.h);
	 * while auth_waiting the handler is resumed by imap_cmd_resume, with
	 * the outcome in auth_result (enum auth_result or enum auth_step). */
	struct auth_check *check;
	bool auth_waiting;
	/* A job of the command's on the worker pool (imap_cmd_job_submit);
	 * the handler is called again once it has finished. */
	struct imap_job *job;
	int auth_result;
	/* After imap_cmd_want_line(): the line (CRLF removed, NUL-terminated
	 * at line[line_len]); valid during that call only. */
	const char *line;
	size_t line_len;
	/* The tagged OK line ("tag OK text\r\n"): the command is done, but its
	 * updates wait for a \Recent claim on the worker pool (imap_claim.h),
	 * and the line goes out after them (imap_session_claimed). */
	char *held_ok;
};

struct imap_session {
	struct conn *c;
	uint64_t slice_start_us;     /* when the running command was last resumed */
	struct server *srv;
	const struct config *cfg;
	struct store *store;         /* srv->store */
	enum imap_state state;
	struct store_user user;      /* AUTH and SELECTED */

	struct imap_parser *parser;
	struct imap_parse_limits limits;
	size_t budget_held;          /* input budget taken by the literals of the
	                              * command being read or run */

	/* ENABLEd extensions (RFC 5161). */
	bool rev2;                   /* IMAP4rev2 (RFC 9051 3): rev2 responses */
	bool utf8;                   /* UTF8=ACCEPT (RFC 6855) */
	bool condstore;              /* CONDSTORE (RFC 7162 3.1): also turned on by
	                              * the first CONDSTORE-using command */
	bool qresync;

	struct imap_view *view;      /* the selected mailbox, SELECTED only */

	struct imap_cmd *cmd;        /* the command running, or NULL */
	bool want_line;              /* the next line goes to cmd, not the parser */
	bool idling;                 /* inside IDLE: updates are sent at once */
	bool updates_pending;        /* the selected mailbox changed (change feed) */
	bool shutdown_pending;
	bool closing;                /* BYE sent, conn_close called */
	unsigned auth_failures;
	struct auth_sasl *sasl;      /* AUTHENTICATE exchange in progress */

	struct imap_session *notify_next; /* imap_notify.c's list of sessions */
	struct imap_notify_set *nset;     /* NOTIFY SET (RFC 5465), or NULL */
	/* MessageNew's FETCH responses wait for a worker to wait for a
	 * content's pages (imap_notify_fetch.c), or NULL; and the first UID
	 * whose FETCH the next sync of the view owes (0: none): the worker
	 * came back while a command ran. */
	struct imap_notify_wait *notify_wait;
	uint32_t notify_from;

	/* Abuse limits (imap_session.c): protocol errors (BAD replies, input
	 * the parser refused, failed logins), forgiven by a command that
	 * succeeds once logged in; commands before logging in. */
	unsigned errors;
	unsigned junk;
	unsigned auth_failures_seen; /* auth_failures already counted in errors */
};

/* ---- writing ---- */

/* Raw bytes / formatted text, no CRLF added. */
void imap_write(struct imap_session *s, const void *data, size_t len);
void imap_printf(struct imap_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void imap_write_buf(struct imap_session *s, const struct buf *b);
/* "* " text CRLF. */
void imap_untagged(struct imap_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* True when IMAP_OUTPUT_HIGH or more is queued: return IMAP_CMD_AGAIN. */
bool imap_output_full(const struct imap_session *s);
/* True when the running command should stop for now and return
 * IMAP_CMD_AGAIN: the output queue is full, or the command has had its
 * share of the loop (IMAP_SLICE_US since it was last resumed), in which
 * case it resumes at the loop's next turn, after the other sessions of the
 * loop had theirs.  Long commands call this between units of work. */
bool imap_cmd_yield_due(struct imap_session *s);

/* End the session: "* BYE text" (unless text is NULL: inside a literal
 * nothing more can be said), then core closes the connection once the
 * output is flushed.  Further writes and replies are dropped. */
void imap_session_close(struct imap_session *s, const char *bye, const char *reason);

/* The session's state changed (login): take core's limits for the new
 * state (core/session_limits.h) into the parser and the connection. */
void imap_session_limits_apply(struct imap_session *s);

/* RFC 8437 3, 4.1: back to IMAP_S_NOAUTH with every state a login made
 * dropped: the selected mailbox (no expunges announced) with its saved
 * SEARCH result and its change-feed registration, the ENABLEd extensions,
 * the user and any SASL exchange; limits are the not-authenticated ones
 * again.  TLS stays.  Whoever adds session state adds its reset here. */
void imap_session_unauthenticate(struct imap_session *s);

/* ---- completing a command ---- */

/* "TAG OK text": first sends the updates the session owes for the selected
 * mailbox (imap_view_sync with cmd->allow_expunge), unless the command has
 * IMAP_CMD_NO_UPDATES.  text may start with a response code "[...] ". */
void imap_cmd_ok(struct imap_cmd *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "TAG NO text" and "TAG BAD text"; no updates are sent. */
void imap_cmd_no(struct imap_cmd *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void imap_cmd_bad(struct imap_cmd *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "TAG NO [CODE] what: reason" for a store error, with the RFC 5530 code
 * that fits: NOTFOUND [NONEXISTENT], EXISTS [ALREADYEXISTS], PERM and
 * INVALID [CANNOT], NOQUOTA [LIMIT], INUSE [INUSE], TEMP [UNAVAILABLE],
 * CORRUPT [SERVERBUG].  Logs TEMP and CORRUPT. */
void imap_cmd_store_error(struct imap_cmd *cmd, int store_err, const char *what);
/* NO for a change whose log flush failed: [OVERQUOTA] when the disk is
 * full, else [UNAVAILABLE] (try again). */
void imap_cmd_not_durable(struct imap_cmd *cmd, const char *what);

/* Queue a durability waiter for everything committed so far (core's group
 * commit) and return IMAP_CMD_WAIT: the handler is called again after the
 * flush with cmd->durable_ok set.  Used before the OK of APPEND, COPY, MOVE,
 * STORE, EXPUNGE, CREATE, DELETE, RENAME (a mail is acknowledged only once
 * it is on disk). */
enum imap_cmd_rc imap_cmd_wait_durable(struct imap_cmd *cmd);
/* Ask for the next input line raw (AUTHENTICATE response, IDLE's DONE) and
 * return IMAP_CMD_WAIT: the handler is called again with cmd->line set. */
enum imap_cmd_rc imap_cmd_want_line(struct imap_cmd *cmd);

/* A command that returned IMAP_CMD_WAIT for a password check on the worker
 * pool (cmd->auth_waiting): run its handler again. */
void imap_cmd_resume(struct imap_cmd *cmd);

/* Store work of one command on the worker pool (core/workpool.h), for
 * work that would hold the loop (a STORE or COPY of many messages).  The
 * job owns everything run reads and writes.  Embed it first in a struct of
 * the command's own. */
struct imap_job {
	struct work w;                                /* private */
	struct imap_cmd *cmd;                         /* NULL once the command is gone */
	/* Set (on the loop) when the command goes: run may read it to skip
	 * work whose result nobody will take and that would change the store
	 * for nothing (a \Recent claim).  A hint: it may be set just after
	 * run has looked. */
	atomic_bool gone;
	void (*run)(struct imap_job *j);              /* on a worker */
	/* On the loop, the command still there: hand the results to it and
	 * free the job (ran=false: the pool stopped before running it). */
	void (*finish)(struct imap_job *j, bool ran);
	/* On the loop, the command gone meanwhile: free the job and what it owns. */
	void (*discard)(struct imap_job *j);
	/* run reads the command's parsed arguments (its literals): a command
	 * that goes away hands them to the job (pc), freed after discard. */
	bool keep_command;
	struct imap_command *pc;                      /* private */
	struct server *srv;                           /* private: for the budget */
	size_t budget;                                /* private: input budget of pc */
};
/* 0: the job runs on the pool; the handler returns IMAP_CMD_WAIT and is
 * called again after finish (cmd->job is NULL again by then).  -1: the
 * pool is full or stopping: do the work in place. */
int imap_cmd_job_submit(struct imap_cmd *cmd, struct imap_job *j);

/* ---- mailbox names ---- */

/* A mailbox argument to the store's UTF-8 name in out (reset first): INBOX
 * in any case is "INBOX", modified UTF-7 is decoded unless UTF8=ACCEPT is
 * enabled, and a trailing IMAP_HIER_SEP is dropped (RFC 3501 6.3.3).  On a
 * bad name writes "TAG BAD ..." and returns -1. */
int imap_mailbox_arg(struct imap_cmd *cmd, const struct imap_arg *arg, struct buf *out);
/* Append a store name as a response mailbox (astring): modified UTF-7
 * unless UTF8=ACCEPT is enabled. */
int imap_mailbox_write(struct imap_session *s, struct buf *out, const char *name);
/* How imap_mailbox_get answers a mailbox that does not exist. */
enum imap_mailbox_missing {
	IMAP_MAILBOX_NONEXISTENT,   /* NO [NONEXISTENT] (imap_cmd_store_error) */
	IMAP_MAILBOX_TRYCREATE,     /* NO [TRYCREATE]: a target the client may CREATE */
};
/* The session user's mailbox name (a store name, from imap_mailbox_arg)
 * into *mb_r.  When it cannot be read, answers the command (a missing
 * mailbox as missing says, any other error through imap_cmd_store_error
 * with what) and returns -1. */
int imap_mailbox_get(struct imap_cmd *cmd, const char *name, enum imap_mailbox_missing missing,
		     const char *what, struct store_mailbox *mb_r);
/* imap_mailbox_arg, then imap_mailbox_get: the mailbox an argument names,
 * or -1 with the command answered. */
int imap_mailbox_arg_get(struct imap_cmd *cmd, const struct imap_arg *arg,
			 enum imap_mailbox_missing missing, const char *what,
			 struct store_mailbox *mb_r);

/* ---- capabilities ---- */

/* The CAPABILITY list for the current state, without "* CAPABILITY " and
 * CRLF (also used in the greeting and after login as a response code). */
void imap_capability_write(struct imap_session *s, struct buf *out);

/* ---- change feed (imap_notify.c) ---- */

/* Sessions with a mailbox selected are registered so that a change to that
 * mailbox (store_set_notify) reaches them: an idling session gets the
 * updates at once, others at their next command. */
void imap_notify_register(struct imap_session *s);
void imap_notify_unregister(struct imap_session *s);
/* A RESETKEY of mailbox_id (0: all) by s: the user's other sessions with
 * it selected get "* OK [URLMECH INTERNAL]" (RFC 4467 7). */
void imap_notify_urlmech(struct imap_session *s, uint32_t mailbox_id);
/* Called by imap_notify.c for each session that has mailbox_id selected. */
void imap_session_notify(struct imap_session *s);
/* A \Recent claim made on a worker (imap_claim.h) is in the view: the new
 * messages it held back are told, and a command's tagged OK held for
 * them follows. */
void imap_session_claimed(struct imap_session *s);
/* A CONDSTORE enabling command (RFC 7162 3.1: FETCH/SEARCH MODSEQ, FETCH
 * CHANGEDSINCE, STORE UNCHANGEDSINCE, STATUS HIGHESTMODSEQ) turns
 * CONDSTORE on; the first one run with a mailbox selected announces
 * "* OK [HIGHESTMODSEQ n]", so call it before the command's results. */
void imap_session_condstore_enable(struct imap_session *s);

/* ---- handlers (one file per command or group) ---- */

/* imap_cmd_any.c: any state */
imap_cmd_fn imap_cmd_capability, imap_cmd_noop, imap_cmd_logout, imap_cmd_id;
/* imap_cmd_auth.c: not authenticated, and UNAUTHENTICATE (RFC 8437) */
imap_cmd_fn imap_cmd_starttls, imap_cmd_login, imap_cmd_authenticate, imap_cmd_unauthenticate;
/* imap_cmd_enable.c: authenticated */
imap_cmd_fn imap_cmd_enable, imap_cmd_namespace;
/* imap_cmd_idle.c */
imap_cmd_fn imap_cmd_idle;
/* imap_cmd_compress.c */
imap_cmd_fn imap_cmd_compress;
/* imap_cmd_select.c */
imap_cmd_fn imap_cmd_select, imap_cmd_examine, imap_cmd_close, imap_cmd_unselect,
	imap_cmd_check, imap_cmd_expunge;
/* imap_cmd_mailbox.c */
imap_cmd_fn imap_cmd_create, imap_cmd_delete, imap_cmd_rename, imap_cmd_subscribe,
	imap_cmd_unsubscribe;
/* imap_cmd_list.c */
imap_cmd_fn imap_cmd_list, imap_cmd_lsub;
/* imap_cmd_status.c */
imap_cmd_fn imap_cmd_status;
/* imap_cmd_append.c */
imap_cmd_fn imap_cmd_append;
/* imap_cmd_urlauth.c (RFC 4467, RFC 5524) */
imap_cmd_fn imap_cmd_genurlauth, imap_cmd_resetkey, imap_cmd_urlfetch;
/* imap_cmd_replace.c (RFC 8508) */
imap_cmd_fn imap_cmd_replace;
/* imap_cmd_fetch.c (with imap_fetch_*.c) */
imap_cmd_fn imap_cmd_fetch;
/* imap_cmd_store.c */
imap_cmd_fn imap_cmd_store;
/* imap_cmd_search.c (with imap_search_eval.c) */
imap_cmd_fn imap_cmd_search;
/* imap_cmd_sort.c (with imap_sort_*.c, imap_thread.c): RFC 5256, 5957, 5267 */
imap_cmd_fn imap_cmd_sort, imap_cmd_thread;
/* imap_cmd_cancelupdate.c (with imap_context.c): RFC 5267 4.3.5 */
imap_cmd_fn imap_cmd_cancelupdate;
/* imap_cmd_copy.c */
imap_cmd_fn imap_cmd_copy, imap_cmd_move;
/* imap_cmd_notify.c (with imap_notify_set.c): RFC 5465 */
imap_cmd_fn imap_cmd_notify;
/* imap_cmd_metadata.c (RFC 5464) */
imap_cmd_fn imap_cmd_getmetadata, imap_cmd_setmetadata;

#endif
