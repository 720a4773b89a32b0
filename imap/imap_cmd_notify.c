/* imap/imap_cmd_notify.c: NOTIFY SET and NOTIFY NONE (RFC 5465 3.1, 8):
 * the arguments into a struct imap_notify_set, the checks the RFC asks
 * for, then the set replaces the session's (imap_notify_set.c).
 *
 * Replies: syntax errors, a second SELECTED filter, non-message events or
 * fetch-atts where only SELECTED allows them, and SELECTED's event pairs
 * (5: MessageNew with MessageExpunge, FlagChange with both) are BAD; an
 * event postino cannot report is NO [BADEVENT (the events it supports)]
 * (3.1); more than IMAP_NOTIFY_NAMES_MAX names NO [NOTIFICATIONOVERFLOW];
 * a fetch-att that NOTIFY does not take (imap_notify_fetch.c) NO [CANNOT]. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/imap_notify_set.h"
#include "imap/imap_session.h"

static const char *const notify_event_names[] = {
	"MessageNew", "MessageExpunge", "FlagChange", "AnnotationChange",
	"MailboxName", "SubscriptionChange", "MailboxMetadataChange", "ServerMetadataChange",
};
#define NOTIFY_NEVENTS (sizeof(notify_event_names) / sizeof(notify_event_names[0]))

/* Parse state: the set being built and what the checks after need. */
struct notify_parse {
	struct imap_notify_set *ns;
	bool unsupported;      /* an event we cannot report (NO [BADEVENT]) */
	size_t nnames;
	bool refused_fetch;    /* a fetch-att NOTIFY does not take (NO [CANNOT]) */
	const char *error;     /* for BAD */
};

/* events = "(" event *(SP event) ")" / "NONE" into *ev_r; fetch-atts only
 * for SELECTED (8: "may only be present for the SELECTED/SELECTED-DELAYED
 * mailbox filter"). */
static int notify_events_parse(struct notify_parse *np, const struct imap_arg *a, bool selected,
			       unsigned *ev_r)
{
	*ev_r = 0;
	if (imap_arg_is_word(a, "NONE"))
		return 0;
	if (a->type != IMAP_ARG_LIST || a->count == 0) {
		np->error = "Event list or NONE expected";
		return -1;
	}
	for (size_t i = 0; i < a->count; i++) {
		const struct imap_arg *e = &a->list[i];
		if (e->type != IMAP_ARG_ATOM) {
			np->error = "Event name expected";
			return -1;
		}
		size_t k = 0;
		while (k < NOTIFY_NEVENTS && strcasecmp(e->str, notify_event_names[k]) != 0)
			k++;
		if (k == NOTIFY_NEVENTS) {
			/* event-ext = atom: valid syntax, an event we do not
			 * know (3.1: NO, not BAD). */
			np->unsupported = true;
			continue;
		}
		unsigned bit = 1u << k;
		if (selected && !(bit & IMAP_NEV_MESSAGE)) {
			/* 6.1: "It is an error to specify other types of events
			 * with either the SELECTED or the SELECTED-DELAYED
			 * selector." */
			np->error = "Only message events apply to SELECTED";
			return -1;
		}
		if (bit == IMAP_NEV_MESSAGE_NEW && i + 1 < a->count &&
		    a->list[i + 1].type == IMAP_ARG_LIST) {
			/* MessageNew (fetch-att ...): the FETCH that would go
			 * with EXISTS for the selected mailbox. */
			if (!selected) {
				np->error = "Fetch attributes only apply to SELECTED";
				return -1;
			}
			const struct imap_arg *fl = &a->list[++i];
			if (fl->count == 0) {
				np->error = "Empty fetch attribute list";
				return -1;
			}
			struct imap_notify_set *ns = np->ns;
			if (ns->fetch) {
				np->error = "MessageNew given twice";
				return -1;
			}
			ns->fetch = calloc(fl->count, sizeof(*ns->fetch));
			if (!ns->fetch) {
				np->error = "Out of memory";
				return -1;
			}
			for (size_t f = 0; f < fl->count; f++) {
				const char *err = NULL;
				if (imap_fetch_att_parse(&fl->list[f], &ns->fetch[f], &err) < 0) {
					np->error = err ? err : "Invalid fetch attribute";
					return -1;
				}
				ns->nfetch++;
				if (!imap_notify_fetch_att_ok(&ns->fetch[f]))
					np->refused_fetch = true;
			}
		}
		if (!(bit & IMAP_NEV_SUPPORTED))
			np->unsupported = true;
		*ev_r |= bit;
	}
	return 0;
}

/* one-or-more-mailbox into the group's names (store names). */
static int notify_names_parse(struct imap_cmd *cmd, struct notify_parse *np,
			      const struct imap_arg *a, struct imap_notify_group *g)
{
	const struct imap_arg *items = a;
	size_t n = 1;
	if (a->type == IMAP_ARG_LIST) {
		items = a->list;
		n = a->count;
		if (n == 0) {
			np->error = "Mailbox list is empty";
			return -1;
		}
	}
	np->nnames += n;
	if (np->nnames > IMAP_NOTIFY_NAMES_MAX)
		return 0;   /* answered NO [NOTIFICATIONOVERFLOW] later */
	g->names = calloc(n, sizeof(*g->names));
	if (!g->names) {
		np->error = "Out of memory";
		return -1;
	}
	struct buf name;
	buf_init(&name, 0);
	for (size_t i = 0; i < n; i++) {
		/* imap_mailbox_arg answers the command itself on a bad name. */
		if (imap_mailbox_arg(cmd, &items[i], &name) < 0) {
			buf_free(&name);
			return -2;
		}
		g->names[g->nnames] = strdup(name.data ? name.data : "");
		if (!g->names[g->nnames]) {
			buf_free(&name);
			np->error = "Out of memory";
			return -1;
		}
		g->nnames++;
	}
	buf_free(&name);
	return 0;
}

/* event-group = "(" filter-mailboxes SP events ")".  -1: BAD with
 * np->error; -2: already answered. */
static int notify_group_parse(struct imap_cmd *cmd, struct notify_parse *np,
			      const struct imap_arg *a)
{
	struct imap_notify_set *ns = np->ns;
	if (a->type != IMAP_ARG_LIST || a->count < 2 || a->list[0].type != IMAP_ARG_ATOM) {
		np->error = "Event group expected: (filter events)";
		return -1;
	}
	const struct imap_arg *it = a->list;
	const char *f = it[0].str;
	if (strcasecmp(f, "SELECTED") == 0 || strcasecmp(f, "SELECTED-DELAYED") == 0) {
		/* 6.1: "Only one of the mailbox specifiers affecting the
		 * currently selected mailbox can be specified". */
		if (ns->selected) {
			np->error = "Only one SELECTED or SELECTED-DELAYED filter";
			return -1;
		}
		if (a->count != 2) {
			np->error = "SELECTED takes events only";
			return -1;
		}
		ns->selected = true;
		ns->selected_delayed = strcasecmp(f, "SELECTED-DELAYED") == 0;
		unsigned ev;
		if (notify_events_parse(np, &it[1], true, &ev) < 0)
			return -1;
		/* 5: "If one of MessageNew or MessageExpunge is specified,
		 * then both events MUST be specified"; FlagChange and
		 * AnnotationChange need both.  Checked for SELECTED, whose
		 * sequence numbers depend on it; other filters only get
		 * STATUS, and clients ask them for one event alone (as
		 * Dovecot allows and imaptest's notify group does). */
		unsigned pair = IMAP_NEV_MESSAGE_NEW | IMAP_NEV_MESSAGE_EXPUNGE;
		if ((ev & pair) && (ev & pair) != pair) {
			np->error = "MessageNew and MessageExpunge go together";
			return -1;
		}
		if ((ev & (IMAP_NEV_FLAG_CHANGE | IMAP_NEV_ANNOTATION_CHANGE)) && (ev & pair) != pair) {
			np->error = "FlagChange needs MessageNew and MessageExpunge";
			return -1;
		}
		ns->selected_events = ev;
		return 0;
	}
	enum imap_notify_filter filter;
	bool named = false;
	if (strcasecmp(f, "INBOXES") == 0) {
		filter = IMAP_NF_INBOXES;
	} else if (strcasecmp(f, "PERSONAL") == 0) {
		filter = IMAP_NF_PERSONAL;
	} else if (strcasecmp(f, "SUBSCRIBED") == 0) {
		filter = IMAP_NF_SUBSCRIBED;
	} else if (strcasecmp(f, "SUBTREE") == 0) {
		filter = IMAP_NF_SUBTREE;
		named = true;
	} else if (strcasecmp(f, "MAILBOXES") == 0) {
		filter = IMAP_NF_MAILBOXES;
		named = true;
	} else {
		np->error = "Unknown mailbox filter";
		return -1;
	}
	if (a->count != (named ? 3u : 2u)) {
		np->error = named ? "Filter needs mailboxes and events" : "Filter takes events only";
		return -1;
	}
	struct imap_notify_group *groups = realloc(ns->groups, (ns->ngroups + 1) * sizeof(*groups));
	if (!groups) {
		np->error = "Out of memory";
		return -1;
	}
	ns->groups = groups;
	struct imap_notify_group *g = &groups[ns->ngroups++];
	memset(g, 0, sizeof(*g));
	g->filter = filter;
	if (notify_events_parse(np, &it[named ? 2 : 1], false, &g->events) < 0)
		return -1;
	if (named) {
		int rc = notify_names_parse(cmd, np, &it[1], g);
		if (rc < 0)
			return rc;
	}
	ns->events |= g->events;
	return 0;
}

static void notify_badevent(struct imap_cmd *cmd)
{
	/* 3.1: BADEVENT "MUST list names of all events supported". */
	struct buf b;
	buf_init(&b, 0);
	const char *sp = "";
	for (size_t k = 0; k < NOTIFY_NEVENTS; k++) {
		if ((1u << k) & IMAP_NEV_SUPPORTED) {
			buf_printf(&b, "%s%s", sp, notify_event_names[k]);
			sp = " ";
		}
	}
	imap_cmd_no(cmd, "[BADEVENT (%s)] Unsupported NOTIFY event", b.data ? b.data : "");
	buf_free(&b);
}

enum imap_cmd_rc imap_cmd_notify(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	const struct imap_arg *args = cmd->pc->args;
	size_t nargs = cmd->pc->nargs;
	if (nargs == 1 && imap_arg_is_word(&args[0], "NONE")) {
		imap_notify_set_install(s, NULL);
		imap_cmd_ok(cmd, "NOTIFY completed");
		return IMAP_CMD_DONE;
	}
	if (nargs < 1 || !imap_arg_is_word(&args[0], "SET")) {
		imap_cmd_bad(cmd, "NOTIFY SET or NOTIFY NONE expected");
		return IMAP_CMD_DONE;
	}
	size_t i = 1;
	bool status = i < nargs && imap_arg_is_word(&args[i], "STATUS");
	if (status)
		i++;
	if (i == nargs) {
		imap_cmd_bad(cmd, "NOTIFY SET needs at least one event group");
		return IMAP_CMD_DONE;
	}
	struct notify_parse np = {.ns = imap_notify_set_new()};
	if (!np.ns) {
		imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
		return IMAP_CMD_DONE;
	}
	for (; i < nargs; i++) {
		int rc = notify_group_parse(cmd, &np, &args[i]);
		if (rc == -2) {
			imap_notify_set_free(&np.ns);
			return IMAP_CMD_DONE;
		}
		if (rc < 0) {
			imap_notify_set_free(&np.ns);
			imap_cmd_bad(cmd, "%s", np.error ? np.error : "Invalid NOTIFY arguments");
			return IMAP_CMD_DONE;
		}
	}
	if (np.unsupported) {
		imap_notify_set_free(&np.ns);
		notify_badevent(cmd);
		return IMAP_CMD_DONE;
	}
	if (np.refused_fetch) {
		imap_notify_set_free(&np.ns);
		/* 5.2: "The client SHOULD NOT use FETCH attributes that
		 * implicitly set the \seen flag"; and what is written in place
		 * must stay small (imap_notify_fetch.c). */
		imap_cmd_no(cmd, "[CANNOT] NOTIFY takes fetch attributes that do not set \\Seen: the "
			    "record's items, ENVELOPE, BODYSTRUCTURE, headers (PEEK) and <0.n> up to %d",
			    IMAP_NOTIFY_FETCH_MAX);
		return IMAP_CMD_DONE;
	}
	if (np.nnames > IMAP_NOTIFY_NAMES_MAX) {
		imap_notify_set_free(&np.ns);
		imap_cmd_no(cmd, "[NOTIFICATIONOVERFLOW] Too many mailbox names (at most %d)",
			    IMAP_NOTIFY_NAMES_MAX);
		return IMAP_CMD_DONE;
	}
	imap_notify_set_install(s, np.ns);
	if (status && imap_notify_set_status_all(s) != STORE_OK) {
		imap_cmd_store_error(cmd, STORE_ERR_TEMP, "NOTIFY");
		return IMAP_CMD_DONE;
	}
	/* 3.1: NOTIFY SET implies a NOOP: imap_cmd_ok reports what the
	 * selected mailbox owes. */
	imap_cmd_ok(cmd, "NOTIFY completed");
	/* The fetch-atts' strings live in the parsed command: the set keeps
	 * it (bounded by the command size limit). */
	if (s->nset == np.ns && np.ns->nfetch) {
		np.ns->pc = cmd->pc;
		cmd->pc = NULL;
	}
	return IMAP_CMD_DONE;
}
