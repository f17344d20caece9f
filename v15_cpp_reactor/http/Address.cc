/// Address: fastcgi_pass's two spellings turned into a sockaddr. The same
/// messages as v11-v14's fcgi_parse_address, so a bad file reads the same.
#include "http/Address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstring>

#include "base/Number.h"

namespace
{

bool parseUnix(const std::string &path, sockaddr_storage &addr, socklen_t &len,
               std::string &err)
{
    sockaddr_un un{};
    // sun_path is a fixed array (108 bytes on Linux, unix(7)) that must
    // also hold the terminating NUL.
    if (path.empty() || path.size() >= sizeof un.sun_path) {
        err = "fastcgi_pass: the socket path after unix: must have "
              "1 to 107 bytes";
        return false;
    }
    un.sun_family = AF_UNIX;
    std::memcpy(un.sun_path, path.c_str(), path.size() + 1);
    std::memcpy(&addr, &un, sizeof un);
    len = sizeof un;
    return true;
}

bool parseInet(const std::string &pass, sockaddr_storage &addr, socklen_t &len,
               std::string &err)
{
    sockaddr_in in{};
    size_t colon = pass.rfind(':');
    long long port = 0;
    if (colon == std::string::npos ||
        inet_pton(AF_INET, pass.substr(0, colon).c_str(), &in.sin_addr) != 1 ||
        !parseNumber(pass.substr(colon + 1), 1, 65535, port)) {
        err = "fastcgi_pass wants HOST:PORT (an IPv4 address and a port), "
              "such as 127.0.0.1:9000, or unix:PATH";
        return false;
    }
    in.sin_family = AF_INET;
    in.sin_port = htons(static_cast<uint16_t>(port));
    std::memcpy(&addr, &in, sizeof in);
    len = sizeof in;
    return true;
}

} // namespace

bool parseFastcgiAddress(const std::string &pass, sockaddr_storage &addr,
                         socklen_t &len, std::string &err)
{
    addr = sockaddr_storage{};
    const std::string kUnix = "unix:";
    if (pass.compare(0, kUnix.size(), kUnix) == 0)
        return parseUnix(pass.substr(kUnix.size()), addr, len, err);
    return parseInet(pass, addr, len, err);
}
