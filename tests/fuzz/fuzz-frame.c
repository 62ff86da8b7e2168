/* libFuzzer target: the v2 frame decoder and handshake reader. The first
 * byte picks what the rest drives: raw bytes into a transport decoder, a
 * round trip of plaintext through encoder and decoder, arbitrary bytes
 * into a responder (IK and XX), or a real handshake with bits flipped. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "peer/frame.h"

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "fuzz-frame: %s:%d: " \
	"check failed: %s\n", __FILE__, __LINE__, #c); abort(); } } while (0)

static const uint8_t key[32] = { 1, 2, 3, 4, 5, 6, 7, 8 };
static uint8_t ssec[32] = { 9 }, rsec[32] = { 10 }, spub[32], rpub[32];

static struct frame_dec dec;
static struct frame_hs ini, res;

/* Chunk sizes from one byte: 1 to 256. */
static size_t
chunk_of(uint8_t b)
{
	return (size_t)b + 1;
}

/* Feeds p to dec in chunks; the plaintext goes to out (cap bytes) when
 * out is not NULL. The last return of frame_dec_next, or 0. */
static int
decode(const uint8_t *p, size_t n, size_t chunk, uint8_t *out, size_t cap,
    size_t *outlen)
{
	const uint8_t *plain;
	size_t used, plainlen, c;
	int rc = 0;

	*outlen = 0;
	while (n > 0) {
		c = n < chunk ? n : chunk;
		rc = frame_dec_next(&dec, p, c, &used, &plain, &plainlen);
		if (rc < 0)
			return rc;
		CHECK(used <= c);
		CHECK(rc == 1 || used == c);
		if (rc == 1) {
			CHECK(plainlen > 0 && plainlen <= FRAME_PLAIN_MAX);
			if (out != NULL) {
				CHECK(*outlen + plainlen <= cap);
				memcpy(out + *outlen, plain, plainlen);
			}
			*outlen += plainlen;
		}
		p += used;
		n -= used;
	}
	return rc;
}

static void
raw_frames(const uint8_t *p, size_t n)
{
	size_t got;
	int rc;

	if (n < 1)
		return;
	memset(&dec, 0, sizeof(dec));
	memcpy(dec.rx.k, key, 32);
	dec.rx.haskey = true;
	rc = decode(p + 1, n - 1, chunk_of(p[0]), NULL, 0, &got);
	CHECK(rc >= FRAME_ESTATE && rc <= 1);
}

/* The plaintext is put in pieces (sizes from the input), with flushes
 * between some, and must come out whole and the same. */
static void
round_trip(const uint8_t *p, size_t n)
{
	struct frame_enc enc = { 0 };
	const uint8_t *out;
	size_t off = 0, piece, len, got, big;
	uint8_t *back, *plain;

	if (n < 2)
		return;
	big = (size_t)p[1] * 1024;
	plain = malloc(n + big);
	back = malloc(n + big);
	CHECK(plain != NULL && back != NULL);
	memcpy(plain, p, n);
	memset(plain + n, 'z', big);
	memcpy(enc.tx.k, key, 32);
	enc.tx.haskey = true;
	memset(&dec, 0, sizeof(dec));
	memcpy(dec.rx.k, key, 32);
	dec.rx.haskey = true;
	while (off < n + big) {
		piece = (size_t)plain[off % n] * 97 + 1;
		if (piece > n + big - off)
			piece = n + big - off;
		CHECK(frame_enc_put(&enc, plain + off, piece) == 0);
		if (plain[off % n] & 1)
			CHECK(frame_enc_flush(&enc) == 0);
		off += piece;
	}
	CHECK(frame_enc_flush(&enc) == 0);
	out = frame_enc_data(&enc, &len);
	CHECK(decode(out, len, chunk_of(p[0]) * 61, back, n + big, &got) >= 0);
	CHECK(got == n + big);
	CHECK(memcmp(back, plain, got) == 0);
	frame_enc_consume(&enc, len);
	frame_enc_free(&enc);
	free(plain);
	free(back);
}

/* Arbitrary bytes, preamble and all, into a responder. */
static void
responder(const uint8_t *p, size_t n)
{
	size_t used, len, off = 0, c;
	int rc = 0;

	if (n < 1)
		return;
	CHECK(frame_hs_responder(&res, FRAME_OFFER(NOISE_IK) |
	    FRAME_OFFER(NOISE_XX), rsec, (p[0] & 1) ? spub : NULL) == 0);
	for (off = 1; off < n && rc == 0; off += used) {
		c = n - off < chunk_of(p[0]) ? n - off : chunk_of(p[0]);
		rc = frame_hs_feed(&res, p + off, c, &used);
		CHECK(used <= c);
		frame_hs_output(&res, &len);
		CHECK(len <= sizeof(res.out));
		frame_hs_sent(&res, len);
	}
	CHECK(rc <= 0);
	frame_hs_wipe(&res);
}

/* A real handshake, with the input's bytes as (message, offset, xor)
 * triples applied on the way: a change is never let through. */
static void
tampered(const uint8_t *p, size_t n)
{
	uint8_t buf[512], orig[512];
	const uint8_t *out;
	size_t len, used, i;
	bool changed = false;
	int rc = 0, turn;
	enum noise_pattern pat;

	if (n < 1)
		return;
	pat = (p[0] & 2) ? NOISE_IK : NOISE_XX;
	CHECK(frame_hs_initiator(&ini, pat, (p[0] & 4) ? NOISE_BLAKE2B :
	    NOISE_SHA256, ssec, pat == NOISE_IK ? rpub : NULL) == 0);
	CHECK(frame_hs_responder(&res, FRAME_OFFER(NOISE_IK) |
	    FRAME_OFFER(NOISE_XX), rsec, NULL) == 0);
	for (turn = 0; turn < 3 && rc >= 0; turn++) {
		struct frame_hs *from = turn % 2 == 0 ? &ini : &res;
		struct frame_hs *to = turn % 2 == 0 ? &res : &ini;

		out = frame_hs_output(from, &len);
		if (len == 0)
			break;
		CHECK(len <= sizeof(buf));
		memcpy(buf, out, len);
		memcpy(orig, out, len);
		frame_hs_sent(from, len);
		for (i = 1; i + 2 < n; i += 3)
			if (p[i] % 3 == turn)
				buf[p[i + 1] % len] ^= p[i + 2];
		if (memcmp(buf, orig, len) != 0)
			changed = true;
		rc = frame_hs_feed(to, buf, len, &used);
	}
	if (changed)
		CHECK(!(noise_hs_done(&ini.hs) && noise_hs_done(&res.hs) &&
		    ini.err == 0 && res.err == 0));
	frame_hs_wipe(&ini);
	frame_hs_wipe(&res);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;

	if (!ready) {
		CHECK(sodium_init() >= 0);
		CHECK(noise_pubkey(spub, ssec) == 0);
		CHECK(noise_pubkey(rpub, rsec) == 0);
		ready = true;
	}
	if (size < 1)
		return 0;
	switch (data[0] % 4) {
	case 0: raw_frames(data + 1, size - 1); break;
	case 1: round_trip(data + 1, size - 1); break;
	case 2: responder(data + 1, size - 1); break;
	case 3: tampered(data + 1, size - 1); break;
	}
	return 0;
}
