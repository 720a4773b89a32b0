/* core/loop_poll.h: how long an event loop polls before it sleeps.
 *
 * A loop that answers a fast client (a test harness on the same host, a
 * client on the LAN) sleeps in epoll_wait after every reply and is woken
 * again microseconds later by the next command.  Waking a thread whose CPU
 * went idle is the dearest part of such a round trip: on this project's
 * 2-core KVM machines, whose kernel halts an idle vCPU at once (cpuidle
 * driver "none", no haltpoll), it cost more than all of a POP3 RETR's own
 * work.  So a loop with nothing to do first polls for a while without
 * sleeping, for a window that adapts much as the kernel's haltpoll
 * governor does, from how long the loop waited:
 *   - a wait that input ended within the window: the poll paid, nothing
 *     changes;
 *   - input after longer, but no longer than the maximum (`loop_poll_us`):
 *     a longer poll would have paid, the window doubles (from a quarter of
 *     the maximum when it was shut);
 *   - any wait longer than the maximum, whatever ended it: the window
 *     halves, and shuts once below a quarter of the maximum.
 * Only a connection's input counts as the end of a wait (conn.c notes
 * it): the completions that workers and the flusher post to the loop, and
 * timers, follow the loop's own work, not a client's pace, so they never
 * open the window.  A loop whose clients are further away than the
 * maximum therefore never polls for long: a window left open by a burst
 * shuts after a few such waits and then stays shut.  Each poll round
 * yields the CPU (sched_yield), so that a thread waiting for this CPU may
 * run.  Figures in docs/architecture.md ("Loops").
 *
 * The window is plain arithmetic (unit-tested); loop_poll_run runs a
 * libevent base with it. */
#ifndef POSTINO_LOOP_POLL_H
#define POSTINO_LOOP_POLL_H

#include <stdbool.h>
#include <stdint.h>

struct loop_poll {
	uint64_t max_ns;      /* 0: never poll */
	uint64_t window_ns;   /* the next poll's length; 0: sleep at once */
};

void loop_poll_init(struct loop_poll *p, unsigned max_us);
/* The loop was idle for idle_ns (from the start of its wait to the first
 * event), whether the poll caught that event or a sleep did. */
void loop_poll_adjust(struct loop_poll *p, uint64_t idle_ns);

/* Runs b until it is told to exit (event_base_loopexit: 0) or its
 * dispatch fails (-1), polling before each sleep as p says; p->max_ns 0:
 * plain event_base_loop. */
struct event_base;
int loop_poll_run(struct event_base *b, struct loop_poll *p);

/* What ends a wait: a connection's input (conn.c notes it).  Per thread:
 * any thread may note (a note off a loop thread is never read).
 * loop_poll_arm starts a wait; loop_poll_first_ns is the monotonic time of
 * the first note since, or 0 while there was none. */
void loop_poll_note(void);
void loop_poll_arm(void);
uint64_t loop_poll_first_ns(void);
uint64_t loop_poll_now_ns(void);

#endif
