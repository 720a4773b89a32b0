/* core/conn.h: one client connection as a front-end sees it.
 *
 * Input arrives as lines (or raw byte runs after conn_read_raw); output is
 * queued with conn_write/conn_printf and sent as the socket allows.  All of
 * it runs on the connection's own event-loop thread (core/loop.h), which
 * it never leaves: nothing here blocks, and nothing needs a lock. */
#ifndef POSTINO_CONN_H
#define POSTINO_CONN_H

#include <stdbool.h>
#include <stddef.h>

#include "core/log.h"

struct conn;
struct server;
struct limits;

void conn_write(struct conn *c, const void *data, size_t len);
void conn_printf(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
size_t conn_output_pending(const struct conn *c);
/* Give the loop back for a turn: other connections' ready input and
 * output are served, then the front-end's on_drain is called (once the
 * output is at or below the low-water mark).  For long commands that stop
 * on a work budget rather than on a full output queue. */
void conn_yield(struct conn *c);

/* Flush what is queued, then close; session_free runs once, later (never
 * inside the caller's callback). */
void conn_close(struct conn *c, const char *reason);

/* STARTTLS/STLS: call after writing the go-ahead reply.  Input the client
 * pipelined after the command is discarded (CVE-2011-0411); the handshake
 * then runs and lines resume over TLS.  -1 if no TLS context is configured. */
int conn_starttls(struct conn *c);
bool conn_is_tls(const struct conn *c);

/* Compression (raw DEFLATE, RFC 1951; IMAP COMPRESS, RFC 4978): call
 * after writing the go-ahead, which goes out uncompressed; every byte
 * written after is compressed (above TLS when TLS is on), and every byte
 * read after the current line is inflated, the session's limits applying
 * to the inflated bytes.  A corrupt input stream closes the connection.
 * -1 if already on or out of memory.  Once on, STARTTLS is refused. */
int conn_compress_start(struct conn *c);
bool conn_is_compressed(const struct conn *c);
bool conn_tls_available(const struct conn *c);

/* Stop handing input to the session (e.g. while a delivery waits for its
 * log flush), and resume; resuming processes lines already buffered. */
void conn_suspend(struct conn *c);
void conn_resume(struct conn *c);

/* Hold the session for `ms` milliseconds (a failed login's delay): input
 * is not processed, and output written meanwhile is queued but not sent
 * until the time is up.  conn_close() during a hold closes after it; a
 * second hold extends to the later end.  0 does nothing. */
void conn_hold(struct conn *c, unsigned ms);

/* Maximum line length, terminator excluded (default from config). */
void conn_set_max_line(struct conn *c, size_t max);
/* Apply a session state's limits (core/session_limits.h): the line length and how
 * much input may be read ahead of the session. */
void conn_set_limits(struct conn *c, const struct limits *lim);
/* Deliver the next n bytes through on_raw instead of lines (IMAP literals). */
void conn_read_raw(struct conn *c, size_t n);
/* on: hand input to on_stream as it comes, in runs of contiguous buffered
 * bytes, instead of lines (SMTP DATA, which splits its lines itself);
 * off (from on_stream, before it returns): what it did not take is read
 * as lines again.  The idle timer restarts once per batch, as for lines. */
void conn_read_stream(struct conn *c, bool on);
/* Idle timeout in seconds for the current phase (0 = the configured default).
 * It restarts at every batch of whole lines (in stream mode, of input
 * taken); under stress (conn_timer.c) core
 * shortens it for sessions that are not logged in. */
void conn_set_timeout(struct conn *c, unsigned seconds);

/* How far a session has come.  From accept, core runs a hard deadline that
 * input does not restart (limits.login_timeout; limits.mail_timeout on an
 * SMTP port-25 listener); it ends when the session reaches the state that
 * listener trusts: a login, or on port 25 the first accepted MAIL.  Trust
 * only grows: a lower value than the current one is ignored. */
enum conn_trust {
	CONN_TRUST_NONE = 0,   /* connected: the deadline runs; may be evicted */
	CONN_TRUST_MAIL,       /* SMTP: a MAIL was accepted (still anonymous) */
	CONN_TRUST_LOGIN,      /* a user authenticated */
};
void conn_trust_set(struct conn *c, enum conn_trust trust);

#define CONN_ID_MAX 17   /* conn_id's length + 1 */
const char *conn_id(const struct conn *c);          /* short hex session id */
const char *conn_peer_addr(const struct conn *c);   /* "192.0.2.1" or "::1" */
unsigned conn_peer_port(const struct conn *c);
const char *conn_local_addr(const struct conn *c);
bool conn_peer_is_loopback(const struct conn *c);
unsigned conn_listener_flags(const struct conn *c); /* enum listener_flag */
struct server *conn_server(const struct conn *c);
/* The event loop (thread) the connection lives on (core/loop.h). */
struct loop *conn_loop(const struct conn *c);

/* Log a line prefixed with "session=<id> <proto> ". */
void conn_log(const struct conn *c, enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
