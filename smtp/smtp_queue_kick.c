/* smtp/smtp_queue_kick.c: the queue runner's doorbell (smtp_queue.h),
 * apart from the runner so that the session needs nothing of it. */
#include <stdatomic.h>
#include <stddef.h>

#include "smtp/smtp_queue.h"

static _Atomic(void (*)(void)) kick_hook;

void smtp_queue_kick_set(void (*fn)(void))
{
	atomic_store(&kick_hook, fn);
}

void smtp_queue_kick(void)
{
	void (*fn)(void) = atomic_load(&kick_hook);
	if (fn)
		fn();
}
