/* libFuzzer target for the SASL state machine (core/sasl.c): the input is
 * split at LF into client messages for one mechanism (the first byte picks
 * it), each fed base64-encoded (so the mechanisms' own parsers see the
 * bytes) or, when it starts with '!', raw (so the base64 decoder does).
 * Besides "no crash, no sanitizer report": a challenge is always valid
 * base64, a PLAIN/LOGIN result names a non-empty NUL-free identity, and
 * SCRAM never verifies a proof the fuzzer could not have computed (the
 * stored keys are random per run). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "core/sasl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "property violated: %s\n", what);
		abort();
	}
}

static int lookup(void *arg, const char *user, struct sasl_scram_keys *keys_r)
{
	(void)arg;
	static struct sasl_scram_keys keys;
	if (user[0] == 'x')
		return 1;
	if (keys.salt_len == 0) {
		/* once per run: PBKDF2 would otherwise dominate every input */
		uint8_t salt[16];
		if (RAND_bytes(salt, sizeof(salt)) != 1 ||
		    sasl_scram_keys_derive("secret", salt, sizeof(salt), 4096, &keys) < 0)
			return -1;
	}
	*keys_r = keys;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	enum sasl_mech mech = (enum sasl_mech)(data[0] % SASL_MECH_COUNT);
	struct sasl *s = sasl_new(mech, lookup, NULL);
	if (!s)
		return 0;
	size_t pos = 1;
	bool first = true;
	for (int step = 0; step < 6 && pos <= size; step++) {
		const uint8_t *nl = memchr(data + pos, '\n', size - pos);
		size_t len = nl ? (size_t)(nl - (data + pos)) : size - pos;
		const char *msg = (const char *)data + pos;
		char *enc = NULL;
		char *ch = NULL;
		enum sasl_status st;
		if (len > 0 && msg[0] == '!') {
			st = sasl_step(s, msg + 1, len - 1, first, &ch);
		} else {
			enc = sasl_b64_encode(msg, len);
			if (!enc)
				break;
			st = sasl_step(s, enc, strlen(enc), first, &ch);
		}
		free(enc);
		first = false;
		pos += len + 1;
		if (st == SASL_CONTINUE) {
			check(ch != NULL, "CONTINUE without a challenge");
			uint8_t out[4096];
			size_t n = sizeof(out);
			check(sasl_b64_decode(ch, strlen(ch), out, &n) == 0, "challenge not base64");
			free(ch);
			continue;
		}
		check(ch == NULL, "a challenge with a final status");
		if (st == SASL_DONE) {
			const struct sasl_result *r = sasl_result(s);
			if (r->has_password) {
				check(r->authcid[0] != '\0', "empty authcid");
				check(strlen(r->password) > 0, "empty password");
			} else {
				check(!r->verified, "SCRAM verified a proof the fuzzer cannot know");
			}
		}
		break;
	}
	sasl_free(&s);
	return 0;
}
