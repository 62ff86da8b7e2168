/* sealer: seals what the client stores and opens what it reads back,
 * with the peers' keys from the pins file, pinned from the directory on
 * first use (chat-protocol(7), SEALED ENVELOPES). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client/sealer.h"
#include "core/util.h"
#include "core/valid.h"
#include "sec/envelope.h"
#include "sec/keys.h"

#define CACHE 32		/* peers whose key (or lack of one) is kept */

struct cached {
	char name[USERNAME_MAX + 1];	/* empty: a free slot */
	bool keyed;
	struct envelope_peer key;
};

struct sealer {
	char user[USERNAME_MAX + 1];
	char *pins;
	struct envelope_self self;
	struct envelope_peer self_peer;
	struct cached cache[CACHE];
	size_t next;		/* the slot taken next when all are full */
};

struct sealer *
sealer_new(const char *user, const unsigned char sk[crypto_sign_SECRETKEYBYTES],
    const char *pins)
{
	struct sealer *s;

	if (!valid_username(user) || (s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	snprintf(s->user, sizeof(s->user), "%s", user);
	if ((s->pins = strdup(pins)) == NULL ||
	    envelope_self_init(&s->self, sk) != 0 ||
	    envelope_peer_init(&s->self_peer, s->self.pk) != 0) {
		sealer_free(s);
		return NULL;
	}
	return s;
}

void
sealer_free(struct sealer *s)
{
	if (s == NULL)
		return;
	envelope_self_wipe(&s->self);
	free(s->pins);
	free(s);
}

static void
remember(struct sealer *s, const char *name, bool keyed,
    const struct envelope_peer *key)
{
	struct cached *c = NULL;

	for (size_t i = 0; i < CACHE && c == NULL; i++)
		if (s->cache[i].name[0] == '\0')
			c = &s->cache[i];
	if (c == NULL) {
		c = &s->cache[s->next];
		s->next = (s->next + 1) % CACHE;
	}
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->keyed = keyed;
	if (keyed)
		c->key = *key;
}

/* The key of peer: the pinned one; else the one the directory has, now
 * pinned; *keyed false when peer has none (or is unknown). */
static enum dc_status
peer_key(struct sealer *s, struct dirclient *dc, const char *peer,
    bool *keyed, struct envelope_peer *key, char *err, size_t errlen)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	const char *b64;
	enum dc_status st;
	enum pin_status ps;
	json_t *info;

	*keyed = true;
	if (strcasecmp(peer, s->user) == 0) {
		*key = s->self_peer;
		return DC_OK;
	}
	for (size_t i = 0; i < CACHE; i++)
		if (strcasecmp(s->cache[i].name, peer) == 0) {
			*keyed = s->cache[i].keyed;
			*key = s->cache[i].key;
			return DC_OK;
		}
	if ((ps = pin_get(s->pins, peer, pk)) == PIN_OK) {
		if (envelope_peer_init(key, pk) != 0) {
			snprintf(err, errlen, "%s: the key pinned for %s is not "
			    "usable", s->pins, peer);
			return DC_INTERNAL;
		}
		remember(s, peer, true, key);
		return DC_OK;
	}
	if (ps != PIN_NONE) {
		snprintf(err, errlen, "%s: cannot read the pins", s->pins);
		return DC_INTERNAL;
	}
	st = dc_peerinfo(dc, peer, &info);
	if (st == DC_NOT_FOUND) {
		*keyed = false;
		return DC_OK;
	}
	if (st != DC_OK) {
		snprintf(err, errlen, "looking up %s's key: %s", peer,
		    dc_error(dc));
		return st;
	}
	b64 = json_string_value(json_object_get(info, "key"));
	if (b64 == NULL) {
		*keyed = false;
		json_decref(info);
		remember(s, peer, false, NULL);
		return DC_OK;
	}
	st = DC_PROTOCOL;
	if (!key_parse(b64, pk) || envelope_peer_init(key, pk) != 0)
		snprintf(err, errlen, "/peerinfo: the key of %s is not a key",
		    peer);
	else if (pin_put(s->pins, peer, pk) != PIN_OK) {
		snprintf(err, errlen, "%s: cannot pin %s's key", s->pins, peer);
		st = DC_INTERNAL;
	} else {
		remember(s, peer, true, key);
		st = DC_OK;
	}
	json_decref(info);
	return st;
}

enum dc_status
sealer_seal(struct sealer *s, struct dirclient *dc,
    const struct dc_outgoing *m, char **content, char *err, size_t errlen)
{
	struct envelope_peer rcpt;
	enum envelope_err e;
	enum dc_status st;
	char ts[TS_LEN];
	bool keyed;

	*content = NULL;
	if (strcasecmp(m->from, s->user) != 0)
		return DC_OK;
	st = peer_key(s, dc, m->to, &keyed, &rcpt, err, errlen);
	if (st != DC_OK || !keyed)
		return st;
	ts_format(now_ms(), ts);
	*content = envelope_seal_to(&s->self, &rcpt, m->uid, m->from, m->to,
	    ts, m->text, strlen(m->text), &e);
	if (*content != NULL)
		return DC_OK;
	snprintf(err, errlen, "cannot seal a message to %s: %s", m->to,
	    envelope_strerror(e));
	return e == ENVELOPE_NOMEM ? DC_INTERNAL : DC_REJECTED;
}

int
sealer_open(struct sealer *s, struct dirclient *dc, json_t *msg, char *why,
    size_t whylen)
{
	json_t *text = json_object_get(msg, "text");
	const char *from = json_string_value(json_object_get(msg, "from"));
	const char *to = json_string_value(json_object_get(msg, "to"));
	const char *uid = json_string_value(json_object_get(msg, "uid"));
	struct envelope_peer sender;
	struct envelope_msg em;
	enum envelope_err e;
	enum dc_status st;
	bool keyed;
	int rc = -1;

	if (!json_is_string(text) || !envelope_is(json_string_value(text),
	    json_string_length(text)))
		return 0;
	if (from == NULL || to == NULL) {
		snprintf(why, whylen, "sealed, but without sender and "
		    "recipient");
		return -1;
	}
	st = peer_key(s, dc, from, &keyed, &sender, why, whylen);
	if (st != DC_OK)
		return -1;
	if (!keyed) {
		snprintf(why, whylen, "sealed, but %s has no key", from);
		return -1;
	}
	e = envelope_open_from(&s->self, &sender, json_string_value(text),
	    json_string_length(text), from, to, &em);
	if (e != ENVELOPE_OK) {
		snprintf(why, whylen, "%s", envelope_strerror(e));
		return -1;
	}
	if (uid != NULL && strcmp(uid, em.uid) != 0)
		snprintf(why, whylen, "sealed for another message (uid %s)",
		    em.uid);
	else if (json_object_set_new(msg, "text", json_stringn(em.text,
	    em.textlen)) != 0 ||
	    json_object_set_new(msg, "sealed", json_true()) != 0)
		snprintf(why, whylen, "out of memory");
	else
		rc = 0;
	envelope_msg_free(&em);
	return rc;
}
