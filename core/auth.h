/* core/auth.h: password hashing and the login policy shared by SMTP, POP3
 * and IMAP.  Front-ends never look at password hashes themselves. */
#ifndef POSTINO_AUTH_H
#define POSTINO_AUTH_H

#include <stdbool.h>
#include <stddef.h>

struct config;
struct conn;
struct store_user;

/* yescrypt via libcrypt, with a fresh random salt.  0 or -1. */
int auth_hash_password(const char *password, char *out, size_t outlen);
/* Constant-time verification of password against a crypt(3) hash. 1/0. */
int auth_verify_password(const char *password, const char *hash);

/* The store address a login name stands for, in out (outlen >= 321).  In
 * sandbox mode a bare name ("testuser1", a valid RFC 5321 Dot-string local
 * part) is name@hostname, the address SMTP delivers that mailbox to;
 * anything else, and every name outside sandbox mode, is itself; "" when
 * that does not fit in out. */
void auth_user_address(const struct config *cfg, const char *username, char *out, size_t outlen);

/* Check a user name and password for connection c, and log the outcome
 * (auth ok/failed).  In sandbox mode any password is accepted and a
 * missing user is created (under auth_user_address's name).
 *
 * Whatever needs no password hash is answered at once: AUTH_OK (sandbox,
 * or a credential cached by core/auth_cache.h), AUTH_TEMPFAIL (store
 * error, worker pool full).  Otherwise the hash runs on the worker pool
 * (about 20 ms of yescrypt, which would stall every session on the loop):
 * AUTH_PENDING, *check_r is set, and done(arg, result) runs later on c's
 * loop thread, never inside this call, with AUTH_OK, AUTH_FAIL or
 * AUTH_TEMPFAIL.  The caller suspends its input meanwhile (conn_suspend),
 * as for a log flush, and forgets *check_r in done.  An unknown user goes
 * to the pool too, against a dummy hash, so that it takes as long.
 * On AUTH_OK (at once or in done), *user_r is filled.  username and
 * password are copied: the caller may clear its own at once. */
enum auth_result { AUTH_OK = 0, AUTH_FAIL = 1, AUTH_TEMPFAIL = 2, AUTH_PENDING = 3 };
struct auth_check;
typedef void auth_login_done_fn(void *arg, enum auth_result r);
enum auth_result auth_login_start(struct conn *c, const char *username, const char *password,
				  struct store_user *user_r, auth_login_done_fn *done, void *arg,
				  struct auth_check **check_r);
/* The session goes away before done: done will not be called, and the
 * check frees itself.  On c's loop thread; *check becomes NULL; NULL is
 * harmless. */
void auth_check_cancel(struct auth_check **check);

/* Record an authentication outcome for c and `username` (as the client
 * gave it): failures feed the delay below (core/throttle.h), a success
 * clears the user's count.  auth_login_start calls it; SCRAM does too. */
void auth_record(struct conn *c, const char *username, bool ok);
/* After a failure: how long (ms) the front-end holds its failure reply
 * (conn_hold), doubling with each recent failure from the peer's IP
 * (loopback excepted) or for the user, up to auth.failure_delay_max. */
unsigned auth_failure_delay(const struct conn *c, const char *username);

/* ---- policy and SASL (core/auth_sasl.c) ---- */

/* May a plaintext mechanism (PLAIN, LOGIN, USER/PASS, IMAP LOGIN) be used
 * on c now?  TLS, or loopback, or whatever auth.plaintext says. */
bool auth_plaintext_allowed(const struct conn *c);
/* Space-separated mechanisms to advertise on c now (EHLO AUTH, CAPA SASL,
 * IMAP AUTH=): all, or only the non-plaintext ones. */
const char *auth_mechanisms(const struct conn *c);

/* The SCRAM keys stored for u, as the mechanism uses them: 0, or 1 when u
 * has none a client could use (the exchange then runs on fake keys and
 * fails at the proof, as for an unknown user). */
struct sasl_scram_keys;
int auth_scram_keys_from_user(const struct store_user *u, struct sasl_scram_keys *keys_r);

struct auth_sasl;
enum auth_start {
	AUTH_START_OK,
	AUTH_START_UNKNOWN_MECH,   /* not a mechanism we offer */
	AUTH_START_NEEDS_TLS,      /* plaintext mechanism, plaintext not allowed here */
	AUTH_START_NOMEM,
};
enum auth_step {
	AUTH_STEP_CONTINUE,   /* send *challenge_r (malloc'd base64; caller frees) */
	AUTH_STEP_OK,         /* authenticated: *user_r filled, success recorded */
	AUTH_STEP_FAIL,       /* wrong credentials: logged and recorded */
	AUTH_STEP_AUTHZ,      /* credentials good, but authzid names someone else */
	AUTH_STEP_MALFORMED,  /* bad base64 or a message the mechanism refuses */
	AUTH_STEP_TEMPFAIL,   /* the store failed */
	AUTH_STEP_PENDING,    /* PLAIN/LOGIN: the password is being checked on the
			       * worker pool (auth_login_start); done follows */
};
/* The outcome of an AUTH_STEP_PENDING, on c's loop thread, never inside
 * auth_sasl_step: OK, FAIL, AUTHZ or TEMPFAIL, as auth_sasl_step would
 * have returned it.  The exchange may be freed inside. */
typedef void auth_step_done_fn(void *arg, enum auth_step st);
enum auth_start auth_sasl_start(struct conn *c, const char *mech, size_t len,
				auth_step_done_fn *done, void *arg, struct auth_sasl **a_r);
/* One client response as it arrived (base64; "=" as an empty initial
 * response when `initial`).  The front-end handles "*" (cancel) itself.
 * No initial response: call it first with resp NULL, len 0, initial true,
 * to get the first challenge.  After AUTH_STEP_PENDING the front-end
 * suspends its input until done runs; auth_sasl_free before that cancels
 * the check (done is then never called). */
enum auth_step auth_sasl_step(struct auth_sasl *a, const char *resp, size_t len, bool initial,
			      char **challenge_r, struct store_user *user_r);
/* The identity the client named (for the failure delay); "" before it did. */
const char *auth_sasl_username(const struct auth_sasl *a);
void auth_sasl_free(struct auth_sasl **a);

#endif
