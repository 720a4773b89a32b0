/* imap/imap_parse_seq.c: sequence sets (RFC 3501 9 sequence-set, RFC 9051
 * 9, RFC 5182 "$").  A set is kept as the list of ranges the client wrote,
 * never expanded, so "1:4294967295" costs one range; membership,
 * normalisation (sorted, merged, "*" resolved) and iteration work on
 * ranges. */
#include "imap/imap_parse.h"
#include "imap/imap_parse_private.h"

#include <stdlib.h>
#include <string.h>

/* seq-number = nz-number / "*"; nz-number is 32-bit (RFC 3501 9 number). */
static int seq_number(const char *s, size_t len, unsigned flags, uint32_t *n_r, const char **error_r)
{
	if (len == 1 && s[0] == '*') {
		if (flags & IMAP_SEQ_NO_STAR) {
			*error_r = "'*' is not allowed in this sequence set";
			return -1;
		}
		*n_r = IMAP_SEQ_STAR;
		return 0;
	}
	if (len == 0) {
		*error_r = "Empty number in a sequence set";
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '$') {
			*error_r = "'$' must be the whole sequence set";
			return -1;
		}
		if (!imap_is_digit((unsigned char)s[i])) {
			*error_r = "Invalid character in a sequence set";
			return -1;
		}
	}
	if (s[0] == '0') {
		*error_r = len == 1 ? "0 is not a valid message number" : "Leading zero in a sequence set";
		return -1;
	}
	uint64_t v;
	if (imap_parse_uint(s, len, UINT32_MAX, true, &v) < 0) {
		*error_r = "Number in a sequence set above 4294967295";
		return -1;
	}
	*n_r = (uint32_t)v;
	return 0;
}

int imap_seqset_parse(const char *s, size_t len, unsigned flags, struct imap_seqset **set_r,
                      const char **error_r)
{
	*set_r = NULL;
	struct imap_seqset *set = calloc(1, sizeof(*set));
	if (!set) {
		*error_r = "Out of memory";
		return -1;
	}
	if (len == 1 && s[0] == '$') {
		if (!(flags & IMAP_SEQ_ALLOW_SAVED)) {
			free(set);
			*error_r = "'$' (SEARCHRES) is not allowed here";
			return -1;
		}
		set->saved = true;
		*set_r = set;
		return 0;
	}
	if (len == 0) {
		free(set);
		*error_r = "Empty sequence set";
		return -1;
	}
	size_t n = 1;
	for (size_t i = 0; i < len; i++)
		if (s[i] == ',')
			n++;
	set->ranges = calloc(n, sizeof(*set->ranges));
	if (!set->ranges) {
		free(set);
		*error_r = "Out of memory";
		return -1;
	}
	size_t i = 0;
	while (i <= len) {
		const char *comma = memchr(s + i, ',', len - i);
		size_t end = comma ? (size_t)(comma - s) : len;
		if (end == i) {
			*error_r = "Empty element in a sequence set";
			goto fail;
		}
		const char *colon = memchr(s + i, ':', end - i);
		uint32_t a, b;
		if (colon) {
			size_t c = (size_t)(colon - s);
			if (seq_number(s + i, c - i, flags, &a, error_r) < 0 ||
			    seq_number(s + c + 1, end - c - 1, flags, &b, error_r) < 0)
				goto fail;
		} else {
			if (seq_number(s + i, end - i, flags, &a, error_r) < 0)
				goto fail;
			b = a;
		}
		/* RFC 3501 9 seq-range: "2:4 and 4:2 are equivalent".  "*" is
		 * kept on the hi side since its value is known only later. */
		struct imap_seq_range *r = &set->ranges[set->count++];
		if (a == IMAP_SEQ_STAR || b == IMAP_SEQ_STAR) {
			set->star = true;
			r->lo = a == IMAP_SEQ_STAR ? b : a;
			r->hi = IMAP_SEQ_STAR;
		} else {
			r->lo = a < b ? a : b;
			r->hi = a < b ? b : a;
		}
		if (!comma)
			break;
		i = end + 1;
		if (i == len) {
			*error_r = "Empty element in a sequence set";
			goto fail;
		}
	}
	*set_r = set;
	return 0;
fail:
	imap_seqset_free(&set);
	return -1;
}

int imap_arg_seqset(const struct imap_arg *a, unsigned flags, struct imap_seqset **set_r,
                    const char **error_r)
{
	/* RFC 4466 tagged-ext-comp: a sequence set is always an atom. */
	if (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_NUMBER) {
		*set_r = NULL;
		*error_r = "Expected a sequence set";
		return -1;
	}
	return imap_seqset_parse(a->str, a->len, flags, set_r, error_r);
}

void imap_seqset_free(struct imap_seqset **set)
{
	if (!*set)
		return;
	free((*set)->ranges);
	free(*set);
	*set = NULL;
}

/* [lo, hi] of a range with "*" replaced; lo may be 0 only when star is. */
static void resolve(const struct imap_seq_range *r, uint32_t star, uint32_t *lo, uint32_t *hi)
{
	uint32_t a = r->lo == IMAP_SEQ_STAR ? star : r->lo;
	uint32_t b = r->hi == IMAP_SEQ_STAR ? star : r->hi;
	*lo = a < b ? a : b;
	*hi = a < b ? b : a;
}

bool imap_seqset_contains(const struct imap_seqset *set, uint32_t n, uint32_t star)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < set->count; i++) {
		uint32_t lo, hi;
		resolve(&set->ranges[i], star, &lo, &hi);
		if (n >= lo && n <= hi)
			return true;
	}
	return false;
}

uint32_t imap_seqset_highest(const struct imap_seqset *set)
{
	uint32_t max = 0;
	for (size_t i = 0; i < set->count; i++) {
		if (set->ranges[i].lo > max)
			max = set->ranges[i].lo;
		if (set->ranges[i].hi != IMAP_SEQ_STAR && set->ranges[i].hi > max)
			max = set->ranges[i].hi;
	}
	return max;
}

static int range_cmp(const void *a, const void *b)
{
	const struct imap_seq_range *x = a, *y = b;
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	return 0;
}

int imap_seqset_normalize(const struct imap_seqset *set, uint32_t star, struct imap_seqset **out_r)
{
	*out_r = NULL;
	struct imap_seqset *out = calloc(1, sizeof(*out));
	if (!out)
		return -1;
	out->saved = set->saved;
	if (set->count) {
		out->ranges = calloc(set->count, sizeof(*out->ranges));
		if (!out->ranges) {
			free(out);
			return -1;
		}
	}
	for (size_t i = 0; i < set->count; i++) {
		uint32_t lo, hi;
		resolve(&set->ranges[i], star, &lo, &hi);
		if (hi == 0)
			continue; /* "*" of an empty mailbox */
		if (lo == 0)
			lo = 1;
		out->ranges[out->count++] = (struct imap_seq_range){ lo, hi };
	}
	if (out->count > 1)
		qsort(out->ranges, out->count, sizeof(*out->ranges), range_cmp);
	size_t w = 0;
	for (size_t i = 0; i < out->count; i++) {
		struct imap_seq_range r = out->ranges[i];
		if (w > 0 && (uint64_t)r.lo <= (uint64_t)out->ranges[w - 1].hi + 1) {
			if (r.hi > out->ranges[w - 1].hi)
				out->ranges[w - 1].hi = r.hi;
		} else {
			out->ranges[w++] = r;
		}
	}
	out->count = w;
	*out_r = out;
	return 0;
}

void imap_seq_iter_init(struct imap_seq_iter *it, const struct imap_seqset *normalized)
{
	it->set = normalized;
	it->i = 0;
	it->next = 0;
}

bool imap_seq_iter_next(struct imap_seq_iter *it, uint32_t *n_r)
{
	while (it->i < it->set->count) {
		const struct imap_seq_range *r = &it->set->ranges[it->i];
		if (it->next < r->lo)
			it->next = r->lo;
		if (it->next <= r->hi) {
			*n_r = (uint32_t)it->next++;
			return true;
		}
		it->i++;
	}
	return false;
}
