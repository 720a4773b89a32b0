/* imap/imap_parse_fetch.c: FETCH arguments (RFC 3501 6.4.5 and 9, RFC 9051
 * 6.4.5, RFC 3516 4.2 BINARY, RFC 7162 3.1.4/3.2.6 CHANGEDSINCE and
 * VANISHED) and the response name of a fetch attribute.  Items, sections
 * and macros are tables; one parser walks them. */
#include "imap/imap_parse.h"
#include "imap/imap_parse_private.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

/* Attributes written as a bare word. */
static const struct {
	const char *name;
	enum imap_fetch_item item;
} plain_items[] = {
	{ "FLAGS", IMAP_FETCH_FLAGS },
	{ "INTERNALDATE", IMAP_FETCH_INTERNALDATE },
	{ "RFC822.SIZE", IMAP_FETCH_RFC822_SIZE },
	{ "ENVELOPE", IMAP_FETCH_ENVELOPE },
	{ "BODY", IMAP_FETCH_BODY },
	{ "BODYSTRUCTURE", IMAP_FETCH_BODYSTRUCTURE },
	{ "UID", IMAP_FETCH_UID },
	{ "RFC822", IMAP_FETCH_RFC822 },
	{ "RFC822.HEADER", IMAP_FETCH_RFC822_HEADER },
	{ "RFC822.TEXT", IMAP_FETCH_RFC822_TEXT },
	{ "MODSEQ", IMAP_FETCH_MODSEQ },     /* RFC 7162 3.1.4 */
	{ "SAVEDATE", IMAP_FETCH_SAVEDATE }, /* RFC 8514 4.2 */
	{ "EMAILID", IMAP_FETCH_EMAILID },   /* RFC 8474 5.3 */
	{ "THREADID", IMAP_FETCH_THREADID },
	{ "PREVIEW", IMAP_FETCH_PREVIEW },   /* RFC 8970 */
};

/* Attributes written NAME[section]<partial> (the tokenizer keeps them as
 * one IMAP_ARG_SECTION). */
static const struct {
	const char *name;
	enum imap_fetch_item item;
	bool peek;
	bool binary;       /* section-binary = "[" [section-part] "]" */
	bool no_partial;
} section_items[] = {
	{ "BODY", IMAP_FETCH_BODY_SECTION, false, false, false },
	{ "BODY.PEEK", IMAP_FETCH_BODY_SECTION, true, false, false },
	{ "BINARY", IMAP_FETCH_BINARY, false, true, false },
	{ "BINARY.PEEK", IMAP_FETCH_BINARY, true, true, false },
	{ "BINARY.SIZE", IMAP_FETCH_BINARY_SIZE, false, true, true },
};

/* RFC 3501 6.4.5 macros. */
static const struct {
	const char *name;
	enum imap_fetch_item items[5];
	size_t n;
} macros[] = {
	{ "ALL", { IMAP_FETCH_FLAGS, IMAP_FETCH_INTERNALDATE, IMAP_FETCH_RFC822_SIZE, IMAP_FETCH_ENVELOPE }, 4 },
	{ "FAST", { IMAP_FETCH_FLAGS, IMAP_FETCH_INTERNALDATE, IMAP_FETCH_RFC822_SIZE }, 3 },
	{ "FULL",
	  { IMAP_FETCH_FLAGS, IMAP_FETCH_INTERNALDATE, IMAP_FETCH_RFC822_SIZE, IMAP_FETCH_ENVELOPE,
	    IMAP_FETCH_BODY },
	  5 },
};

/* section-msgtext / section-text (RFC 3501 9). */
static const struct {
	const char *name;
	enum imap_section_text text;
	bool fields;       /* followed by SP header-list */
	bool needs_part;   /* MIME: "text other than actual body part" of a part */
} section_texts[] = {
	{ "HEADER", IMAP_SECTION_HEADER, false, false },
	{ "HEADER.FIELDS", IMAP_SECTION_HEADER_FIELDS, true, false },
	{ "HEADER.FIELDS.NOT", IMAP_SECTION_HEADER_FIELDS_NOT, true, false },
	{ "TEXT", IMAP_SECTION_TEXT, false, false },
	{ "MIME", IMAP_SECTION_MIME, false, true },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

void imap_fetch_att_clear(struct imap_fetch_att *att)
{
	free(att->section.parts);
	free(att->section.fields);
	memset(att, 0, sizeof(*att));
}

/* RFC 5322 2.2 field-name = 1*ftext (printable US-ASCII except ':'). */
static bool field_name_ok(const struct imap_string *s)
{
	if (s->len == 0)
		return false;
	for (size_t i = 0; i < s->len; i++) {
		unsigned char c = (unsigned char)s->s[i];
		if (c < 33 || c > 126 || c == ':')
			return false;
	}
	return true;
}

static int header_list(const struct imap_arg *list, struct imap_section *sec, const char **error_r)
{
	/* header-list = "(" header-fld-name *(SP header-fld-name) ")" */
	if (list->type != IMAP_ARG_LIST || list->count == 0) {
		*error_r = "HEADER.FIELDS needs a list of header names";
		return -1;
	}
	sec->fields = calloc(list->count, sizeof(*sec->fields));
	if (!sec->fields) {
		*error_r = "Out of memory";
		return -1;
	}
	for (size_t i = 0; i < list->count; i++) {
		struct imap_string *f = &sec->fields[sec->nfields];
		if (imap_arg_astring(&list->list[i], f, error_r) < 0)
			return -1;
		if (!field_name_ok(f)) {
			*error_r = "Invalid header field name";
			return -1;
		}
		sec->nfields++;
	}
	return 0;
}

/* What is inside BODY[...]: section-spec = section-msgtext /
 * (section-part ["." section-text]); section-part = nz-number *("." nz-number). */
static int section_parse(const struct imap_arg *in, size_t count, bool binary, struct imap_section *sec,
                         const char **error_r)
{
	if (count == 0)
		return 0;
	const struct imap_arg *a = &in[0];
	if (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_NUMBER) {
		*error_r = "Invalid section";
		return -1;
	}
	const char *s = a->str;
	size_t len = a->len, pos = 0, nparts = 1;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '.')
			nparts++;
	sec->parts = calloc(nparts, sizeof(*sec->parts));
	if (!sec->parts) {
		*error_r = "Out of memory";
		return -1;
	}
	while (pos < len && imap_is_digit((unsigned char)s[pos])) {
		const char *dot = memchr(s + pos, '.', len - pos);
		size_t end = dot ? (size_t)(dot - s) : len;
		uint64_t v;
		if (imap_parse_uint(s + pos, end - pos, UINT32_MAX, false, &v) < 0) {
			*error_r = "Invalid section part number";
			return -1;
		}
		if (v == 0 || s[pos] == '0') {
			*error_r = "Section part numbers start at 1";
			return -1;
		}
		sec->parts[sec->nparts++] = (uint32_t)v;
		if (!dot) {
			pos = len;
			break;
		}
		pos = end + 1;
		if (pos == len) {
			*error_r = "Section ends with a dot";
			return -1;
		}
	}
	size_t want = 1;
	if (pos < len) {
		size_t k;
		for (k = 0; k < N(section_texts); k++)
			if (imap_word_eq(s + pos, len - pos, section_texts[k].name))
				break;
		if (k == N(section_texts)) {
			*error_r = "Unknown section";
			return -1;
		}
		if (binary) {
			*error_r = "BINARY sections are part numbers only";
			return -1;
		}
		if (section_texts[k].needs_part && sec->nparts == 0) {
			*error_r = "MIME needs a part number (BODY[1.MIME])";
			return -1;
		}
		sec->text = section_texts[k].text;
		if (section_texts[k].fields) {
			if (count < 2) {
				*error_r = "HEADER.FIELDS needs a list of header names";
				return -1;
			}
			if (header_list(&in[1], sec, error_r) < 0)
				return -1;
			want = 2;
		}
	}
	if (count != want) {
		*error_r = "Unexpected argument in section";
		return -1;
	}
	return 0;
}

/* partial = "<" number64 "." nz-number64 ">" (RFC 9051 9). */
static int partial_parse(const char *s, size_t len, struct imap_fetch_att *att, const char **error_r)
{
	const char *dot = memchr(s, '.', len);
	if (!dot) {
		*error_r = "Partial must be <offset.count>";
		return -1;
	}
	size_t dl = (size_t)(dot - s);
	if (imap_parse_uint(s, dl, IMAP_MODSEQ_MAX, false, &att->offset) < 0 ||
	    imap_parse_uint(dot + 1, len - dl - 1, IMAP_MODSEQ_MAX, true, &att->count) < 0) {
		*error_r = "Invalid partial <offset.count> (count must be non-zero)";
		return -1;
	}
	att->partial = true;
	return 0;
}

int imap_fetch_att_parse(const struct imap_arg *a, struct imap_fetch_att *att_r, const char **error_r)
{
	memset(att_r, 0, sizeof(*att_r));
	if (a->type == IMAP_ARG_ATOM) {
		for (size_t i = 0; i < N(plain_items); i++) {
			if (imap_word_eq(a->str, a->len, plain_items[i].name)) {
				att_r->item = plain_items[i].item;
				return 0;
			}
		}
		for (size_t i = 0; i < N(section_items); i++) {
			if (imap_word_eq(a->str, a->len, section_items[i].name)) {
				*error_r = "This FETCH attribute needs a [section]";
				return -1;
			}
		}
		for (size_t i = 0; i < N(macros); i++) {
			if (imap_word_eq(a->str, a->len, macros[i].name)) {
				*error_r = "ALL, FAST and FULL must be used alone";
				return -1;
			}
		}
		*error_r = "Unknown FETCH attribute";
		return -1;
	}
	if (a->type != IMAP_ARG_SECTION) {
		*error_r = "Invalid FETCH attribute";
		return -1;
	}
	size_t k;
	for (k = 0; k < N(section_items); k++)
		if (imap_word_eq(a->str, a->len, section_items[k].name))
			break;
	if (k == N(section_items)) {
		*error_r = "Unknown FETCH attribute";
		return -1;
	}
	att_r->item = section_items[k].item;
	att_r->peek = section_items[k].peek;
	if (section_parse(a->list, a->count, section_items[k].binary, &att_r->section, error_r) < 0)
		goto fail;
	if (a->partial) {
		if (section_items[k].no_partial) {
			*error_r = "BINARY.SIZE takes no partial";
			goto fail;
		}
		if (partial_parse(a->partial, a->partial_len, att_r, error_r) < 0)
			goto fail;
	}
	return 0;
fail:
	imap_fetch_att_clear(att_r);
	return -1;
}

void imap_fetch_free(struct imap_fetch **fp)
{
	struct imap_fetch *f = *fp;
	if (!f)
		return;
	imap_seqset_free(&f->set);
	for (size_t i = 0; i < f->natts; i++)
		imap_fetch_att_clear(&f->atts[i]);
	free(f->atts);
	free(f);
	*fp = NULL;
}

/* fetch-modifiers = SP "(" fetch-modifier *(SP fetch-modifier) ")" (RFC 4466 2.4). */
static int modifiers_parse(const struct imap_arg *list, bool uid, struct imap_fetch *f, const char **error_r)
{
	if (list->type != IMAP_ARG_LIST || list->count == 0) {
		*error_r = "Expected a list of FETCH modifiers";
		return -1;
	}
	for (size_t i = 0; i < list->count; i++) {
		const struct imap_arg *m = &list->list[i];
		if (imap_arg_is_word(m, "CHANGEDSINCE")) {
			if (f->changedsince) {
				*error_r = "CHANGEDSINCE given twice";
				return -1;
			}
			if (i + 1 == list->count) {
				*error_r = "CHANGEDSINCE needs a mod-sequence";
				return -1;
			}
			/* mod-sequence-value: 1 .. 2^63-1 (RFC 7162 7) */
			if (imap_arg_number(&list->list[++i], IMAP_MODSEQ_MAX, false, &f->changedsince_modseq,
			                    error_r) < 0)
				return -1;
			if (f->changedsince_modseq == 0) {
				*error_r = "CHANGEDSINCE mod-sequence must be non-zero";
				return -1;
			}
			f->changedsince = true;
		} else if (imap_arg_is_word(m, "VANISHED")) {
			if (f->vanished) {
				*error_r = "VANISHED given twice";
				return -1;
			}
			f->vanished = true;
		} else {
			*error_r = "Unknown FETCH modifier";
			return -1;
		}
	}
	/* RFC 7162 3.2.6: VANISHED is a UID FETCH modifier and "MUST only be
	 * specified together with the CHANGEDSINCE UID FETCH modifier". */
	if (f->vanished && !uid) {
		*error_r = "VANISHED is allowed only in UID FETCH";
		return -1;
	}
	if (f->vanished && !f->changedsince) {
		*error_r = "VANISHED needs CHANGEDSINCE";
		return -1;
	}
	return 0;
}

/* preview-mod list (RFC 8970 6): "(" preview-mod *(SP preview-mod) ")",
 * preview-mod = "LAZY". */
static bool preview_mods_are(const struct imap_arg *list)
{
	if (list->type != IMAP_ARG_LIST || list->count == 0)
		return false;
	for (size_t i = 0; i < list->count; i++)
		if (!imap_arg_is_word(&list->list[i], "LAZY"))
			return false;
	return true;
}

static int preview_mods_parse(const struct imap_arg *list, struct imap_fetch_att *att,
			      const char **error_r)
{
	if (list->type != IMAP_ARG_LIST || list->count == 0) {
		*error_r = "Expected a list of PREVIEW modifiers";
		return -1;
	}
	for (size_t i = 0; i < list->count; i++) {
		if (!imap_arg_is_word(&list->list[i], "LAZY")) {
			*error_r = "Unknown PREVIEW modifier";
			return -1;
		}
		if (att->lazy) {
			*error_r = "LAZY given twice";
			return -1;
		}
		att->lazy = true;
	}
	return 0;
}

static int att_push(struct imap_fetch *f, const struct imap_fetch_att *att)
{
	f->atts[f->natts++] = *att;
	f->items |= 1u << att->item;
	return 0;
}

int imap_fetch_parse(const struct imap_arg *args, size_t count, bool uid, struct imap_fetch **fetch_r,
                     const char **error_r)
{
	*fetch_r = NULL;
	if (count < 2) {
		*error_r = "FETCH needs a sequence set and attributes";
		return -1;
	}
	if (count > 4) {
		*error_r = "Too many FETCH arguments";
		return -1;
	}
	struct imap_fetch *f = calloc(1, sizeof(*f));
	if (!f) {
		*error_r = "Out of memory";
		return -1;
	}
	if (imap_arg_seqset(&args[0], IMAP_SEQ_ALLOW_SAVED, &f->set, error_r) < 0)
		goto fail;
	const struct imap_arg *what = &args[1];
	size_t n = what->type == IMAP_ARG_LIST ? what->count : 5;
	if (what->type == IMAP_ARG_LIST && n == 0) {
		*error_r = "Empty FETCH attribute list";
		goto fail;
	}
	f->atts = calloc(n, sizeof(*f->atts));
	if (!f->atts) {
		*error_r = "Out of memory";
		goto fail;
	}
	struct imap_fetch_att att;
	size_t next = 2;   /* where the FETCH modifiers may start */
	if (what->type == IMAP_ARG_LIST) {
		for (size_t i = 0; i < what->count; i++) {
			if (imap_fetch_att_parse(&what->list[i], &att, error_r) < 0)
				goto fail;
			if (att.item == IMAP_FETCH_PREVIEW && i + 1 < what->count &&
			    what->list[i + 1].type == IMAP_ARG_LIST &&
			    preview_mods_parse(&what->list[++i], &att, error_r) < 0)
				goto fail;
			att_push(f, &att);
		}
	} else {
		size_t m;
		for (m = 0; m < N(macros); m++)
			if (imap_arg_is_word(what, macros[m].name))
				break;
		if (m < N(macros)) {
			for (size_t i = 0; i < macros[m].n; i++)
				att_push(f, &(struct imap_fetch_att){ .item = macros[m].items[i] });
		} else {
			if (imap_fetch_att_parse(what, &att, error_r) < 0)
				goto fail;
			/* "FETCH 1 PREVIEW (LAZY)": fetch-att may carry its
			 * modifiers, and fetch-modifiers has no LAZY. */
			if (att.item == IMAP_FETCH_PREVIEW && count > 2 && preview_mods_are(&args[2])) {
				if (preview_mods_parse(&args[2], &att, error_r) < 0)
					goto fail;
				next = 3;
			}
			att_push(f, &att);
		}
	}
	if (count > next + 1) {
		*error_r = "Too many FETCH arguments";
		goto fail;
	}
	if (count == next + 1 && modifiers_parse(&args[next], uid, f, error_r) < 0)
		goto fail;
	*fetch_r = f;
	return 0;
fail:
	imap_fetch_free(&f);
	return -1;
}

static const char *item_name(enum imap_fetch_item item)
{
	for (size_t i = 0; i < N(plain_items); i++)
		if (plain_items[i].item == item)
			return plain_items[i].name;
	return NULL;
}

static int write_section(struct buf *out, const struct imap_section *sec)
{
	int rc = 0;
	for (size_t i = 0; i < sec->nparts; i++)
		rc |= buf_printf(out, "%s%u", i ? "." : "", (unsigned)sec->parts[i]);
	if (sec->text == IMAP_SECTION_NONE)
		return rc;
	for (size_t k = 0; k < N(section_texts); k++) {
		if (section_texts[k].text != sec->text)
			continue;
		rc |= buf_printf(out, "%s%s", sec->nparts ? "." : "", section_texts[k].name);
		if (section_texts[k].fields) {
			rc |= buf_puts(out, " (");
			for (size_t i = 0; i < sec->nfields; i++) {
				if (i)
					rc |= buf_putc(out, ' ');
				rc |= imap_write_astring(out, sec->fields[i].s, sec->fields[i].len);
			}
			rc |= buf_putc(out, ')');
		}
	}
	return rc;
}

int imap_fetch_att_write_name(struct buf *out, const struct imap_fetch_att *att)
{
	int rc = 0;
	const char *prefix;
	switch (att->item) {
	case IMAP_FETCH_BODY_SECTION:
		prefix = "BODY[";
		break;
	case IMAP_FETCH_BINARY:
		prefix = "BINARY[";
		break;
	case IMAP_FETCH_BINARY_SIZE:
		prefix = "BINARY.SIZE[";
		break;
	default:
		prefix = item_name(att->item);
		return prefix ? buf_puts(out, prefix) : -1;
	}
	rc |= buf_puts(out, prefix);
	rc |= write_section(out, &att->section);
	rc |= buf_putc(out, ']');
	/* RFC 3501 7.4.2: the response carries only the origin octet. */
	if (att->partial)
		rc |= buf_printf(out, "<%llu>", (unsigned long long)att->offset);
	return rc ? -1 : 0;
}
