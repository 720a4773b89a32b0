/* tests/fuzz/session_harness.h: runs a real front-end (its struct
 * proto_ops) on a fake connection, for the session fuzzers.
 *
 * session_fake_conn.c implements core/conn.h and the two group-commit
 * calls of core/durable.h in memory: the input is handed over in lines
 * (or raw runs after conn_read_raw) exactly as core/conn.c cuts it, output
 * is captured, a log flush completes as soon as the session has returned,
 * holds and timeouts take no time.  It is linked instead of conn.c and
 * durable.c, so production code has no test hook.  session_harness.c owns
 * the store (a temporary directory per process) and its fixture: one user
 * with three messages, recreated before every input and everything
 * removed after it, so an input means the same thing whenever it runs. */
#ifndef POSTINO_FUZZ_SESSION_HARNESS_H
#define POSTINO_FUZZ_SESSION_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/proto.h"

struct server;

/* The fixture user and password (the sandbox config accepts any password;
 * the other one wants this one). */
#define FUZZ_USER "alice@example.org"
#define FUZZ_PASSWORD "secret"

/* Input bytes after the option byte are cut into reads at this marker;
 * STARTTLS drops the rest of the read it came in, as core does. */
#define FUZZ_READ_BREAK "\xff\xfe"

enum fuzz_end { FUZZ_END_PEER_CLOSE, FUZZ_END_TIMEOUT, FUZZ_END_SHUTDOWN };

struct fuzz_conn_opts {
	bool loopback;           /* peer on 127.0.0.1 (plaintext login allowed) */
	bool tls_available;      /* STARTTLS may be used */
	bool implicit_tls;       /* a TLS listener (smtps, pop3s, imaps) */
	bool submission;         /* LISTEN_SUBMISSION */
	bool flush_fails;        /* log flushes report failure */
	bool slow_reader;        /* any unread output counts as a full queue, so
				  * streaming sessions write a chunk per drain */
	enum fuzz_end end;
};

/* Once per process: log level, temporary store, configurations. */
int fuzz_session_init(void);
/* The option byte: options, and which configuration (sandbox or not). */
void fuzz_session_opts(uint8_t b, struct fuzz_conn_opts *o_r, bool *sandbox_r);
/* Fixture, one connection fed `prefix` then data[0..size), cleanup.  The
 * output is left in out (at most its first few hundred KiB). */
void fuzz_session_run(const struct proto_ops *ops, const char *prefix, const uint8_t *data,
		      size_t size, uint8_t optbyte, struct buf *out);

/* A property of the output does not hold: print it (its start) and abort,
 * which libFuzzer reports as a crash with the input saved. */
void fuzz_session_check(int cond, const char *what, const struct buf *out);

/* ---- session_fake_conn.c ---- */
void fake_conn_run(const struct proto_ops *ops, struct server *srv,
		   const struct fuzz_conn_opts *o, const char *prefix, const uint8_t *data,
		   size_t size, struct buf *out);

#endif
