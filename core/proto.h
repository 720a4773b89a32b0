/* core/proto.h: how a protocol front-end plugs into core.
 *
 * core owns the socket, TLS, the line reader, timeouts and limits; a
 * front-end owns its session state and reacts to the callbacks below.  Each
 * front-end exports one `const struct proto_ops`; core/proto.c maps listener
 * kinds to them.  Front-ends include core headers and storage/storage.h,
 * never each other's. */
#ifndef POSTINO_PROTO_H
#define POSTINO_PROTO_H

#include <stdbool.h>
#include <stddef.h>

struct conn;

/* How much of an over-long line a front-end is shown (on_line_too_long):
 * enough for an IMAP tag of the longest length the parser accepts. */
#define PROTO_LINE_HEAD 1040

/* Why core ends a session by time (proto_ops.on_timeout). */
enum conn_expiry {
	CONN_EXPIRY_IDLE,      /* no whole line within the idle timeout */
	CONN_EXPIRY_DEADLINE,  /* not logged in (or no MAIL, SMTP port 25) in time */
	CONN_EXPIRY_EVICTED,   /* the oldest not-logged-in session, at max_connections */
};

struct proto_ops {
	const char *name;                              /* "smtp", "pop3", "imap" */
	/* A new connection: allocate the session and write the greeting.
	 * NULL makes core close the connection at once. */
	void *(*session_new)(struct conn *c);
	/* One input line without its terminator.  `crlf` is false when the line
	 * ended in a bare LF (SMTP needs that to refuse smuggled DATA ends).
	 * The line is NUL-terminated at line[len] but may contain NUL bytes. */
	void (*on_line)(void *sess, const char *line, size_t len, bool crlf);
	/* The current line exceeded conn_set_max_line(); core discards the rest
	 * of it up to the next LF and then resumes calling on_line.  head is
	 * the line's first octets (at most PROTO_LINE_HEAD), so that the reply
	 * can name the command (IMAP's tag: RFC 9051 7.1.3, a tagged BAD
	 * whenever the tag can be found). */
	void (*on_line_too_long)(void *sess, const char *head, size_t head_len);
	/* Raw mode (conn_read_raw): the next chunk of the n bytes asked for. */
	void (*on_raw)(void *sess, const char *data, size_t len, bool last);
	/* Stream mode (conn_read_stream): buffered input, data[0..len), read
	 * in place (valid for the call only, not NUL-terminated).  Returns
	 * the octets it took: all of them while it stays in stream mode; it
	 * may take fewer only after turning the mode off, and the rest is
	 * then read as lines.  It must not start TLS or compression. */
	size_t (*on_stream)(void *sess, const char *data, size_t len);
	/* Output fell below the low-water mark (optional; for streaming). */
	void (*on_drain)(void *sess);
	/* The session's time is up (idle, login deadline, or evicted to make
	 * room at max_connections): write the protocol's farewell; core
	 * closes afterwards. */
	void (*on_timeout)(void *sess, enum conn_expiry why);
	/* Server shutting down: say goodbye and conn_close() now, or finish
	 * the operation in flight (a delivery) and close after it. */
	void (*on_shutdown)(void *sess);
	/* The one exit: free everything.  Called exactly once, whatever ended
	 * the connection (QUIT, timeout, error, peer close, shutdown). */
	void (*session_free)(void *sess, const char *reason);
	/* Optional: the line sent before closing a connection refused by a
	 * connection limit ("421 4.7.0 ...\r\n"); NULL closes silently. */
	const char *busy_reply;
};

/* Listener kinds (flags carried by a listener, see conn_listener_flags). */
enum listener_flag {
	LISTEN_IMPLICIT_TLS = 1 << 0,   /* TLS from the first byte (smtps, pop3s, imaps) */
	LISTEN_SUBMISSION = 1 << 1,     /* SMTP submission (587/465) */
	/* SMTP port 25: anonymous mail is the point, so the first accepted
	 * MAIL (not a login) ends the connect deadline (limits.mail_timeout). */
	LISTEN_TRUST_MAIL = 1 << 2,
};

/* Front-ends, defined in their folders. */
extern const struct proto_ops smtp_proto_ops;
extern const struct proto_ops pop3_proto_ops;
extern const struct proto_ops imap_proto_ops;

/* A front-end's background service, run on loop 0 by core: the SMTP
 * queue runner (main.c hands it to server_service_set).  start is called once the store is open and the loops
 * run, stop when shutdown begins (stop starting work, close
 * connections), free after the loops have stopped. */
struct server;
struct event_base;
struct proto_service {
	const char *name;
	void *(*start)(struct server *srv, struct event_base *base);   /* NULL: failed */
	void (*stop)(void *svc);
	void (*free)(void *svc);
};
extern const struct proto_service smtp_queue_service;

/* Map a listener kind name ("smtp", "submission", "smtps", "pop3", "pop3s",
 * "imap", "imaps") to its front-end and flags.  NULL if unknown or not built. */
const struct proto_ops *proto_lookup(const char *kind, unsigned *flags_r);
/* Comma-separated list of kind names, for --help and errors. */
const char *proto_kinds(void);

#endif
