/* core/sasl.c: server side of PLAIN (RFC 4616), LOGIN and SCRAM-SHA-256
 * (RFC 5802, RFC 7677) as a pure state machine over base64 messages; see
 * core/sasl.h.  Secrets are cleared before memory is released. */
#include "core/sasl.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

static const char *const mech_names[SASL_MECH_COUNT] = {
	[SASL_MECH_PLAIN] = "PLAIN",
	[SASL_MECH_LOGIN] = "LOGIN",
	[SASL_MECH_SCRAM_SHA_256] = "SCRAM-SHA-256",
};

int sasl_mech_lookup(const char *name, size_t len, enum sasl_mech *mech_r)
{
	for (int m = 0; m < SASL_MECH_COUNT; m++) {
		if (strlen(mech_names[m]) == len && strncasecmp(mech_names[m], name, len) == 0) {
			*mech_r = (enum sasl_mech)m;
			return 0;
		}
	}
	return -1;
}

const char *sasl_mech_name(enum sasl_mech mech)
{
	return (unsigned)mech < SASL_MECH_COUNT ? mech_names[mech] : "?";
}

bool sasl_mech_is_plaintext(enum sasl_mech mech)
{
	return mech == SASL_MECH_PLAIN || mech == SASL_MECH_LOGIN;
}

/* ---- base64 (RFC 4648 4) ---- */

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int sasl_b64_decode(const char *in, size_t len, uint8_t *out, size_t *outlen)
{
	if (len % 4 != 0)
		return -1;
	size_t o = 0;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		int pad = 0;
		for (int k = 0; k < 4; k++) {
			unsigned char c = (unsigned char)in[i + k];
			if (c == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad)  /* data after padding */
				return -1;
			v[k] = b64_value(c);
			if (v[k] < 0)
				return -1;
		}
		if (pad == 1 && (v[2] & 3))
			return -1;  /* non-canonical: bits left over */
		if (pad == 2 && (v[1] & 15))
			return -1;
		uint32_t n = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
		size_t nb = 3 - (size_t)pad;
		if (o + nb > *outlen)
			return -1;
		out[o++] = (uint8_t)(n >> 16);
		if (nb > 1)
			out[o++] = (uint8_t)(n >> 8);
		if (nb > 2)
			out[o++] = (uint8_t)n;
	}
	*outlen = o;
	return 0;
}

char *sasl_b64_encode(const void *in, size_t len)
{
	if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
		return NULL;
	size_t n = 4 * ((len + 2) / 3);
	char *out = malloc(n + 1);
	if (!out)
		return NULL;
	if (len == 0) {
		out[0] = '\0';
		return out;
	}
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	out[n] = '\0';
	return out;
}

/* ---- the exchange ---- */

#define SASL_MSG_MAX 2048      /* a decoded client message */
#define SCRAM_NONCE_RAND 18    /* bytes -> 24 base64 characters */
#define SCRAM_FAKE_ITER 10000

struct sasl {
	enum sasl_mech mech;
	int stage;
	sasl_scram_lookup_fn lookup;
	void *lookup_arg;
	struct sasl_result result;
	/* SCRAM */
	struct sasl_scram_keys keys;
	char gs2[SASL_NAME_MAX + 16];          /* "n,," or "n,a=...," as sent */
	char client_first_bare[SASL_MSG_MAX + 1];
	char server_first[SASL_MSG_MAX + 1];
	char nonce[SASL_MSG_MAX + 1];          /* client + server nonce */
};

struct sasl *sasl_new(enum sasl_mech mech, sasl_scram_lookup_fn lookup, void *lookup_arg)
{
	if ((unsigned)mech >= SASL_MECH_COUNT)
		return NULL;
	struct sasl *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->mech = mech;
	s->lookup = lookup;
	s->lookup_arg = lookup_arg;
	return s;
}

const struct sasl_result *sasl_result(const struct sasl *sasl)
{
	return &sasl->result;
}

void sasl_free(struct sasl **sasl)
{
	if (!*sasl)
		return;
	OPENSSL_cleanse(*sasl, sizeof(**sasl));
	free(*sasl);
	*sasl = NULL;
}

static enum sasl_status challenge(const char *text, size_t len, char **challenge_r)
{
	*challenge_r = sasl_b64_encode(text, len);
	return *challenge_r ? SASL_CONTINUE : SASL_TEMPFAIL;
}

/* A field without NUL that fits: copied into dst; -1 otherwise. */
static int take_field(const uint8_t *p, size_t n, char *dst, size_t cap, bool allow_empty)
{
	if (n >= cap || (!allow_empty && n == 0) || memchr(p, '\0', n))
		return -1;
	memcpy(dst, p, n);
	dst[n] = '\0';
	return 0;
}

/* RFC 4616 2: [authzid] NUL authcid NUL passwd. */
static enum sasl_status plain_step(struct sasl *s, const uint8_t *m, size_t n)
{
	const uint8_t *n1 = memchr(m, '\0', n);
	if (!n1)
		return SASL_MALFORMED;
	const uint8_t *a = n1 + 1;
	const uint8_t *n2 = memchr(a, '\0', n - (size_t)(a - m));
	if (!n2)
		return SASL_MALFORMED;
	const uint8_t *pw = n2 + 1;
	size_t pwlen = n - (size_t)(pw - m);
	struct sasl_result *r = &s->result;
	if (take_field(m, (size_t)(n1 - m), r->authzid, sizeof(r->authzid), true) < 0 ||
	    take_field(a, (size_t)(n2 - a), r->authcid, sizeof(r->authcid), false) < 0 ||
	    take_field(pw, pwlen, r->password, sizeof(r->password), false) < 0)
		return SASL_MALFORMED;
	r->has_password = true;
	return SASL_DONE;
}

/* LOGIN: "Username:" then "Password:", each answered in base64. */
static enum sasl_status login_step(struct sasl *s, const uint8_t *m, size_t n, char **challenge_r)
{
	struct sasl_result *r = &s->result;
	if (s->stage == 0) {
		if (take_field(m, n, r->authcid, sizeof(r->authcid), false) < 0)
			return SASL_MALFORMED;
		s->stage = 1;
		return challenge("Password:", 9, challenge_r);
	}
	if (take_field(m, n, r->password, sizeof(r->password), false) < 0)
		return SASL_MALFORMED;
	r->has_password = true;
	return SASL_DONE;
}

/* RFC 5802 5.1 saslname: "=2C" is ",", "=3D" is "="; any other "=" or a
 * bare "," is an error. */
static int scram_unescape(const char *p, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (c == ',' || c == '\0')
			return -1;
		if (c == '=') {
			if (n - i < 3)
				return -1;
			if (p[i + 1] == '2' && p[i + 2] == 'C')
				c = ',';
			else if (p[i + 1] == '3' && p[i + 2] == 'D')
				c = '=';
			else
				return -1;
			i += 2;
		}
		if (o + 1 >= cap)
			return -1;
		out[o++] = c;
	}
	if (o == 0)
		return -1;
	out[o] = '\0';
	return 0;
}

static int hmac256(const uint8_t *key, size_t klen, const void *msg, size_t mlen, uint8_t out[32])
{
	unsigned int ol = 32;
	return HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &ol) ? 0 : -1;
}

int sasl_scram_keys_derive(const char *password, const uint8_t *salt, size_t salt_len,
			   uint32_t iterations, struct sasl_scram_keys *keys_r)
{
	if (salt_len == 0 || salt_len > SASL_SCRAM_SALT_MAX || iterations == 0 ||
	    iterations > SASL_SCRAM_ITERATIONS_MAX)
		return -1;
	uint8_t salted[32], client_key[32];
	memset(keys_r, 0, sizeof(*keys_r));
	/* RFC 5802 3: SaltedPassword := Hi(Normalize(password), salt, i),
	 * Hi being PBKDF2 with HMAC; ClientKey, StoredKey, ServerKey. */
	int rc = -1;
	if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)salt_len, (int)iterations,
			      EVP_sha256(), sizeof(salted), salted) == 1 &&
	    hmac256(salted, 32, "Client Key", 10, client_key) == 0 &&
	    SHA256(client_key, 32, keys_r->stored_key) &&
	    hmac256(salted, 32, "Server Key", 10, keys_r->server_key) == 0) {
		memcpy(keys_r->salt, salt, salt_len);
		keys_r->salt_len = salt_len;
		keys_r->iterations = iterations;
		rc = 0;
	}
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(client_key, sizeof(client_key));
	return rc;
}

int sasl_scram_keys_make(const char *password, uint32_t iterations, struct sasl_scram_keys *keys_r)
{
	uint8_t salt[16];
	if (iterations < 4096 || RAND_bytes(salt, sizeof(salt)) != 1)
		return -1;
	return sasl_scram_keys_derive(password, salt, sizeof(salt), iterations, keys_r);
}

static uint8_t scram_fake_secret[32];

static void scram_fake_secret_make(void)
{
	if (RAND_bytes(scram_fake_secret, sizeof(scram_fake_secret)) != 1)
		memset(scram_fake_secret, 0x5a, sizeof(scram_fake_secret));
}

/* Keys for a user we do not have: derived from a per-process secret and
 * the name, so that asking twice gives the same salt (RFC 5802 5.1 leaves
 * it to us not to reveal which users exist). */
static void scram_fake_keys(const char *user, struct sasl_scram_keys *k)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, scram_fake_secret_make);
	const uint8_t *secret = scram_fake_secret;
	uint8_t h[32];
	memset(k, 0, sizeof(*k));
	hmac256(secret, sizeof(scram_fake_secret), user, strlen(user), h);
	memcpy(k->salt, h, 16);
	k->salt_len = 16;
	k->iterations = SCRAM_FAKE_ITER;
	if (RAND_bytes(k->stored_key, 32) != 1 || RAND_bytes(k->server_key, 32) != 1)
		memset(k->stored_key, 0xff, 32);
}

/* RFC 5802 7: client-first-message = gs2-header client-first-message-bare,
 * gs2-header = gs2-cbind-flag "," [ authzid ] ",". */
static enum sasl_status scram_first(struct sasl *s, const char *m, size_t n, char **challenge_r)
{
	if (n < 3 || (m[0] != 'n' && m[0] != 'y') || m[1] != ',')
		return SASL_MALFORMED;  /* "p=": channel binding, not offered */
	size_t i = 2;
	struct sasl_result *r = &s->result;
	if (m[i] == 'a' && i + 1 < n && m[i + 1] == '=') {
		const char *c = memchr(m + i, ',', n - i);
		if (!c || scram_unescape(m + i + 2, (size_t)(c - m) - i - 2, r->authzid,
					 sizeof(r->authzid)) < 0)
			return SASL_MALFORMED;
		i = (size_t)(c - m);
	}
	if (i >= n || m[i] != ',')
		return SASL_MALFORMED;
	i++;
	if (i >= sizeof(s->gs2))
		return SASL_MALFORMED;
	memcpy(s->gs2, m, i);
	s->gs2[i] = '\0';
	const char *bare = m + i;
	size_t blen = n - i;
	if (blen > SASL_MSG_MAX || memchr(bare, '\0', blen))
		return SASL_MALFORMED;
	memcpy(s->client_first_bare, bare, blen);
	s->client_first_bare[blen] = '\0';
	/* client-first-message-bare = [reserved-mext ","] username "," nonce */
	if (blen < 2 || bare[0] != 'n' || bare[1] != '=')
		return SASL_MALFORMED;  /* includes "m=": no extensions known */
	const char *c = memchr(bare, ',', blen);
	if (!c || scram_unescape(bare + 2, (size_t)(c - bare) - 2, r->authcid, sizeof(r->authcid)) < 0)
		return SASL_MALFORMED;
	const char *rn = c + 1;
	size_t rest = blen - (size_t)(rn - bare);
	if (rest < 3 || rn[0] != 'r' || rn[1] != '=')
		return SASL_MALFORMED;
	const char *ne = memchr(rn, ',', rest);
	size_t nlen = (ne ? (size_t)(ne - rn) : rest) - 2;
	if (nlen == 0)
		return SASL_MALFORMED;
	for (size_t k = 0; k < nlen; k++) {
		unsigned char ch = (unsigned char)rn[2 + k];
		if (ch < 0x21 || ch > 0x7e || ch == ',')
			return SASL_MALFORMED;  /* RFC 5802 7: printable, no "," */
	}
	int lr = s->lookup ? s->lookup(s->lookup_arg, r->authcid, &s->keys) : 1;
	if (lr < 0)
		return SASL_TEMPFAIL;
	if (lr > 0 || s->keys.salt_len == 0 || s->keys.salt_len > SASL_SCRAM_SALT_MAX) {
		r->user_unknown = true;
		scram_fake_keys(r->authcid, &s->keys);
	}
	uint8_t rnd[SCRAM_NONCE_RAND];
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return SASL_TEMPFAIL;
	char *srv = sasl_b64_encode(rnd, sizeof(rnd));  /* no "," in base64 */
	char *salt = sasl_b64_encode(s->keys.salt, s->keys.salt_len);
	if (!srv || !salt) {
		free(srv);
		free(salt);
		return SASL_TEMPFAIL;
	}
	int w = snprintf(s->nonce, sizeof(s->nonce), "%.*s%s", (int)nlen, rn + 2, srv);
	int w2 = snprintf(s->server_first, sizeof(s->server_first), "r=%s,s=%s,i=%u", s->nonce, salt,
			  s->keys.iterations);
	free(srv);
	free(salt);
	if (w < 0 || (size_t)w >= sizeof(s->nonce) || w2 < 0 || (size_t)w2 >= sizeof(s->server_first))
		return SASL_MALFORMED;
	s->stage = 1;
	return challenge(s->server_first, (size_t)w2, challenge_r);
}

/* RFC 5802 7: client-final-message = channel-binding "," nonce [","
 * extensions] "," proof; verify the proof against StoredKey. */
static enum sasl_status scram_final(struct sasl *s, const char *m, size_t n, char **challenge_r)
{
	if (memchr(m, '\0', n))
		return SASL_MALFORMED;
	const char *p = NULL;
	for (size_t i = n; i > 0; i--) {
		if (m[i - 1] == ',') {
			p = m + i;
			break;
		}
	}
	if (!p || (size_t)(m + n - p) < 3 || p[0] != 'p' || p[1] != '=')
		return SASL_MALFORMED;
	size_t without_len = (size_t)(p - m) - 1;
	/* c= must be base64 of the gs2 header the client sent first. */
	char *cb = sasl_b64_encode(s->gs2, strlen(s->gs2));
	if (!cb)
		return SASL_TEMPFAIL;
	char expect[SASL_MSG_MAX + 64];
	int w = snprintf(expect, sizeof(expect), "c=%s,r=%s", cb, s->nonce);
	free(cb);
	if (w < 0 || (size_t)w >= sizeof(expect))
		return SASL_MALFORMED;
	size_t el = (size_t)w;
	if (without_len < el || memcmp(m, expect, el) != 0 ||
	    (without_len > el && m[el] != ','))
		return SASL_MALFORMED;
	uint8_t proof[64];
	size_t plen = sizeof(proof);
	if (sasl_b64_decode(p + 2, (size_t)(m + n - p) - 2, proof, &plen) < 0 || plen != 32)
		return SASL_MALFORMED;
	/* AuthMessage := client-first-message-bare "," server-first-message ","
	 * client-final-message-without-proof */
	size_t bl = strlen(s->client_first_bare), sl = strlen(s->server_first);
	size_t alen = bl + 1 + sl + 1 + without_len;
	char *auth = malloc(alen);
	if (!auth)
		return SASL_TEMPFAIL;
	memcpy(auth, s->client_first_bare, bl);
	auth[bl] = ',';
	memcpy(auth + bl + 1, s->server_first, sl);
	auth[bl + 1 + sl] = ',';
	memcpy(auth + bl + sl + 2, m, without_len);
	uint8_t sig[32], client_key[32], stored[32], server_sig[32];
	enum sasl_status st = SASL_TEMPFAIL;
	if (hmac256(s->keys.stored_key, 32, auth, alen, sig) == 0 &&
	    hmac256(s->keys.server_key, 32, auth, alen, server_sig) == 0) {
		for (int i = 0; i < 32; i++)
			client_key[i] = proof[i] ^ sig[i];
		SHA256(client_key, 32, stored);
		bool ok = CRYPTO_memcmp(stored, s->keys.stored_key, 32) == 0 && !s->result.user_unknown;
		if (!ok) {
			s->result.verified = false;
			st = SASL_DONE;
		} else {
			s->result.verified = true;
			char *v = sasl_b64_encode(server_sig, 32);
			char final[64];
			if (v) {
				int fl = snprintf(final, sizeof(final), "v=%s", v);
				free(v);
				s->stage = 2;
				st = challenge(final, (size_t)fl, challenge_r);
			}
		}
	}
	OPENSSL_cleanse(auth, alen);
	free(auth);
	OPENSSL_cleanse(client_key, sizeof(client_key));
	return st;
}

enum sasl_status sasl_step(struct sasl *s, const char *b64, size_t len, bool initial,
			   char **challenge_r)
{
	*challenge_r = NULL;
	if (!b64) {
		/* No initial response: the mechanism's first challenge. */
		if (s->stage != 0 || !initial)
			return SASL_MALFORMED;
		return s->mech == SASL_MECH_LOGIN ? challenge("Username:", 9, challenge_r)
						  : challenge("", 0, challenge_r);
	}
	/* RFC 4954 4: "=" as an initial response is an empty one. */
	if (initial && len == 1 && b64[0] == '=')
		len = 0;
	size_t cap = len / 4 * 3 + 3;
	if (cap > SASL_MSG_MAX + 3)
		return SASL_MALFORMED;
	uint8_t buf[SASL_MSG_MAX + 4];
	size_t n = SASL_MSG_MAX;
	if (len && sasl_b64_decode(b64, len, buf, &n) < 0)
		return SASL_MALFORMED;
	if (!len)
		n = 0;
	buf[n] = '\0';
	enum sasl_status st = SASL_MALFORMED;
	switch (s->mech) {
	case SASL_MECH_PLAIN:
		st = plain_step(s, buf, n);
		break;
	case SASL_MECH_LOGIN:
		st = login_step(s, buf, n, challenge_r);
		break;
	case SASL_MECH_SCRAM_SHA_256:
		if (s->stage == 0)
			st = scram_first(s, (const char *)buf, n, challenge_r);
		else if (s->stage == 1)
			st = scram_final(s, (const char *)buf, n, challenge_r);
		else
			/* RFC 5802 5: after the server-final, the client's
			 * answer is empty. */
			st = n == 0 ? SASL_DONE : SASL_MALFORMED;
		break;
	case SASL_MECH_COUNT:
		break;
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	return st;
}
