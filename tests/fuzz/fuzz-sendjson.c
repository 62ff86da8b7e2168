/* libFuzzer target: chat-send --json input. Each line of the input goes
 * through wire_input_json as chat-send reads it; what it accepts must be
 * sendable: text within the limit, valid UTF-8 without NUL, a valid uid,
 * and a msg line built from it must parse back to the same text and uid. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/valid.h"
#include "peer/wire.h"

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "fuzz-sendjson: %s:%d: " \
	"check failed: %s\n", __FILE__, __LINE__, #c); abort(); } } while (0)

static void
one_line(const char *line, size_t len)
{
	struct jsonw out = { 0 };
	struct wire_obj o;
	const char *text, *uid, *why;
	size_t textlen;
	json_t *j;

	if (wire_input_json(line, len, &j, &text, &textlen, &uid, &why) != 0) {
		CHECK(why != NULL && *why != '\0');
		return;
	}
	CHECK(textlen <= WIRE_TEXT_MAX);
	CHECK(memchr(text, '\0', textlen) == NULL);
	CHECK(valid_utf8(text, textlen));
	CHECK(uid == NULL || valid_uid(uid));
	CHECK(wire_put_msg(&out, uid != NULL ? uid : "u1", text, textlen,
	    "2026-11-24T20:05:18.123Z") == 0);
	CHECK(out.len > 0 && out.data[out.len - 1] == '\n');
	CHECK(wire_parse(out.data, out.len - 1, &o) == WIRE_MSG);
	CHECK(o.textlen == textlen && memcmp(o.text, text, textlen) == 0);
	CHECK(strcmp(o.uid, uid != NULL ? uid : "u1") == 0);
	wire_obj_free(&o);
	jw_free(&out);
	json_decref(j);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *nl;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		one_line(p, nl != NULL ? (size_t)(nl - p) : (size_t)(end - p));
		p = nl != NULL ? nl + 1 : end;
	}
	return 0;
}
