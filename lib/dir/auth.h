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
#define AUTH_SESSION_MS (10 * 60 * 1000)	/* a session's life */
#define AUTH_SESSIONS 4096		/* sessions open at once, at most */

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
	AUTH_NO_SESSION,	/* no such session, or not this user's now */
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

/* Opens a session for user, whose key is now user_key, with the
 * client's X25519 key client_pk (the request that asks is checked by
 * auth_check first). Fills the session id and the directory's X25519
 * key; AUTH_BAD for a client key of low order, AUTH_FULL when every
 * slot is taken. */
enum auth_result auth_session_open(struct auth *a, const char *user,
    const char *user_key, const unsigned char client_pk[crypto_scalarmult_BYTES],
    int64_t now, char sid[SIG_SID_LEN + 1],
    unsigned char server_pk[crypto_scalarmult_BYTES]);
/* Whether the s1 header p MACs this request under a live session of
 * p->user opened while the user's key was user_key; the window and the
 * replay cache as for signatures. */
enum auth_result auth_check_session(struct auth *a, const struct sig_parts *p,
    const char *user_key, const char *method, const char *target,
    const void *body, size_t body_len, int64_t now);

#endif
