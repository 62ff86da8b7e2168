/* auth: signature, window and replay checks for the directory. The
 * replay cache is an open-addressed table of signature digests, each
 * with the time it may be forgotten; an expired slot is free again. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dir/auth.h"

#define PROBES 64		/* slots looked at for one signature */
#define DIGEST 16		/* bytes of a signature kept */

struct slot {
	unsigned char d[DIGEST];
	int64_t until;		/* 0: never used */
};

struct session {
	char sid[SIG_SID_LEN + 1];
	char user[USERNAME_MAX + 1];
	char user_key[64 + 1];	/* the user's key when it was opened */
	unsigned char key[SIG_KEYLEN];
	int64_t until;		/* 0: never used */
};

struct auth {
	struct auth_config cfg;
	pthread_mutex_t mu;
	struct slot *slots;
	size_t mask;
	/* sessions, and the directory's X25519 key pair they are made with;
	 * a new one each start, so a restart ends every session */
	pthread_mutex_t smu;
	struct session *sessions;
	unsigned char pk[crypto_scalarmult_BYTES];
	unsigned char sk[crypto_scalarmult_SCALARBYTES];
};

struct auth *
auth_new(const struct auth_config *cfg)
{
	struct auth *a = calloc(1, sizeof(*a));
	size_t n = 64;

	if (a == NULL)
		return NULL;
	a->cfg = *cfg;
	while (n < cfg->replay_slots && n < ((size_t)1 << 30))
		n <<= 1;
	if ((a->slots = calloc(n, sizeof(*a->slots))) == NULL ||
	    (a->sessions = calloc(AUTH_SESSIONS, sizeof(*a->sessions))) ==
	    NULL || pthread_mutex_init(&a->mu, NULL) != 0) {
		free(a->slots);
		free(a->sessions);
		free(a);
		return NULL;
	}
	if (pthread_mutex_init(&a->smu, NULL) != 0) {
		pthread_mutex_destroy(&a->mu);
		free(a->slots);
		free(a->sessions);
		free(a);
		return NULL;
	}
	crypto_box_keypair(a->pk, a->sk);
	a->mask = n - 1;
	return a;
}

void
auth_free(struct auth *a)
{
	if (a == NULL)
		return;
	pthread_mutex_destroy(&a->mu);
	pthread_mutex_destroy(&a->smu);
	free(a->slots);
	sodium_memzero(a->sessions, AUTH_SESSIONS * sizeof(*a->sessions));
	free(a->sessions);
	sodium_memzero(a->sk, sizeof(a->sk));
	free(a);
}

/* Remembers d until `until`, unless it is remembered already. */
static enum auth_result
remember(struct auth *a, const unsigned char d[DIGEST], int64_t until,
    int64_t now)
{
	struct slot *free_slot = NULL, *s;
	uint64_t h;
	size_t i;

	memcpy(&h, d, sizeof(h));
	pthread_mutex_lock(&a->mu);
	for (i = 0; i < PROBES; i++) {
		s = &a->slots[(h + i) & a->mask];
		if (s->until > now && memcmp(s->d, d, DIGEST) == 0) {
			pthread_mutex_unlock(&a->mu);
			return AUTH_REPLAY;
		}
		if (s->until <= now && free_slot == NULL)
			free_slot = s;
	}
	if (free_slot == NULL) {
		pthread_mutex_unlock(&a->mu);
		return AUTH_FULL;
	}
	memcpy(free_slot->d, d, DIGEST);
	free_slot->until = until;
	pthread_mutex_unlock(&a->mu);
	return AUTH_OK;
}

enum auth_result
auth_check(struct auth *a, const struct sig_parts *p,
    const unsigned char pk[crypto_sign_PUBLICKEYBYTES], const char *method,
    const char *target, const void *body, size_t body_len, int64_t now)
{
	unsigned char d[crypto_generichash_BYTES];

	if (p->ts < now - a->cfg.window_ms || p->ts > now + a->cfg.window_ms)
		return AUTH_STALE;
	if (!sig_verify(p, pk, method, target, body, body_len))
		return AUTH_BAD;
	/* A digest of the signature: its first bytes are the signer's
	 * nonce point, the same for every request of one message. */
	crypto_generichash(d, sizeof(d), p->sig, sizeof(p->sig), NULL, 0);
	return remember(a, d, p->ts + a->cfg.window_ms + 1, now);
}

/* The first slot a session id may sit in. */
static size_t
session_slot(const char *sid)
{
	uint64_t h;

	crypto_generichash((unsigned char *)&h, sizeof(h),
	    (const unsigned char *)sid, strlen(sid), NULL, 0);
	return (size_t)(h % AUTH_SESSIONS);
}

enum auth_result
auth_session_open(struct auth *a, const char *user, const char *user_key,
    const unsigned char client_pk[crypto_scalarmult_BYTES], int64_t now,
    char sid[SIG_SID_LEN + 1], unsigned char server_pk[crypto_scalarmult_BYTES])
{
	unsigned char id[16], key[SIG_KEYLEN];
	struct session *s = NULL;
	size_t first, i;

	if (!sig_session_key(a->sk, client_pk, client_pk, a->pk, key))
		return AUTH_BAD;
	randombytes_buf(id, sizeof(id));
	sodium_bin2base64(sid, SIG_SID_LEN + 1, id, sizeof(id),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	first = session_slot(sid);
	pthread_mutex_lock(&a->smu);
	for (i = 0; i < PROBES && s == NULL; i++)
		if (a->sessions[(first + i) % AUTH_SESSIONS].until <= now)
			s = &a->sessions[(first + i) % AUTH_SESSIONS];
	if (s == NULL) {
		pthread_mutex_unlock(&a->smu);
		sodium_memzero(key, sizeof(key));
		return AUTH_FULL;
	}
	snprintf(s->sid, sizeof(s->sid), "%s", sid);
	snprintf(s->user, sizeof(s->user), "%s", user);
	snprintf(s->user_key, sizeof(s->user_key), "%s", user_key);
	memcpy(s->key, key, sizeof(key));
	s->until = now + AUTH_SESSION_MS;
	pthread_mutex_unlock(&a->smu);
	sodium_memzero(key, sizeof(key));
	memcpy(server_pk, a->pk, sizeof(a->pk));
	return AUTH_OK;
}

enum auth_result
auth_check_session(struct auth *a, const struct sig_parts *p,
    const char *user_key, const char *method, const char *target,
    const void *body, size_t body_len, int64_t now)
{
	unsigned char key[SIG_KEYLEN], d[crypto_generichash_BYTES];
	const struct session *s;
	size_t first = session_slot(p->sid), i;
	bool found = false;

	if (!p->session)
		return AUTH_BAD;
	pthread_mutex_lock(&a->smu);
	for (i = 0; i < PROBES && !found; i++) {
		s = &a->sessions[(first + i) % AUTH_SESSIONS];
		if (s->until > now && strcmp(s->sid, p->sid) == 0) {
			found = strcasecmp(s->user, p->user) == 0 &&
			    strcmp(s->user_key, user_key) == 0;
			if (found)
				memcpy(key, s->key, sizeof(key));
			break;
		}
	}
	pthread_mutex_unlock(&a->smu);
	if (!found)
		return AUTH_NO_SESSION;
	if (p->ts < now - a->cfg.window_ms || p->ts > now + a->cfg.window_ms) {
		sodium_memzero(key, sizeof(key));
		return AUTH_STALE;
	}
	if (!sig_session_verify(p, key, method, target, body, body_len)) {
		sodium_memzero(key, sizeof(key));
		return AUTH_BAD;
	}
	sodium_memzero(key, sizeof(key));
	crypto_generichash(d, sizeof(d), p->mac, sizeof(p->mac), NULL, 0);
	return remember(a, d, p->ts + a->cfg.window_ms + 1, now);
}
