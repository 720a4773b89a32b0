/* imap/imap_url.h: IMAP URLs (RFC 5092) as CATENATE (RFC 4469 5) and
 * URLAUTH (RFC 4467) take them: absolute ("imap://user@host/INBOX/;UID=3"),
 * relative to the server ("/INBOX;UIDVALIDITY=9/;UID=3/;SECTION=1.MIME")
 * and relative to the selected mailbox (";UID=3/;PARTIAL=0.100"), with the
 * URLAUTH parts (";EXPIRE=", ";URLAUTH=access:mech:token").
 *
 * Pure (imap_url.c is in imap_parse_lib): text in, a struct out, no store.
 * Whether the URL names something the session may read is the caller's
 * business (imap_urlfetch.c). */
#ifndef POSTINO_IMAP_URL_H
#define POSTINO_IMAP_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/imap_parse.h"

/* Longest URL taken: far more than any real one, small enough that a list
 * of them in one command stays bounded by the command's own limit. */
#define IMAP_URL_MAX 8192

enum imap_url_form {
	IMAP_URL_ABSOLUTE,       /* imap://[user[;AUTH=x]@]host[:port]/... */
	IMAP_URL_SERVER,         /* /mailbox...: relative to the server */
	IMAP_URL_MAILBOX,        /* ;UID=...: relative to the selected mailbox */
};

/* RFC 4467 2.3 access identifiers. */
enum imap_url_access {
	IMAP_URL_ACCESS_NONE,    /* no ;URLAUTH= */
	IMAP_URL_ACCESS_AUTHUSER,
	IMAP_URL_ACCESS_ANONYMOUS,
	IMAP_URL_ACCESS_USER,    /* user+name */
	IMAP_URL_ACCESS_SUBMIT,  /* submit+name */
};

struct imap_url {
	enum imap_url_form form;
	char *user;              /* ABSOLUTE: enc-user decoded, or NULL */
	char *host;              /* ABSOLUTE: the host as written (lower-cased) */
	char *mailbox;           /* enc-mailbox decoded (UTF-8), NULL for MAILBOX */
	bool has_uidvalidity;
	uint32_t uidvalidity;
	uint32_t uid;            /* 0: no ;UID= (a mailbox URL) */
	bool has_section;
	struct imap_section section;   /* its parts and fields are owned here */
	char *section_mem;       /* the decoded section text the fields point into */
	bool has_partial;        /* ;PARTIAL=off[.len] (RFC 5092 3, RFC 5550) */
	uint64_t partial_off, partial_len;
	bool partial_has_len;
	bool has_expire;
	int64_t expire;          /* ;EXPIRE= as Unix time (RFC 3339 date-time) */
	enum imap_url_access access;
	char *access_user;       /* USER / SUBMIT: the name after '+', decoded */
	size_t rump_len;         /* octets up to and including the access
	                          * identifier (RFC 4467 2.4: what is signed) */
	char *mechanism;         /* ":mech:token" given, or NULL */
	char *token;             /* hex digits as written */
};

/* Parse s[0..len).  0, or -1 with a static *error_r (url_r cleared). */
int imap_url_parse(const char *s, size_t len, struct imap_url *url_r, const char **error_r);
void imap_url_clear(struct imap_url *url);

#endif
