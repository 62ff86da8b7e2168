/* frame: wire protocol v2 on a byte stream. The preamble and Noise
 * handshake that open it, then Noise transport messages in frames of a
 * 2-byte big-endian length and at most 65535 bytes, carrying the v1 lines
 * as one byte stream. No I/O here: bytes in, bytes out. */
#ifndef CHAT_FRAME_H
#define CHAT_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sec/noise.h"

#define FRAME_V2 0x02		/* a v2 stream's first byte; v1's is '{' */
#define FRAME_PREAMBLE_LEN 4
#define FRAME_MAX 65535		/* bytes after a frame's length */
#define FRAME_PLAIN_MAX (FRAME_MAX - NOISE_TAGLEN)
#define FRAME_PROLOGUE "chat v2"	/* then the preamble */
#define FRAME_HS_MAX 96		/* the longest handshake message (IK 1, XX 2) */

enum frame_err {
	FRAME_OK = 0,
	FRAME_EZERO = -1,	/* a frame of length zero */
	FRAME_ESHORT = -2,	/* a transport frame with no room for data */
	FRAME_EAUTH = -3,	/* a frame that does not decrypt: altered,
				 * cut, replayed or out of order */
	FRAME_ENONCE = -4,	/* this key's nonces are used up */
	FRAME_ENOMEM = -5,
	FRAME_EPREAMBLE = -6,	/* not a v2 preamble, or one not offered */
	FRAME_EHANDSHAKE = -7,	/* a handshake message refused */
	FRAME_EPEER = -8,	/* the peer's static key is not the pinned one */
	FRAME_ESTATE = -9,	/* called out of turn, or after a failure */
};

const char *frame_strerror(int err);

/* Collects one length-prefixed frame from chunks of any size. */
struct frame_rd {
	uint8_t hdr[2];
	size_t hdrlen;		/* bytes of hdr read */
	size_t len;		/* the frame's length, once hdr is whole */
	size_t have;		/* bytes of the frame read */
	size_t top;		/* bytes of buf ever written: what a wipe
				 * zeroes, so that an idle channel's unused
				 * buffer stays untouched memory */
	uint8_t buf[FRAME_MAX];
};

/* Receiving transport frames. */
struct frame_dec {
	struct noise_cipher rx;
	struct frame_rd rd;
	int err;		/* once set, every call fails with it */
};

/* Takes bytes of in, up to the end of the first whole frame (*used of
 * them). 1: a frame decrypted, its plaintext in *plain, *plainlen bytes,
 * valid until the next call; 0: all of in taken, no whole frame yet;
 * < 0: an enum frame_err, final. */
int frame_dec_next(struct frame_dec *d, const uint8_t *in, size_t n,
    size_t *used, const uint8_t **plain, size_t *plainlen);
/* True when part of a frame is buffered: an end of stream now cuts it. */
bool frame_dec_partial(const struct frame_dec *d);
void frame_dec_wipe(struct frame_dec *d);

/* Sending: bytes put are packed into frames, FRAME_PLAIN_MAX a frame;
 * a frame is sealed when full or on flush, so what is put in a burst
 * goes in few frames and a line may span frames. */
struct frame_enc {
	struct noise_cipher tx;
	uint8_t *out;		/* sealed frames, then the open one */
	size_t sealed;		/* bytes of sealed frames in out */
	size_t open;		/* plaintext bytes in the open frame */
	size_t cap;
	int err;
};

int frame_enc_put(struct frame_enc *e, const void *p, size_t n);
/* Seals the open frame, if it holds anything. */
int frame_enc_flush(struct frame_enc *e);
/* The sealed bytes, to write; then frame_enc_consume(n) for n written. */
const uint8_t *frame_enc_data(const struct frame_enc *e, size_t *len);
void frame_enc_consume(struct frame_enc *e, size_t n);
void frame_enc_free(struct frame_enc *e);

/* The handshake. The initiator writes the preamble and the first
 * message at once; each side answers as bytes come. */
struct frame_hs {
	struct noise_hs hs;
	struct frame_rd rd;
	bool initiator;
	unsigned offer;		/* responder: the patterns accepted, bits */
	uint8_t preamble[FRAME_PREAMBLE_LEN];
	size_t prelen;		/* responder: preamble bytes read */
	uint8_t s[NOISE_KEYLEN];
	uint8_t pin[NOISE_KEYLEN];
	bool pinned;
	uint8_t out[FRAME_PREAMBLE_LEN + 2 * (2 + FRAME_HS_MAX)];
	size_t outlen;
	int err;
};

#define FRAME_OFFER(p) (1u << (p))	/* FRAME_OFFER(NOISE_IK) | ... */

/* s: this side's static secret key. pin: the peer's static public key
 * it must have, or NULL to take any (the caller checks it later, from
 * frame_hs_remote_static). An IK initiator needs pin: the listener's key. */
int frame_hs_initiator(struct frame_hs *h, enum noise_pattern p,
    enum noise_hash hash, const uint8_t s[NOISE_KEYLEN], const uint8_t *pin);
/* offer: the patterns accepted (IK, XX); either hash is. */
int frame_hs_responder(struct frame_hs *h, unsigned offer,
    const uint8_t s[NOISE_KEYLEN], const uint8_t *pin);
/* Takes bytes of in (*used of them; what follows the handshake is the
 * first transport frames). 1: done, split it; 0: more to read; < 0: an
 * enum frame_err, final: close without a word. Check frame_hs_output
 * after each call. */
int frame_hs_feed(struct frame_hs *h, const uint8_t *in, size_t n,
    size_t *used);
/* Bytes to write now; frame_hs_sent(n) for n written. */
const uint8_t *frame_hs_output(const struct frame_hs *h, size_t *len);
void frame_hs_sent(struct frame_hs *h, size_t n);
/* The peer's static public key, once known. */
const uint8_t *frame_hs_remote_static(const struct frame_hs *h);
/* After done: the two directions; wipes the handshake. */
int frame_hs_split(struct frame_hs *h, struct frame_enc *e,
    struct frame_dec *d);
void frame_hs_wipe(struct frame_hs *h);

#endif
