/* wire: line framing and the objects of the direct protocol (v1). */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "peer/wire.h"

#define BUF_MIN 4096

static size_t
line_max(const struct wire_buf *b)
{
	return b->max != 0 ? b->max : WIRE_LINE_MAX;
}

char *
wire_buf_space(struct wire_buf *b, size_t want, size_t *room)
{
	size_t cap, most = line_max(b) + 2;	/* a longest line, \r, \n */
	char *p;

	if (b->off > 0 && (b->off == b->len || b->cap - b->len < want)) {
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->scan -= b->off;
		b->off = 0;
	}
	if (b->cap - b->len < want && b->cap < most) {
		cap = b->cap ? b->cap : BUF_MIN;
		while (cap - b->len < want && cap < most)
			cap *= 2;
		if (cap > most)
			cap = most;
		if ((p = realloc(b->data, cap)) == NULL)
			return NULL;
		b->data = p;
		b->cap = cap;
	}
	*room = b->cap - b->len;
	if (*room == 0 && b->data == NULL)
		return NULL;
	return b->data + b->len;
}

void
wire_buf_fill(struct wire_buf *b, size_t n)
{
	b->len += n;
}

int
wire_buf_line(struct wire_buf *b, char **line, size_t *len)
{
	char *nl;
	size_t n;

	if (b->dropping) {
		nl = memchr(b->data + b->off, '\n', b->len - b->off);
		if (nl == NULL) {
			b->off = b->len = b->scan = 0;
			return 0;
		}
		b->off = b->scan = (size_t)(nl - b->data) + 1;
		b->dropping = false;
	}
	nl = b->len > b->scan ? memchr(b->data + b->scan, '\n',
	    b->len - b->scan) : NULL;
	if (nl == NULL) {
		b->scan = b->len;
		if (b->len - b->off > line_max(b) + 1) {
			b->off = b->len = b->scan = 0;
			b->dropping = true;
			return -1;
		}
		return 0;
	}
	n = (size_t)(nl - (b->data + b->off));
	*line = b->data + b->off;
	b->off += n + 1;
	b->scan = b->off;
	if (n > 0 && (*line)[n - 1] == '\r')
		n--;
	if (n > line_max(b))
		return -1;
	(*line)[n] = '\0';
	*len = n;
	return 1;
}

size_t
wire_buf_pending(const struct wire_buf *b)
{
	return b->len - b->off;
}

void
wire_buf_shrink(struct wire_buf *b)
{
	/* Not while dropping: the rest of an over-long line is still to
	 * come, and forgetting that would read it as a line. */
	if (b->off == b->len && b->cap > BUF_MIN && !b->dropping) {
		free(b->data);
		*b = (struct wire_buf){ .max = b->max };
	}
}

void
wire_buf_free(struct wire_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

int
wire_out_append(struct jsonw *o, const char *s, size_t n)
{
	if (o->failed)
		return -1;
	jw_raw(o, s, n);
	if (o->failed) {
		o->failed = false;	/* nothing was added */
		return -1;
	}
	return 0;
}

static int
dump_cb(const char *buf, size_t n, void *arg)
{
	return wire_out_append(arg, buf, n);
}

int
wire_out_json(struct jsonw *o, const json_t *j)
{
	size_t mark = o->len;

	if (j == NULL || json_dump_callback(j, dump_cb, o, JSON_COMPACT) != 0 ||
	    wire_out_append(o, "\n", 1) != 0) {
		o->len = mark;
		return -1;
	}
	return 0;
}

void
wire_out_consume(struct jsonw *o, size_t n)
{
	if (n >= o->len) {
		o->len = 0;
		if (o->cap > 65536) {
			free(o->data);
			o->data = NULL;
			o->cap = 0;
		}
		return;
	}
	memmove(o->data, o->data + n, o->len - n);
	o->len -= n;
}

void
wire_out_free(struct jsonw *o)
{
	jw_free(o);
}

/* Closes a line begun at mark; a line that failed is taken back whole. */
static int
line_end(struct jsonw *o, size_t mark)
{
	jw_lit(o, "}\n");
	if (o->failed) {
		o->len = mark;
		o->failed = false;
		return -1;
	}
	return 0;
}

/* Appends j as a line and drops it. */
static int
put(struct jsonw *o, json_t *j)
{
	int rc = wire_out_json(o, j);

	json_decref(j);
	return rc;
}

int
wire_put_hello(struct jsonw *o, const char *from, const char *to)
{
	if (to == NULL)
		return put(o, json_pack("{s:s, s:i, s:s}", "type", "hello",
		    "v", WIRE_VERSION, "from", from));
	return put(o, json_pack("{s:s, s:i, s:s, s:s}", "type", "hello",
	    "v", WIRE_VERSION, "from", from, "to", to));
}

/* msg and ack go once per message: written directly, not packed. */
int
wire_put_msg(struct jsonw *o, const char *uid, const char *text,
    size_t textlen, const char *ts)
{
	size_t mark = o->len;

	if (o->failed)
		return -1;
	jw_lit(o, "{\"type\":\"msg\",\"uid\":");
	jw_str(o, uid, strlen(uid));
	jw_lit(o, ",\"text\":");
	jw_str(o, text, textlen);
	jw_lit(o, ",\"ts\":");
	jw_str(o, ts, strlen(ts));
	return line_end(o, mark);
}

int
wire_put_ack(struct jsonw *o, const char *uid)
{
	size_t mark = o->len;

	if (o->failed)
		return -1;
	jw_lit(o, "{\"type\":\"ack\",\"uid\":");
	jw_str(o, uid, strlen(uid));
	return line_end(o, mark);
}

int
wire_put_error(struct jsonw *o, const char *code, const char *error)
{
	return put(o, json_pack("{s:s, s:s, s:s}", "type", "error", "code",
	    code, "error", error));
}

static enum wire_type
bad(struct wire_obj *o, const char *code, const char *error)
{
	o->type = WIRE_BAD;
	o->code = code;
	o->error = error;
	return WIRE_BAD;
}

static const char *
str(const json_t *j, const char *key)
{
	return json_string_value(json_object_get(j, key));
}

/* The n bytes at p, with no NUL among them, as a string in buf (of at
 * least n + 1 bytes). */
static bool
take(const char *p, size_t n, char *buf)
{
	if (memchr(p, '\0', n) != NULL)
		return false;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return true;
}

/* The ack of the protocol's own form, read without building a tree: the
 * one line a sender reads for every message. */
static bool
fast_ack(const char *line, size_t len, struct wire_obj *o)
{
	static const char head[] = "{\"type\":\"ack\",\"uid\":\"";
	size_t hl = sizeof(head) - 1, n;

	if (len < hl + 3 || memcmp(line, head, hl) != 0 ||
	    memcmp(line + len - 2, "\"}", 2) != 0)
		return false;
	n = len - hl - 2;
	if (n > UID_MAX || !take(line + hl, n, o->uidbuf) ||
	    !valid_uid(o->uidbuf))
		return false;
	o->type = WIRE_ACK;
	o->uid = o->uidbuf;
	return true;
}

/* A msg in the form wire_put_msg writes, with a text that needed no
 * escape (the common case: no quote, backslash or control character),
 * read without building a tree. Anything else, even valid JSON of the
 * same meaning, is left to jansson: this takes a strict subset of what
 * jansson takes, and gives the same fields (fuzz-wire checks both). */
static bool
fast_msg(const char *line, size_t len, struct wire_obj *o)
{
	static const char head[] = "{\"type\":\"msg\",\"uid\":\"";
	static const char mid[] = "\",\"text\":\"";
	static const char tail[] = "\",\"ts\":\"";
	const char *p = line + sizeof(head) - 1, *end = line + len, *q;
	const char *text;
	int64_t ms;
	size_t n;

	if (len < sizeof(head) - 1 + sizeof(mid) - 1 + sizeof(tail) - 1 + 2 ||
	    memcmp(line, head, sizeof(head) - 1) != 0 ||
	    memcmp(end - 2, "\"}", 2) != 0)
		return false;
	end -= 2;
	/* The uid: its characters (valid_uid) need no escape. */
	if ((q = memchr(p, '"', (size_t)(end - p))) == NULL ||
	    (n = (size_t)(q - p)) > UID_MAX || !take(p, n, o->uidbuf) ||
	    !valid_uid(o->uidbuf))
		return false;
	p = q;
	if ((size_t)(end - p) < sizeof(mid) - 1 ||
	    memcmp(p, mid, sizeof(mid) - 1) != 0)
		return false;
	/* The text: up to the first quote, which ends the string since no
	 * backslash comes before it; bytes jansson takes as they are. */
	text = p += sizeof(mid) - 1;
	for (; p < end && *p != '"'; p++)
		if ((unsigned char)*p < 0x20 || *p == '\\')
			return false;
	n = (size_t)(p - text);
	if (p == end || n > WIRE_TEXT_MAX || !valid_utf8(text, n))
		return false;
	/* The time stamp, of the one form ts_format writes. */
	if ((size_t)(end - p) < sizeof(tail) - 1 ||
	    memcmp(p, tail, sizeof(tail) - 1) != 0)
		return false;
	p += sizeof(tail) - 1;
	if ((size_t)(end - p) != TS_LEN - 1 || !take(p, TS_LEN - 1, o->tsbuf) ||
	    !ts_parse(o->tsbuf, &ms))
		return false;
	o->type = WIRE_MSG;
	o->uid = o->uidbuf;
	o->text = text;
	o->textlen = n;
	o->ts = o->tsbuf;
	return true;
}

enum wire_type
wire_parse(const char *line, size_t len, struct wire_obj *o)
{
	const char *type;
	json_t *j, *v, *text;
	int64_t ms;

	memset(o, 0, sizeof(*o));
	if (fast_ack(line, len, o))
		return WIRE_ACK;
	if (fast_msg(line, len, o))
		return WIRE_MSG;
	j = o->json = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(j))
		return bad(o, "bad_json", "not a JSON object");
	if ((type = str(j, "type")) == NULL)
		return bad(o, "bad_json", "no type");
	if (strcmp(type, "hello") == 0) {
		v = json_object_get(j, "v");
		if (!json_is_integer(v))
			return bad(o, "bad_handshake", "hello without a version");
		if ((o->v = json_integer_value(v)) != WIRE_VERSION)
			return bad(o, "version", "only version 1 is spoken here");
		o->from = str(j, "from");
		o->to = str(j, "to");
		if (!valid_username(o->from))
			return bad(o, "bad_handshake", "hello without a valid from");
		if (o->to != NULL && !valid_username(o->to))
			return bad(o, "bad_handshake", "hello with a bad to");
		return o->type = WIRE_HELLO;
	}
	if (strcmp(type, "msg") == 0) {
		o->uid = str(j, "uid");
		text = json_object_get(j, "text");
		if (!valid_uid(o->uid))
			return bad(o, "bad_json", "msg without a valid uid");
		if (!json_is_string(text))
			return bad(o, "bad_json", "msg without a text");
		o->text = json_string_value(text);
		o->textlen = json_string_length(text);
		if (o->textlen > WIRE_TEXT_MAX)
			return bad(o, "bad_json", "msg text longer than 64 KiB");
		if (memchr(o->text, '\0', o->textlen) != NULL)
			return bad(o, "bad_json", "msg text with a NUL");
		o->ts = str(j, "ts");
		if (o->ts != NULL && !ts_parse(o->ts, &ms))
			o->ts = NULL;
		return o->type = WIRE_MSG;
	}
	if (strcmp(type, "ack") == 0) {
		o->uid = str(j, "uid");
		if (!valid_uid(o->uid))
			return bad(o, "bad_json", "ack without a valid uid");
		return o->type = WIRE_ACK;
	}
	if (strcmp(type, "error") == 0) {
		o->code = str(j, "code");
		o->error = str(j, "error");
		if (o->code == NULL)
			o->code = "unknown";
		if (o->error == NULL)
			o->error = o->code;
		return o->type = WIRE_ERROR;
	}
	return bad(o, "bad_json", "unknown type");
}

void
wire_obj_free(struct wire_obj *o)
{
	json_decref(o->json);
	o->json = NULL;
}

int
wire_input_json(const char *line, size_t len, json_t **json,
    const char **text, size_t *textlen, const char **uid, const char **why)
{
	json_t *j = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *t = json_object_get(j, "text"), *u = json_object_get(j, "uid");

	*why = NULL;
	if (!json_is_string(t))
		*why = "not a JSON object with a text";
	else if (u != NULL && !valid_uid(json_string_value(u)))
		*why = "not a valid uid";
	else if (json_string_length(t) > WIRE_TEXT_MAX ||
	    memchr(json_string_value(t), '\0', json_string_length(t)) != NULL)
		*why = "text longer than 64 KiB or with a NUL";
	if (*why != NULL) {
		json_decref(j);
		return -1;
	}
	*json = j;
	*text = json_string_value(t);
	*textlen = json_string_length(t);
	*uid = json_string_value(u);
	return 0;
}
