/* cli_dirclient: the directory client every client program builds the
 * same way, from its flag and the environment. */
#ifndef CHAT_CLI_DIRCLIENT_H
#define CHAT_CLI_DIRCLIENT_H

#include "client/dirclient.h"

/* A directory client for the server given by flag, else CHAT_SERVER, else
 * the default, with CHAT_TIMEOUT; exits 64 when either is malformed.
 * (In cli_dirclient.c: only the programs that call it link libcurl.) */
struct dirclient *cli_dirclient(const char *server_flag);

#endif
