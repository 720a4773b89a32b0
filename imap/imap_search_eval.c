/* imap/imap_search_eval.c: evaluation of a SEARCH key tree against one
 * message (RFC 3501 6.4.4, RFC 9051 6.4.4, RFC 7162 3.1.5 MODSEQ), and the
 * RFC 5322 date parser SENT* needs.  Pure: no store, no session (see
 * imap_search.h for the two passes).
 *
 * Text keys (RFC 3501 6.4.4 "case-insensitive substring"): header values
 * are unfolded and RFC 2047-decoded to UTF-8 (mime_header_decode), and
 * FROM/TO/CC/BCC also match the addresses as ENVELOPE parses them
 * (mime_address_list_text: comments and quoting inside an address gone,
 * as a reader sees it); BODY
 * looks at every leaf part of type text, transfer-decoded and converted to UTF-8
 * (mime_part_decode), and at the headers of attached messages, which are
 * body text of the outer message; TEXT is the header plus BODY.  Parts are
 * kept apart by a NUL, which no search string can contain, so a match never
 * spans two parts.
 *
 * Dates: BEFORE/ON/SINCE compare the internal date's day in UTC (the store
 * keeps the internal date as a UTC instant, not its zone; RFC 3501 leaves
 * the zone to the server).  SENT* compare the day written in the Date:
 * field, i.e. in the sender's own zone, as RFC 3501 6.4.4 says
 * ("disregarding time and timezone"); a message without a Date: field
 * that parses matches no SENT* key. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/mime.h"
#include "imap/imap_objectid.h"
#include "imap/imap_search.h"

/* RFC 5322 3.3 / 4.3 date-time: the date as written in the sender's zone;
 * the time and the zone do not change it, but a time must have the shape
 * hh:mm, so that a field that merely starts like a date is not taken. */
int imap_search_date_parse(const char *s, size_t len, struct imap_date *d_r)
{
	struct mime_date d;
	if (mime_date_parse(s, len, &d) < 0 || (d.more && !d.hm))
		return -1;
	d_r->year = d.year;
	d_r->month = d.month;
	d_r->day = d.day;
	return 0;
}

static long date_ord(const struct imap_date *d)
{
	return (long)d->year * 10000 + d->month * 100 + d->day;
}

/* ---- text ---- */

static bool name_is(const struct mime_header_field *f, const char *name, size_t len)
{
	return f->name_len == len && strncasecmp(f->name, name, len) == 0;
}

/* RFC 3501 6.4.4 HEADER: some field `name` whose decoded value contains
 * `needle`; an empty needle matches any message with the field.  For the
 * address keys (FROM, TO, CC, BCC: "the envelope structure's ... field"),
 * `addresses` also compares the addresses as parsed for ENVELOPE, so that
 * comments or quoting inside an address do not hide it.  -1 on memory. */
static int header_match(struct imap_search_msg *msg, const char *name, size_t name_len,
			const char *needle, size_t needle_len, bool addresses)
{
	size_t pos = 0;
	struct mime_header_field f;
	while (mime_header_next(msg->data, msg->header_len, &pos, &f) == 1) {
		if (f.name_len == 0 || !name_is(&f, name, name_len))
			continue;
		if (needle_len == 0)
			return 1;
		buf_reset(&msg->scratch);
		if (mime_header_decode(f.value, f.value_len, &msg->scratch) < 0)
			return -1;
		if (msg->scratch.len && mime_search_ci(msg->scratch.data, msg->scratch.len, needle,
						       needle_len))
			return 1;
		if (!addresses)
			continue;
		buf_reset(&msg->scratch);
		if (mime_address_list_text(f.value, f.value_len, &msg->scratch) < 0)
			return -1;
		if (msg->scratch.len && mime_search_ci(msg->scratch.data, msg->scratch.len, needle,
						       needle_len))
			return 1;
	}
	return 0;
}

/* Any field of the header (TEXT): the raw block (names, and values that
 * need no decoding), then each value decoded. */
static int header_any_match(struct imap_search_msg *msg, const char *hdr, size_t hdr_len,
			    const char *needle, size_t needle_len)
{
	if (mime_search_ci(hdr, hdr_len, needle, needle_len))
		return 1;
	size_t pos = 0;
	struct mime_header_field f;
	while (mime_header_next(hdr, hdr_len, &pos, &f) == 1) {
		if (f.name_len == 0)
			continue;
		buf_reset(&msg->scratch);
		if (mime_header_decode(f.value, f.value_len, &msg->scratch) < 0)
			return -1;
		if (msg->scratch.len && mime_search_ci(msg->scratch.data, msg->scratch.len, needle,
						       needle_len))
			return 1;
	}
	return 0;
}

/* The decoded text of the body, built once per message. */
static int body_text_build(struct imap_search_msg *msg)
{
	if (msg->body_text_done)
		return 0;
	const struct mime_part *root = msg->mime->root;
	for (const struct mime_part *p = mime_part_next(root, NULL); p; p = mime_part_next(root, p)) {
		if (p != root && p->envelope && p->parent &&
		    (p->parent->flags & MIME_PART_MESSAGE)) {
			/* An attached message's header is text of the body. */
			if (p->header_off > msg->len || p->header_len > msg->len - p->header_off)
				continue;
			if (mime_header_decode(msg->data + p->header_off, p->header_len,
					       &msg->body_text) < 0 ||
			    buf_putc(&msg->body_text, '\0') < 0)
				return -1;
		}
		if (p->flags & (MIME_PART_MULTIPART | MIME_PART_MESSAGE))
			continue;
		if (!p->type.data || p->type.len != 4 || memcmp(p->type.data, "text", 4) != 0)
			continue;
		int rc = mime_part_decode(msg->data, msg->len, p, &msg->body_text);
		if (rc == MIME_ERR_NOMEM)
			return -1;
		if (buf_putc(&msg->body_text, '\0') < 0)
			return -1;
	}
	msg->body_text_done = true;
	return 0;
}

static enum imap_search_result from_int(int rc)
{
	return rc < 0 ? IMAP_SEARCH_ERROR : rc ? IMAP_SEARCH_YES : IMAP_SEARCH_NO;
}

static enum imap_search_result eval_header_key(struct imap_search_msg *msg, const char *name,
					       const struct imap_string *needle, bool addresses)
{
	if (!msg->have_content)
		return IMAP_SEARCH_UNKNOWN;
	return from_int(header_match(msg, name, strlen(name), needle->s, needle->len, addresses));
}

static enum imap_search_result eval_body(struct imap_search_msg *msg, const struct imap_string *needle,
					 bool text)
{
	/* Every message contains the empty string. */
	if (needle->len == 0)
		return IMAP_SEARCH_YES;
	if (!msg->have_content || !msg->mime)
		return IMAP_SEARCH_UNKNOWN;
	if (text) {
		int rc = header_any_match(msg, msg->data, msg->header_len, needle->s, needle->len);
		if (rc != 0)
			return from_int(rc);
	}
	if (body_text_build(msg) < 0)
		return IMAP_SEARCH_ERROR;
	return msg->body_text.len &&
	       mime_search_ci(msg->body_text.data, msg->body_text.len, needle->s, needle->len)
	       ? IMAP_SEARCH_YES : IMAP_SEARCH_NO;
}

static enum imap_search_result eval_sent(struct imap_search_msg *msg, const struct imap_search_key *k)
{
	if (!msg->have_content)
		return IMAP_SEARCH_UNKNOWN;
	if (!msg->date_done) {
		buf_reset(&msg->scratch);
		int rc = mime_header_get(msg->data, msg->header_len, "Date", &msg->scratch);
		if (rc < 0)
			return IMAP_SEARCH_ERROR;
		msg->date_ok = rc == 1 &&
			       imap_search_date_parse(msg->scratch.data, msg->scratch.len, &msg->sent) == 0;
		msg->date_done = true;
	}
	if (!msg->date_ok)
		return IMAP_SEARCH_NO;
	long a = date_ord(&msg->sent), b = date_ord(&k->date);
	switch (k->type) {
	case IMAP_SK_SENTBEFORE:
		return a < b ? IMAP_SEARCH_YES : IMAP_SEARCH_NO;
	case IMAP_SK_SENTON:
		return a == b ? IMAP_SEARCH_YES : IMAP_SEARCH_NO;
	default:
		return a >= b ? IMAP_SEARCH_YES : IMAP_SEARCH_NO;
	}
}

/* ---- record keys ---- */

static enum imap_search_result yes(bool b)
{
	return b ? IMAP_SEARCH_YES : IMAP_SEARCH_NO;
}

static bool saved_has(const struct imap_search_env *env, uint32_t uid)
{
	size_t lo = 0, hi = env->nsaved;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (env->saved[mid] == uid)
			return true;
		if (env->saved[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static bool is_recent(const struct imap_search_env *env, uint32_t uid)
{
	return env->recent && imap_recent_has(env->recent, uid);
}

/* KEYWORD: by name in the mailbox's table; a name not in it is set on no
 * message.  System flags given as keywords ("KEYWORD \Seen") are taken as
 * the flag, as clients that build keyword searches generically send them. */
static bool has_keyword(const struct imap_search_env *env, const struct store_msg *m,
			const struct imap_string *kw)
{
	static const struct {
		const char *name;
		uint32_t flag;
	} sys[] = {
		{ "\\Seen", STORE_F_SEEN }, { "\\Answered", STORE_F_ANSWERED },
		{ "\\Flagged", STORE_F_FLAGGED }, { "\\Deleted", STORE_F_DELETED },
		{ "\\Draft", STORE_F_DRAFT },
	};
	if (!kw->s)
		return false;
	if (kw->len && kw->s[0] == '\\') {
		for (size_t i = 0; i < sizeof(sys) / sizeof(sys[0]); i++)
			if (strcasecmp(kw->s, sys[i].name) == 0)
				return (m->flags & sys[i].flag) != 0;
		return false;
	}
	if (!env->keywords)
		return false;
	for (size_t i = 0; i < env->keywords->count && i < STORE_KEYWORDS_MAX; i++)
		if (strcasecmp(env->keywords->name[i], kw->s) == 0)
			return (m->keywords >> i) & 1u;
	return false;
}

/* Internal date, or save date, against a day, in UTC.  RFC 8514 4.3: where
 * the save date is not known (a message stored before records had it),
 * the SAVED* keys use the internal date. */
static enum imap_search_result eval_internal(const struct imap_search_msg *msg,
					     const struct imap_search_key *k)
{
	int64_t day = (int64_t)imap_date_to_time(&k->date);
	int64_t t = msg->rec.internaldate;
	if (k->type == IMAP_SK_SAVEDBEFORE || k->type == IMAP_SK_SAVEDON ||
	    k->type == IMAP_SK_SAVEDSINCE)
		t = msg->rec.savedate ? msg->rec.savedate : msg->rec.internaldate;
	switch (k->type) {
	case IMAP_SK_BEFORE:
	case IMAP_SK_SAVEDBEFORE:
		return yes(t < day);
	case IMAP_SK_ON:
	case IMAP_SK_SAVEDON:
		return yes(t >= day && t < day + 86400);
	default:
		return yes(t >= day);
	}
}

/* RFC 5032 2: the time of interest is now less the interval; OLDER and
 * YOUNGER then have the semantics of BEFORE and SINCE, so each message is
 * exactly one of the two. */
static enum imap_search_result eval_within(const struct imap_search_env *env,
					   const struct imap_search_msg *msg,
					   const struct imap_search_key *k)
{
	int64_t edge = env->now - (int64_t)k->num;
	if (k->type == IMAP_SK_OLDER)
		return yes(msg->rec.internaldate < edge);
	return yes(msg->rec.internaldate >= edge);
}

static enum imap_search_result eval_and(const struct imap_search_env *env,
					const struct imap_search_key *k, struct imap_search_msg *msg)
{
	enum imap_search_result r = IMAP_SEARCH_YES;
	for (size_t i = 0; i < k->count; i++) {
		enum imap_search_result c = imap_search_eval(env, &k->children[i], msg);
		if (c == IMAP_SEARCH_NO || c == IMAP_SEARCH_ERROR)
			return c;
		if (c == IMAP_SEARCH_UNKNOWN)
			r = IMAP_SEARCH_UNKNOWN;
	}
	return r;
}

enum imap_search_result imap_search_eval(const struct imap_search_env *env,
					 const struct imap_search_key *k,
					 struct imap_search_msg *msg)
{
	const struct store_msg *m = &msg->rec;
	switch (k->type) {
	case IMAP_SK_AND:
		return eval_and(env, k, msg);
	case IMAP_SK_OR: {
		enum imap_search_result r = IMAP_SEARCH_NO;
		for (size_t i = 0; i < k->count; i++) {
			enum imap_search_result c = imap_search_eval(env, &k->children[i], msg);
			if (c == IMAP_SEARCH_YES || c == IMAP_SEARCH_ERROR)
				return c;
			if (c == IMAP_SEARCH_UNKNOWN)
				r = IMAP_SEARCH_UNKNOWN;
		}
		return r;
	}
	case IMAP_SK_NOT: {
		if (k->count < 1)
			return IMAP_SEARCH_NO;
		enum imap_search_result c = imap_search_eval(env, &k->children[0], msg);
		if (c == IMAP_SEARCH_YES)
			return IMAP_SEARCH_NO;
		if (c == IMAP_SEARCH_NO)
			return IMAP_SEARCH_YES;
		return c;
	}
	case IMAP_SK_ALL:
		return IMAP_SEARCH_YES;
	case IMAP_SK_ANSWERED:
		return yes(m->flags & STORE_F_ANSWERED);
	case IMAP_SK_DELETED:
		return yes(m->flags & STORE_F_DELETED);
	case IMAP_SK_DRAFT:
		return yes(m->flags & STORE_F_DRAFT);
	case IMAP_SK_FLAGGED:
		return yes(m->flags & STORE_F_FLAGGED);
	case IMAP_SK_SEEN:
		return yes(m->flags & STORE_F_SEEN);
	case IMAP_SK_UNANSWERED:
		return yes(!(m->flags & STORE_F_ANSWERED));
	case IMAP_SK_UNDELETED:
		return yes(!(m->flags & STORE_F_DELETED));
	case IMAP_SK_UNDRAFT:
		return yes(!(m->flags & STORE_F_DRAFT));
	case IMAP_SK_UNFLAGGED:
		return yes(!(m->flags & STORE_F_FLAGGED));
	case IMAP_SK_UNSEEN:
		return yes(!(m->flags & STORE_F_SEEN));
	/* RFC 3501 6.4.4: NEW is "RECENT UNSEEN", OLD is "NOT RECENT". */
	case IMAP_SK_RECENT:
		return yes(is_recent(env, m->uid));
	case IMAP_SK_OLD:
		return yes(!is_recent(env, m->uid));
	case IMAP_SK_NEW:
		return yes(is_recent(env, m->uid) && !(m->flags & STORE_F_SEEN));
	case IMAP_SK_KEYWORD:
		return yes(has_keyword(env, m, &k->str));
	case IMAP_SK_UNKEYWORD:
		return yes(!has_keyword(env, m, &k->str));
	case IMAP_SK_LARGER:
		return yes(m->size > k->num);
	case IMAP_SK_SMALLER:
		return yes(m->size < k->num);
	case IMAP_SK_MODSEQ:
		/* RFC 7162 3.1.5: mod-sequence equal to or greater. */
		return yes(m->modseq >= k->num);
	case IMAP_SK_BEFORE:
	case IMAP_SK_ON:
	case IMAP_SK_SINCE:
	case IMAP_SK_SAVEDBEFORE:
	case IMAP_SK_SAVEDON:
	case IMAP_SK_SAVEDSINCE:
		return eval_internal(msg, k);
	case IMAP_SK_EMAILID: {
		char id[IMAP_OBJECTID_MAX];
		imap_objectid_email(id, msg->rec.content_id);
		return yes(strlen(id) == k->str.len && memcmp(id, k->str.s, k->str.len) == 0);
	}
	case IMAP_SK_THREADID:
		return IMAP_SEARCH_NO;   /* RFC 8474 5.2: no THREADIDs computed */
	case IMAP_SK_SAVEDATESUPPORTED:
		/* RFC 8514 4.3: every mailbox of the store keeps save dates. */
		return IMAP_SEARCH_YES;
	case IMAP_SK_OLDER:
	case IMAP_SK_YOUNGER:
		return eval_within(env, msg, k);
	case IMAP_SK_UID:
		if (!k->set)
			return IMAP_SEARCH_NO;
		if (k->set->saved)
			return yes(saved_has(env, m->uid));
		return yes(imap_seqset_contains(k->set, m->uid, env->max_uid));
	case IMAP_SK_SEQSET:
		if (!k->set)
			return IMAP_SEARCH_NO;
		/* RFC 5182 2.1: "$" names the saved messages, whatever the
		 * kind of set it stands in. */
		if (k->set->saved)
			return yes(saved_has(env, m->uid));
		return yes(msg->seq && imap_seqset_contains(k->set, msg->seq, env->nmsgs));
	case IMAP_SK_SENTBEFORE:
	case IMAP_SK_SENTON:
	case IMAP_SK_SENTSINCE:
		return eval_sent(msg, k);
	case IMAP_SK_FROM:
		return eval_header_key(msg, "From", &k->str, true);
	case IMAP_SK_TO:
		return eval_header_key(msg, "To", &k->str, true);
	case IMAP_SK_CC:
		return eval_header_key(msg, "Cc", &k->str, true);
	case IMAP_SK_BCC:
		return eval_header_key(msg, "Bcc", &k->str, true);
	case IMAP_SK_SUBJECT:
		return eval_header_key(msg, "Subject", &k->str, false);
	case IMAP_SK_HEADER:
		if (!msg->have_content)
			return IMAP_SEARCH_UNKNOWN;
		return from_int(header_match(msg, k->str.s ? k->str.s : "", k->str.len, k->str2.s,
					     k->str2.len, false));
	case IMAP_SK_BODY:
		return eval_body(msg, &k->str, false);
	case IMAP_SK_TEXT:
		return eval_body(msg, &k->str, true);
	}
	return IMAP_SEARCH_NO;
}

enum imap_search_need imap_search_need(const struct imap_search_key *k)
{
	enum imap_search_need n = IMAP_SEARCH_NEED_RECORD;
	switch (k->type) {
	case IMAP_SK_AND:
	case IMAP_SK_OR:
	case IMAP_SK_NOT:
		for (size_t i = 0; i < k->count && n < IMAP_SEARCH_NEED_BODY; i++) {
			enum imap_search_need c = imap_search_need(&k->children[i]);
			if (c > n)
				n = c;
		}
		return n;
	case IMAP_SK_FROM:
	case IMAP_SK_TO:
	case IMAP_SK_CC:
	case IMAP_SK_BCC:
	case IMAP_SK_SUBJECT:
	case IMAP_SK_HEADER:
	case IMAP_SK_SENTBEFORE:
	case IMAP_SK_SENTON:
	case IMAP_SK_SENTSINCE:
		return IMAP_SEARCH_NEED_HEADER;
	case IMAP_SK_BODY:
	case IMAP_SK_TEXT:
		return IMAP_SEARCH_NEED_BODY;
	default:
		return IMAP_SEARCH_NEED_RECORD;
	}
}

bool imap_search_uses_modseq(const struct imap_search_key *k)
{
	if (k->type == IMAP_SK_MODSEQ)
		return true;
	for (size_t i = 0; i < k->count; i++)
		if (imap_search_uses_modseq(&k->children[i]))
			return true;
	return false;
}

void imap_search_msg_reset(struct imap_search_msg *msg)
{
	msg->have_content = false;
	msg->data = NULL;
	msg->len = msg->header_len = 0;
	msg->mime = NULL;
	buf_reset(&msg->scratch);
	buf_reset(&msg->body_text);
	msg->body_text_done = false;
	msg->date_done = msg->date_ok = false;
}

void imap_search_msg_clear(struct imap_search_msg *msg)
{
	buf_free(&msg->scratch);
	buf_free(&msg->body_text);
	imap_search_msg_reset(msg);
}

int imap_search_set_write(struct buf *out, const uint32_t *v, size_t n)
{
	int rc = 0;
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j + 1 < n && v[j + 1] == v[j] + 1)
			j++;
		if (i > 0)
			rc |= buf_putc(out, ',');
		if (j > i)
			rc |= buf_printf(out, "%u:%u", (unsigned)v[i], (unsigned)v[j]);
		else
			rc |= buf_printf(out, "%u", (unsigned)v[i]);
		i = j + 1;
	}
	return rc ? -1 : 0;
}

/* The offset just past the blank line that ends the header in
 * data[0..len), or 0 when it is not there yet. */
size_t imap_search_header_end(const char *data, size_t len)
{
	if (len >= 1 && data[0] == '\n')
		return 1;
	if (len >= 2 && data[0] == '\r' && data[1] == '\n')
		return 2;
	for (size_t i = 0; i + 1 < len; i++) {
		if (data[i] != '\n')
			continue;
		if (data[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && data[i + 1] == '\r' && data[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}
