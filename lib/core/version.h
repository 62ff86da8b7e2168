/* version: the one version string every program prints for --version. */
#ifndef CHAT_VERSION_H
#define CHAT_VERSION_H

#define CHAT_VERSION "0.1.0"

#endif
