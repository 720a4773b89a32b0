/* imap/imap_status.h: the "* STATUS" response, shared by STATUS
 * (imap_cmd_status.c, which implements it) and LIST-STATUS (RFC 5819,
 * imap_cmd_list.c). */
#ifndef POSTINO_IMAP_STATUS_H
#define POSTINO_IMAP_STATUS_H

#include "imap/imap_session.h"
#include "storage/storage.h"

/* Writes "* STATUS name (item value ...)" CRLF for the items (enum
 * imap_status_item bits) from the mailbox's counters (O(1), RFC 3501
 * 6.3.10).  Asking for HIGHESTMODSEQ turns CONDSTORE on (RFC 7162 3.1).
 * Returns 0, or -1 when memory is short. */
int imap_status_write(struct imap_session *s, const struct store_mailbox *mb, unsigned items);

#endif
