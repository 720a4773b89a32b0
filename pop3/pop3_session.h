/* pop3/pop3_session.h: the POP3 session as the command files see it (not
 * for other folders): its state, the command table and the helpers every
 * handler uses.  pop3_session.c owns the session's life (new, dispatch,
 * output streaming, timeout, shutdown, the one free); each pop3_cmd_*.c
 * owns a group of commands. */
#ifndef POSTINO_POP3_SESSION_H
#define POSTINO_POP3_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/durable.h"
#include "pop3/pop3_inuse.h"
#include "pop3/pop3_parse.h"
#include "pop3/pop3_stuff.h"
#include "storage/storage.h"

struct auth_check;
struct auth_sasl;
struct conn;
struct server;
struct config;

/* RFC 1939 3: the session's states, as bits so that a command lists the
 * states it is allowed in.  UPDATE is entered only by QUIT (RFC 1939 6);
 * while it waits for the log flush input is suspended, so no command is
 * ever dispatched in it. */
enum pop3_state {
	POP3_S_AUTH = 1 << 0,     /* AUTHORIZATION */
	POP3_S_TRANS = 1 << 1,    /* TRANSACTION */
	POP3_S_UPDATE = 1 << 2,   /* QUIT: expunged, waiting for durability */
	POP3_S_DONE = 1 << 3,     /* QUIT answered; the connection is closing */
};

/* Output is produced in pieces of this size and only while less than
 * POP3_OUTPUT_HIGH is queued; the rest follows from on_drain.  A 20 MiB
 * message thus never sits in memory whole. */
#define POP3_STREAM_CHUNK (64 * 1024)
#define POP3_OUTPUT_HIGH (256 * 1024)
/* List lines (LIST, UIDL) written per round before checking the queue. */
#define POP3_LIST_BATCH 256

/* One message of the maildrop snapshot taken at login (RFC 1939 4: the
 * server "acquires resources associated with the client's maildrop";
 * numbering stays fixed for the session, RFC 1939 5). */
struct pop3_msg {
	uint32_t uid;
	bool deleted;            /* DELE: marked, removed only at QUIT */
	uint64_t size;           /* stored octets, CRLF line ends */
	uint64_t content_id;
};

struct pop3_session;

/* A multi-line response produced a piece at a time.  `fn` writes some more
 * and returns true when it wrote the final "." line (or gave up and closed
 * the connection). */
typedef bool (*pop3_pump_fn)(struct pop3_session *s);

#define POP3_SEEN_BATCH 256
#define POP3_SEEN_DELAY_MS 100

/* RETR/TOP in progress (pop3_cmd_retr.c). */
struct pop3_retr {
	size_t index;            /* into msgs */
	struct store_content content;   /* open (pinned) while it streams */
	uint64_t offset;         /* next content byte to read */
	struct pop3_stuff stuff;
	char *in;                /* in_cap bytes */
	char *out;               /* in_cap * POP3_STUFF_EXPANSION */
	size_t in_cap;           /* the message's size, at most POP3_STREAM_CHUNK */
	size_t in_len;           /* a chunk read ahead (before the +OK line) */
	bool mark_seen;          /* RETR of a message not yet \Seen */
};

struct pop3_session {
	struct conn *c;
	struct server *srv;
	const struct config *cfg;
	enum pop3_state state;

	/* AUTHORIZATION: the name from USER (RFC 1939 7), NUL-terminated. */
	char user[POP3_ARG_MAX + 1];
	bool have_user;
	struct auth_sasl *sasl;  /* AUTH exchange in progress (RFC 5034 4) */
	struct auth_check *check;   /* PASS: the password check in flight */
	bool auth_checking;      /* PASS or AUTH waits for the worker pool; input
				  * is suspended */

	/* TRANSACTION */
	struct store_user account;
	struct pop3_inuse inuse;
	bool have_mbox;          /* false: no INBOX, an empty maildrop */
	struct store_mailbox mbox;
	struct pop3_msg *msgs;
	size_t nmsgs, msgs_cap;
	size_t ndeleted;
	uint64_t deleted_size;
	uint64_t total_size;     /* of every message in the snapshot */
	uint64_t store_gen;      /* store_generation() before the snapshot was read */

	/* a multi-line response in progress */
	pop3_pump_fn pump;
	bool pumping;            /* inside pop3_session_pump: no re-entry */
	bool suspended;          /* input suspended until the response is out */
	size_t list_next;        /* LIST/UIDL: next index */
	struct pop3_retr retr;
	/* RETR/TOP found the message's pages held by a writer: a worker
	 * waits for them (pop3_cmd_retr.c), the response meanwhile paused,
	 * or not begun (the command then starts over), input suspended. */
	struct pop3_read_wait *read_wait;

	/* RETR's \Seen marks not yet committed (pop3_cmd_retr.c): at most
	 * POP3_SEEN_BATCH, committed together when the batch is full, when
	 * seen_ev fires (POP3_SEEN_DELAY_MS after the first), at QUIT and
	 * when the session ends. */
	uint32_t *seen_uids;
	size_t nseen;
	struct event *seen_ev;
	/* Batches of them on workers (pop3_store_job.c): QUIT's reply waits
	 * until they are done, so a client that reads its mail by POP3 and
	 * then looks by IMAP finds it read. */
	struct pop3_job *seen_jobs;

	/* UPDATE */
	struct pop3_job *store_job;  /* QUIT's expunge on a worker (pop3_store_job.c) */
	bool quit_waiting;           /* QUIT's update done, seen_jobs not yet */
	int quit_rc;
	struct durable_waiter waiter;
	size_t removed;
	bool shutdown_pending;

	/* Abuse limits (pop3_session.c): protocol errors this session and
	 * commands before a successful login. */
	unsigned errors;
	unsigned junk;
	bool limit_closed;       /* closed for one of them */
};

/* One row per verb, indexed by enum pop3_verb (the grammar is in
 * pop3_verb_syntax).  The dispatcher checks the state; a row without a
 * handler is a verb we parse but do not offer. */
struct pop3_command {
	unsigned states;         /* enum pop3_state bits */
	void (*fn)(struct pop3_session *s, const struct pop3_cmd *cmd);
};
extern const struct pop3_command pop3_commands[POP3_VERB_COUNT];

/* Write one response line; CRLF is added.  RFC 1939 3: at most 512
 * octets with the CRLF, which the formatter enforces. */
void pop3_reply(struct pop3_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Start a multi-line response body: runs `fn` now and again from on_drain
 * until it returns true; input is suspended meanwhile, so pipelined
 * commands wait their turn (RFC 2449 6.6: "process each command in turn"). */
void pop3_session_stream(struct pop3_session *s, pop3_pump_fn fn);

/* The message with number n (1-based, RFC 1939 5), or NULL with the -ERR
 * already written when it does not exist or is marked deleted. */
struct pop3_msg *pop3_session_msg(struct pop3_session *s, uint32_t n);

/* Login succeeded: take the maildrop lock, snapshot INBOX, enter
 * TRANSACTION and reply.  Any failure is answered here (pop3_cmd_auth.c). */
void pop3_session_open_maildrop(struct pop3_session *s);

/* A login answered from the worker pool (PASS, AUTH): what follows a
 * command line (the error count, the abuse limits), then input again. */
void pop3_session_auth_resume(struct pop3_session *s);

/* Free the RETR buffers (pop3_cmd_retr.c). */
void pop3_retr_clear(struct pop3_session *s);
/* The session goes: a worker waiting for a RETR's pages finishes alone. */
void pop3_read_wait_detach(struct pop3_session *s);
/* Commit the pending \Seen marks of RETR now (batch full or due, end of
 * session), stopping the timer. */
void pop3_seen_flush(struct pop3_session *s);

/* pop3_store_job.c: the store writes, never waiting for a lock on the
 * loop.  pop3_seen_commit: the pending \Seen marks, in place or by a
 * worker (they leave the session either way).  pop3_quit_store: QUIT's
 * UPDATE, the pending marks and the expunge of uids (taken, may be NULL
 * when n is 0); pop3_quit_stored(s, rc, removed) follows, at once or when
 * a worker is done, and once no batch of marks is left on a worker.
 * pop3_store_job_detach: the session is going; the workers' jobs finish
 * without it. */
void pop3_seen_commit(struct pop3_session *s);
void pop3_quit_store(struct pop3_session *s, uint32_t *uids, size_t n);
void pop3_quit_stored(struct pop3_session *s, int rc, size_t removed);
void pop3_store_job_detach(struct pop3_session *s);
/* pop3_seen_flush, then free what the marks held. */
void pop3_seen_free(struct pop3_session *s);

/* Handlers (pop3_cmd_*.c). */
void pop3_cmd_user(struct pop3_session *s, const struct pop3_cmd *cmd);
void pop3_cmd_pass(struct pop3_session *s, const struct pop3_cmd *cmd);
void pop3_cmd_stls(struct pop3_session *s, const struct pop3_cmd *cmd);
void pop3_cmd_capa(struct pop3_session *s, const struct pop3_cmd *cmd);
void pop3_cmd_auth(struct pop3_session *s, const struct pop3_cmd *cmd);
/* AUTH exchange lines and over-long ones (pop3_cmd_auth.c). */
void pop3_auth_phase_line(struct pop3_session *s, const char *line, size_t len);
void pop3_auth_phase_too_long(struct pop3_session *s);
void pop3_cmd_stat(struct pop3_session *s, const struct pop3_cmd *cmd);
void pop3_cmd_list(struct pop3_session *s, const struct pop3_cmd *cmd);
void pop3_cmd_uidl(struct pop3_session *s, const struct pop3_cmd *cmd);
void pop3_cmd_dele(struct pop3_session *s, const struct pop3_cmd *cmd);
void pop3_cmd_rset(struct pop3_session *s, const struct pop3_cmd *cmd);
void pop3_cmd_noop(struct pop3_session *s, const struct pop3_cmd *cmd);
void pop3_cmd_retr(struct pop3_session *s, const struct pop3_cmd *cmd);
void pop3_cmd_top(struct pop3_session *s, const struct pop3_cmd *cmd);
void pop3_cmd_quit(struct pop3_session *s, const struct pop3_cmd *cmd);

#endif
