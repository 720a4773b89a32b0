/* core/auth.c: password hashing (yescrypt through libcrypt, the scheme
 * Debian uses for /etc/shadow) and the one login policy every protocol
 * uses, including sandbox mode.  The hash itself runs on the worker pool
 * (core/workpool.h); the policy around it (store lookup, credential cache,
 * throttle, logs) stays on the session's loop. */
#include "core/auth.h"
#include "core/auth_cache.h"

#include <crypt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "core/config.h"
#include "core/conn.h"
#include "core/log.h"
#include "core/server.h"
#include "core/throttle.h"
#include "core/workpool.h"
#include "storage/storage.h"

int auth_hash_password(const char *password, char *out, size_t outlen)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	unsigned char rnd[32];
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return -1;
	if (!crypt_gensalt_rn("$y$", 0, (const char *)rnd, sizeof(rnd), salt, sizeof(salt)))
		return -1;
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	if (!cd)
		return -1;
	const char *h = crypt_rn(password, salt, cd, sizeof(*cd));
	int rc = -1;
	if (h && h[0] != '*' && strlen(h) < outlen) {
		memcpy(out, h, strlen(h) + 1);
		rc = 0;
	}
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);
	return rc;
}

/* crypt(3)'s base-64 alphabet: the value of one character, or -1. */
static int itoa64_value(char c)
{
	static const char a[] = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	const char *p = c ? strchr(a, c) : NULL;
	return p ? (int)(p - a) : -1;
}

/* A decimal number of at most `digits` digits at s, ended by `end`. */
static bool small_number(const char *s, size_t digits, char end, unsigned long *v_r)
{
	unsigned long v = 0;
	size_t i = 0;
	for (; i < digits && s[i] >= '0' && s[i] <= '9'; i++)
		v = v * 10 + (unsigned long)(s[i] - '0');
	*v_r = v;
	return i > 0 && s[i] == end;
}

/* Whether verifying against hash costs at most a few times what our own
 * hashes cost (yescrypt at libcrypt's default, about 25 ms here).  The hash
 * comes from the store, and the cost parameters are part of it: a damaged
 * or foreign record asking for yescrypt with N = 2^18 (a gigabyte, seconds)
 * or bcrypt cost 31 would otherwise stall the event loop, and every
 * session on it, at each login attempt.  Only the schemes DESIGN.md names
 * (yescrypt, scrypt, SHA-crypt, and bcrypt) are accepted, with bounds:
 * yescrypt and scrypt N <= 2^13 with r <= 32 and no extra parameters,
 * SHA-crypt rounds <= 100000, bcrypt cost <= 10. */
static bool hash_cost_ok(const char *hash)
{
	unsigned long v;
	if (strncmp(hash, "$y$", 3) == 0 || strncmp(hash, "$gy$", 4) == 0) {
		/* $y$ flavor, N_log2 - 1, r - 1, then '$' (more would be p, t, g) */
		const char *p = strchr(hash + 1, '$') + 1;
		return itoa64_value(p[0]) >= 0 && itoa64_value(p[1]) >= 0 &&
		       itoa64_value(p[1]) <= 12 && itoa64_value(p[2]) >= 0 &&
		       itoa64_value(p[2]) <= 31 && p[3] == '$';
	}
	if (strncmp(hash, "$7$", 3) == 0) {
		/* $7$ N_log2, r in 5 characters, p in 5 characters (little-endian) */
		const char *p = hash + 3;
		uint32_t r = 0, par = 0;
		for (int i = 0; i < 11; i++)
			if (itoa64_value(p[i]) < 0)
				return false;
		for (int i = 0; i < 5; i++) {
			r |= (uint32_t)itoa64_value(p[1 + i]) << (6 * i);
			par |= (uint32_t)itoa64_value(p[6 + i]) << (6 * i);
		}
		return itoa64_value(p[0]) <= 13 && r >= 1 && r <= 32 && par == 1;
	}
	if (strncmp(hash, "$5$", 3) == 0 || strncmp(hash, "$6$", 3) == 0) {
		if (strncmp(hash + 3, "rounds=", 7) != 0)
			return true;   /* 5000 rounds */
		return small_number(hash + 10, 6, '$', &v) && v <= 100000;
	}
	if (hash[0] == '$' && hash[1] == '2' && strchr("aby", hash[2]) && hash[2] && hash[3] == '$')
		return small_number(hash + 4, 2, '$', &v) && v <= 10;
	return false;
}

int auth_verify_password(const char *password, const char *hash)
{
	if (!hash || !hash[0])
		return 0;
	if (!hash_cost_ok(hash)) {
		log_warn("auth password hash refused: unknown scheme or cost above the bound");
		return 0;
	}
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	if (!cd)
		return 0;
	const char *h = crypt_rn(password, hash, cd, sizeof(*cd));
	int ok = 0;
	size_t hl = strlen(hash);
	if (h && h[0] != '*' && strlen(h) == hl)
		ok = CRYPTO_memcmp(h, hash, hl) == 0;
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);
	return ok;
}

/* A real hash with the same cost as a user's, verified when the user does
 * not exist so that the answer takes the same time either way. */
static char dummy_hash_text[STORE_PWHASH_MAX + 1];

static void dummy_hash_make(void)
{
	if (auth_hash_password("postino-dummy-password", dummy_hash_text,
			       sizeof(dummy_hash_text)) < 0)
		dummy_hash_text[0] = '\0';
}

/* Made once, whichever loop asks first. */
static const char *dummy_hash(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, dummy_hash_make);
	return dummy_hash_text;
}

/* Monotonic seconds: the failure table must not jump with the wall clock. */
static time_t now_s(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		return time(NULL);
	return ts.tv_sec;
}

/* The key c's address counts under, or NULL: loopback does not count per
 * address, since a webmail or proxy on this host speaks for many users and
 * one of them guessing must not slow down the rest.  It still counts per
 * user. */
static const char *ip_key(const struct conn *c, char *buf, size_t len)
{
	if (conn_peer_is_loopback(c))
		return NULL;
	throttle_ip_key(conn_peer_addr(c), buf, len);
	return buf;
}

/* Count a failure; *delay_r is what the failure reply will be held. */
static unsigned record_failure(struct conn *c, const char *username, unsigned *delay_r)
{
	struct server *srv = conn_server(c);
	*delay_r = 0;
	if (!srv->throttle)
		return 0;
	char key[THROTTLE_IP_KEY_MAX];
	unsigned n = throttle_login_failed(srv->throttle, ip_key(c, key, sizeof(key)),
					   username ? username : "", now_s());
	*delay_r = throttle_delay_ms(n, srv->cfg->auth_failure_delay, srv->cfg->auth_failure_delay_max);
	return n;
}

void auth_record(struct conn *c, const char *username, bool ok)
{
	struct server *srv = conn_server(c);
	if (ok) {
		if (srv->throttle)
			throttle_login_ok(srv->throttle, username);
		return;
	}
	unsigned delay;
	unsigned n = record_failure(c, username, &delay);
	/* auth_login_start puts these on its "auth failed" line; other callers
	 * (SCRAM) have logged theirs already. */
	conn_log(c, PLOG_INFO, "auth failure counted user=\"%.64s\" failures=%u delay_ms=%u",
		 username ? username : "", n, delay);
}

unsigned auth_failure_delay(const struct conn *c, const char *username)
{
	struct server *srv = conn_server(c);
	if (!srv->throttle)
		return 0;
	char key[THROTTLE_IP_KEY_MAX];
	unsigned n = throttle_login_failures(srv->throttle, ip_key(c, key, sizeof(key)),
					     username ? username : "", now_s());
	return throttle_delay_ms(n, srv->cfg->auth_failure_delay, srv->cfg->auth_failure_delay_max);
}

/* RFC 5321 4.1.2 Dot-string: atoms of atext joined by single dots, at most
 * 64 octets (4.5.3.1.1).  Checked before a domain is added to it, so that
 * the result is an address SMTP could have delivered to (OpenSMTPD's
 * CVE-2020-7247 came from defaulting before validating). */
static bool dot_string_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '.') {
			if (s[i + 1] == '.')
				return false;
			continue;
		}
		bool atext = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			     (ch >= '0' && ch <= '9') || strchr("!#$%&'*+-/=?^_`{|}~", ch);
		if (!atext)
			return false;
	}
	return true;
}

void auth_user_address(const struct config *cfg, const char *username, char *out, size_t outlen)
{
	int n;
	if (cfg->sandbox && !strchr(username, '@') && dot_string_valid(username))
		n = snprintf(out, outlen, "%s@%s", username, cfg->hostname);
	else
		n = snprintf(out, outlen, "%s", username);
	/* Cut short, a name could become someone else's address: make it
	 * none at all (the store refuses "", so the login fails). */
	if (n < 0 || (size_t)n >= outlen)
		out[0] = '\0';
}

/* ---- a login: the policy on the loop, the hash on the worker pool ---- */

/* One password check in flight.  The job owns copies of all that the
 * worker reads; the session that asked holds a pointer it gives up with
 * auth_check_cancel (on its loop thread), and then only the job's done,
 * on the same thread, still touches it, to free it. */
struct auth_check {
	struct work work;
	struct conn *c;              /* NULL once cancelled */
	bool cancelled;              /* the loop thread only */
	bool unknown;                /* no such user: the dummy hash, then a failure */
	bool verified;               /* the worker's answer */
	auth_login_done_fn *done;
	void *arg;
	struct store_user *user_r;   /* the session's, written on success only */
	struct store_user user;      /* the record the hash came from */
	struct auth_cache *cache;
	char *username;              /* as the client gave it (throttle, logs) */
	char *password;              /* cleansed as soon as the hash is done */
	size_t password_len;
	/* Sandbox: no hash; the worker makes the user's record (the first
	 * login of an address), which a loop must not wait for. */
	struct store *sandbox;
	char *address;
	int store_rc;
};

static void auth_check_free(struct auth_check *k)
{
	if (k->password) {
		OPENSSL_cleanse(k->password, k->password_len);
		free(k->password);
	}
	free(k->username);
	free(k->address);
	OPENSSL_cleanse(&k->user, sizeof(k->user));
	free(k);
}

/* On a worker: the ~20 ms the loop must not spend.  A success goes into
 * the cache here (it has its own lock), while the password is at hand. */
/* Sandbox mode's user: found, or made (without a password) on its first
 * login.  STORE_ERR_BUSY from a thread that does not wait for locks
 * (store_thread_nowait): nothing was made. */
static int sandbox_user(struct store *st, const char *address, struct store_user *u)
{
	int rc = store_user_add(st, address, "", u);
	if (rc == STORE_ERR_EXISTS) /* made meanwhile (a delivery, another login) */
		rc = store_user_get(st, address, u);
	return rc;
}

static void auth_check_run(struct work *w)
{
	struct auth_check *k = (struct auth_check *)w;
	if (k->sandbox) {
		k->store_rc = sandbox_user(k->sandbox, k->address, &k->user);
		/* Gone meanwhile or refused: a failure, which takes as long as
		 * any other (the dummy hash; its time does not depend on the
		 * password, which this job does not hold). */
		if (k->store_rc == STORE_ERR_NOTFOUND || k->store_rc == STORE_ERR_INVALID)
			(void)auth_verify_password("", dummy_hash());
		return;
	}
	const char *hash = k->unknown ? dummy_hash() : k->user.pwhash;
	k->verified = auth_verify_password(k->password, hash) && !k->unknown;
	if (k->verified)
		auth_cache_add(k->cache, k->user.address, k->password, k->user.pwhash);
	OPENSSL_cleanse(k->password, k->password_len);
}

/* A sandbox login's outcome, on the loop: AUTH_OK with the user, or a
 * temporary failure (the store's error). */
static enum auth_result sandbox_finish(struct conn *c, const char *username, int rc,
				       const struct store_user *u, struct store_user *user_r)
{
	if (rc != STORE_OK) {
		conn_log(c, PLOG_ERROR, "auth tempfail user=\"%.64s\" error=\"%s\"", username,
			 store_strerror(rc));
		return AUTH_TEMPFAIL;
	}
	memcpy(user_r, u, sizeof(*u));
	conn_log(c, PLOG_INFO, "auth ok user=%s sandbox=yes", u->address);
	auth_record(c, username, true);
	return AUTH_OK;
}

/* Back on the session's loop: what auth_login did after the hash, in the
 * same order (log, failure count or success record). */
static enum auth_result auth_check_finish(struct auth_check *k)
{
	struct conn *c = k->c;
	if (!k->work.ran) {
		conn_log(c, PLOG_ERROR, "auth tempfail user=\"%.64s\" error=\"shutting down\"",
			 k->username);
		return AUTH_TEMPFAIL;
	}
	if (k->sandbox && k->store_rc != STORE_ERR_NOTFOUND && k->store_rc != STORE_ERR_INVALID)
		return sandbox_finish(c, k->username, k->store_rc, &k->user, k->user_r);
	unsigned delay, n;
	if (k->unknown || k->sandbox) {
		n = record_failure(c, k->username, &delay);
		conn_log(c, PLOG_WARN, "auth failed user=\"%.64s\" reason=unknown-user failures=%u "
			 "delay_ms=%u", k->username, n, delay);
		return AUTH_FAIL;
	}
	if (k->verified) {
		memcpy(k->user_r, &k->user, sizeof(k->user));
		conn_log(c, PLOG_INFO, "auth ok user=%s cached=no", k->user.address);
		auth_record(c, k->username, true);
		return AUTH_OK;
	}
	n = record_failure(c, k->username, &delay);
	conn_log(c, PLOG_WARN, "auth failed user=%s reason=password failures=%u delay_ms=%u",
		 k->user.address, n, delay);
	return AUTH_FAIL;
}

static void auth_check_done(struct work *w)
{
	struct auth_check *k = (struct auth_check *)w;
	if (k->cancelled) {
		auth_check_free(k);
		return;
	}
	enum auth_result r = auth_check_finish(k);
	auth_login_done_fn *done = k->done;
	void *arg = k->arg;
	auth_check_free(k);
	done(arg, r);
}

void auth_check_cancel(struct auth_check **kp)
{
	struct auth_check *k = *kp;
	if (!k)
		return;
	*kp = NULL;
	k->cancelled = true;
	k->c = NULL;
}

/* Hands k (its hash or its sandbox user to make) to the worker pool, its
 * outcome to come back to done(arg) on c's loop: AUTH_PENDING, or
 * AUTH_TEMPFAIL when the pool is full (k freed). */
static enum auth_result auth_job_submit(struct auth_check *k, struct conn *c,
					const char *username, struct store_user *user_r,
					auth_login_done_fn *done, void *arg,
					struct auth_check **check_r)
{
	k->work.run = auth_check_run;
	k->work.done = auth_check_done;
	k->c = c;
	k->done = done;
	k->arg = arg;
	k->user_r = user_r;
	if (workpool_submit(conn_server(c)->workpool, conn_loop(c), &k->work) < 0) {
		auth_check_free(k);
		conn_log(c, PLOG_WARN, "auth tempfail user=\"%.64s\" error=\"worker pool full\"",
			 username);
		return AUTH_TEMPFAIL;
	}
	*check_r = k;
	return AUTH_PENDING;
}

/* Hands the hash to the worker pool: AUTH_PENDING, or AUTH_TEMPFAIL when
 * the pool is full (a queue that grew without bound would be memory and
 * waiting nobody asked for). */
static enum auth_result auth_check_submit(struct conn *c, const char *username,
					  const char *password, const struct store_user *u,
					  struct store_user *user_r, auth_login_done_fn *done,
					  void *arg, struct auth_check **check_r)
{
	struct server *srv = conn_server(c);
	struct auth_check *k = calloc(1, sizeof(*k));
	if (k) {
		k->username = strdup(username);
		k->password_len = strlen(password) + 1;
		k->password = malloc(k->password_len);
	}
	if (!k || !k->username || !k->password) {
		if (k)
			auth_check_free(k);
		conn_log(c, PLOG_ERROR, "auth tempfail user=\"%.64s\" error=\"out of memory\"",
			 username);
		return AUTH_TEMPFAIL;
	}
	memcpy(k->password, password, k->password_len);
	k->cache = srv->auth_cache;
	k->unknown = u == NULL;
	if (u)
		memcpy(&k->user, u, sizeof(*u));
	return auth_job_submit(k, c, username, user_r, done, arg, check_r);
}

/* A sandbox user's record, made on the worker pool (auth_check_run). */
static enum auth_result auth_sandbox_submit(struct conn *c, const char *username,
					    const char *address, struct store_user *user_r,
					    auth_login_done_fn *done, void *arg,
					    struct auth_check **check_r)
{
	struct server *srv = conn_server(c);
	struct auth_check *k = calloc(1, sizeof(*k));
	if (k) {
		k->username = strdup(username);
		k->address = strdup(address);
	}
	if (!k || !k->username || !k->address) {
		if (k)
			auth_check_free(k);
		conn_log(c, PLOG_ERROR, "auth tempfail user=\"%.64s\" error=\"out of memory\"",
			 username);
		return AUTH_TEMPFAIL;
	}
	k->sandbox = srv->store;
	return auth_job_submit(k, c, username, user_r, done, arg, check_r);
}

enum auth_result auth_login_start(struct conn *c, const char *username, const char *password,
				  struct store_user *user_r, auth_login_done_fn *done, void *arg,
				  struct auth_check **check_r)
{
	struct server *srv = conn_server(c);
	char address[STORE_ADDRESS_MAX + 1];
	struct store_user u;
	*check_r = NULL;
	auth_user_address(srv->cfg, username, address, sizeof(address));
	int rc = store_user_get(srv->store, address, &u);
	if (srv->cfg->sandbox) {
		/* Any password; an address's first login makes its user.
		 * That write may find a lock held (a delivery to the same
		 * domain, another first login): then a worker makes it.  An
		 * address the store refuses goes on as an unknown user. */
		if (rc == STORE_ERR_NOTFOUND) {
			bool was = store_thread_nowait(true);
			rc = sandbox_user(srv->store, address, &u);
			store_thread_nowait(was);
			if (rc == STORE_ERR_BUSY)
				return auth_sandbox_submit(c, username, address, user_r, done, arg,
							   check_r);
		}
		if (rc == STORE_OK)
			return sandbox_finish(c, username, rc, &u, user_r);
	}
	if (rc == STORE_OK) {
		/* A hit skips yescrypt and the pool; a miss (new, wrong, or
		 * changed password) pays it in full (core/auth_cache.c). */
		if (auth_cache_hit(srv->auth_cache, u.address, password, u.pwhash)) {
			memcpy(user_r, &u, sizeof(u));
			conn_log(c, PLOG_INFO, "auth ok user=%s cached=yes", u.address);
			auth_record(c, username, true);
			return AUTH_OK;
		}
		return auth_check_submit(c, username, password, &u, user_r, done, arg, check_r);
	}
	/* Unknown: the dummy hash, so that the answer takes as long. */
	if (rc == STORE_ERR_NOTFOUND || rc == STORE_ERR_INVALID)
		return auth_check_submit(c, username, password, NULL, user_r, done, arg, check_r);
	conn_log(c, PLOG_ERROR, "auth tempfail user=\"%.64s\" error=\"%s\"", username,
		 store_strerror(rc));
	return AUTH_TEMPFAIL;
}
