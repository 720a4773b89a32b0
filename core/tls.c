/* core/tls.c: the OpenSSL server context and its policy.
 *
 * - TLS 1.2 and 1.3 only (RFC 8996 retires 1.0 and 1.1; RFC 8314 4.1 asks
 *   for 1.2 or later); the minimum comes from the config, no maximum.
 * - TLS 1.2 ciphers and TLS 1.3 suites from the config; a list that selects
 *   nothing usable with our key stops the start (or the reload) with an
 *   error instead of a server that fails every handshake.
 * - Server cipher preference, no compression (CRIME), no renegotiation
 *   (RFC 5746 attacks, CPU exhaustion); session tickets stay on.
 * - The certificate chain and key come from PEM files; the key must match
 *   the leaf and the leaf must be valid now (RFC 5280 4.1.2.5).
 * - Without a configured pair, a self-signed P-256 certificate for the
 *   configured hostname is generated into DATA_DIR/tls/ once, reused, and
 *   generated again when it has expired, so STARTTLS works out of the box.
 *   Its serial is random and in its subject, and it has key identifiers, so
 *   several instances' certificates can share one trust file.
 * - A reload (SIGHUP, core/server.c) builds a complete new context and
 *   swaps it in only when every check passed; SSL objects hold a reference
 *   to the SSL_CTX they were made from, so sessions on the old certificate
 *   carry on. */
#include "core/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/config.h"
#include "core/log.h"

/* Used when the config leaves a list empty; the same as etc/postino.conf:
 * forward secrecy and AEAD only (RFC 9325 4.2). */
#define TLS_DEFAULT_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20"
#define TLS_DEFAULT_SUITES                                                                 \
	"TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"
/* A generated certificate this close to its end is replaced at start/reload. */
#define SELF_SIGNED_RENEW_MARGIN (24L * 3600)

struct tls_ctx {
	SSL_CTX *ssl_ctx;
	char cert_path[1100];
	char subject[256];
	char not_after[32];
};

static void ssl_error(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char buf[256];
	ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(err, errlen, "%s: %s", what, e ? buf : "unknown error");
	ERR_clear_error();
}

/* A key protected by a passphrase cannot be loaded unattended; without this
 * callback OpenSSL would prompt on the terminal and block the daemon. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* ASN1_TIME as "YYYY-MM-DDTHH:MM:SSZ". */
static void time_text(const ASN1_TIME *t, char *buf, size_t len)
{
	struct tm tm;
	if (!t || ASN1_TIME_to_tm(t, &tm) != 1 || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "invalid");
}

/* The subject as an RFC 2253 string, with quotes and control characters
 * replaced so it fits inside a quoted log value. */
static void name_text(const X509_NAME *name, char *buf, size_t len)
{
	buf[0] = '\0';
	BIO *b = BIO_new(BIO_s_mem());
	if (!b)
		return;
	if (name && X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0) {
		int n = BIO_read(b, buf, (int)(len - 1));
		buf[n > 0 ? n : 0] = '\0';
	}
	BIO_free(b);
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == '"' || *p == '\\' || *p == 0x7f)
			*p = '?';
}

/* 0 when path can be opened for reading, else -1 with a message that names
 * the file and the reason (EACCES after the privilege drop, most often). */
static int readable(const char *what, const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot read %s %s: %s", what, path, strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

static EVP_PKEY *read_key(const char *path, char *err, size_t errlen)
{
	if (readable("tls key", path, err, errlen) < 0)
		return NULL;
	FILE *f = fopen(path, "re");
	if (!f) {
		snprintf(err, errlen, "cannot read tls key %s: %s", path, strerror(errno));
		return NULL;
	}
	EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, no_passphrase, NULL);
	fclose(f);
	if (!key) {
		char what[1200];
		snprintf(what, sizeof(what),
			 "tls key %s is not a PEM private key (or needs a passphrase)", path);
		ssl_error(err, errlen, what);
	}
	return key;
}

/* RFC 5280 4.1.2.5: a certificate outside its validity period must not be
 * used; clients would refuse it anyway, with a less helpful message. */
static int check_validity(const X509 *cert, const char *path, char *err, size_t errlen)
{
	char when[32];
	int after = X509_cmp_current_time(X509_get0_notAfter(cert));
	int before = X509_cmp_current_time(X509_get0_notBefore(cert));
	if (after == 0 || before == 0) {
		snprintf(err, errlen, "tls certificate %s has a malformed validity period", path);
		return -1;
	}
	if (after < 0) {
		time_text(X509_get0_notAfter(cert), when, sizeof(when));
		snprintf(err, errlen, "tls certificate %s expired on %s", path, when);
		return -1;
	}
	if (before > 0) {
		time_text(X509_get0_notBefore(cert), when, sizeof(when));
		snprintf(err, errlen, "tls certificate %s is not valid before %s", path, when);
		return -1;
	}
	return 0;
}

/* The TLS 1.2 authentication the key can do (RFC 5246 7.4.2, RFC 8422 5.3:
 * EdDSA uses the ECDSA suites); NID_undef when we cannot tell. */
static int key_auth_nid(EVP_PKEY *key)
{
	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_RSA:
	case EVP_PKEY_RSA_PSS:
		return NID_auth_rsa;
	case EVP_PKEY_EC:
	case EVP_PKEY_ED25519:
	case EVP_PKEY_ED448:
		return NID_auth_ecdsa;
	case EVP_PKEY_DSA:
		return NID_auth_dss;
	default:
		return NID_undef;
	}
}

/* Count what the configured lists leave: TLS 1.3 suites, and TLS 1.2
 * ciphers that authenticate with our key type. */
static void count_ciphers(SSL_CTX *sc, int auth_nid, int *n12_r, int *n13_r)
{
	STACK_OF(SSL_CIPHER) *sk = SSL_CTX_get_ciphers(sc);
	*n12_r = *n13_r = 0;
	for (int i = 0; sk && i < sk_SSL_CIPHER_num(sk); i++) {
		const SSL_CIPHER *c = sk_SSL_CIPHER_value(sk, i);
		/* Only TLS 1.3 suites leave key exchange open (RFC 8446 B.4). */
		if (SSL_CIPHER_get_kx_nid(c) == NID_kx_any) {
			(*n13_r)++;
			continue;
		}
		int a = SSL_CIPHER_get_auth_nid(c);
		if (a == NID_auth_null || a == NID_auth_psk || a == NID_auth_srp)
			continue;
		if (auth_nid == NID_undef || a == auth_nid)
			(*n12_r)++;
	}
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
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
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

/* Started as root, the daemon drops to cfg->run_user after loading TLS; a
 * SIGHUP reload (or a renewal of an expired generated certificate) then runs
 * as that user, so hand it what we generated.  A failed lookup is left to
 * the privilege drop, which reports it. */
static void give_to_run_user(const struct config *cfg, const char *path)
{
	if (geteuid() != 0 || !cfg->run_user[0])
		return;
	struct passwd *pw = getpwnam(cfg->run_user);
	if (!pw)
		return;
	gid_t gid = pw->pw_gid;
	if (cfg->run_group[0]) {
		struct group *gr = getgrnam(cfg->run_group);
		if (!gr)
			return;
		gid = gr->gr_gid;
	}
	if (chown(path, pw->pw_uid, gid) < 0)
		log_warn("tls cannot chown path=%s user=%s error=\"%s\"", path, cfg->run_user,
			 strerror(errno));
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
	/* RFC 5280 4.1.2.2: a positive serial of at most 20 octets, unique per
	 * issuer; 159 random bits make it unique across every postino too. */
	unsigned char serial[20];
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		goto out;
	serial[0] &= 0x7f;
	serial[sizeof(serial) - 1] |= 1;   /* never zero */
	BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert))) {
		BN_free(bn);
		goto out;
	}
	BN_free(bn);
	X509_set_version(cert, 2);
	X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
	X509_gmtime_adj(X509_getm_notAfter(cert), 10L * 365 * 24 * 3600);
	/* Each instance's certificate is its own issuer, and a verifier finds
	 * an issuer by subject name (and key identifier): with one name for
	 * all, two instances' certificates in one trust file shadow each other
	 * ("self-signed certificate").  So the name carries this certificate's
	 * serial, and the key identifiers are there (RFC 5280 4.2.1.1-2). */
	char unique_id[2 * 8 + 1];
	for (size_t i = 0; i < 8; i++)
		snprintf(unique_id + 2 * i, 3, "%02x", serial[i]);
	X509_NAME *name = X509_get_subject_name(cert);
	if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
					(const unsigned char *)"postino self-signed", -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_ASC, (const unsigned char *)unique_id,
					-1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					(const unsigned char *)cfg->hostname, -1, -1, 0))
		goto out;
	X509_set_issuer_name(cert, name);
	X509_set_pubkey(cert, key);
	char san[400];
	snprintf(san, sizeof(san), "DNS:%s,IP:127.0.0.1,IP:::1", cfg->hostname);
	/* The subject key identifier first: the authority one is taken from it. */
	if (add_ext(cert, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
	    add_ext(cert, NID_subject_key_identifier, "hash") < 0 ||
	    add_ext(cert, NID_authority_key_identifier, "keyid:always") < 0 ||
	    add_ext(cert, NID_subject_alt_name, san) < 0 ||
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
	give_to_run_user(cfg, key_path);
	give_to_run_user(cfg, cert_path);
	log_info("tls generated self-signed certificate=%s cn=%s ou=%s", cert_path, cfg->hostname,
		 unique_id);
	rc = 0;
out:
	if (rc < 0 && !err[0])
		ssl_error(err, errlen, "generating a self-signed certificate");
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

/* Is the generated pair there and still good?  1 yes, 0 (re)generate it,
 * -1 it exists but cannot be read (err set): regenerating would hide a
 * permission problem and replace a certificate clients may have pinned. */
static int generated_pair_usable(const char *cert_path, const char *key_path, char *err,
				 size_t errlen)
{
	struct stat st;
	if (stat(cert_path, &st) < 0 && errno == ENOENT)
		return 0;
	if (stat(key_path, &st) < 0 && errno == ENOENT)
		return 0;
	if (readable("tls certificate", cert_path, err, errlen) < 0 ||
	    readable("tls key", key_path, err, errlen) < 0)
		return -1;
	int usable = 0;
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	FILE *f = fopen(cert_path, "re");
	if (f) {
		cert = PEM_read_X509(f, NULL, no_passphrase, NULL);
		fclose(f);
	}
	f = fopen(key_path, "re");
	if (f) {
		key = PEM_read_PrivateKey(f, NULL, no_passphrase, NULL);
		fclose(f);
	}
	if (cert && key && X509_check_private_key(cert, key) == 1) {
		time_t soon = time(NULL) + SELF_SIGNED_RENEW_MARGIN;
		usable = X509_cmp_time(X509_get0_notAfter(cert), &soon) > 0 &&
			 X509_cmp_current_time(X509_get0_notBefore(cert)) < 0;
		if (!usable)
			log_warn("tls generated certificate=%s expired or expires soon, "
				 "generating a new one",
				 cert_path);
	} else {
		log_warn("tls generated certificate=%s or its key is unusable, generating a new pair",
			 cert_path);
	}
	ERR_clear_error();
	X509_free(cert);
	EVP_PKEY_free(key);
	return usable;
}

static int min_version(const struct config *cfg, int *version_r, char *err, size_t errlen)
{
	if (!cfg->tls_min_version[0] || strcmp(cfg->tls_min_version, "TLSv1.2") == 0) {
		*version_r = TLS1_2_VERSION;
	} else if (strcmp(cfg->tls_min_version, "TLSv1.3") == 0) {
		*version_r = TLS1_3_VERSION;
	} else {
		snprintf(err, errlen, "%s: tls min_version must be \"TLSv1.2\" or \"TLSv1.3\"",
			 cfg->source);
		return -1;
	}
	return 0;
}

/* Protocol versions, options and cipher lists; the counts are checked once
 * the key type is known. */
static int ctx_policy(const struct config *cfg, SSL_CTX *sc, char *err, size_t errlen)
{
	int minv;
	if (min_version(cfg, &minv, err, errlen) < 0)
		return -1;
	/* No maximum: a later TLS version is welcome as soon as OpenSSL has it. */
	if (SSL_CTX_set_min_proto_version(sc, minv) != 1 ||
	    SSL_CTX_set_max_proto_version(sc, 0) != 1) {
		ssl_error(err, errlen, "setting the TLS versions");
		return -1;
	}
	SSL_CTX_set_options(sc, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
				    SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(sc, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_default_passwd_cb(sc, no_passphrase);
	/* Built-in RFC 7919 groups, so the DHE suites of the default list work. */
	SSL_CTX_set_dh_auto(sc, 1);

	/* Unauthenticated and unencrypted suites never, whatever the list says. */
	const char *ciphers = cfg->tls_ciphers[0] ? cfg->tls_ciphers : TLS_DEFAULT_CIPHERS;
	char list[sizeof(cfg->tls_ciphers) + 32];
	snprintf(list, sizeof(list), "%s:!aNULL:!eNULL", ciphers);
	if (SSL_CTX_set_cipher_list(sc, list) != 1 && minv < TLS1_3_VERSION) {
		snprintf(err, errlen, "%s: tls ciphers \"%s\" select no TLS 1.2 cipher", cfg->source,
			 ciphers);
		ERR_clear_error();
		return -1;
	}
	ERR_clear_error();
	const char *suites = cfg->tls_ciphersuites[0] ? cfg->tls_ciphersuites : TLS_DEFAULT_SUITES;
	if (SSL_CTX_set_ciphersuites(sc, suites) != 1) {
		snprintf(err, errlen, "%s: tls ciphersuites \"%s\" select no TLS 1.3 suite",
			 cfg->source, suites);
		ERR_clear_error();
		return -1;
	}
	return 0;
}

static int ctx_check_ciphers(const struct config *cfg, SSL_CTX *sc, EVP_PKEY *key, char *err,
			     size_t errlen)
{
	int minv, n12, n13;
	if (min_version(cfg, &minv, err, errlen) < 0)
		return -1;
	count_ciphers(sc, key_auth_nid(key), &n12, &n13);
	/* SSL_CTX_set_ciphersuites skips names it does not know (and some
	 * versions accept a list of nothing but typos), which would leave TLS
	 * 1.3 silently off: refuse that instead. */
	if (n13 == 0) {
		snprintf(err, errlen, "%s: tls ciphersuites \"%s\" select no TLS 1.3 suite",
			 cfg->source,
			 cfg->tls_ciphersuites[0] ? cfg->tls_ciphersuites : TLS_DEFAULT_SUITES);
		return -1;
	}
	if (n12 == 0 && minv < TLS1_3_VERSION) {
		snprintf(err, errlen,
			 "%s: tls ciphers \"%s\" select no TLS 1.2 cipher usable with the %s key",
			 cfg->source, cfg->tls_ciphers[0] ? cfg->tls_ciphers : TLS_DEFAULT_CIPHERS,
			 EVP_PKEY_get0_type_name(key) ? EVP_PKEY_get0_type_name(key) : "configured");
		return -1;
	}
	return 0;
}

/* Certificate chain, key, and the checks on both. */
static int ctx_load_pair(struct tls_ctx *ctx, const char *key_path, char *err, size_t errlen,
			 EVP_PKEY **key_r)
{
	SSL_CTX *sc = ctx->ssl_ctx;
	const char *cert_path = ctx->cert_path;
	*key_r = NULL;
	if (readable("tls certificate", cert_path, err, errlen) < 0)
		return -1;
	/* The leaf first, then the intermediates a client needs (RFC 8446 4.4.2). */
	if (SSL_CTX_use_certificate_chain_file(sc, cert_path) != 1) {
		char what[1200];
		snprintf(what, sizeof(what), "tls certificate %s is not a PEM certificate chain",
			 cert_path);
		ssl_error(err, errlen, what);
		return -1;
	}
	X509 *leaf = SSL_CTX_get0_certificate(sc);
	if (!leaf) {
		snprintf(err, errlen, "tls certificate %s holds no certificate", cert_path);
		return -1;
	}
	EVP_PKEY *key = read_key(key_path, err, errlen);
	if (!key)
		return -1;
	if (X509_check_private_key(leaf, key) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "tls key %s does not match the certificate %s", key_path,
			 cert_path);
		EVP_PKEY_free(key);
		return -1;
	}
	if (SSL_CTX_use_PrivateKey(sc, key) != 1 || SSL_CTX_check_private_key(sc) != 1) {
		char what[1200];
		snprintf(what, sizeof(what), "tls key %s cannot be used", key_path);
		ssl_error(err, errlen, what);
		EVP_PKEY_free(key);
		return -1;
	}
	if (check_validity(leaf, cert_path, err, errlen) < 0) {
		EVP_PKEY_free(key);
		return -1;
	}
	/* Intermediates past their date only warn: chains sometimes carry an
	 * expired cross-signature that modern clients skip. */
	STACK_OF(X509) *chain = NULL;
	if (SSL_CTX_get0_chain_certs(sc, &chain) == 1) {
		for (int i = 0; chain && i < sk_X509_num(chain); i++) {
			X509 *c = sk_X509_value(chain, i);
			if (X509_cmp_current_time(X509_get0_notAfter(c)) < 0) {
				char subj[256];
				name_text(X509_get_subject_name(c), subj, sizeof(subj));
				log_warn("tls certificate=%s chain entry subject=\"%s\" has expired",
					 cert_path, subj);
			}
		}
	}
	name_text(X509_get_subject_name(leaf), ctx->subject, sizeof(ctx->subject));
	time_text(X509_get0_notAfter(leaf), ctx->not_after, sizeof(ctx->not_after));
	*key_r = key;
	return 0;
}

/* Where the pair is: the configured files, or the generated pair (made or
 * renewed here). */
static int pair_paths(const struct config *cfg, char *cert_path, size_t cert_len, char *key_path,
		      size_t key_len, char *err, size_t errlen)
{
	if (cfg->tls_cert[0]) {
		snprintf(cert_path, cert_len, "%s", cfg->tls_cert);
		snprintf(key_path, key_len, "%s", cfg->tls_key);
		return 0;
	}
	char dir[600];
	if ((size_t)snprintf(dir, sizeof(dir), "%s/tls", cfg->data_dir) >= sizeof(dir)) {
		snprintf(err, errlen, "data_dir %s is too long", cfg->data_dir);
		return -1;
	}
	if (mkdir(dir, 0700) == 0)
		give_to_run_user(cfg, dir);
	else if (errno != EEXIST) {
		snprintf(err, errlen, "creating %s: %s", dir, strerror(errno));
		return -1;
	}
	snprintf(cert_path, cert_len, "%s/cert.pem", dir);
	snprintf(key_path, key_len, "%s/key.pem", dir);
	int usable = generated_pair_usable(cert_path, key_path, err, errlen);
	if (usable < 0)
		return -1;
	if (!usable && generate_self_signed(cfg, cert_path, key_path, err, errlen) < 0)
		return -1;
	return 0;
}

int tls_ctx_create(const struct config *cfg, struct tls_ctx **ctx_r, char *err, size_t errlen)
{
	char key_path[1100];
	err[0] = '\0';
	*ctx_r = NULL;
	struct tls_ctx *ctx = calloc(1, sizeof(*ctx));
	if (!ctx) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	EVP_PKEY *key = NULL;
	if (pair_paths(cfg, ctx->cert_path, sizeof(ctx->cert_path), key_path, sizeof(key_path),
		       err, errlen) < 0)
		goto fail;
	ctx->ssl_ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx->ssl_ctx) {
		ssl_error(err, errlen, "SSL_CTX_new");
		goto fail;
	}
	if (ctx_policy(cfg, ctx->ssl_ctx, err, errlen) < 0 ||
	    ctx_load_pair(ctx, key_path, err, errlen, &key) < 0 ||
	    ctx_check_ciphers(cfg, ctx->ssl_ctx, key, err, errlen) < 0)
		goto fail;
	EVP_PKEY_free(key);
	char desc[1600];
	tls_ctx_describe(ctx, desc, sizeof(desc));
	log_info("tls loaded %s min_version=%s", desc,
		 cfg->tls_min_version[0] ? cfg->tls_min_version : "TLSv1.2");
	*ctx_r = ctx;
	return 0;
fail:
	EVP_PKEY_free(key);
	ERR_clear_error();
	tls_ctx_free(&ctx);
	return -1;
}

void tls_ctx_free(struct tls_ctx **ctx)
{
	if (!*ctx)
		return;
	/* SSL_new takes a reference on the SSL_CTX and SSL_free drops it, so
	 * this frees the context only once the last session using it is gone. */
	SSL_CTX_free((*ctx)->ssl_ctx);
	free(*ctx);
	*ctx = NULL;
}

void tls_ctx_describe(const struct tls_ctx *ctx, char *buf, size_t len)
{
	snprintf(buf, len, "certificate=%s subject=\"%s\" not_after=%s", ctx->cert_path,
		 ctx->subject, ctx->not_after);
}

SSL *tls_ssl_new(struct tls_ctx *ctx)
{
	return SSL_new(ctx->ssl_ctx);
}
