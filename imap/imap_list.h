/* imap/imap_list.h: the LIST pattern matcher (RFC 3501 6.3.8, RFC 9051
 * 6.3.9), pure and header-only so that it is unit tested on its own
 * (tests/unit/test_imap_list.c); used by imap_cmd_list.c.
 *
 * "*" matches any run of characters, "%" any run without the hierarchy
 * delimiter; everything else matches itself (case-sensitively: the caller
 * has already folded INBOX, RFC 3501 5.1).  Dynamic programming over
 * (pattern, name) so that patterns like "*a*a*a*b" cost O(p * n), never
 * exponential backtracking. */
#ifndef POSTINO_IMAP_LIST_H
#define POSTINO_IMAP_LIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

/* Returns 1 when name matches pat, 0 when not, -1 when memory is short. */
static inline int imap_list_match(const char *pat, size_t plen, const char *name, size_t nlen,
				  char sep)
{
	if (nlen == (size_t)-1 || nlen + 1 > ((size_t)-1) / (2 * sizeof(bool)))
		return -1;
	/* row[j]: pat[0..i) matches name[0..j) */
	bool *prev = calloc(2 * (nlen + 1), sizeof(bool));
	if (!prev)
		return -1;
	bool *cur = prev + nlen + 1;
	prev[0] = true;
	for (size_t i = 0; i < plen; i++) {
		char pc = pat[i];
		cur[0] = (pc == '*' || pc == '%') && prev[0];
		for (size_t j = 1; j <= nlen; j++) {
			char nc = name[j - 1];
			if (pc == '*')
				cur[j] = prev[j] || cur[j - 1];
			else if (pc == '%')
				cur[j] = prev[j] || (cur[j - 1] && nc != sep);
			else
				cur[j] = prev[j - 1] && pc == nc;
		}
		bool *t = prev;
		prev = cur;
		cur = t;
	}
	int r = prev[nlen] ? 1 : 0;
	free(prev < cur ? prev : cur);
	return r;
}

#endif
