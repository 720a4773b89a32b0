/* imap/imap_notify_set.c: what a session with NOTIFY (RFC 5465) is told
 * about mailboxes other than the selected one: matching a mailbox against
 * its filters (6), the untagged STATUS for message events (5.1-5.3), the
 * untagged LIST for MailboxName and SubscriptionChange (5.4, 5.5), the
 * initial STATUS of NOTIFY SET STATUS (3.1) and NOTIFICATIONOVERFLOW
 * (5.8).  The feed (imap_notify.c) calls in on the session's loop; what
 * cannot be written at once waits here for the next command's reply. */
#include "imap/imap_notify_set.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_parse.h"
#include "imap/imap_session.h"
#include "imap/imap_status.h"
#include "imap/imap_view.h"

static atomic_uint_fast64_t notify_serial;
static _Thread_local uint64_t notify_origin;

uint64_t imap_notify_origin_get(void)
{
	return notify_origin;
}

void imap_notify_origin_set(uint64_t serial)
{
	notify_origin = serial;
}

struct imap_notify_set *imap_notify_set_new(void)
{
	struct imap_notify_set *ns = calloc(1, sizeof(*ns));
	if (!ns)
		return NULL;
	ns->serial = atomic_fetch_add(&notify_serial, 1) + 1;
	buf_init(&ns->lists, IMAP_NOTIFY_LISTS_MAX);
	return ns;
}

void imap_notify_set_free(struct imap_notify_set **nsp)
{
	struct imap_notify_set *ns = *nsp;
	if (!ns)
		return;
	for (size_t i = 0; i < ns->ngroups; i++) {
		for (size_t k = 0; k < ns->groups[i].nnames; k++)
			free(ns->groups[i].names[k]);
		free(ns->groups[i].names);
	}
	free(ns->groups);
	for (size_t i = 0; i < ns->nfetch; i++)
		imap_fetch_att_clear(&ns->fetch[i]);
	free(ns->fetch);
	imap_command_free(&ns->pc);
	buf_free(&ns->lists);
	free(ns);
	*nsp = NULL;
}

/* 6.5: the mailbox itself and every mailbox below it. */
static bool name_in_subtree(const char *root, const char *name)
{
	size_t n = strlen(root);
	return strncmp(root, name, n) == 0 && (name[n] == '\0' || name[n] == IMAP_HIER_SEP);
}

unsigned imap_notify_set_match(const struct imap_notify_set *ns, const char *name, bool subscribed)
{
	unsigned ev = 0;
	for (size_t i = 0; i < ns->ngroups; i++) {
		const struct imap_notify_group *g = &ns->groups[i];
		bool hit = false;
		switch (g->filter) {
		case IMAP_NF_INBOXES:   /* 6.3: as PERSONAL, which the RFC allows */
		case IMAP_NF_PERSONAL:  /* one personal namespace: every mailbox */
			hit = true;
			break;
		case IMAP_NF_SUBSCRIBED:
			hit = subscribed;
			break;
		case IMAP_NF_SUBTREE:
			for (size_t k = 0; k < g->nnames && !hit; k++)
				hit = name_in_subtree(g->names[k], name);
			break;
		case IMAP_NF_MAILBOXES:
			/* 6.6: no wildcard expansion. */
			for (size_t k = 0; k < g->nnames && !hit; k++)
				hit = strcmp(g->names[k], name) == 0;
			break;
		}
		if (hit)
			ev |= g->events;
	}
	return ev;
}

void imap_notify_set_install(struct imap_session *s, struct imap_notify_set *ns)
{
	imap_notify_set_free(&s->nset);
	s->nset = ns;
	if (ns)
		imap_notify_register(s);
	else
		imap_notify_unregister(s);   /* stays while a view needs it */
}

bool imap_notify_set_can_push(const struct imap_session *s)
{
	return !s->closing && (s->idling || !s->cmd);
}

static bool is_selected(const struct imap_session *s, uint32_t mailbox_id)
{
	return s->view && s->view->mailbox_id == mailbox_id;
}

static struct imap_notify_told *told_find(struct imap_notify_set *ns, uint32_t id)
{
	for (size_t i = 0; i < ns->ntold; i++)
		if (ns->told[i].mailbox_id == id)
			return &ns->told[i];
	return NULL;
}

static void told_put(struct imap_notify_set *ns, const struct store_mailbox *mb)
{
	struct imap_notify_told *t = told_find(ns, mb->id);
	if (!t) {
		if (ns->ntold < IMAP_NOTIFY_TOLD_MAX) {
			t = &ns->told[ns->ntold++];
		} else {
			t = &ns->told[ns->told_next];
			ns->told_next = (ns->told_next + 1) % IMAP_NOTIFY_TOLD_MAX;
		}
	}
	t->mailbox_id = mb->id;
	t->uidvalidity = mb->uidvalidity;
	t->uidnext = mb->uidnext;
	t->messages = mb->messages;
	t->unseen = mb->unseen;
	t->modseq = mb->highestmodseq;
}

/* One STATUS with what 5.1-5.3 ask for (UIDNEXT MESSAGES for new and
 * expunged messages, UIDVALIDITY, UNSEEN for flag changes, HIGHESTMODSEQ
 * once CONDSTORE is on), or, for the initial STATUS, what 3.1 asks for
 * (HIGHESTMODSEQ with FlagChange: CONDSTORE is supported). */
static int status_send(struct imap_session *s, const struct store_mailbox *mb, bool modseq)
{
	unsigned items = IMAP_STATUS_MESSAGES | IMAP_STATUS_UIDNEXT | IMAP_STATUS_UIDVALIDITY |
			 IMAP_STATUS_UNSEEN;
	if (modseq || s->condstore)
		items |= IMAP_STATUS_HIGHESTMODSEQ;
	int rc = imap_status_write(s, mb, items);
	if (rc == 0)
		told_put(s->nset, mb);
	return rc;
}

/* A STATUS for mb when the events asked for cover what changed since the
 * client was last told.  Without a remembered state (never told, or
 * forgotten) the change is taken to be of every kind. */
static int status_if_changed(struct imap_session *s, const struct store_mailbox *mb, unsigned ev)
{
	if (!(ev & IMAP_NEV_MESSAGE))
		return 0;
	const struct imap_notify_told *t = told_find(s->nset, mb->id);
	bool fresh = t == NULL;
	/* 5.1: "the server MUST notify the client about mailbox UIDVALIDITY
	 * changes". */
	bool validity = !fresh && t->uidvalidity != mb->uidvalidity;
	bool count = fresh || t->messages != mb->messages || t->uidnext != mb->uidnext;
	bool flags = fresh || t->unseen != mb->unseen ||
		     (s->condstore && t->modseq != mb->highestmodseq);
	if (validity || (count && (ev & (IMAP_NEV_MESSAGE_NEW | IMAP_NEV_MESSAGE_EXPUNGE))) ||
	    (flags && (ev & IMAP_NEV_FLAG_CHANGE)))
		return status_send(s, mb, false);
	return 0;
}

struct status_all_arg {
	struct imap_session *s;
	bool rescan;   /* a rescan after overflow: only what changed */
	int rc;
};

static int status_all_cb(void *arg, const struct store_mailbox *mb)
{
	struct status_all_arg *a = arg;
	struct imap_session *s = a->s;
	if (is_selected(s, mb->id))
		return 0;   /* 3.1: SELECTED's events rule the selected mailbox */
	unsigned ev = imap_notify_set_match(s->nset, mb->name, mb->subscribed);
	if (!(ev & IMAP_NEV_MESSAGE))
		return 0;
	if (a->rescan)
		a->rc = status_if_changed(s, mb, ev);
	else
		a->rc = status_send(s, mb, (ev & IMAP_NEV_FLAG_CHANGE) != 0);
	return a->rc;
}

int imap_notify_set_status_all(struct imap_session *s)
{
	struct status_all_arg a = {.s = s};
	int rc = store_mailbox_list(s->store, s->user.id, status_all_cb, &a);
	return rc != STORE_OK ? rc : a.rc;
}

void imap_notify_set_changed(struct imap_session *s, const uint32_t *ids, const uint32_t *users,
			     size_t n, bool all)
{
	struct imap_notify_set *ns = s->nset;
	if (!ns || !(ns->events & IMAP_NEV_MESSAGE))
		return;
	if (all)
		ns->rescan = true;
	for (size_t i = 0; i < n && !ns->rescan; i++) {
		if (users[i] != s->user.id)
			continue;
		bool known = false;
		for (size_t k = 0; k < ns->npending && !known; k++)
			known = ns->pending[k] == ids[i];
		if (known)
			continue;
		if (ns->npending < IMAP_NOTIFY_PENDING_MAX)
			ns->pending[ns->npending++] = ids[i];
		else
			ns->rescan = true;
	}
	if (imap_notify_set_can_push(s))
		imap_notify_set_flush(s);
}

/* "* LIST (attrs) "/" name [("OLDNAME" (old))]" into the pending LISTs. */
static void list_queue(struct imap_session *s, const char *attrs, const char *name,
		       const char *old_name)
{
	struct imap_notify_set *ns = s->nset;
	struct buf b;
	buf_init(&b, 0);
	int rc = buf_printf(&b, "* LIST (%s) \"%c\" ", attrs, IMAP_HIER_SEP);
	rc |= imap_mailbox_write(s, &b, name);
	if (old_name) {
		/* 5.4: the extended LIST item OLDNAME (RFC 5258 shape). */
		rc |= buf_puts(&b, " (\"OLDNAME\" (");
		rc |= imap_mailbox_write(s, &b, old_name);
		rc |= buf_puts(&b, "))");
	}
	rc |= buf_puts(&b, "\r\n");
	if (rc || buf_append(&ns->lists, b.data, b.len) < 0)
		ns->overflow = true;   /* 5.8: we could not keep up */
	buf_free(&b);
}

/* "\\A \\B": the attributes given, joined by single spaces. */
static void attrs_join(char *out, size_t size, bool nonexistent, bool children, bool subscribed)
{
	snprintf(out, size, "%s%s%s%s%s", nonexistent ? "\\NonExistent" : "",
		 nonexistent && children ? " " : "", children ? "\\HasChildren" : "",
		 (nonexistent || children) && subscribed ? " " : "", subscribed ? "\\Subscribed" : "");
}

/* The attributes of a name as it is now: \NonExistent when no mailbox has
 * it (5.4), \Subscribed when subscribed (5.5). */
static void list_attrs(struct imap_session *s, const char *name, bool subscribed,
		       bool known_gone, char *out, size_t size)
{
	struct store_mailbox mb;
	bool exists = !known_gone && store_mailbox_get(s->store, s->user.id, name, &mb) == STORE_OK;
	attrs_join(out, size, !exists, false, subscribed);
}

void imap_notify_set_list_changed(struct imap_session *s, const struct store_list_change *ch,
				  uint64_t origin)
{
	struct imap_notify_set *ns = s->nset;
	if (!ns || ch->user_id != s->user.id)
		return;
	/* 5: "The server SHOULD omit notifying the client if the event is
	 * caused by this client." */
	if (origin == ns->serial)
		return;
	unsigned want = ch->kind == STORE_LIST_SUBSCRIBE || ch->kind == STORE_LIST_UNSUBSCRIBE
				? IMAP_NEV_SUBSCRIPTION_CHANGE
				: IMAP_NEV_MAILBOX_NAME;
	/* 6.4: SUBSCRIBED covers a name whose subscription just went too
	 * (the client hears that it left the list). */
	bool sub_match = ch->subscribed || ch->kind == STORE_LIST_UNSUBSCRIBE;
	bool hit = imap_notify_set_match(ns, ch->name, sub_match) & want;
	if (!hit && ch->old_name)
		hit = imap_notify_set_match(ns, ch->old_name, sub_match) & want;
	if (!hit)
		return;
	char attrs[64];
	switch (ch->kind) {
	case STORE_LIST_RENAME:
		list_attrs(s, ch->name, ch->subscribed, false, attrs, sizeof(attrs));
		list_queue(s, attrs, ch->name, ch->old_name);
		break;
	case STORE_LIST_CREATE:
	case STORE_LIST_DELETE: {
		list_attrs(s, ch->name, ch->subscribed, ch->kind == STORE_LIST_DELETE, attrs,
			   sizeof(attrs));
		list_queue(s, attrs, ch->name, NULL);
		/* 5.4: "the mailbox itself and its direct parent (whether it is
		 * an existing mailbox or not) are considered to be affected." */
		const char *sep = strrchr(ch->name, IMAP_HIER_SEP);
		if (sep && sep > ch->name) {
			size_t plen = (size_t)(sep - ch->name);
			char *parent = strndup(ch->name, plen);
			if (!parent) {
				ns->overflow = true;
				break;
			}
			struct store_mailbox mb;
			bool exists = store_mailbox_get(s->store, s->user.id, parent, &mb) == STORE_OK;
			bool psub = exists && mb.subscribed;
			if (imap_notify_set_match(ns, parent, psub) & want) {
				/* Children: known after a CREATE; after a DELETE
				 * others may remain, which would take a listing
				 * to tell (5.4 only says SHOULD). */
				attrs_join(attrs, sizeof(attrs), !exists,
					   ch->kind == STORE_LIST_CREATE, psub);
				list_queue(s, attrs, parent, NULL);
			}
			free(parent);
		}
		break;
	}
	case STORE_LIST_SUBSCRIBE:
	case STORE_LIST_UNSUBSCRIBE:
		list_attrs(s, ch->name, ch->kind == STORE_LIST_SUBSCRIBE, false, attrs,
			   sizeof(attrs));
		list_queue(s, attrs, ch->name, NULL);
		break;
	}
	if (imap_notify_set_can_push(s))
		imap_notify_set_flush(s);
}

void imap_notify_set_flush(struct imap_session *s)
{
	struct imap_notify_set *ns = s->nset;
	if (!ns || s->closing)
		return;
	if (ns->overflow) {
		/* 5.8: say so and behave as after NOTIFY NONE. */
		imap_untagged(s, "OK [NOTIFICATIONOVERFLOW] Too many changes; NOTIFY is now NONE");
		imap_notify_set_install(s, NULL);
		return;
	}
	if (ns->lists.len) {
		imap_write_buf(s, &ns->lists);
		buf_reset(&ns->lists);
	}
	if (ns->rescan) {
		ns->rescan = false;
		ns->npending = 0;
		struct status_all_arg a = {.s = s, .rescan = true};
		(void)store_mailbox_list(s->store, s->user.id, status_all_cb, &a);
		return;
	}
	for (size_t i = 0; i < ns->npending; i++) {
		struct store_mailbox mb;
		/* Gone meanwhile: MailboxName says so, when asked for. */
		if (store_mailbox_get_by_id(s->store, ns->pending[i], &mb) != STORE_OK ||
		    mb.user_id != s->user.id || is_selected(s, mb.id))
			continue;
		unsigned ev = imap_notify_set_match(ns, mb.name, mb.subscribed);
		(void)status_if_changed(s, &mb, ev);
	}
	ns->npending = 0;
}
