/* tests/unit/test_loop_poll.c: an event loop's poll window (core/
 * loop_poll.c): shut at start and when off, opened by short idle spells,
 * doubled up to the maximum, halved and shut by long ones, left alone by
 * spells the window covered; the first-event mark; and loop_poll_run on a
 * real libevent base: it exits when told to from either phase, a client
 * that answers at once opens the window, one further away than the
 * maximum never does, and timer wake-ups alone shut a window left open. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/loop_poll.h"

#define US 1000u

static void test_off(void **state)
{
	(void)state;
	struct loop_poll p;
	loop_poll_init(&p, 0);
	assert_int_equal(p.max_ns, 0);
	for (int i = 0; i < 8; i++)
		loop_poll_adjust(&p, 5 * US);
	assert_int_equal(p.window_ns, 0);   /* never opens */
}

static void test_short_spells_open_and_grow(void **state)
{
	(void)state;
	struct loop_poll p;
	loop_poll_init(&p, 50);
	assert_int_equal(p.window_ns, 0);
	/* A client 20 us away: a quarter of the maximum first, then double
	 * while the spells outlast the window, then the window covers them. */
	loop_poll_adjust(&p, 20 * US);
	assert_int_equal(p.window_ns, 12500);
	loop_poll_adjust(&p, 20 * US);
	assert_int_equal(p.window_ns, 25000);
	loop_poll_adjust(&p, 20 * US);
	assert_int_equal(p.window_ns, 25000);
	/* Spells up to the maximum take it to the maximum, not past. */
	loop_poll_adjust(&p, 49 * US);
	assert_int_equal(p.window_ns, 50000);
	loop_poll_adjust(&p, 50 * US);
	assert_int_equal(p.window_ns, 50000);
}

static void test_long_spells_shut(void **state)
{
	(void)state;
	struct loop_poll p;
	loop_poll_init(&p, 50);
	loop_poll_adjust(&p, 40 * US);
	loop_poll_adjust(&p, 40 * US);
	loop_poll_adjust(&p, 40 * US);
	assert_int_equal(p.window_ns, 50000);
	/* A client 2 ms away: each wait outlasts the maximum. */
	loop_poll_adjust(&p, 2000 * US);
	assert_int_equal(p.window_ns, 25000);
	loop_poll_adjust(&p, 2000 * US);
	assert_int_equal(p.window_ns, 12500);
	loop_poll_adjust(&p, 2000 * US);
	assert_int_equal(p.window_ns, 0);   /* below a quarter of the maximum */
	/* Shut, it stays shut while the spells stay long. */
	for (int i = 0; i < 8; i++)
		loop_poll_adjust(&p, 51 * US);
	assert_int_equal(p.window_ns, 0);
	/* One spell a full window would have caught opens it again. */
	loop_poll_adjust(&p, 50 * US);
	assert_int_equal(p.window_ns, 12500);
}

static void test_caught_spell_changes_nothing(void **state)
{
	(void)state;
	struct loop_poll p;
	loop_poll_init(&p, 100);
	loop_poll_adjust(&p, 60 * US);
	assert_int_equal(p.window_ns, 25000);
	loop_poll_adjust(&p, 25 * US);   /* the poll caught it at its end */
	loop_poll_adjust(&p, 1 * US);
	loop_poll_adjust(&p, 0);
	assert_int_equal(p.window_ns, 25000);
}

static void test_first_event_mark(void **state)
{
	(void)state;
	loop_poll_arm();
	loop_poll_note();
	assert_true(loop_poll_first_ns() != 0);
	loop_poll_arm();   /* a new wait forgets the last one's event */
	assert_int_equal(loop_poll_first_ns(), 0);
	uint64_t before = loop_poll_now_ns();
	loop_poll_note();
	uint64_t first = loop_poll_first_ns();
	assert_true(first >= before);
	assert_true(first <= loop_poll_now_ns());
	loop_poll_note();   /* later events keep the first one's time */
	assert_int_equal(loop_poll_first_ns(), first);
	loop_poll_arm();
	assert_int_equal(loop_poll_first_ns(), 0);
}

/* ---- loop_poll_run ---- */

struct ping {
	struct event_base *base;
	struct loop_poll *p;
	int fd;              /* the loop's end of the socket pair */
	int peer;            /* the client thread's end */
	int rounds;          /* replies the loop sends before it exits */
	int seen;
	uint64_t widest;     /* the largest window seen during the run */
	unsigned gap_us;     /* the client's pause before each request */
};

static void ping_read(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct ping *pg = arg;
	loop_poll_note();
	char c;
	if (read(fd, &c, 1) != 1)
		return;
	if (pg->p->window_ns > pg->widest)
		pg->widest = pg->p->window_ns;
	if (++pg->seen >= pg->rounds) {
		event_base_loopexit(pg->base, NULL);
		return;
	}
	assert_int_equal(write(fd, "r", 1), 1);
}

/* The client: a request, then the reply, rounds times. */
static void *ping_client(void *arg)
{
	struct ping *pg = arg;
	for (int i = 0; i < pg->rounds; i++) {
		if (pg->gap_us) {
			struct timespec ts = {0, (long)pg->gap_us * 1000};
			nanosleep(&ts, NULL);
		}
		if (write(pg->peer, "q", 1) != 1)
			break;
		char c;
		if (i + 1 < pg->rounds && read(pg->peer, &c, 1) != 1)
			break;
	}
	return NULL;
}

static void ping_run(struct ping *pg, struct loop_poll *p, unsigned max_us, unsigned gap_us,
		     int rounds)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	memset(pg, 0, sizeof(*pg));
	loop_poll_init(p, max_us);
	pg->base = event_base_new();
	assert_non_null(pg->base);
	pg->p = p;
	pg->fd = sv[0];
	pg->peer = sv[1];
	pg->rounds = rounds;
	pg->gap_us = gap_us;
	struct event *ev = event_new(pg->base, sv[0], EV_READ | EV_PERSIST, ping_read, pg);
	assert_non_null(ev);
	assert_int_equal(event_add(ev, NULL), 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, ping_client, pg), 0);
	assert_int_equal(loop_poll_run(pg->base, p), 0);
	pthread_join(t, NULL);
	assert_int_equal(pg->seen, rounds);
	event_free(ev);
	event_base_free(pg->base);
	close(sv[0]);
	close(sv[1]);
}

static void test_run_fast_client_opens(void **state)
{
	(void)state;
	/* A client that asks again at once: waits far below the maximum
	 * (a millisecond, so that a slow or sanitized build still is). */
	struct ping pg;
	struct loop_poll p;
	ping_run(&pg, &p, 1000, 0, 200);
	assert_true(pg.widest >= 250 * US);
}

static void test_run_distant_client_stays_shut(void **state)
{
	(void)state;
	/* 3 ms between requests, more than the maximum: never a poll. */
	struct ping pg;
	struct loop_poll p;
	ping_run(&pg, &p, 1000, 3000, 20);
	assert_int_equal(pg.widest, 0);
	assert_int_equal(p.window_ns, 0);
}

static void test_run_off(void **state)
{
	(void)state;
	struct ping pg;
	struct loop_poll p;
	ping_run(&pg, &p, 0, 0, 50);
	assert_int_equal(pg.widest, 0);
}

struct ticks {
	struct event_base *base;
	struct event *ev;
	int left;
};

static void tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct ticks *tk = arg;
	if (--tk->left == 0) {
		event_base_loopexit(tk->base, NULL);
		return;
	}
	struct timeval tv = {0, 3000};
	evtimer_add(tk->ev, &tv);
}

static void test_run_timers_shut_an_open_window(void **state)
{
	(void)state;
	/* A burst left the window wide open; then only a timer, every 3 ms,
	 * longer than the maximum: each such wait halves it, and it shuts. */
	struct loop_poll p;
	loop_poll_init(&p, 1000);
	p.window_ns = p.max_ns;
	struct ticks tk = {.base = event_base_new(), .left = 6};
	assert_non_null(tk.base);
	tk.ev = evtimer_new(tk.base, tick, &tk);
	struct timeval tv = {0, 3000};
	evtimer_add(tk.ev, &tv);
	assert_int_equal(loop_poll_run(tk.base, &p), 0);
	assert_int_equal(p.window_ns, 0);
	event_free(tk.ev);
	event_base_free(tk.base);
}

static void exit_now(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	loop_poll_note();
	event_base_loopexit(arg, NULL);
}

/* Input already waiting: the poll's first round (window open) or the
 * sleep (window shut) runs the callback, which tells the loop to exit. */
static void exit_from(uint64_t window_ns)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[1], "x", 1), 1);
	struct event_base *b = event_base_new();
	struct event *ev = event_new(b, sv[0], EV_READ, exit_now, b);
	assert_int_equal(event_add(ev, NULL), 0);
	struct loop_poll p;
	loop_poll_init(&p, 1000);
	p.window_ns = window_ns;
	assert_int_equal(loop_poll_run(b, &p), 0);
	event_free(ev);
	event_base_free(b);
	close(sv[0]);
	close(sv[1]);
}

static void test_run_exits_from_either_phase(void **state)
{
	(void)state;
	exit_from(1000 * US);
	exit_from(0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_off),
		cmocka_unit_test(test_short_spells_open_and_grow),
		cmocka_unit_test(test_long_spells_shut),
		cmocka_unit_test(test_caught_spell_changes_nothing),
		cmocka_unit_test(test_first_event_mark),
		cmocka_unit_test(test_run_fast_client_opens),
		cmocka_unit_test(test_run_distant_client_stays_shut),
		cmocka_unit_test(test_run_off),
		cmocka_unit_test(test_run_timers_shut_an_open_window),
		cmocka_unit_test(test_run_exits_from_either_phase),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
