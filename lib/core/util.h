/* util: time stamps, ids and strict number parsing shared by all programs. */
#ifndef CHAT_UTIL_H
#define CHAT_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <time.h>

#define TS_LEN 25	/* "2026-11-24T20:05:18.123Z" and NUL */
#define UID_HEX_LEN 33	/* 128 bits in hex and NUL */

/* Milliseconds since the epoch, wall clock. */
int64_t now_ms(void);
/* Milliseconds from a monotonic clock, for timeouts and durations. */
int64_t mono_ms(void);
/* *t: ms from now on the monotonic clock, for pthread_cond_timedwait on
 * a condition made by cond_init_mono. */
void mono_deadline(struct timespec *t, int64_t ms);
/* pthread_cond_init on CLOCK_MONOTONIC: 0, or the error number. */
int cond_init_mono(pthread_cond_t *cv);
/* RFC 3339 UTC with milliseconds. */
void ts_format(int64_t ms, char out[TS_LEN]);
/* Parses what ts_format writes; false when s is not of that form. */
bool ts_parse(const char *s, int64_t *ms);
/* A fresh UUIDv7 as 32 lowercase hex digits: time-ordered to the
 * millisecond, 74 random bits (libsodium). */
void uid_new(char out[UID_HEX_LEN]);
/* Decimal digits only, no sign, no spaces, within [min, max]. */
bool parse_int(const char *s, int64_t min, int64_t max, int64_t *out);
/* Seconds, maybe with a fraction ("30", "0.2"), more than 0 and at most
 * a day, as milliseconds (at least 1). */
#define SECONDS_MAX 86400
bool parse_seconds(const char *s, int64_t *ms);

#endif
