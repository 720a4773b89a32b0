/* smtp/smtp_queue.h: the queue runner: carries queued mail to the
 * recipients' servers (RFC 5321 5: MX lookup, SMTP client, retries) and
 * tells the senders what happened (RFC 3464 notices).  One runner per
 * daemon, on loop 0; core starts it through smtp_queue_service
 * (core/proto.h). */
#ifndef POSTINO_SMTP_QUEUE_H
#define POSTINO_SMTP_QUEUE_H

struct smtp_queue;

/* Any thread: something was queued, look at the queue soon.  A no-op
 * unless the runner runs (it sets the hook): the SMTP session, which
 * calls it, links without the runner (the session fuzzers). */
void smtp_queue_kick(void);
void smtp_queue_kick_set(void (*fn)(void));

#endif
