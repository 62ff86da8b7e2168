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

#define ENVELOPE_VERSION 1
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
