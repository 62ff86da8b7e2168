/* stun: STUN messages (RFC 8489) in and out of byte buffers. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "net/stun.h"

#define FINGERPRINT_XOR 0x5354554eu

static uint16_t
rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static void
wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* CRC-32 of ISO 3309 / ITU-T V.42, as FINGERPRINT wants: bit by bit, as
 * a STUN message is a few dozen bytes. */
static uint32_t
crc32_of(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	while (n-- > 0) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
	}
	return c ^ 0xffffffffu;
}

/* The message type interleaves the class bits C1 (bit 8) and C0 (bit 4)
 * with the twelve method bits. */
static uint16_t
msg_type(uint16_t method, enum stun_class cls)
{
	return (uint16_t)((method & 0x000f) | (method & 0x0070) << 1 |
	    (method & 0x0f80) << 2 | (cls & 1) << 4 | (cls & 2) << 7);
}

long
stun_frame_len(const uint8_t *b, size_t n)
{
	size_t len;

	if (n >= 1 && (b[0] & 0xc0) != 0)
		return -1;
	if (n < 8)
		return 0;
	len = rd16(b + 2);
	if (rd32(b + 4) != STUN_COOKIE || len % 4 != 0 ||
	    STUN_HDR + len > STUN_MAX)
		return -1;
	return (long)(STUN_HDR + len);
}

enum stun_parse
stun_parse(const uint8_t *b, size_t n, struct stun_msg *m)
{
	uint16_t type;
	size_t off;

	memset(m, 0, sizeof(*m));
	if (n < STUN_HDR || n > STUN_MAX || (b[0] & 0xc0) != 0 ||
	    STUN_HDR + (size_t)rd16(b + 2) != n || n % 4 != 0)
		return STUN_NOT_STUN;
	m->classic = rd32(b + 4) != STUN_COOKIE;
	type = rd16(b);
	m->method = (uint16_t)((type & 0x000f) | (type & 0x00e0) >> 1 |
	    (type & 0x3e00) >> 2);
	m->cls = (enum stun_class)((type >> 4 & 1) | (type >> 7 & 2));
	memcpy(m->tid, b + 8, STUN_TIDLEN);
	m->len = n;
	for (off = STUN_HDR; off < n;) {
		struct stun_attr *a;
		size_t vlen, padded;

		if (n - off < 4)
			return STUN_MALFORMED;
		vlen = rd16(b + off + 2);
		padded = (vlen + 3) & ~(size_t)3;
		if (padded > n - off - 4)
			return STUN_MALFORMED;
		if (m->nattrs == STUN_MAX_ATTRS)
			return STUN_MALFORMED;
		a = &m->attrs[m->nattrs++];
		a->type = rd16(b + off);
		a->len = (uint16_t)vlen;
		a->val = b + off + 4;
		a->off = off;
		off += 4 + padded;
		if (a->type == STUN_A_FINGERPRINT) {
			/* The last attribute, covering all before it. */
			if (off != n || vlen != 4)
				return STUN_MALFORMED;
			if (rd32(a->val) != (crc32_of(b, a->off) ^
			    FINGERPRINT_XOR))
				return STUN_BAD_FINGERPRINT;
			m->fingerprint = true;
		}
	}
	return STUN_OK;
}

const struct stun_attr *
stun_find(const struct stun_msg *m, uint16_t type)
{
	for (size_t i = 0; i < m->nattrs; i++) {
		/* What follows MESSAGE-INTEGRITY, FINGERPRINT aside, is not
		 * covered by it and so is ignored (RFC 8489, 14.5). */
		if (m->attrs[i].type == type)
			return &m->attrs[i];
		if (m->attrs[i].type == STUN_A_MESSAGE_INTEGRITY &&
		    type != STUN_A_FINGERPRINT &&
		    type != STUN_A_MESSAGE_INTEGRITY_SHA256)
			return NULL;
	}
	return NULL;
}

static bool
known(uint16_t type)
{
	switch (type) {
	case STUN_A_MAPPED_ADDRESS:
	case STUN_A_USERNAME:
	case STUN_A_MESSAGE_INTEGRITY:
	case STUN_A_ERROR_CODE:
	case STUN_A_UNKNOWN_ATTRIBUTES:
	case STUN_A_REALM:
	case STUN_A_NONCE:
	case STUN_A_MESSAGE_INTEGRITY_SHA256:
	case STUN_A_PASSWORD_ALGORITHM:
	case STUN_A_USERHASH:
	case STUN_A_XOR_MAPPED_ADDRESS:
		return true;
	default:
		return false;
	}
}

size_t
stun_unknown(const struct stun_msg *m, uint16_t *types, size_t max)
{
	size_t k = 0;

	for (size_t i = 0; i < m->nattrs && k < max; i++) {
		uint16_t t = m->attrs[i].type;
		bool seen = false;

		if (t >= 0x8000 || known(t))
			continue;
		for (size_t j = 0; j < k; j++)
			seen = seen || types[j] == t;
		if (!seen)
			types[k++] = t;
	}
	return k;
}

int
stun_get_addr(const struct stun_msg *m, const struct stun_attr *a,
    struct sockaddr_storage *ss)
{
	bool x;
	uint8_t key[16];
	uint16_t port;

	if (a->type == STUN_A_XOR_MAPPED_ADDRESS)
		x = true;
	else if (a->type == STUN_A_MAPPED_ADDRESS)
		x = false;
	else
		return -1;
	wr32(key, STUN_COOKIE);
	memcpy(key + 4, m->tid, STUN_TIDLEN);
	if (a->len < 4)
		return -1;
	port = rd16(a->val + 2);
	if (x)
		port ^= (uint16_t)(STUN_COOKIE >> 16);
	memset(ss, 0, sizeof(*ss));
	if (a->val[1] == 0x01 && a->len == 8) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		uint8_t ip[4];

		for (int i = 0; i < 4; i++)
			ip[i] = (uint8_t)(a->val[4 + i] ^ (x ? key[i] : 0));
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, ip, 4);
		return 0;
	}
	if (a->val[1] == 0x02 && a->len == 20) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		uint8_t ip[16];

		for (int i = 0; i < 16; i++)
			ip[i] = (uint8_t)(a->val[4 + i] ^ (x ? key[i] : 0));
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, ip, 16);
		return 0;
	}
	return -1;
}

int
stun_get_error(const struct stun_attr *a, int *code, char *reason,
    size_t reasonlen)
{
	size_t n;
	int c;

	if (a->type != STUN_A_ERROR_CODE || a->len < 4 || reasonlen == 0)
		return -1;
	c = (a->val[2] & 0x07) * 100 + a->val[3];
	if (c < 300 || c > 699 || a->val[3] > 99)
		return -1;
	n = a->len - 4;
	if (n >= reasonlen)
		n = reasonlen - 1;
	memcpy(reason, a->val + 4, n);
	reason[n] = '\0';
	*code = c;
	return 0;
}

void
stun_begin(struct stun_writer *w, uint8_t *b, size_t cap, uint16_t method,
    enum stun_class cls, const uint8_t tid[STUN_TIDLEN])
{
	w->b = b;
	w->cap = cap;
	w->len = 0;
	w->failed = cap < STUN_HDR;
	if (w->failed)
		return;
	wr16(b, msg_type(method, cls));
	wr16(b + 2, 0);
	wr32(b + 4, STUN_COOKIE);
	memcpy(b + 8, tid, STUN_TIDLEN);
	w->len = STUN_HDR;
}

void
stun_put(struct stun_writer *w, uint16_t type, const void *val, size_t len)
{
	size_t padded = (len + 3) & ~(size_t)3;

	if (w->failed || len > 0xffff || padded + 4 > w->cap - w->len) {
		w->failed = true;
		return;
	}
	wr16(w->b + w->len, type);
	wr16(w->b + w->len + 2, (uint16_t)len);
	if (len > 0)
		memcpy(w->b + w->len + 4, val, len);
	memset(w->b + w->len + 4 + len, 0, padded - len);
	w->len += 4 + padded;
}

static void
put_addr(struct stun_writer *w, uint16_t type, const struct sockaddr *sa)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0xff, 0xff };
	uint8_t v[20], key[16];
	const uint8_t *ip;
	size_t iplen;
	uint16_t port;

	if (w->failed)
		return;
	wr32(key, STUN_COOKIE);
	memcpy(key + 4, w->b + 8, STUN_TIDLEN);
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		ip = (const uint8_t *)&sin->sin_addr;
		iplen = 4;
		port = ntohs(sin->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		ip = (const uint8_t *)&s6->sin6_addr;
		iplen = 16;
		port = ntohs(s6->sin6_port);
		if (memcmp(ip, v4mapped, sizeof(v4mapped)) == 0) {
			ip += 12;
			iplen = 4;
		}
	} else {
		w->failed = true;
		return;
	}
	v[0] = 0;
	v[1] = iplen == 4 ? 0x01 : 0x02;
	if (type == STUN_A_XOR_MAPPED_ADDRESS) {
		wr16(v + 2, port ^ (uint16_t)(STUN_COOKIE >> 16));
		for (size_t i = 0; i < iplen; i++)
			v[4 + i] = ip[i] ^ key[i];
	} else {
		wr16(v + 2, port);
		memcpy(v + 4, ip, iplen);
	}
	stun_put(w, type, v, 4 + iplen);
}

void
stun_put_xor_addr(struct stun_writer *w, const struct sockaddr *sa)
{
	put_addr(w, STUN_A_XOR_MAPPED_ADDRESS, sa);
}

void
stun_put_mapped_addr(struct stun_writer *w, const struct sockaddr *sa)
{
	put_addr(w, STUN_A_MAPPED_ADDRESS, sa);
}

void
stun_put_error(struct stun_writer *w, int code, const char *reason)
{
	uint8_t v[4 + 128];
	size_t n = strlen(reason);

	if (n > sizeof(v) - 4)
		n = sizeof(v) - 4;
	v[0] = v[1] = 0;
	v[2] = (uint8_t)(code / 100 & 0x07);
	v[3] = (uint8_t)(code % 100);
	memcpy(v + 4, reason, n);
	stun_put(w, STUN_A_ERROR_CODE, v, 4 + n);
}

void
stun_put_unknown(struct stun_writer *w, const uint16_t *types, size_t n)
{
	uint8_t v[2 * STUN_MAX_ATTRS];

	if (n > STUN_MAX_ATTRS) {
		w->failed = true;
		return;
	}
	for (size_t i = 0; i < n; i++)
		wr16(v + 2 * i, types[i]);
	stun_put(w, STUN_A_UNKNOWN_ATTRIBUTES, v, 2 * n);
}

size_t
stun_finish(struct stun_writer *w, bool fingerprint)
{
	if (w->failed)
		return 0;
	if (fingerprint) {
		if (w->cap - w->len < 8) {
			w->failed = true;
			return 0;
		}
		/* The length counts FINGERPRINT before the CRC is taken. */
		wr16(w->b + 2, (uint16_t)(w->len + 8 - STUN_HDR));
		wr16(w->b + w->len, STUN_A_FINGERPRINT);
		wr16(w->b + w->len + 2, 4);
		wr32(w->b + w->len + 4, crc32_of(w->b, w->len) ^
		    FINGERPRINT_XOR);
		w->len += 8;
	}
	if (w->len - STUN_HDR > 0xffff) {
		w->failed = true;
		return 0;
	}
	wr16(w->b + 2, (uint16_t)(w->len - STUN_HDR));
	return w->len;
}
