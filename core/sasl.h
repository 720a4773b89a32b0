/* core/sasl.h: the server side of the SASL mechanisms every protocol offers
 * (PLAIN, RFC 4616; LOGIN, draft-murchison-sasl-login; SCRAM-SHA-256,
 * RFC 5802 and RFC 7677), as a pure state machine: base64 text in,
 * base64 challenge or a result out.  No I/O and no store access: SCRAM asks
 * its caller for the user's keys through a lookup callback.  The framing of
 * challenges (SMTP "334 ", POP3 and IMAP "+ ") and the cancel line "*" are
 * the front-ends' business (RFC 4954 4, RFC 5034 4, RFC 9051 6.2.2). */
#ifndef POSTINO_SASL_H
#define POSTINO_SASL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sasl_mech { SASL_MECH_PLAIN, SASL_MECH_LOGIN, SASL_MECH_SCRAM_SHA_256, SASL_MECH_COUNT };

/* Case-insensitive lookup of a mechanism name as a client sends it.  0 or -1. */
int sasl_mech_lookup(const char *name, size_t len, enum sasl_mech *mech_r);
const char *sasl_mech_name(enum sasl_mech mech);
/* true for mechanisms that send the password itself (PLAIN, LOGIN). */
bool sasl_mech_is_plaintext(enum sasl_mech mech);

#define SASL_NAME_MAX 320        /* an address; longer identities fail */
#define SASL_PASSWORD_MAX 1024
#define SASL_SCRAM_KEY_LEN 32    /* SHA-256 */
#define SASL_SCRAM_SALT_MAX 64
/* Iteration counts outside 1..this are refused: a client has to run them. */
#define SASL_SCRAM_ITERATIONS_MAX 10000000

/* What the store keeps beside the password hash (RFC 5802 3): salt,
 * iteration count, StoredKey and ServerKey; never the password. */
struct sasl_scram_keys {
	uint8_t salt[SASL_SCRAM_SALT_MAX];
	size_t salt_len;                 /* 0: the user has no SCRAM keys */
	uint32_t iterations;
	uint8_t stored_key[SASL_SCRAM_KEY_LEN];
	uint8_t server_key[SASL_SCRAM_KEY_LEN];
};

/* Derive the keys for `password` with a fresh random salt of 16 bytes and
 * `iterations` (RFC 7677 4: at least 4096).  0 or -1. */
int sasl_scram_keys_make(const char *password, uint32_t iterations, struct sasl_scram_keys *keys_r);
/* Same with a given salt (tests, RFC 7677 3 vector). */
int sasl_scram_keys_derive(const char *password, const uint8_t *salt, size_t salt_len,
			   uint32_t iterations, struct sasl_scram_keys *keys_r);

/* SCRAM's view of the user store: fill keys_r for `user` (as the client
 * named it, after SASLprep-lite: the name must be printable ASCII/UTF-8
 * without "," or "=" escapes left).  Return 0 found, 1 unknown user (the
 * exchange then continues with fake keys and fails at the proof, so the
 * answer does not reveal whether the user exists), -1 temporary failure. */
typedef int (*sasl_scram_lookup_fn)(void *arg, const char *user, struct sasl_scram_keys *keys_r);

enum sasl_status {
	SASL_CONTINUE,     /* send *challenge_r (base64, may be "") and wait */
	SASL_DONE,         /* exchange finished; look at sasl_result() */
	SASL_MALFORMED,    /* not base64, or a message the mechanism does not accept */
	SASL_TEMPFAIL,     /* the lookup failed */
};

struct sasl_result {
	char authcid[SASL_NAME_MAX + 1];   /* who authenticates */
	char authzid[SASL_NAME_MAX + 1];   /* who to act as; "" = authcid */
	/* PLAIN and LOGIN: the password, for the caller to verify (then
	 * cleared by sasl_free).  SCRAM: "" and `verified` tells. */
	char password[SASL_PASSWORD_MAX + 1];
	bool has_password;
	bool verified;                      /* SCRAM: the client proof matched */
	bool user_unknown;                  /* SCRAM: the lookup said unknown */
};

struct sasl;

/* NULL on out of memory.  lookup is needed for SCRAM only. */
struct sasl *sasl_new(enum sasl_mech mech, sasl_scram_lookup_fn lookup, void *lookup_arg);
/* Feed one client message: base64 text as it arrived on the line (without
 * CRLF).  `initial` marks an initial response (SASL-IR, SMTP AUTH's second
 * argument), where "=" stands for an empty one (RFC 4954 4).  On
 * SASL_CONTINUE *challenge_r is a malloc'd NUL-terminated base64 string to
 * send; the caller frees it.  A SCRAM server-final message is sent as a
 * challenge; the client's empty answer then ends the exchange (RFC 5802 5,
 * RFC 4954 4).  When the client gave no initial response, the front-end
 * first calls sasl_step(sasl, NULL, 0, true, &ch): that yields
 * SASL_CONTINUE with the mechanism's first challenge ("" for PLAIN and
 * SCRAM, "Username:" for LOGIN). */
enum sasl_status sasl_step(struct sasl *sasl, const char *b64, size_t len, bool initial,
			   char **challenge_r);
/* Meaningful after SASL_DONE. */
const struct sasl_result *sasl_result(const struct sasl *sasl);
/* Clears secrets and frees; *sasl becomes NULL. */
void sasl_free(struct sasl **sasl);

/* Base64 (RFC 4648 4), strict: padding required, no whitespace.  Decode
 * writes at most *outlen bytes and returns 0, or -1 on bad input or room. */
int sasl_b64_decode(const char *in, size_t len, uint8_t *out, size_t *outlen);
/* malloc'd NUL-terminated encoding, NULL on out of memory. */
char *sasl_b64_encode(const void *in, size_t len);

#endif
