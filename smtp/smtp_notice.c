/* smtp/smtp_notice.c: where a notice goes (smtp_notice.h). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "smtp/smtp_notice.h"
#include "smtp/smtp_addr.h"

/* Ours: the host name, a local domain, or a domain with users (as RCPT
 * decides).  A store error counts as ours: the notice then waits in no
 * queue, and a missing mailbox sends it to postmaster (the fallback). */
static bool domain_ours(const struct config *cfg, struct store *store, const char *domain)
{
	if (strcasecmp(domain, cfg->hostname) == 0 || config_domain_is_local(cfg, domain))
		return true;
	return store_domain_has_users(store, domain) != 0;
}

int smtp_notice_build(struct smtp_notice *n, const struct config *cfg, struct store *store,
		      const char *sender, struct smtp_dsn *dsn)
{
	memset(n, 0, sizeof(*n));
	char from[300];
	snprintf(from, sizeof(from), "MAILER-DAEMON@%s", cfg->hostname);
	bool to_postmaster = sender[0] == '\0';
	snprintf(n->to_addr, sizeof(n->to_addr), "%s", to_postmaster ? cfg->smtp_postmaster : sender);
	dsn->reporting_mta = cfg->hostname;
	dsn->from = from;
	dsn->to = n->to_addr;
	buf_init(&n->body, 0);
	if (smtp_dsn_build(dsn, &n->body) != 0) {
		buf_free(&n->body);
		return -1;
	}
	n->to[0] = n->to_addr;
	n->d = (struct store_delivery){.data = n->body.data, .len = n->body.len};
	/* A returned original may hold 8-bit text (RFC 6152), an address
	 * UTF-8 (RFC 6531): the queue must ask the next server for them. */
	uint32_t flags = STORE_QF_NOTICE;
	for (size_t i = 0; i < n->body.len; i++)
		if ((unsigned char)n->body.data[i] >= 0x80) {
			flags |= STORE_QF_8BIT;
			break;
		}
	for (const char *p = n->to_addr; *p; p++)
		if ((unsigned char)*p >= 0x80) {
			flags |= STORE_QF_UTF8;
			break;
		}
	if (to_postmaster || domain_ours(cfg, store, smtp_addr_domain(n->to_addr))) {
		n->d.recipients = n->to;
		n->d.nrecipients = 1;
		/* The sender's mailbox is gone or full: postmaster, in the
		 * same transaction (both paths: the queue's outcome and the
		 * final delivery). */
		n->d.fallback = cfg->smtp_postmaster;
	} else {
		/* The null reverse-path: nobody answers a notice (RFC 5321 4.5.5). */
		n->d.sender = "";
		n->d.remote_recipients = n->to;
		n->d.nremote = 1;
		n->d.queue_flags = flags;
	}
	return 0;
}

void smtp_notice_free(struct smtp_notice *n)
{
	buf_free(&n->body);
}
