/// Address: the socket address fastcgi_pass names, HOST:PORT (IPv4) or
/// unix:PATH. app/Config checks it when the file is read; FastCgi parses it
/// again to connect, so both agree on what the text means.
#pragma once

#include <sys/socket.h>

#include <string>

/// Fills addr and len from pass. Returns true, or false with what is
/// wrong in err (a message naming fastcgi_pass).
bool parseFastcgiAddress(const std::string &pass, sockaddr_storage &addr,
                         socklen_t &len, std::string &err);
