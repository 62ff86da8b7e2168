/* auth: who is asking. Checks a request's signature header against the
 * key a name is bound to: the signature itself, its time against a
 * window, and a cache of the signatures seen within it (replay). */
#ifndef CHAT_AUTH_H
#define CHAT_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "sec/sig.h"

#define AUTH_WINDOW_MS (5 * 60 * 1000)	/* default: 5 minutes either way */
#define AUTH_REPLAY_SLOTS (1 << 20)	/* default: signatures remembered */

struct auth_config {
	int64_t window_ms;
	size_t replay_slots;	/* rounded up to a power of two */
};

enum auth_result {
	AUTH_OK = 0,
	AUTH_STALE,		/* its time is outside the window */
	AUTH_BAD,		/* not the key's signature of this request */
	AUTH_REPLAY,		/* seen before within the window */
	AUTH_FULL,		/* the replay cache has no room: retry later */
};

struct auth;

struct auth *auth_new(const struct auth_config *cfg);
void auth_free(struct auth *a);

/* Whether the parsed header p signs this request with pk, at now (ms).
 * The signature is remembered only once it has passed every other check,
 * so garbage cannot crowd the cache. */
enum auth_result auth_check(struct auth *a, const struct sig_parts *p,
    const unsigned char pk[crypto_sign_PUBLICKEYBYTES], const char *method,
    const char *target, const void *body, size_t body_len, int64_t now);

#endif
