/* imap/imap_sort_keys.c: from a message's header to what SORT and THREAD
 * compare (RFC 5256 2.2 sent date, 3 sort keys and the references of
 * REFERENCES; RFC 5957 display names), and the comparison itself.  Pure:
 * core/mime.h reads the header and its addresses.
 *
 * Strings are kept already reduced to their collation key (base subject,
 * casemapped: i;ascii-casemap, RFC 4790 9.2), so the sort compares octets
 * and never decodes a header twice. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/mime.h"
#include "imap/imap_sort.h"

int imap_sort_pool_init(struct buf *pool)
{
	buf_reset(pool);
	return buf_putc(pool, '\0');
}

/* Appends s[0..len) and a NUL to the pool; its offset in *off_r. */
static int pool_add(struct buf *pool, const char *s, size_t len, bool casemap, uint32_t *off_r)
{
	if (pool->len > UINT32_MAX - len - 1)
		return -1;
	size_t off = pool->len;
	if ((len && buf_append(pool, s, len) < 0) || buf_putc(pool, '\0') < 0)
		return -1;
	if (casemap)
		imap_sort_casemap(pool->data + off, len);
	*off_r = (uint32_t)off;
	return 0;
}

/* ---- RFC 5322 3.3 date-time ---- */

int imap_sort_date_parse(const char *s, size_t len, int64_t *t_r)
{
	struct mime_date d;
	if (mime_date_parse(s, len, &d) < 0)
		return -1;
	int64_t t = mime_date_days(d.year, d.month, d.day) * 86400;
	/* RFC 5256 2.2: an invalid time is 00:00:00, an invalid zone UTC. */
	if (d.time)
		t += d.hour * 3600 + d.min * 60 + d.sec - d.zone;
	*t_r = t;
	return 0;
}

/* ---- msg-id ---- */

int imap_sort_msgid_next(const char *s, size_t len, size_t *pos, struct buf *out)
{
	size_t i = *pos;
	while (i < len) {
		/* Outside an id: skip comments and quoted strings, which may
		 * hold a '<' of their own. */
		char c = s[i];
		if (c == '(') {
			size_t e = mime_cfws_end(s, len, i);
			i = e > i ? e : i + 1;
			continue;
		}
		if (c == '"') {
			for (i++; i < len && s[i] != '"'; i++)
				if (s[i] == '\\')
					i++;
			i++;
			continue;
		}
		if (c != '<') {
			i++;
			continue;
		}
		/* "<" id-left "@" id-right ">", quoting and CFWS dropped. */
		size_t start = out->len, k = i + 1;
		bool ok = true, at = false, left = false, right = false;
		while (k < len && s[k] != '>' && ok) {
			c = s[k];
			if (c == '<') {
				ok = false;
			} else if (c == '(' || c == ' ' || c == '\t' || c == '\r' || c == '\n') {
				size_t e = mime_cfws_end(s, len, k);
				k = e > k ? e : k + 1;
			} else if (c == '"') {
				for (k++; k < len && s[k] != '"'; k++) {
					if (s[k] == '\\' && k + 1 < len)
						k++;
					if (buf_putc(out, s[k]) < 0)
						return -1;
					if (at)
						right = true;
					else
						left = true;
				}
				k++;
			} else {
				if (c == '@') {
					if (at)
						ok = false;
					at = true;
				} else if (at) {
					right = true;
				} else {
					left = true;
				}
				if (buf_putc(out, c) < 0)
					return -1;
				k++;
			}
		}
		if (ok && k < len && s[k] == '>' && at && left && right) {
			*pos = k + 1;
			return 1;
		}
		/* Not an id: drop what was copied and look on from the next '<'. */
		out->len = start;
		i = k < len && s[k] == '<' ? k : i + 1;
	}
	*pos = len;
	return 0;
}

/* ---- a message's keys ---- */

enum field_idx { F_SUBJECT, F_FROM, F_TO, F_CC, F_DATE, F_MSGID, F_REFS, F_IRT, F_N };

static const char *const field_names[F_N] = {
	"Subject", "From", "To", "Cc", "Date", "Message-ID", "References", "In-Reply-To",
};

/* First mailbox of an address field: addr-mailbox (FROM, TO, CC) or, for
 * RFC 5957, the decoded display name, else "mailbox@host". */
static int address_key(const struct mime_header_field *f, bool display, struct buf *pool,
		       struct buf *scratch, uint32_t *off_r)
{
	*off_r = IMAP_SORT_EMPTY;
	if (!f->value)
		return 0;
	struct buf name, mbox, host;
	buf_init(&name, 0);
	buf_init(&mbox, 0);
	buf_init(&host, 0);
	int rc = mime_address_first(f->value, f->value_len, display ? &name : NULL, &mbox, &host);
	if (rc < 0)
		goto out;
	buf_reset(scratch);
	if (rc == 1 && !display) {
		rc = mbox.len ? buf_append(scratch, mbox.data, mbox.len) : 0;
	} else if (rc == 1) {
		rc = name.len ? mime_header_decode(name.data, name.len, scratch) : 0;
		/* A display name of white space alone is none. */
		size_t k = 0;
		while (k < scratch->len && (scratch->data[k] == ' ' || scratch->data[k] == '\t'))
			k++;
		if (rc == 0 && k == scratch->len) {
			buf_reset(scratch);
			rc = mbox.len ? buf_append(scratch, mbox.data, mbox.len) : 0;
			if (rc == 0 && host.len)
				rc = buf_putc(scratch, '@') | buf_append(scratch, host.data, host.len);
		}
	} else {
		rc = 0;
	}
	if (rc == 0 && scratch->len)
		rc = pool_add(pool, scratch->data, scratch->len, true, off_r);
out:
	buf_free(&name);
	buf_free(&mbox);
	buf_free(&host);
	return rc < 0 ? -1 : 0;
}

/* RFC 5256 3 REFERENCES: the ids of References, or when it has none the
 * first id of In-Reply-To; only the last IMAP_THREAD_MAX_REFS are kept. */
static int refs_fill(struct imap_sort_msg *m, const struct mime_header_field *refs,
		     const struct mime_header_field *irt, struct buf *pool)
{
	m->refs = IMAP_SORT_EMPTY;
	m->nrefs = 0;
	size_t first = pool->len;
	/* Start offsets of the kept ids, as a ring of the last ones. */
	size_t ring[IMAP_THREAD_MAX_REFS];
	size_t total = 0;
	if (refs->value) {
		size_t pos = 0;
		for (;;) {
			size_t at = pool->len;
			int rc = imap_sort_msgid_next(refs->value, refs->value_len, &pos, pool);
			if (rc < 0)
				return -1;
			if (rc == 0)
				break;
			if (buf_putc(pool, '\0') < 0)
				return -1;
			ring[total % IMAP_THREAD_MAX_REFS] = at;
			total++;
		}
	}
	if (total == 0 && irt->value) {
		size_t pos = 0;
		int rc = imap_sort_msgid_next(irt->value, irt->value_len, &pos, pool);
		if (rc < 0 || (rc == 1 && buf_putc(pool, '\0') < 0))
			return -1;
		if (rc == 1)
			ring[total++] = first;
	}
	if (total == 0)
		return 0;
	if (pool->len > UINT32_MAX)
		return -1;
	if (total > IMAP_THREAD_MAX_REFS) {
		/* Keep the tail: move the last ids down to where the first was. */
		size_t from = ring[total % IMAP_THREAD_MAX_REFS];
		memmove(pool->data + first, pool->data + from, pool->len - from);
		pool->len = first + (pool->len - from);
		total = IMAP_THREAD_MAX_REFS;
	}
	m->refs = (uint32_t)first;
	m->nrefs = (uint32_t)total;
	return 0;
}

int imap_sort_msg_fill(struct imap_sort_msg *m, unsigned want, const char *hdr, size_t len,
		       struct buf *pool, struct buf *scratch)
{
	struct mime_header_field f[F_N];
	memset(f, 0, sizeof(f));
	size_t pos = 0;
	struct mime_header_field cur;
	while (mime_header_next(hdr, len, &pos, &cur) == 1) {
		if (cur.name_len == 0)
			continue;
		for (int k = 0; k < F_N; k++)
			if (!f[k].value && strlen(field_names[k]) == cur.name_len &&
			    strncasecmp(cur.name, field_names[k], cur.name_len) == 0)
				f[k] = cur;
	}
	for (int k = 0; k < IMAP_SORT_S_N; k++)
		m->str[k] = IMAP_SORT_EMPTY;
	m->msgid = IMAP_SORT_NONE;
	m->refs = IMAP_SORT_EMPTY;
	m->nrefs = 0;
	m->reply = false;
	m->date = m->arrival;
	if (want & IMAP_SORT_W_SUBJECT && f[F_SUBJECT].value) {
		buf_reset(scratch);
		if (imap_sort_base_subject(f[F_SUBJECT].value, f[F_SUBJECT].value_len, scratch,
					   &m->reply) < 0)
			return -1;
		if (scratch->len &&
		    pool_add(pool, scratch->data, scratch->len, true, &m->str[IMAP_SORT_S_SUBJECT]) < 0)
			return -1;
	}
	static const struct {
		unsigned bit;
		enum field_idx field;
		enum imap_sort_str str;
		bool display;
	} addrs[] = {
		{ IMAP_SORT_W_FROM, F_FROM, IMAP_SORT_S_FROM, false },
		{ IMAP_SORT_W_TO, F_TO, IMAP_SORT_S_TO, false },
		{ IMAP_SORT_W_CC, F_CC, IMAP_SORT_S_CC, false },
		{ IMAP_SORT_W_DISPLAYFROM, F_FROM, IMAP_SORT_S_DISPLAYFROM, true },
		{ IMAP_SORT_W_DISPLAYTO, F_TO, IMAP_SORT_S_DISPLAYTO, true },
	};
	for (size_t k = 0; k < sizeof(addrs) / sizeof(addrs[0]); k++)
		if ((want & addrs[k].bit) &&
		    address_key(&f[addrs[k].field], addrs[k].display, pool, scratch,
				&m->str[addrs[k].str]) < 0)
			return -1;
	if (want & IMAP_SORT_W_DATE && f[F_DATE].value) {
		buf_reset(scratch);
		int64_t t;
		if (mime_header_unfold(f[F_DATE].value, f[F_DATE].value_len, scratch) < 0)
			return -1;
		/* RFC 5256 2.2: without a date that parses, INTERNALDATE. */
		if (scratch->len && imap_sort_date_parse(scratch->data, scratch->len, &t) == 0)
			m->date = t;
	}
	if (want & IMAP_SORT_W_REFS) {
		if (f[F_MSGID].value) {
			size_t p = 0, at = pool->len;
			int rc = imap_sort_msgid_next(f[F_MSGID].value, f[F_MSGID].value_len, &p, pool);
			if (rc < 0 || (rc == 1 && buf_putc(pool, '\0') < 0))
				return -1;
			if (rc == 1) {
				if (at > UINT32_MAX)
					return -1;
				m->msgid = (uint32_t)at;
			}
		}
		if (refs_fill(m, &f[F_REFS], &f[F_IRT], pool) < 0)
			return -1;
	}
	return 0;
}

/* ---- comparison ---- */

static int cmp_i64(int64_t a, int64_t b)
{
	return a < b ? -1 : a > b;
}

int imap_sort_compare(const struct imap_sort_msg *a, const struct imap_sort_msg *b,
		      const struct imap_sort_crit *crit, size_t ncrit, const char *pool)
{
	for (size_t i = 0; i < ncrit; i++) {
		int c = 0;
		switch (crit[i].key) {
		case IMAP_SORT_ARRIVAL:
			c = cmp_i64(a->arrival, b->arrival);
			break;
		case IMAP_SORT_DATE:
			c = cmp_i64(a->date, b->date);
			break;
		case IMAP_SORT_SIZE:
			c = a->size < b->size ? -1 : a->size > b->size;
			break;
		case IMAP_SORT_SUBJECT:
		case IMAP_SORT_FROM:
		case IMAP_SORT_TO:
		case IMAP_SORT_CC:
		case IMAP_SORT_DISPLAYFROM:
		case IMAP_SORT_DISPLAYTO: {
			static const enum imap_sort_str str_of[] = {
				[IMAP_SORT_SUBJECT] = IMAP_SORT_S_SUBJECT,
				[IMAP_SORT_FROM] = IMAP_SORT_S_FROM,
				[IMAP_SORT_TO] = IMAP_SORT_S_TO,
				[IMAP_SORT_CC] = IMAP_SORT_S_CC,
				[IMAP_SORT_DISPLAYFROM] = IMAP_SORT_S_DISPLAYFROM,
				[IMAP_SORT_DISPLAYTO] = IMAP_SORT_S_DISPLAYTO,
			};
			enum imap_sort_str s = str_of[crit[i].key];
			/* The empty string sorts first (RFC 5256 3): it is
			 * the shortest, and strcmp orders it so. */
			c = strcmp(pool + a->str[s], pool + b->str[s]);
			break;
		}
		}
		if (c)
			return crit[i].reverse ? -c : c;
	}
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Bottom-up merge sort: stable, O(n log n) at worst, no recursion. */
int imap_sort_run(struct imap_sort_msg *msgs, size_t n, const struct imap_sort_crit *crit,
		  size_t ncrit, const char *pool)
{
	if (n < 2)
		return 0;
	struct imap_sort_msg *tmp = malloc(n * sizeof(*tmp));
	if (!tmp)
		return -1;
	struct imap_sort_msg *src = msgs, *dst = tmp;
	for (size_t width = 1; width < n; width *= 2) {
		for (size_t lo = 0; lo < n; lo += 2 * width) {
			size_t mid = lo + width < n ? lo + width : n;
			size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
			size_t i = lo, j = mid, k = lo;
			while (i < mid && j < hi)
				dst[k++] = imap_sort_compare(&src[j], &src[i], crit, ncrit, pool) < 0
					   ? src[j++] : src[i++];
			while (i < mid)
				dst[k++] = src[i++];
			while (j < hi)
				dst[k++] = src[j++];
		}
		struct imap_sort_msg *t = src;
		src = dst;
		dst = t;
	}
	if (src != msgs)
		memcpy(msgs, src, n * sizeof(*msgs));
	free(tmp);
	return 0;
}
