/* core/loop_poll.c: the poll window of an event loop (core/loop_poll.h
 * says why and how it adapts). */
#include "core/loop_poll.h"

#include <time.h>

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
		if (p->window_ns < start / 2)
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
