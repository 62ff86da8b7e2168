/* noise: the Noise Protocol Framework (revision 34) for the patterns IK,
 * XX and NK over 25519, ChaChaPoly and SHA256 or BLAKE2b, all libsodium.
 * A handshake state machine, then a cipher state each way. No I/O here. */
#ifndef CHAT_NOISE_H
#define CHAT_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NOISE_KEYLEN 32		/* a 25519 key, public or secret */
#define NOISE_TAGLEN 16		/* the AEAD's tag */
#define NOISE_HASHMAX 64	/* the longest HASHLEN (BLAKE2b) */
#define NOISE_MSGMAX 65535	/* bytes of any Noise message */

enum noise_pattern { NOISE_IK, NOISE_XX, NOISE_NK };
enum noise_hash { NOISE_SHA256, NOISE_BLAKE2B };
enum noise_role { NOISE_INITIATOR, NOISE_RESPONDER };

enum noise_err {
	NOISE_OK = 0,
	NOISE_ESTATE = -1,	/* not this side's turn, finished or failed */
	NOISE_EKEY = -2,	/* a static key the pattern needs is missing */
	NOISE_ESPACE = -3,	/* the output does not fit */
	NOISE_ESHORT = -4,	/* a message too short for what it must hold */
	NOISE_EAUTH = -5,	/* a tag that does not verify */
	NOISE_EDH = -6,		/* a public key that gives a zero secret */
	NOISE_ENONCE = -7,	/* the nonces of this key are used up */
};

/* One direction's key and nonce (the spec's CipherState). */
struct noise_cipher {
	uint8_t k[NOISE_KEYLEN];
	uint64_t n;
	bool haskey;
};

/* The spec's SymmetricState and HandshakeState in one. */
struct noise_hs {
	enum noise_pattern pattern;
	enum noise_hash hash;
	bool initiator;
	enum { NOISE_HS_WRITE, NOISE_HS_READ, NOISE_HS_DONE, NOISE_HS_FAILED }
	    state;
	unsigned msg;		/* the index of the next message */
	size_t hashlen;
	uint8_t ck[NOISE_HASHMAX], h[NOISE_HASHMAX];
	struct noise_cipher cs;
	uint8_t s[NOISE_KEYLEN], spub[NOISE_KEYLEN];
	uint8_t e[NOISE_KEYLEN], epub[NOISE_KEYLEN];
	uint8_t rs[NOISE_KEYLEN], re[NOISE_KEYLEN];
	bool has_s, has_e, fixed_e, has_rs, has_re;
};

/* Starts a handshake. s: this side's static secret key (IK and XX both
 * sides, NK the responder), NULL when it has none; rs: the responder's
 * static public key, which IK and NK initiators must know beforehand. */
int noise_hs_init(struct noise_hs *hs, enum noise_pattern p,
    enum noise_hash hash, enum noise_role role, const uint8_t *prologue,
    size_t prologuelen, const uint8_t *s, const uint8_t *rs);
/* For test vectors only: the ephemeral secret key to use, not a random one. */
void noise_hs_fixed_ephemeral(struct noise_hs *hs, const uint8_t e[NOISE_KEYLEN]);
/* Writes the next handshake message carrying payload into out. */
int noise_hs_write(struct noise_hs *hs, const uint8_t *payload, size_t len,
    uint8_t *out, size_t cap, size_t *outlen);
/* Reads the next handshake message; its payload goes to payload (len -
 * its overhead bytes at most, cap the room). A failure is final. */
int noise_hs_read(struct noise_hs *hs, const uint8_t *msg, size_t len,
    uint8_t *payload, size_t cap, size_t *payloadlen);
/* True when it is this side's turn to write; the handshake is over. */
bool noise_hs_writing(const struct noise_hs *hs);
bool noise_hs_done(const struct noise_hs *hs);
/* The peer's static public key once a message has brought it (or the
 * one given for IK and NK initiators), else NULL. */
const uint8_t *noise_hs_remote_static(const struct noise_hs *hs);
/* The handshake hash (hashlen bytes), for channel binding and tests. */
const uint8_t *noise_hs_hash(const struct noise_hs *hs, size_t *hashlen);
/* Once done: the cipher to send with and the one to receive with. The
 * handshake's secrets are wiped, its hash kept. */
int noise_hs_split(struct noise_hs *hs, struct noise_cipher *tx,
    struct noise_cipher *rx);
/* Wipes every secret the handshake holds. */
void noise_hs_wipe(struct noise_hs *hs);

/* A transport message: out gets len + NOISE_TAGLEN bytes (out may be in,
 * exactly). The nonce advances only on success. */
int noise_encrypt(struct noise_cipher *c, const uint8_t *ad, size_t adlen,
    const uint8_t *in, size_t len, uint8_t *out);
/* out gets len - NOISE_TAGLEN bytes (out may be in, exactly). */
int noise_decrypt(struct noise_cipher *c, const uint8_t *ad, size_t adlen,
    const uint8_t *in, size_t len, uint8_t *out);
void noise_cipher_wipe(struct noise_cipher *c);

/* The X25519 keys of an Ed25519 key pair: the secret from the 64-byte
 * Ed25519 secret key, the public from the 32-byte public key. */
int noise_key_from_ed25519(uint8_t x_sk[NOISE_KEYLEN], const uint8_t ed_sk[64]);
int noise_pub_from_ed25519(uint8_t x_pk[NOISE_KEYLEN], const uint8_t ed_pk[32]);
/* The public key of a secret one. */
int noise_pubkey(uint8_t pk[NOISE_KEYLEN], const uint8_t sk[NOISE_KEYLEN]);

const char *noise_strerror(int err);
/* "Noise_IK_25519_ChaChaPoly_SHA256" and so on; NULL when unknown. */
const char *noise_protocol_name(enum noise_pattern p, enum noise_hash hash);

#endif
