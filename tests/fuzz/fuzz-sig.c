/* libFuzzer target: the Chat-Signature header parser. Whatever parses
 * must be written back byte for byte by the same fields, and must not
 * verify as a fixed key's signature of a fixed request. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sec/sig.h"

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "fuzz-sig: %s:%d: " \
	"check failed: %s\n", __FILE__, __LINE__, #c); abort(); } } while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	static int ready;
	struct sig_parts p;
	char in[SIG_HEADER_MAX + 64], out[SIG_HEADER_MAX + 64];
	char b64[SIG_B64_LEN + 1];

	if (!ready) {
		unsigned char sk[crypto_sign_SECRETKEYBYTES], seed[32] = { 7 };

		CHECK(sodium_init() >= 0);
		crypto_sign_seed_keypair(pk, sk, seed);
		ready = 1;
	}
	/* A header's value holds no NUL: HTTP servers hand over C strings. */
	if (size >= sizeof(in) || memchr(data, 0, size) != NULL)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	if (!sig_parse(in, &p))
		return 0;
	if (p.session) {
		unsigned char key[SIG_KEYLEN] = { 9 };

		sodium_bin2base64(b64, sizeof(b64), p.mac, sizeof(p.mac),
		    sodium_base64_VARIANT_ORIGINAL);
		snprintf(out, sizeof(out), "s%c %s %lld %s %s", p.blake2b ?
		    '2' : '1', p.user, (long long)p.ts, p.sid, b64);
		CHECK(!sig_session_verify(&p, key, "POST", "/message/create/",
		    "{}", 2));
	} else {
		sodium_bin2base64(b64, sizeof(b64), p.sig, sizeof(p.sig),
		    sodium_base64_VARIANT_ORIGINAL);
		snprintf(out, sizeof(out), "v1 %s %lld %s", p.user,
		    (long long)p.ts, b64);
	}
	CHECK(strcmp(in, out) == 0);
	CHECK(!sig_verify(&p, pk, "POST", "/message/create/", "{}", 2));
	return 0;
}
