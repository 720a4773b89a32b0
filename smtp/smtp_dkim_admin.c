/* smtp/smtp_dkim_admin.c: `postino dkim keygen DOMAIN [SELECTOR]
 * [--type rsa|ed25519]` creates DATA/dkim/DOMAIN.SELECTOR.key and prints
 * the DNS TXT record to publish; `postino dkim list` prints every key with
 * its record. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/config.h"
#include "smtp/smtp_dkim.h"
#include "smtp/smtp_dkim_private.h"

static const char *key_type(const EVP_PKEY *pk)
{
	return EVP_PKEY_get_base_id(pk) == EVP_PKEY_ED25519 ? "ed25519" : "rsa";
}

/* The TXT record of a key: p= is the DER SubjectPublicKeyInfo for RSA
 * (RFC 6376 3.6.1) and the bare 32-byte public key for Ed25519 (RFC 8463
 * 4).  The text is cut into strings of at most 255 bytes, the limit of one
 * character-string in a TXT record (RFC 1035 3.3.14); a verifier joins
 * them (RFC 6376 3.6.2.2). */
static int txt_print(FILE *out, const char *domain, const char *selector, EVP_PKEY *pk)
{
	unsigned char raw[2048], *p = raw;
	size_t n = 0;
	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_ED25519) {
		n = sizeof(raw);
		if (EVP_PKEY_get_raw_public_key(pk, raw, &n) != 1)
			return -1;
	} else {
		int len = i2d_PUBKEY(pk, NULL);
		if (len <= 0 || (size_t)len > sizeof(raw) || i2d_PUBKEY(pk, &p) != len)
			return -1;
		n = (size_t)len;
	}
	char b64[2900];
	EVP_EncodeBlock((unsigned char *)b64, raw, (int)n);
	char text[3000];
	int tl = snprintf(text, sizeof(text), "v=DKIM1; k=%s; p=%s", key_type(pk), b64);
	if (tl < 0 || (size_t)tl >= sizeof(text))
		return -1;
	fprintf(out, "%s._domainkey.%s. IN TXT", selector, domain);
	for (int i = 0; i < tl; i += 255)
		fprintf(out, " \"%.*s\"", tl - i < 255 ? tl - i : 255, text + i);
	fprintf(out, "\n");
	return 0;
}

static EVP_PKEY *key_generate(const char *type)
{
	EVP_PKEY *pk = NULL;
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(strcmp(type, "ed25519") == 0 ? EVP_PKEY_ED25519
									  : EVP_PKEY_RSA,
					      NULL);
	if (!c || EVP_PKEY_keygen_init(c) != 1)
		goto out;
	/* RFC 8301 3.2: signers use RSA keys of at least 2048 bits. */
	if (strcmp(type, "rsa") == 0 && EVP_PKEY_CTX_set_rsa_keygen_bits(c, 2048) != 1)
		goto out;
	if (EVP_PKEY_keygen(c, &pk) != 1)
		pk = NULL;
out:
	EVP_PKEY_CTX_free(c);
	return pk;
}

/* Writes the PEM with O_EXCL at mode 0600, so an existing key is never
 * replaced and the new one is never readable by others, not even briefly. */
static int key_write(const char *path, EVP_PKEY *pk)
{
	BIO *mem = BIO_new(BIO_s_mem());
	char *pem = NULL;
	long len;
	if (!mem || PEM_write_bio_PrivateKey(mem, pk, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (len = BIO_get_mem_data(mem, &pem)) <= 0) {
		BIO_free(mem);
		fprintf(stderr, "postino: cannot encode the key\n");
		return -1;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "postino: %s: %s\n", path,
			errno == EEXIST ? "exists already (a key is never overwritten)"
					: strerror(errno));
		BIO_free(mem);
		return -1;
	}
	int rc = 0;
	if (write(fd, pem, (size_t)len) != len || fsync(fd) < 0) {
		fprintf(stderr, "postino: %s: %s\n", path, strerror(errno));
		rc = -1;
	}
	if (close(fd) < 0 && rc == 0) {
		fprintf(stderr, "postino: %s: %s\n", path, strerror(errno));
		rc = -1;
	}
	if (rc < 0)
		unlink(path);
	BIO_free(mem);
	return rc;
}

static int dkim_keygen(const struct config *cfg, const char *type, const char *domain,
		       const char *selector)
{
	char sel[64], dom[254];
	if (strlen(domain) >= sizeof(dom) || !smtp_dkim_domain_valid(domain)) {
		fprintf(stderr, "postino: '%s' is not a domain name\n", domain);
		return 2;
	}
	/* Stored and published in lower case: DNS does not care, and key
	 * lookup by the From: domain is case-insensitive anyway. */
	for (size_t i = 0; (dom[i] = (char)tolower((unsigned char)domain[i])) != '\0'; i++)
		;
	if (selector) {
		if (!smtp_dkim_selector_valid(selector)) {
			fprintf(stderr, "postino: selector '%s': use one DNS label (letters, digits, "
					"'-')\n", selector);
			return 2;
		}
		snprintf(sel, sizeof(sel), "%s", selector);
	} else {
		/* A dated default, so a later key (rotation) gets a new
		 * selector; rsa and ed25519 differ, as each needs its own TXT
		 * record. */
		time_t now = time(NULL);
		struct tm tm;
		gmtime_r(&now, &tm);
		strftime(sel, sizeof(sel), strcmp(type, "ed25519") == 0 ? "e%Y%m" : "s%Y%m", &tm);
	}
	char dir[1024], path[1400];
	snprintf(dir, sizeof(dir), "%s/dkim", cfg->data_dir);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "postino: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	snprintf(path, sizeof(path), "%s/%s.%s.key", dir, dom, sel);
	EVP_PKEY *pk = key_generate(type);
	if (!pk) {
		fprintf(stderr, "postino: key generation failed\n");
		return 1;
	}
	int rc = key_write(path, pk) < 0 ? 1 : 0;
	if (rc == 0) {
		/* Started as root we work from inside the data directory
		 * (data_dir is "." by now): name the file in full. */
		char *full = realpath(path, NULL);
		fprintf(stderr, "postino: created %s (%s); publish this record in DNS:\n",
			full ? full : path, type);
		free(full);
		rc = txt_print(stdout, dom, sel, pk) < 0 ? 1 : 0;
	}
	EVP_PKEY_free(pk);
	return rc;
}

static int dkim_list(const struct config *cfg)
{
	struct smtp_dkim_keys *k = NULL;
	char err[1600];
	if (smtp_dkim_keys_load(cfg->data_dir, &k, err, sizeof(err)) < 0) {
		fprintf(stderr, "postino: %s\n", err);
		return 1;
	}
	int rc = 0;
	for (size_t i = 0; i < k->n; i++) {
		const struct smtp_dkim_key *key = &k->v[i];
		if (EVP_PKEY_get_base_id(key->pkey) == EVP_PKEY_ED25519)
			printf("%s %s ed25519\n  ", key->domain, key->selector);
		else
			printf("%s %s rsa-%d\n  ", key->domain, key->selector,
			       EVP_PKEY_get_bits(key->pkey));
		if (txt_print(stdout, key->domain, key->selector, key->pkey) < 0)
			rc = 1;
	}
	printf("%zu keys%s\n", k->n, cfg->smtp_dkim_sign ? "" : " (signing is off: smtp.dkim_sign)");
	smtp_dkim_keys_free(&k);
	return rc;
}

int smtp_dkim_admin(const struct config *cfg, const char *type, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "";
	if (strcmp(sub, "keygen") == 0 && (argc == 3 || argc == 4)) {
		if (!type)
			type = "rsa";
		if (strcmp(type, "rsa") != 0 && strcmp(type, "ed25519") != 0) {
			fprintf(stderr, "postino: --type '%s': use rsa or ed25519\n", type);
			return 2;
		}
		return dkim_keygen(cfg, type, argv[2], argc == 4 ? argv[3] : NULL);
	}
	if (strcmp(sub, "list") == 0 && argc == 2 && !type)
		return dkim_list(cfg);
	fprintf(stderr, "postino: usage: postino dkim keygen DOMAIN [SELECTOR] [--type rsa|ed25519]"
			" | postino dkim list (see `postino dkim --help`)\n");
	return 2;
}
