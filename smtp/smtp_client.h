/* smtp/smtp_client.h: one outbound SMTP connection on an event loop.
 * The queue runner opens it towards one address, waits for READY, hands it
 * one transaction at a time with smtp_client_send (DONE after each), and
 * closes it.  It knows nothing of the store: a message's bytes come through
 * the read callback, in chunks, never whole in memory.
 *
 * What it does on its own: greeting, EHLO (HELO if EHLO gets 5xx, RFC 5321
 * 3.2), STARTTLS by policy (RFC 3207), EHLO again, AUTH PLAIN or LOGIN for
 * a smarthost (only over TLS), PIPELINING (RFC 2920), SIZE (RFC 1870),
 * BODY=8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531), DSN parameters (RFC 3461),
 * dot-stuffing and CRLF normalization of the content (RFC 5321 4.5.2),
 * RSET between transactions, the timeouts of RFC 5321 4.5.3.2, QUIT. */
#ifndef POSTINO_SMTP_CLIENT_H
#define POSTINO_SMTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct tls_client_ctx;

enum smtp_tls_policy { SMTP_TLS_NONE, SMTP_TLS_MAY, SMTP_TLS_ENCRYPT, SMTP_TLS_VERIFY };

struct smtp_client_config {
	const char *helo;                 /* our name for EHLO/HELO (NULL = "localhost") */
	const struct sockaddr *bind4, *bind6;   /* outgoing source address, NULL = any */
	socklen_t bind4_len, bind6_len;
	enum smtp_tls_policy tls;
	/* Smarthost AUTH (PLAIN, else LOGIN), only after TLS; NULL = none.
	 * With tls = none, or a server without STARTTLS, the client refuses
	 * to send them: FAILED, permanent. */
	const char *auth_user, *auth_pass;
	struct tls_client_ctx *tls_ctx;   /* from core/tls.h; needed unless tls = none */
	/* 0 = RFC 5321 4.5.3.2 timeouts (greeting 5 min, MAIL 5, RCPT 5, DATA
	 * initiation 2, data block 3, final dot 10 min; connect 30 s, EHLO,
	 * STARTTLS, AUTH, RSET 5 min); else a cap in ms for every timeout. */
	unsigned timeout_scale_ms;
};

enum {
	SMTP_NOTIFY_NEVER = 1u << 0,
	SMTP_NOTIFY_SUCCESS = 1u << 1,
	SMTP_NOTIFY_FAILURE = 1u << 2,
	SMTP_NOTIFY_DELAY = 1u << 3,
};

struct smtp_client_rcpt {
	const char *address;          /* forward-path without <> */
	const char *orcpt;            /* RFC 3461 ORCPT ("rfc822;user@example.org", not xtext-encoded), NULL = none */
	unsigned notify;              /* SMTP_NOTIFY_* bits, 0 = not given */
	/* results, filled in by the client */
	int code;                     /* final reply code for this recipient: RCPT reply if not 2xx, else the DATA reply; 0 = no answer (connection lost) */
	char status[16];              /* enhanced status "5.1.1" or "" */
	char reply[512];              /* the reply text, one line, control characters replaced */
};

struct smtp_client_msg {
	const char *sender;           /* "" = null reverse-path <> */
	const char *envid;            /* RFC 3461 ENVID or NULL */
	int ret;                      /* 0 none, 1 FULL, 2 HDRS */
	struct smtp_client_rcpt *rcpts;
	size_t nrcpts;
	uint64_t size;                /* bytes read() will deliver (before dot-stuffing) */
	bool eightbit;                /* body has 8-bit octets: BODY=8BITMIME */
	bool utf8;                    /* envelope or headers need SMTPUTF8 (RFC 6531) */
	/* Reads content bytes [off, off+cap); *got 0 only at the end.  Returns
	 * 0, -1 (read error), or 1: the bytes cannot be had now without
	 * waiting (a writer's lock on the store's pages), nothing read; the
	 * client then sends nothing more until smtp_client_resume, which the
	 * caller owes it once they can.  A read error, or more bytes than size, in the
	 * middle of DATA cannot be undone by RSET (the content is already on
	 * its way and only the final dot would end it), so the client closes
	 * the connection without the dot: FAILED, and every recipient accepted
	 * so far gets 451 4.3.0. */
	int (*read)(void *arg, uint64_t off, void *buf, size_t cap, size_t *got);
	void *read_arg;
};

enum smtp_client_event {
	SMTP_CLIENT_READY,    /* greeting, EHLO/HELO, STARTTLS, AUTH done: give it a message or close it */
	SMTP_CLIENT_DONE,     /* the transaction given to smtp_client_send is over: per-recipient results are in msg->rcpts */
	SMTP_CLIENT_FAILED,   /* the connection is unusable (before or during a transaction); results of the transaction in progress, if any, are in its rcpts (0 = unknown) */
};

struct smtp_client_info {
	int code;             /* the reply (or local reason, 4xx/5xx) that explains FAILED or a whole-message refusal */
	char status[16];
	char text[512];
	bool permanent;       /* 5xx at greeting/EHLO/MAIL, or a policy failure that a retry will not fix */
	const char *tls_version, *tls_cipher;   /* NULL without TLS */
	bool msg_refused;     /* DONE but MAIL or DATA refused: the recipients it concerns got `code` */
	/* FAILED under policy "may" because the TLS handshake failed: retry
	 * this host without TLS (as Postfix does on its next connection); the
	 * runner decides. */
	bool tls_failed;
	/* The server offered DSN (RFC 3461): NOTIFY went with the recipients,
	 * so notices from here on are the next server's to write. */
	bool dsn;
};

typedef void smtp_client_fn(void *arg, enum smtp_client_event ev,
			    const struct smtp_client_info *info);

/* Connect to addr (IPv4 or IPv6); host names the server for SNI,
 * certificate verification and logs.  cfg and the strings in it must live
 * until smtp_client_close.  NULL only when memory is short; every other
 * failure (socket, connect, timeout) comes as FAILED from the loop. */
struct smtp_client *smtp_client_open(struct event_base *base, const struct smtp_client_config *cfg,
				     const char *host, const struct sockaddr *addr,
				     socklen_t addrlen, smtp_client_fn *cb, void *arg);
/* Whether the server offered 8BITMIME (RFC 6152), known from READY on:
 * without it the caller sends 8-bit content only converted (smtp_7bit.h). */
bool smtp_client_8bitmime(const struct smtp_client *c);
/* Start a transaction (only after READY or DONE).  -1 if the message needs
 * what the server lacks: then info_r says why (SIZE exceeded: permanent
 * 552 5.3.4; 8-bit content without 8BITMIME: permanent 554 5.6.3, since
 * converting it (RFC 6152 3) is the caller's business, which knows the
 * message's MIME structure;
 * SMTPUTF8 needed but not offered: permanent 553 5.6.7, RFC 6531 3.2), or
 * it is not the time (no READY/DONE yet, another transaction running).
 * 0 = started; DONE or FAILED follows.  m and its strings must live until
 * then. */
int smtp_client_send(struct smtp_client *c, struct smtp_client_msg *m,
		     struct smtp_client_info *info_r);
/* A read that answered 1 can be made now: the content goes on. */
void smtp_client_resume(struct smtp_client *c);
/* RSET between transactions is the client's business; close sends QUIT
 * when idle and frees (the QUIT goes out from the loop after this returns,
 * and the client lingers until the 221, the server's close or 30 s);
 * no callback after it.  Safe inside the callback. */
void smtp_client_close(struct smtp_client *c);
/* Free at once every client of base still lingering after its QUIT (call
 * it on the loop's thread before event_base_free at shutdown); returns how
 * many it freed. */
size_t smtp_client_shutdown(struct event_base *base);

#endif
