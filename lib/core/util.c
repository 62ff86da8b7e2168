/* util: time stamps, ids and strict number parsing shared by all programs. */
#include <errno.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"

int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
mono_deadline(struct timespec *t, int64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, t);
	t->tv_sec += ms / 1000;
	t->tv_nsec += (ms % 1000) * 1000000L;
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

int
cond_init_mono(pthread_cond_t *cv)
{
	pthread_condattr_t ca;
	int e;

	if ((e = pthread_condattr_init(&ca)) != 0)
		return e;
	if ((e = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC)) == 0)
		e = pthread_cond_init(cv, &ca);
	pthread_condattr_destroy(&ca);
	return e;
}

/* The proleptic Gregorian date of a day count since 1970-01-01 (the
 * civil-from-days algorithm: eras of 400 years). */
static void
civil(int64_t days, int64_t *y, int *m, int *d)
{
	int64_t z = days + 719468, era, doe, yoe, doy, mp;

	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static char *
digits(char *p, int64_t v, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + width;
}

/* Arithmetic only: no locale, no time zone lock; it runs for every row
 * of every list. */
void
ts_format(int64_t ms, char out[TS_LEN])
{
	int64_t days, secs, y;
	int m, d;
	char *p = out;

	if (ms < 0 || ms >= INT64_C(253402300800000))	/* year 10000 */
		ms = 0;
	days = ms / 86400000;
	secs = ms / 1000 % 86400;
	civil(days, &y, &m, &d);
	p = digits(p, y, 4);
	*p++ = '-';
	p = digits(p, m, 2);
	*p++ = '-';
	p = digits(p, d, 2);
	*p++ = 'T';
	p = digits(p, secs / 3600, 2);
	*p++ = ':';
	p = digits(p, secs / 60 % 60, 2);
	*p++ = ':';
	p = digits(p, secs % 60, 2);
	*p++ = '.';
	p = digits(p, ms % 1000, 3);
	*p++ = 'Z';
	*p = '\0';
}

/* n decimal digits at s, or -1. */
static int64_t
num(const char *s, int n)
{
	int64_t v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* The inverse of civil(). */
static int64_t
days_from_civil(int64_t y, int64_t m, int64_t d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

bool
ts_parse(const char *s, int64_t *ms)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
	int64_t y, mo, d, h, mi, sec, milli;

	if (s == NULL || strlen(s) != TS_LEN - 1)
		return false;
	for (int i = 0; i < TS_LEN - 1; i++)
		if (shape[i] != 'd' && s[i] != shape[i])
			return false;
	y = num(s, 4);
	mo = num(s + 5, 2);
	d = num(s + 8, 2);
	h = num(s + 11, 2);
	mi = num(s + 14, 2);
	sec = num(s + 17, 2);
	milli = num(s + 20, 3);
	if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 ||
	    mi < 0 || mi > 59 || sec < 0 || sec > 60 || milli < 0)
		return false;
	*ms = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000 +
	    sec * 1000 + milli;
	return true;
}

/* A UUIDv7 (RFC 9562) as 32 hex digits: 48 bits of milliseconds since
 * the epoch, the version, 12 random bits, the variant, 62 random bits.
 * Uids that follow each other in time sort near each other, so storing a
 * stream of them adds to one end of the directory's uid index instead of
 * dirtying pages all over it; 74 random bits keep them unique.
 * Random bytes are drawn from the system a page at a time, not once per
 * uid (a getrandom call each); a forked child draws its own. */
void
uid_new(char out[UID_HEX_LEN])
{
	static _Thread_local unsigned char pool[4096];
	static _Thread_local size_t used = sizeof(pool);
	static _Thread_local pid_t owner;
	pid_t pid = getpid();
	unsigned char *u;
	uint64_t ms = (uint64_t)now_ms();

	if (used + 16 > sizeof(pool) || owner != pid) {
		randombytes_buf(pool, sizeof(pool));
		used = 0;
		owner = pid;
	}
	u = pool + used;
	for (int i = 0; i < 6; i++)
		u[i] = (unsigned char)(ms >> (40 - 8 * i));
	u[6] = (unsigned char)(0x70 | (u[6] & 0x0f));
	u[8] = (unsigned char)(0x80 | (u[8] & 0x3f));
	sodium_bin2hex(out, UID_HEX_LEN, u, 16);
	sodium_memzero(u, 16);
	used += 16;
}

bool
parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	if (s == NULL || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

bool
parse_seconds(const char *s, int64_t *ms)
{
	char *end;
	double d;

	if (s == NULL || *s < '0' || *s > '9')
		return false;
	errno = 0;
	d = strtod(s, &end);
	if (*end != '\0' || errno != 0 || !isfinite(d) || d <= 0 ||
	    d > SECONDS_MAX)
		return false;
	*ms = d * 1000 < 1 ? 1 : (int64_t)(d * 1000);
	return true;
}
