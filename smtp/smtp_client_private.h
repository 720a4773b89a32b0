/* smtp/smtp_client_private.h: the client's state, shared by the connection
 * half (smtp_client.c: socket, TLS, timeouts, replies, the session up to
 * READY, QUIT) and the transaction half (smtp_client_txn.c: MAIL, RCPT,
 * DATA, the content, RSET).  Not for other modules. */
#ifndef POSTINO_SMTP_CLIENT_PRIVATE_H
#define POSTINO_SMTP_CLIENT_PRIVATE_H

#include <stdarg.h>

#include "smtp/smtp_client.h"
#include "smtp/smtp_reply.h"

struct bufferevent;
struct event;
typedef struct ssl_st SSL;

enum smtp_client_state {
	CL_CONNECT,       /* TCP connect in progress */
	CL_GREETING,
	CL_EHLO,
	CL_HELO,
	CL_STARTTLS,      /* STARTTLS sent, waiting for 220 */
	CL_HANDSHAKE,     /* TLS handshake in progress */
	CL_AUTH_PLAIN,
	CL_AUTH_LOGIN_USER,
	CL_AUTH_LOGIN_PASS,
	CL_AUTH_LOGIN_DONE,
	CL_IDLE,          /* READY or DONE given: waiting for a message */
	CL_MAIL,
	CL_RCPT,
	CL_DATA,          /* DATA sent, waiting for 354 */
	CL_BODY,          /* sending the content */
	CL_DOT,           /* final dot sent, waiting for the reply */
	CL_RSET,
	CL_QUIT,          /* closed by the user: QUIT sent, waiting for anything */
	CL_DEAD,          /* FAILED given, socket gone */
};

struct smtp_client {
	struct event_base *base;
	const struct smtp_client_config *cfg;
	char *host;
	smtp_client_fn *cb;
	void *arg;
	struct bufferevent *bev;   /* the top one: the TLS filter after STARTTLS */
	SSL *ssl;                  /* owned by bev */
	struct event *defer;       /* reports a failure of smtp_client_open from the loop */
	/* The reply we wait for must be whole by then: a deadline, not an idle
	 * timer, so a server dripping a byte now and then cannot hold us. */
	struct event *deadline;
	unsigned deadline_s;
	struct smtp_client_info open_fail;
	enum smtp_client_state st;
	struct smtp_reply reply;
	struct smtp_ehlo ehlo;
	bool tls_on, tls_declined;
	int depth;                 /* >0 while one of our callbacks runs */
	bool free_pending;         /* smtp_client_close was called inside one */
	/* On this thread's list of clients lingering after QUIT. */
	struct smtp_client *linger_prev, *linger_next;
	bool lingering;

	/* the transaction in progress */
	struct smtp_client_msg *msg;
	bool *accepted;            /* per recipient: RCPT got 2xx */
	size_t rcpt_sent, rcpt_replied, naccepted;
	bool mail_ok;
	struct smtp_client_info done_info;   /* what DONE reports (after a RSET) */
	uint64_t off;              /* content read so far */
	bool line_start, pending_cr;
	bool read_held;            /* the last read answered 1: smtp_client_resume */
};

/* smtp_client.c */
void smtp_client_write(struct smtp_client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Set the timeouts for the state just entered (RFC 5321 4.5.3.2 seconds,
 * capped by timeout_scale_ms; 0 = none): read_s for each awaited reply to
 * be complete, write_s for the output to make progress. */
void smtp_client_timeouts(struct smtp_client *c, unsigned read_s, unsigned write_s);
/* The connection is unusable: drop it, tell the user (FAILED). */
void smtp_client_fail(struct smtp_client *c, int code, const char *status, bool permanent,
		      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* FAILED explained by the reply just read. */
void smtp_client_fail_reply(struct smtp_client *c, bool permanent, const char *what);
void smtp_client_info_fill(const struct smtp_client *c, struct smtp_client_info *info_r);
void smtp_client_emit(struct smtp_client *c, enum smtp_client_event ev,
		      const struct smtp_client_info *info);

/* smtp_client_txn.c */
void smtp_client_txn_reply(struct smtp_client *c);
void smtp_client_txn_pump(struct smtp_client *c);

#endif
