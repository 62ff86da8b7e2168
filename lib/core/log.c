/* log: JSON-lines diagnostics on stderr, one object per event. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/jsonw.h"
#include "core/log.h"
#include "core/util.h"

void
log_event(const char *level, const char *event, json_t *fields)
{
	json_t *o = json_object();
	struct jsonw w = { 0 };
	char ts[TS_LEN];
	size_t off = 0;

	if (o == NULL) {
		json_decref(fields);
		return;
	}
	ts_format(now_ms(), ts);
	json_object_set_new(o, "ts", json_string(ts));
	json_object_set_new(o, "level", json_string(level));
	json_object_set_new(o, "event", json_string(event));
	if (fields != NULL)
		json_object_update(o, fields);
	json_decref(fields);
	jw_json(&w, o);
	jw_lit(&w, "\n");
	json_decref(o);
	while (!w.failed && off < w.len) {
		ssize_t n = write(STDERR_FILENO, w.data + off, w.len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;	/* nowhere left to report a failing stderr */
		off += (size_t)n;
	}
	jw_free(&w);
}
