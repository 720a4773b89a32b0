/* pop3/pop3_inuse.h: the process-wide registry of maildrops held by a POP3
 * session in TRANSACTION state.  RFC 1939 4 has the server "acquire an
 * exclusive-access lock on the maildrop" so that message numbers and
 * deletions of one session are not disturbed by another; RFC 2449 8.1.2
 * gives the refusal its code, -ERR [IN-USE].
 *
 * Entries are embedded in the session (no allocation, so acquiring cannot
 * fail for lack of memory).  Sessions of every event loop share the
 * registry, so it has a lock; an entry is only acquired and released by
 * its own session's thread.
 * Only this daemon's POP3 sessions take part: IMAP and deliveries never
 * wait for a POP3 session, and the POP3 session works on a snapshot. */
#ifndef POSTINO_POP3_INUSE_H
#define POSTINO_POP3_INUSE_H

#include <stdbool.h>
#include <stdint.h>

struct pop3_inuse {
	uint32_t user_id;
	bool held;
	struct pop3_inuse *next;
};

/* Register `e` as holding user_id's maildrop.  false (and nothing changes)
 * when another entry holds it already.  `e` must not be held. */
bool pop3_inuse_acquire(struct pop3_inuse *e, uint32_t user_id);
/* Drop the registration; harmless when `e` holds nothing. */
void pop3_inuse_release(struct pop3_inuse *e);
/* Hand what `from` holds (if anything) to `to`, which must hold nothing:
 * the maildrop stays locked without a moment free (a QUIT's expunge left
 * to a worker by a session that goes away). */
void pop3_inuse_move(struct pop3_inuse *to, struct pop3_inuse *from);
/* true when some session holds user_id's maildrop. */
bool pop3_inuse_held(uint32_t user_id);

#endif
