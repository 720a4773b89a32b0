/* imap/imap_window.h: the message records of a window of UIDs (see
 * imap_window.c). */
#ifndef POSTINO_IMAP_WINDOW_H
#define POSTINO_IMAP_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct imap_session;
struct store_msg;

/* The records of uids[0..n) (ascending) of mailbox_id into out[0..n):
 * found[k] is false for a UID whose record is gone (expunged meanwhile).
 * STORE_OK or a store error. */
int imap_window_load(struct imap_session *s, uint32_t mailbox_id, const uint32_t *uids, size_t n,
		     struct store_msg *out, bool *found);

#endif
