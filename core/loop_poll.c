/* core/loop_poll.c: the poll window of an event loop (core/loop_poll.h
 * says why and how it adapts). */
#include "core/loop_poll.h"

#include <sched.h>
#include <time.h>

#include <event2/event.h>

void loop_poll_init(struct loop_poll *p, unsigned max_us)
{
	p->max_ns = (uint64_t)max_us * 1000;
	p->window_ns = 0;
}

void loop_poll_adjust(struct loop_poll *p, uint64_t idle_ns)
{
	if (p->max_ns == 0 || idle_ns <= p->window_ns)
		return;
	uint64_t start = p->max_ns / 4;
	if (idle_ns <= p->max_ns) {
		uint64_t w = p->window_ns * 2;
		p->window_ns = w < start ? start : w > p->max_ns ? p->max_ns : w;
	} else {
		p->window_ns /= 2;
		if (p->window_ns < start)
			p->window_ns = 0;
	}
}

static _Thread_local bool armed;
static _Thread_local uint64_t first_ns;

uint64_t loop_poll_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void loop_poll_note(void)
{
	if (armed) {
		armed = false;
		first_ns = loop_poll_now_ns();
	}
}

void loop_poll_arm(void)
{
	armed = true;
	first_ns = 0;
}

uint64_t loop_poll_first_ns(void)
{
	return first_ns;
}

/* One libevent round: 1 when the loop must stop because it was told to,
 * -1 when its dispatch failed, else 0. */
static int round_of(struct event_base *b, int flags)
{
	if (event_base_loop(b, flags | EVLOOP_ONCE | EVLOOP_NO_EXIT_ON_EMPTY) < 0)
		return -1;
	return event_base_got_exit(b) || event_base_got_break(b) ? 1 : 0;
}

int loop_poll_run(struct event_base *b, struct loop_poll *p)
{
	if (p->max_ns == 0)
		return event_base_loop(b, EVLOOP_NO_EXIT_ON_EMPTY) < 0 ? -1 : 0;
	int r;
	for (;;) {
		uint64_t t0 = loop_poll_now_ns();
		loop_poll_arm();
		bool caught = false;
		while (p->window_ns && loop_poll_now_ns() - t0 < p->window_ns) {
			if ((r = round_of(b, EVLOOP_NONBLOCK)) != 0)
				return r < 0 ? -1 : 0;
			if ((caught = loop_poll_first_ns() != 0))
				break;
			sched_yield();
		}
		if (!caught && (r = round_of(b, 0)) != 0)
			return r < 0 ? -1 : 0;
		/* Input ended the wait: how long it took moves the window.
		 * Anything else (a timer, a worker's or the flusher's post, a
		 * write turning possible) says nothing of the clients' pace,
		 * except that a wait longer than the maximum was one no poll
		 * would have caught: the window shrinks, so that a window
		 * left open by a burst does not go on polling after every
		 * timer of an idle loop. */
		uint64_t t1 = loop_poll_first_ns();
		uint64_t idle = (t1 ? t1 : loop_poll_now_ns()) - t0;
		if (t1 || idle > p->max_ns)
			loop_poll_adjust(p, idle);
	}
}
