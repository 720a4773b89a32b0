/* core/tls_client.c: the TLS context of outbound SMTP connections and the
 * SSL objects made from it.  Kept apart from core/tls.c, which owns the
 * server's certificate, its generation and reload.
 *
 * - TLS 1.2 or later, as for the server (RFC 8996).
 * - Opportunistic TLS (RFC 7435) does not authenticate: policies "may" and
 *   "encrypt" make SSLs that verify nothing.  Policy "verify" checks the
 *   chain against the trust store and the MX host name (RFC 6125 6.4 via
 *   SSL_set1_host; no partial wildcards).
 * - SNI (RFC 6066 3) only for DNS names: an IP literal must not be sent. */
#include "core/tls.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct tls_client_ctx {
	SSL_CTX *ssl_ctx;
};

static void client_ssl_error(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char buf[256];
	ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(err, errlen, "%s: %s", what, e ? buf : "unknown error");
	ERR_clear_error();
}

int tls_client_ctx_create(const char *ca_file, struct tls_client_ctx **ctx_r, char *err,
			  size_t errlen)
{
	*ctx_r = NULL;
	SSL_CTX *sc = SSL_CTX_new(TLS_client_method());
	if (!sc) {
		client_ssl_error(err, errlen, "creating the client TLS context");
		return -1;
	}
	SSL_CTX_set_min_proto_version(sc, TLS1_2_VERSION);
	SSL_CTX_set_options(sc, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	int ok;
	if (ca_file && ca_file[0])
		ok = SSL_CTX_load_verify_locations(sc, ca_file, NULL);
	else
		ok = SSL_CTX_set_default_verify_paths(sc);
	if (ok != 1) {
		char what[1200];
		snprintf(what, sizeof(what), "loading trusted certificates from %s",
			 ca_file && ca_file[0] ? ca_file : "the system store");
		client_ssl_error(err, errlen, what);
		SSL_CTX_free(sc);
		return -1;
	}
	struct tls_client_ctx *ctx = calloc(1, sizeof(*ctx));
	if (!ctx) {
		snprintf(err, errlen, "out of memory");
		SSL_CTX_free(sc);
		return -1;
	}
	ctx->ssl_ctx = sc;
	*ctx_r = ctx;
	return 0;
}

void tls_client_ctx_free(struct tls_client_ctx **ctx)
{
	if (!*ctx)
		return;
	SSL_CTX_free((*ctx)->ssl_ctx);
	free(*ctx);
	*ctx = NULL;
}

static bool is_ip_literal(const char *host)
{
	unsigned char a[16];
	return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

SSL *tls_client_ssl_new(struct tls_client_ctx *ctx, const char *host, bool verify)
{
	SSL *ssl = SSL_new(ctx->ssl_ctx);
	if (!ssl)
		return NULL;
	bool ip = is_ip_literal(host);
	if (!ip && host[0] && SSL_set_tlsext_host_name(ssl, host) != 1)
		goto fail;
	if (verify) {
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (ip) {
			X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
			if (X509_VERIFY_PARAM_set1_ip_asc(vp, host) != 1)
				goto fail;
		} else if (SSL_set1_host(ssl, host) != 1) {
			goto fail;
		}
		SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	}
	return ssl;
fail:
	ERR_clear_error();
	SSL_free(ssl);
	return NULL;
}

void tls_client_ssl_error(SSL *ssl, unsigned long e, char *buf, size_t len)
{
	long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
	if (!e)
		e = ERR_peek_last_error();
	if (v != X509_V_OK) {
		snprintf(buf, len, "certificate verification failed: %s",
			 X509_verify_cert_error_string(v));
	} else if (e) {
		char s[256];
		ERR_error_string_n(e, s, sizeof(s));
		snprintf(buf, len, "TLS handshake failed: %s", s);
	} else {
		snprintf(buf, len, "TLS handshake failed: connection closed");
	}
	ERR_clear_error();
}
