/* pop3/pop3_inuse.c: the maildrop registry (see pop3_inuse.h): a small
 * hash of intrusive entries keyed by user id. */
#include "pop3/pop3_inuse.h"

#include <pthread.h>
#include <stddef.h>

#define INUSE_BUCKETS 256

static pthread_mutex_t inuse_mu = PTHREAD_MUTEX_INITIALIZER;
static struct pop3_inuse *buckets[INUSE_BUCKETS];

static struct pop3_inuse **bucket(uint32_t user_id)
{
	/* Fibonacci hashing spreads consecutive ids over the buckets. */
	return &buckets[(uint32_t)(user_id * 2654435769u) >> 24];
}

static bool inuse_held_locked(uint32_t user_id)
{
	for (struct pop3_inuse *e = *bucket(user_id); e; e = e->next)
		if (e->user_id == user_id)
			return true;
	return false;
}

bool pop3_inuse_held(uint32_t user_id)
{
	pthread_mutex_lock(&inuse_mu);
	bool held = inuse_held_locked(user_id);
	pthread_mutex_unlock(&inuse_mu);
	return held;
}

/* The check and the insertion under one lock hold: two sessions on two
 * loops cannot both take the same maildrop. */
bool pop3_inuse_acquire(struct pop3_inuse *e, uint32_t user_id)
{
	if (e->held)
		return false;
	pthread_mutex_lock(&inuse_mu);
	bool taken = !inuse_held_locked(user_id);
	if (taken) {
		struct pop3_inuse **b = bucket(user_id);
		e->user_id = user_id;
		e->held = true;
		e->next = *b;
		*b = e;
	}
	pthread_mutex_unlock(&inuse_mu);
	return taken;
}

void pop3_inuse_release(struct pop3_inuse *e)
{
	if (!e->held)
		return;
	pthread_mutex_lock(&inuse_mu);
	for (struct pop3_inuse **pp = bucket(e->user_id); *pp; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	}
	e->held = false;
	e->next = NULL;
	pthread_mutex_unlock(&inuse_mu);
}

void pop3_inuse_move(struct pop3_inuse *to, struct pop3_inuse *from)
{
	if (!from->held || to->held)
		return;
	pthread_mutex_lock(&inuse_mu);
	for (struct pop3_inuse **pp = bucket(from->user_id); *pp; pp = &(*pp)->next) {
		if (*pp == from) {
			*pp = to;
			break;
		}
	}
	to->user_id = from->user_id;
	to->next = from->next;
	to->held = true;
	from->held = false;
	from->next = NULL;
	pthread_mutex_unlock(&inuse_mu);
}
