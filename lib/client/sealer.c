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
	struct envelope_pair pair;
};

/* A peer's key and the keys shared with it. */
struct peer {
	bool keyed;
	struct envelope_peer key;
	struct envelope_pair pair;
};

struct sealer {
	char user[USERNAME_MAX + 1];
	char *pins;
	struct envelope_self self;
	struct envelope_peer self_peer;
	struct envelope_pair self_pair;
	struct envelope_roots roots;
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
	    envelope_peer_init(&s->self_peer, s->self.pk) != 0 ||
	    envelope_pair_init(&s->self_pair, &s->self, &s->self_peer) != 0) {
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
	envelope_pair_wipe(&s->self_pair);
	for (size_t i = 0; i < CACHE; i++)
		envelope_pair_wipe(&s->cache[i].pair);
	free(s->pins);
	free(s);
}

static void
remember(struct sealer *s, const char *name, const struct peer *p)
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
	c->keyed = p->keyed;
	c->key = p->key;
	c->pair = p->pair;
}

/* p from pk; false when pk is no usable key. */
static bool
peer_set(struct sealer *s, struct peer *p,
    const unsigned char pk[crypto_sign_PUBLICKEYBYTES])
{
	p->keyed = true;
	return envelope_peer_init(&p->key, pk) == 0 &&
	    envelope_pair_init(&p->pair, &s->self, &p->key) == 0;
}

/* The key of peer: the pinned one; else the one the directory has, now
 * pinned; p->keyed false when peer has none (or is unknown). */
static enum dc_status
peer_key(struct sealer *s, struct dirclient *dc, const char *peer,
    struct peer *p, char *err, size_t errlen)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	const char *b64;
	enum dc_status st;
	enum pin_status ps;
	json_t *info;

	memset(p, 0, sizeof(*p));
	if (strcasecmp(peer, s->user) == 0) {
		p->keyed = true;
		p->key = s->self_peer;
		p->pair = s->self_pair;
		return DC_OK;
	}
	for (size_t i = 0; i < CACHE; i++)
		if (strcasecmp(s->cache[i].name, peer) == 0) {
			p->keyed = s->cache[i].keyed;
			p->key = s->cache[i].key;
			p->pair = s->cache[i].pair;
			return DC_OK;
		}
	if ((ps = pin_get(s->pins, peer, pk)) == PIN_OK) {
		if (!peer_set(s, p, pk)) {
			snprintf(err, errlen, "%s: the key pinned for %s is not "
			    "usable", s->pins, peer);
			return DC_INTERNAL;
		}
		remember(s, peer, p);
		return DC_OK;
	}
	if (ps != PIN_NONE) {
		snprintf(err, errlen, "%s: cannot read the pins", s->pins);
		return DC_INTERNAL;
	}
	st = dc_peerinfo(dc, peer, &info);
	if (st == DC_NOT_FOUND)
		return DC_OK;
	if (st != DC_OK) {
		snprintf(err, errlen, "looking up %s's key: %s", peer,
		    dc_error(dc));
		return st;
	}
	b64 = json_string_value(json_object_get(info, "key"));
	if (b64 == NULL) {
		json_decref(info);
		remember(s, peer, p);
		return DC_OK;
	}
	st = DC_PROTOCOL;
	if (!key_parse(b64, pk) || !peer_set(s, p, pk))
		snprintf(err, errlen, "/peerinfo: the key of %s is not a key",
		    peer);
	else {
		/* A pin that cannot be written (a full disk) is trusted on
		 * first use again next time; this run still seals. */
		(void)pin_put(s->pins, peer, pk);
		remember(s, peer, p);
		st = DC_OK;
	}
	json_decref(info);
	return st;
}

/* Seals m[0..n), all from the user to one keyed peer p. */
static enum dc_status
seal_run(struct sealer *s, const struct peer *p, const struct dc_outgoing *m,
    size_t n, char **content, char *err, size_t errlen)
{
	struct envelope_msg *em;
	enum envelope_err e;
	char ts[TS_LEN];
	size_t i;
	int rc;

	if ((em = calloc(n, sizeof(*em))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return DC_INTERNAL;
	}
	ts_format(now_ms(), ts);
	for (i = 0; i < n; i++) {
		snprintf(em[i].uid, sizeof(em[i].uid), "%s", m[i].uid);
		snprintf(em[i].from, sizeof(em[i].from), "%s", m[0].from);
		snprintf(em[i].to, sizeof(em[i].to), "%s", m[0].to);
		memcpy(em[i].ts, ts, sizeof(ts));
		em[i].text = (char *)m[i].text;
		em[i].textlen = strlen(m[i].text);
		if (strlen(m[i].uid) > UID_MAX)
			em[i].uid[0] = '\0';
	}
	rc = envelope_seal_batch(&s->self, &p->pair, em, n, content, &e);
	free(em);
	if (rc == 0)
		return DC_OK;
	snprintf(err, errlen, "cannot seal a message to %s: %s", m[0].to,
	    envelope_strerror(e));
	return e == ENVELOPE_NOMEM ? DC_INTERNAL : DC_REJECTED;
}

enum dc_status
sealer_seal(struct sealer *s, struct dirclient *dc,
    const struct dc_outgoing *m, size_t n, char **content, char *err,
    size_t errlen)
{
	struct peer p;
	enum dc_status st;
	size_t i, j;

	for (i = 0; i < n; i++)
		content[i] = NULL;
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && strcmp(m[j].from, m[i].from) == 0 &&
		    strcmp(m[j].to, m[i].to) == 0; j++)
			;
		if (strcasecmp(m[i].from, s->user) != 0)
			continue;
		st = peer_key(s, dc, m[i].to, &p, err, errlen);
		if (st == DC_OK && p.keyed)
			st = seal_run(s, &p, m + i, j - i, content + i, err,
			    errlen);
		if (st != DC_OK) {
			for (size_t k = 0; k < n; k++) {
				free(content[k]);
				content[k] = NULL;
			}
			return st;
		}
	}
	return DC_OK;
}

int
sealer_open(struct sealer *s, struct dirclient *dc, json_t *msg, char *why,
    size_t whylen)
{
	json_t *text = json_object_get(msg, "text");
	const char *from = json_string_value(json_object_get(msg, "from"));
	const char *to = json_string_value(json_object_get(msg, "to"));
	const char *uid = json_string_value(json_object_get(msg, "uid"));
	struct peer sender, other;
	struct envelope_msg em;
	enum envelope_err e;
	int rc = -1;

	if (!json_is_string(text) || !envelope_is(json_string_value(text),
	    json_string_length(text)))
		return 0;
	if (from == NULL || to == NULL) {
		snprintf(why, whylen, "sealed, but without sender and "
		    "recipient");
		return -1;
	}
	if (peer_key(s, dc, from, &sender, why, whylen) != DC_OK)
		return -1;
	if (!sender.keyed) {
		snprintf(why, whylen, "sealed, but %s has no key", from);
		return -1;
	}
	/* The keys shared with the other side: the sender's, or the
	 * recipient's when the user sent it. */
	if (strcasecmp(from, s->user) != 0)
		other = sender;
	else if (peer_key(s, dc, to, &other, why, whylen) != DC_OK)
		return -1;
	else if (!other.keyed)
		other.pair = s->self_pair;
	e = envelope_open_any(&s->self, &sender.key, &other.pair, &s->roots,
	    json_string_value(text), json_string_length(text), from, to, uid,
	    &em);
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
