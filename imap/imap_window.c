/* imap/imap_window.c: the message records of a window of UIDs, for the
 * commands that walk a set of messages a window at a time (FETCH, SEARCH,
 * SORT and THREAD): one cursor walk over the UID range when the UIDs are
 * dense (1:*, ranges), a lookup per UID when they are far apart, so that a
 * window of scattered UIDs does not read every record between them. */
#include <string.h>

#include "imap/imap_session.h"
#include "imap/imap_window.h"
#include "storage/storage.h"

struct window_fill {
	const uint32_t *uids;
	size_t n, fill;
	struct store_msg *out;
	bool *found;
};

static int window_fill_cb(void *arg, const struct store_msg *msg)
{
	struct window_fill *w = arg;
	while (w->fill < w->n && w->uids[w->fill] < msg->uid)
		w->fill++;
	if (w->fill < w->n && w->uids[w->fill] == msg->uid) {
		w->out[w->fill] = *msg;
		w->found[w->fill] = true;
		w->fill++;
	}
	return w->fill < w->n ? 0 : 1;
}

int imap_window_load(struct imap_session *s, uint32_t mailbox_id, const uint32_t *uids, size_t n,
		     struct store_msg *out, bool *found)
{
	memset(found, 0, n * sizeof(*found));
	if (n == 0)
		return STORE_OK;
	uint32_t lo = uids[0], hi = uids[n - 1];
	if ((uint64_t)hi - lo < 4 * (uint64_t)n) {
		struct window_fill w = { uids, n, 0, out, found };
		int rc = store_msg_list_range(s->store, mailbox_id, lo, hi, window_fill_cb, &w);
		return rc == 1 ? STORE_OK : rc;
	}
	for (size_t k = 0; k < n; k++) {
		int rc = store_msg_get(s->store, mailbox_id, uids[k], &out[k]);
		if (rc == STORE_OK)
			found[k] = true;
		else if (rc != STORE_ERR_NOTFOUND)
			return rc;
	}
	return STORE_OK;
}
