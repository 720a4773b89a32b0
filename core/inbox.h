/* core/inbox.h: hand work to an event loop from any thread.
 *
 * Each event loop owns one inbox: a queue of items behind a mutex and an
 * eventfd its loop watches.  Another thread (the log flush thread, a worker,
 * another loop) posts an item; the loop runs the item's function on its own
 * thread, in posting order.  That is how results come back to the loop that
 * owns a connection, so connections never need locks of their own.
 *
 * Items are intrusive: the poster owns the memory, and an item must not be
 * posted again before its function has started (a flag beside it, read and
 * written under the poster's own lock, is how callers coalesce). */
#ifndef POSTINO_INBOX_H
#define POSTINO_INBOX_H

struct event_base;
struct inbox;

struct inbox_item {
	void (*fn)(struct inbox_item *item);   /* runs on the inbox's loop */
	struct inbox_item *next;               /* private */
};

/* NULL when out of memory or descriptors. */
struct inbox *inbox_new(struct event_base *base);
/* Any thread.  fn(item) runs on the loop later, never inside this call. */
void inbox_post(struct inbox *ib, struct inbox_item *item, void (*fn)(struct inbox_item *item));
/* Runs what is still queued on the calling thread (the loop has stopped,
 * so whoever posted is still owed the call), then frees; *ib becomes NULL. */
void inbox_free(struct inbox **ib);

#endif
