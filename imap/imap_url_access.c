/* imap/imap_url_access.c: from an IMAP URL to the octets it names, for a
 * session (imap_url_access.h): whose mail it is, whether this session may
 * read it (RFC 4469 5 for CATENATE, RFC 4467 6 for URLAUTH-authorised
 * URLs), and the section and partial range, cut as FETCH cuts them
 * (imap_fetch_body_value), so that CATENATE stores exactly what
 * FETCH BODY[section]<partial> would have sent. */
#include "imap/imap_url_access.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/config.h"
#include "core/mime.h"
#include "imap/imap_fetch.h"
#include "imap/imap_view.h"

static int url_store_err(int rc)
{
	/* What is not there, or not a valid name, is a bad URL; the rest is
	 * the store's trouble. */
	return rc == STORE_ERR_NOTFOUND || rc == STORE_ERR_INVALID ? IMAP_URL_BADURL : rc;
}

static bool host_is_ours(struct imap_session *s, const char *host)
{
	return strcasecmp(host, s->cfg->hostname) == 0 || strcmp(host, "localhost") == 0 ||
	       store_domain_has_users(s->store, host) == 1;
}

int imap_url_owner(struct imap_session *s, const struct imap_url *url, struct store_user *owner_r)
{
	if (!url->host || !host_is_ours(s, url->host))
		return IMAP_URL_BADURL;
	if (!url->user) {
		/* RFC 5092 3.2: no user named; on this server, the session's. */
		*owner_r = s->user;
		return STORE_OK;
	}
	char addr[STORE_ADDRESS_MAX + 2];
	int n = strchr(url->user, '@') ? snprintf(addr, sizeof(addr), "%s", url->user)
				       : snprintf(addr, sizeof(addr), "%s@%s", url->user, url->host);
	if (n < 0 || (size_t)n >= sizeof(addr))
		return IMAP_URL_BADURL;
	return url_store_err(store_user_get(s->store, addr, owner_r));
}

/* Whether `name` of "user+name" / "submit+name" is this session's user:
 * the address, or its local part when the URL's host is its domain. */
static bool access_name_is_session(const struct imap_session *s, const struct imap_url *url,
				   const char *name)
{
	if (strcasecmp(name, s->user.address) == 0)
		return true;
	if (strchr(name, '@') || !url->host)
		return false;
	size_t n = strlen(name);
	return strncasecmp(s->user.address, name, n) == 0 && s->user.address[n] == '@' &&
	       strcasecmp(s->user.address + n + 1, url->host) == 0;
}

/* RFC 4467 6: the access identifier admits this (authenticated) session.
 * submit+name is the submission entity acting for user name; postino's
 * submission service runs in this process and needs no IMAP login, so
 * over IMAP only that user itself may use it. */
static bool access_ok(const struct imap_session *s, const struct imap_url *url)
{
	switch (url->access) {
	case IMAP_URL_ACCESS_AUTHUSER:
	case IMAP_URL_ACCESS_ANONYMOUS:
		return true;
	case IMAP_URL_ACCESS_USER:
	case IMAP_URL_ACCESS_SUBMIT:
		return access_name_is_session(s, url, url->access_user);
	default:
		return false;
	}
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* RFC 4467 7 INTERNAL: the token is the HMAC-SHA1 of the rump under the
 * owner's key for the mailbox; compared in constant time. */
static int token_verify(struct imap_session *s, const char *text, const struct imap_url *url,
			const struct imap_url_target *t)
{
	if (strcasecmp(url->mechanism, "INTERNAL") != 0 ||
	    strlen(url->token) != 2 * STORE_URLAUTH_MAC_LEN)
		return IMAP_URL_BADURL;
	uint8_t mac[STORE_URLAUTH_MAC_LEN];
	int rc = store_urlauth_mac(s->store, t->owner.id, t->mb.id, false, text, url->rump_len,
				   mac, NULL);
	if (rc != STORE_OK)
		return url_store_err(rc);
	unsigned diff = 0;
	for (size_t i = 0; i < STORE_URLAUTH_MAC_LEN; i++) {
		int v = hexval(url->token[2 * i]) << 4 | hexval(url->token[2 * i + 1]);
		diff |= (unsigned)(v ^ mac[i]);
	}
	return diff == 0 ? STORE_OK : IMAP_URL_BADURL;
}

int imap_url_resolve(struct imap_session *s, const char *text, size_t len,
		     const struct imap_url *url, bool urlauth_only, struct imap_url_target *t_r)
{
	memset(t_r, 0, sizeof(*t_r));
	/* A rump (";URLAUTH=access" without its verifier) authorises
	 * nothing: it is only what GENURLAUTH signs. */
	if (url->access != IMAP_URL_ACCESS_NONE && !url->mechanism)
		return IMAP_URL_BADURL;
	bool urlauth = url->mechanism != NULL;
	if (urlauth_only && !urlauth)
		return IMAP_URL_BADURL;
	if (url->rump_len > len)
		return IMAP_URL_BADURL;
	int rc;
	if (url->form == IMAP_URL_ABSOLUTE) {
		/* RFC 4467 2.1: a URLAUTH URL names its owner. */
		if (urlauth && !url->user)
			return IMAP_URL_BADURL;
		if ((rc = imap_url_owner(s, url, &t_r->owner)) != STORE_OK)
			return rc;
	} else if (urlauth) {
		return IMAP_URL_BADURL;   /* RFC 4467 2.1: URLAUTH needs an absolute URL */
	} else {
		t_r->owner = s->user;
	}
	/* Another user's mail only through URLAUTH (RFC 4469 5: the session's
	 * own access rights otherwise). */
	if (!urlauth && t_r->owner.id != s->user.id)
		return IMAP_URL_BADURL;
	if (url->form == IMAP_URL_MAILBOX) {
		if (!s->view)
			return IMAP_URL_BADURL;   /* relative to no selected mailbox */
		rc = store_mailbox_get_by_id(s->store, s->view->mailbox_id, &t_r->mb);
	} else {
		rc = store_mailbox_get(s->store, t_r->owner.id, url->mailbox, &t_r->mb);
	}
	if (rc != STORE_OK)
		return url_store_err(rc);
	if (t_r->mb.user_id != t_r->owner.id ||
	    (url->has_uidvalidity && url->uidvalidity != t_r->mb.uidvalidity))
		return IMAP_URL_BADURL;
	if (urlauth) {
		if (!access_ok(s, url) || (url->has_expire && (int64_t)time(NULL) >= url->expire))
			return IMAP_URL_BADURL;
		if ((rc = token_verify(s, text, url, t_r)) != STORE_OK)
			return rc;
	}
	return url_store_err(store_msg_get(s->store, t_r->mb.id, url->uid, &t_r->msg));
}

/* content [off, off + len) appended to out. */
static int read_range(struct imap_session *s, const struct store_content *c, uint64_t off,
		      uint64_t len, struct buf *out)
{
	char *chunk = malloc(IMAP_STREAM_CHUNK);
	if (!chunk)
		return STORE_ERR_TEMP;
	int rc = STORE_OK;
	while (rc == STORE_OK && len > 0) {
		size_t want = len < IMAP_STREAM_CHUNK ? (size_t)len : IMAP_STREAM_CHUNK;
		size_t got = 0;
		rc = store_content_pread(s->store, c, off, chunk, want, &got);
		if (rc == STORE_OK && got == 0)
			rc = STORE_ERR_CORRUPT;
		if (rc == STORE_OK && buf_append(out, chunk, got) < 0)
			rc = STORE_ERR_TEMP;
		off += got;
		len -= got;
	}
	free(chunk);
	return rc;
}

int imap_url_read(struct imap_session *s, const struct imap_url *url,
		  const struct imap_url_target *t, bool binary, uint64_t max, struct buf *out,
		  bool *too_big_r, bool *nul_r, struct mime_message **mime_r,
		  const struct mime_part **part_r)
{
	*too_big_r = false;
	if (nul_r)
		*nul_r = false;
	if (mime_r)
		*mime_r = NULL;
	if (part_r)
		*part_r = NULL;
	struct store_content c;
	void *sdata = NULL;
	size_t slen = 0;
	int rc = store_content_open(s->store, t->msg.content_id, &c, &sdata, &slen);
	if (rc != STORE_OK)
		return url_store_err(rc);   /* expunged since */
	struct mime_message *mime = NULL;
	struct imap_fetch_value v = { 0 };
	buf_init(&v.mem, 0);
	if (url->has_section || binary || mime_r) {
		rc = imap_fetch_structure(s, &t->msg, &c, sdata, slen, &mime);
		sdata = NULL;
		if (rc != STORE_OK)
			goto out;
	}
	struct imap_fetch_att att = {
		.item = binary ? IMAP_FETCH_BINARY : IMAP_FETCH_BODY_SECTION,
		.peek = true,
		.section = url->section,
		.partial = url->has_partial,
		.offset = url->partial_off,
		/* RFC 5092 9: ";PARTIAL=off" alone runs to the end. */
		.count = url->partial_has_len ? url->partial_len : UINT64_MAX,
	};
	rc = imap_fetch_body_value(s, &t->msg, &c, mime, &att, &v);
	if (rc == STORE_OK && v.kind == IMAP_VALUE_NIL)
		rc = IMAP_URL_BADURL;   /* no such section */
	if (rc == IMAP_FETCH_ERR_UNKNOWN_CTE)
		rc = IMAP_URL_UNKNOWN_CTE;   /* the part is there; its octets cannot be given */
	if (rc != STORE_OK && rc != IMAP_URL_UNKNOWN_CTE)
		goto out;
	size_t start = out->len;
	if (rc == IMAP_URL_UNKNOWN_CTE)
		goto structure;
	if (v.size > max || out->len > max - v.size) {
		*too_big_r = true;
		goto out;
	}
	if (v.kind == IMAP_VALUE_MEM)
		rc = buf_append(out, v.mem.data ? v.mem.data : "", (size_t)v.size) < 0 ? STORE_ERR_TEMP
										     : STORE_OK;
	else
		rc = read_range(s, &c, v.off, v.size, out);
	if (rc != STORE_OK) {
		out->len = start;
		goto out;
	}
	if (nul_r)
		*nul_r = out->len > start && memchr(out->data + start, '\0', out->len - start);
structure:
	if (part_r && mime) {
		struct imap_fetch_loc loc;
		imap_fetch_locate(mime, t->msg.size, &url->section, &loc);
		*part_r = loc.part;
	}
	if (mime_r) {
		*mime_r = mime;
		mime = NULL;
	}
out:
	free(sdata);
	buf_free(&v.mem);
	mime_message_free(&mime);
	store_content_close(s->store, &c);
	return rc;
}
