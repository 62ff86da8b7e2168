/* util: time stamps, ids and strict number parsing shared by all programs. */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

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
ts_format(int64_t ms, char out[TS_LEN])
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	if (ms < 0 || gmtime_r(&secs, &tm) == NULL) {
		snprintf(out, TS_LEN, "1970-01-01T00:00:00.000Z");
		return;
	}
	if (strftime(out, TS_LEN, "%Y-%m-%dT%H:%M:%S", &tm) != TS_LEN - 6)
		snprintf(out, TS_LEN, "1970-01-01T00:00:00");
	snprintf(out + TS_LEN - 6, 6, ".%03dZ", (int)(ms % 1000));
}

bool
ts_parse(const char *s, int64_t *ms)
{
	struct tm tm;
	int milli, used = 0;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || strlen(s) != TS_LEN - 1)
		return false;
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &tm.tm_year, &tm.tm_mon,
	    &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &milli, &used) != 7 ||
	    used != TS_LEN - 1)
		return false;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*ms = (int64_t)timegm(&tm) * 1000 + milli;
	return true;
}

void
uid_new(char out[UID_HEX_LEN])
{
	unsigned char raw[16];

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(out, UID_HEX_LEN, raw, sizeof(raw));
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
