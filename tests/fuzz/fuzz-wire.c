/* libFuzzer target: the wire protocol reader of chat-listen. The input is
 * a byte stream fed through wire_buf in chunk sizes drawn from the input;
 * every line is checked against a plain splitter and parsed, and what
 * parses is written back with wire_put_* and must parse the same. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peer/wire.h"

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "fuzz-wire: %s:%d: " \
	"check failed: %s\n", __FILE__, __LINE__, #c); abort(); } } while (0)

/* The stream: the input after its first two bytes, where 0xff n stands
 * for n * 4096 bytes of 'a' (so that over-long lines are cheap to make)
 * and 0xff 0x00 for 0xff itself; at most STREAM_MAX bytes in all. */
#define STREAM_MAX (1024 * 1024)

static size_t
expand(const uint8_t *p, size_t n, char *out)
{
	size_t len = 0, i, run;

	for (i = 0; i < n && len < STREAM_MAX; i++) {
		if (p[i] == 0xff && i + 1 < n && p[i + 1] != 0) {
			run = (size_t)p[++i] * 4096;
			if (run > STREAM_MAX - len)
				run = STREAM_MAX - len;
			if (out != NULL)
				memset(out + len, 'a', run);
			len += run;
			continue;
		}
		if (p[i] == 0xff && i + 1 < n)
			i++;
		if (out != NULL)
			out[len] = (char)p[i];
		len++;
	}
	return len;
}

/* What wire_buf must give: each line (a \r before its \n taken off), or
 * -1 for a line longer than WIRE_LINE_MAX, once. */
struct expect {
	const char *s;
	size_t len, at;
	bool dropped;		/* a last line without newline, too long */
};

static int
expect_next(struct expect *e, const char **line, size_t *len)
{
	const char *nl;
	size_t n;

	if (e->at >= e->len)
		return 0;
	if ((nl = memchr(e->s + e->at, '\n', e->len - e->at)) == NULL) {
		/* A last line without its newline: dropped once too long. */
		if (e->len - e->at <= WIRE_LINE_MAX + 1)
			return 0;
		e->at = e->len;
		e->dropped = true;
		return -1;
	}
	*line = e->s + e->at;
	n = (size_t)(nl - *line);
	e->at += n + 1;
	if (n > 0 && (*line)[n - 1] == '\r')
		n--;
	*len = n;
	return n > WIRE_LINE_MAX ? -1 : 1;
}

/* What parsed is written back and must parse to the same. */
static void
round_trip(const struct wire_obj *o)
{
	struct jsonw w = { 0 };
	struct wire_obj b;
	int rc;

	switch (o->type) {
	case WIRE_HELLO:
		rc = wire_put_hello(&w, o->from, o->to);
		break;
	case WIRE_MSG:
		rc = wire_put_msg(&w, o->uid, o->text, o->textlen,
		    o->ts != NULL ? o->ts : "2024-01-02T03:04:05.678Z");
		break;
	case WIRE_ACK:
		rc = wire_put_ack(&w, o->uid);
		break;
	case WIRE_ERROR:
		rc = wire_put_error(&w, o->code, o->error);
		break;
	default:
		return;
	}
	CHECK(rc == 0);
	CHECK(w.len > 0 && w.data[w.len - 1] == '\n');
	CHECK(memchr(w.data, '\n', w.len - 1) == NULL);
	CHECK(wire_parse(w.data, w.len - 1, &b) == o->type);
	switch (o->type) {
	case WIRE_HELLO:
		CHECK(strcmp(b.from, o->from) == 0);
		CHECK((b.to == NULL) == (o->to == NULL));
		CHECK(b.to == NULL || strcmp(b.to, o->to) == 0);
		break;
	case WIRE_MSG:
		CHECK(strcmp(b.uid, o->uid) == 0);
		CHECK(b.textlen == o->textlen);
		CHECK(memcmp(b.text, o->text, o->textlen) == 0);
		CHECK((o->ts == NULL) || (b.ts != NULL &&
		    strcmp(b.ts, o->ts) == 0));
		break;
	case WIRE_ACK:
		CHECK(strcmp(b.uid, o->uid) == 0);
		break;
	default:
		break;
	}
	wire_obj_free(&b);
	wire_out_free(&w);
}

static void
on_line(char *line, size_t len)
{
	struct wire_obj o;
	enum wire_type t;
	json_t *j;

	t = wire_parse(line, len, &o);
	CHECK(t == o.type);
	switch (t) {
	case WIRE_BAD:
		CHECK(o.code != NULL && o.error != NULL);
		CHECK(strcmp(o.code, "bad_json") == 0 ||
		    strcmp(o.code, "bad_handshake") == 0 ||
		    strcmp(o.code, "version") == 0);
		break;
	case WIRE_HELLO:
		CHECK(o.v == WIRE_VERSION && valid_username(o.from));
		CHECK(o.to == NULL || valid_username(o.to));
		break;
	case WIRE_MSG:
		CHECK(valid_uid(o.uid) && o.text != NULL);
		CHECK(o.textlen <= WIRE_TEXT_MAX);
		CHECK(valid_utf8(o.text, o.textlen));
		CHECK(memchr(o.text, '\0', o.textlen) == NULL);
		if (o.json != NULL)
			break;
		/* The fast path must agree with jansson. */
		j = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
		CHECK(json_is_object(j));
		CHECK(strcmp(json_string_value(json_object_get(j, "type")),
		    "msg") == 0);
		CHECK(strcmp(json_string_value(json_object_get(j, "uid")),
		    o.uid) == 0);
		CHECK(json_string_length(json_object_get(j, "text")) ==
		    o.textlen);
		CHECK(memcmp(json_string_value(json_object_get(j, "text")),
		    o.text, o.textlen) == 0);
		CHECK(o.ts != NULL && strcmp(json_string_value(
		    json_object_get(j, "ts")), o.ts) == 0);
		json_decref(j);
		break;
	case WIRE_ACK:
		CHECK(valid_uid(o.uid));
		/* The fast path must agree with jansson. */
		j = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
		CHECK(json_is_object(j));
		CHECK(strcmp(json_string_value(json_object_get(j, "uid")),
		    o.uid) == 0);
		json_decref(j);
		break;
	case WIRE_ERROR:
		CHECK(o.code != NULL && o.error != NULL);
		break;
	}
	round_trip(&o);
	wire_obj_free(&o);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_buf b = { 0 };
	struct expect e = { 0 };
	const char *want;
	char *s, *at, *line;
	size_t len, pos = 0, room, chunk, n, linelen, wantlen;
	uint32_t rng;
	int rc, erc;

	if (size < 2)
		return 0;
	/* Chunk sizes: a small generator seeded by the first two bytes. */
	rng = (uint32_t)data[0] << 8 | data[1] | 1u << 16;
	len = expand(data + 2, size - 2, NULL);
	CHECK((s = malloc(len + 1)) != NULL);
	expand(data + 2, size - 2, s);
	e.s = s;
	e.len = len;
	while (pos < len) {
		rng ^= rng << 13;
		rng ^= rng >> 17;
		rng ^= rng << 5;
		switch (rng % 4) {
		case 0:
			chunk = 1 + rng / 4 % 8;
			break;
		case 1:
			chunk = 1 + rng / 4 % 512;
			break;
		default:
			chunk = 1 + rng / 4 % 65536;
			break;
		}
		CHECK((at = wire_buf_space(&b, chunk, &room)) != NULL);
		n = chunk < room ? chunk : room;
		if (n > len - pos)
			n = len - pos;
		memcpy(at, s + pos, n);
		wire_buf_fill(&b, n);
		pos += n;
		while ((rc = wire_buf_line(&b, &line, &linelen)) != 0) {
			erc = expect_next(&e, &want, &wantlen);
			CHECK(rc == erc);
			if (rc > 0) {
				CHECK(linelen == wantlen);
				CHECK(memcmp(line, want, linelen) == 0);
				CHECK(line[linelen] == '\0');
				on_line(line, linelen);
			}
		}
		CHECK(b.cap <= WIRE_LINE_MAX + 2);
		if (rng & 0x100)
			wire_buf_shrink(&b);
	}
	/* Whatever is left is the start of a line not yet too long, or
	 * nothing when the last line was dropped. */
	CHECK(expect_next(&e, &want, &wantlen) == 0);
	CHECK(wire_buf_pending(&b) == (e.dropped ? 0 : e.len - e.at));
	wire_buf_free(&b);
	free(s);
	return 0;
}
