/* auth: signature, window and replay checks for the directory. The
 * replay cache is an open-addressed table of signature digests, each
 * with the time it may be forgotten; an expired slot is free again. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dir/auth.h"

#define PROBES 64		/* slots looked at for one signature */
#define DIGEST 16		/* bytes of a signature kept */

struct slot {
	unsigned char d[DIGEST];
	int64_t until;		/* 0: never used */
};

struct auth {
	struct auth_config cfg;
	pthread_mutex_t mu;
	struct slot *slots;
	size_t mask;
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
	    pthread_mutex_init(&a->mu, NULL) != 0) {
		free(a->slots);
		free(a);
		return NULL;
	}
	a->mask = n - 1;
	return a;
}

void
auth_free(struct auth *a)
{
	if (a == NULL)
		return;
	pthread_mutex_destroy(&a->mu);
	free(a->slots);
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
