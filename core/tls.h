/* core/tls.h: the server's TLS context: key and certificate from the config,
 * or a self-signed pair generated into the data directory on first start. */
#ifndef POSTINO_TLS_H
#define POSTINO_TLS_H

#include <stddef.h>

struct config;
struct tls_ctx;
typedef struct ssl_st SSL;

int tls_ctx_create(const struct config *cfg, struct tls_ctx **ctx_r, char *err, size_t errlen);
void tls_ctx_free(struct tls_ctx **ctx);
/* A new server-side SSL object, or NULL. */
SSL *tls_ssl_new(struct tls_ctx *ctx);

#endif
