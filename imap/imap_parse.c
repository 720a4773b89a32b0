/* imap/imap_parse.c: the incremental IMAP command reader.
 *
 * Owns the line/literal state machine and the tokenizer that turns a
 * command (tag, name, arguments, possibly spread over several lines joined
 * by literals) into a struct imap_command.  Each line is tokenized as soon
 * as it arrives, so a bad command is refused before the session sends the
 * "+" for a synchronizing literal (RFC 3501 7.5), and a literal's size is
 * checked against the limits before a single byte of it is stored.
 *
 * Tokens are kept in a flat array (nodes) with a parent index while the
 * command grows; their bytes go to one arena, except literals which get
 * their own exactly-bounded buffers.  When the command is complete the
 * array is laid out as a tree whose lists are contiguous arrays. */
#include "imap/imap_parse.h"
#include "imap/imap_parse_private.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

#define NO_PARENT SIZE_MAX

/* RFC 3501 9 number is 32-bit and RFC 9051 number64 63-bit; a bare word of
 * digits is typed NUMBER when it fits in 64 bits (typed parsers apply the
 * exact bound). */
#define MAX_NUMBER_DIGITS 20
/* "<offset.count>" never needs more (two 20-digit numbers and a dot). */
#define MAX_PARTIAL_LEN 41

struct pnode {
	enum imap_arg_type type;
	size_t parent;
	size_t idx;            /* position among the parent's children */
	size_t off, len;       /* bytes in the arena; literals: see lit */
	size_t lit;            /* literals: index in p->lits */
	size_t poff, plen;     /* SECTION partial in the arena */
	bool has_partial;
	bool eightbit;
	size_t count;          /* LIST/SECTION children */
	uint64_t num;
};

struct plit {
	char *data;
	size_t len, cap, size;
};

enum pstate {
	ST_IDLE,         /* expecting the first line of a command */
	ST_LITERAL,      /* reading literal bytes */
	ST_CONT,         /* expecting the line that follows a literal */
	ST_DONE,         /* a command waits for imap_parser_take() */
	ST_SKIP_LITERAL, /* dropping a {n+} literal of a rejected command */
	ST_SKIP_LINE,    /* dropping the next line of a rejected command */
};

struct imap_parser {
	struct imap_parse_limits lim;
	enum pstate st;

	struct buf arena;
	struct pnode *nodes;
	size_t nnodes, nodes_cap, ntop;
	size_t *stack;         /* open LIST/SECTION nodes */
	size_t depth;
	struct plit *lits;
	size_t nlits, lits_cap;

	size_t tag_off, tag_len, name_off;
	bool tag_known, uid;
	size_t append_from;   /* APPEND 1, REPLACE 2: the argument message data may
	                       * start at (0: no message data) */
	bool sections;         /* FETCH: NAME[...]<...> is one token */
	bool setmetadata;      /* SETMETADATA: its values have their own limit */
	bool refused;          /* dropping a valid command refused at a {n+}
	                        * literal; its error (p->err) comes at its end */
	uint64_t cmd_size, append_total;

	struct imap_literal_info litinfo;
	uint64_t lit_remaining;
	size_t lit_node;

	struct imap_parse_error err;
	struct imap_command *ready;
};

void imap_parse_limits_default(struct imap_parse_limits *lim)
{
	lim->max_line = 65536;
	lim->max_literal = 65536;
	lim->max_append = 64u * 1024 * 1024;
	lim->max_append_total = 256u * 1024 * 1024;
	lim->max_command = 256 * 1024;
	lim->max_depth = 64;
	lim->max_tokens = 20000;
	lim->max_discard = 1024 * 1024;
	lim->max_metadata_value = 0;
	lim->nonsync = IMAP_NONSYNC_MINUS;
	lim->literal8 = true;
}

bool imap_word_eq(const char *s, size_t len, const char *upper)
{
	size_t n = strlen(upper);
	if (len != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (imap_upper(s[i]) != upper[i])
			return false;
	return true;
}

int imap_parse_uint(const char *s, size_t len, uint64_t max, bool nz, uint64_t *v_r)
{
	if (len == 0)
		return -1;
	if (nz && s[0] == '0')
		return -1;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (!imap_is_digit((unsigned char)s[i]))
			return -1;
		unsigned d = (unsigned)(s[i] - '0');
		if (d > max || v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*v_r = v;
	return 0;
}

/* ---- command state ---- */

static void lits_free(struct imap_parser *p)
{
	for (size_t i = 0; i < p->nlits; i++)
		free(p->lits[i].data);
	p->nlits = 0;
}

/* Longer tags are refused: a tag is an identifier, not data, and the
 * error reply echoes it. */
#define IMAP_TAG_MAX 1024

static void cmd_reset(struct imap_parser *p)
{
	buf_reset(&p->arena);
	lits_free(p);
	p->nnodes = p->ntop = p->depth = 0;
	p->tag_known = p->uid = p->sections = p->setmetadata = p->refused = false;
	p->append_from = 0;
	p->tag_off = p->tag_len = p->name_off = 0;
	p->cmd_size = p->append_total = 0;
	p->lit_remaining = 0;
}

struct imap_parser *imap_parser_new(const struct imap_parse_limits *lim)
{
	struct imap_parser *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->lim = *lim;
	if (p->lim.max_depth == 0)
		p->lim.max_depth = 1;
	if (p->lim.max_tokens == 0)
		p->lim.max_tokens = 1;
	p->stack = calloc(p->lim.max_depth, sizeof(*p->stack));
	if (!p->stack) {
		free(p);
		return NULL;
	}
	buf_init(&p->arena, 0);
	p->st = ST_IDLE;
	return p;
}

void imap_parser_set_limits(struct imap_parser *p, const struct imap_parse_limits *lim)
{
	/* The nesting stack was sized at creation: those two stay. */
	size_t depth = p->lim.max_depth, tokens = p->lim.max_tokens;
	p->lim = *lim;
	p->lim.max_depth = depth;
	p->lim.max_tokens = tokens;
}

void imap_parser_free(struct imap_parser **pp)
{
	struct imap_parser *p = *pp;
	if (!p)
		return;
	imap_command_free(&p->ready);
	lits_free(p);
	free(p->lits);
	free(p->nodes);
	free(p->stack);
	buf_free(&p->arena);
	free(p);
	*pp = NULL;
}

void imap_parser_reset(struct imap_parser *p)
{
	imap_command_free(&p->ready);
	cmd_reset(p);
	p->st = ST_IDLE;
}

bool imap_parser_line_tag(const struct imap_parser *p, const char *head, size_t len,
			  const char **tag_r, size_t *len_r)
{
	if (p->st != ST_IDLE && p->tag_known) {
		*tag_r = p->arena.data + p->tag_off;
		*len_r = p->tag_len;
		return true;
	}
	/* as command_start reads a tag */
	size_t i = 0;
	while (i < len && i <= IMAP_TAG_MAX && imap_is_tag_char((unsigned char)head[i]))
		i++;
	if (i == 0 || i > IMAP_TAG_MAX || i == len || head[i] != ' ')
		return false;
	*tag_r = head;
	*len_r = i;
	return true;
}

const struct imap_literal_info *imap_parser_literal(const struct imap_parser *p)
{
	return &p->litinfo;
}

const struct imap_parse_error *imap_parser_error(const struct imap_parser *p)
{
	return &p->err;
}

/* ---- errors and resynchronisation ---- */

/* RFC 7888 3: the end of every line is checked for "{n+}".  Returns true
 * when the line ends in a literal announcement; the size saturates. */
static bool trailing_literal(const char *line, size_t len, uint64_t *n_r, bool *nonsync_r)
{
	if (len < 3 || line[len - 1] != '}')
		return false;
	size_t i = len - 1;
	bool nonsync = false;
	if (line[i - 1] == '+') {
		nonsync = true;
		i--;
	}
	size_t end = i;
	while (i > 0 && imap_is_digit((unsigned char)line[i - 1]))
		i--;
	if (i == end || i == 0 || line[i - 1] != '{')
		return false;
	uint64_t n;
	if (imap_parse_uint(line + i, end - i, UINT64_MAX, false, &n) < 0)
		n = UINT64_MAX;
	*n_r = n;
	*nonsync_r = nonsync;
	return true;
}

/* What kind of error: plain syntax, an implementation limit (RFC 5530
 * [LIMIT]) or a size limit (RFC 7888 5 / RFC 4469 [TOOBIG]). */
enum errkind {
	E_SYNTAX,
	E_LIMIT,
	E_TOOBIG,
};

static void err_set(struct imap_parser *p, const char *msg, enum errkind kind)
{
	/* The command is refused: its literals are dead weight now.  Freed at
	 * once, not at the next command, so an idle session after an error
	 * holds none of them (the session gave their budget back). */
	lits_free(p);
	p->err.msg = msg;
	p->err.tag_known = p->tag_known;
	p->err.tag = p->tag_known ? p->arena.data + p->tag_off : NULL;
	p->err.tag_len = p->tag_known ? p->tag_len : 0;
	p->err.toobig = kind == E_TOOBIG;
	p->err.limit = kind != E_SYNTAX;
	p->err.recovery = IMAP_RECOVER_NONE;
	p->err.discard = 0;
	p->err.metadata_maxsize = 0;
	p->refused = false;
}

/* Reject the command being read from `line`.  If the line ends in a
 * non-synchronizing literal the client sends it (and more) regardless, so
 * those bytes must be dropped or the connection closed (RFC 7888 4); a
 * synchronizing literal is simply never invited. */
static enum imap_parse_status fail_line(struct imap_parser *p, const char *msg, enum errkind kind,
                                        const char *line, size_t len)
{
	err_set(p, msg, kind);
	uint64_t n;
	bool nonsync;
	p->st = ST_IDLE;
	if (line && trailing_literal(line, len, &n, &nonsync) && nonsync) {
		if (n > p->lim.max_discard) {
			p->err.recovery = IMAP_RECOVER_CLOSE;
		} else {
			p->err.recovery = IMAP_RECOVER_DISCARD;
			p->err.discard = n;
			p->lit_remaining = n;
			p->st = n ? ST_SKIP_LITERAL : ST_SKIP_LINE;
		}
	}
	return IMAP_PARSE_ERROR;
}

/* RFC 5464 4.3: "If the server is unable to set an annotation because the
 * size of its value is too large, the server MUST return a tagged NO
 * response with a "[METADATA MAXSIZE NNN]" response code".  The command is
 * valid, so not BAD, and the value is never read into memory: a
 * synchronizing literal is not invited (RFC 9051 7.5: the tagged NO instead
 * of "+"); a {n+} one comes anyway (RFC 7888 4), so it and the rest of the
 * command are read and dropped, whatever their size (dropping costs no
 * memory), and the NO is the answer to the whole command, at its end. */
static enum imap_parse_status refuse_metadata_value(struct imap_parser *p, uint64_t n, bool nonsync,
						    uint64_t max)
{
	err_set(p, "Value too large", E_SYNTAX);
	p->err.metadata_maxsize = max;
	if (!nonsync) {
		p->st = ST_IDLE;
		return IMAP_PARSE_ERROR;
	}
	p->refused = true;
	p->litinfo = (struct imap_literal_info){ .size = n, .discard = true };
	p->lit_remaining = n;
	p->st = n ? ST_SKIP_LITERAL : ST_SKIP_LINE;
	return IMAP_PARSE_NEED_LITERAL;
}

static enum imap_parse_status fail_close(struct imap_parser *p, const char *msg)
{
	err_set(p, msg, E_SYNTAX);
	p->err.recovery = IMAP_RECOVER_CLOSE;
	p->st = ST_IDLE;
	return IMAP_PARSE_ERROR;
}

/* ---- tokens ---- */

static bool top_is(const struct imap_parser *p, enum imap_arg_type t)
{
	return p->depth > 0 && p->nodes[p->stack[p->depth - 1]].type == t;
}

/* A new node under the innermost open list; NULL past max_tokens or when
 * memory is short (*toomany_r tells which). */
static struct pnode *node_add(struct imap_parser *p, enum imap_arg_type type, bool *toomany_r)
{
	*toomany_r = false;
	if (p->nnodes >= p->lim.max_tokens) {
		*toomany_r = true;
		return NULL;
	}
	if (p->nnodes == p->nodes_cap) {
		size_t cap = p->nodes_cap ? p->nodes_cap * 2 : 32;
		if (cap > p->lim.max_tokens)
			cap = p->lim.max_tokens;
		struct pnode *n = realloc(p->nodes, cap * sizeof(*n));
		if (!n)
			return NULL;
		p->nodes = n;
		p->nodes_cap = cap;
	}
	struct pnode *n = &p->nodes[p->nnodes];
	memset(n, 0, sizeof(*n));
	n->type = type;
	if (p->depth > 0) {
		n->parent = p->stack[p->depth - 1];
		n->idx = p->nodes[n->parent].count++;
	} else {
		n->parent = NO_PARENT;
		n->idx = p->ntop++;
	}
	p->nnodes++;
	return n;
}

#define NODE_ADD(p, n, type, line, len)                                               \
	do {                                                                          \
		bool toomany_;                                                        \
		(n) = node_add((p), (type), &toomany_);                               \
		if (!(n))                                                             \
			return toomany_ ? fail_line((p), "Too many arguments", E_LIMIT, \
			                            (line), (len))                    \
			                : fail_close((p), "Out of memory");           \
	} while (0)

/* Store bytes in the arena, NUL-terminated; -1 when memory is short. */
static int arena_put(struct imap_parser *p, const char *s, size_t len, size_t *off_r)
{
	*off_r = p->arena.len;
	if (buf_append(&p->arena, s, len) < 0 || buf_putc(&p->arena, '\0') < 0)
		return -1;
	return 0;
}

static bool is_section_prefix(const char *s, size_t len)
{
	static const char *const prefixes[] = {
		"BODY", "BODY.PEEK", "BINARY", "BINARY.PEEK", "BINARY.SIZE",
	};
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (imap_word_eq(s, len, prefixes[i]))
			return true;
	return false;
}

static enum imap_parse_status push(struct imap_parser *p, size_t node, const char *line, size_t len)
{
	if (p->depth >= p->lim.max_depth)
		return fail_line(p, "Arguments nested too deeply", E_LIMIT, line, len);
	p->stack[p->depth++] = node;
	return IMAP_PARSE_NEED_LINE;
}

/* RFC 5464 5: SETMETADATA mailbox SP "(" entry SP value *(SP entry SP
 * value) ")": a literal announced now is a value when it is at an odd
 * place of the list that is the second argument. */
static bool metadata_value_next(const struct imap_parser *p)
{
	if (!p->setmetadata || p->depth != 1)
		return false;
	const struct pnode *list = &p->nodes[p->stack[0]];
	return list->type == IMAP_ARG_LIST && list->parent == NO_PARENT && list->idx == 1 &&
	       list->count % 2 == 1;
}

/* "{n}", "{n+}", "~{n}" or "~{n+}" at line[i] (i at '{' or '~'). */
static enum imap_parse_status literal_announce(struct imap_parser *p, const char *line, size_t len,
                                               size_t i)
{
	bool lit8 = line[i] == '~';
	i += lit8 ? 2 : 1;
	size_t ds = i;
	while (i < len && imap_is_digit((unsigned char)line[i]))
		i++;
	if (i == ds)
		return fail_line(p, "Invalid literal size", E_SYNTAX, line, len);
	uint64_t n;
	if (imap_parse_uint(line + ds, i - ds, UINT64_MAX, false, &n) < 0)
		n = UINT64_MAX;
	bool nonsync = false;
	if (i < len && line[i] == '+') {
		nonsync = true;
		i++;
	}
	if (i >= len || line[i] != '}')
		return fail_line(p, "Invalid literal announcement", E_SYNTAX, line, len);
	if (i + 1 != len)
		return fail_line(p, "A literal announcement must end the line", E_SYNTAX, line, len);

	if (lit8 && !p->lim.literal8)
		return fail_line(p, "literal8 needs the BINARY extension", E_SYNTAX, line, len);
	if (nonsync && p->lim.nonsync == IMAP_NONSYNC_NONE)
		return fail_line(p, "Non-synchronizing literals are not supported", E_SYNTAX, line, len);
	if (nonsync && p->lim.nonsync == IMAP_NONSYNC_MINUS && n > IMAP_LITERAL_MINUS_MAX)
		return fail_line(p, "Non-synchronizing literal larger than 4096 octets (LITERAL-)", E_TOOBIG,
		                 line, len);
	/* A SETMETADATA value has the server's limit for values, which it
	 * answers with NO (RFC 5464 4.3); a smaller one is a literal like any
	 * other below. */
	if (p->lim.max_metadata_value && metadata_value_next(p)) {
		uint64_t max = p->lim.max_metadata_value < p->lim.max_literal ? p->lim.max_metadata_value
									       : p->lim.max_literal;
		if (n > max)
			return refuse_metadata_value(p, n, nonsync, max);
	}
	/* APPEND and REPLACE message data (anything after the mailbox name)
	 * has its own, larger limit; everything else counts against the
	 * command. */
	bool message = p->append_from && (p->depth > 0 || p->ntop >= p->append_from);
	if (message) {
		if (p->lim.max_append == 0)
			return fail_line(p, "No message data accepted now (log in first)", E_TOOBIG,
			                 line, len);
		if (n > p->lim.max_append)
			return fail_line(p, "Message too large", E_TOOBIG, line, len);
		if (n > p->lim.max_append_total - p->append_total)
			return fail_line(p, "Messages too large in total", E_TOOBIG, line, len);
	} else {
		if (n > p->lim.max_literal)
			return fail_line(p, "Literal too large", E_TOOBIG, line, len);
		if (n > p->lim.max_command || p->cmd_size > p->lim.max_command - n)
			return fail_line(p, "Command too large", E_TOOBIG, line, len);
	}
	if (p->nlits == p->lits_cap) {
		size_t cap = p->lits_cap ? p->lits_cap * 2 : 4;
		struct plit *l = realloc(p->lits, cap * sizeof(*l));
		if (!l)
			return fail_close(p, "Out of memory");
		p->lits = l;
		p->lits_cap = cap;
	}
	struct pnode *node;
	NODE_ADD(p, node, lit8 ? IMAP_ARG_LITERAL8 : IMAP_ARG_LITERAL, line, len);
	node->lit = p->nlits;
	p->lits[p->nlits++] = (struct plit){ .size = (size_t)n };
	p->lit_node = p->nnodes - 1;
	if (message)
		p->append_total += n;
	else
		p->cmd_size += n;
	p->litinfo = (struct imap_literal_info){ .size = n, .sync = !nonsync, .literal8 = lit8 };
	p->lit_remaining = n;
	p->st = n ? ST_LITERAL : ST_CONT;
	return IMAP_PARSE_NEED_LITERAL;
}

static enum imap_parse_status quoted(struct imap_parser *p, const char *line, size_t len, size_t *ip)
{
	size_t i = *ip + 1;
	size_t off = p->arena.len;
	bool eightbit = false;
	for (;;) {
		size_t run = i;
		while (i < len && line[i] != '"' && line[i] != '\\' && line[i] != '\r' && line[i] != '\n') {
			if ((unsigned char)line[i] >= 0x80)
				eightbit = true;
			i++;
		}
		if (buf_append(&p->arena, line + run, i - run) < 0)
			return fail_close(p, "Out of memory");
		if (i == len)
			return fail_line(p, "Unterminated quoted string", E_SYNTAX, line, len);
		if (line[i] == '"')
			break;
		if (line[i] != '\\')
			return fail_line(p, "CR or LF in a quoted string", E_SYNTAX, line, len);
		/* RFC 3501 9: QUOTED-CHAR allows only "\" quoted-specials. */
		if (i + 1 == len || (line[i + 1] != '"' && line[i + 1] != '\\'))
			return fail_line(p, "Invalid escape in a quoted string", E_SYNTAX, line, len);
		if (buf_putc(&p->arena, line[i + 1]) < 0)
			return fail_close(p, "Out of memory");
		i += 2;
	}
	size_t slen = p->arena.len - off;
	if (buf_putc(&p->arena, '\0') < 0)
		return fail_close(p, "Out of memory");
	struct pnode *n;
	NODE_ADD(p, n, IMAP_ARG_QUOTED, line, len);
	n->off = off;
	n->len = slen;
	n->eightbit = eightbit;
	*ip = i + 1;
	return IMAP_PARSE_NEED_LINE;
}

/* A bare word, or (in FETCH) the start of a BODY[ section. */
static enum imap_parse_status word(struct imap_parser *p, const char *line, size_t len, size_t *ip)
{
	size_t s = *ip, i = *ip;
	bool in_section = top_is(p, IMAP_ARG_SECTION);
	while (i < len) {
		unsigned char c = (unsigned char)line[i];
		if (c == ' ' || c == '(' || c == ')')
			break;
		if (c == ']' && in_section)
			break;
		if (c == '[' && p->sections && is_section_prefix(line + s, i - s)) {
			struct pnode *n;
			NODE_ADD(p, n, IMAP_ARG_SECTION, line, len);
			if (arena_put(p, line + s, i - s, &n->off) < 0)
				return fail_close(p, "Out of memory");
			n->len = i - s;
			*ip = i + 1;
			return push(p, p->nnodes - 1, line, len);
		}
		if (c == '"')
			return fail_line(p, "Quote inside an atom", E_SYNTAX, line, len);
		if (c == '{')
			return fail_line(p, "'{' inside an atom", E_SYNTAX, line, len);
		if (c >= 0x80)
			return fail_line(p, "8-bit octet in an atom", E_SYNTAX, line, len);
		if (c < 0x20 || c == 0x7f)
			return fail_line(p, "Control character in an atom", E_SYNTAX, line, len);
		i++;
	}
	size_t wlen = i - s;
	enum imap_arg_type type = IMAP_ARG_ATOM;
	uint64_t num = 0;
	if (wlen <= MAX_NUMBER_DIGITS && imap_parse_uint(line + s, wlen, UINT64_MAX, false, &num) == 0)
		type = IMAP_ARG_NUMBER;
	else if (imap_word_eq(line + s, wlen, "NIL"))
		type = IMAP_ARG_NIL;
	struct pnode *n;
	NODE_ADD(p, n, type, line, len);
	n->num = num;
	n->len = wlen;
	if (arena_put(p, line + s, wlen, &n->off) < 0)
		return fail_close(p, "Out of memory");
	*ip = i;
	return IMAP_PARSE_NEED_LINE;
}

/* "]" closing a section, then an optional "<partial>". */
static enum imap_parse_status section_close(struct imap_parser *p, const char *line, size_t len,
                                            size_t *ip)
{
	size_t node = p->stack[--p->depth];
	size_t i = *ip + 1;
	if (i < len && line[i] == '<') {
		size_t ps = ++i;
		while (i < len && line[i] != '>') {
			if (!imap_is_digit((unsigned char)line[i]) && line[i] != '.')
				return fail_line(p, "Invalid partial", E_SYNTAX, line, len);
			if (i - ps >= MAX_PARTIAL_LEN)
				return fail_line(p, "Invalid partial", E_SYNTAX, line, len);
			i++;
		}
		if (i == len)
			return fail_line(p, "Unterminated partial", E_SYNTAX, line, len);
		size_t off;
		if (arena_put(p, line + ps, i - ps, &off) < 0)
			return fail_close(p, "Out of memory");
		struct pnode *n = &p->nodes[node];
		n->poff = off;
		n->plen = i - ps;
		n->has_partial = true;
		i++;
	}
	*ip = i;
	return IMAP_PARSE_NEED_LINE;
}

static enum imap_parse_status command_done(struct imap_parser *p);

/* Tokenize line[i..len).  `sep`: a token was just completed, so what follows
 * must be SP, ')', ']' or the end of the line (RFC 3501 9: exactly one SP);
 * `after_space`: an SP was just consumed, so a token must follow. */
static enum imap_parse_status tokenize(struct imap_parser *p, const char *line, size_t len, size_t i,
                                       bool sep, bool after_space)
{
	enum imap_parse_status st;
	for (;;) {
		if (i == len) {
			if (after_space)
				return fail_line(p, "Trailing space", E_SYNTAX, line, len);
			if (p->depth > 0)
				return fail_line(p, top_is(p, IMAP_ARG_LIST) ? "Missing ')'" : "Missing ']'", E_SYNTAX,
				                 line, len);
			return command_done(p);
		}
		unsigned char c = (unsigned char)line[i];
		if (sep) {
			if (c == ' ') {
				sep = false;
				after_space = true;
				i++;
			} else if (c == ')' && top_is(p, IMAP_ARG_LIST)) {
				p->depth--;
				i++;
			} else if (c == ']' && top_is(p, IMAP_ARG_SECTION)) {
				if ((st = section_close(p, line, len, &i)) != IMAP_PARSE_NEED_LINE)
					return st;
			} else if (c == ')') {
				return fail_line(p, "Unbalanced ')'", E_SYNTAX, line, len);
			} else {
				return fail_line(p, "Expected SP between arguments", E_SYNTAX, line, len);
			}
			continue;
		}
		if (c == ' ')
			return fail_line(p, after_space ? "Extra space between arguments" : "Unexpected space",
			                 E_SYNTAX, line, len);
		if (c == ')') {
			if (!top_is(p, IMAP_ARG_LIST))
				return fail_line(p, "Unbalanced ')'", E_SYNTAX, line, len);
			if (after_space)
				return fail_line(p, "Space before ')'", E_SYNTAX, line, len);
			p->depth--; /* "()" */
			i++;
			sep = true;
			continue;
		}
		if (c == ']' && top_is(p, IMAP_ARG_SECTION)) {
			if (after_space)
				return fail_line(p, "Space before ']'", E_SYNTAX, line, len);
			if ((st = section_close(p, line, len, &i)) != IMAP_PARSE_NEED_LINE)
				return st;
			sep = true;
			continue;
		}
		after_space = false;
		if (c == '(') {
			struct pnode *n;
			NODE_ADD(p, n, IMAP_ARG_LIST, line, len);
			n->off = 0;
			if ((st = push(p, p->nnodes - 1, line, len)) != IMAP_PARSE_NEED_LINE)
				return st;
			i++;
			continue;
		}
		if (c == '{' || (c == '~' && i + 1 < len && line[i + 1] == '{'))
			return literal_announce(p, line, len, i);
		if (c == '"')
			st = quoted(p, line, len, &i);
		else
			st = word(p, line, len, &i);
		if (st != IMAP_PARSE_NEED_LINE)
			return st;
		/* word() may have opened a section: then a token or ']' follows */
		sep = !(p->depth > 0 && p->stack[p->depth - 1] == p->nnodes - 1 &&
		        p->nodes[p->nnodes - 1].type == IMAP_ARG_SECTION);
	}
}

static enum imap_parse_status line_checks(struct imap_parser *p, const char *line, size_t len)
{
	if (len > p->lim.max_line)
		return fail_line(p, "Command line too long", E_TOOBIG, line, len);
	if (len > 0 && memchr(line, '\0', len))
		return fail_line(p, "NUL octet in a command line", E_SYNTAX, line, len);
	/* +2: the CRLF */
	if (len > p->lim.max_command || p->cmd_size > p->lim.max_command - len ||
	    p->lim.max_command - len - p->cmd_size < 2)
		return fail_line(p, "Command too large", E_TOOBIG, line, len);
	p->cmd_size += len + 2;
	return IMAP_PARSE_NEED_LINE;
}

static enum imap_parse_status command_start(struct imap_parser *p, const char *line, size_t len)
{
	cmd_reset(p);
	/* Some clients send an empty line after an APPEND literal; it carries
	 * no command, so it is not worth a BAD. */
	if (len == 0)
		return IMAP_PARSE_NEED_LINE;
	/* The tag first, so that a line refused as a whole (too long, NUL
	 * octets) still gets a tagged BAD the client can match (RFC 9051
	 * 7.1.3: untagged BAD only when the tag cannot be found). */
	size_t i = 0;
	while (i < len && line[i] != ' ' && i <= IMAP_TAG_MAX) {
		if (!imap_is_tag_char((unsigned char)line[i]))
			break;
		i++;
	}
	bool tag_ok = i > 0 && i <= IMAP_TAG_MAX && (i == len || line[i] == ' ');
	if (tag_ok) {
		if (arena_put(p, line, i, &p->tag_off) < 0)
			return fail_close(p, "Out of memory");
		p->tag_len = i;
		p->tag_known = true;
	}
	enum imap_parse_status st = line_checks(p, line, len);
	if (st != IMAP_PARSE_NEED_LINE)
		return st;
	if (!tag_ok)
		return fail_line(p, i == 0 && (len == 0 || line[0] == ' ') ? "Missing tag" : "Invalid tag",
		                 E_SYNTAX, line, len);

	bool have_name = false;
	for (;;) {
		if (i == len || i + 1 == len || line[i + 1] == ' ')
			return fail_line(p, have_name ? "Missing command after UID" : "Missing command name",
			                 E_SYNTAX, line, len);
		size_t s = ++i;
		while (i < len && line[i] != ' ') {
			if (!imap_is_atom_char((unsigned char)line[i]))
				return fail_line(p, "Invalid command name", E_SYNTAX, line, len);
			i++;
		}
		if (have_name || !imap_word_eq(line + s, i - s, "UID")) {
			size_t off;
			if (arena_put(p, line + s, i - s, &off) < 0)
				return fail_close(p, "Out of memory");
			for (size_t k = 0; k < i - s; k++)
				p->arena.data[off + k] = imap_upper(p->arena.data[off + k]);
			p->name_off = off;
			break;
		}
		p->uid = true;
		have_name = true;
	}
	/* Message data has APPENDLIMIT's limit, after the mailbox name:
	 * APPEND mailbox ..., [UID] REPLACE number mailbox ... (RFC 8508 5). */
	if (!p->uid && strcmp(p->arena.data + p->name_off, "APPEND") == 0)
		p->append_from = 1;
	else if (strcmp(p->arena.data + p->name_off, "REPLACE") == 0)
		p->append_from = 2;
	/* Only FETCH and NOTIFY (RFC 5465 8: MessageNew's fetch-atts) take
	 * sections (RFC 3501 9 fetch-att); elsewhere '[' and ']' are atom
	 * characters, as in the mailbox name "[Gmail]/Sent" (which stays
	 * one in NOTIFY: only BODY[, BINARY[ and the like open a section). */
	p->sections = strcmp(p->arena.data + p->name_off, "FETCH") == 0 ||
		      strcmp(p->arena.data + p->name_off, "NOTIFY") == 0;
	p->setmetadata = !p->uid && strcmp(p->arena.data + p->name_off, "SETMETADATA") == 0;
	if (i == len)
		return command_done(p);
	return tokenize(p, line, len, i + 1, false, true);
}

enum imap_parse_status imap_parser_feed_line(struct imap_parser *p, const char *line, size_t len)
{
	enum imap_parse_status st;
	uint64_t n;
	bool nonsync;
	switch (p->st) {
	case ST_DONE:
		/* The caller did not take the previous command: drop it. */
		imap_command_free(&p->ready);
		p->st = ST_IDLE;
		/* fall through */
	case ST_IDLE:
		return command_start(p, line, len);
	case ST_CONT:
		if ((st = line_checks(p, line, len)) != IMAP_PARSE_NEED_LINE)
			return st;
		return tokenize(p, line, len, 0, true, false);
	case ST_SKIP_LINE:
		/* A line of a rejected command.  A synchronizing literal at its
		 * end is never invited, so the command ends here too. */
		p->litinfo = (struct imap_literal_info){ .discard = true };
		if (trailing_literal(line, len, &n, &nonsync) && nonsync) {
			/* A valid command being dropped (refused) may go on
			 * with values of any size: as cheap to drop as the
			 * first. */
			if (n > p->lim.max_discard && !p->refused)
				return fail_close(p, "Too much literal data in a rejected command");
			p->litinfo.size = n;
			p->lit_remaining = n;
			p->st = n ? ST_SKIP_LITERAL : ST_SKIP_LINE;
			return IMAP_PARSE_NEED_LITERAL;
		}
		p->st = ST_IDLE;
		if (p->refused) {
			/* The end of a refused command: now its answer. */
			p->refused = false;
			p->err.tag = p->tag_known ? p->arena.data + p->tag_off : NULL;
			return IMAP_PARSE_ERROR;
		}
		return IMAP_PARSE_NEED_LINE;
	case ST_LITERAL:
	case ST_SKIP_LITERAL:
		break;
	}
	return fail_close(p, "Literal data expected, not a line");
}

enum imap_parse_status imap_parser_feed_literal(struct imap_parser *p, const void *data, size_t len,
                                                size_t *consumed_r)
{
	size_t take = len;
	if (consumed_r)
		*consumed_r = 0;
	if (p->st == ST_SKIP_LITERAL) {
		if (take > p->lit_remaining)
			take = (size_t)p->lit_remaining;
		p->lit_remaining -= take;
		if (consumed_r)
			*consumed_r = take;
		if (p->lit_remaining > 0)
			return IMAP_PARSE_NEED_LITERAL;
		p->st = ST_SKIP_LINE;
		return IMAP_PARSE_NEED_LINE;
	}
	if (p->st != ST_LITERAL) {
		if (len == 0 && (p->st == ST_CONT || p->st == ST_SKIP_LINE))
			return IMAP_PARSE_NEED_LINE; /* a zero-size literal, already complete */
		return fail_close(p, "No literal data expected");
	}
	if (take > p->lit_remaining)
		take = (size_t)p->lit_remaining;
	struct pnode *node = &p->nodes[p->lit_node];
	struct plit *l = &p->lits[node->lit];
	/* Grow geometrically but never beyond the announced size, so a client
	 * that announces a large literal costs memory only as bytes arrive. */
	if (l->len + take + 1 > l->cap) {
		size_t cap = l->cap ? l->cap : 4096;
		while (cap < l->len + take + 1)
			cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
		if (cap > l->size + 1)
			cap = l->size + 1;
		char *d = realloc(l->data, cap);
		if (!d)
			return fail_close(p, "Out of memory");
		l->data = d;
		l->cap = cap;
	}
	const unsigned char *b = data;
	if (take)
		memcpy(l->data + l->len, b, take);
	for (size_t k = 0; k < take && !node->eightbit; k++)
		if (b[k] >= 0x80)
			node->eightbit = true;
	bool nul = node->type == IMAP_ARG_LITERAL && take && memchr(b, '\0', take);
	l->len += take;
	p->lit_remaining -= take;
	if (consumed_r)
		*consumed_r = take;
	if (nul) {
		/* RFC 3501 9: literal = ... *CHAR8, CHAR8 = %x01-ff; only literal8
		 * carries NUL.  The rest of the literal and command are dropped. */
		err_set(p, "NUL octet in a literal (use literal8)", E_SYNTAX);
		if (p->lit_remaining > p->lim.max_discard) {
			p->err.recovery = IMAP_RECOVER_CLOSE;
			p->st = ST_IDLE;
			return IMAP_PARSE_ERROR;
		}
		p->err.recovery = IMAP_RECOVER_DISCARD;
		p->err.discard = p->lit_remaining;
		p->st = p->lit_remaining ? ST_SKIP_LITERAL : ST_SKIP_LINE;
		return IMAP_PARSE_ERROR;
	}
	if (p->lit_remaining > 0)
		return IMAP_PARSE_NEED_LITERAL;
	l->data[l->len] = '\0';
	p->st = ST_CONT;
	return IMAP_PARSE_NEED_LINE;
}

enum imap_parse_status imap_parser_literal_refuse(struct imap_parser *p, const char *msg)
{
	if (p->st != ST_LITERAL)
		return fail_close(p, "No literal expected");
	err_set(p, msg, E_LIMIT);
	if (p->litinfo.sync) {
		/* RFC 3501 7.5 / RFC 9051 7.5: without the "+" the client sends
		 * no literal, and the tagged reply ends its command. */
		p->st = ST_IDLE;
		return IMAP_PARSE_ERROR;
	}
	/* RFC 7888 4: a {n+} literal comes anyway; read and drop it, and the
	 * rest of the command, at no cost in memory. */
	p->err.recovery = IMAP_RECOVER_DISCARD;
	p->err.discard = p->lit_remaining;
	p->st = p->lit_remaining ? ST_SKIP_LITERAL : ST_SKIP_LINE;
	return IMAP_PARSE_ERROR;
}

/* ---- the finished command ---- */

static enum imap_parse_status command_done(struct imap_parser *p)
{
	struct imap_command *cmd = calloc(1, sizeof(*cmd));
	size_t *start = calloc(p->nnodes ? p->nnodes : 1, sizeof(*start));
	struct imap_arg *out = calloc(p->nnodes ? p->nnodes : 1, sizeof(*out));
	char **lits = calloc(p->nlits ? p->nlits : 1, sizeof(*lits));
	if (!cmd || !start || !out || !lits) {
		free(cmd);
		free(start);
		free(out);
		free(lits);
		return fail_close(p, "Out of memory");
	}
	/* Lay the tree out so that every list's items are contiguous: the top
	 * level first, then each container's block in node order. */
	size_t next = p->ntop;
	for (size_t i = 0; i < p->nnodes; i++) {
		start[i] = next;
		if (p->nodes[i].type == IMAP_ARG_LIST || p->nodes[i].type == IMAP_ARG_SECTION)
			next += p->nodes[i].count;
	}
	for (size_t i = 0; i < p->nnodes; i++) {
		const struct pnode *n = &p->nodes[i];
		size_t pos = n->parent == NO_PARENT ? n->idx : start[n->parent] + n->idx;
		struct imap_arg *a = &out[pos];
		a->type = n->type;
		a->num = n->num;
		a->eightbit = n->eightbit;
		if (n->type == IMAP_ARG_LITERAL || n->type == IMAP_ARG_LITERAL8) {
			struct plit *l = &p->lits[n->lit];
			a->str = l->data ? l->data : "";
			a->len = l->len;
		} else if (n->type == IMAP_ARG_LIST) {
			a->str = "";
		} else {
			a->str = p->arena.data + n->off;
			a->len = n->len;
		}
		if (n->type == IMAP_ARG_LIST || n->type == IMAP_ARG_SECTION) {
			a->list = n->count ? &out[start[i]] : NULL;
			a->count = n->count;
		}
		if (n->has_partial) {
			a->partial = p->arena.data + n->poff;
			a->partial_len = n->plen;
		}
	}
	free(start);
	for (size_t i = 0; i < p->nlits; i++) {
		lits[i] = p->lits[i].data;
		p->lits[i].data = NULL;
	}
	cmd->nlits_ = p->nlits;
	p->nlits = 0;
	cmd->lits_ = lits;
	cmd->nodes_ = out;
	cmd->args = out;
	cmd->nargs = p->ntop;
	cmd->tag = p->arena.data + p->tag_off;
	cmd->tag_len = p->tag_len;
	cmd->name = p->arena.data + p->name_off;
	cmd->uid = p->uid;
	cmd->size = (size_t)(p->cmd_size + p->append_total);
	/* The arena now belongs to the command. */
	cmd->arena_ = p->arena.data;
	buf_init(&p->arena, 0);
	p->ready = cmd;
	p->st = ST_DONE;
	return IMAP_PARSE_DONE;
}

struct imap_command *imap_parser_take(struct imap_parser *p)
{
	if (p->st != ST_DONE)
		return NULL;
	struct imap_command *cmd = p->ready;
	p->ready = NULL;
	cmd_reset(p);
	p->st = ST_IDLE;
	return cmd;
}

void imap_command_free(struct imap_command **pc)
{
	struct imap_command *cmd = *pc;
	if (!cmd)
		return;
	for (size_t i = 0; i < cmd->nlits_; i++)
		free(cmd->lits_[i]);
	free(cmd->lits_);
	free(cmd->nodes_);
	free(cmd->arena_);
	free(cmd);
	*pc = NULL;
}
