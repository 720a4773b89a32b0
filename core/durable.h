/* core/durable.h: group commit.
 *
 * Store transactions commit without a synchronous flush; a session that must
 * promise durability queues a waiter here.  One background thread calls
 * store_sync() for everything queued so far and then wakes the event loop,
 * which runs every waiter whose transactions that flush covered.  One fsync
 * thus acknowledges every delivery committed while the previous one ran
 * (see ../shared/DESIGN.md, "Durability and speed"). */
#ifndef POSTINO_DURABLE_H
#define POSTINO_DURABLE_H

#include <stdbool.h>
#include <stdint.h>

struct server;
struct durable;
struct durable_port;

struct durable_waiter {
	void (*cb)(struct durable_waiter *w, bool ok);  /* ok=false: flush failed */
	void *arg;
	/* private */
	uint64_t gen;
	struct durable_port *port;     /* the waiting loop's list */
	struct durable_waiter *next, *prev;
	bool queued;
};

/* Call after the transaction committed, on a loop thread.  cb runs on the
 * same loop's thread, never inside this call. */
void durable_wait(struct server *srv, struct durable_waiter *w,
		  void (*cb)(struct durable_waiter *w, bool ok), void *arg);
/* Forget a queued waiter (its session is going away); harmless if idle. */
void durable_cancel(struct server *srv, struct durable_waiter *w);

/* After the loops exist (one waiter list each). */
int durable_start(struct server *srv);
/* Run pending waiters' flush, stop the thread (the loops have stopped);
 * durable_free also frees. */
void durable_stop(struct server *srv);
void durable_free(struct server *srv);

#endif
