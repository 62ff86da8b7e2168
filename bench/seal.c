/* seal: the cost of sealed envelopes (lib/sec/envelope) for 100-byte
 * texts, beside a baseline from the same run: the same message object as
 * plain JSON (jansson), which is what storing costs a client without
 * keys; and the libsodium primitives one envelope is made of.
 *   seal [SECONDS]     each row for about SECONDS (default 1) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "core/util.h"
#include "sec/envelope.h"

#define UID "0190a1b2c3d47e5f8a9b0c1d2e3f4a5b"
#define TS "2026-12-03T12:00:00.123Z"
#define B64 sodium_base64_VARIANT_ORIGINAL

static unsigned char apk[32], ask[64], bpk[32], bsk[64];
static struct envelope_self self_a, self_b;
static struct envelope_peer peer_a, peer_b;
static char text[101];
static char *env;		/* one envelope, for the rows that open */

static double
now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void
die(const char *what)
{
	fprintf(stderr, "seal: %s\n", what);
	exit(1);
}

static void
plain_json(void)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "uid", UID,
	    "from", "alice", "to", "bob", "text", text, "ts", TS);
	char *s;

	if (j == NULL || (s = json_dumps(j, JSON_COMPACT)) == NULL)
		die("json: out of memory");
	free(s);
	json_decref(j);
}

static void
seal(void)
{
	enum envelope_err err;
	char *s = envelope_seal(UID, "alice", "bob", TS, text, 100, ask, apk,
	    bpk, &err);

	if (s == NULL)
		die(envelope_strerror(err));
	free(s);
}

static void
seal_to(void)
{
	enum envelope_err err;
	char *s = envelope_seal_to(&self_a, &peer_b, UID, "alice", "bob", TS,
	    text, 100, &err);

	if (s == NULL)
		die(envelope_strerror(err));
	free(s);
}

static void
open_from(void)
{
	struct envelope_msg m;
	enum envelope_err rc;

	rc = envelope_open_from(&self_b, &peer_a, env, strlen(env), "alice",
	    "bob", &m);
	if (rc != ENVELOPE_OK)
		die(envelope_strerror(rc));
	envelope_msg_free(&m);
}

static void
open_env(void)
{
	struct envelope_msg m;
	enum envelope_err rc;

	rc = envelope_open(env, strlen(env), "alice", "bob", bsk, bpk, apk, &m);
	if (rc != ENVELOPE_OK)
		die(envelope_strerror(rc));
	envelope_msg_free(&m);
}

static unsigned char sig[64], xpk[32], xsk[32], key[32], sealed[80];
static unsigned char nonce[24], ct[300];

static void
sign(void)
{
	if (crypto_sign_detached(sig, NULL, (unsigned char *)text, 200, ask))
		die("sign");
}

static void
verify(void)
{
	if (crypto_sign_verify_detached(sig, (unsigned char *)text, 200, apk))
		die("verify");
}

static void
box_seal(void)
{
	if (crypto_box_seal(sealed, key, 32, xpk) != 0)
		die("box_seal");
}

static void
box_open(void)
{
	if (crypto_box_seal_open(key, sealed, 80, xpk, xsk) != 0)
		die("box_seal_open");
}

static void
pk_convert(void)
{
	if (crypto_sign_ed25519_pk_to_curve25519(xpk, bpk) != 0)
		die("pk_to_curve25519");
}

static void
aead(void)
{
	unsigned long long n;

	randombytes_buf(nonce, sizeof(nonce));
	if (crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &n,
	    (unsigned char *)text, 200, key, 200, NULL, nonce, key) != 0)
		die("aead");
}

/* What one message would cost under designs that amortise (bench/seal):
 * its body signed, or not, and encrypted under a key sealed once a run,
 * whose record is already in base64. */
static const char header[] = "k-sealed-once-per-run-in-base64-about-220-"
    "characters-----------------------------------------------------------"
    "--------------------------------------------------------------------"
    "-----------------------------------------------";
static unsigned char body[16 + 248];
static int batched;

static void
per_run(int sign_each, int batch)
{
	unsigned char h[32];
	unsigned long long n;
	char c64[sodium_base64_ENCODED_LEN(sizeof(ct), B64)];
	char n64[sodium_base64_ENCODED_LEN(24, B64)];
	json_t *j;
	char *s;

	if (sign_each && crypto_sign_detached(body + 16 + 184, NULL, body,
	    16 + 184, ask) != 0)
		die("sign");
	if (batch) {
		/* A leaf and, amortised, an inner node of a hash tree whose
		 * root is signed once a batch. */
		crypto_generichash(h, 32, body + 16, 184, NULL, 0);
		crypto_generichash(h, 32, h, 32, NULL, 0);
		if (++batched == batch) {
			batched = 0;
			if (crypto_sign_detached(sig, NULL, h, 32, ask) != 0)
				die("sign");
		}
	}
	randombytes_buf(nonce, sizeof(nonce));
	if (crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &n, body + 16, 248,
	    (const unsigned char *)header, 64, NULL, nonce, key) != 0)
		die("aead");
	sodium_bin2base64(c64, sizeof(c64), ct, (size_t)n, B64);
	sodium_bin2base64(n64, sizeof(n64), nonce, 24, B64);
	j = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s}", "sealed", 2, "from",
	    "alice", "to", "bob", "h", header, "n", n64, "c", c64);
	if (j == NULL || (s = json_dumps(j, JSON_COMPACT)) == NULL)
		die("json: out of memory");
	free(s);
	json_decref(j);
}

static void
opt_sign_each(void)
{
	per_run(1, 0);
}

static void
opt_sign_batch(void)
{
	per_run(0, 32);
}

static void
opt_sign_run(void)
{
	per_run(0, 0);
}

/* Version 2: a batch of ENVELOPE_CHUNK messages, under one signature. */
static struct envelope_pair pair_ab;
static struct envelope_msg batch[ENVELOPE_CHUNK];

static void
seal_batch(void)
{
	enum envelope_err err;
	char *out[ENVELOPE_CHUNK];

	if (envelope_seal_batch(&self_a, &pair_ab, batch, ENVELOPE_CHUNK, out,
	    &err) != 0)
		die(envelope_strerror(err));
	for (int i = 0; i < ENVELOPE_CHUNK; i++)
		free(out[i]);
}

struct row {
	const char *name;
	void (*f)(void);
	const char *note;
	int per;		/* messages a call */
};

/* Calls of f a second, run for about secs. */
static double
rate(void (*f)(void), double secs)
{
	double t0 = now_s(), t;
	long n = 0;

	do {
		for (int i = 0; i < 64; i++)
			f();
		n += 64;
		t = now_s() - t0;
	} while (t < secs);
	return (double)n / t;
}

int
main(int argc, char **argv)
{
	const struct row rows[] = {
		{ "plain JSON message (baseline)", plain_json, "jansson", 1 },
		{ "envelope_seal", seal, "raw keys", 1 },
		{ "envelope_seal_to", seal_to, "keys made ready once", 1 },
		{ "envelope_open", open_env, "raw keys, as recipient", 1 },
		{ "envelope_open_from", open_from, "keys made ready once", 1 },
		{ "  crypto_sign_detached", sign, "x1 a seal", 1 },
		{ "  crypto_sign_verify_detached", verify, "x1 an open", 1 },
		{ "  crypto_box_seal", box_seal, "x2 a seal", 1 },
		{ "  crypto_box_seal_open", box_open, "x1 an open", 1 },
		{ "  ed25519_pk_to_curve25519", pk_convert,
		  "x2 a seal, x1 an open", 1 },
		{ "  xchacha20poly1305 200 B", aead, "x1 each", 1 },
		{ "option: key per run, sign each", opt_sign_each,
		  "one key sealed a run; a signature a message", 1 },
		{ "option: key per run, sign batch", opt_sign_batch,
		  "a hash tree of 32 signed once", 1 },
		{ "option: key per run, sign run", opt_sign_run,
		  "the key's record signed once; AEAD alone", 1 },
		{ "envelope_seal_batch (v3)", seal_batch,
		  "a message; 16 under one signature", ENVELOPE_CHUNK },
	};
	enum envelope_err err;
	double secs = 1, base = 0, r;

	if (argc > 2 || (argc == 2 && (secs = atof(argv[1])) <= 0))
		die("usage: seal [SECONDS]");
	if (sodium_init() < 0)
		die("sodium_init failed");
	crypto_sign_keypair(apk, ask);
	crypto_sign_keypair(bpk, bsk);
	memset(text, 'a', 100);
	if ((env = envelope_seal(UID, "alice", "bob", TS, text, 100, ask, apk,
	    bpk, &err)) == NULL)
		die(envelope_strerror(err));
	if (envelope_self_init(&self_a, ask) != 0 ||
	    envelope_self_init(&self_b, bsk) != 0 ||
	    envelope_peer_init(&peer_a, apk) != 0 ||
	    envelope_peer_init(&peer_b, bpk) != 0)
		die("envelope keys");
	randombytes_buf(key, sizeof(key));
	if (crypto_sign_ed25519_pk_to_curve25519(xpk, bpk) != 0 ||
	    crypto_sign_ed25519_sk_to_curve25519(xsk, bsk) != 0)
		die("key conversion");
	if (envelope_pair_init(&pair_ab, &self_a, &peer_b) != 0)
		die("envelope pair");
	for (int i = 0; i < ENVELOPE_CHUNK; i++) {
		snprintf(batch[i].uid, sizeof(batch[i].uid), "%s", UID);
		strcpy(batch[i].from, "alice");
		strcpy(batch[i].to, "bob");
		strcpy(batch[i].ts, TS);
		batch[i].text = text;
		batch[i].textlen = 100;
	}
	memcpy(body, "chat envelope v1", 16);
	memcpy(body + 16, text, 100);
	sign();
	box_seal();

	printf("%-32s %12s %10s %8s  %s\n", "row", "per second", "us each",
	    "x base", "note");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		r = rate(rows[i].f, secs) * (rows[i].per);
		if (i == 0)
			base = r;
		printf("%-32s %12.0f %10.2f %8.1f  %s\n", rows[i].name, r,
		    1e6 / r, base / r, rows[i].note);
		fflush(stdout);
	}
	printf("envelope of a 100-byte text: %zu bytes\n", strlen(env));
	free(env);
	return 0;
}
