/* imap/imap_url_access.h: what an IMAP URL (imap_url.h) names for a
 * session, and its octets: the owner, mailbox and message it points to,
 * whether this session may read it (its own mail, or a URLAUTH-authorised
 * URL, RFC 4467 2 and 6), and the section and partial range it asks for.
 * Shared by CATENATE (imap_cmd_catenate.c) and URLFETCH
 * (imap_cmd_urlauth.c); implemented in imap_url_access.c. */
#ifndef POSTINO_IMAP_URL_ACCESS_H
#define POSTINO_IMAP_URL_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "imap/imap_session.h"
#include "imap/imap_url.h"

struct mime_message;
struct mime_part;
#include "storage/storage.h"

/* Results: the URL names nothing this session may read (RFC 4469 [BADURL],
 * URLFETCH NIL), or the store failed (tagged NO [UNAVAILABLE]). */
#define IMAP_URL_BADURL (-200)
/* imap_url_read with binary: the part exists, but its transfer encoding
 * cannot be undone (RFC 3516 4.3; RFC 5524 5: its BINARY is NIL). */
#define IMAP_URL_UNKNOWN_CTE (-201)

struct imap_url_target {
	struct store_user owner;
	struct store_mailbox mb;
	struct store_msg msg;
};

/* The owner named by an absolute URL's user and host (RFC 5092 3.2):
 * "user%40domain@host" or "user@domain" (the host then being one of our
 * mail domains, the user's address being user@host).  The host must be
 * ours: the configured hostname, "localhost" or a domain with users.
 * STORE_OK, IMAP_URL_BADURL or a store error. */
int imap_url_owner(struct imap_session *s, const struct imap_url *url, struct store_user *owner_r);

/* Locate what `url` (whose text is text[0..len), for the URLAUTH rump)
 * names and check the session may read it: without ;URLAUTH= only the
 * session's own mail (a relative URL: the selected mailbox or the user's
 * mailboxes); with it, the INTERNAL token must verify under the owner's
 * mailbox key, the access identifier must admit this session and EXPIRE
 * must be in the future (RFC 4467 6).  urlauth_only: a URL without a
 * verified URLAUTH is refused (URLFETCH).  STORE_OK, IMAP_URL_BADURL or a
 * store error. */
int imap_url_resolve(struct imap_session *s, const char *text, size_t len,
		     const struct imap_url *url, bool urlauth_only, struct imap_url_target *t_r);

/* The octets of the URL's section and partial range (RFC 5092 5), BINARY
 * decoded when binary (RFC 5524 3.1), appended to out, never more than
 * max in all (*too_big_r then, out unchanged past what it held).  With
 * mime_r the message's structure is handed over (for BODYPARTSTRUCTURE;
 * mime_message_free), and *part_r the part the section names (NULL for
 * the whole message).  *nul_r: the octets hold NUL (a literal8).
 * STORE_OK, IMAP_URL_BADURL (no such section), IMAP_URL_UNKNOWN_CTE (a
 * BINARY of an unknown transfer encoding: nothing appended, *mime_r and
 * *part_r set as for STORE_OK) or a store error. */
int imap_url_read(struct imap_session *s, const struct imap_url *url,
		  const struct imap_url_target *t, bool binary, uint64_t max, struct buf *out,
		  bool *too_big_r, bool *nul_r, struct mime_message **mime_r,
		  const struct mime_part **part_r);

#endif
