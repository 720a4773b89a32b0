/* libFuzzer target for the stored credentials: a user record as read back
 * from the users database (storage user codec), its password hash checked
 * by auth_verify_password() (core/auth.c), and its SCRAM keys handed to
 * the SCRAM-SHA-256 exchange (auth_scram_keys_from_user() and core/sasl.c).
 *
 * Input: two bytes of record length (big-endian), the user record, then
 * LF-separated lines: a password tried against the record's hash, and the
 * client's SCRAM messages (raw; base64-encoded here).  Besides "no crash,
 * no sanitizer report, no timeout" (a hash whose cost parameters would
 * stall the event loop counts as a hang):
 *   - the server-first message carries the record's salt and a positive
 *     iteration count (RFC 5802 7: i= is a posit-number);
 *   - SCRAM never verifies a proof the fuzzer could not compute;
 *   - auth_verify_password() is a yes/no answer, and yes only for a hash
 *     that is really of the password (checked by hashing a known password
 *     once per run). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/auth.h"
#include "core/proto.h"
#include "core/sasl.h"
#include "storage/storage_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* core_lib's kind table names the front-ends, which are not linked in. */
const struct proto_ops smtp_proto_ops = {.name = "smtp"};
const struct proto_ops pop3_proto_ops = {.name = "pop3"};
const struct proto_ops imap_proto_ops = {.name = "imap"};

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "property violated: %s\n", what);
		abort();
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	char hash[STORE_PWHASH_MAX + 1];
	check(auth_hash_password("secret", hash, sizeof(hash)) == 0, "hashing works");
	check(auth_verify_password("secret", hash) == 1, "own hash verifies");
	check(auth_verify_password("Secret", hash) == 0, "wrong password refused");
	return 0;
}

struct lookup_arg {
	const struct store_user *u;
};

static int lookup(void *arg, const char *user, struct sasl_scram_keys *keys_r)
{
	struct lookup_arg *a = arg;
	(void)user;
	return auth_scram_keys_from_user(a->u, keys_r);
}

/* r=<nonce>,s=<salt>,i=<n>: the salt is the record's, n > 0. */
static void check_server_first(const char *b64, const struct sasl_scram_keys *used)
{
	uint8_t msg[1024];
	size_t n = sizeof(msg) - 1;
	check(sasl_b64_decode(b64, strlen(b64), msg, &n) == 0, "challenge is base64");
	msg[n] = '\0';
	const char *s = strstr((char *)msg, ",s=");
	const char *i = strstr((char *)msg, ",i=");
	check(msg[0] == 'r' && s && i && i > s, "server-first shape");
	check(i[3] >= '1' && i[3] <= '9', "iteration count is a positive number");
	if (used) {
		char *salt = sasl_b64_encode(used->salt, used->salt_len);
		check(salt && (size_t)(i - s - 3) == strlen(salt) &&
		      memcmp(s + 3, salt, strlen(salt)) == 0, "the record's salt");
		free(salt);
		check(strtoul(i + 3, NULL, 10) == used->iterations, "the record's iterations");
	}
}

static void run_scram(const struct store_user *u, const char *lines, size_t len)
{
	struct lookup_arg la = {u};
	struct sasl *s = sasl_new(SASL_MECH_SCRAM_SHA_256, lookup, &la);
	if (!s)
		return;
	struct sasl_scram_keys keys;
	bool have = auth_scram_keys_from_user(u, &keys) == 0;
	size_t pos = 0;
	for (int step = 0; step < 3 && pos <= len; step++) {
		const char *nl = memchr(lines + pos, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - lines - pos) : len - pos;
		char *enc = sasl_b64_encode(lines + pos, l);
		if (!enc)
			break;
		char *ch = NULL;
		enum sasl_status st = sasl_step(s, enc, strlen(enc), step == 0, &ch);
		free(enc);
		pos += l + 1;
		if (st == SASL_CONTINUE) {
			check(ch != NULL, "CONTINUE without a challenge");
			if (step == 0)
				check_server_first(ch, have && !sasl_result(s)->user_unknown ? &keys : NULL);
			free(ch);
			continue;
		}
		check(ch == NULL, "a challenge with a final status");
		if (st == SASL_DONE)
			check(!sasl_result(s)->verified, "SCRAM verified an unknowable proof");
		break;
	}
	sasl_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t rlen = (size_t)data[0] << 8 | data[1];
	if (rlen > size - 2)
		rlen = size - 2;
	uint8_t *rec = malloc(rlen ? rlen : 1);   /* exact size: ASan sees overreads */
	if (!rec)
		return 0;
	memcpy(rec, data + 2, rlen);
	struct store_user u;
	int rc = store_user_decode(rec, rlen, &u);
	free(rec);
	if (rc != STORE_OK)
		return 0;
	const char *lines = (const char *)data + 2 + rlen;
	size_t len = size - 2 - rlen;

	/* the first line is a password tried against the stored hash */
	const char *nl = memchr(lines, '\n', len);
	size_t pl = nl ? (size_t)(nl - lines) : len;
	if (pl <= SASL_PASSWORD_MAX && !memchr(lines, '\0', pl)) {
		char pw[SASL_PASSWORD_MAX + 1];
		memcpy(pw, lines, pl);
		pw[pl] = '\0';
		int ok = auth_verify_password(pw, u.pwhash);
		check(ok == 0 || ok == 1, "verify is yes or no");
		if (!u.pwhash[0])
			check(ok == 0, "an empty hash never verifies");
	}
	if (nl)
		run_scram(&u, nl + 1, len - pl - 1);
	return 0;
}
