/* log: JSON-lines diagnostics on stderr, one object per event. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

void
log_event(const char *level, const char *event, json_t *fields)
{
	json_t *o = json_object();
	char ts[TS_LEN], *line;
	size_t len, off = 0;

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
	line = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (line == NULL)
		return;
	len = strlen(line);
	line[len++] = '\n';	/* json_dumps leaves room: replace the NUL */
	while (off < len) {
		ssize_t n = write(STDERR_FILENO, line + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;	/* nowhere left to report a failing stderr */
		off += (size_t)n;
	}
	free(line);
}
