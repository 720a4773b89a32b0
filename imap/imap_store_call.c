/* imap/imap_store_call.c: a command's one store write, in place without
 * waiting for a lock, else by a worker; a worker's wait for the pages a
 * content read found held (imap_store_call.h). */
#include <stdint.h>
#include <stdlib.h>

#include "core/conn.h"
#include "core/log.h"
#include "imap/imap_notify_set.h"
#include "imap/imap_store_call.h"
#include "storage/storage.h"

static void call_run(struct imap_job *j)
{
	struct imap_store_call *c = (struct imap_store_call *)j;
	/* The change feeds run on this thread: they must know whose change
	 * this is, as on the session's loop. */
	uint64_t was = imap_notify_origin_get();
	imap_notify_origin_set(c->origin);
	c->rc = c->call(c);
	imap_notify_origin_set(was);
}

static void call_ctx_free(void *p)
{
	struct imap_store_call *c = p;
	c->free(c);
}

static void call_finish(struct imap_job *j, bool ran)
{
	struct imap_store_call *c = (struct imap_store_call *)j;
	struct imap_cmd *cmd = j->cmd;
	if (!ran)
		c->rc = STORE_ERR_TEMP;   /* the pool stopped: shutting down */
	cmd->ctx = c;
	cmd->ctx_free = call_ctx_free;
}

static void call_discard(struct imap_job *j)
{
	struct imap_store_call *c = (struct imap_store_call *)j;
	c->free(c);
}

enum imap_cmd_rc imap_store_call_run(struct imap_cmd *cmd, struct imap_store_call *c,
				     unsigned stage)
{
	bool was = store_thread_nowait(true);
	c->rc = c->call(c);
	store_thread_nowait(was);
	if (c->rc != STORE_ERR_BUSY)
		return IMAP_CMD_DONE;
	conn_log(cmd->s->c, PLOG_DEBUG, "store busy: %s done by a worker", cmd->def->name);
	c->job.run = call_run;
	c->job.finish = call_finish;
	c->job.discard = call_discard;
	c->job.keep_command = c->reads_command;
	c->origin = imap_notify_origin_get();
	if (imap_cmd_job_submit(cmd, &c->job) == 0) {
		cmd->stage = stage;
		return IMAP_CMD_WAIT;
	}
	c->rc = c->call(c);   /* a full pool: wait here */
	return IMAP_CMD_DONE;
}

struct imap_store_call *imap_store_call_take(struct imap_cmd *cmd)
{
	struct imap_store_call *c = cmd->ctx;
	cmd->ctx = NULL;
	cmd->ctx_free = NULL;
	return c;
}

/* ---- a content read that would wait ---- */

struct content_wait_job {
	struct imap_job job;         /* first */
	struct store *store;
	uint64_t content_id, offset;
	size_t len;
};

static void content_wait_run(struct imap_job *j)
{
	struct content_wait_job *w = (struct content_wait_job *)j;
	(void)store_content_wait(w->store, w->content_id, w->offset, w->len);
}

static void content_wait_finish(struct imap_job *j, bool ran)
{
	(void)ran;
	free(j);
}

static void content_wait_discard(struct imap_job *j)
{
	free(j);
}

int imap_content_wait(struct imap_cmd *cmd, uint64_t content_id, uint64_t offset, uint64_t len)
{
	struct imap_session *s = cmd->s;
	size_t l = len < SIZE_MAX ? (size_t)len : SIZE_MAX;
	struct content_wait_job *w = calloc(1, sizeof(*w));
	if (w) {
		w->job.run = content_wait_run;
		w->job.finish = content_wait_finish;
		w->job.discard = content_wait_discard;
		w->store = s->store;
		w->content_id = content_id;
		w->offset = offset;
		w->len = l;
		if (imap_cmd_job_submit(cmd, &w->job) == 0) {
			conn_log(s->c, PLOG_DEBUG, "store busy: %s waits on a worker content=%llu "
				 "offset=%llu", cmd->def->name, (unsigned long long)content_id,
				 (unsigned long long)offset);
			return 2;
		}
		free(w);
	}
	(void)store_content_wait(s->store, content_id, offset, l);
	return 0;
}
