/* trust: the pins and the directory's word on a v2 peer's key
 * (trust.h). */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "core/jsonw.h"
#include "peer/trust.h"
#include "peer/wire.h"
#include "sec/keys.h"

enum trust
trust_hello_key(const json_t *hello, const uint8_t rs[NOISE_KEYLEN],
    unsigned char ed[32])
{
	const char *b64 = json_string_value(json_object_get(hello, "key"));
	uint8_t x[NOISE_KEYLEN];

	if (b64 == NULL || !key_parse(b64, ed) ||
	    noise_pub_from_ed25519(x, ed) != 0 ||
	    sodium_memcmp(x, rs, NOISE_KEYLEN) != 0)
		return TRUST_BAD;
	return TRUST_OK;
}

static void
mismatch(const char *peer, const char *whose, const unsigned char *want,
    const unsigned char *got, char *why, size_t whylen)
{
	char a[KEY_FPR_LEN + 1], b[KEY_FPR_LEN + 1];

	key_fingerprint(want, a);
	key_fingerprint(got, b);
	snprintf(why, whylen, "the key of %s has changed: %s %s, offered %s;"
	    " refused (if %s made a new key: chat-key forget %s)", peer, whose,
	    a, b, peer, peer);
}

enum trust
trust_check(const char *pins, const char *peer, const unsigned char ed[32],
    const unsigned char *dirkey, char *why, size_t whylen)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];

	switch (pin_get(pins, peer, pk)) {
	case PIN_OK:
		if (sodium_memcmp(pk, ed, sizeof(pk)) == 0)
			return TRUST_OK;
		mismatch(peer, "pinned", pk, ed, why, whylen);
		return TRUST_MISMATCH;
	case PIN_NONE:
		break;
	default:
		snprintf(why, whylen, "%s: cannot read the pins", pins);
		return TRUST_IO;
	}
	if (dirkey != NULL && sodium_memcmp(dirkey, ed, sizeof(pk)) != 0) {
		mismatch(peer, "the directory has", dirkey, ed, why, whylen);
		return TRUST_MISMATCH;
	}
	if (pin_put(pins, peer, ed) != PIN_OK) {
		snprintf(why, whylen, "%s: cannot write the pins; %s's key is "
		    "not pinned", pins, peer);
		return TRUST_UNPINNED;
	}
	return TRUST_PINNED;
}

int
trust_put_hello(struct jsonw *o, const char *from, const char *to,
    const unsigned char ed[32])
{
	char b64[KEY_B64_LEN + 1];
	json_t *j;
	int rc;

	key_b64(ed, b64);
	j = to != NULL ? json_pack("{s:s, s:i, s:s, s:s, s:s}", "type", "hello",
	    "v", WIRE_VERSION, "from", from, "to", to, "key", b64) :
	    json_pack("{s:s, s:i, s:s, s:s}", "type", "hello", "v",
	    WIRE_VERSION, "from", from, "key", b64);
	if (j == NULL)
		return -1;
	rc = wire_out_json(o, j);
	json_decref(j);
	return rc;
}
