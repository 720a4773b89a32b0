/* smtp/smtp_cmd_rcpt.c: RCPT TO (RFC 5321 4.1.1.3): who may receive mail
 * here.  A domain is local when the configuration lists it or some user
 * lives in it.  Anything else is relaying: only for authenticated users
 * (their mail goes to the outbound queue), never for strangers (RFC 5321
 * 3.6.2, 7.1).  Sandbox mode takes every address. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "core/conn.h"
#include "core/server.h"
#include "storage/storage.h"
#include "smtp/smtp_session.h"

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* A recipient (local or remote list) with its RFC 3461 NOTIFY and ORCPT,
 * once: RCPT twice for one mailbox delivers once, the first one counts. */
static int rcpt_add(struct smtp_rcpt_list *l, const char *address, const struct smtp_rcpt_args *r)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcasecmp(l->addr[i], address) == 0)
			return 0;
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 8;
		char **a = realloc(l->addr, ncap * sizeof(*a));
		if (!a)
			return -1;
		l->addr = a;
		uint8_t *nt = realloc(l->notify, ncap * sizeof(*nt));
		if (!nt)
			return -1;
		l->notify = nt;
		char **o = realloc(l->orcpt, ncap * sizeof(*o));
		if (!o)
			return -1;
		l->orcpt = o;
		l->cap = ncap;
	}
	char *copy = strdup(address);
	char *orcpt = r->orcpt[0] ? strdup(r->orcpt) : NULL;
	if (!copy || (r->orcpt[0] && !orcpt)) {
		free(copy);
		free(orcpt);
		return -1;
	}
	l->addr[l->n] = copy;
	l->notify[l->n] = (uint8_t)r->notify;
	l->orcpt[l->n] = orcpt;
	l->n++;
	return 0;
}

/* A path that does not parse but carries what relay tricks are made of:
 * a second '@' ("user@remote.@us"), '%' or '!' routing, a source route,
 * or a trailing dot on the domain ("user@remote.example.").  Such a RCPT
 * is answered as the relay attempt it is, not as a typo. */
static bool looks_like_relay_trick(const char *arg, size_t len)
{
	const char *lt = memchr(arg, '<', len);
	if (!lt)
		return false;
	size_t off = (size_t)(lt - arg), ats = 0;
	const char *gt = memchr(lt, '>', len - off);
	size_t end = gt ? (size_t)(gt - arg) : len;
	for (size_t i = off + 1; i < end; i++) {
		if (arg[i] == '@')
			ats++;
		if (arg[i] == '%' || arg[i] == '!' || arg[i] == ':')
			return true;
	}
	return ats > 1 || (end > off + 1 && arg[end - 1] == '.');
}

static void rcpt_refuse(struct smtp_session *s, const char *address, const char *reason)
{
	s->rcpt_refused = true;
	conn_log(s->c, PLOG_INFO, "rcpt refused to=<%s> reason=%s", address, reason);
}

/* 1 local, 0 not, -1 the store could not tell. */
static int domain_is_local(struct smtp_session *s, const char *domain)
{
	if (config_domain_is_local(s->cfg, domain))
		return 1;
	int rc = store_domain_has_users(s->srv->store, domain);
	return rc == 1 ? 1 : rc == 0 ? 0 : -1;
}

/* RFC 5321 4.5.1: postmaster@domain, for a local domain, is a user of that
 * name if there is one, and otherwise smtp.postmaster, whose mailbox is
 * created (without a password) the first time it is needed: postmaster
 * mail must never be refused for want of one.  STORE_OK with the mailbox's
 * address in address_r, or the store's error. */
static int rcpt_postmaster(struct smtp_session *s, char *address_r, size_t len)
{
	struct store_user u;
	int rc = store_user_get(s->srv->store, address_r, &u);
	if (rc == STORE_ERR_NOTFOUND || rc == STORE_ERR_INVALID) {
		const char *pm = s->cfg->smtp_postmaster;
		rc = store_user_get(s->srv->store, pm, &u);
		if (rc == STORE_ERR_NOTFOUND) {
			/* Not waiting for a lock on the loop (issue 11 point
			 * 1): when one is held, the delivery makes the
			 * mailbox, on a worker if it must wait. */
			bool was = store_thread_nowait(true);
			rc = store_user_add(s->srv->store, pm, "", &u);
			store_thread_nowait(was);
			if (rc == STORE_OK)
				conn_log(s->c, PLOG_INFO, "postmaster mailbox created user=%s", u.address);
			if (rc == STORE_ERR_BUSY) {
				conn_log(s->c, PLOG_INFO, "postmaster mailbox left to the delivery user=%s",
					 pm);
				s->create_postmaster = true;
				snprintf(address_r, len, "%s", pm);
				return STORE_OK;
			}
		}
		if (rc == STORE_ERR_EXISTS)   /* created meanwhile */
			rc = store_user_get(s->srv->store, pm, &u);
	}
	if (rc == STORE_OK)
		snprintf(address_r, len, "%s", u.address);
	return rc;
}

static bool is_postmaster(const struct smtp_path *p)
{
	/* RFC 5321 4.5.1: "postmaster" is a case-insensitive local name. */
	return p->postmaster || (!p->quoted && p->local_len == 10 &&
				 strncasecmp(p->local, "postmaster", 10) == 0);
}

/* The mailbox a local recipient's mail goes to: its canonical address
 * replaces the one in `address`.  0, or -1 once refused with a reply. */
static int rcpt_local_mailbox(struct smtp_session *s, const struct smtp_path *p, char *address,
			      size_t len)
{
	int rc;
	if (is_postmaster(p)) {
		rc = rcpt_postmaster(s, address, len);
	} else {
		struct store_user u;
		rc = store_user_get(s->srv->store, address, &u);
		if (rc == STORE_ERR_NOTFOUND || rc == STORE_ERR_INVALID) {
			rcpt_refuse(s, address, "unknown-user");
			smtp_reply(s, "550 5.1.1 <%s>: Recipient address rejected: User unknown", address);
			return -1;
		}
		if (rc == STORE_OK)
			snprintf(address, len, "%s", u.address);
	}
	if (rc != STORE_OK) {
		rcpt_refuse(s, address, "tempfail");
		smtp_reply(s, "451 4.3.0 <%s>: Temporary lookup failure", address);
		return -1;
	}
	return 0;
}

void smtp_cmd_rcpt(struct smtp_session *s, const char *arg, size_t len)
{
	unsigned max = s->cfg->smtp_max_recipients;
	if (max == 0 || max > SMTP_RCPTS_HARD_MAX)
		max = SMTP_RCPTS_HARD_MAX;
	if (s->rcpt_list.n + s->remote_list.n >= max) {
		/* RFC 5321 4.5.3.1.10: 452, the client sends the rest later. */
		smtp_reply(s, "452 4.5.3 Error: too many recipients");
		s->rcpt_refused = true;
		return;
	}
	struct smtp_rcpt_args r;
	enum smtp_perr rc = smtp_parse_rcpt(arg, len, &r);
	if (rc == SMTP_P_PATH_SYNTAX && looks_like_relay_trick(arg, len)) {
		s->rcpt_refused = true;
		conn_log(s->c, PLOG_INFO, "rcpt refused to=\"%.*s\" reason=relay-syntax",
			 (int)(len < 200 ? len : 200), arg);
		smtp_reply(s, "554 5.7.1 Relay access denied");
		return;
	}
	/* RFC 6531 3.5: a UTF-8 recipient only in an SMTPUTF8 transaction. */
	if (rc == SMTP_P_OK && r.path.utf8 && !s->smtputf8)
		rc = SMTP_P_PATH_8BIT;
	if (rc != SMTP_P_OK) {
		s->rcpt_refused = true;
		smtp_reply_perr(s, rc, false);
		return;
	}
	struct smtp_path *p = &r.path;
	char address[SMTP_ADDRESS_MAX + 1];
	char domain[SMTP_DOMAIN_MAX + 1];
	if (p->postmaster) {
		/* RFC 5321 4.1.1.3: the bare Postmaster is ours. */
		snprintf(address, sizeof(address), "postmaster@%s", s->cfg->hostname);
		snprintf(domain, sizeof(domain), "%s", s->cfg->hostname);
	} else {
		memcpy(address, p->address, p->address_len + 1);
		memcpy(domain, p->domain, p->domain_len + 1);
	}
	lower(domain);
	if (p->route_chars) {
		/* user%host@us, host!user@us, "user@host"@us: relay tricks. */
		rcpt_refuse(s, address, "relay-syntax");
		smtp_reply(s, "554 5.7.1 <%s>: Relay access denied", address);
		return;
	}
	if (s->cfg->sandbox) {
		/* Every address has its own mailbox here; only the bare
		 * Postmaster needs to be told where it lives. */
		if (p->postmaster)
			snprintf(address, sizeof(address), "%s", s->cfg->smtp_postmaster);
		lower(address);
	} else {
		/* RFC 5321 4.1.1.3: the bare Postmaster is ours, whatever our
		 * hostname's domain. */
		int local = p->postmaster ? 1 : domain_is_local(s, domain);
		if (local < 0) {
			rcpt_refuse(s, address, "tempfail");
			smtp_reply(s, "451 4.3.0 <%s>: Temporary lookup failure", address);
			return;
		}
		if (!local && s->authed) {
			/* RFC 6409 and RFC 4954: authenticated users send anywhere;
			 * the message waits in the outbound queue. */
			if (rcpt_add(&s->remote_list, address, &r) < 0) {
				smtp_reply(s, "451 4.3.0 Error: out of memory");
				return;
			}
			s->state = SMTP_S_RCPT;
			smtp_reply(s, "250 2.1.5 Ok");
			return;
		}
		if (!local) {
			rcpt_refuse(s, address, "relay");
			smtp_reply(s, "554 5.7.1 <%s>: Relay access denied", address);
			return;
		}
		if (rcpt_local_mailbox(s, p, address, sizeof(address)) < 0)
			return;
	}
	if (rcpt_add(&s->rcpt_list, address, &r) < 0) {
		smtp_reply(s, "451 4.3.0 Error: out of memory");
		return;
	}
	s->state = SMTP_S_RCPT;
	smtp_reply(s, "250 2.1.5 Ok");
}
