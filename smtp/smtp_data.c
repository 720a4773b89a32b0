/* smtp/smtp_data.c: the DATA-phase push machine and the trace headers (see
 * smtp_data.h).  Pure: no I/O, only core/buf. */
#include "smtp/smtp_data.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

void smtp_data_init(struct smtp_data *d, const struct smtp_data_limits *lim)
{
	memset(d, 0, sizeof(*d));
	d->lim = *lim;
	buf_init(&d->msg, 0);
	/* A line, its CR, and one byte to notice it went over. */
	buf_init(&d->partial, lim->max_line + 2);
}

void smtp_data_set_sink(struct smtp_data *d, size_t chunk, smtp_data_sink_fn *fn, void *arg)
{
	d->sink = fn;
	d->sink_arg = arg;
	d->sink_chunk = chunk;
}

int smtp_data_start(struct smtp_data *d, const char *prefix, size_t prefix_len)
{
	struct smtp_data_limits lim = d->lim;
	smtp_data_sink_fn *sink = d->sink;
	void *sink_arg = d->sink_arg;
	size_t sink_chunk = d->sink_chunk;
	smtp_data_clear(d);
	smtp_data_init(d, &lim);
	smtp_data_set_sink(d, sink_chunk, sink, sink_arg);
	/* RFC 5321 4.5.2: the DATA command's own CRLF counts as the CRLF
	 * before the first line, so "DATA" CRLF "." CRLF is an empty message. */
	d->prev_crlf = true;
	d->in_headers = true;
	if (buf_append(&d->msg, prefix, prefix_len) < 0) {
		d->err = SMTP_DATA_ERR_NOMEM;
		return -1;
	}
	d->prefix_len = prefix_len;
	return 0;
}

static void data_fail(struct smtp_data *d, enum smtp_data_err err)
{
	if (d->err == SMTP_DATA_OK)
		d->err = err;
	/* The message is refused: stop holding its bytes. */
	buf_free(&d->msg);
}

/* Give what is buffered to the sink (at a chunk's worth, or at the end). */
static void data_drain(struct smtp_data *d, bool all)
{
	if (!d->sink || d->err != SMTP_DATA_OK || d->msg.len == 0)
		return;
	if (!all && d->msg.len < d->sink_chunk)
		return;
	if (d->sink(d->sink_arg, d->msg.data, d->msg.len) < 0) {
		data_fail(d, SMTP_DATA_ERR_SINK);
		return;
	}
	buf_reset(&d->msg);
}

static bool starts_with_ci(const char *s, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);
	return len >= n && strncasecmp(s, prefix, n) == 0;
}

static void msgid_add(struct smtp_data *d, const char *s, size_t len)
{
	size_t room = sizeof(d->msgid_raw) - 1 - d->msgid_raw_len;
	if (len > room)
		len = room;
	memcpy(d->msgid_raw + d->msgid_raw_len, s, len);
	d->msgid_raw_len += len;
	d->msgid_raw[d->msgid_raw_len] = '\0';
}

/* RFC 5322 2.2: a header field is a name of printable ASCII but ':',
 * then ':'; a line starting with a blank continues the previous field. */
static bool is_field_start(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == ':')
			return i > 0;
		if (ch < 33 || ch > 126)
			return false;
	}
	return false;
}

void smtp_data_add_missing(struct smtp_data *d, const char *msgid, const char *date)
{
	snprintf(d->add_msgid, sizeof(d->add_msgid), "%s", msgid ? msgid : "");
	snprintf(d->add_date, sizeof(d->add_date), "%s", date ? date : "");
}

/* Add one field, counted in the size like content. */
static void data_add_field(struct smtp_data *d, const char *name, const char *value)
{
	size_t n = strlen(name) + 2 + strlen(value) + 2;
	d->size = d->size > UINT64_MAX - n ? UINT64_MAX : d->size + n;
	if (d->lim.max_size && d->size > d->lim.max_size)
		data_fail(d, SMTP_DATA_ERR_SIZE);
	if (d->err != SMTP_DATA_OK)
		return;
	if (buf_printf(&d->msg, "%s: %s\r\n", name, value) < 0)
		data_fail(d, SMTP_DATA_ERR_NOMEM);
}

/* The header section is over (the line about to be stored is not part of
 * it, or the message ends): add what submission asked for and is missing. */
static void data_headers_end(struct smtp_data *d)
{
	d->in_headers = false;
	d->in_msgid = false;
	if (d->add_msgid[0] && !d->has_msgid) {
		data_add_field(d, "Message-ID", d->add_msgid);
		msgid_add(d, d->add_msgid, strlen(d->add_msgid));   /* for the log */
	}
	if (d->add_date[0] && !d->has_date)
		data_add_field(d, "Date", d->add_date);
	d->add_msgid[0] = d->add_date[0] = '\0';
}

/* Note what the session logs (Message-ID) and what loop detection needs
 * (the Received: count), as the header section goes by. */
static void data_header_line(struct smtp_data *d, const char *s, size_t len)
{
	if (len == 0) {
		data_headers_end(d);
		return;
	}
	if (s[0] == ' ' || s[0] == '\t') {
		if (d->in_msgid)
			msgid_add(d, s, len);
		return;
	}
	if (!is_field_start(s, len)) {
		data_headers_end(d);
		return;
	}
	d->in_msgid = false;
	if (starts_with_ci(s, len, "Message-ID:")) {
		if (!d->has_msgid) {
			d->in_msgid = true;
			msgid_add(d, s + 11, len - 11);
		}
		d->has_msgid = true;
	} else if (starts_with_ci(s, len, "Date:")) {
		d->has_date = true;
	} else if (starts_with_ci(s, len, "Received:")) {
		d->received++;
		if (d->lim.max_received && d->received > d->lim.max_received)
			data_fail(d, SMTP_DATA_ERR_LOOP);
	}
}

/* RFC 5321 2.3.8: CR and LF appear only together, as the line end.  Under
 * "reject" a line that breaks this refuses the message. */
static void data_check_bare(struct smtp_data *d, const char *line, size_t len, bool crlf)
{
	if (d->lim.bare != SMTP_BARE_REJECT)
		return;
	if (!crlf)
		data_fail(d, SMTP_DATA_ERR_BARE_LF);
	else if (memchr(line, '\r', len))
		data_fail(d, SMTP_DATA_ERR_BARE_CR);
}

/* Store a line with CRLF.  A CR inside it (left only under "normalize") is
 * stored as a space, as Postfix's cleanup_replace_stray_cr_lf does: a
 * server we pass the message on to, or a reader of it, could take the CR
 * for a line end and see headers or an end of data that are not there. */
static int data_store_line(struct smtp_data *d, const char *s, size_t len)
{
	const char *cr;
	while ((cr = memchr(s, '\r', len)) != NULL) {
		size_t n = (size_t)(cr - s);
		if (buf_append(&d->msg, s, n) < 0 || buf_putc(&d->msg, ' ') < 0)
			return -1;
		s += n + 1;
		len -= n + 1;
	}
	if (buf_append(&d->msg, s, len) < 0 || buf_append(&d->msg, "\r\n", 2) < 0)
		return -1;
	return 0;
}

/* The end of the message: what is still buffered goes to the sink. */
static enum smtp_data_rc data_finish(struct smtp_data *d)
{
	if (d->in_headers)
		data_headers_end(d);
	data_drain(d, true);
	return d->err == SMTP_DATA_OK ? SMTP_DATA_DONE : SMTP_DATA_ERROR;
}

static void data_content_line(struct smtp_data *d, const char *line, size_t len, bool crlf);

enum smtp_data_rc smtp_data_line(struct smtp_data *d, const char *line, size_t len, bool crlf)
{
	/* RFC 5321 4.1.1.4: the end is CRLF "." CRLF.  Both CRLFs must be
	 * real: a "." after or before a bare LF is content, or a client could
	 * smuggle commands past a relay that reads the end differently. */
	if (len == 1 && line[0] == '.' && crlf && d->prev_crlf) {
		d->ambiguous_end = d->after_long_line;
		d->after_long_line = false;
		return data_finish(d);
	}
	d->prev_crlf = crlf;
	d->after_long_line = false;
	/* RFC 5321 4.5.2: a leading period on a line with more on it was
	 * added by the client; remove it. */
	if (len > 1 && line[0] == '.') {
		line++;
		len--;
	}
	data_content_line(d, line, len, crlf);
	return SMTP_DATA_MORE;
}

/* One line of content, as DATA (unstuffed) or BDAT (raw) gives it. */
static void data_content_line(struct smtp_data *d, const char *line, size_t len, bool crlf)
{
	data_check_bare(d, line, len, crlf);
	/* Every line is stored with CRLF, a bare LF included (RFC 5321 2.3.8);
	 * the size counts what is stored. */
	uint64_t add = (uint64_t)len + 2;
	if (d->size > UINT64_MAX - add)
		d->size = UINT64_MAX;
	else
		d->size += add;
	if (d->lim.max_size && d->size > d->lim.max_size)
		data_fail(d, SMTP_DATA_ERR_SIZE);
	if (memchr(line, '\0', len))
		data_fail(d, SMTP_DATA_ERR_NUL);
	if (d->in_headers)
		data_header_line(d, line, len);
	if (d->err != SMTP_DATA_OK)
		return;
	if (data_store_line(d, line, len) < 0)
		data_fail(d, SMTP_DATA_ERR_NOMEM);
	data_drain(d, false);
}

void smtp_data_line_too_long(struct smtp_data *d)
{
	data_fail(d, SMTP_DATA_ERR_LINE);
	/* core discards the rest of the line without telling how it ended.
	 * Assume CRLF, so that a client ending its message normally gets our
	 * answer instead of waiting for a timeout; smtp_data_end_ambiguous()
	 * lets the session defend against the bare-LF case. */
	d->prev_crlf = true;
	d->after_long_line = true;
	d->in_msgid = false;
}

/* The line of n octets before an LF (its CR, if any, still on it), as
 * core's line reader would hand it over. */
static enum smtp_data_rc data_feed_line(struct smtp_data *d, const char *s, size_t n)
{
	bool crlf = n > 0 && s[n - 1] == '\r';
	if (crlf)
		n--;
	if (n > d->lim.max_line) {
		smtp_data_line_too_long(d);
		return SMTP_DATA_MORE;
	}
	return smtp_data_line(d, s, n, crlf);
}

enum smtp_data_rc smtp_data_feed(struct smtp_data *d, const char *data, size_t len,
				 size_t *consumed_r)
{
	/* Split lines exactly as core/conn.c does, including its limit: a line
	 * is too long when more than max_line + 1 octets (room for the CR)
	 * arrive without an LF, or when the complete line exceeds max_line.
	 * Lines are found with memchr and handed over straight from `data`
	 * when whole in it; only a line cut by the end of `data` waits in
	 * `partial` (at most max_line + 1 octets).  The SMTP session reads
	 * DATA through here (conn_read_stream): line by line through core, a
	 * 100 KiB message cost some 1,300 searches, copies and drains. */
	const char *p = data;
	size_t left = len;
	while (left > 0) {
		const char *lf = memchr(p, '\n', left);
		size_t n = lf ? (size_t)(lf - p) : left;
		enum smtp_data_rc rc = SMTP_DATA_MORE;
		if (d->discarding) {
			d->discarding = lf == NULL;    /* its LF ends the drop */
		} else if (d->partial.len + n > d->lim.max_line + 1) {
			/* Over the limit before its LF: the rest, up to the LF,
			 * is dropped, as core does. */
			buf_reset(&d->partial);
			d->discarding = lf == NULL;
			smtp_data_line_too_long(d);
		} else if (lf && d->partial.len == 0) {
			rc = data_feed_line(d, p, n);
		} else if (buf_append(&d->partial, p, n) < 0) {
			/* The line's head is lost: dropped as an over-long line
			 * is, so that a "." right after it is an unclear end
			 * (the session closes), never the end. */
			data_fail(d, SMTP_DATA_ERR_NOMEM);
			buf_reset(&d->partial);
			d->discarding = lf == NULL;
			smtp_data_line_too_long(d);
		} else if (lf) {
			rc = data_feed_line(d, d->partial.data, d->partial.len);
			buf_reset(&d->partial);
		}
		if (!lf)
			break;
		p += n + 1;
		left -= n + 1;
		if (rc != SMTP_DATA_MORE) {
			*consumed_r = len - left;
			return rc;
		}
	}
	*consumed_r = len;
	return SMTP_DATA_MORE;
}

/* ---- BDAT (RFC 3030 2) ----
 * A chunk's octets are the message itself: no dot-stuffing, no end line.
 * They are still split into lines here, so that the header checks, the
 * line limit and the line-end policy are those of DATA, and a line may
 * run across chunks (the partial line is kept, bounded by max_line). */

/* A whole line of a chunk, its LF removed (a CR before it is the CRLF). */
static void data_chunk_line(struct smtp_data *d, const char *s, size_t n)
{
	bool crlf = n > 0 && s[n - 1] == '\r';
	if (crlf)
		n--;
	if (n > d->lim.max_line)
		data_fail(d, SMTP_DATA_ERR_LINE);
	else
		data_content_line(d, s, n, crlf);
}

enum smtp_data_rc smtp_data_chunk(struct smtp_data *d, const char *data, size_t len)
{
	/* Lines are found with memchr and taken straight from the chunk when
	 * whole in it; only a line cut by the chunk's end waits in `partial`
	 * (at most max_line + 1 octets: the line and its CR). */
	while (len > 0) {
		const char *lf = memchr(data, '\n', len);
		size_t n = lf ? (size_t)(lf - data) : len;
		if (d->discarding) {
			d->discarding = lf == NULL;
		} else if (d->partial.len + n > d->lim.max_line + 1) {
			buf_reset(&d->partial);
			d->discarding = lf == NULL;   /* drop the rest of it up to its LF */
			data_fail(d, SMTP_DATA_ERR_LINE);
		} else if (lf && d->partial.len == 0) {
			data_chunk_line(d, data, n);
		} else if (buf_append(&d->partial, data, n) < 0) {
			data_fail(d, SMTP_DATA_ERR_NOMEM);
			buf_reset(&d->partial);
		} else if (lf) {
			data_chunk_line(d, d->partial.data, d->partial.len);
			buf_reset(&d->partial);
		}
		if (!lf)
			break;
		data += n + 1;
		len -= n + 1;
	}
	return d->err == SMTP_DATA_OK ? SMTP_DATA_MORE : SMTP_DATA_ERROR;
}

enum smtp_data_rc smtp_data_chunk_end(struct smtp_data *d, bool last)
{
	if (d->err != SMTP_DATA_OK)
		return SMTP_DATA_ERROR;
	if (!last)
		return SMTP_DATA_MORE;
	/* A last line without its line end is stored with one: RFC 5322 2.1
	 * lines end in CRLF, and IMAP clients expect it.  A CR left alone at
	 * the very end is that line end, cut short. */
	if (!d->discarding && d->partial.len > 0) {
		size_t n = d->partial.len;
		if (d->partial.data[n - 1] == '\r')
			n--;
		if (n > d->lim.max_line)
			data_fail(d, SMTP_DATA_ERR_LINE);
		else
			data_content_line(d, d->partial.data, n, true);
		buf_reset(&d->partial);
	}
	d->discarding = false;
	return data_finish(d);
}

enum smtp_data_err smtp_data_error(const struct smtp_data *d)
{
	return d->err;
}

const char *smtp_data_error_str(enum smtp_data_err err)
{
	switch (err) {
	case SMTP_DATA_OK: return "ok";
	case SMTP_DATA_ERR_SIZE: return "message too big";
	case SMTP_DATA_ERR_LINE: return "line too long";
	case SMTP_DATA_ERR_NUL: return "NUL byte in message";
	case SMTP_DATA_ERR_LOOP: return "too many Received headers";
	case SMTP_DATA_ERR_NOMEM: return "out of memory";
	case SMTP_DATA_ERR_BARE_LF: return "bare <LF> received";
	case SMTP_DATA_ERR_BARE_CR: return "bare <CR> received";
	case SMTP_DATA_ERR_SINK: return "spool write failed";
	}
	return "error";
}

const char *smtp_data_message(const struct smtp_data *d, size_t *len_r)
{
	*len_r = d->msg.len;
	return d->msg.data ? d->msg.data : "";
}

uint64_t smtp_data_size(const struct smtp_data *d)
{
	return d->size;
}

const char *smtp_data_message_id(struct smtp_data *d)
{
	/* msg-id = "<" id-left "@" id-right ">" (RFC 5322 3.6.4); we only
	 * log it, so take the first <...> and refuse anything unprintable. */
	d->msgid[0] = '\0';
	const char *s = d->msgid_raw;
	const char *lt = memchr(s, '<', d->msgid_raw_len);
	if (!lt)
		return d->msgid;
	const char *gt = memchr(lt, '>', d->msgid_raw_len - (size_t)(lt - s));
	if (!gt)
		return d->msgid;
	size_t n = (size_t)(gt - lt) + 1;
	if (n < 3 || n > SMTP_DATA_MSGID_MAX)
		return d->msgid;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)lt[i];
		if (ch < 33 || ch > 126)
			return d->msgid;
	}
	memcpy(d->msgid, lt, n);
	d->msgid[n] = '\0';
	return d->msgid;
}

bool smtp_data_end_ambiguous(const struct smtp_data *d)
{
	return d->ambiguous_end;
}

void smtp_data_clear(struct smtp_data *d)
{
	buf_free(&d->msg);
	buf_free(&d->partial);
}

/* ---- trace headers ---- */

void smtp_date_format(time_t when, char *out, size_t outlen)
{
	/* Built by hand rather than with strftime("%a %b"), whose names follow
	 * the locale; RFC 5322 3.3 wants the English ones. */
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;
	if (!localtime_r(&when, &tm)) {
		snprintf(out, outlen, "Thu, 1 Jan 1970 00:00:00 +0000");
		return;
	}
	long off = tm.tm_gmtoff / 60;
	char sign = off < 0 ? '-' : '+';
	if (off < 0)
		off = -off;
	snprintf(out, outlen, "%s, %d %s %d %02d:%02d:%02d %c%02ld%02ld",
		 days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, sign, off / 60, off % 60);
}

int smtp_trace_format(struct buf *b, const struct smtp_trace *t)
{
	char date[64];
	smtp_date_format(t->when, date, sizeof(date));
	/* RFC 5321 4.4: the final delivery adds Return-Path with the
	 * reverse-path, and every hop a Received: whose "from" part carries
	 * the EHLO name and the client's address literal (4.1.3: IPv6 ones
	 * tagged "IPv6:").  The "for" clause names the recipient only when
	 * there is one, so a message does not list its Bcc recipients. */
	bool v6 = strchr(t->peer_addr, ':') != NULL;
	int rc = buf_printf(b, "Return-Path: <%s>\r\n", t->reverse_path);
	rc |= buf_printf(b, "Received: from %s ([%s%s])\r\n\tby %s (postino) with %s id %s",
			 t->helo, v6 ? "IPv6:" : "", t->peer_addr, t->hostname, t->protocol, t->id);
	if (t->for_rcpt)
		rc |= buf_printf(b, "\r\n\tfor <%s>; %s\r\n", t->for_rcpt, date);
	else
		rc |= buf_printf(b, ";\r\n\t%s\r\n", date);
	return rc < 0 ? -1 : 0;
}
