/* core/loop_poll.h: how long an event loop polls before it sleeps.
 *
 * A loop that answers a fast client (a test harness on the same host, a
 * client on the LAN) sleeps in epoll_wait after every reply and is woken
 * again microseconds later by the next command.  Waking a thread whose CPU
 * went idle is the dearest part of such a round trip: on this project's
 * 2-core KVM machines, whose kernel polls nothing before it halts an idle
 * vCPU (cpuidle driver "none", no haltpoll), it cost more than all of a
 * POP3 RETR's own work.  So a loop with nothing to do first polls for a
 * while without sleeping, for a window that adapts as the kernel's
 * haltpoll governor does, from how long the loop stayed idle:
 *   - idle no longer than the window: the poll paid, nothing changes;
 *   - longer, but no longer than the maximum (`loop_poll_us`): a longer
 *     poll would have paid, the window doubles (from a quarter of the
 *     maximum when it was shut);
 *   - longer than the maximum: the window halves, and shuts when small.
 * A loop whose clients are milliseconds away is never idle for less than
 * the maximum, so it never polls; an idle loop never polls; a busy one
 * has an event waiting whenever it looks.  Each poll round yields the CPU
 * (sched_yield), so a worker or a client runnable on this CPU runs first.
 * Figures in docs/architecture.md ("Loops").
 *
 * The window is plain arithmetic (unit-tested); server.c runs the loop. */
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

/* The events that end a wait: a connection's input (conn.c), a post to
 * the loop's inbox (inbox.c).  Per thread: any thread may note (a note
 * off a loop thread is never read).  loop_poll_arm starts a wait;
 * loop_poll_first_ns is the monotonic time of the first note since, or 0
 * while there was none. */
void loop_poll_note(void);
void loop_poll_arm(void);
uint64_t loop_poll_first_ns(void);
uint64_t loop_poll_now_ns(void);

#endif
