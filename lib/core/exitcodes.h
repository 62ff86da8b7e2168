/* exitcodes: the sysexits(3) statuses the programs use, by name. */
#ifndef CHAT_EXITCODES_H
#define CHAT_EXITCODES_H

#include <sysexits.h>

/* 0 ok, 64 usage, 65 bad input data, 67 unknown user, 69 service
 * unavailable, 70 internal, 74 I/O, 75 temporary failure, 76 protocol. */

#endif
