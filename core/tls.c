/* core/tls.c: OpenSSL server context.  TLS 1.2 and 1.3 only (RFC 8314 4.1,
 * RFC 8996 retires 1.0/1.1); the cipher list for TLS 1.2 comes from the
 * config.  Without a configured key pair, a self-signed P-256 certificate for
 * the configured hostname is generated into DATA_DIR/tls/ once and reused, so
 * STARTTLS works out of the box. */
#include "core/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/config.h"
#include "core/log.h"

struct tls_ctx {
	SSL_CTX *ssl_ctx;
};

static void ssl_error(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];
	ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(err, errlen, "%s: %s", what, e ? buf : "unknown error");
	ERR_clear_error();
}

static int add_ext(X509 *cert, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
	X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ex)
		return -1;
	int ok = X509_add_ext(cert, ex, -1);
	X509_EXTENSION_free(ex);
	return ok ? 0 : -1;
}

/* Write a PEM object to path atomically (temp file + rename), mode 0600. */
static int write_pem(const char *path, int (*writer)(FILE *, void *), void *obj)
{
	char tmp[1200];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -1;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -1;
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return -1;
	}
	int ok = writer(f, obj);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		ok = 0;
	if (fclose(f) != 0)
		ok = 0;
	if (!ok || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

static int write_key(FILE *f, void *k)
{
	return PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
}

static int write_cert(FILE *f, void *c)
{
	return PEM_write_X509(f, c);
}

static int generate_self_signed(const struct config *cfg, const char *cert_path,
				const char *key_path, char *err, size_t errlen)
{
	int rc = -1;
	X509 *cert = NULL;
	EVP_PKEY *key = EVP_EC_gen("P-256");
	if (!key) {
		ssl_error(err, errlen, "generating a TLS key");
		return -1;
	}
	cert = X509_new();
	if (!cert)
		goto out;
	unsigned char serial[16];
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		goto out;
	serial[0] &= 0x7f;
	BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert))) {
		BN_free(bn);
		goto out;
	}
	BN_free(bn);
	X509_set_version(cert, 2);
	X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
	X509_gmtime_adj(X509_getm_notAfter(cert), 10L * 365 * 24 * 3600);
	X509_NAME *name = X509_get_subject_name(cert);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"postino self-signed",
				   -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cfg->hostname, -1,
				   -1, 0);
	X509_set_issuer_name(cert, name);
	X509_set_pubkey(cert, key);
	char san[400];
	snprintf(san, sizeof(san), "DNS:%s,IP:127.0.0.1,IP:::1", cfg->hostname);
	if (add_ext(cert, NID_subject_alt_name, san) < 0 ||
	    add_ext(cert, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
	    add_ext(cert, NID_ext_key_usage, "serverAuth") < 0)
		goto out;
	if (!X509_sign(cert, key, EVP_sha256()))
		goto out;
	if (write_pem(key_path, write_key, key) < 0 || write_pem(cert_path, write_cert, cert) < 0) {
		snprintf(err, errlen, "writing %s: %s", key_path, strerror(errno));
		X509_free(cert);
		EVP_PKEY_free(key);
		return -1;
	}
	log_info("tls generated self-signed certificate=%s cn=%s", cert_path, cfg->hostname);
	rc = 0;
out:
	if (rc < 0 && !err[0])
		ssl_error(err, errlen, "generating a self-signed certificate");
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

int tls_ctx_create(const struct config *cfg, struct tls_ctx **ctx_r, char *err, size_t errlen)
{
	char cert_path[1100], key_path[1100];
	err[0] = '\0';
	*ctx_r = NULL;
	if (cfg->tls_cert[0]) {
		snprintf(cert_path, sizeof(cert_path), "%s", cfg->tls_cert);
		snprintf(key_path, sizeof(key_path), "%s", cfg->tls_key);
	} else {
		char dir[600];
		snprintf(dir, sizeof(dir), "%s/tls", cfg->data_dir);
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "creating %s: %s", dir, strerror(errno));
			return -1;
		}
		snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", dir);
		snprintf(key_path, sizeof(key_path), "%s/key.pem", dir);
		if (access(cert_path, R_OK) != 0 || access(key_path, R_OK) != 0) {
			if (generate_self_signed(cfg, cert_path, key_path, err, errlen) < 0)
				return -1;
		}
	}
	SSL_CTX *sc = SSL_CTX_new(TLS_server_method());
	if (!sc) {
		ssl_error(err, errlen, "SSL_CTX_new");
		return -1;
	}
	SSL_CTX_set_min_proto_version(sc, TLS1_2_VERSION);
	SSL_CTX_set_options(sc, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
				    SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(sc, SSL_MODE_RELEASE_BUFFERS);
	if (cfg->tls_ciphers[0] && SSL_CTX_set_cipher_list(sc, cfg->tls_ciphers) != 1) {
		snprintf(err, errlen, "%s: tls ciphers '%s' select no cipher", cfg->source,
			 cfg->tls_ciphers);
		SSL_CTX_free(sc);
		return -1;
	}
	if (SSL_CTX_use_certificate_chain_file(sc, cert_path) != 1) {
		ssl_error(err, errlen, cert_path);
		SSL_CTX_free(sc);
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(sc, key_path, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(sc) != 1) {
		ssl_error(err, errlen, key_path);
		SSL_CTX_free(sc);
		return -1;
	}
	struct tls_ctx *ctx = calloc(1, sizeof(*ctx));
	if (!ctx) {
		SSL_CTX_free(sc);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	ctx->ssl_ctx = sc;
	*ctx_r = ctx;
	return 0;
}

void tls_ctx_free(struct tls_ctx **ctx)
{
	if (!*ctx)
		return;
	SSL_CTX_free((*ctx)->ssl_ctx);
	free(*ctx);
	*ctx = NULL;
}

SSL *tls_ssl_new(struct tls_ctx *ctx)
{
	return SSL_new(ctx->ssl_ctx);
}
