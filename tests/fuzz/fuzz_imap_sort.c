/* tests/fuzz/fuzz_imap_sort.c: SORT and THREAD's pure code on arbitrary
 * headers (imap_sort_keys.c, imap_sort_subject.c, imap_thread.c).  The
 * input is up to 64 header blocks separated by NUL octets; the first
 * octet picks a sort program.  Properties, besides no crash: the sort
 * gives a permutation in order under the program; both threadings give
 * balanced thread-lists holding every message exactly once. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "imap/imap_sort.h"

#define MAX_MSGS 64

static void check_threads(const char *s, size_t len, size_t n)
{
	unsigned char seen[MAX_MSGS + 1] = { 0 };
	long depth = 0;
	for (size_t i = 0; i < len;) {
		if (s[i] == '(') {
			depth++;
			i++;
		} else if (s[i] == ')') {
			if (--depth < 0)
				abort();
			i++;
		} else if (s[i] == ' ') {
			i++;
		} else if (s[i] >= '1' && s[i] <= '9') {
			unsigned long v = 0;
			while (i < len && s[i] >= '0' && s[i] <= '9')
				v = v * 10 + (unsigned long)(s[i++] - '0');
			if (v == 0 || v > n || seen[v]++)
				abort();
		} else {
			abort();
		}
	}
	if (depth != 0)
		abort();
	for (size_t k = 1; k <= n; k++)
		if (!seen[k])
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	static const enum imap_sort_key keys[] = {
		IMAP_SORT_ARRIVAL, IMAP_SORT_CC, IMAP_SORT_DATE, IMAP_SORT_FROM, IMAP_SORT_SIZE,
		IMAP_SORT_SUBJECT, IMAP_SORT_TO, IMAP_SORT_DISPLAYFROM, IMAP_SORT_DISPLAYTO,
	};
	struct imap_sort_crit crit[2] = {
		{ keys[(data[0] & 0x0f) % 9], (data[0] & 0x10) != 0 },
		{ keys[((data[0] >> 5) & 0x07) % 9], false },
	};
	struct imap_sort_msg msgs[MAX_MSGS], sorted[MAX_MSGS];
	struct buf pool, scratch, out;
	buf_init(&pool, 0);
	buf_init(&scratch, 0);
	buf_init(&out, 0);
	if (imap_sort_pool_init(&pool) < 0)
		abort();
	size_t n = 0;
	const char *p = (const char *)data + 1, *end = (const char *)data + size;
	while (p < end && n < MAX_MSGS) {
		const char *z = memchr(p, '\0', (size_t)(end - p));
		size_t len = z ? (size_t)(z - p) : (size_t)(end - p);
		struct imap_sort_msg *m = &msgs[n];
		memset(m, 0, sizeof(*m));
		m->seq = m->num = (uint32_t)(n + 1);
		m->arrival = (int64_t)(len * 7 % 13);
		m->size = len;
		if (imap_sort_msg_fill(m, 0xffff, p, len, &pool, &scratch) < 0)
			abort();
		n++;
		p += len + 1;
	}
	memcpy(sorted, msgs, n * sizeof(*msgs));
	if (imap_sort_run(sorted, n, crit, 2, pool.data) < 0)
		abort();
	unsigned char seen[MAX_MSGS + 1] = { 0 };
	for (size_t i = 0; i < n; i++) {
		if (seen[sorted[i].num]++)
			abort();
		if (i && imap_sort_compare(&sorted[i - 1], &sorted[i], crit, 2, pool.data) >= 0)
			abort();
	}
	for (int alg = 0; alg < 2; alg++) {
		buf_reset(&out);
		if (imap_thread_run(alg ? IMAP_THREAD_REFERENCES : IMAP_THREAD_ORDEREDSUBJECT, msgs, n,
				    pool.data, &out) < 0)
			abort();
		check_threads(out.data ? out.data : "", out.len, n);
	}
	buf_free(&pool);
	buf_free(&scratch);
	buf_free(&out);
	return 0;
}
