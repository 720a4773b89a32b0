/* imap/imap_session.c: the IMAP session's life: the greeting, the command
 * reader (lines and literals through the pure parser), the one command
 * table and its dispatcher (state, UID prefix and pending updates are
 * checked here, once), running a command across output drains and
 * asynchronous waits, the writing and completion helpers every handler
 * uses, timeouts, shutdown, and the one exit, imap_session_free, which every
 * way a connection ends goes through (core calls it exactly once). */
#include "imap/imap_session.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "core/auth.h"
#include "core/config.h"
#include "core/conn.h"
#include "core/session_limits.h"
#include "core/log.h"
#include "core/proto.h"
#include "core/server.h"
#include "imap/imap_notify_set.h"
#include "imap/imap_view.h"

const struct imap_command_def imap_commands[] = {
	/* RFC 9051 6.1: any state. */
	{"CAPABILITY", IMAP_S_ANY, 0, imap_cmd_capability},
	{"NOOP", IMAP_S_ANY, 0, imap_cmd_noop},
	{"LOGOUT", IMAP_S_ANY, IMAP_CMD_NO_UPDATES, imap_cmd_logout},
	{"ID", IMAP_S_ANY, 0, imap_cmd_id},                         /* RFC 2971 */
	/* RFC 9051 6.2: not authenticated. */
	{"STARTTLS", IMAP_S_NOAUTH, IMAP_CMD_NO_UPDATES, imap_cmd_starttls},
	{"LOGIN", IMAP_S_NOAUTH, IMAP_CMD_NO_UPDATES, imap_cmd_login},
	{"AUTHENTICATE", IMAP_S_NOAUTH, IMAP_CMD_NO_UPDATES, imap_cmd_authenticate},
	/* RFC 9051 6.3: authenticated (and selected). */
	{"ENABLE", IMAP_S_LOGGED_IN, 0, imap_cmd_enable},           /* RFC 5161 */
	{"SELECT", IMAP_S_LOGGED_IN, IMAP_CMD_NO_UPDATES, imap_cmd_select},
	{"EXAMINE", IMAP_S_LOGGED_IN, IMAP_CMD_NO_UPDATES, imap_cmd_examine},
	{"NAMESPACE", IMAP_S_LOGGED_IN, 0, imap_cmd_namespace},     /* RFC 2342 */
	{"CREATE", IMAP_S_LOGGED_IN, 0, imap_cmd_create},
	{"DELETE", IMAP_S_LOGGED_IN, 0, imap_cmd_delete},
	{"RENAME", IMAP_S_LOGGED_IN, 0, imap_cmd_rename},
	{"SUBSCRIBE", IMAP_S_LOGGED_IN, 0, imap_cmd_subscribe},
	{"UNSUBSCRIBE", IMAP_S_LOGGED_IN, 0, imap_cmd_unsubscribe},
	{"LIST", IMAP_S_LOGGED_IN, 0, imap_cmd_list},
	{"LSUB", IMAP_S_LOGGED_IN, 0, imap_cmd_lsub},
	{"STATUS", IMAP_S_LOGGED_IN, 0, imap_cmd_status},
	{"APPEND", IMAP_S_LOGGED_IN, 0, imap_cmd_append},
	{"GENURLAUTH", IMAP_S_LOGGED_IN, 0, imap_cmd_genurlauth},   /* RFC 4467 */
	{"RESETKEY", IMAP_S_LOGGED_IN, 0, imap_cmd_resetkey},
	{"URLFETCH", IMAP_S_LOGGED_IN, 0, imap_cmd_urlfetch},
	{"IDLE", IMAP_S_LOGGED_IN, IMAP_CMD_NO_UPDATES, imap_cmd_idle}, /* RFC 2177 */
	{"COMPRESS", IMAP_S_LOGGED_IN, IMAP_CMD_NO_UPDATES, imap_cmd_compress}, /* RFC 4978 */
	{"NOTIFY", IMAP_S_LOGGED_IN, 0, imap_cmd_notify},           /* RFC 5465 */
	{"GETMETADATA", IMAP_S_LOGGED_IN, 0, imap_cmd_getmetadata},  /* RFC 5464 */
	{"SETMETADATA", IMAP_S_LOGGED_IN, 0, imap_cmd_setmetadata},
	/* RFC 8437 3: no expunge event when the mailbox is left. */
	{"UNAUTHENTICATE", IMAP_S_LOGGED_IN, IMAP_CMD_NO_UPDATES, imap_cmd_unauthenticate},
	/* RFC 9051 6.4: selected. */
	{"CHECK", IMAP_S_SELECTED, 0, imap_cmd_check},
	{"CLOSE", IMAP_S_SELECTED, IMAP_CMD_NO_UPDATES, imap_cmd_close},
	{"UNSELECT", IMAP_S_SELECTED, IMAP_CMD_NO_UPDATES, imap_cmd_unselect}, /* RFC 3691 */
	{"EXPUNGE", IMAP_S_SELECTED, IMAP_CMD_UID_OK, imap_cmd_expunge},  /* UID: RFC 4315 2.1 */
	{"SEARCH", IMAP_S_SELECTED, IMAP_CMD_SEQS | IMAP_CMD_UID_OK, imap_cmd_search},
	{"FETCH", IMAP_S_SELECTED, IMAP_CMD_SEQS | IMAP_CMD_UID_OK, imap_cmd_fetch},
	{"STORE", IMAP_S_SELECTED, IMAP_CMD_SEQS | IMAP_CMD_UID_OK, imap_cmd_store},
	{"COPY", IMAP_S_SELECTED, IMAP_CMD_SEQS | IMAP_CMD_UID_OK, imap_cmd_copy},
	{"MOVE", IMAP_S_SELECTED, IMAP_CMD_SEQS | IMAP_CMD_UID_OK, imap_cmd_move}, /* RFC 6851 */
	/* RFC 8508: one message number, and it expunges (not IMAP_CMD_SEQS). */
	{"REPLACE", IMAP_S_SELECTED, IMAP_CMD_UID_OK, imap_cmd_replace},
	{"SORT", IMAP_S_SELECTED, IMAP_CMD_SEQS | IMAP_CMD_UID_OK, imap_cmd_sort}, /* RFC 5256 */
	{"THREAD", IMAP_S_SELECTED, IMAP_CMD_SEQS | IMAP_CMD_UID_OK, imap_cmd_thread},
	{"CANCELUPDATE", IMAP_S_SELECTED, 0, imap_cmd_cancelupdate}, /* RFC 5267 */
};
const size_t imap_ncommands = sizeof(imap_commands) / sizeof(imap_commands[0]);

/* ---- writing ---- */

void imap_write(struct imap_session *s, const void *data, size_t len)
{
	if (len)
		conn_write(s->c, data, len);
}

void imap_printf(struct imap_session *s, const char *fmt, ...)
{
	struct buf b;
	buf_init(&b, 0);
	va_list ap;
	va_start(ap, fmt);
	int rc = buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (rc == 0)
		imap_write(s, b.data, b.len);
	buf_free(&b);
}

void imap_write_buf(struct imap_session *s, const struct buf *b)
{
	imap_write(s, b->data, b->len);
}

void imap_untagged(struct imap_session *s, const char *fmt, ...)
{
	struct buf b;
	buf_init(&b, 0);
	va_list ap;
	va_start(ap, fmt);
	int rc = buf_puts(&b, "* ");
	rc |= buf_vprintf(&b, fmt, ap);
	va_end(ap);
	rc |= buf_puts(&b, "\r\n");
	if (rc == 0)
		imap_write(s, b.data, b.len);
	buf_free(&b);
}

bool imap_output_full(const struct imap_session *s)
{
	return conn_output_pending(s->c) >= IMAP_OUTPUT_HIGH;
}

/* A command's share of its loop before it lets the other sessions of the
 * loop run (a SEARCH of a large mailbox, a FETCH of many flags). */
#define IMAP_SLICE_US 4000

static uint64_t imap_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static bool imap_slice_spent(const struct imap_session *s)
{
	return imap_now_us() - s->slice_start_us >= IMAP_SLICE_US;
}

bool imap_cmd_yield_due(struct imap_session *s)
{
	return imap_output_full(s) || imap_slice_spent(s);
}

/* "TAG word text\r\n". */
static void imap_tagged(struct imap_cmd *cmd, const char *word, const char *fmt, va_list ap)
{
	struct buf b;
	buf_init(&b, 0);
	int rc = buf_append(&b, cmd->pc->tag, cmd->pc->tag_len);
	rc |= buf_printf(&b, " %s ", word);
	rc |= buf_vprintf(&b, fmt, ap);
	rc |= buf_puts(&b, "\r\n");
	if (rc == 0)
		imap_write(cmd->s, b.data, b.len);
	buf_free(&b);
}

void imap_session_close(struct imap_session *s, const char *bye, const char *reason)
{
	if (s->closing)
		return;
	if (bye)
		imap_untagged(s, "BYE %s", bye);
	s->closing = true;
	conn_close(s->c, reason);
}

/* ---- completing a command ---- */

/* The updates that go with cmd's completion.  -1: the session is closing
 * (BYE sent: the mailbox is gone). */
static int imap_cmd_updates(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	if (s->view && !(cmd->def->flags & IMAP_CMD_NO_UPDATES)) {
		/* RFC 9051 7: the server may send mailbox updates with any
		 * command's completion; EXPUNGE only where allowed (7.5.1).
		 * RFC 5465 5.2: no NOTIFY FETCH for the session's own new
		 * messages. */
		bool own_new = cmd->def->fn == imap_cmd_append || cmd->def->fn == imap_cmd_copy ||
			       cmd->def->fn == imap_cmd_move || cmd->def->fn == imap_cmd_replace;
		if (imap_notify_view_sync(s, cmd->allow_expunge, own_new) < 0)
			return -1;
		if (!s->view)
			return -1;
	}
	return s->closing ? -1 : 0;
}

void imap_cmd_ok(struct imap_cmd *cmd, const char *fmt, ...)
{
	struct imap_session *s = cmd->s;
	if (imap_cmd_updates(cmd) < 0)
		return;
	/* Logged in, a session may last days: a command that works forgives
	 * the errors before it (limits.max_errors counts those in a row). */
	if (s->state & IMAP_S_LOGGED_IN)
		s->errors = 0;
	va_list ap;
	va_start(ap, fmt);
	if (s->view && s->view->claim && !(cmd->def->flags & IMAP_CMD_NO_UPDATES)) {
		/* New messages wait for their \Recent claim on a worker: the
		 * OK follows them (RFC 3501 6.3.11: an APPEND's EXISTS comes
		 * before its OK), without the loop waiting for the lock.  The
		 * whole line is kept, tag and all: the handler may hand its
		 * parsed command on once this returns (NOTIFY does). */
		struct buf b;
		buf_init(&b, 0);
		if (buf_append(&b, cmd->pc->tag, cmd->pc->tag_len) == 0 &&
		    buf_puts(&b, " OK ") == 0 && buf_vprintf(&b, fmt, ap) == 0 &&
		    buf_puts(&b, "\r\n") == 0 && buf_putc(&b, '\0') == 0)
			cmd->held_ok = b.data;
		else
			buf_free(&b);
		va_end(ap);
		if (cmd->held_ok)
			return;
		va_start(ap, fmt);
	}
	/* RFC 5465 3.1: news of other mailboxes goes out with any reply. */
	imap_notify_set_flush(s);
	imap_tagged(cmd, "OK", fmt, ap);
	va_end(ap);
}

void imap_cmd_no(struct imap_cmd *cmd, const char *fmt, ...)
{
	if (cmd->s->closing)
		return;
	va_list ap;
	va_start(ap, fmt);
	imap_tagged(cmd, "NO", fmt, ap);
	va_end(ap);
}

void imap_cmd_bad(struct imap_cmd *cmd, const char *fmt, ...)
{
	if (cmd->s->closing)
		return;
	/* A protocol error, the dispatcher's or a handler's (bad arguments);
	 * imap_check_limits looks at the count when the command is over. */
	cmd->s->errors++;
	va_list ap;
	va_start(ap, fmt);
	imap_tagged(cmd, "BAD", fmt, ap);
	va_end(ap);
}

void imap_cmd_store_error(struct imap_cmd *cmd, int store_err, const char *what)
{
	/* RFC 5530 3: the response code that tells the client what to do. */
	const char *code;
	switch (store_err) {
	case STORE_ERR_NOTFOUND: code = "NONEXISTENT"; break;
	case STORE_ERR_EXISTS: code = "ALREADYEXISTS"; break;
	case STORE_ERR_PERM:
	case STORE_ERR_INVALID: code = "CANNOT"; break;
	case STORE_ERR_NOQUOTA: code = "LIMIT"; break;
	case STORE_ERR_INUSE: code = "INUSE"; break;
	case STORE_ERR_TEMP: code = "UNAVAILABLE"; break;
	/* No code says "disk full"; like Dovecot we say OVERQUOTA, which
	 * clients show as "no room", and is as temporary as freeing space. */
	case STORE_ERR_NOSPACE: code = "OVERQUOTA"; break;
	default: code = "SERVERBUG"; break;
	}
	if (store_err == STORE_ERR_TEMP || (store_err != STORE_ERR_NOTFOUND &&
					    store_err != STORE_ERR_EXISTS &&
					    store_err != STORE_ERR_PERM &&
					    store_err != STORE_ERR_INVALID &&
					    store_err != STORE_ERR_NOQUOTA &&
					    store_err != STORE_ERR_NOSPACE &&
					    store_err != STORE_ERR_INUSE))
		conn_log(cmd->s->c, PLOG_ERROR, "store error command=%s what=\"%s\" error=\"%s\"",
			 cmd->def->name, what, store_strerror(store_err));
	imap_cmd_no(cmd, "[%s] %s: %s", code, what, store_strerror(store_err));
}

void imap_cmd_not_durable(struct imap_cmd *cmd, const char *what)
{
	/* A flush fails for want of disk space more often than for anything
	 * else; say so when that is the reason (storage_space.c). */
	if (store_space_check(cmd->s->srv->store, 0) == STORE_ERR_NOSPACE)
		imap_cmd_no(cmd, "[OVERQUOTA] %s: not enough disk space", what);
	else
		imap_cmd_no(cmd, "[UNAVAILABLE] %s could not be made durable, try again", what);
}

static void imap_session_run(struct imap_session *s);

static void imap_cmd_durable_cb(struct durable_waiter *w, bool ok)
{
	struct imap_cmd *cmd = w->arg;
	cmd->durable_ok = ok;
	imap_session_run(cmd->s);
}

enum imap_cmd_rc imap_cmd_wait_durable(struct imap_cmd *cmd)
{
	durable_wait(cmd->s->srv, &cmd->waiter, imap_cmd_durable_cb, cmd);
	return IMAP_CMD_WAIT;
}

void imap_cmd_resume(struct imap_cmd *cmd)
{
	cmd->auth_waiting = false;
	imap_session_run(cmd->s);
}

static void imap_job_run(struct work *w)
{
	struct imap_job *j = (struct imap_job *)w;
	j->run(j);
}

static void imap_job_done(struct work *w)
{
	struct imap_job *j = (struct imap_job *)w;
	struct imap_cmd *cmd = j->cmd;
	if (!cmd) {
		struct imap_command *pc = j->pc;
		struct server *srv = j->srv;
		size_t budget = j->budget;
		j->discard(j);
		imap_command_free(&pc);
		if (budget)
			limits_budget_give(srv, budget);
		return;
	}
	cmd->job = NULL;
	j->finish(j, w->ran);
	imap_session_run(cmd->s);
}

int imap_cmd_job_submit(struct imap_cmd *cmd, struct imap_job *j)
{
	struct imap_session *s = cmd->s;
	j->cmd = cmd;
	j->w.run = imap_job_run;
	j->w.done = imap_job_done;
	if (workpool_submit(s->srv->workpool, conn_loop(s->c), &j->w) < 0)
		return -1;
	cmd->job = j;
	return 0;
}

enum imap_cmd_rc imap_cmd_want_line(struct imap_cmd *cmd)
{
	cmd->s->want_line = true;
	return IMAP_CMD_WAIT;
}

/* ---- capabilities ---- */

void imap_capability_write(struct imap_session *s, struct buf *out)
{
	/* RFC 9051 7.2.2: IMAP4rev2 and IMAP4rev1 both, so that either kind of
	 * client finds its protocol (RFC 9051 appendix E). */
	buf_puts(out, "IMAP4rev1 IMAP4rev2");
	if (s->state == IMAP_S_NOAUTH) {
		/* RFC 9051 6.2.1: STARTTLS only while it can still be used. */
		if (conn_tls_available(s->c) && !conn_is_tls(s->c))
			buf_puts(out, " STARTTLS");
		/* RFC 9051 7.2.2: LOGINDISABLED where plaintext is refused;
		 * RFC 4959 SASL-IR; the mechanisms usable now as AUTH=. */
		if (!auth_plaintext_allowed(s->c))
			buf_puts(out, " LOGINDISABLED");
		for (const char *m = auth_mechanisms(s->c); *m;) {
			size_t n = strcspn(m, " ");
			buf_printf(out, " AUTH=%.*s", (int)n, m);
			m += n;
			while (*m == ' ')
				m++;
		}
		buf_puts(out, " SASL-IR");
	} else {
		/* RFC 4978 5: COMPRESS is a command-auth. */
		buf_puts(out, " COMPRESS=DEFLATE");
		/* RFC 8437 3: may be announced only once authenticated. */
		buf_puts(out, " UNAUTHENTICATE");
	}
	/* RFC 7888 5: LITERAL+ or LITERAL- (imap.literal), never both. */
	buf_puts(out, s->cfg->imap_literal_minus ? " LITERAL-" : " LITERAL+");
	/* RFC 2971 ID, RFC 5161 ENABLE, RFC 2177 IDLE, RFC 2342 NAMESPACE,
	 * RFC 3691 UNSELECT, RFC 4315 UIDPLUS, RFC 6851 MOVE, RFC 3348
	 * CHILDREN, RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS, RFC 6154
	 * SPECIAL-USE, RFC 4731 ESEARCH, RFC 5182 SEARCHRES, RFC 7162
	 * CONDSTORE and QRESYNC, RFC 3516 BINARY, RFC 3502 MULTIAPPEND, RFC
	 * 7889 APPENDLIMIT, RFC 8438 STATUS=SIZE, RFC 6855 UTF8=ACCEPT, RFC
	 * 5032 WITHIN, RFC 6154 3 CREATE-SPECIAL-USE, RFC 8514 SAVEDATE, RFC
	 * 8474 OBJECTID, RFC 8508 REPLACE, RFC 8970 PREVIEW, RFC 5465 NOTIFY. */
	buf_printf(out, " ID ENABLE IDLE NAMESPACE UNSELECT UIDPLUS MOVE CHILDREN "
		   "LIST-EXTENDED LIST-STATUS SPECIAL-USE ESEARCH SEARCHRES CONDSTORE QRESYNC BINARY "
		   "MULTIAPPEND APPENDLIMIT=%zu STATUS=SIZE UTF8=ACCEPT WITHIN "
		   "CREATE-SPECIAL-USE SAVEDATE OBJECTID REPLACE PREVIEW NOTIFY",
		   s->cfg->imap_max_message_size);
	/* RFC 5256 SORT and THREAD, RFC 5957 SORT=DISPLAY, RFC 5267 ESORT and
	 * CONTEXT. */
	buf_puts(out, " SORT SORT=DISPLAY THREAD=ORDEREDSUBJECT THREAD=REFERENCES ESORT"
		 " CONTEXT=SEARCH CONTEXT=SORT");
	/* RFC 4469 CATENATE (imap_cmd_catenate.c); RFC 4467 URLAUTH and RFC
	 * 5524 URLAUTH=BINARY (imap_cmd_urlauth.c). */
	buf_puts(out, " CATENATE URLAUTH URLAUTH=BINARY");
	/* RFC 5464 1: server and mailbox annotations (METADATA-SERVER too,
	 * for clients that look only for server annotations). */
	buf_puts(out, " METADATA METADATA-SERVER");
}

void imap_session_unauthenticate(struct imap_session *s)
{
	imap_notify_set_install(s, NULL);
	if (s->view)
		imap_view_close(s, &s->view);   /* with its saved result ("$") */
	imap_notify_unregister(s);
	s->updates_pending = false;
	/* RFC 8437 4.1: ENABLEd extensions cease, CONDSTORE as if never
	 * enabled. */
	s->rev2 = false;
	s->utf8 = false;
	s->condstore = false;
	s->qresync = false;
	auth_sasl_free(&s->sasl);
	memset(&s->user, 0, sizeof(s->user));
	s->state = IMAP_S_NOAUTH;
	/* A stranger's limits and command allowance again.  core's trust
	 * stays (conn_trust only grows): this connection has logged in, so
	 * the login deadline from connect and eviction as a stranger are not
	 * put back; max_junk_commands and the autologout timer bound it. */
	s->junk = 0;
	imap_session_limits_apply(s);
}

/* ---- the change feed ---- */

void imap_session_notify(struct imap_session *s)
{
	s->updates_pending = true;
	/* RFC 2177 3: while idling the client hears of changes at once; other
	 * sessions get them with their next command's completion. */
	if (s->closing || !s->view)
		return;
	if (s->idling) {
		imap_notify_view_sync(s, true, false);
	} else if (!s->cmd && s->nset && s->nset->selected) {
		/* RFC 5465 6.1: NOTIFY with SELECTED hears at once, between
		 * commands too; SELECTED-DELAYED keeps expunges for a command
		 * that allows them (6.1.2). */
		imap_notify_view_sync(s, !s->nset->selected_delayed, false);
	}
}

static void imap_cmd_finish(struct imap_session *s);
void imap_session_claimed(struct imap_session *s)
{
	struct imap_cmd *cmd = s->cmd;
	if (!cmd || !cmd->held_ok) {
		imap_session_notify(s);
		return;
	}
	/* What the command was held for is in the view now.  Messages that
	 * came since may need a claim of their own: they are told when it
	 * returns, not waited for here, so that a stream of deliveries
	 * cannot hold the command for ever. */
	if (imap_cmd_updates(cmd) < 0)
		return;   /* closing */
	char *line = cmd->held_ok;
	cmd->held_ok = NULL;
	imap_notify_set_flush(s);
	imap_write(s, line, strlen(line));
	free(line);
	imap_cmd_finish(s);
}

/* ---- running commands ---- */

void imap_session_condstore_enable(struct imap_session *s)
{
	if (s->condstore)
		return;
	s->condstore = true;
	/* RFC 7162 3.1: "A first CONDSTORE enabling command executed in the
	 * session with a mailbox selected MUST cause the server to return
	 * HIGHESTMODSEQ"; the value is the view's, the state this session
	 * has been shown (never NOMODSEQ: the store keeps MODSEQs for every
	 * mailbox, and a mod-sequence-value is at least 1, as at SELECT). */
	if (s->view)
		imap_untagged(s, "OK [HIGHESTMODSEQ %llu] Highest",
			      (unsigned long long)(s->view->modseq ? s->view->modseq : 1));
}

/* The literals of the command being read or run are freed: give their
 * share of the input budget back. */
static void imap_budget_release(struct imap_session *s)
{
	limits_budget_give(s->srv, s->budget_held);
	s->budget_held = 0;
}

static void imap_cmd_free(struct imap_session *s, struct imap_cmd **cmdp)
{
	struct imap_cmd *cmd = *cmdp;
	if (!cmd)
		return;
	durable_cancel(s->srv, &cmd->waiter);
	auth_check_cancel(&cmd->check);
	/* A job on the pool finds the command gone and frees itself (with
	 * the parsed command, when it reads from it). */
	if (cmd->job) {
		if (cmd->job->keep_command) {
			/* The literals live on in the job, and so does their
			 * share of the input budget: given back with them. */
			cmd->job->pc = cmd->pc;
			cmd->job->budget = s->budget_held;
			cmd->job->srv = s->srv;
			cmd->pc = NULL;
			s->budget_held = 0;
		}
		cmd->job->cmd = NULL;
		atomic_store(&cmd->job->gone, true);
	}
	/* An AUTHENTICATE waiting for its password check: the exchange (and
	 * the check, whose done names this command) ends with it. */
	if (cmd->auth_waiting)
		auth_sasl_free(&s->sasl);
	if (cmd->ctx_free && cmd->ctx)
		cmd->ctx_free(cmd->ctx);
	free(cmd->held_ok);
	imap_command_free(&cmd->pc);
	imap_budget_release(s);
	free(cmd);
	*cmdp = NULL;
}

/* Too many errors, or too many commands without logging in: a client
 * that keeps failing or stalling holds a connection others could use, or
 * is guessing.  RFC 9051 7.1.5: BYE, then close.  True if closed. */
static bool imap_check_limits(struct imap_session *s)
{
	if (s->closing)
		return true;
	if (s->errors >= s->cfg->max_errors) {
		conn_log(s->c, PLOG_WARN, "closing: too many errors errors=%u junk=%u", s->errors,
			 s->junk);
		imap_session_close(s, "Too many invalid commands", "too many errors");
		return true;
	}
	if (s->state == IMAP_S_NOAUTH && s->junk > s->cfg->max_junk_commands) {
		conn_log(s->c, PLOG_WARN, "closing: too many commands without login errors=%u junk=%u",
			 s->errors, s->junk);
		imap_session_close(s, "Too many commands without logging in", "too many junk commands");
		return true;
	}
	return false;
}

/* After a command: timeouts follow the state it left, input resumes, and a
 * shutdown that waited for it happens now. */
static void imap_cmd_finish(struct imap_session *s)
{
	imap_cmd_free(s, &s->cmd);
	s->want_line = false;
	if (s->closing)
		return;
	/* A failed login (imap_cmd_auth.c counts them) is an error too. */
	if (s->auth_failures > s->auth_failures_seen)
		s->errors += s->auth_failures - s->auth_failures_seen;
	s->auth_failures_seen = s->auth_failures;
	if (s->shutdown_pending) {
		imap_session_close(s, "Server shutting down", "shutdown");
		return;
	}
	if (imap_check_limits(s))
		return;
	conn_set_timeout(s->c, s->cfg->imap_timeout);
	conn_resume(s->c);
	/* RFC 5465 3.1: between commands a NOTIFY client hears at once;
	 * what came in while the command ran goes now. */
	imap_notify_set_flush(s);
}

/* Call the running command's handler until it finishes, waits, or must
 * wait for the output to drain. */
static void imap_session_run(struct imap_session *s)
{
	struct imap_cmd *cmd = s->cmd;
	/* Done but for its OK (held_ok): imap_session_claimed finishes it;
	 * a drained output must not run it again. */
	if (!cmd || cmd->held_ok)
		return;
	s->slice_start_us = imap_now_us();
	for (;;) {
		if (s->closing) {
			imap_cmd_free(s, &s->cmd);
			return;
		}
		/* The list feed tells a NOTIFY client's own changes by this
		 * (RFC 5465 5: not reported back to it). */
		imap_notify_origin_set(s->nset ? s->nset->serial : 0);
		enum imap_cmd_rc rc = cmd->def->fn(cmd);
		imap_notify_origin_set(0);
		cmd->line = NULL;
		cmd->line_len = 0;
		if (rc == IMAP_CMD_DONE && cmd->held_ok) {
			conn_suspend(s->c);   /* imap_session_claimed finishes it */
			return;
		}
		if (rc == IMAP_CMD_DONE) {
			imap_cmd_finish(s);
			return;
		}
		if (rc == IMAP_CMD_WAIT) {
			/* A line wanted: let input through to on_line. */
			if (s->want_line)
				conn_resume(s->c);
			else
				conn_suspend(s->c);
			return;
		}
		/* AGAIN: on_drain calls again once the client has read, or at
		 * the loop's next turn when the command used up its slice. */
		conn_suspend(s->c);
		if (imap_output_full(s))
			return;
		if (imap_slice_spent(s)) {
			conn_yield(s->c);
			return;
		}
	}
}

static const struct imap_command_def *imap_command_find(const char *name)
{
	for (size_t i = 0; i < imap_ncommands; i++)
		if (strcmp(imap_commands[i].name, name) == 0)
			return &imap_commands[i];
	return NULL;
}

/* A whole command from the parser: check it against the table and run it. */
static void imap_dispatch(struct imap_session *s, struct imap_command *pc)
{
	struct imap_cmd *cmd = calloc(1, sizeof(*cmd));
	if (!cmd) {
		imap_command_free(&pc);
		imap_session_close(s, "[SERVERBUG] Out of memory", "out of memory");
		return;
	}
	cmd->s = s;
	cmd->pc = pc;
	cmd->uid = pc->uid;
	s->cmd = cmd;
	const struct imap_command_def *def = imap_command_find(pc->name);
	/* For the error replies below: a def that never runs. */
	static const struct imap_command_def unknown = {"?", 0, IMAP_CMD_NO_UPDATES, NULL};
	cmd->def = def ? def : &unknown;
	/* Before login only logging in is progress; the rest (CAPABILITY,
	 * STARTTLS, ID, failed attempts) is limited by limits.max_junk_commands. */
	if (s->state == IMAP_S_NOAUTH)
		s->junk++;
	/* The BAD replies below count as errors (imap_cmd_bad). */
	if (!def) {
		imap_cmd_bad(cmd, "Unknown command");
	} else if (pc->uid && !(def->flags & IMAP_CMD_UID_OK)) {
		imap_cmd_bad(cmd, "UID cannot be used with %s", def->name);
	} else if (!(def->states & s->state)) {
		/* RFC 9051 6: a command in the wrong state is a protocol error;
		 * RFC 5530 3 CLIENTBUG: the client should not have sent it. */
		if (s->state == IMAP_S_NOAUTH)
			imap_cmd_bad(cmd, "[CLIENTBUG] %s: log in first", def->name);
		else if (def->states == IMAP_S_NOAUTH)
			imap_cmd_bad(cmd, "[CLIENTBUG] %s: already logged in", def->name);
		else
			imap_cmd_bad(cmd, "[CLIENTBUG] %s: no mailbox selected", def->name);
	} else {
		/* RFC 9051 7.5.1: no EXPUNGE while a command that uses sequence
		 * numbers runs (the UID forms are exempt). */
		cmd->allow_expunge = !(def->flags & IMAP_CMD_SEQS) || pc->uid;
		/* A large mailbox's UID list is read on the worker pool first
		 * (imap_view.c); the handler runs when it is in. */
		if ((def->flags & IMAP_CMD_SEQS) && imap_view_uids_preload(cmd) == 0) {
			conn_suspend(s->c);
			return;
		}
		imap_session_run(s);
		return;
	}
	imap_cmd_finish(s);
}

/* The input budget is spent: refuse the literal just announced, without
 * reading it into memory.  RFC 5530 3: [UNAVAILABLE], a temporary failure;
 * the command was valid, so NO rather than BAD. */
static void imap_literal_refuse(struct imap_session *s, size_t size)
{
	imap_parser_literal_refuse(s->parser, "Server busy: too much input in progress, try again later");
	imap_budget_release(s);
	const struct imap_parse_error *e = imap_parser_error(s->parser);
	conn_log(s->c, PLOG_WARN, "literal refused: input budget spent size=%zu used=%zu", size,
		 limits_budget_used(s->srv));
	struct buf b;
	buf_init(&b, 0);
	int rc = buf_append(&b, e->tag, e->tag_len);
	rc |= buf_printf(&b, " NO [UNAVAILABLE] %s\r\n", e->msg);
	if (rc == 0)
		imap_write(s, b.data, b.len);
	buf_free(&b);
	if (e->recovery == IMAP_RECOVER_DISCARD && e->discard)
		conn_read_raw(s->c, (size_t)e->discard);
}

/* RFC 5464 4.3: a SETMETADATA value larger than the server takes, refused
 * by the reader before it was read.  A valid command: NO, not counted as
 * a protocol error. */
static void imap_metadata_refuse(struct imap_session *s, const struct imap_parse_error *e)
{
	conn_log(s->c, PLOG_INFO, "metadata value refused: too large max=%llu",
		 (unsigned long long)e->metadata_maxsize);
	struct buf b;
	buf_init(&b, 0);
	int rc = e->tag_known ? buf_append(&b, e->tag, e->tag_len) : buf_putc(&b, '*');
	rc |= buf_printf(&b, " NO [METADATA MAXSIZE %llu] %s\r\n",
			 (unsigned long long)e->metadata_maxsize, e->msg);
	if (rc == 0)
		imap_write(s, b.data, b.len);
	buf_free(&b);
}

/* What to do after feeding the parser. */
static void imap_parsed(struct imap_session *s, enum imap_parse_status st)
{
	switch (st) {
	case IMAP_PARSE_DONE: {
		struct imap_command *pc = imap_parser_take(s->parser);
		if (pc)
			imap_dispatch(s, pc);
		return;
	}
	case IMAP_PARSE_NEED_LINE:
		return;
	case IMAP_PARSE_NEED_LITERAL: {
		const struct imap_literal_info *li = imap_parser_literal(s->parser);
		/* Bytes dropped for a refused command: it holds no literal now. */
		if (li->discard)
			imap_budget_release(s);
		if (!li->discard && li->size) {
			/* The parser will hold the literal whole: take its share of
			 * the server's input budget first (core/session_limits.h). */
			if (!limits_budget_take(s->srv, (size_t)li->size)) {
				imap_literal_refuse(s, (size_t)li->size);
				return;
			}
			s->budget_held += (size_t)li->size;
		}
		/* RFC 9051 7.5: "+" invites a synchronizing literal. */
		if (li->sync && !li->discard)
			imap_write(s, "+ Ready for literal data\r\n", 26);
		if (li->size)
			conn_read_raw(s->c, (size_t)li->size);
		return;
	}
	case IMAP_PARSE_ERROR:
		break;
	}
	imap_budget_release(s);
	const struct imap_parse_error *e = imap_parser_error(s->parser);
	if (e->metadata_maxsize) {
		imap_metadata_refuse(s, e);
		return;
	}
	struct buf b;
	buf_init(&b, 0);
	int rc = 0;
	if (e->tag_known)
		rc |= buf_append(&b, e->tag, e->tag_len);
	else
		rc |= buf_putc(&b, '*');
	rc |= buf_printf(&b, " BAD %s%s\r\n",
			 e->toobig ? "[TOOBIG] " : e->limit ? "[LIMIT] " : "", e->msg);
	if (rc == 0)
		imap_write(s, b.data, b.len);
	buf_free(&b);
	s->errors++;
	if (s->state == IMAP_S_NOAUTH)
		s->junk++;
	if (e->recovery == IMAP_RECOVER_CLOSE) {
		/* RFC 7888 5: a BYE for a literal too large SHOULD say TOOBIG. */
		imap_session_close(s, e->toobig ? "[TOOBIG] Too much invalid input" :
				   "Too much invalid input", "protocol errors");
		return;
	}
	if (imap_check_limits(s))
		return;
	if (e->recovery == IMAP_RECOVER_DISCARD && e->discard)
		conn_read_raw(s->c, (size_t)e->discard);
}

static void imap_on_line(void *sess, const char *line, size_t len, bool crlf)
{
	struct imap_session *s = sess;
	(void)crlf;   /* RFC 9051 2.2: CRLF; a bare LF is tolerated */
	if (s->closing)
		return;
	if (s->cmd) {
		if (!s->want_line)
			return;   /* input is suspended while a command runs */
		s->want_line = false;
		s->cmd->line = line;
		s->cmd->line_len = len;
		imap_session_run(s);
		return;
	}
	imap_parsed(s, imap_parser_feed_line(s->parser, line, len));
}

static void imap_on_raw(void *sess, const char *data, size_t len, bool last)
{
	struct imap_session *s = sess;
	(void)last;
	if (s->closing)
		return;
	enum imap_parse_status st = imap_parser_feed_literal(s->parser, data, len, NULL);
	/* NEED_LITERAL here: more of the same literal, which core is already
	 * reading raw (conn_read_raw was called when it was announced). */
	if (st != IMAP_PARSE_NEED_LITERAL)
		imap_parsed(s, st);
}

static void imap_on_line_too_long(void *sess, const char *head, size_t head_len)
{
	struct imap_session *s = sess;
	if (s->closing)
		return;
	if (s->cmd) {
		if (s->want_line) {
			/* An AUTHENTICATE response or IDLE's DONE beyond the limit. */
			s->want_line = false;
			s->cmd->line = "";
			s->cmd->line_len = 0;
			imap_session_run(s);
		}
		return;
	}
	/* RFC 7888 4 / RFC 4469: a line over the limit; the rest of it is
	 * dropped by core and the next line starts afresh.  The command it
	 * belonged to ends with a tagged BAD when its tag can be found
	 * (RFC 9051 7.1.3). */
	struct buf b;
	buf_init(&b, 0);
	const char *tag;
	size_t tag_len;
	int rc = imap_parser_line_tag(s->parser, head, head_len, &tag, &tag_len)
			 ? buf_append(&b, tag, tag_len)
			 : buf_putc(&b, '*');
	rc |= buf_puts(&b, " BAD [TOOBIG] Line too long\r\n");
	imap_parser_reset(s->parser);
	imap_budget_release(s);
	if (rc == 0)
		imap_write(s, b.data, b.len);
	buf_free(&b);
	s->errors++;
	if (s->state == IMAP_S_NOAUTH)
		s->junk++;
	imap_check_limits(s);
}

static void imap_on_drain(void *sess)
{
	struct imap_session *s = sess;
	if (!s->cmd || s->closing || s->want_line || imap_output_full(s))
		return;
	/* The client is reading: that is activity too. */
	conn_set_timeout(s->c, s->cfg->imap_timeout);
	if (s->cmd->waiter.queued || s->cmd->auth_waiting || s->cmd->job)
		return;   /* waiting for the log flush or a worker, not for output */
	imap_session_run(s);
}

static void imap_on_timeout(void *sess, enum conn_expiry why)
{
	struct imap_session *s = sess;
	static const char *const farewell[] = {
		[CONN_EXPIRY_IDLE] = "BYE Autologout; idle for too long",
		[CONN_EXPIRY_DEADLINE] = "BYE Autologout; no login in time",
		[CONN_EXPIRY_EVICTED] = "BYE [UNAVAILABLE] Too many connections, closing this idle one",
	};
	/* RFC 9051 5.4: the autologout timer is at least 30 minutes once
	 * logged in; core closes after this. */
	if (!s->closing) {
		imap_untagged(s, "%s", farewell[why]);
		s->closing = true;
	}
}

static void imap_on_shutdown(void *sess)
{
	struct imap_session *s = sess;
	if (s->closing)
		return;
	if (s->cmd && !s->want_line) {
		/* Let a command in flight (an APPEND waiting for its flush)
		 * finish and answer; imap_cmd_finish says goodbye. */
		s->shutdown_pending = true;
		return;
	}
	imap_session_close(s, "Server shutting down", "shutdown");
}

/* RFC 2971 3.3: ID, allowed before login, may carry 30 field-value pairs,
 * fields up to 30 octets and values up to 1024, each a quoted string and a
 * space: about 31 KiB on one line.  A stranger's line must hold the
 * largest legal one (imaptest's "id" group sends it), so that much stays
 * allowed before login, above core's small pre-auth line. */
#define IMAP_ID_MAX_LINE (30 * ((2 + 30 + 1) + (2 + 1024 + 1)) + 64)

void imap_session_limits_apply(struct imap_session *s)
{
	/* core chooses the sizes by state (core/session_limits.h); the parser's
	 * defaults fill in the structural limits (nesting, arguments). */
	struct limits lim;
	limits_get(s->cfg, s->state == IMAP_S_NOAUTH ? LIMITS_PREAUTH : LIMITS_AUTHED, &lim);
	imap_parse_limits_default(&s->limits);
	/* RFC 7888: what imap_capability_write announces (LITERAL-: {n+}
	 * up to 4096 octets, 5); RFC 7889: APPENDLIMIT. */
	s->limits.nonsync = s->cfg->imap_literal_minus ? IMAP_NONSYNC_MINUS : IMAP_NONSYNC_PLUS;
	s->limits.literal8 = true;
	s->limits.max_literal = lim.max_literal;
	s->limits.max_command = lim.max_command;
	s->limits.max_append = lim.max_imap_message;
	/* RFC 5464 4.3: a value over this is NO [METADATA MAXSIZE n] at its
	 * announcement, not read (imap_parse.c). */
	s->limits.max_metadata_value = lim.max_imap_metadata;
	if (s->limits.max_append_total < s->limits.max_append)
		s->limits.max_append_total = s->limits.max_append;
	if (s->state == IMAP_S_NOAUTH) {
		/* A stranger's line is short, and an unwanted {n+} literal is
		 * dropped only while small; past that, BYE (RFC 7888 4). */
		s->limits.max_line = lim.max_line < IMAP_ID_MAX_LINE ? IMAP_ID_MAX_LINE : lim.max_line;
		if (s->limits.max_command < s->limits.max_line + 2)
			s->limits.max_command = s->limits.max_line + 2;
		s->limits.max_append_total = 0;
		s->limits.max_discard = lim.max_literal;
	}
	if (s->parser)
		imap_parser_set_limits(s->parser, &s->limits);
	/* core's line limit is above the parser's, so that an over-long
	 * command reaches the parser and gets a tagged BAD [TOOBIG]; only
	 * beyond this does core drop the line (untagged BAD). */
	lim.max_line = s->limits.max_line + (s->state == IMAP_S_NOAUTH ? 1024 : 1024 * 1024);
	conn_set_limits(s->c, &lim);
}

static void *imap_session_new(struct conn *c)
{
	struct imap_session *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->c = c;
	s->srv = conn_server(c);
	s->cfg = s->srv->cfg;
	s->store = s->srv->store;
	s->state = IMAP_S_NOAUTH;
	imap_session_limits_apply(s);
	s->parser = imap_parser_new(&s->limits);
	if (!s->parser) {
		free(s);
		return NULL;
	}
	/* RFC 9051 5.4: the autologout timer; core's login deadline
	 * (limits.login_timeout) bounds the time before login. */
	conn_set_timeout(c, s->cfg->imap_timeout);
	/* RFC 9051 7.1.1: the greeting, with the capabilities so that the
	 * client need not ask (RFC 9051 7.1 CAPABILITY response code). */
	struct buf b;
	buf_init(&b, 0);
	buf_puts(&b, "* OK [CAPABILITY ");
	imap_capability_write(s, &b);
	buf_puts(&b, "] postino ready.\r\n");
	imap_write_buf(s, &b);
	buf_free(&b);
	return s;
}

static void imap_session_free(void *sess, const char *reason)
{
	struct imap_session *s = sess;
	(void)reason;
	imap_cmd_free(s, &s->cmd);
	auth_sasl_free(&s->sasl);
	imap_notify_wait_detach(s);
	imap_notify_set_install(s, NULL);
	if (s->view)
		imap_view_close(s, &s->view);
	imap_notify_unregister(s);
	imap_parser_free(&s->parser);
	imap_budget_release(s);
	free(s);
}

const struct proto_ops imap_proto_ops = {
	.name = "imap",
	.session_new = imap_session_new,
	.on_line = imap_on_line,
	.on_line_too_long = imap_on_line_too_long,
	.on_raw = imap_on_raw,
	.on_drain = imap_on_drain,
	.on_timeout = imap_on_timeout,
	.on_shutdown = imap_on_shutdown,
	.session_free = imap_session_free,
	.busy_reply = "* BYE [UNAVAILABLE] Too many connections, try again later\r\n",
};
