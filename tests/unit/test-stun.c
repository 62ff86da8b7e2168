/* Unit tests for lib/net/stun: the RFC 5769 test vectors, messages we
 * write, and malformed input; and lib/dir/stund's answers. MESSAGE-INTEGRITY (HMAC-SHA1, not used by
 * our server) is checked here with libcrypto to prove the attribute
 * offsets the parser reports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "dir/stund.h"
#include "net/stun.h"
#include "net/stun_client.h"

/* RFC 5769, 2.1 to 2.4. */
static const char vec_request[] =
    "000100582112a442b7e7a701bc34d686fa87dfae802200105354554e2074657374"
    "20636c69656e74002400046e0001ff80290008932ff9b151263b36000600096576"
    "746a3a68367659202020000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571"
    "a280280004e57a3bcf";
static const char vec_resp4[] =
    "0101003c2112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563"
    "746f7220002000080001a147e112a643000800142b91f599fd9e90c38c7489f92a"
    "f9ba53f06be7d780280004c07d4c96";
static const char vec_resp6[] =
    "010100482112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563"
    "746f7220002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d900080014a3"
    "82954e4be67bf11784c97c8292c275bfe3ed4180280004c8fb0b4c";
static const char vec_longterm[] =
    "000100602112a44278ad3433c6ad72c029da412e00060012e3839ee38388e383aa"
    "e38383e382afe382b900000015001c662f2f3439396b39353464364f4c33346f4c"
    "394653547679363473410014000b6578616d706c652e6f72670000080014f67024"
    "656dd64a3e02b8e0712e85c9a28ca89666";
static const char password[] = "VOkJxbRl1RmTxUk/WvJxBt";

static size_t
unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = strlen(s) / 2;
	unsigned v;

	assert_true(n <= cap);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	return n;
}

static void
attr_is(const struct stun_msg *m, uint16_t type, const char *text)
{
	const struct stun_attr *a = stun_find(m, type);

	assert_non_null(a);
	assert_int_equal(a->len, strlen(text));
	assert_memory_equal(a->val, text, a->len);
}

/* HMAC-SHA1 over the message up to MESSAGE-INTEGRITY, with the length
 * field counting the attribute itself (RFC 8489, 14.5). */
static void
integrity_ok(const uint8_t *b, const struct stun_msg *m, const void *key,
    size_t keylen)
{
	const struct stun_attr *mi = stun_find(m, STUN_A_MESSAGE_INTEGRITY);
	uint8_t copy[STUN_MAX], mac[EVP_MAX_MD_SIZE];
	unsigned maclen = 0;
	size_t len;

	assert_non_null(mi);
	assert_int_equal(mi->len, 20);
	memcpy(copy, b, mi->off);
	len = mi->off + 24 - STUN_HDR;
	copy[2] = (uint8_t)(len >> 8);
	copy[3] = (uint8_t)len;
	assert_non_null(HMAC(EVP_sha1(), key, (int)keylen, copy, mi->off, mac,
	    &maclen));
	assert_int_equal(maclen, 20);
	assert_memory_equal(mac, mi->val, 20);
}

static void
addr_is(const struct stun_msg *m, uint16_t type, int family, const char *ip,
    int port)
{
	struct sockaddr_storage ss;
	char got[INET6_ADDRSTRLEN];
	const struct stun_attr *a = stun_find(m, type);
	const void *src;
	int p;

	assert_non_null(a);
	assert_int_equal(stun_get_addr(m, a, &ss), 0);
	assert_int_equal(ss.ss_family, family);
	if (family == AF_INET) {
		src = &((struct sockaddr_in *)&ss)->sin_addr;
		p = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	} else {
		src = &((struct sockaddr_in6 *)&ss)->sin6_addr;
		p = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	assert_non_null(inet_ntop(family, src, got, sizeof(got)));
	assert_string_equal(got, ip);
	assert_int_equal(p, port);
}

static void
sample_request(void **state)
{
	uint8_t b[STUN_MAX];
	struct stun_msg m;
	uint16_t unk[4];
	size_t n = unhex(vec_request, b, sizeof(b));

	(void)state;
	assert_int_equal(stun_frame_len(b, n), (long)n);
	assert_int_equal(stun_parse(b, n, &m), STUN_OK);
	assert_int_equal(m.method, STUN_BINDING);
	assert_int_equal(m.cls, STUN_REQUEST);
	assert_true(m.fingerprint);
	assert_int_equal(m.nattrs, 6);
	assert_memory_equal(m.tid, b + 8, STUN_TIDLEN);
	attr_is(&m, STUN_A_SOFTWARE, "STUN test client");
	attr_is(&m, STUN_A_USERNAME, "evtj:h6vY");
	integrity_ok(b, &m, password, strlen(password));
	/* PRIORITY is ICE's, comprehension-required, and not ours. */
	assert_int_equal(stun_unknown(&m, unk, 4), 1);
	assert_int_equal(unk[0], 0x0024);
}

static void
sample_ipv4_response(void **state)
{
	uint8_t b[STUN_MAX];
	struct stun_msg m;
	size_t n = unhex(vec_resp4, b, sizeof(b));

	(void)state;
	assert_int_equal(stun_parse(b, n, &m), STUN_OK);
	assert_int_equal(m.method, STUN_BINDING);
	assert_int_equal(m.cls, STUN_SUCCESS);
	assert_true(m.fingerprint);
	attr_is(&m, STUN_A_SOFTWARE, "test vector");
	addr_is(&m, STUN_A_XOR_MAPPED_ADDRESS, AF_INET, "192.0.2.1", 32853);
	integrity_ok(b, &m, password, strlen(password));
}

static void
sample_ipv6_response(void **state)
{
	uint8_t b[STUN_MAX];
	struct stun_msg m;
	size_t n = unhex(vec_resp6, b, sizeof(b));

	(void)state;
	assert_int_equal(stun_parse(b, n, &m), STUN_OK);
	assert_int_equal(m.cls, STUN_SUCCESS);
	assert_true(m.fingerprint);
	addr_is(&m, STUN_A_XOR_MAPPED_ADDRESS, AF_INET6,
	    "2001:db8:1234:5678:11:2233:4455:6677", 32853);
	integrity_ok(b, &m, password, strlen(password));
}

static void
sample_long_term(void **state)
{
	/* The key is MD5(username ":" realm ":" SASLprep(password)). */
	static const char user[] = "\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa"
	    "\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9";
	char creds[128];
	uint8_t b[STUN_MAX], key[EVP_MAX_MD_SIZE];
	unsigned keylen = 0;
	struct stun_msg m;
	size_t n = unhex(vec_longterm, b, sizeof(b));
	int cl;

	(void)state;
	assert_int_equal(stun_parse(b, n, &m), STUN_OK);
	assert_int_equal(m.cls, STUN_REQUEST);
	assert_false(m.fingerprint);
	attr_is(&m, STUN_A_USERNAME, user);
	attr_is(&m, STUN_A_NONCE, "f//499k954d6OL34oL9FSTvy64sA");
	attr_is(&m, STUN_A_REALM, "example.org");
	cl = snprintf(creds, sizeof(creds), "%s:example.org:TheMatrIX", user);
	assert_true(cl > 0 && (size_t)cl < sizeof(creds));
	assert_int_equal(EVP_Digest(creds, (size_t)cl, key, &keylen, EVP_md5(),
	    NULL), 1);
	integrity_ok(b, &m, key, keylen);
}

/* What we write matches the vectors' XOR-MAPPED-ADDRESS byte for byte. */
static void
write_xor_addr(void **state)
{
	uint8_t v4[STUN_MAX], v6[STUN_MAX], out[STUN_MAX];
	struct sockaddr_in sin = { 0 };
	struct sockaddr_in6 sin6 = { 0 };
	struct stun_writer w;
	struct stun_msg m;
	size_t n;

	(void)state;
	unhex(vec_resp4, v4, sizeof(v4));
	unhex(vec_resp6, v6, sizeof(v6));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(32853);
	assert_int_equal(inet_pton(AF_INET, "192.0.2.1", &sin.sin_addr), 1);
	stun_begin(&w, out, sizeof(out), STUN_BINDING, STUN_SUCCESS, v4 + 8);
	stun_put_xor_addr(&w, (struct sockaddr *)&sin);
	n = stun_finish(&w, true);
	assert_int_equal(n, STUN_HDR + 12 + 8);
	assert_memory_equal(out, "\x01\x01\x00\x14\x21\x12\xa4\x42", 8);
	assert_memory_equal(out + STUN_HDR, v4 + STUN_HDR + 16, 12);
	assert_int_equal(stun_parse(out, n, &m), STUN_OK);
	assert_true(m.fingerprint);
	addr_is(&m, STUN_A_XOR_MAPPED_ADDRESS, AF_INET, "192.0.2.1", 32853);

	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(32853);
	assert_int_equal(inet_pton(AF_INET6,
	    "2001:db8:1234:5678:11:2233:4455:6677", &sin6.sin6_addr), 1);
	stun_begin(&w, out, sizeof(out), STUN_BINDING, STUN_SUCCESS, v6 + 8);
	stun_put_xor_addr(&w, (struct sockaddr *)&sin6);
	n = stun_finish(&w, false);
	assert_int_equal(n, STUN_HDR + 24);
	assert_memory_equal(out + STUN_HDR, v6 + STUN_HDR + 16, 24);

	/* An IPv4-mapped IPv6 address goes out as IPv4. */
	assert_int_equal(inet_pton(AF_INET6, "::ffff:192.0.2.1",
	    &sin6.sin6_addr), 1);
	stun_begin(&w, out, sizeof(out), STUN_BINDING, STUN_SUCCESS, v4 + 8);
	stun_put_xor_addr(&w, (struct sockaddr *)&sin6);
	assert_int_equal(stun_finish(&w, false), STUN_HDR + 12);
	assert_memory_equal(out + STUN_HDR, v4 + STUN_HDR + 16, 12);
}

static void
write_types_and_errors(void **state)
{
	static const uint8_t tid[STUN_TIDLEN] = "abcdefghijk";
	static const uint16_t unk[] = { 0x0024, 0x7777, 0x0003 };
	uint8_t out[STUN_MAX];
	char reason[16];
	struct stun_writer w;
	struct stun_msg m;
	const struct stun_attr *a;
	size_t n;
	int code = 0;

	(void)state;
	stun_begin(&w, out, sizeof(out), STUN_BINDING, STUN_REQUEST, tid);
	assert_int_equal(stun_finish(&w, false), STUN_HDR);
	assert_memory_equal(out, "\x00\x01\x00\x00", 4);
	stun_begin(&w, out, sizeof(out), STUN_BINDING, STUN_INDICATION, tid);
	stun_finish(&w, false);
	assert_memory_equal(out, "\x00\x11", 2);
	/* A method with bits in every field keeps them apart from C0, C1. */
	stun_begin(&w, out, sizeof(out), 0xfff, STUN_REQUEST, tid);
	n = stun_finish(&w, false);
	assert_memory_equal(out, "\x3e\xef", 2);
	assert_int_equal(stun_parse(out, n, &m), STUN_OK);
	assert_int_equal(m.method, 0xfff);
	assert_int_equal(m.cls, STUN_REQUEST);

	stun_begin(&w, out, sizeof(out), STUN_BINDING, STUN_ERROR, tid);
	stun_put_error(&w, 420, "Unknown Attribute");
	stun_put_unknown(&w, unk, 3);
	n = stun_finish(&w, true);
	assert_memory_equal(out, "\x01\x11", 2);
	assert_int_equal(stun_parse(out, n, &m), STUN_OK);
	assert_int_equal(m.cls, STUN_ERROR);
	assert_true(m.fingerprint);
	a = stun_find(&m, STUN_A_ERROR_CODE);
	assert_non_null(a);
	assert_int_equal(stun_get_error(a, &code, reason, sizeof(reason)), 0);
	assert_int_equal(code, 420);
	assert_string_equal(reason, "Unknown Attribu");	/* cut to fit */
	a = stun_find(&m, STUN_A_UNKNOWN_ATTRIBUTES);
	assert_non_null(a);
	assert_int_equal(a->len, 6);
	assert_memory_equal(a->val, "\x00\x24\x77\x77\x00\x03", 6);
	/* Two bytes of padding, zero. */
	assert_memory_equal(a->val + 6, "\x00\x00", 2);
}

static void
writer_bounds(void **state)
{
	static const uint8_t tid[STUN_TIDLEN] = { 0 };
	uint8_t out[32];
	struct stun_writer w;

	(void)state;
	stun_begin(&w, out, 10, STUN_BINDING, STUN_REQUEST, tid);
	assert_int_equal(stun_finish(&w, false), 0);
	stun_begin(&w, out, sizeof(out), STUN_BINDING, STUN_REQUEST, tid);
	stun_put(&w, STUN_A_SOFTWARE, "12345678", 8);
	assert_int_equal(stun_finish(&w, false), 32);
	stun_begin(&w, out, sizeof(out), STUN_BINDING, STUN_REQUEST, tid);
	stun_put(&w, STUN_A_SOFTWARE, "12345678", 8);
	assert_int_equal(stun_finish(&w, true), 0);	/* no room for it */
	stun_begin(&w, out, sizeof(out), STUN_BINDING, STUN_REQUEST, tid);
	stun_put(&w, STUN_A_SOFTWARE, "123456789", 9);
	assert_true(w.failed);
	assert_int_equal(stun_finish(&w, false), 0);
}

static void
not_stun(void **state)
{
	uint8_t b[STUN_MAX];
	struct stun_msg m;
	size_t n = unhex(vec_resp4, b, sizeof(b));

	(void)state;
	assert_int_equal(stun_parse(b, 19, &m), STUN_NOT_STUN);
	assert_int_equal(stun_parse(b, n - 4, &m), STUN_NOT_STUN);
	assert_int_equal(stun_frame_len(b, 7), 0);
	assert_int_equal(stun_frame_len(b, 0), 0);
	b[0] |= 0x40;			/* leading bits not zero */
	assert_int_equal(stun_frame_len(b, 1), -1);
	assert_int_equal(stun_parse(b, n, &m), STUN_NOT_STUN);
	b[0] &= 0x3f;
	b[4] ^= 1;			/* cookie: RFC 3489, but FINGERPRINT */
	assert_int_equal(stun_parse(b, n, &m), STUN_BAD_FINGERPRINT);
	assert_int_equal(stun_frame_len(b, n), -1);
	b[4] ^= 1;
	b[3] += 2;			/* length not a multiple of 4 */
	assert_int_equal(stun_parse(b, n, &m), STUN_NOT_STUN);
	b[2] = 0x10;			/* longer than we take */
	b[3] = 0x00;
	assert_int_equal(stun_frame_len(b, n), -1);
	assert_int_equal(stun_parse((const uint8_t *)"GET / HTTP/1.1\r\n\r\n"
	    "xx", 20, &m), STUN_NOT_STUN);
}

static void
malformed(void **state)
{
	uint8_t b[STUN_MAX], out[STUN_MAX];
	static const uint8_t tid[STUN_TIDLEN] = { 1 };
	struct stun_writer w;
	struct stun_msg m;
	struct sockaddr_storage ss;
	size_t n = unhex(vec_resp4, b, sizeof(b));
	uint8_t save;
	int code;
	char reason[8];

	(void)state;
	/* A flipped bit anywhere before FINGERPRINT fails it. */
	b[30] ^= 0x01;
	assert_int_equal(stun_parse(b, n, &m), STUN_BAD_FINGERPRINT);
	b[30] ^= 0x01;
	/* SOFTWARE's length past the end of the message. */
	save = b[23];
	b[22] = 0x01;
	assert_int_equal(stun_parse(b, n, &m), STUN_MALFORMED);
	b[22] = 0x00;
	b[23] = 0x39;
	assert_int_equal(stun_parse(b, n, &m), STUN_MALFORMED);
	b[23] = save;
	/* A partial attribute header at the end. */
	stun_begin(&w, out, sizeof(out), STUN_BINDING, STUN_REQUEST, tid);
	stun_finish(&w, false);
	memcpy(out + STUN_HDR, "\x80\x22\x00\x00", 4);
	out[3] = 4;
	assert_int_equal(stun_parse(out, STUN_HDR + 4, &m), STUN_OK);
	out[3] = 8;
	memcpy(out + STUN_HDR + 4, "\x80\x22\x00\x08", 4);
	assert_int_equal(stun_parse(out, STUN_HDR + 8, &m), STUN_MALFORMED);
	/* Something after FINGERPRINT. */
	stun_begin(&w, out, sizeof(out), STUN_BINDING, STUN_REQUEST, tid);
	n = stun_finish(&w, true);
	memcpy(out + n, "\x80\x22\x00\x00", 4);
	out[3] = (uint8_t)(n + 4 - STUN_HDR);
	assert_int_equal(stun_parse(out, n + 4, &m), STUN_MALFORMED);
	/* More attributes than we keep. */
	stun_begin(&w, out, sizeof(out), STUN_BINDING, STUN_REQUEST, tid);
	for (int i = 0; i <= STUN_MAX_ATTRS; i++)
		stun_put(&w, STUN_A_SOFTWARE, "", 0);
	n = stun_finish(&w, false);
	assert_int_equal(stun_parse(out, n, &m), STUN_MALFORMED);
	/* Addresses of the wrong length or family, errors out of range. */
	stun_begin(&w, out, sizeof(out), STUN_BINDING, STUN_SUCCESS, tid);
	stun_put(&w, STUN_A_XOR_MAPPED_ADDRESS, "\x00\x01\x00\x01\x7f\x00\x00",
	    7);
	stun_put(&w, STUN_A_MAPPED_ADDRESS, "\x00\x03\x00\x01\x7f\x00\x00\x01",
	    8);
	stun_put(&w, STUN_A_SOFTWARE, "\x00\x01\x00\x01\x7f\x00\x00\x01", 8);
	stun_put(&w, STUN_A_ERROR_CODE, "\x00\x00\x02\x63", 4);
	n = stun_finish(&w, false);
	assert_int_equal(stun_parse(out, n, &m), STUN_OK);
	assert_int_equal(stun_get_addr(&m, &m.attrs[0], &ss), -1);
	assert_int_equal(stun_get_addr(&m, &m.attrs[1], &ss), -1);
	assert_int_equal(stun_get_addr(&m, &m.attrs[2], &ss), -1);
	assert_int_equal(stun_get_error(&m.attrs[3], &code, reason,
	    sizeof(reason)), -1);
}

static void
unknown_and_integrity(void **state)
{
	static const uint8_t tid[STUN_TIDLEN] = { 2 };
	uint8_t out[STUN_MAX];
	struct stun_writer w;
	struct stun_msg m;
	uint16_t unk[4];
	size_t n;

	(void)state;
	stun_begin(&w, out, sizeof(out), STUN_BINDING, STUN_REQUEST, tid);
	stun_put(&w, 0x8123, "x", 1);		/* optional: ignored */
	stun_put(&w, 0x0003, "\0\0\0\0", 4);	/* RFC 3489 CHANGE-REQUEST */
	stun_put(&w, 0x0003, "\0\0\0\0", 4);	/* listed once */
	stun_put(&w, STUN_A_USERNAME, "u", 1);
	stun_put(&w, STUN_A_MESSAGE_INTEGRITY, "01234567890123456789", 20);
	stun_put(&w, STUN_A_SOFTWARE, "after", 5);
	n = stun_finish(&w, true);
	assert_int_equal(stun_parse(out, n, &m), STUN_OK);
	assert_int_equal(stun_unknown(&m, unk, 4), 1);
	assert_int_equal(unk[0], 0x0003);
	assert_int_equal(stun_unknown(&m, unk, 0), 0);
	/* After MESSAGE-INTEGRITY only FINGERPRINT counts. */
	assert_null(stun_find(&m, STUN_A_SOFTWARE));
	assert_non_null(stun_find(&m, STUN_A_USERNAME));
	assert_non_null(stun_find(&m, STUN_A_FINGERPRINT));
}

static int
answer_code(const uint8_t *req, size_t n, struct stun_msg *m, uint8_t *out)
{
	static struct sockaddr_in from;
	const struct stun_attr *a;
	char reason[64];
	size_t len;
	int code = 0;

	from.sin_family = AF_INET;
	from.sin_port = htons(40000);
	from.sin_addr.s_addr = htonl(0xcb007101);	/* 203.0.113.1 */
	len = stund_answer(req, n, (struct sockaddr *)&from, "test", out,
	    STUN_MAX);
	if (len == 0)
		return 0;
	assert_int_equal(stun_parse(out, len, m), STUN_OK);
	assert_true(m->fingerprint);
	assert_memory_equal(m->tid, req + 8, STUN_TIDLEN);
	attr_is(m, STUN_A_SOFTWARE, "test");
	if (m->cls == STUN_SUCCESS) {
		addr_is(m, STUN_A_XOR_MAPPED_ADDRESS, AF_INET, "203.0.113.1",
		    40000);
		return 200;
	}
	assert_int_equal(m->cls, STUN_ERROR);
	a = stun_find(m, STUN_A_ERROR_CODE);
	assert_non_null(a);
	assert_int_equal(stun_get_error(a, &code, reason, sizeof(reason)), 0);
	return code;
}

/* RFC 3489 clients: no cookie; MAPPED-ADDRESS back, their id whole. */
static void
server_answers_classic(void **state)
{
	uint8_t req[STUN_MAX], out[STUN_MAX];
	struct stun_msg m;
	struct sockaddr_in from = { .sin_family = AF_INET,
	    .sin_port = htons(5000) };
	const struct stun_attr *a;
	uint16_t unk[4];
	size_t n;

	(void)state;
	from.sin_addr.s_addr = htonl(0xc6336401);	/* 198.51.100.1 */
	memcpy(req, "\x00\x01\x00\x08" "0123456789abcdef"
	    "\x00\x03\x00\x04\x00\x00\x00\x00", 28);
	assert_int_equal(stun_parse(req, 28, &m), STUN_OK);
	assert_true(m.classic);
	assert_int_equal(m.cls, STUN_REQUEST);
	n = stund_answer(req, 28, (struct sockaddr *)&from, "test", out,
	    sizeof(out));
	assert_true(n > 0);
	assert_memory_equal(out, "\x01\x01", 2);
	assert_memory_equal(out + 4, "0123456789abcdef", 16);
	assert_int_equal(stun_parse(out, n, &m), STUN_OK);
	assert_true(m.classic);
	assert_false(m.fingerprint);
	assert_null(stun_find(&m, STUN_A_XOR_MAPPED_ADDRESS));
	addr_is(&m, STUN_A_MAPPED_ADDRESS, AF_INET, "198.51.100.1", 5000);
	/* Asked to answer from another address or port: we have none. */
	req[27] = 0x06;
	n = stund_answer(req, 28, (struct sockaddr *)&from, "test", out,
	    sizeof(out));
	assert_int_equal(stun_parse(out, n, &m), STUN_OK);
	assert_int_equal(m.cls, STUN_ERROR);
	a = stun_find(&m, STUN_A_UNKNOWN_ATTRIBUTES);
	assert_non_null(a);
	assert_memory_equal(a->val, "\x00\x03", 2);
	assert_int_equal(stun_unknown(&m, unk, 4), 0);
}

static void
server_answers(void **state)
{
	static const uint8_t tid[STUN_TIDLEN] = "0123456789a";
	uint8_t req[STUN_MAX], out[STUN_MAX];
	struct stun_writer w;
	struct stun_msg m;
	const struct stun_attr *a;
	size_t n;

	(void)state;
	stun_begin(&w, req, sizeof(req), STUN_BINDING, STUN_REQUEST, tid);
	n = stun_finish(&w, false);
	assert_int_equal(answer_code(req, n, &m, out), 200);
	stun_begin(&w, req, sizeof(req), STUN_BINDING, STUN_REQUEST, tid);
	stun_put(&w, STUN_A_SOFTWARE, "client", 6);
	n = stun_finish(&w, true);
	assert_int_equal(answer_code(req, n, &m, out), 200);
	/* A bad FINGERPRINT, an indication, a response: no answer. */
	req[n - 1] ^= 1;
	assert_int_equal(answer_code(req, n, &m, out), 0);
	stun_begin(&w, req, sizeof(req), STUN_BINDING, STUN_INDICATION, tid);
	n = stun_finish(&w, true);
	assert_int_equal(answer_code(req, n, &m, out), 0);
	stun_begin(&w, req, sizeof(req), STUN_BINDING, STUN_SUCCESS, tid);
	n = stun_finish(&w, true);
	assert_int_equal(answer_code(req, n, &m, out), 0);
	assert_int_equal(answer_code(req, 7, &m, out), 0);
	/* Another method: 400. */
	stun_begin(&w, req, sizeof(req), 0x003, STUN_REQUEST, tid);
	n = stun_finish(&w, false);
	assert_int_equal(answer_code(req, n, &m, out), 400);
	assert_int_equal(m.method, 0x003);
	/* An attribute running past the end: 400. */
	stun_begin(&w, req, sizeof(req), STUN_BINDING, STUN_REQUEST, tid);
	stun_put(&w, STUN_A_SOFTWARE, "abcd", 4);
	n = stun_finish(&w, false);
	req[STUN_HDR + 3] = 9;
	assert_int_equal(answer_code(req, n, &m, out), 400);
	/* RFC 5769's request carries ICE's PRIORITY: 420, naming it. */
	n = unhex(vec_request, req, sizeof(req));
	assert_int_equal(answer_code(req, n, &m, out), 420);
	a = stun_find(&m, STUN_A_UNKNOWN_ATTRIBUTES);
	assert_non_null(a);
	assert_int_equal(a->len, 2);
	assert_memory_equal(a->val, "\x00\x24", 2);
	/* An answer that does not fit is not sent. */
	stun_begin(&w, req, sizeof(req), STUN_BINDING, STUN_REQUEST, tid);
	n = stun_finish(&w, false);
	assert_int_equal(stund_answer(req, n, (struct sockaddr *)&(struct
	    sockaddr_in){ .sin_family = AF_INET }, "test", out, 40), 0);
}

static void
server_split(void **state)
{
	char h[NETADDR_HOSTLEN];
	int p = 0;

	(void)state;
	assert_int_equal(stun_server_split("dir.example.org", 3478, h, &p), 0);
	assert_string_equal(h, "dir.example.org");
	assert_int_equal(p, 3478);
	assert_int_equal(stun_server_split("192.0.2.1:3479", 3478, h, &p), 0);
	assert_string_equal(h, "192.0.2.1");
	assert_int_equal(p, 3479);
	assert_int_equal(stun_server_split("[2001:db8::1]:9", 3478, h, &p), 0);
	assert_string_equal(h, "2001:db8::1");
	assert_int_equal(p, 9);
	assert_int_equal(stun_server_split("[2001:db8::1]", 3478, h, &p), 0);
	assert_string_equal(h, "2001:db8::1");
	assert_int_equal(p, 3478);
	assert_int_equal(stun_server_split("2001:db8::1", 3478, h, &p), 0);
	assert_string_equal(h, "2001:db8::1");
	assert_int_equal(p, 3478);
	assert_int_equal(stun_server_split("", 3478, h, &p), -1);
	assert_int_equal(stun_server_split("[]", 3478, h, &p), -1);
	assert_int_equal(stun_server_split("[::1", 3478, h, &p), -1);
	assert_int_equal(stun_server_split("host:0", 3478, h, &p), -1);
	assert_int_equal(stun_server_split("host:65536", 3478, h, &p), -1);
	assert_int_equal(stun_server_split("host:x", 3478, h, &p), -1);
	assert_int_equal(stun_server_split(":3478", 3478, h, &p), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sample_request),
		cmocka_unit_test(sample_ipv4_response),
		cmocka_unit_test(sample_ipv6_response),
		cmocka_unit_test(sample_long_term),
		cmocka_unit_test(write_xor_addr),
		cmocka_unit_test(write_types_and_errors),
		cmocka_unit_test(writer_bounds),
		cmocka_unit_test(not_stun),
		cmocka_unit_test(malformed),
		cmocka_unit_test(unknown_and_integrity),
		cmocka_unit_test(server_answers),
		cmocka_unit_test(server_answers_classic),
		cmocka_unit_test(server_split),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
