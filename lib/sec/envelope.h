/* envelope: sealed storage. A message as the directory stores it for a
 * keyed user: encrypted and signed by the sender so that only the sender
 * and the recipient can read it back. The format is chat-protocol(7),
 * SEALED ENVELOPES. libsodium must have been initialised (sodium_init). */
#ifndef CHAT_ENVELOPE_H
#define CHAT_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>

#include <sodium.h>

#include "core/util.h"
#include "core/valid.h"

#define ENVELOPE_VERSION 1		/* what envelope_seal_to writes */
#define ENVELOPE_VERSION_BATCH 3	/* what envelope_seal_batch writes */
#define ENVELOPE_CHUNK 16		/* messages under one signature, at most */
#define ENVELOPE_TEXT_MAX 65536		/* bytes of a message's text */
/* The longest envelope read or written: a text of ENVELOPE_TEXT_MAX and
 * the longest other fields, in base64, fit. */
#define ENVELOPE_MAX (96 * 1024)

enum envelope_err {
	ENVELOPE_OK = 0,
	ENVELOPE_NOT,		/* not an envelope: a message's plain text */
	ENVELOPE_MALFORMED,	/* an envelope, but not of the right shape */
	ENVELOPE_NOT_OURS,	/* sealed to neither of the reader's keys */
	ENVELOPE_ALTERED,	/* the body or what it binds was changed */
	ENVELOPE_BAD_SIG,	/* not signed by the expected sender's key */
	ENVELOPE_MISMATCH,	/* sender or recipient not those given */
	ENVELOPE_INVALID,	/* sealing: a field or a key is not valid */
	ENVELOPE_NOMEM,
};

/* The fields sealed in an envelope. */
struct envelope_msg {
	char uid[UID_MAX + 1];
	char from[USERNAME_MAX + 1];
	char to[USERNAME_MAX + 1];
	char ts[TS_LEN];		/* the sender's time stamp */
	char *text;			/* NUL-terminated; envelope_msg_free */
	size_t textlen;
};

/* Keys made ready once, since deriving the X25519 keys sealing uses from
 * Ed25519 ones costs about as much as sealing itself. The user's own key
 * pair (sk as crypto_sign makes it: seed, then public key): */
struct envelope_self {
	unsigned char sk[crypto_sign_SECRETKEYBYTES];
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char xsk[crypto_box_SECRETKEYBYTES];
	unsigned char xpk[crypto_box_PUBLICKEYBYTES];
};
/* And another user's public key, as pinned. */
struct envelope_peer {
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char xpk[crypto_box_PUBLICKEYBYTES];
};

/* The keys of version 2 between the user and one peer: the X25519 secret
 * both share, hashed with the direction, one key each way. */
struct envelope_pair {
	unsigned char out[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
	unsigned char in[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
};

/* Roots of hash trees whose signature was checked, so that the other
 * messages signed with one do not check it again. */
#define ENVELOPE_ROOTS 8
struct envelope_roots {
	unsigned char root[ENVELOPE_ROOTS][crypto_generichash_BYTES];
	unsigned char pk[ENVELOPE_ROOTS][crypto_sign_PUBLICKEYBYTES];
	unsigned n, next;
};

/* 0, or -1 when the key is not a usable Ed25519 key. */
int envelope_self_init(struct envelope_self *k,
    const unsigned char sk[crypto_sign_SECRETKEYBYTES]);
int envelope_peer_init(struct envelope_peer *p,
    const unsigned char pk[crypto_sign_PUBLICKEYBYTES]);
/* Wipes the secrets. */
void envelope_self_wipe(struct envelope_self *k);

/* The envelope of one message from `from` (the user whose keys are k) to
 * `to` (whose key is rcpt), as a NUL-terminated JSON object (malloc'd),
 * or NULL with *err. text: UTF-8 without NUL, at most ENVELOPE_TEXT_MAX
 * bytes; uid, names and ts as valid.h and util.h check them. */
char *envelope_seal_to(const struct envelope_self *k,
    const struct envelope_peer *rcpt, const char *uid, const char *from,
    const char *to, const char *ts, const char *text, size_t textlen,
    enum envelope_err *err);

/* Opens what the directory stored as a message from `from` to `to`
 * (names as the directory reports them; compared regardless of ASCII
 * case), for the user whose keys are k: the sender or the recipient.
 * sender holds the key pinned for `from`: the signature must be by it.
 * ENVELOPE_OK and *m filled, or the reason it was refused. */
enum envelope_err envelope_open_from(const struct envelope_self *k,
    const struct envelope_peer *sender, const char *content, size_t len,
    const char *from, const char *to, struct envelope_msg *m);

/* 0, or -1 when the peer's key gives no usable shared secret. */
int envelope_pair_init(struct envelope_pair *pair,
    const struct envelope_self *k, const struct envelope_peer *peer);
void envelope_pair_wipe(struct envelope_pair *pair);

/* Version 3: n messages (n >= 1) from the user whose keys are k to the
 * peer of pair, all with the same from and to, sealed under the pair's
 * key and signed with one signature for each ENVELOPE_CHUNK of them (a
 * hash tree whose path each envelope carries). The uid, the names and
 * the time are bound, not carried: a reader has them from the
 * directory's record. out[i]: the envelope of m[i], malloc'd. 0, or -1
 * with *err (and no out[] to free). Version 2, which carried them,
 * is only read. */
int envelope_seal_batch(const struct envelope_self *k,
    const struct envelope_pair *pair, const struct envelope_msg *m,
    size_t n, char **out, enum envelope_err *err);

/* Opens an envelope of any version: as envelope_open_from, with pair
 * the keys between the reader and the other side of the message (the
 * recipient when the reader sent it), roots (may be NULL) the roots
 * already checked, and uid the one the directory reports for the
 * message, which version 3 binds (NULL: none reported, and a version 3
 * envelope is ENVELOPE_MISMATCH). */
enum envelope_err envelope_open_any(const struct envelope_self *k,
    const struct envelope_peer *sender, const struct envelope_pair *pair,
    struct envelope_roots *roots, const char *content, size_t len,
    const char *from, const char *to, const char *uid,
    struct envelope_msg *m);

/* The same with raw keys, made ready on every call: sk is the sender's
 * Ed25519 secret key, which must belong to from_pk; to_pk is the
 * recipient's public key. */
char *envelope_seal(const char *uid, const char *from, const char *to,
    const char *ts, const char *text, size_t textlen,
    const unsigned char sk[crypto_sign_SECRETKEYBYTES],
    const unsigned char from_pk[crypto_sign_PUBLICKEYBYTES],
    const unsigned char to_pk[crypto_sign_PUBLICKEYBYTES],
    enum envelope_err *err);
/* sk and pk: the reader's key pair; from_pk: the key pinned for from. */
enum envelope_err envelope_open(const char *content, size_t len,
    const char *from, const char *to,
    const unsigned char sk[crypto_sign_SECRETKEYBYTES],
    const unsigned char pk[crypto_sign_PUBLICKEYBYTES],
    const unsigned char from_pk[crypto_sign_PUBLICKEYBYTES],
    struct envelope_msg *m);

/* Whether content starts the way every envelope does; cheap. Content
 * that does not is the plain text of a message (ENVELOPE_NOT). */
bool envelope_is(const char *content, size_t len);

void envelope_msg_free(struct envelope_msg *m);
/* A few words on err, for a diagnostic. */
const char *envelope_strerror(enum envelope_err err);

#endif
