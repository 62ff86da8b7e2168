/* frame: the v2 preamble, handshake and transport frames (frame.h), as
 * byte-in, byte-out state machines over sec/noise. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "peer/frame.h"

const char *
frame_strerror(int err)
{
	switch (err) {
	case FRAME_OK: return "success";
	case FRAME_EZERO: return "frame of length zero";
	case FRAME_ESHORT: return "frame too short";
	case FRAME_EAUTH: return "frame does not authenticate";
	case FRAME_ENONCE: return "nonces exhausted";
	case FRAME_ENOMEM: return "out of memory";
	case FRAME_EPREAMBLE: return "not a v2 preamble offered here";
	case FRAME_EHANDSHAKE: return "handshake refused";
	case FRAME_EPEER: return "peer key is not the pinned key";
	case FRAME_ESTATE: return "not expected now";
	}
	return "unknown error";
}

/* 1 when rd holds a whole frame (valid until the next call), 0 when all
 * of in is taken and none is whole, FRAME_EZERO. */
static int
rd_feed(struct frame_rd *rd, const uint8_t *in, size_t n, size_t *used)
{
	size_t take;

	*used = 0;
	while (rd->hdrlen < 2) {
		if (*used == n)
			return 0;
		rd->hdr[rd->hdrlen++] = in[(*used)++];
		if (rd->hdrlen == 2) {
			rd->len = (size_t)rd->hdr[0] << 8 | rd->hdr[1];
			rd->have = 0;
			if (rd->len == 0)
				return FRAME_EZERO;
		}
	}
	take = rd->len - rd->have;
	if (take > n - *used)
		take = n - *used;
	memcpy(rd->buf + rd->have, in + *used, take);
	rd->have += take;
	if (rd->have > rd->top)
		rd->top = rd->have;
	*used += take;
	if (rd->have < rd->len)
		return 0;
	rd->hdrlen = 0;
	return 1;
}

/* Zeroes the size bytes at p but the FRAME_MAX of a frame_rd's buf at
 * off: a buffer never written is never touched, so it costs no memory. */
static void
zero_but_buf(void *p, size_t size, size_t off)
{
	memset(p, 0, off);
	memset((uint8_t *)p + off + FRAME_MAX, 0, size - off - FRAME_MAX);
}

/* Zeroes what rd ever held, and no more. */
static void
rd_wipe(struct frame_rd *rd)
{
	sodium_memzero(rd->buf, rd->top);
	sodium_memzero(rd, offsetof(struct frame_rd, buf));
}

static int
from_noise(int rc)
{
	switch (rc) {
	case NOISE_OK: return FRAME_OK;
	case NOISE_EAUTH: return FRAME_EAUTH;
	case NOISE_ESHORT: return FRAME_ESHORT;
	case NOISE_ENONCE: return FRAME_ENONCE;
	}
	return FRAME_ESTATE;
}

/* Transport frames. */

/* Decrypts the body of a frame into d->rd.buf (src may be it). */
static int
dec_open(struct frame_dec *d, const uint8_t *src, size_t len,
    const uint8_t **plain, size_t *plainlen)
{
	int rc;

	if (len <= NOISE_TAGLEN)
		return d->err = FRAME_ESHORT;
	if (len - NOISE_TAGLEN > d->rd.top)	/* written even on a failure */
		d->rd.top = len - NOISE_TAGLEN;
	if ((rc = noise_decrypt(&d->rx, NULL, 0, src, len, d->rd.buf)) != 0)
		return d->err = from_noise(rc);
	*plain = d->rd.buf;
	*plainlen = len - NOISE_TAGLEN;
	return 1;
}

int
frame_dec_next(struct frame_dec *d, const uint8_t *in, size_t n,
    size_t *used, const uint8_t **plain, size_t *plainlen)
{
	size_t len;
	int rc;

	*used = 0;
	*plainlen = 0;
	if (d->err != 0)
		return d->err;
	/* A frame whole in the input is decrypted from there, uncopied. */
	if (d->rd.hdrlen == 0 && n >= 2) {
		len = (size_t)in[0] << 8 | in[1];
		if (len > 0 && len <= n - 2) {
			*used = 2 + len;
			return dec_open(d, in + 2, len, plain, plainlen);
		}
	}
	if ((rc = rd_feed(&d->rd, in, n, used)) <= 0)
		return rc < 0 ? (d->err = rc) : 0;
	return dec_open(d, d->rd.buf, d->rd.len, plain, plainlen);
}

bool
frame_dec_partial(const struct frame_dec *d)
{
	return d->rd.hdrlen > 0;
}

void
frame_dec_wipe(struct frame_dec *d)
{
	noise_cipher_wipe(&d->rx);
	rd_wipe(&d->rd);
	d->err = FRAME_ESTATE;
}

/* Room in out for the open frame at its largest. */
static int
enc_reserve(struct frame_enc *e)
{
	size_t need = e->sealed + 2 + FRAME_MAX, cap;
	uint8_t *p;

	if (e->cap >= need)
		return 0;
	cap = e->cap * 2 > need ? e->cap * 2 : need;
	if ((p = realloc(e->out, cap)) == NULL)
		return e->err = FRAME_ENOMEM;
	e->out = p;
	e->cap = cap;
	return 0;
}

static int
enc_seal(struct frame_enc *e)
{
	uint8_t *f = e->out + e->sealed;
	size_t len = e->open + NOISE_TAGLEN;
	int rc;

	if ((rc = noise_encrypt(&e->tx, NULL, 0, f + 2, e->open, f + 2)) != 0)
		return e->err = from_noise(rc);
	f[0] = (uint8_t)(len >> 8);
	f[1] = (uint8_t)len;
	e->sealed += 2 + len;
	e->open = 0;
	return 0;
}

int
frame_enc_put(struct frame_enc *e, const void *p, size_t n)
{
	const uint8_t *s = p;
	size_t take;

	if (e->err != 0)
		return e->err;
	while (n > 0) {
		if (e->open == 0 && enc_reserve(e) != 0)
			return e->err;
		take = FRAME_PLAIN_MAX - e->open;
		if (take > n)
			take = n;
		memcpy(e->out + e->sealed + 2 + e->open, s, take);
		e->open += take;
		s += take;
		n -= take;
		if (e->open == FRAME_PLAIN_MAX && enc_seal(e) != 0)
			return e->err;
	}
	return 0;
}

int
frame_enc_flush(struct frame_enc *e)
{
	if (e->err != 0)
		return e->err;
	return e->open > 0 ? enc_seal(e) : 0;
}

const uint8_t *
frame_enc_data(const struct frame_enc *e, size_t *len)
{
	*len = e->sealed;
	return e->out;
}

void
frame_enc_consume(struct frame_enc *e, size_t n)
{
	size_t tail = e->open > 0 ? 2 + e->open : 0;

	if (n > e->sealed)
		n = e->sealed;
	if (n == 0)
		return;
	memmove(e->out, e->out + n, e->sealed - n + tail);
	e->sealed -= n;
}

void
frame_enc_free(struct frame_enc *e)
{
	noise_cipher_wipe(&e->tx);
	if (e->out != NULL)
		sodium_memzero(e->out, e->cap);
	free(e->out);
	e->out = NULL;
	e->sealed = e->open = e->cap = 0;
	e->err = FRAME_ESTATE;
}

/* The handshake. */

static const uint8_t pattern_byte[] = { [NOISE_IK] = 'I', [NOISE_XX] = 'X' };
static const uint8_t hash_byte[] = { [NOISE_SHA256] = 'S',
	[NOISE_BLAKE2B] = 'B' };

static int
hs_start(struct frame_hs *h, enum noise_pattern p, enum noise_hash hash)
{
	uint8_t prologue[sizeof(FRAME_PROLOGUE) - 1 + FRAME_PREAMBLE_LEN];

	memcpy(prologue, FRAME_PROLOGUE, sizeof(FRAME_PROLOGUE) - 1);
	memcpy(prologue + sizeof(FRAME_PROLOGUE) - 1, h->preamble,
	    FRAME_PREAMBLE_LEN);
	if (noise_hs_init(&h->hs, p, hash, h->initiator ? NOISE_INITIATOR :
	    NOISE_RESPONDER, prologue, sizeof(prologue), h->s,
	    h->initiator && h->pinned ? h->pin : NULL) != 0)
		return FRAME_ESTATE;
	return 0;
}

static int
hs_fail(struct frame_hs *h, int err)
{
	frame_hs_wipe(h);
	return h->err = err;
}

/* Appends the next handshake message, framed, to out. Its payload is
 * empty: v2 puts nothing in handshake payloads. */
static int
hs_write(struct frame_hs *h)
{
	size_t len;

	if (h->outlen + 2 + FRAME_HS_MAX > sizeof(h->out))
		return hs_fail(h, FRAME_ESTATE);
	if (noise_hs_write(&h->hs, NULL, 0, h->out + h->outlen + 2,
	    sizeof(h->out) - h->outlen - 2, &len) != 0)
		return hs_fail(h, FRAME_ESTATE);
	h->out[h->outlen] = (uint8_t)(len >> 8);
	h->out[h->outlen + 1] = (uint8_t)len;
	h->outlen += 2 + len;
	return 0;
}

static void
hs_keys(struct frame_hs *h, const uint8_t *s, const uint8_t *pin)
{
	memcpy(h->s, s, NOISE_KEYLEN);
	if (pin != NULL) {
		memcpy(h->pin, pin, NOISE_KEYLEN);
		h->pinned = true;
	}
}

int
frame_hs_initiator(struct frame_hs *h, enum noise_pattern p,
    enum noise_hash hash, const uint8_t s[NOISE_KEYLEN], const uint8_t *pin)
{
	int rc;

	zero_but_buf(h, sizeof(*h), offsetof(struct frame_hs, rd.buf));
	if ((p != NOISE_IK && p != NOISE_XX) ||
	    (hash != NOISE_SHA256 && hash != NOISE_BLAKE2B) ||
	    (p == NOISE_IK && pin == NULL))
		return h->err = FRAME_ESTATE;
	h->initiator = true;
	hs_keys(h, s, pin);
	h->preamble[0] = FRAME_V2;
	h->preamble[1] = pattern_byte[p];
	h->preamble[2] = hash_byte[hash];
	h->preamble[3] = 0;
	h->prelen = FRAME_PREAMBLE_LEN;
	if ((rc = hs_start(h, p, hash)) != 0)
		return hs_fail(h, rc);
	memcpy(h->out, h->preamble, FRAME_PREAMBLE_LEN);
	h->outlen = FRAME_PREAMBLE_LEN;
	return hs_write(h);
}

int
frame_hs_responder(struct frame_hs *h, unsigned offer,
    const uint8_t s[NOISE_KEYLEN], const uint8_t *pin)
{
	zero_but_buf(h, sizeof(*h), offsetof(struct frame_hs, rd.buf));
	h->offer = offer & (FRAME_OFFER(NOISE_IK) | FRAME_OFFER(NOISE_XX));
	if (h->offer == 0)
		return h->err = FRAME_ESTATE;
	hs_keys(h, s, pin);
	return 0;
}

/* The responder's reading of the preamble. */
static int
hs_preamble(struct frame_hs *h)
{
	const uint8_t *b = h->preamble;
	enum noise_pattern p;
	enum noise_hash hash;

	if (b[0] != FRAME_V2 || b[3] != 0)
		return FRAME_EPREAMBLE;
	if (b[1] == 'I')
		p = NOISE_IK;
	else if (b[1] == 'X')
		p = NOISE_XX;
	else
		return FRAME_EPREAMBLE;
	if (b[2] == 'S')
		hash = NOISE_SHA256;
	else if (b[2] == 'B')
		hash = NOISE_BLAKE2B;
	else
		return FRAME_EPREAMBLE;
	if ((h->offer & FRAME_OFFER(p)) == 0)
		return FRAME_EPREAMBLE;
	return hs_start(h, p, hash);
}

int
frame_hs_feed(struct frame_hs *h, const uint8_t *in, size_t n, size_t *used)
{
	const uint8_t *rs;
	uint8_t none[1];
	size_t u, plen;
	int rc;

	*used = 0;
	if (h->err != 0)
		return h->err;
	if (h->prelen < FRAME_PREAMBLE_LEN) {
		while (h->prelen < FRAME_PREAMBLE_LEN && *used < n)
			h->preamble[h->prelen++] = in[(*used)++];
		if (h->prelen < FRAME_PREAMBLE_LEN)
			return 0;
		if ((rc = hs_preamble(h)) != 0)
			return hs_fail(h, rc);
	}
	while (!noise_hs_done(&h->hs)) {
		if (noise_hs_writing(&h->hs)) {
			if ((rc = hs_write(h)) != 0)
				return rc;
			continue;
		}
		rc = rd_feed(&h->rd, in + *used, n - *used, &u);
		*used += u;
		/* Refused at its length, not after 64 KiB of it. */
		if (rc < 0 || (h->rd.len > FRAME_HS_MAX &&
		    (rc == 1 || h->rd.hdrlen == 2)))
			return hs_fail(h, FRAME_EHANDSHAKE);
		if (rc == 0)
			return 0;
		if (noise_hs_read(&h->hs, h->rd.buf, h->rd.len, none, 0,
		    &plen) != 0)
			return hs_fail(h, FRAME_EHANDSHAKE);
		rs = noise_hs_remote_static(&h->hs);
		if (rs != NULL && h->pinned &&
		    sodium_memcmp(rs, h->pin, NOISE_KEYLEN) != 0)
			return hs_fail(h, FRAME_EPEER);
	}
	return 1;
}

const uint8_t *
frame_hs_output(const struct frame_hs *h, size_t *len)
{
	*len = h->outlen;
	return h->out;
}

void
frame_hs_sent(struct frame_hs *h, size_t n)
{
	if (n > h->outlen)
		n = h->outlen;
	memmove(h->out, h->out + n, h->outlen - n);
	h->outlen -= n;
}

const uint8_t *
frame_hs_remote_static(const struct frame_hs *h)
{
	return noise_hs_remote_static(&h->hs);
}

int
frame_hs_split(struct frame_hs *h, struct frame_enc *e, struct frame_dec *d)
{
	int rc;

	memset(e, 0, sizeof(*e));
	zero_but_buf(d, sizeof(*d), offsetof(struct frame_dec, rd.buf));
	if (h->err != 0)
		return h->err;
	rc = noise_hs_split(&h->hs, &e->tx, &d->rx);
	frame_hs_wipe(h);
	return rc == 0 ? 0 : (h->err = FRAME_ESTATE);
}

void
frame_hs_wipe(struct frame_hs *h)
{
	noise_hs_wipe(&h->hs);
	sodium_memzero(h->s, sizeof(h->s));
	rd_wipe(&h->rd);
}
