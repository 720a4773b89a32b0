/* core/mime_imap.c: ENVELOPE, BODY and BODYSTRUCTURE as IMAP writes them
 * (RFC 3501 7.4.2 and 9 body/envelope; RFC 9051 7.5.2).  It lives in core so
 * the IMAP layer only calls it on a stored tree.
 *
 * Type, subtype, parameter names, encoding and disposition type are sent
 * upper-case, as in the RFC's examples; values as the message has them.
 * An RFC 2231 extended parameter is sent the way RFC 9051 7.5.2 asks, as
 * NAME* with its joined value in charset'language'percent-encoded form, so
 * it stays 7-bit and any RFC 2231-aware client decodes it. */
#include "core/mime.h"
#include "core/mime_private.h"

#include <string.h>

#include "core/buf.h"

/* Longer strings go as literals (RFC 2683 3.2.1.5). */
#define QUOTED_MAX 1024

int mime_imap_string_write(struct buf *out, const char *s, size_t len)
{
	size_t nul = 0;
	bool literal = false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == 0)
			nul++;
		else if (c == '\r' || c == '\n' || c == '"' || c == '\\' || c >= 0x80)
			literal = true;
	}
	size_t n = len - nul;
	if (n > QUOTED_MAX)
		literal = true;
	int rc = literal ? buf_printf(out, "{%zu}\r\n", n) : buf_putc(out, '"');
	/* NUL cannot be sent in a string or a literal (RFC 3501 9 CHAR8). */
	size_t run = 0;
	for (size_t i = 0; rc == 0 && i < len; i++) {
		if (s[i] == '\0') {
			rc = buf_append(out, s + run, i - run);
			run = i + 1;
		}
	}
	if (rc == 0)
		rc = buf_append(out, s + run, len - run);
	if (rc == 0 && !literal)
		rc = buf_putc(out, '"');
	return rc < 0 ? MIME_ERR_NOMEM : 0;
}

int mime_imap_nstring_write(struct buf *out, const struct mime_str *s)
{
	if (!s->data)
		return buf_puts(out, "NIL") < 0 ? MIME_ERR_NOMEM : 0;
	return mime_imap_string_write(out, s->data, s->len);
}

static int write_upper(struct buf *out, const char *s, size_t len, const char *suffix)
{
	struct buf tmp;
	buf_init(&tmp, 0);
	int rc = buf_append(&tmp, s, len);
	if (rc == 0 && suffix)
		rc = buf_puts(&tmp, suffix);
	if (rc == 0) {
		for (size_t i = 0; i < tmp.len; i++)
			tmp.data[i] = (char)mime_upper((unsigned char)tmp.data[i]);
		rc = mime_imap_string_write(out, tmp.data, tmp.len);
	}
	buf_free(&tmp);
	return rc < 0 ? MIME_ERR_NOMEM : 0;
}

static int write_upper_str(struct buf *out, const struct mime_str *s)
{
	if (!s->data)
		return buf_puts(out, "NIL") < 0 ? MIME_ERR_NOMEM : 0;
	return write_upper(out, s->data, s->len, NULL);
}

/* ------------------------------------------------------------------ */
/* ENVELOPE                                                            */

static int write_addresses(struct buf *out, const struct mime_address_list *l)
{
	if (l->count == 0)
		return buf_puts(out, "NIL") < 0 ? MIME_ERR_NOMEM : 0;
	if (buf_putc(out, '(') < 0)
		return MIME_ERR_NOMEM;
	for (size_t i = 0; i < l->count; i++) {
		const struct mime_address *a = &l->addrs[i];
		if (buf_putc(out, '(') < 0 || mime_imap_nstring_write(out, &a->name) < 0 ||
		    buf_putc(out, ' ') < 0 || mime_imap_nstring_write(out, &a->route) < 0 ||
		    buf_putc(out, ' ') < 0 || mime_imap_nstring_write(out, &a->mailbox) < 0 ||
		    buf_putc(out, ' ') < 0 || mime_imap_nstring_write(out, &a->host) < 0 ||
		    buf_putc(out, ')') < 0)
			return MIME_ERR_NOMEM;
	}
	return buf_putc(out, ')') < 0 ? MIME_ERR_NOMEM : 0;
}

int mime_envelope_write(const struct mime_envelope *env, struct buf *out)
{
	if (!env)
		return buf_puts(out, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)") < 0 ? MIME_ERR_NOMEM : 0;
	/* RFC 3501 7.4.2: Sender and Reply-To default to From. */
	const struct mime_address_list *sender = env->sender.count ? &env->sender : &env->from;
	const struct mime_address_list *reply = env->reply_to.count ? &env->reply_to : &env->from;
	if (buf_putc(out, '(') < 0 || mime_imap_nstring_write(out, &env->date) < 0 ||
	    buf_putc(out, ' ') < 0 || mime_imap_nstring_write(out, &env->subject) < 0 ||
	    buf_putc(out, ' ') < 0 || write_addresses(out, &env->from) < 0 ||
	    buf_putc(out, ' ') < 0 || write_addresses(out, sender) < 0 ||
	    buf_putc(out, ' ') < 0 || write_addresses(out, reply) < 0 ||
	    buf_putc(out, ' ') < 0 || write_addresses(out, &env->to) < 0 ||
	    buf_putc(out, ' ') < 0 || write_addresses(out, &env->cc) < 0 ||
	    buf_putc(out, ' ') < 0 || write_addresses(out, &env->bcc) < 0 ||
	    buf_putc(out, ' ') < 0 || mime_imap_nstring_write(out, &env->in_reply_to) < 0 ||
	    buf_putc(out, ' ') < 0 || mime_imap_nstring_write(out, &env->message_id) < 0 ||
	    buf_putc(out, ')') < 0)
		return MIME_ERR_NOMEM;
	return 0;
}

/* ------------------------------------------------------------------ */
/* BODYSTRUCTURE                                                       */

/* RFC 2231 7 attribute-char: what may stay unencoded in an extended value. */
static bool attribute_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && !strchr("*'%()<>@,;:\\\"/[]?=", c);
}

static int write_extended_value(struct buf *out, const struct mime_param *p)
{
	static const char hex[] = "0123456789ABCDEF";
	struct buf tmp;
	buf_init(&tmp, 0);
	int rc = buf_append(&tmp, p->charset.data, p->charset.len);
	if (rc == 0)
		rc = buf_putc(&tmp, '\'');
	if (rc == 0 && p->language.data)
		rc = buf_append(&tmp, p->language.data, p->language.len);
	if (rc == 0)
		rc = buf_putc(&tmp, '\'');
	for (size_t i = 0; rc == 0 && i < p->value.len; i++) {
		unsigned char c = (unsigned char)p->value.data[i];
		if (attribute_char(c)) {
			rc = buf_putc(&tmp, (char)c);
		} else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			rc = buf_append(&tmp, e, 3);
		}
	}
	if (rc == 0)
		rc = mime_imap_string_write(out, tmp.data, tmp.len);
	buf_free(&tmp);
	return rc < 0 ? MIME_ERR_NOMEM : 0;
}

static int write_params(struct buf *out, const struct mime_param *params, size_t n)
{
	if (n == 0)
		return buf_puts(out, "NIL") < 0 ? MIME_ERR_NOMEM : 0;
	if (buf_putc(out, '(') < 0)
		return MIME_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct mime_param *p = &params[i];
		bool ext = p->charset.data != NULL;
		if ((i > 0 && buf_putc(out, ' ') < 0) ||
		    write_upper(out, p->name.data, p->name.len, ext ? "*" : NULL) < 0 ||
		    buf_putc(out, ' ') < 0 ||
		    (ext ? write_extended_value(out, p)
			 : mime_imap_string_write(out, p->value.data, p->value.len)) < 0)
			return MIME_ERR_NOMEM;
	}
	return buf_putc(out, ')') < 0 ? MIME_ERR_NOMEM : 0;
}

/* body-fld-dsp SP body-fld-lang SP body-fld-loc */
static int write_ext_common(struct buf *out, const struct mime_part *p)
{
	if (buf_putc(out, ' ') < 0)
		return MIME_ERR_NOMEM;
	if (!p->disposition.data) {
		if (buf_puts(out, "NIL") < 0)
			return MIME_ERR_NOMEM;
	} else if (buf_putc(out, '(') < 0 || write_upper_str(out, &p->disposition) < 0 ||
		   buf_putc(out, ' ') < 0 || write_params(out, p->disp_params, p->ndisp_params) < 0 ||
		   buf_putc(out, ')') < 0) {
		return MIME_ERR_NOMEM;
	}
	if (buf_putc(out, ' ') < 0)
		return MIME_ERR_NOMEM;
	if (p->nlanguages == 0) {
		if (buf_puts(out, "NIL") < 0)
			return MIME_ERR_NOMEM;
	} else if (p->nlanguages == 1) {
		if (mime_imap_nstring_write(out, &p->languages[0]) < 0)
			return MIME_ERR_NOMEM;
	} else {
		if (buf_putc(out, '(') < 0)
			return MIME_ERR_NOMEM;
		for (size_t i = 0; i < p->nlanguages; i++)
			if ((i > 0 && buf_putc(out, ' ') < 0) ||
			    mime_imap_nstring_write(out, &p->languages[i]) < 0)
				return MIME_ERR_NOMEM;
		if (buf_putc(out, ')') < 0)
			return MIME_ERR_NOMEM;
	}
	if (buf_putc(out, ' ') < 0 || mime_imap_nstring_write(out, &p->location) < 0)
		return MIME_ERR_NOMEM;
	return 0;
}

static int write_part(struct buf *out, const struct mime_part *p, unsigned flags);

static int write_multipart(struct buf *out, const struct mime_part *p, unsigned flags)
{
	if (buf_putc(out, '(') < 0)
		return MIME_ERR_NOMEM;
	for (const struct mime_part *c = p->children; c; c = c->next)
		if (write_part(out, c, flags) < 0)
			return MIME_ERR_NOMEM;
	if (buf_putc(out, ' ') < 0 || write_upper_str(out, &p->subtype) < 0)
		return MIME_ERR_NOMEM;
	if ((flags & MIME_WRITE_EXTENDED) &&
	    (buf_putc(out, ' ') < 0 || write_params(out, p->params, p->nparams) < 0 ||
	     write_ext_common(out, p) < 0))
		return MIME_ERR_NOMEM;
	return buf_putc(out, ')') < 0 ? MIME_ERR_NOMEM : 0;
}

static int write_part(struct buf *out, const struct mime_part *p, unsigned flags)
{
	if (p->flags & MIME_PART_MULTIPART)
		return write_multipart(out, p, flags);
	if (buf_putc(out, '(') < 0 || write_upper_str(out, &p->type) < 0 || buf_putc(out, ' ') < 0 ||
	    write_upper_str(out, &p->subtype) < 0 || buf_putc(out, ' ') < 0 ||
	    write_params(out, p->params, p->nparams) < 0 || buf_putc(out, ' ') < 0 ||
	    mime_imap_nstring_write(out, &p->id) < 0 || buf_putc(out, ' ') < 0 ||
	    mime_imap_nstring_write(out, &p->description) < 0 || buf_putc(out, ' ') < 0 ||
	    write_upper_str(out, &p->encoding) < 0 || buf_printf(out, " %zu", p->body_len) < 0)
		return MIME_ERR_NOMEM;
	const struct mime_part *msg = mime_part_message(p);
	bool as_message = msg && (mime_part_is(p, "message", "rfc822") ||
				  ((flags & MIME_WRITE_GLOBAL) && mime_part_is(p, "message", "global")));
	if (as_message) {
		if (buf_putc(out, ' ') < 0 || mime_envelope_write(msg->envelope, out) < 0 ||
		    buf_putc(out, ' ') < 0 || write_part(out, msg, flags) < 0 ||
		    buf_printf(out, " %zu", p->body_lines) < 0)
			return MIME_ERR_NOMEM;
	} else if (mime_part_is(p, "text", NULL)) {
		if (buf_printf(out, " %zu", p->body_lines) < 0)
			return MIME_ERR_NOMEM;
	}
	if ((flags & MIME_WRITE_EXTENDED) &&
	    (buf_putc(out, ' ') < 0 || mime_imap_nstring_write(out, &p->md5) < 0 ||
	     write_ext_common(out, p) < 0))
		return MIME_ERR_NOMEM;
	return buf_putc(out, ')') < 0 ? MIME_ERR_NOMEM : 0;
}

int mime_bodystructure_write(const struct mime_part *part, unsigned flags, struct buf *out)
{
	return write_part(out, part, flags);
}
