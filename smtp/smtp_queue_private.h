/* smtp/smtp_queue_private.h: the runner's state, shared by
 * smtp_queue.c (scanning, scheduling attempts, the service),
 * smtp_queue_group.c (DNS, connections, sending),
 * smtp_queue_content.c (what is sent: DKIM, 7-bit) and
 * smtp_queue_outcome.c (what an attempt's results mean: done, retry,
 * notices).  Not for use outside smtp/. */
#ifndef POSTINO_SMTP_QUEUE_PRIVATE_H
#define POSTINO_SMTP_QUEUE_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/dns.h"
#include "smtp/smtp_client.h"
#include "storage/storage.h"

/* How long an idle connection waits for another message to its server. */
#define OQ_IDLE_KEEP 5

struct server;
struct config;
struct event;
struct event_base;

/* What became of one recipient in this attempt. */
enum oq_fate {
	OQ_PENDING,       /* no answer yet in this attempt */
	OQ_SENT,          /* 2xx */
	OQ_DEFERRED,      /* 4xx, DNS or connection trouble: retry */
	OQ_BOUNCED,       /* 5xx or a permanent DNS answer */
};

struct oq_rcpt {
	enum oq_fate fate;
	int code;
	char status[16];
	char reply[512];
	char remote_mta[256];     /* the host that answered, "" = none */
	char tls[96];             /* "TLSv1.3/TLS_AES_256_GCM_SHA384", "" = none */
	bool dsn_passed;          /* the server offered DSN: NOTIFY went on */
};

struct oq_attempt;
struct oq_conn;
struct smtp_7bit;
struct smtp_7bit_reader;

/* The recipients of one attempt that share a destination. */
struct oq_group {
	struct oq_attempt *a;
	char domain[256];
	char dest[300];           /* the limit's key: relay or domain */
	/* Where it goes: a relay (outbound.relay or a route's), or NULL for
	 * the domain's own MX.  Decided once (attempt_groups): the relay's
	 * credentials are sent to outbound.relay and nowhere else. */
	const struct config_relay *relay;
	size_t plain_target;      /* the target retried without TLS, or SIZE_MAX */
	size_t *idx;              /* recipient indexes in a->e */
	size_t n;
	struct dns_query *dq;
	struct dns_target *targets;
	size_t ntargets, next_target;
	enum smtp_tls_policy tls;
	bool tls_off;             /* plaintext to the current target */
	bool done;
	struct oq_conn *conn;     /* while a transaction runs */
	struct smtp_client_rcpt *crcpts;
	struct smtp_client_msg msg;
	struct smtp_7bit_reader *conv_rd;   /* sending the attempt's 7-bit form */
	bool plan_wait;           /* its ready connection waits for the plan */
	char last_error[512];
	char host[256];           /* the server being tried */
};

/* One queue entry being tried. */
struct oq_attempt {
	struct oq_runner *q;
	struct oq_attempt *next;
	struct store_queue_entry e;
	struct oq_rcpt *rs;
	struct oq_group *groups;
	size_t ngroups, ngroups_done;
	struct buf prefix;        /* DKIM-Signature fields sent before the content */
	/* The 7-bit form (smtp_queue_content.c), planned when first needed;
	 * conv_all when it was signed, so every server gets it. */
	struct smtp_7bit *conv;
	bool conv_refused, conv_all;
	bool conv_failed;         /* the worker's plan failed: not again this attempt */
	struct oq_plan_job *plan_job;   /* the plan being made on a worker */
	char conv_why[200];
	/* The content, open (pinned and located) for the whole attempt:
	 * reads need no lookup of its record and no transaction; closed
	 * (unpinned) after the outcome is recorded, where a delivered
	 * message's bytes are deleted. */
	struct store *store;
	const struct config *cfg;   /* q's: what a pool job reads instead of q */
	struct store_content content;
	bool complete;            /* every group is over: finish_run records it */
	bool recording;           /* its outcome is being recorded (a pool job owns it) */
	bool preparing;           /* being signed (a pool job owns it) */
	/* Where a read under store_thread_nowait found a lock (oq_stored_read). */
	uint64_t busy_off;
	size_t busy_len;
	int64_t started;
};

/* A connection to a server, busy with a group or idle for reuse. */
struct oq_conn {
	struct oq_runner *q;
	struct oq_conn *next;     /* in q->idle */
	struct smtp_client *c;
	struct smtp_client_config cc;   /* the client points at it */
	struct oq_group *g;       /* NULL when idle */
	char host[256];
	char dest[300];           /* the group's destination (dest_conns) */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	enum smtp_tls_policy tls;
	bool tls_off;
	int64_t idle_since;
	char tls_desc[96];
	/* A worker waits for a lock on the content it sends
	 * (smtp_queue_content.c); its client is held until then. */
	struct oq_read_wait *read_wait;
};

/* What outlives the runner for the pool jobs still recording outcomes:
 * the runner, or NULL once it is freed (smtp_queue_outcome.c).  Touched
 * on loop 0's thread only. */
struct oq_anchor {
	struct oq_runner *q;
	size_t jobs;
};

struct oq_runner {
	struct server *srv;
	struct oq_anchor *anchor;
	struct store *store;
	const struct config *cfg;
	struct event_base *base;
	struct dns_resolver *dns;
	struct tls_client_ctx *tls;
	struct event *scan_ev;
	struct event *idle_ev;
	struct event *dispatch_ev;    /* oq_dispatch from the loop's top */
	struct event *finish_ev;      /* records complete attempts */
	struct event *gen_ev;         /* polls store_queue_generation, 5 times a second */
	struct event *poke_ev;        /* the admin commands' FIFO (core/queue_poke.h) */
	int poke_fd;                  /* -1: none, the poll alone */
	uint64_t gen;
	struct oq_attempt *attempts;
	struct oq_conn *idle;
	size_t nconns;            /* open connections, busy or idle */
	uint64_t *due;            /* ids to try, in order */
	size_t ndue, due_pos, due_cap;
	bool stopping;
	int64_t scan_due;         /* monotonic ms of the pending scan */
	struct sockaddr_storage bind4, bind6;
	socklen_t bind4_len, bind6_len;
	uint64_t notices;         /* a counter for unique notice ids */
	/* Destinations with connections open, and how many (dest_conns). */
	struct oq_dest { char name[300]; size_t conns; } *dests;
	size_t ndests, dests_cap;
	/* Entries whose outcome could not be recorded: not before `until`. */
	struct oq_hold { uint64_t id; int64_t until; } *holds;
	size_t nholds, holds_cap;
};

/* smtp_queue_outcome.c: the attempt is over: record every recipient's
 * fate (and the notices it calls for) in one transaction, log, free.
 * The transaction (and the deletion of a delivered message's content)
 * runs on the worker pool; the attempt stays in q->attempts, marked
 * recording, until it has committed, so no scan starts the entry again
 * before its outcome is in the store. */
void oq_attempt_finish(struct oq_attempt *a);
/* smtp_queue_content.c: the attempt's stored message, bytes [off,
 * off+cap) (a read callback: 0 or -1; 1, nothing read, only under
 * store_thread_nowait when a writer's lock is held), for DKIM,
 * conversion and notices. */
int oq_stored_read(void *arg, uint64_t off, void *buf, size_t cap, size_t *got);
/* smtp_queue_content.c: the group's read callback (arg: the group): the
 * DKIM prefix, then the message as stored or in its 7-bit form.  It
 * never waits for a writer's lock on loop 0: it answers 1 and a worker
 * waits for it, then resumes the group's client (issue 11 point 1). */
int oq_content_read(void *arg, uint64_t off, void *buf, size_t cap, size_t *got);
/* smtp_queue_content.c: a worker's wait for c's client is let go (c is
 * being freed). */
void oq_read_wait_detach(struct oq_conn *c);
/* smtp_queue_content.c: mail our users submitted is signed with the key
 * of its From: domain, if we hold one (smtp_dkim.c); an 8-bit message is
 * converted first and signed in its 7-bit form.  Once per attempt. */
void oq_attempt_sign(struct oq_attempt *a, int64_t now);
/* smtp_queue_content.c: whether the attempt's message is to be signed
 * (submitted by our users, signing on, keys loaded). */
bool oq_attempt_signs(const struct oq_attempt *a);
/* smtp_queue_content.c: oq_attempt_sign on the worker pool; cont(a)
 * runs on loop 0 once it is done, unless the runner stopped meanwhile
 * (the attempt is then freed, nothing sent).  -1: not submitted (sign in
 * place). */
int oq_attempt_sign_submit(struct oq_attempt *a, int64_t now,
			   void (*cont)(struct oq_attempt *a));
/* smtp_queue_content.c: the group sends the 7-bit form (RFC 6152 3) to
 * host (named in the log): 0 ready (g->msg updated), 1 the message cannot
 * be converted (g->a->conv_why says why), -1 a temporary failure, 2 a
 * worker makes the plan (g->plan_wait): oq_group_send is called again
 * when it is back. */
int oq_group_convert(struct oq_group *g, const char *host);
/* smtp_queue_group.c: the group's transaction on its ready connection. */
void oq_group_send(struct oq_group *g);
/* smtp_queue_content.c: frees the prefix, the plan and the readers. */
void oq_attempt_content_free(struct oq_attempt *a);
/* smtp_queue_group.c: resolve the group's destination (its relay, or
 * its domain's MX) and then try its servers. */
void oq_group_resolve(struct oq_group *g);
/* smtp_queue_group.c: try the group's next server (an idle connection to
 * it, or a new one within the limits), or give up for this attempt.  A
 * group that finds no free slot stays waiting (g->next_target unchanged)
 * for oq_dispatch to try it again. */
void oq_group_try(struct oq_group *g);
/* smtp_queue_group.c: every recipient of g still pending or deferred gets
 * this answer. */
void oq_group_fail(struct oq_group *g, enum oq_fate fate, int code, const char *status,
		   const char *text);
/* smtp_queue_group.c: close the connection, give its slot back (a
 * dispatch follows) and free it.  c must not be on q->idle. */
void oq_conn_free(struct oq_conn *c);
/* smtp_queue.c: do not try id again before until. */
void oq_hold(struct oq_runner *q, uint64_t id, int64_t until);
/* smtp_queue.c: unlink from its runner (a->q, if not NULL) and free
 * (closes the content if still open). */
void oq_attempt_free(struct oq_attempt *a);
/* smtp_queue.c: a slot for another attempt may be free. */
void oq_dispatch_soon(struct oq_runner *q);

#endif
