/* smtp/smtp_notice.h: a delivery status notice (smtp_dsn.h) made into a
 * delivery to the envelope sender: into the sender's mailbox when it is
 * ours, through the queue from <> otherwise, and to postmaster when the
 * sender is <> (RFC 3461 6.2, RFC 5321 6.1: a notice never answers a
 * notice).  Shared by the queue runner and the local delivery. */
#ifndef POSTINO_SMTP_NOTICE_H
#define POSTINO_SMTP_NOTICE_H

#include "core/buf.h"
#include "smtp/smtp_dsn.h"
#include "storage/storage.h"

struct config;

struct smtp_notice {
	struct buf body;
	const char *to[1];
	char to_addr[STORE_ADDRESS_MAX + 1];
	struct store_delivery d;     /* ready for store_deliver / store_queue_update */
};

/* Builds the notice of dsn (its from, to and reporting_mta are filled in
 * here) for `sender`; store is asked whether the sender's domain has
 * users.  -1 on memory or read failure (n is freed). */
int smtp_notice_build(struct smtp_notice *n, const struct config *cfg, struct store *store,
		      const char *sender, struct smtp_dsn *dsn);
void smtp_notice_free(struct smtp_notice *n);

#endif
