/* libFuzzer target: STUN messages. The input is one datagram: parsed, its
 * attributes read, and answered by the server engine, whose answer must
 * parse, carry the request's id and, but for RFC 3489 requests, a good
 * FINGERPRINT. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dir/stund.h"
#include "net/stun.h"

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "fuzz-stun: %s:%d: " \
	"check failed: %s\n", __FILE__, __LINE__, #c); abort(); } } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_in6 from = { .sin6_family = AF_INET6,
	    .sin6_port = htons(3478) };
	struct sockaddr_storage ss;
	struct stun_msg m, a;
	uint8_t out[STUN_MAX];
	uint16_t unk[STUN_MAX_ATTRS];
	char reason[128];
	enum stun_parse rc;
	size_t n;
	long fl;
	int code;

	if (size > 2 * STUN_MAX)
		return 0;
	fl = stun_frame_len(data, size);
	CHECK(fl <= STUN_MAX);
	rc = stun_parse(data, size, &m);
	if (fl > 0 && fl == (long)size)
		CHECK(rc != STUN_NOT_STUN);
	if (rc == STUN_OK) {
		CHECK(m.len == size && m.nattrs <= STUN_MAX_ATTRS);
		for (size_t i = 0; i < m.nattrs; i++) {
			const struct stun_attr *at = &m.attrs[i];

			CHECK(at->val >= data + STUN_HDR + 4);
			CHECK(at->val + at->len <= data + size);
			CHECK(at->off + 4 + at->len <= size);
			(void)stun_get_addr(&m, at, &ss);
			(void)stun_get_error(at, &code, reason, sizeof(reason));
		}
		CHECK(stun_unknown(&m, unk, STUN_MAX_ATTRS) <= m.nattrs);
	}
	memcpy(&from.sin6_addr, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01",
	    16);
	n = stund_answer(data, size, (struct sockaddr *)&from, "fuzz", out,
	    sizeof(out));
	if (n == 0)
		return 0;
	CHECK(rc == STUN_OK || rc == STUN_MALFORMED);
	CHECK(stun_parse(out, n, &a) == STUN_OK);
	CHECK(a.cls == STUN_SUCCESS || a.cls == STUN_ERROR);
	CHECK(memcmp(out + 4, data + 4, 16) == 0);
	CHECK(a.fingerprint == !a.classic);
	return 0;
}
