/* jsonw: JSON written straight into a growing buffer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/jsonw.h"

bool
jw_reserve(struct jsonw *w, size_t n)
{
	size_t cap;
	char *nb;

	if (w->failed)
		return false;
	if (w->len + n <= w->cap)
		return true;
	for (cap = w->cap ? w->cap : 256; cap < w->len + n; cap *= 2)
		;
	if ((nb = realloc(w->data, cap)) == NULL) {
		w->failed = true;
		return false;
	}
	w->data = nb;
	w->cap = cap;
	return true;
}

void
jw_raw(struct jsonw *w, const char *s, size_t n)
{
	if (jw_reserve(w, n)) {
		memcpy(w->data + w->len, s, n);
		w->len += n;
	}
}

/* Whether JSON writes every byte of s as itself inside a string:
 * printable ASCII but the quote and the backslash. */
static bool
plain(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
			return false;
	}
	return true;
}

void
jw_str(struct jsonw *w, const char *s, size_t n)
{
	size_t room = 6 * n + 2, used;	/* \uXXXX for each byte at worst */
	json_t *j;

	if (plain(s, n)) {
		if (jw_reserve(w, n + 2)) {
			w->data[w->len++] = '"';
			memcpy(w->data + w->len, s, n);
			w->len += n;
			w->data[w->len++] = '"';
		}
		return;
	}
	if ((j = json_stringn(s, n)) == NULL || !jw_reserve(w, room)) {
		w->failed = true;
		json_decref(j);
		return;
	}
	used = json_dumpb(j, w->data + w->len, room, JSON_ENCODE_ANY);
	if (used == 0 || used > room)
		w->failed = true;
	else
		w->len += used;
	json_decref(j);
}

void
jw_int(struct jsonw *w, int64_t v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%lld", (long long)v);

	jw_raw(w, num, (size_t)n);
}

void
jw_bool(struct jsonw *w, bool v)
{
	if (v)
		jw_lit(w, "true");
	else
		jw_lit(w, "false");
}

static int
dump_cb(const char *buf, size_t size, void *w)
{
	jw_raw(w, buf, size);
	return ((struct jsonw *)w)->failed ? -1 : 0;
}

void
jw_json(struct jsonw *w, const json_t *o)
{
	if (o == NULL ||
	    json_dump_callback(o, dump_cb, w, JSON_COMPACT | JSON_ENCODE_ANY))
		w->failed = true;
}

void
jw_free(struct jsonw *w)
{
	free(w->data);
	*w = (struct jsonw){ 0 };
}
