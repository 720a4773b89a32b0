/* smtp/smtp_dkim_private.h: what smtp_dkim.c shares with the dkim admin
 * command (smtp_dkim_admin.c): the key set's layout and the checks on key
 * file names. */
#ifndef POSTINO_SMTP_DKIM_PRIVATE_H
#define POSTINO_SMTP_DKIM_PRIVATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>

struct smtp_dkim_key {
	char domain[254];
	char selector[64];
	EVP_PKEY *pkey;
};

struct smtp_dkim_keys {
	struct smtp_dkim_key *v; /* sorted by domain, then selector */
	size_t n;
	atomic_uint refs;        /* the loader's, and each smtp_dkim_active_get */
};

/* A domain name of letters, digits and '-' labels (no trailing dot). */
bool smtp_dkim_domain_valid(const char *d);
/* One DNS label: letters, digits, '-' inside. */
bool smtp_dkim_selector_valid(const char *s);
/* "DOMAIN.SELECTOR.key" -> its parts, both valid; false otherwise. */
bool smtp_dkim_name_split(const char *file, char *domain, size_t dlen, char *selector,
			  size_t slen);
/* Reads a key file: mode 0600 or stricter, PEM, RSA >= 1024 bits or
 * Ed25519.  0, or -1 with the reason. */
int smtp_dkim_key_read(const char *path, EVP_PKEY **pkey_r, char *err, size_t errlen);

#endif
