/* imap/imap_parse_date.c: IMAP dates.  date-text (SEARCH BEFORE/ON/SINCE,
 * RFC 3501 9) and date-time (APPEND, RFC 3501 9), validated down to the
 * length of the month, and converted to UTC without the C library's time
 * zone machinery (the Gregorian arithmetic below is exact and pure). */
#include "imap/imap_parse.h"
#include "imap/imap_parse_private.h"

#include <string.h>

static const char *const months[] = {
	"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
};

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return m == 2 && leap(y) ? 29 : days[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int digits(const char *s, size_t len, int *v_r)
{
	uint64_t v;
	if (imap_parse_uint(s, len, 9999, false, &v) < 0)
		return -1;
	*v_r = (int)v;
	return 0;
}

/* "d-Mon-yyyy" with a 1 or 2 digit day (date-day = 1*2DIGIT); date-time's
 * date-day-fixed allows a leading space, which the caller strips. */
int imap_date_parse(const char *s, size_t len, struct imap_date *d_r, const char **error_r)
{
	const char *dash1 = memchr(s, '-', len);
	if (!dash1) {
		*error_r = "Invalid date (expected d-Mon-yyyy)";
		return -1;
	}
	size_t dl = (size_t)(dash1 - s);
	if (dl < 1 || dl > 2 || len != dl + 9 || s[dl + 4] != '-') {
		*error_r = "Invalid date (expected d-Mon-yyyy)";
		return -1;
	}
	int day, year, month = 0;
	if (digits(s, dl, &day) < 0 || digits(s + dl + 5, 4, &year) < 0) {
		*error_r = "Invalid date (expected d-Mon-yyyy)";
		return -1;
	}
	for (int m = 0; m < 12; m++)
		if (imap_word_eq(s + dl + 1, 3, months[m]))
			month = m + 1;
	if (month == 0) {
		*error_r = "Invalid month in date";
		return -1;
	}
	if (year < 1) {
		*error_r = "Invalid year in date";
		return -1;
	}
	if (day < 1 || day > month_days(year, month)) {
		*error_r = "Invalid day of month in date";
		return -1;
	}
	d_r->year = year;
	d_r->month = month;
	d_r->day = day;
	return 0;
}

int imap_arg_date(const struct imap_arg *a, struct imap_date *d_r, const char **error_r)
{
	/* date = date-text / DQUOTE date-text DQUOTE: never a literal. */
	if (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_QUOTED) {
		*error_r = "Expected a date";
		return -1;
	}
	return imap_date_parse(a->str, a->len, d_r, error_r);
}

time_t imap_date_to_time(const struct imap_date *d)
{
	return (time_t)(days_from_civil(d->year, d->month, d->day) * 86400);
}

static int two_digits(const char *s, int max, int *v_r)
{
	if (!imap_is_digit((unsigned char)s[0]) || !imap_is_digit((unsigned char)s[1]))
		return -1;
	int v = (s[0] - '0') * 10 + (s[1] - '0');
	if (v > max)
		return -1;
	*v_r = v;
	return 0;
}

/* date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time
 *             SP zone DQUOTE (quotes already removed by the tokenizer).
 * A 1-digit day without the padding space is accepted too: some clients
 * send it and it is unambiguous. */
int imap_datetime_parse(const char *s, size_t len, time_t *t_r, int *zone_r, const char **error_r)
{
	static const char bad[] = "Invalid date-time (expected \"dd-Mon-yyyy hh:mm:ss +zzzz\")";
	if (len > 0 && s[0] == ' ') {
		s++;
		len--;
		if (len == 0 || !imap_is_digit((unsigned char)s[0]) || (len > 1 && s[1] != '-')) {
			*error_r = bad;
			return -1;
		}
	}
	/* date (10 or 11) SP hh:mm:ss (8) SP +zzzz (5) */
	if (len < 25 || len > 26) {
		*error_r = bad;
		return -1;
	}
	size_t dl = len - 15;
	struct imap_date d;
	if (s[dl] != ' ' || imap_date_parse(s, dl, &d, error_r) < 0) {
		if (s[dl] != ' ')
			*error_r = bad;
		return -1;
	}
	const char *t = s + dl + 1;
	int hh, mm, ss, zh, zm;
	if (two_digits(t, 23, &hh) < 0 || t[2] != ':' || two_digits(t + 3, 59, &mm) < 0 || t[5] != ':' ||
	    two_digits(t + 6, 60, &ss) < 0) {
		*error_r = "Invalid time in date-time";
		return -1;
	}
	const char *z = t + 9;
	if (t[8] != ' ' || (z[0] != '+' && z[0] != '-') || two_digits(z + 1, 23, &zh) < 0 ||
	    two_digits(z + 3, 59, &zm) < 0) {
		*error_r = "Invalid zone in date-time";
		return -1;
	}
	int zone = (zh * 60 + zm) * (z[0] == '-' ? -1 : 1);
	/* RFC 3501 9 zone: "Subtracting the timezone from the given time will
	 * give the UT form." */
	int64_t secs = days_from_civil(d.year, d.month, d.day) * 86400 + hh * 3600 + mm * 60 + ss -
	               (int64_t)zone * 60;
	*t_r = (time_t)secs;
	*zone_r = zone;
	return 0;
}
