/* core/tls.h: the server's TLS context: protocol and cipher policy from the
 * config, the certificate chain and key from files (or a self-signed pair
 * generated into the data directory), checked before use, and replaced in
 * place on SIGHUP while existing sessions keep the context they started on. */
#ifndef POSTINO_TLS_H
#define POSTINO_TLS_H

#include <stdbool.h>
#include <stddef.h>

struct config;
struct tls_ctx;
typedef struct ssl_st SSL;

/* Build a context.  On any problem (no cipher selected, unreadable file,
 * key not matching the certificate, certificate expired or not yet valid)
 * writes one line into err and returns -1. */
int tls_ctx_create(const struct config *cfg, struct tls_ctx **ctx_r, char *err, size_t errlen);
/* Drops the wrapper and this reference to the SSL_CTX; live SSL objects
 * keep theirs, so it is safe while sessions made from it are still open. */
void tls_ctx_free(struct tls_ctx **ctx);
/* "certificate=FILE subject=\"...\" not_after=YYYY-MM-DDTHH:MM:SSZ" for log lines. */
void tls_ctx_describe(const struct tls_ctx *ctx, char *buf, size_t len);
/* A new server-side SSL object, or NULL. */
SSL *tls_ssl_new(struct tls_ctx *ctx);

/* The outbound SMTP client's context (core/tls_client.c): TLS 1.2 or
 * later, trust from ca_file (PEM, for tests and private CAs) or, when NULL
 * or empty, the system store.  -1 with one line in err on failure. */
struct tls_client_ctx;
int tls_client_ctx_create(const char *ca_file, struct tls_client_ctx **ctx_r, char *err,
			  size_t errlen);
void tls_client_ctx_free(struct tls_client_ctx **ctx);
/* A client SSL for a connection to host: SNI when host is a DNS name;
 * with verify, the handshake fails unless the chain leads to a trusted CA
 * and the certificate names host (RFC 6125; SSL_set1_host).  NULL on
 * memory failure. */
SSL *tls_client_ssl_new(struct tls_client_ctx *ctx, const char *host, bool verify);
/* Why a handshake on ssl failed, for a human: the certificate check's
 * verdict if it failed, else the OpenSSL error e (libevent takes errors off
 * the queue: bufferevent_get_openssl_error), else the queue's (cleared). */
void tls_client_ssl_error(SSL *ssl, unsigned long e, char *buf, size_t len);

#endif
