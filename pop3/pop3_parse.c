/* pop3/pop3_parse.c: the pure POP3 command parser (see pop3_parse.h): the
 * verb table with each verb's grammar, the splitting of a command line into
 * length-carrying arguments, strict decimal numbers, and the UIDL format.
 * No I/O; the input may hold NUL bytes and is never read past `len`. */
#include "pop3/pop3_parse.h"

#include <stdio.h>
#include <string.h>

const char *pop3_perr_str(enum pop3_perr err)
{
	switch (err) {
	case POP3_P_OK: return "ok";
	case POP3_P_EMPTY: return "empty command";
	case POP3_P_UNKNOWN: return "unknown command";
	case POP3_P_BAD_CHAR: return "control character in argument";
	case POP3_P_SYNTAX: return "empty argument";
	case POP3_P_ARITY: return "wrong number of arguments";
	case POP3_P_TOO_LONG: return "argument too long";
	case POP3_P_NUMBER: return "bad number";
	}
	return "error";
}

/* RFC 1939 5 and 7, RFC 2449 5, RFC 2595 4; AUTH is RFC 5034 (mechanism
 * and an optional initial response), parsed now so that its handler can
 * arrive without touching the grammar. */
const struct pop3_verb_syntax pop3_verb_syntax[POP3_VERB_COUNT] = {
	[POP3_VERB_UNKNOWN] = {"", 0, 0, {0, 0}, false},
	[POP3_VERB_USER] = {"USER", 1, 1, {POP3_ARG_STRING, 0}, false},
	[POP3_VERB_PASS] = {"PASS", 1, 1, {POP3_ARG_STRING, 0}, true},
	[POP3_VERB_AUTH] = {"AUTH", 0, 2, {POP3_ARG_STRING, POP3_ARG_STRING}, false},
	[POP3_VERB_STLS] = {"STLS", 0, 0, {0, 0}, false},
	[POP3_VERB_CAPA] = {"CAPA", 0, 0, {0, 0}, false},
	[POP3_VERB_STAT] = {"STAT", 0, 0, {0, 0}, false},
	[POP3_VERB_LIST] = {"LIST", 0, 1, {POP3_ARG_MSGNUM, 0}, false},
	[POP3_VERB_UIDL] = {"UIDL", 0, 1, {POP3_ARG_MSGNUM, 0}, false},
	[POP3_VERB_RETR] = {"RETR", 1, 1, {POP3_ARG_MSGNUM, 0}, false},
	[POP3_VERB_TOP] = {"TOP", 2, 2, {POP3_ARG_MSGNUM, POP3_ARG_LINES}, false},
	[POP3_VERB_DELE] = {"DELE", 1, 1, {POP3_ARG_MSGNUM, 0}, false},
	[POP3_VERB_RSET] = {"RSET", 0, 0, {0, 0}, false},
	[POP3_VERB_NOOP] = {"NOOP", 0, 0, {0, 0}, false},
	[POP3_VERB_QUIT] = {"QUIT", 0, 0, {0, 0}, false},
};

static unsigned char ascii_upper(unsigned char ch)
{
	return ch >= 'a' && ch <= 'z' ? (unsigned char)(ch - 'a' + 'A') : ch;
}

static enum pop3_verb verb_lookup(const char *s, size_t len)
{
	/* RFC 2449 3: keyword = 3*4VCHAR; anything else cannot match. */
	if (len < 3 || len > 4)
		return POP3_VERB_UNKNOWN;
	for (int v = POP3_VERB_UNKNOWN + 1; v < POP3_VERB_COUNT; v++) {
		const char *name = pop3_verb_syntax[v].name;
		if (strlen(name) != len)
			continue;
		size_t i = 0;
		while (i < len && ascii_upper((unsigned char)s[i]) == (unsigned char)name[i])
			i++;
		if (i == len)
			return (enum pop3_verb)v;
	}
	return POP3_VERB_UNKNOWN;
}

/* RFC 1939 3: "Keywords and arguments consist of printable ASCII
 * characters".  We also take 8-bit bytes, so that UTF-8 user names and
 * passwords reach the login policy, which decides; NUL, controls and DEL
 * never do.  A space is a separator, except inside a rest-of-line
 * argument. */
static bool arg_byte_ok(unsigned char ch, bool space_ok)
{
	if (ch == ' ')
		return space_ok;
	return ch > 0x20 && ch != 0x7f;
}

int pop3_parse_number(const char *s, size_t len, uint32_t min, uint32_t *num_r)
{
	if (len == 0)
		return -1;
	uint32_t v = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch < '0' || ch > '9')
			return -1;
		uint32_t d = (uint32_t)(ch - '0');
		if (v > (POP3_NUM_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (v < min)
		return -1;
	*num_r = v;
	return 0;
}

enum pop3_perr pop3_parse_command(const char *line, size_t len, struct pop3_cmd *cmd_r)
{
	memset(cmd_r, 0, sizeof(*cmd_r));
	if (len == 0)
		return POP3_P_EMPTY;
	size_t vlen = 0;
	while (vlen < len && line[vlen] != ' ')
		vlen++;
	cmd_r->verb = verb_lookup(line, vlen);
	if (cmd_r->verb == POP3_VERB_UNKNOWN)
		return POP3_P_UNKNOWN;
	const struct pop3_verb_syntax *syn = &pop3_verb_syntax[cmd_r->verb];

	/* Split the arguments; here line[pos] is the space after the keyword
	 * or after the previous argument. */
	size_t pos = vlen;
	while (pos < len) {
		pos++;
		size_t end = pos;
		if (syn->rest_of_line)
			end = len;
		else
			while (end < len && line[end] != ' ')
				end++;
		if (end == pos)
			return POP3_P_SYNTAX;   /* RFC 1939 3: a single space, then an argument */
		if (cmd_r->nargs >= syn->max_args)
			return POP3_P_ARITY;
		for (size_t i = pos; i < end; i++)
			if (!arg_byte_ok((unsigned char)line[i], syn->rest_of_line))
				return POP3_P_BAD_CHAR;
		if (end - pos > POP3_ARG_MAX)
			return POP3_P_TOO_LONG;
		cmd_r->arg[cmd_r->nargs] = line + pos;
		cmd_r->arg_len[cmd_r->nargs] = end - pos;
		cmd_r->nargs++;
		pos = end;
	}
	if (cmd_r->nargs < syn->min_args)
		return POP3_P_ARITY;
	for (unsigned i = 0; i < cmd_r->nargs; i++) {
		if (syn->kind[i] == POP3_ARG_STRING)
			continue;
		uint32_t min = syn->kind[i] == POP3_ARG_MSGNUM ? 1 : 0;
		if (pop3_parse_number(cmd_r->arg[i], cmd_r->arg_len[i], min, &cmd_r->num[i]) < 0)
			return POP3_P_NUMBER;
	}
	return POP3_P_OK;
}

size_t pop3_uidl_format(uint32_t uidvalidity, uint32_t uid, char *out)
{
	/* Fixed-width hex: 16 characters, never reused for another message
	 * while the mailbox keeps its UIDVALIDITY (RFC 3501 2.3.1.1). */
	int n = snprintf(out, POP3_UIDL_MAX + 1, "%08x%08x", (unsigned)uidvalidity, (unsigned)uid);
	return n > 0 ? (size_t)n : 0;
}
