/* tests/unit/test_sasl.c: the SASL state machine (core/sasl.c): PLAIN,
 * LOGIN and SCRAM-SHA-256 against the RFC 7677 3 test vector, and every
 * kind of malformed message. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "core/sasl.h"

static char *b64(const char *s, size_t n)
{
	char *e = sasl_b64_encode(s, n);
	assert_non_null(e);
	return e;
}

static char *unb64(const char *s)
{
	static char out[4096];
	size_t n = sizeof(out) - 1;
	assert_int_equal(sasl_b64_decode(s, strlen(s), (uint8_t *)out, &n), 0);
	out[n] = '\0';
	return out;
}

/* Feed raw text (base64-encoded here); returns the status. */
static enum sasl_status feed(struct sasl *s, const char *raw, size_t n, bool initial, char **ch)
{
	char *e = b64(raw, n);
	enum sasl_status st = sasl_step(s, e, strlen(e), initial, ch);
	free(e);
	return st;
}

static void test_base64(void **state)
{
	uint8_t out[16];
	size_t n = sizeof(out);
	assert_int_equal(sasl_b64_decode("Zm9vYg==", 8, out, &n), 0);
	assert_int_equal(n, 4);
	assert_memory_equal(out, "foob", 4);
	n = sizeof(out);
	assert_int_equal(sasl_b64_decode("Zm9vYmE=", 8, out, &n), 0);
	assert_int_equal(n, 5);
	const char *bad[] = {"Zm9", "Zm9vY", "Zm=v", "Zm9v\nYg==", "Zm9vYh==", "Z===", "====",
			     "Zm9v YmE=", "Zg=a"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = sizeof(out);
		assert_int_equal(sasl_b64_decode(bad[i], strlen(bad[i]), out, &n), -1);
	}
	n = 2;  /* no room */
	assert_int_equal(sasl_b64_decode("Zm9vYg==", 8, out, &n), -1);
	char *e = sasl_b64_encode("", 0);
	assert_string_equal(e, "");
	free(e);
}

static void test_mech_lookup(void **state)
{
	enum sasl_mech m;
	assert_int_equal(sasl_mech_lookup("plain", 5, &m), 0);
	assert_int_equal(m, SASL_MECH_PLAIN);
	assert_int_equal(sasl_mech_lookup("SCRAM-SHA-256", 13, &m), 0);
	assert_int_equal(m, SASL_MECH_SCRAM_SHA_256);
	assert_int_equal(sasl_mech_lookup("SCRAM-SHA-1", 11, &m), -1);
	assert_int_equal(sasl_mech_lookup("PLAINX", 6, &m), -1);
	assert_true(sasl_mech_is_plaintext(SASL_MECH_LOGIN));
	assert_false(sasl_mech_is_plaintext(SASL_MECH_SCRAM_SHA_256));
}

static void test_plain(void **state)
{
	char *ch = NULL;
	struct sasl *s = sasl_new(SASL_MECH_PLAIN, NULL, NULL);
	assert_int_equal(feed(s, "\0alice@x\0pw", 11, true, &ch), SASL_DONE);
	const struct sasl_result *r = sasl_result(s);
	assert_string_equal(r->authcid, "alice@x");
	assert_string_equal(r->authzid, "");
	assert_string_equal(r->password, "pw");
	assert_true(r->has_password);
	sasl_free(&s);
	assert_null(s);

	/* no initial response: an empty challenge first */
	s = sasl_new(SASL_MECH_PLAIN, NULL, NULL);
	assert_int_equal(sasl_step(s, NULL, 0, true, &ch), SASL_CONTINUE);
	assert_string_equal(ch, "");
	free(ch);
	assert_int_equal(feed(s, "bob\0alice\0pw", 12, false, &ch), SASL_DONE);
	assert_string_equal(sasl_result(s)->authzid, "bob");
	sasl_free(&s);

	struct {
		const char *m;
		size_t n;
	} bad[] = {
		{"alice\0pw", 8},          /* one NUL */
		{"\0\0pw", 4},             /* empty authcid */
		{"\0alice\0", 7},          /* empty password */
		{"\0alice\0p\0w", 10},     /* NUL in the password */
		{"", 0},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s = sasl_new(SASL_MECH_PLAIN, NULL, NULL);
		if (bad[i].n == 0)
			assert_int_equal(sasl_step(s, "=", 1, true, &ch), SASL_MALFORMED);
		else
			assert_int_equal(feed(s, bad[i].m, bad[i].n, true, &ch), SASL_MALFORMED);
		sasl_free(&s);
	}
	s = sasl_new(SASL_MECH_PLAIN, NULL, NULL);
	assert_int_equal(sasl_step(s, "%%%%", 4, true, &ch), SASL_MALFORMED);
	sasl_free(&s);
	/* an over-long identity */
	char big[SASL_NAME_MAX + 10];
	memset(big, 'a', sizeof(big));
	big[0] = '\0';
	big[sizeof(big) - 3] = '\0';
	s = sasl_new(SASL_MECH_PLAIN, NULL, NULL);
	assert_int_equal(feed(s, big, sizeof(big), true, &ch), SASL_MALFORMED);
	sasl_free(&s);
}

static void test_login(void **state)
{
	char *ch = NULL;
	struct sasl *s = sasl_new(SASL_MECH_LOGIN, NULL, NULL);
	assert_int_equal(sasl_step(s, NULL, 0, true, &ch), SASL_CONTINUE);
	assert_string_equal(unb64(ch), "Username:");
	free(ch);
	assert_int_equal(feed(s, "alice", 5, false, &ch), SASL_CONTINUE);
	assert_string_equal(unb64(ch), "Password:");
	free(ch);
	assert_int_equal(feed(s, "secret", 6, false, &ch), SASL_DONE);
	assert_string_equal(sasl_result(s)->authcid, "alice");
	assert_string_equal(sasl_result(s)->password, "secret");
	sasl_free(&s);
	/* initial response = the user name; an empty password is refused */
	s = sasl_new(SASL_MECH_LOGIN, NULL, NULL);
	assert_int_equal(feed(s, "alice", 5, true, &ch), SASL_CONTINUE);
	free(ch);
	assert_int_equal(sasl_step(s, "", 0, false, &ch), SASL_MALFORMED);
	sasl_free(&s);
}

/* ---- SCRAM-SHA-256 ---- */

static const char rfc_salt_b64[] = "W22ZaJ0SNY7soEsUEjb6gQ==";

static void hmac(const uint8_t *k, size_t kl, const char *m, size_t ml, uint8_t out[32])
{
	unsigned int ol = 32;
	assert_non_null(HMAC(EVP_sha256(), k, (int)kl, (const unsigned char *)m, ml, out, &ol));
}

static void rfc_keys(struct sasl_scram_keys *k)
{
	uint8_t salt[32];
	size_t sl = sizeof(salt);
	assert_int_equal(sasl_b64_decode(rfc_salt_b64, strlen(rfc_salt_b64), salt, &sl), 0);
	assert_int_equal(sasl_scram_keys_derive("pencil", salt, sl, 4096, k), 0);
}

/* RFC 7677 3: the keys derived from "pencil" check the example's proof,
 * and the server signature is the example's. */
static void test_scram_rfc7677_vector(void **state)
{
	struct sasl_scram_keys k;
	rfc_keys(&k);
	const char *auth =
		"n=user,r=rOprNGfwEbeRWgbNEkqO,"
		"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
		"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
	uint8_t proof[32], sig[32], ck[32], stored[32], ssig[32];
	size_t pl = sizeof(proof);
	const char *p = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
	assert_int_equal(sasl_b64_decode(p, strlen(p), proof, &pl), 0);
	hmac(k.stored_key, 32, auth, strlen(auth), sig);
	for (int i = 0; i < 32; i++)
		ck[i] = proof[i] ^ sig[i];
	SHA256(ck, 32, stored);
	assert_memory_equal(stored, k.stored_key, 32);
	hmac(k.server_key, 32, auth, strlen(auth), ssig);
	char *v = sasl_b64_encode(ssig, 32);
	assert_string_equal(v, "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
	free(v);
}

struct lookup_ctx {
	struct sasl_scram_keys keys;
	char asked[128];
	int rc;
};

static int lookup(void *arg, const char *user, struct sasl_scram_keys *keys_r)
{
	struct lookup_ctx *l = arg;
	snprintf(l->asked, sizeof(l->asked), "%s", user);
	if (l->rc == 0)
		*keys_r = l->keys;
	return l->rc;
}

/* A whole exchange with our server's nonce, the client side computed
 * here from the password.  mutate: 0 good, 1 wrong proof, 2 wrong nonce,
 * 3 wrong channel binding, 4 wrong password. */
static enum sasl_status scram_run(struct lookup_ctx *l, const char *user_escaped, int mutate,
				  struct sasl **s_r)
{
	char *ch = NULL;
	struct sasl *s = sasl_new(SASL_MECH_SCRAM_SHA_256, lookup, l);
	*s_r = s;
	char first[256];
	snprintf(first, sizeof(first), "n,,n=%s,r=clientnonce123", user_escaped);
	enum sasl_status st = feed(s, first, strlen(first), true, &ch);
	if (st != SASL_CONTINUE)
		return st;
	char sfirst[512];
	snprintf(sfirst, sizeof(sfirst), "%s", unb64(ch));
	free(ch);
	assert_true(strncmp(sfirst, "r=clientnonce123", 16) == 0);
	char nonce[256];
	const char *comma = strchr(sfirst, ',');
	snprintf(nonce, sizeof(nonce), "%.*s", (int)(comma - sfirst - 2), sfirst + 2);
	const char *salt = strstr(sfirst, ",s=") + 3;
	const char *iter = strstr(sfirst, ",i=") + 3;
	uint8_t saltb[64];
	size_t sl = sizeof(saltb);
	assert_int_equal(sasl_b64_decode(salt, (size_t)(strchr(salt, ',') - salt), saltb, &sl), 0);
	struct sasl_scram_keys ck;
	assert_int_equal(sasl_scram_keys_derive(mutate == 4 ? "crayon" : "pencil", saltb, sl,
						(uint32_t)atoi(iter), &ck), 0);
	/* ClientKey is what StoredKey hashes: recompute it from the password. */
	uint8_t salted[32], client_key[32];
	PKCS5_PBKDF2_HMAC(mutate == 4 ? "crayon" : "pencil", 6, saltb, (int)sl, atoi(iter),
			  EVP_sha256(), 32, salted);
	hmac(salted, 32, "Client Key", 10, client_key);
	char without[512];
	snprintf(without, sizeof(without), "c=%s,r=%s%s", mutate == 3 ? "eSws" : "biws", nonce,
		 mutate == 2 ? "x" : "");
	char auth[2048];
	snprintf(auth, sizeof(auth), "%s,%s,%s", first + 3, sfirst, without);
	uint8_t sig[32], proof[32];
	hmac(ck.stored_key, 32, auth, strlen(auth), sig);
	for (int i = 0; i < 32; i++)
		proof[i] = client_key[i] ^ sig[i];
	if (mutate == 1)
		proof[5] ^= 1;
	char *p = sasl_b64_encode(proof, 32);
	char final[700];
	snprintf(final, sizeof(final), "%s,p=%s", without, p);
	free(p);
	st = feed(s, final, strlen(final), false, &ch);
	if (st != SASL_CONTINUE)
		return st;
	uint8_t ssig[32];
	hmac(ck.server_key, 32, auth, strlen(auth), ssig);
	char *v = sasl_b64_encode(ssig, 32);
	char want[80];
	snprintf(want, sizeof(want), "v=%s", v);
	free(v);
	assert_string_equal(unb64(ch), want);
	free(ch);
	return sasl_step(s, "", 0, false, &ch);
}

static void test_scram_exchange(void **state)
{
	struct lookup_ctx l = {0};
	rfc_keys(&l.keys);
	struct sasl *s;
	assert_int_equal(scram_run(&l, "us=3Der=2Cx", 0, &s), SASL_DONE);
	assert_string_equal(l.asked, "us=er,x");  /* RFC 5802 5.1 unescaped */
	assert_true(sasl_result(s)->verified);
	assert_false(sasl_result(s)->has_password);
	sasl_free(&s);
	for (int m = 1; m <= 4; m++) {
		enum sasl_status st = scram_run(&l, "user", m, &s);
		if (m == 1 || m == 4) {
			assert_int_equal(st, SASL_DONE);
			assert_false(sasl_result(s)->verified);
		} else {
			assert_int_equal(st, SASL_MALFORMED);
		}
		sasl_free(&s);
	}
	/* unknown user: a salt all the same, and the proof fails */
	l.rc = 1;
	assert_int_equal(scram_run(&l, "ghost", 0, &s), SASL_DONE);
	assert_false(sasl_result(s)->verified);
	assert_true(sasl_result(s)->user_unknown);
	sasl_free(&s);
	l.rc = -1;
	assert_int_equal(scram_run(&l, "user", 0, &s), SASL_TEMPFAIL);
	sasl_free(&s);
}

static void test_scram_malformed_first(void **state)
{
	struct lookup_ctx l = {0};
	rfc_keys(&l.keys);
	const char *bad[] = {
		"p=tls-unique,,n=user,r=abc",   /* channel binding: not offered */
		"x,,n=user,r=abc",
		"n,,m=ext,n=user,r=abc",        /* mandatory extension */
		"n,,n=us=4er,r=abc",            /* bad escape */
		"n,,n=,r=abc",
		"n,,n=user",
		"n,,n=user,r=",
		"n,,n=user,r=a\001b",           /* control character in the nonce */
		"n,n=user,r=abc",
		"n,a=bad=x,n=user,r=abc",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *ch = NULL;
		struct sasl *s = sasl_new(SASL_MECH_SCRAM_SHA_256, lookup, &l);
		assert_int_equal(feed(s, bad[i], strlen(bad[i]), true, &ch), SASL_MALFORMED);
		assert_null(ch);
		sasl_free(&s);
	}
	/* an authzid is passed on */
	char *ch = NULL;
	struct sasl *s = sasl_new(SASL_MECH_SCRAM_SHA_256, lookup, &l);
	const char *m = "n,a=boss=2Cx,n=user,r=abc";
	assert_int_equal(feed(s, m, strlen(m), true, &ch), SASL_CONTINUE);
	assert_string_equal(sasl_result(s)->authzid, "boss,x");
	free(ch);
	/* a client-final without p= */
	assert_int_equal(feed(s, "c=biws,r=abc", 12, false, &ch), SASL_MALFORMED);
	sasl_free(&s);
}

static void test_keys_make(void **state)
{
	struct sasl_scram_keys a, b;
	assert_int_equal(sasl_scram_keys_make("pw", 4096, &a), 0);
	assert_int_equal(sasl_scram_keys_make("pw", 4096, &b), 0);
	assert_int_equal(a.salt_len, 16);
	/* fresh salt each time */
	assert_memory_not_equal(a.salt, b.salt, 16);
	assert_memory_not_equal(a.stored_key, b.stored_key, 32);
	/* RFC 7677 4: at least 4096 iterations */
	assert_int_equal(sasl_scram_keys_make("pw", 100, &a), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_mech_lookup),
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_login),
		cmocka_unit_test(test_scram_rfc7677_vector),
		cmocka_unit_test(test_scram_exchange),
		cmocka_unit_test(test_scram_malformed_first),
		cmocka_unit_test(test_keys_make),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
