/* core/loop.h: the daemon's event loops, as front-ends see them.
 *
 * The daemon runs one event loop per core (`server.loops`), each on its own
 * thread and each owning its connections for their whole life: a session's
 * callbacks all run on its loop's thread, so a session needs no locks.
 * What crosses loops goes through a loop's inbox (core/inbox.h): the change
 * feed, the log flush's completions, work done on the worker pool.  See
 * docs/architecture.md, "Loops". */
#ifndef POSTINO_LOOP_H
#define POSTINO_LOOP_H

#include "core/inbox.h"

struct loop;
struct server;

/* The loop whose thread is calling; NULL on any other thread (the flush
 * thread, workers, the store's watchdog). */
struct loop *loop_current(void);
unsigned loop_count(const struct server *srv);
struct loop *loop_at(const struct server *srv, unsigned i);
unsigned loop_index(const struct loop *l);
/* The loop's libevent base, for a session's own timers (loop's thread). */
struct event_base;
struct event_base *loop_base(const struct loop *l);
/* Any thread: fn(item) runs on l's thread (inbox_post). */
void loop_post(struct loop *l, struct inbox_item *item, void (*fn)(struct inbox_item *item));

#endif
