/* keys: a user's Ed25519 key pair in a file of its own under CHAT_HOME,
 * and the peer keys the user has pinned, one line a peer, in a file a
 * person can read and edit (as ssh's known_hosts). */
#ifndef CHAT_KEYS_H
#define CHAT_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include <sodium.h>

#define KEY_B64_LEN 44		/* a public key in base64 */
#define KEY_FPR_LEN 50		/* "SHA256:" and 43 characters */

struct keypair {
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char sk[crypto_sign_SECRETKEYBYTES];
};

enum key_status {
	KEY_OK = 0,
	KEY_CREATED,		/* there was none: it was made now */
	KEY_NONE,		/* there is none, and none was to be made */
	KEY_OPEN,		/* the secret key file is readable by others */
	KEY_BAD,		/* the file is not a key file */
	KEY_IO,			/* cannot read or write it */
};

/* out: base64 of pk, KEY_B64_LEN + 1 bytes. */
void key_b64(const unsigned char pk[crypto_sign_PUBLICKEYBYTES], char *out);
/* A public key from its base64; false unless it is exactly one. */
bool key_parse(const char *b64, unsigned char pk[crypto_sign_PUBLICKEYBYTES]);
/* "SHA256:" and the unpadded base64 of the key's SHA-256, as ssh shows
 * keys; out: KEY_FPR_LEN + 1 bytes. */
void key_fingerprint(const unsigned char pk[crypto_sign_PUBLICKEYBYTES],
    char *out);

/* HOME/keys/NAME.key, the name in lower case; malloc'd. */
char *key_path(const char *home, const char *user, const char *suffix);

/* Loads the user's key pair from HOME/keys/NAME.key; when there is none
 * and create is set, makes one (the folder 0700, the file 0600, written
 * whole before it appears). A file that group or others may read is
 * refused (KEY_OPEN), as ssh refuses one. err says why on failure. */
enum key_status key_load(const char *home, const char *user, bool create,
    struct keypair *kp, char *err, size_t errlen);
/* Writes kp as the user's key, replacing the file in one rename; the old
 * one, if any, is kept as NAME.key.old. */
enum key_status key_replace(const char *home, const char *user,
    const struct keypair *kp, char *err, size_t errlen);
/* Wipes the secret half. */
void key_wipe(struct keypair *kp);

/* Pins: HOME/keys/NAME.pins, lines "PEER KEY" (and # comments). */
enum pin_status {
	PIN_OK = 0,
	PIN_NONE,		/* no pin for that peer */
	PIN_BAD,		/* a line that is no pin */
	PIN_IO,
};

typedef int (*pin_fn)(void *arg, const char *peer,
    const unsigned char pk[crypto_sign_PUBLICKEYBYTES]);

/* The pinned key of peer (ASCII case-insensitive). */
enum pin_status pin_get(const char *path, const char *peer,
    unsigned char pk[crypto_sign_PUBLICKEYBYTES]);
/* Each pin in file order; fn returns non-zero to stop. */
enum pin_status pin_each(const char *path, pin_fn fn, void *arg);
/* Sets (pk != NULL) or forgets (pk NULL) peer's pin, keeping every other
 * line as it was; the file is replaced in one rename. Forgetting a peer
 * with no pin answers PIN_NONE. */
enum pin_status pin_put(const char *path, const char *peer,
    const unsigned char *pk);

#endif
