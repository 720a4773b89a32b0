/* core/auth_sasl.c: where the plaintext mechanisms may be used, what to
 * advertise, and a SASL exchange bound to a connection: core/sasl.c does
 * the mechanism, this file checks the result against the store (PLAIN and
 * LOGIN through auth_login_start, whose hash runs on the worker pool;
 * SCRAM through the keys stored beside the password hash) and applies the
 * authorization-identity rule. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/auth.h"
#include "core/config.h"
#include "core/conn.h"
#include "core/sasl.h"
#include "core/server.h"
#include "storage/storage.h"

struct auth_sasl {
	struct conn *c;
	enum sasl_mech mech;
	struct sasl *sasl;
	auth_step_done_fn *done;
	void *done_arg;
	struct auth_check *check;     /* a password check in flight */
	struct store_user *user_r;    /* where it puts the user */
};

bool auth_plaintext_allowed(const struct conn *c)
{
	const struct config *cfg = conn_server(c)->cfg;
	if (conn_is_tls(c) || cfg->plaintext_auth == CONFIG_PLAINTEXT_ALWAYS)
		return true;
	return cfg->plaintext_auth == CONFIG_PLAINTEXT_TLS_OR_LOOPBACK && conn_peer_is_loopback(c);
}

const char *auth_mechanisms(const struct conn *c)
{
	return auth_plaintext_allowed(c) ? "PLAIN LOGIN SCRAM-SHA-256" : "SCRAM-SHA-256";
}

int auth_scram_keys_from_user(const struct store_user *u, struct sasl_scram_keys *keys_r)
{
	memset(keys_r, 0, sizeof(*keys_r));
	if (u->scram.salt_len == 0 || u->scram.salt_len > SASL_SCRAM_SALT_MAX)
		return 1;
	/* RFC 5802 7: i= is a posit-number, and the client runs that many
	 * rounds: keys from a damaged record are no keys. */
	if (u->scram.iterations == 0 || u->scram.iterations > SASL_SCRAM_ITERATIONS_MAX)
		return 1;
	memcpy(keys_r->salt, u->scram.salt, u->scram.salt_len);
	keys_r->salt_len = u->scram.salt_len;
	keys_r->iterations = u->scram.iterations;
	memcpy(keys_r->stored_key, u->scram.stored_key, SASL_SCRAM_KEY_LEN);
	memcpy(keys_r->server_key, u->scram.server_key, SASL_SCRAM_KEY_LEN);
	return 0;
}

/* SCRAM's view of the store: 0 keys found, 1 unknown (or no keys), -1. */
static int scram_lookup(void *arg, const char *user, struct sasl_scram_keys *keys_r)
{
	struct auth_sasl *a = arg;
	struct server *srv = conn_server(a->c);
	struct store_user u;
	char address[STORE_ADDRESS_MAX + 1];
	auth_user_address(srv->cfg, user, address, sizeof(address));
	int rc = store_user_get(srv->store, address, &u);
	if (rc == STORE_ERR_NOTFOUND || rc == STORE_ERR_INVALID)
		return 1;
	if (rc != STORE_OK)
		return -1;
	return auth_scram_keys_from_user(&u, keys_r);
}

enum auth_start auth_sasl_start(struct conn *c, const char *mech, size_t len,
				auth_step_done_fn *done, void *arg, struct auth_sasl **a_r)
{
	enum sasl_mech m;
	*a_r = NULL;
	if (sasl_mech_lookup(mech, len, &m) < 0)
		return AUTH_START_UNKNOWN_MECH;
	if (sasl_mech_is_plaintext(m) && !auth_plaintext_allowed(c))
		return AUTH_START_NEEDS_TLS;
	struct auth_sasl *a = calloc(1, sizeof(*a));
	if (!a)
		return AUTH_START_NOMEM;
	a->c = c;
	a->mech = m;
	a->done = done;
	a->done_arg = arg;
	a->sasl = sasl_new(m, scram_lookup, a);
	if (!a->sasl) {
		free(a);
		return AUTH_START_NOMEM;
	}
	*a_r = a;
	return AUTH_START_OK;
}

const char *auth_sasl_username(const struct auth_sasl *a)
{
	return a && a->sasl ? sasl_result(a->sasl)->authcid : "";
}

/* RFC 4616 2 / RFC 5802 5.1: acting as someone else is not offered, so the
 * authorization identity must be empty or the same user. */
static bool authzid_ok(const struct sasl_result *r, const struct store_user *u)
{
	return !r->authzid[0] || strcasecmp(r->authzid, u->address) == 0 ||
	       strcasecmp(r->authzid, r->authcid) == 0;
}

/* The step a login's result makes; a good one still has to pass the
 * authorization identity. */
static enum auth_step auth_sasl_login_step(struct auth_sasl *a, enum auth_result ar)
{
	switch (ar) {
	case AUTH_PENDING:
		return AUTH_STEP_PENDING;
	case AUTH_TEMPFAIL:
		return AUTH_STEP_TEMPFAIL;
	case AUTH_FAIL:
		return AUTH_STEP_FAIL;
	case AUTH_OK:
		break;
	}
	const struct sasl_result *r = sasl_result(a->sasl);
	if (!authzid_ok(r, a->user_r)) {
		conn_log(a->c, PLOG_WARN, "auth refused user=%s authzid=\"%.64s\" reason=authzid",
			 a->user_r->address, r->authzid);
		return AUTH_STEP_AUTHZ;
	}
	return AUTH_STEP_OK;
}

/* The worker pool's answer, on the loop: the front-end's done is the
 * last thing to touch a (it may free it). */
static void auth_sasl_checked(void *arg, enum auth_result ar)
{
	struct auth_sasl *a = arg;
	a->check = NULL;
	a->done(a->done_arg, auth_sasl_login_step(a, ar));
}

enum auth_step auth_sasl_step(struct auth_sasl *a, const char *resp, size_t len, bool initial,
			      char **challenge_r, struct store_user *user_r)
{
	*challenge_r = NULL;
	enum sasl_status st = sasl_step(a->sasl, resp, len, initial, challenge_r);
	if (st == SASL_CONTINUE)
		return AUTH_STEP_CONTINUE;
	if (st == SASL_MALFORMED)
		return AUTH_STEP_MALFORMED;
	if (st == SASL_TEMPFAIL)
		return AUTH_STEP_TEMPFAIL;
	const struct sasl_result *r = sasl_result(a->sasl);
	const char *mech = sasl_mech_name(a->mech);
	a->user_r = user_r;
	if (r->has_password) {
		enum auth_result ar = auth_login_start(a->c, r->authcid, r->password, user_r,
						       auth_sasl_checked, a, &a->check);
		return auth_sasl_login_step(a, ar);
	}
	/* SCRAM: the proof was checked against the stored keys. */
	struct server *srv = conn_server(a->c);
	if (!r->verified) {
		conn_log(a->c, PLOG_WARN, "auth failed user=\"%.64s\" mech=%s reason=%s", r->authcid,
			 mech, r->user_unknown ? "unknown-user" : "proof");
		auth_record(a->c, r->authcid, false);
		return AUTH_STEP_FAIL;
	}
	char address[STORE_ADDRESS_MAX + 1];
	auth_user_address(srv->cfg, r->authcid, address, sizeof(address));
	int rc = store_user_get(srv->store, address, user_r);
	if (rc != STORE_OK) {
		auth_record(a->c, r->authcid, false);
		return rc == STORE_ERR_NOTFOUND ? AUTH_STEP_FAIL : AUTH_STEP_TEMPFAIL;
	}
	conn_log(a->c, PLOG_INFO, "auth ok user=%s mech=%s", user_r->address, mech);
	auth_record(a->c, r->authcid, true);
	return auth_sasl_login_step(a, AUTH_OK);
}

void auth_sasl_free(struct auth_sasl **a)
{
	if (!*a)
		return;
	auth_check_cancel(&(*a)->check);
	sasl_free(&(*a)->sasl);
	free(*a);
	*a = NULL;
}
