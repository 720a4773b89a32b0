/* core/mime_date.c: CFWS, and the Date: field's date-time (RFC 5322 3.3, with the
 * obsolete forms of 4.3: two- and three-digit years, zone names, comments
 * anywhere), for SEARCH's SENT* keys (the date as written) and SORT's
 * DATE key (the instant, RFC 5256 2.2).  Pure. */
#include <string.h>
#include <strings.h>

#include "core/mime.h"

struct scan {
	const char *s;
	size_t len, i;
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* CFWS: white space and (nested) comments. */
static void cfws(struct scan *d)
{
	while (d->i < d->len) {
		char c = d->s[d->i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			d->i++;
		} else if (c == '(') {
			int depth = 0;
			while (d->i < d->len) {
				c = d->s[d->i++];
				if (c == '\\' && d->i < d->len)
					d->i++;
				else if (c == '(')
					depth++;
				else if (c == ')' && --depth == 0)
					break;
			}
		} else {
			break;
		}
	}
}

size_t mime_cfws_end(const char *s, size_t len, size_t i)
{
	struct scan d = { s, len, i };
	cfws(&d);
	return d.i;
}

/* Up to max digits; -1 when there are none. */
static long number(struct scan *d, size_t max, size_t *ndigits_r)
{
	long v = 0;
	size_t n = 0;
	while (d->i < d->len && is_digit(d->s[d->i]) && n < max) {
		v = v * 10 + (d->s[d->i++] - '0');
		n++;
	}
	*ndigits_r = n;
	return n ? v : -1;
}

static int month_days(long y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : days[m - 1];
}

/* The zone's offset east of UTC in seconds (RFC 5322 3.3 and the obsolete
 * names of 4.3); an unknown zone is 0. */
static long zone_offset(struct scan *d)
{
	static const struct {
		const char *name;
		int hours;
	} names[] = {
		{ "UT", 0 }, { "GMT", 0 }, { "Z", 0 }, { "EST", -5 }, { "EDT", -4 },
		{ "CST", -6 }, { "CDT", -5 }, { "MST", -7 }, { "MDT", -6 }, { "PST", -8 },
		{ "PDT", -7 },
	};
	cfws(d);
	if (d->i >= d->len)
		return 0;
	char c = d->s[d->i];
	if (c == '+' || c == '-') {
		size_t nd;
		d->i++;
		long v = number(d, 4, &nd);
		if (nd != 4 || v % 100 > 59)
			return 0;
		long off = (v / 100) * 3600 + (v % 100) * 60;
		return c == '-' ? -off : off;
	}
	size_t a = d->i;
	while (d->i < d->len && is_alpha(d->s[d->i]))
		d->i++;
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
		if (strlen(names[k].name) == d->i - a &&
		    strncasecmp(d->s + a, names[k].name, d->i - a) == 0)
			return names[k].hours * 3600L;
	return 0;
}

int mime_date_parse(const char *s, size_t len, struct mime_date *d_r)
{
	static const char *const months[12] = {
		"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
	};
	memset(d_r, 0, sizeof(*d_r));
	struct scan d = { s, len, 0 };
	size_t nd;
	cfws(&d);
	/* [ day-of-week "," ] */
	if (d.i < d.len && is_alpha(d.s[d.i])) {
		while (d.i < d.len && is_alpha(d.s[d.i]))
			d.i++;
		cfws(&d);
		if (d.i < d.len && d.s[d.i] == ',')
			d.i++;
		cfws(&d);
	}
	long day = number(&d, 2, &nd);
	if (day < 1)
		return -1;
	cfws(&d);
	/* month: the three-letter name (a longer English name is tolerated). */
	size_t m0 = d.i;
	while (d.i < d.len && is_alpha(d.s[d.i]))
		d.i++;
	if (d.i - m0 < 3)
		return -1;
	int month = 0;
	for (int k = 0; k < 12; k++)
		if (strncasecmp(d.s + m0, months[k], 3) == 0)
			month = k + 1;
	if (month == 0)
		return -1;
	cfws(&d);
	/* year = 4*DIGIT; obs-year = 2*DIGIT (RFC 5322 3.3, 4.3). */
	long year = number(&d, 4, &nd);
	if (year < 0 || nd < 2 || (d.i < d.len && is_digit(d.s[d.i])))
		return -1;
	/* RFC 5322 4.3: two digits are 19xx from 50, 20xx below; three
	 * digits add 1900. */
	if (nd == 2)
		year += year < 50 ? 2000 : 1900;
	else if (nd == 3)
		year += 1900;
	if (year < 1 || year > 9999 || day > month_days(year, month))
		return -1;
	d_r->year = (int)year;
	d_r->month = month;
	d_r->day = (int)day;
	/* time-of-day = hour ":" minute [ ":" second ], then the zone. */
	cfws(&d);
	d_r->more = d.i < d.len;
	/* minute and second are 2DIGIT (RFC 5322 3.3); a one-digit hour
	 * is tolerated. */
	long hh = number(&d, 2, &nd), mm = -1, ss = 0;
	if (hh >= 0 && hh <= 23 && d.i < d.len && d.s[d.i] == ':') {
		d.i++;
		mm = number(&d, 2, &nd);
		d_r->hm = mm >= 0 && mm <= 59 && nd == 2;
		if (d.i < d.len && d.s[d.i] == ':') {
			d.i++;
			ss = number(&d, 2, &nd);
			if (nd != 2)
				ss = -1;
		}
	}
	if (d_r->hm && ss >= 0 && ss <= 60) {
		d_r->time = true;
		d_r->hour = (int)hh;
		d_r->min = (int)mm;
		d_r->sec = (int)ss;
		d_r->zone = zone_offset(&d);
	}
	return 0;
}

int64_t mime_date_days(int year, int month, int day)
{
	int64_t y = year - (month <= 2);
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}
