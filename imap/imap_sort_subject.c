/* imap/imap_sort_subject.c: the base subject of RFC 5256 2.1, which SORT
 * SUBJECT and both THREAD algorithms compare, and the i;ascii-casemap key.
 * Pure (core/mime.h for the RFC 2047 decoding of step 1).
 *
 * The steps run on the decoded text as a window [lo, hi) that only
 * shrinks, so the whole extraction is one copy and linear in the subject
 * (each step removes what it matched or ends the loop). */
#include <string.h>

#include "core/mime.h"
#include "imap/imap_sort.h"

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

/* s[i..hi) starts with the lower-case lit, ignoring case. */
static bool starts_ci(const char *s, size_t i, size_t hi, const char *lit)
{
	size_t n = strlen(lit);
	if (hi - i < n)
		return false;
	for (size_t k = 0; k < n; k++)
		if (lower(s[i + k]) != lit[k])
			return false;
	return true;
}

/* subj-blob = "[" *BLOBCHAR "]" *WSP at s[i]: its end, or 0 when none. */
static size_t blob_end(const char *s, size_t i, size_t hi)
{
	if (i >= hi || s[i] != '[')
		return 0;
	size_t k = i + 1;
	while (k < hi && s[k] != '[' && s[k] != ']')
		k++;
	if (k >= hi || s[k] != ']')
		return 0;
	k++;
	while (k < hi && is_wsp(s[k]))
		k++;
	return k;
}

/* subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":" at s[i]: its
 * end, or 0. */
static size_t refwd_end(const char *s, size_t i, size_t hi)
{
	size_t k;
	if (starts_ci(s, i, hi, "re"))
		k = i + 2;
	else if (starts_ci(s, i, hi, "fwd"))
		k = i + 3;
	else if (starts_ci(s, i, hi, "fw"))
		k = i + 2;
	else
		return 0;
	while (k < hi && is_wsp(s[k]))
		k++;
	size_t b = blob_end(s, k, hi);
	if (b)
		k = b;
	if (k < hi && s[k] == ':')
		return k + 1;
	return 0;
}

/* Step 3: subj-leader = (*subj-blob subj-refwd) / WSP, repeatedly. */
static bool strip_leaders(const char *s, size_t *lo, size_t hi, bool *reply)
{
	bool changed = false;
	for (;;) {
		if (*lo < hi && is_wsp(s[*lo])) {
			(*lo)++;
			changed = true;
			continue;
		}
		size_t k = *lo, b;
		while ((b = blob_end(s, k, hi)) != 0)
			k = b;
		size_t r = refwd_end(s, k, hi);
		if (!r)
			return changed;
		*lo = r;
		*reply = true;
		changed = true;
	}
}

/* Step 2: subj-trailer = "(fwd)" / WSP, repeatedly. */
static void strip_trailers(const char *s, size_t lo, size_t *hi, bool *reply)
{
	for (;;) {
		if (*hi > lo && is_wsp(s[*hi - 1])) {
			(*hi)--;
		} else if (*hi - lo >= 5 && starts_ci(s, *hi - 5, *hi, "(fwd)")) {
			*hi -= 5;
			*reply = true;
		} else {
			return;
		}
	}
}

int imap_sort_base_subject(const char *value, size_t len, struct buf *out, bool *reply_r)
{
	bool reply = false;
	/* (1) RFC 2047 words to UTF-8 (and unfolded); then every tab, CR
	 * or LF becomes a space and runs of spaces one space. */
	struct buf dec;
	buf_init(&dec, 0);
	if (mime_header_decode(value, len, &dec) < 0) {
		buf_free(&dec);
		return -1;
	}
	char *s = dec.data;
	size_t n = 0;
	for (size_t i = 0; i < dec.len; i++) {
		char c = s[i];
		if (c == '\t' || c == '\r' || c == '\n')
			c = ' ';
		if (c == ' ' && n > 0 && s[n - 1] == ' ')
			continue;
		s[n++] = c;
	}
	size_t lo = 0, hi = n;
	for (;;) {
		/* (2) */
		strip_trailers(s, lo, &hi, &reply);
		/* (3) (4), repeated by (5) until neither removes anything. */
		for (;;) {
			bool changed = strip_leaders(s, &lo, hi, &reply);
			size_t b = blob_end(s, lo, hi);
			if (b && b < hi) {
				lo = b;
				changed = true;
			}
			if (!changed)
				break;
		}
		/* (6) subj-fwd-hdr "[fwd:" ... subj-fwd-trl "]": strip both and
		 * start again from (2). */
		if (hi - lo >= 6 && starts_ci(s, lo, hi, "[fwd:") && s[hi - 1] == ']') {
			lo += 5;
			hi -= 1;
			reply = true;
			continue;
		}
		break;
	}
	int rc = hi > lo ? buf_append(out, s + lo, hi - lo) : 0;
	buf_free(&dec);
	if (reply_r)
		*reply_r = reply;
	return rc < 0 ? -1 : 0;
}

void imap_sort_casemap(char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] >= 'a' && s[i] <= 'z')
			s[i] = (char)(s[i] - 32);
}
