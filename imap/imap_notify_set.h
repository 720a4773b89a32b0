/* imap/imap_notify_set.h: a session's NOTIFY state (RFC 5465): what the
 * client asked to hear of (imap_cmd_notify.c parses it into a struct
 * imap_notify_set), and the news the change feed (imap_notify.c) leaves
 * for it until it may be written (imap_notify_set.c).
 *
 * The cost of a change is the changed mailbox's: the feed hands a session
 * the ids of the mailboxes that changed, the session reads each one's
 * record (O(1)), matches its name against the filters and writes one
 * STATUS.  No mailbox is polled, and the user's other mailboxes are never
 * looked at, except by NOTIFY SET STATUS (asked for) and after more than
 * IMAP_NOTIFY_PENDING_MAX distinct changes piled up unsent (see
 * imap_notify_set_changed). */
#ifndef POSTINO_IMAP_NOTIFY_SET_H
#define POSTINO_IMAP_NOTIFY_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "storage/storage.h"

struct imap_session;
struct imap_fetch_att;
struct imap_command;

/* RFC 5465 5: the events, as bits (the order of imap_notify_event_names). */
enum imap_notify_event {
	IMAP_NEV_MESSAGE_NEW = 1 << 0,
	IMAP_NEV_MESSAGE_EXPUNGE = 1 << 1,
	IMAP_NEV_FLAG_CHANGE = 1 << 2,
	IMAP_NEV_ANNOTATION_CHANGE = 1 << 3,
	IMAP_NEV_MAILBOX_NAME = 1 << 4,
	IMAP_NEV_SUBSCRIPTION_CHANGE = 1 << 5,
	IMAP_NEV_MAILBOX_METADATA_CHANGE = 1 << 6,
	IMAP_NEV_SERVER_METADATA_CHANGE = 1 << 7,
};
#define IMAP_NEV_MESSAGE (IMAP_NEV_MESSAGE_NEW | IMAP_NEV_MESSAGE_EXPUNGE | \
			  IMAP_NEV_FLAG_CHANGE | IMAP_NEV_ANNOTATION_CHANGE)
/* What postino can tell: everything but AnnotationChange (message
 * annotations, RFC 5257, are not kept); with METADATA (RFC 5464) the
 * metadata events are required (5.6, 5.7). */
#define IMAP_NEV_SUPPORTED (IMAP_NEV_MESSAGE_NEW | IMAP_NEV_MESSAGE_EXPUNGE | \
			    IMAP_NEV_FLAG_CHANGE | IMAP_NEV_MAILBOX_NAME | \
			    IMAP_NEV_SUBSCRIPTION_CHANGE | \
			    IMAP_NEV_MAILBOX_METADATA_CHANGE | IMAP_NEV_SERVER_METADATA_CHANGE)

/* RFC 5465 6: the mailbox filters other than SELECTED(-DELAYED). */
enum imap_notify_filter {
	IMAP_NF_INBOXES,      /* 6.3: treated as PERSONAL (allowed there) */
	IMAP_NF_PERSONAL,     /* 6.2 */
	IMAP_NF_SUBSCRIBED,   /* 6.4 */
	IMAP_NF_SUBTREE,      /* 6.5 */
	IMAP_NF_MAILBOXES,    /* 6.6 */
};

struct imap_notify_group {
	enum imap_notify_filter filter;
	unsigned events;          /* enum imap_notify_event bits */
	char **names;             /* SUBTREE, MAILBOXES: store (UTF-8) names */
	size_t nnames;
};

/* At most this many mailbox names in one NOTIFY SET (NO
 * [NOTIFICATIONOVERFLOW] beyond, RFC 5465 3.1). */
#define IMAP_NOTIFY_NAMES_MAX 100
/* Changed mailboxes remembered before a write; past it the session
 * rescans its user's mailboxes once when it writes. */
#define IMAP_NOTIFY_PENDING_MAX 256
/* Mailbox states remembered as last told (to tell a flag change from a
 * new message without a record of what changed). */
#define IMAP_NOTIFY_TOLD_MAX 64
/* The largest <0.n> range NOTIFY's fetch-atts may name (they are
 * written in place: imap_notify_fetch.c). */
#define IMAP_NOTIFY_FETCH_MAX (64 * 1024)
/* LIST and METADATA responses waiting to be written, in octets; past
 * it: NOTIFICATIONOVERFLOW (5.8). */
#define IMAP_NOTIFY_LISTS_MAX (64 * 1024)

struct imap_notify_told {
	uint32_t mailbox_id;
	uint32_t uidvalidity, uidnext, messages, unseen;
	uint64_t modseq;
};

struct imap_notify_set {
	uint64_t serial;              /* tells this set's own changes (5: omitted) */
	/* 6.1: SELECTED or SELECTED-DELAYED. */
	bool selected;                /* either was given */
	bool selected_delayed;
	unsigned selected_events;
	/* SELECTED's MessageNew (fetch-att ...) (5.2): the attributes,
	 * whose strings point into pc, the NOTIFY command kept for them. */
	struct imap_fetch_att *fetch;
	size_t nfetch;
	struct imap_command *pc;
	struct imap_notify_group *groups;
	size_t ngroups;
	unsigned events;              /* the union over groups */

	/* Left by the feed, written by imap_notify_set_flush. */
	uint32_t pending[IMAP_NOTIFY_PENDING_MAX];
	size_t npending;
	bool rescan;                  /* pending overflowed */
	struct buf lists;             /* LIST and METADATA responses, ready to write */
	bool overflow;                /* 5.8: say NOTIFICATIONOVERFLOW, then NONE */
	struct imap_notify_told told[IMAP_NOTIFY_TOLD_MAX];
	size_t ntold, told_next;
};

struct imap_notify_set *imap_notify_set_new(void);
void imap_notify_set_free(struct imap_notify_set **ns);

/* The events the filters give the (non-selected) mailbox `name`
 * (subscribed: whether it is, for SUBSCRIBED). */
unsigned imap_notify_set_match(const struct imap_notify_set *ns, const char *name, bool subscribed);

/* The session's NOTIFY state: replaces the old one (NULL: NOTIFY NONE),
 * keeping the change-feed registration right. */
void imap_notify_set_install(struct imap_session *s, struct imap_notify_set *ns);

/* NOTIFY SET STATUS (3.1): a STATUS for each mailbox but the selected one
 * that a filter gives message events. */
int imap_notify_set_status_all(struct imap_session *s);

/* From the feed, on the session's loop: mailboxes ids[i] (of user
 * users[i]) changed; all: more than the feed could name (rescan). */
void imap_notify_set_changed(struct imap_session *s, const uint32_t *ids, const uint32_t *users,
			     size_t n, bool all);
/* From the feed: a mailbox was created, deleted, renamed, (un)subscribed.
 * origin is the serial of the set whose command made the change. */
void imap_notify_set_list_changed(struct imap_session *s, const struct store_list_change *ch,
				  uint64_t origin);
/* A committed metadata change (store_set_metadata_notify's arguments;
 * the strings belong to the caller). */
struct imap_notify_meta {
	uint32_t user_id;
	uint32_t mailbox_id;          /* 0: the server's entries */
	const char *const *entries;   /* the changed entry names */
	size_t nentries;
};
/* imap_notify_meta.c, from the feed: METADATA for MailboxMetadataChange
 * or ServerMetadataChange (5.6, 5.7) when the filters ask for it and the
 * change is not this set's own (origin). */
void imap_notify_set_meta_changed(struct imap_session *s, const struct imap_notify_meta *m,
				  uint64_t origin);
/* Write what is pending (STATUS, LIST, METADATA, NOTIFICATIONOVERFLOW) now: between
 * commands, in IDLE, before a command's tagged reply. */
void imap_notify_set_flush(struct imap_session *s);
/* True when the session may be written to now, outside any command's
 * reply: no command runs, or it idles (RFC 5465 3.1 "all the time"). */
bool imap_notify_set_can_push(const struct imap_session *s);

/* imap_notify_fetch.c: whether NOTIFY takes this fetch-att (bounded, does
 * not set \Seen). */
bool imap_notify_fetch_att_ok(const struct imap_fetch_att *a);
/* imap_view_sync, then for SELECTED's MessageNew (fetch-att ...) the FETCH
 * of each message the sync announced (5.2), unless own_new (the session's
 * own APPEND, COPY or MOVE: 5.2 "SHOULD NOT").  Returns imap_view_sync's
 * result. */
int imap_notify_view_sync(struct imap_session *s, bool allow_expunge, bool own_new);
/* The session goes: a worker waiting for MessageNew's pages finishes
 * alone. */
void imap_notify_wait_detach(struct imap_session *s);

/* The serial of the set whose session's command runs on this thread (0:
 * none), for the list hook to tell a client its own changes. */
uint64_t imap_notify_origin_get(void);
void imap_notify_origin_set(uint64_t serial);

#endif
