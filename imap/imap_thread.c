/* imap/imap_thread.c: the THREAD algorithms of RFC 5256 3 (ORDEREDSUBJECT
 * and REFERENCES, every step) and the THREAD response's thread-lists
 * (RFC 5256 4).  Pure: messages come as struct imap_sort_msg with their
 * strings in a pool (imap_sort.h).
 *
 * The tree is an array of nodes linked by index (a message or a dummy),
 * Message-IDs are found through one open-addressing table, and every walk
 * (loop checks aside, which climb parents) uses an explicit stack: a chain
 * of replies as long as the mailbox costs heap, not C stack, which matters
 * on a worker thread.  Costs: O(n + references) for the links (a loop
 * check climbs only above a node that already has children), O(n log n)
 * for the sorts. */
#include <stdlib.h>
#include <string.h>

#include "imap/imap_sort.h"

#define NIL UINT32_MAX

struct tnode {
	uint32_t msg;            /* index into msgs, or NIL: a dummy */
	uint32_t parent, child, last, next, prev;
};

struct tree {
	const struct imap_sort_msg *msgs;
	const char *pool;
	struct tnode *nodes;
	size_t count, cap;
	/* Message-ID -> node (open addressing, pool offsets of the keys). */
	uint32_t *slot_key, *slot_node;
	size_t nslots;
};

static uint32_t node_new(struct tree *t, uint32_t msg)
{
	if (t->count == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct tnode *p = realloc(t->nodes, cap * sizeof(*p));
		if (!p)
			return NIL;
		t->nodes = p;
		t->cap = cap;
	}
	if (t->count >= NIL)
		return NIL;
	t->nodes[t->count] = (struct tnode){ msg, NIL, NIL, NIL, NIL, NIL };
	return (uint32_t)t->count++;
}

static bool is_dummy(const struct tree *t, uint32_t n)
{
	return t->nodes[n].msg == NIL;
}

/* ---- the Message-ID table ---- */

static size_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;   /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return (size_t)h;
}

/* The slot of id (pool offset): its node, or the empty slot it would take. */
static size_t id_slot(const struct tree *t, uint32_t id)
{
	const char *s = t->pool + id;
	size_t i = hash_str(s) & (t->nslots - 1);
	while (t->slot_key[i] != NIL && strcmp(t->pool + t->slot_key[i], s) != 0)
		i = (i + 1) & (t->nslots - 1);
	return i;
}

/* The node of a referenced id, made a dummy when no message has it yet. */
static uint32_t id_node(struct tree *t, uint32_t id)
{
	size_t i = id_slot(t, id);
	if (t->slot_key[i] != NIL)
		return t->slot_node[i];
	uint32_t n = node_new(t, NIL);
	if (n != NIL) {
		t->slot_key[i] = id;
		t->slot_node[i] = n;
	}
	return n;
}

/* ---- links ---- */

static void unlink_node(struct tree *t, uint32_t c)
{
	struct tnode *n = &t->nodes[c];
	if (n->parent == NIL)
		return;
	struct tnode *p = &t->nodes[n->parent];
	if (n->prev != NIL)
		t->nodes[n->prev].next = n->next;
	else
		p->child = n->next;
	if (n->next != NIL)
		t->nodes[n->next].prev = n->prev;
	else
		p->last = n->prev;
	n->parent = n->next = n->prev = NIL;
}

static void append_child(struct tree *t, uint32_t p, uint32_t c)
{
	struct tnode *pn = &t->nodes[p], *cn = &t->nodes[c];
	cn->parent = p;
	cn->next = NIL;
	cn->prev = pn->last;
	if (pn->last != NIL)
		t->nodes[pn->last].next = c;
	else
		pn->child = c;
	pn->last = c;
}

/* Making p the parent of c would close a loop: p is c or below it.  A
 * childless c (the usual case: a message seen for the first time) needs
 * no climb, so a long reply chain costs no more than a short one. */
static bool would_loop(const struct tree *t, uint32_t p, uint32_t c)
{
	if (t->nodes[c].child == NIL)
		return p == c;
	for (uint32_t a = p; a != NIL; a = t->nodes[a].parent)
		if (a == c)
			return true;
	return false;
}

/* ---- sorting sibling lists by sent date ---- */

struct skey {
	int64_t date;
	uint32_t seq;
	uint32_t node;
};

static int skey_cmp(const void *pa, const void *pb)
{
	const struct skey *a = pa, *b = pb;
	if (a->date != b->date)
		return a->date < b->date ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* The message a node sorts by: itself, or a dummy's first child (RFC 5256
 * 3 steps 4 and 6). */
static uint32_t sort_msg(const struct tree *t, uint32_t n)
{
	while (n != NIL && is_dummy(t, n))
		n = t->nodes[n].child;
	return n == NIL ? NIL : t->nodes[n].msg;
}

static struct skey skey_of(const struct tree *t, uint32_t n)
{
	uint32_t m = sort_msg(t, n);
	if (m == NIL)
		return (struct skey){ INT64_MAX, UINT32_MAX, n };
	return (struct skey){ t->msgs[m].date, t->msgs[m].seq, n };
}

/* Sorts the list v[0..n) of node indexes in place. */
static int nodes_sort(const struct tree *t, uint32_t *v, size_t n, struct skey **tmp, size_t *tcap)
{
	if (n < 2)
		return 0;
	if (n > *tcap) {
		struct skey *p = realloc(*tmp, n * sizeof(*p));
		if (!p)
			return -1;
		*tmp = p;
		*tcap = n;
	}
	for (size_t i = 0; i < n; i++)
		(*tmp)[i] = skey_of(t, v[i]);
	qsort(*tmp, n, sizeof(**tmp), skey_cmp);
	for (size_t i = 0; i < n; i++)
		v[i] = (*tmp)[i].node;
	return 0;
}

/* Sorts the children of node p (relinked in the new order). */
static int children_sort(struct tree *t, uint32_t p, uint32_t **vec, size_t *vcap,
			 struct skey **tmp, size_t *tcap)
{
	size_t n = 0;
	for (uint32_t c = t->nodes[p].child; c != NIL; c = t->nodes[c].next) {
		if (n == *vcap) {
			size_t cap = *vcap ? *vcap * 2 : 64;
			uint32_t *q = realloc(*vec, cap * sizeof(*q));
			if (!q)
				return -1;
			*vec = q;
			*vcap = cap;
		}
		(*vec)[n++] = c;
	}
	if (n < 2)
		return 0;
	if (nodes_sort(t, *vec, n, tmp, tcap) < 0)
		return -1;
	t->nodes[p].child = t->nodes[p].last = NIL;
	for (size_t i = 0; i < n; i++)
		append_child(t, p, (*vec)[i]);
	return 0;
}

/* ---- writing thread-lists ---- */

struct witem {
	uint32_t node;
	bool close;
};

static int push(struct witem **st, size_t *n, size_t *cap, struct witem it)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 64;
		struct witem *p = realloc(*st, c * sizeof(*p));
		if (!p)
			return -1;
		*st = p;
		*cap = c;
	}
	(*st)[(*n)++] = it;
	return 0;
}

/* thread-list = "(" (thread-members / thread-nested) ")": a node's chain
 * of only children as numbers, then its children each in parentheses;
 * a dummy writes no number ("((3)(5))"). */
static int roots_write(const struct tree *t, const uint32_t *roots, size_t nroots,
		       struct buf *out)
{
	struct witem *st = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	for (size_t r = 0; r < nroots && rc == 0; r++) {
		if (roots[r] == NIL)
			continue;
		rc = push(&st, &n, &cap, (struct witem){ roots[r], false });
		while (n > 0 && rc == 0) {
			struct witem it = st[--n];
			if (it.close) {
				rc = buf_putc(out, ')');
				continue;
			}
			rc = buf_putc(out, '(') | push(&st, &n, &cap, (struct witem){ NIL, true });
			bool wrote = false;
			uint32_t x = it.node;
			while (rc == 0) {
				if (!is_dummy(t, x)) {
					if (wrote)
						rc |= buf_putc(out, ' ');
					rc |= buf_printf(out, "%u", (unsigned)t->msgs[t->nodes[x].msg].num);
					wrote = true;
				}
				uint32_t c = t->nodes[x].child;
				if (c == NIL)
					break;
				if (t->nodes[c].next == NIL && !is_dummy(t, x)) {
					x = c;
					continue;
				}
				if (wrote)
					rc |= buf_putc(out, ' ');
				/* Children pushed last first, so they come out in order. */
				for (uint32_t k = t->nodes[x].last; k != NIL && rc == 0; k = t->nodes[k].prev)
					rc = push(&st, &n, &cap, (struct witem){ k, false });
				break;
			}
		}
	}
	free(st);
	return rc ? -1 : 0;
}

/* ---- ORDEREDSUBJECT ---- */

struct osub {
	const struct imap_sort_msg *msgs;
	const char *pool;
};

static const struct imap_sort_crit subject_date[] = {
	{ IMAP_SORT_SUBJECT, false },
	{ IMAP_SORT_DATE, false },
};

static int ordered_subject(struct tree *t, size_t n, struct buf *out)
{
	/* Sorted by base subject, then sent date (then mailbox order). */
	struct imap_sort_msg *v = malloc((n ? n : 1) * sizeof(*v));
	uint32_t *roots = malloc((n ? n : 1) * sizeof(*roots));
	struct skey *tmp = NULL;
	size_t tcap = 0, nroots = 0;
	int rc = -1;
	if (!v || !roots)
		goto out;
	memcpy(v, t->msgs, n * sizeof(*v));
	/* seq doubles as the index back into msgs. */
	for (size_t i = 0; i < n; i++)
		v[i].seq = (uint32_t)i;
	if (imap_sort_run(v, n, subject_date, 2, t->pool) < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (node_new(t, v[i].seq) == NIL)
			goto out;
	/* The first of each subject is a thread's root; the rest are its
	 * children (RFC 5256 3: "no grandchildren"). */
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		while (j < n && strcmp(t->pool + v[j].str[IMAP_SORT_S_SUBJECT],
				       t->pool + v[i].str[IMAP_SORT_S_SUBJECT]) == 0) {
			append_child(t, (uint32_t)i, (uint32_t)j);
			j++;
		}
		roots[nroots++] = (uint32_t)i;
		i = j;
	}
	/* Threads by the sent date of their first message. */
	if (nodes_sort(t, roots, nroots, &tmp, &tcap) < 0)
		goto out;
	rc = roots_write(t, roots, nroots, out);
out:
	free(v);
	free(roots);
	free(tmp);
	return rc;
}

/* ---- REFERENCES ---- */

static size_t pow2_at_least(size_t n)
{
	size_t p = 16;
	while (p < n)
		p *= 2;
	return p;
}

/* Step 1: links from Message-IDs and references. */
static int refs_link(struct tree *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct imap_sort_msg *m = &t->msgs[i];
		uint32_t own = NIL;
		if (m->msgid != IMAP_SORT_NONE) {
			size_t s = id_slot(t, m->msgid);
			if (t->slot_key[s] == NIL) {
				if ((own = node_new(t, (uint32_t)i)) == NIL)
					return -1;
				t->slot_key[s] = m->msgid;
				t->slot_node[s] = own;
			} else if (is_dummy(t, t->slot_node[s])) {
				own = t->slot_node[s];
				t->nodes[own].msg = (uint32_t)i;
			}
			/* else a duplicate: a unique id of its own, below. */
		}
		if (own == NIL && (own = node_new(t, (uint32_t)i)) == NIL)
			return -1;
		/* (1A) consecutive references parent and child, unless the child
		 * has a parent already or the link would close a loop. */
		uint32_t prev = NIL;
		const char *r = t->pool + m->refs;
		for (uint32_t k = 0; k < m->nrefs; k++) {
			uint32_t id = (uint32_t)(r - t->pool);
			r += strlen(r) + 1;
			uint32_t x = id_node(t, id);
			if (x == NIL)
				return -1;
			if (prev != NIL && t->nodes[x].parent == NIL && !would_loop(t, prev, x))
				append_child(t, prev, x);
			prev = x;
		}
		/* (1B) the last reference is the parent, replacing any other. */
		unlink_node(t, own);
		if (prev != NIL && !would_loop(t, prev, own))
			append_child(t, prev, own);
	}
	return 0;
}

/* Steps 2 and 3: the roots, with dummies pruned.  Children are dealt with
 * before their parent (reverse pre-order), so a dummy's children are
 * already free of dummies when they are spliced in its place. */
static int refs_prune(struct tree *t, uint32_t **roots_r, size_t *nroots_r)
{
	size_t total = t->count;
	uint32_t *order = malloc((total ? total : 1) * sizeof(*order));
	uint32_t *stack = malloc((total ? total : 1) * sizeof(*stack));
	uint32_t *roots = malloc((total ? total : 1) * sizeof(*roots));
	size_t norder = 0, nroots = 0;
	int rc = -1;
	if (!order || !stack || !roots)
		goto out;
	for (uint32_t r = 0; r < total; r++) {
		if (t->nodes[r].parent != NIL)
			continue;
		size_t sp = 0;
		stack[sp++] = r;
		while (sp > 0) {
			uint32_t x = stack[--sp];
			order[norder++] = x;
			for (uint32_t c = t->nodes[x].child; c != NIL; c = t->nodes[c].next)
				stack[sp++] = c;
		}
	}
	for (size_t k = norder; k-- > 0;) {
		uint32_t x = order[k];
		struct tnode *xn = &t->nodes[x];
		uint32_t c = xn->child;
		xn->child = xn->last = NIL;
		while (c != NIL) {
			uint32_t next = t->nodes[c].next;
			struct tnode *cn = &t->nodes[c];
			if (cn->msg != NIL) {
				append_child(t, x, c);
			} else if (cn->child != NIL) {
				/* Splice the dummy's children in its place; the
				 * dummy, out of the tree, keeps no list of them (step
				 * 6 walks every node's list). */
				for (uint32_t g = cn->child; g != NIL;) {
					uint32_t gn = t->nodes[g].next;
					append_child(t, x, g);
					g = gn;
				}
				cn = &t->nodes[c];
				cn->child = cn->last = NIL;
			}
			c = next;
		}
		if (xn->parent != NIL)
			continue;
		/* Under the root: a dummy with no child goes; with one child,
		 * the child is promoted; with more it stays (RFC 5256 3 (3)). */
		if (xn->msg == NIL && xn->child == NIL)
			continue;
		if (xn->msg == NIL && t->nodes[xn->child].next == NIL) {
			uint32_t only = xn->child;
			t->nodes[only].parent = NIL;
			t->nodes[only].next = t->nodes[only].prev = NIL;
			xn->child = xn->last = NIL;
			roots[nroots++] = only;
			continue;
		}
		roots[nroots++] = x;
	}
	*roots_r = roots;
	*nroots_r = nroots;
	roots = NULL;
	rc = 0;
out:
	free(order);
	free(stack);
	free(roots);
	return rc;
}

/* The thread subject of a root (5.B.i): its own, or its first child's. */
static uint32_t thread_subject(const struct tree *t, uint32_t r)
{
	uint32_t m = t->nodes[r].msg;
	if (m == NIL) {
		uint32_t c = t->nodes[r].child;
		m = c == NIL ? NIL : t->nodes[c].msg;
	}
	return m == NIL ? IMAP_SORT_EMPTY : t->msgs[m].str[IMAP_SORT_S_SUBJECT];
}

/* Step 5: roots with the same base subject gathered. */
static int refs_gather_subjects(struct tree *t, uint32_t *roots, size_t nroots)
{
	size_t ns = pow2_at_least(nroots * 2 + 1);
	uint32_t *skey = malloc(ns * sizeof(*skey)), *sval = malloc(ns * sizeof(*sval));
	uint32_t *pos = malloc((t->count + nroots + 1) * sizeof(*pos));
	int rc = -1;
	if (!skey || !sval || !pos)
		goto out;
	memset(skey, 0xff, ns * sizeof(*skey));
	/* (B) one root per subject. */
	for (size_t k = 0; k < nroots; k++) {
		uint32_t r = roots[k];
		pos[r] = (uint32_t)k;
		uint32_t subj = thread_subject(t, r);
		if (t->pool[subj] == '\0')
			continue;
		size_t i = hash_str(t->pool + subj) & (ns - 1);
		while (skey[i] != NIL && strcmp(t->pool + skey[i], t->pool + subj) != 0)
			i = (i + 1) & (ns - 1);
		if (skey[i] == NIL) {
			skey[i] = subj;
			sval[i] = r;
			continue;
		}
		uint32_t o = sval[i];
		if (!is_dummy(t, o) &&
		    (is_dummy(t, r) ||
		     (t->msgs[t->nodes[o].msg].reply && !t->msgs[t->nodes[r].msg].reply)))
			sval[i] = r;
	}
	/* (C) merge each root into the one of its subject. */
	for (size_t k = 0; k < nroots; k++) {
		uint32_t r = roots[k];
		uint32_t subj = thread_subject(t, r);
		if (t->pool[subj] == '\0')
			continue;
		size_t i = hash_str(t->pool + subj) & (ns - 1);
		while (strcmp(t->pool + skey[i], t->pool + subj) != 0)
			i = (i + 1) & (ns - 1);
		uint32_t o = sval[i];
		if (o == r)
			continue;
		bool rd = is_dummy(t, r), od = is_dummy(t, o);
		if (rd && od) {
			for (uint32_t g = t->nodes[r].child; g != NIL;) {
				uint32_t gn = t->nodes[g].next;
				append_child(t, o, g);
				g = gn;
			}
			t->nodes[r].child = t->nodes[r].last = NIL;
		} else if (od || (!rd && t->msgs[t->nodes[r].msg].reply &&
				  !t->msgs[t->nodes[o].msg].reply)) {
			append_child(t, o, r);
		} else {
			uint32_t d = node_new(t, NIL);
			if (d == NIL)
				goto out;
			append_child(t, d, o);
			append_child(t, d, r);
			roots[pos[o]] = d;
			pos[d] = pos[o];
			sval[i] = d;
		}
		roots[k] = NIL;
	}
	rc = 0;
out:
	free(skey);
	free(sval);
	free(pos);
	return rc;
}

static int references(struct tree *t, size_t n, struct buf *out)
{
	size_t refs = 0;
	for (size_t i = 0; i < n; i++)
		refs += t->msgs[i].nrefs + 1;
	t->nslots = pow2_at_least(refs * 2 + 1);
	t->slot_key = malloc(t->nslots * sizeof(*t->slot_key));
	t->slot_node = malloc(t->nslots * sizeof(*t->slot_node));
	uint32_t *roots = NULL, *vec = NULL;
	struct skey *tmp = NULL;
	size_t nroots = 0, vcap = 0, tcap = 0;
	int rc = -1;
	if (!t->slot_key || !t->slot_node)
		goto out;
	memset(t->slot_key, 0xff, t->nslots * sizeof(*t->slot_key));
	if (refs_link(t, n) < 0 || refs_prune(t, &roots, &nroots) < 0)
		goto out;
	/* (4) roots by sent date, a dummy by its first child's. */
	for (size_t k = 0; k < nroots; k++)
		if (is_dummy(t, roots[k]) && children_sort(t, roots[k], &vec, &vcap, &tmp, &tcap) < 0)
			goto out;
	if (nodes_sort(t, roots, nroots, &tmp, &tcap) < 0)
		goto out;
	/* (5) */
	if (refs_gather_subjects(t, roots, nroots) < 0)
		goto out;
	size_t live = 0;
	for (size_t k = 0; k < nroots; k++)
		if (roots[k] != NIL)
			roots[live++] = roots[k];
	nroots = live;
	/* (6) every set of siblings by sent date: the lists below the root
	 * first (a dummy, only ever a root, then sorts by its first child). */
	for (uint32_t x = 0; x < t->count; x++)
		if (t->nodes[x].child != NIL && children_sort(t, x, &vec, &vcap, &tmp, &tcap) < 0)
			goto out;
	if (nodes_sort(t, roots, nroots, &tmp, &tcap) < 0)
		goto out;
	rc = roots_write(t, roots, nroots, out);
out:
	free(roots);
	free(vec);
	free(tmp);
	return rc;
}

int imap_thread_run(enum imap_thread_alg alg, const struct imap_sort_msg *msgs, size_t n,
		    const char *pool, struct buf *out)
{
	struct tree t = { .msgs = msgs, .pool = pool };
	int rc = alg == IMAP_THREAD_ORDEREDSUBJECT ? ordered_subject(&t, n, out)
						   : references(&t, n, out);
	free(t.nodes);
	free(t.slot_key);
	free(t.slot_node);
	return rc;
}
