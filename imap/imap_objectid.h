/* imap/imap_objectid.h: the object identifiers of OBJECTID (RFC 8474), made
 * from what the store already keeps, so that nothing new is stored:
 *  - MAILBOXID "F<id>-<uidvalidity>" (hex): the store's mailbox id comes
 *    from a counter and is never reused, and RENAME keeps both it and the
 *    UIDVALIDITY (RFC 8474 4); a mailbox made anew (CREATE after DELETE,
 *    RENAME of INBOX) has new ones.
 *  - EMAILID "M<content id>" (hex): the content key, immutable for a
 *    message, shared by the copies COPY and MOVE make and by every
 *    mailbox one delivery reached (5.1 allows the same EMAILID for the
 *    same content).
 *  - THREADID: not computed; NIL in FETCH, and SEARCH THREADID matches
 *    nothing (5.2).
 * The prefixes keep the kinds apart (5.2: never one value for both). */
#ifndef POSTINO_IMAP_OBJECTID_H
#define POSTINO_IMAP_OBJECTID_H

#include <stdint.h>
#include <stdio.h>

/* Room for "F" + 8 + "-" + 8 hex digits, or "M" + 16, and the NUL. */
#define IMAP_OBJECTID_MAX 24

static inline void imap_objectid_mailbox(char out[IMAP_OBJECTID_MAX], uint32_t id,
                                         uint32_t uidvalidity)
{
	snprintf(out, IMAP_OBJECTID_MAX, "F%x-%x", (unsigned)id, (unsigned)uidvalidity);
}

static inline void imap_objectid_email(char out[IMAP_OBJECTID_MAX], uint64_t content_id)
{
	snprintf(out, IMAP_OBJECTID_MAX, "M%llx", (unsigned long long)content_id);
}

#endif
