/* imap/imap_fetch_part.c: FETCH's pure arithmetic (imap_fetch.h): which
 * octets of a message a BODY[section]<partial> names, HEADER.FIELDS(.NOT)
 * filtering, the transfer encodings BINARY can undo and the INTERNALDATE
 * format.  No store, no session: unit-tested in tests/unit/test_imap_fetch.c. */
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/buf.h"
#include "imap/imap_fetch.h"

static void loc_range(struct imap_fetch_loc *loc, enum imap_fetch_loc_kind kind, uint64_t size,
		      uint64_t off, uint64_t len, const struct mime_part *part)
{
	/* A stored structure that does not fit the stored message (it is
	 * checked when loaded, but be safe): nothing rather than a bad read. */
	if (off > size || len > size - off)
		return;
	loc->kind = kind;
	loc->off = off;
	loc->len = len;
	loc->part = part;
}

void imap_fetch_locate(const struct mime_message *msg, uint64_t size,
		       const struct imap_section *sec, struct imap_fetch_loc *loc_r)
{
	memset(loc_r, 0, sizeof(*loc_r));
	loc_r->kind = IMAP_LOC_NIL;
	const struct mime_part *m;   /* the message whose HEADER/TEXT is asked */
	if (sec->nparts == 0) {
		if (sec->text == IMAP_SECTION_NONE) {
			/* BODY[]: the whole message, structure or not. */
			loc_range(loc_r, IMAP_LOC_RANGE, size, 0, size, msg ? msg->root : NULL);
			return;
		}
		if (!msg)
			return;
		m = msg->root;
	} else {
		if (!msg)
			return;
		const struct mime_part *p = mime_part_find(msg->root, sec->parts, sec->nparts);
		if (!p)
			return;
		switch (sec->text) {
		case IMAP_SECTION_NONE:
			/* RFC 3501 6.4.5: a part's body; for message/rfc822 the
			 * whole embedded message, which is that part's body. */
			loc_range(loc_r, IMAP_LOC_RANGE, size, p->body_off, p->body_len, p);
			return;
		case IMAP_SECTION_MIME:
			/* The MIME header of the part: the header lines that
			 * precede it inside its multipart. */
			loc_range(loc_r, IMAP_LOC_RANGE, size, p->header_off, p->header_len, p);
			return;
		default:
			/* HEADER, TEXT and HEADER.FIELDS after a part number
			 * only apply to a message/rfc822 part (RFC 3501 6.4.5). */
			m = mime_part_message(p);
			if (!m)
				return;
			break;
		}
	}
	switch (sec->text) {
	case IMAP_SECTION_HEADER:
		loc_range(loc_r, IMAP_LOC_RANGE, size, m->header_off, m->header_len, m);
		break;
	case IMAP_SECTION_TEXT:
		loc_range(loc_r, IMAP_LOC_RANGE, size, m->body_off, m->body_len, m);
		break;
	case IMAP_SECTION_HEADER_FIELDS:
	case IMAP_SECTION_HEADER_FIELDS_NOT:
		loc_range(loc_r, IMAP_LOC_FILTER, size, m->header_off, m->header_len, m);
		break;
	default:
		break;
	}
}

void imap_fetch_partial(uint64_t total, bool partial, uint64_t off, uint64_t count,
			uint64_t *start_r, uint64_t *len_r)
{
	if (!partial) {
		*start_r = 0;
		*len_r = total;
		return;
	}
	/* RFC 3501 6.4.5: an origin past the end gives an empty string; a
	 * count past the end is cut at the end. */
	if (off >= total) {
		*start_r = total;
		*len_r = 0;
		return;
	}
	*start_r = off;
	*len_r = count < total - off ? count : total - off;
}

static bool field_listed(const char *name, size_t len, const struct imap_string *fields, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fields[i].len == len && strncasecmp(fields[i].s, name, len) == 0)
			return true;
	return false;
}

int imap_fetch_header_filter(const char *hdr, size_t len, const struct imap_string *fields,
			     size_t nfields, bool not_, struct buf *out)
{
	size_t pos = 0;
	struct mime_header_field f;
	while (mime_header_next(hdr, len, &pos, &f) == 1) {
		/* A line that is no field has no name to match: it is never
		 * asked for by name, and is not a header field to keep. */
		if (f.name_len == 0)
			continue;
		if (field_listed(f.name, f.name_len, fields, nfields) == not_)
			continue;
		if (buf_append(out, hdr + f.off, f.len) < 0)
			return -1;
		/* The last field of a message without a body may lack its
		 * line break; the result is still a header block. */
		if (f.len == 0 || hdr[f.off + f.len - 1] != '\n')
			if (buf_append(out, "\r\n", 2) < 0)
				return -1;
	}
	/* RFC 3501 6.4.5 / RFC 9051 6.4.5: the blank line that ends the header
	 * is part of HEADER.FIELDS(.NOT) too. */
	return buf_append(out, "\r\n", 2);
}

bool imap_fetch_cte_known(const struct mime_str *e)
{
	if (!e->data || e->len == 0)
		return true;   /* RFC 2045 6.1: 7bit is the default */
	static const char *const known[] = { "7bit", "8bit", "binary", "base64",
					     "quoted-printable" };
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strlen(known[i]) == e->len && strncasecmp(known[i], e->data, e->len) == 0)
			return true;
	return false;
}

int imap_fetch_internaldate_write(struct buf *out, int64_t t)
{
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	time_t tt = (time_t)t;
	if (t < 0 || !gmtime_r(&tt, &tm) || tm.tm_year + 1900 > 9999) {
		tt = 0;
		gmtime_r(&tt, &tm);
	}
	/* RFC 3501 9: date-day-fixed = (SP DIGIT) / 2DIGIT. */
	return buf_printf(out, "\"%2d-%s-%04d %02d:%02d:%02d +0000\"", tm.tm_mday,
			  months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

bool imap_fetch_att_needs_structure(const struct imap_fetch_att *att)
{
	switch (att->item) {
	case IMAP_FETCH_ENVELOPE:
	case IMAP_FETCH_BODY:
	case IMAP_FETCH_BODYSTRUCTURE:
	case IMAP_FETCH_RFC822_HEADER:
	case IMAP_FETCH_RFC822_TEXT:
	case IMAP_FETCH_PREVIEW:   /* which part (core/mime_preview.c) */
		return true;
	case IMAP_FETCH_BODY_SECTION:
	case IMAP_FETCH_BINARY:
	case IMAP_FETCH_BINARY_SIZE:
		return att->section.nparts > 0 || att->section.text != IMAP_SECTION_NONE;
	default:
		return false;
	}
}

bool imap_fetch_att_head_only(const struct imap_fetch_att *att)
{
	if (att->item == IMAP_FETCH_RFC822_HEADER)
		return true;
	if (att->item != IMAP_FETCH_BODY_SECTION || att->section.nparts > 0)
		return false;
	switch (att->section.text) {
	case IMAP_SECTION_HEADER:
	case IMAP_SECTION_HEADER_FIELDS:
	case IMAP_SECTION_HEADER_FIELDS_NOT:
		return true;
	default:
		return false;
	}
}

bool imap_fetch_binary_ok(const struct mime_message *msg, uint64_t size,
			  const struct imap_fetch_att *att)
{
	if ((att->item != IMAP_FETCH_BINARY && att->item != IMAP_FETCH_BINARY_SIZE) ||
	    att->section.nparts == 0)
		return true;
	struct imap_fetch_loc loc;
	imap_fetch_locate(msg, size, &att->section, &loc);
	if (loc.kind == IMAP_LOC_NIL || !loc.part ||
	    (loc.part->flags & (MIME_PART_MULTIPART | MIME_PART_MESSAGE)))
		return true;
	return imap_fetch_cte_known(&loc.part->encoding);
}
