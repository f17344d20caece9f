// v15_config: fuzzes v15's Config::load, which reads the v10 format, with
// the input as the file. It checks the contract's promises: an error is one
// line naming FILE:LINE, a file that loads has values in their ranges.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "check.h"
#include "app/Config.h"

namespace
{

/// DIR/etc/server.conf is the file, and DIR/www exists, so that a root
/// such as "../www" (the shipped server.conf's) is a directory. Load
/// takes a path, so the input goes through a real file. Removed at exit
/// (libFuzzer ends with exit()).
struct Files {
    std::string dir;
    std::string conf;

    Files()
    {
        char name[] = "/tmp/fuzz-config-XXXXXX";
        CHECK(mkdtemp(name) != nullptr);
        dir = name;
        CHECK(mkdir((dir + "/www").c_str(), 0700) == 0);
        CHECK(mkdir((dir + "/etc").c_str(), 0700) == 0);
        conf = dir + "/etc/server.conf";
    }
    ~Files()
    {
        unlink(conf.c_str());
        rmdir((dir + "/www").c_str());
        rmdir((dir + "/etc").c_str());
        rmdir(dir.c_str());
    }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const Files files;
    const std::string &path = files.conf;
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0 && write(fd, data, size) == ssize_t(size));
    close(fd);

    Config cfg;
    std::string err;
    if (!cfg.load(path, err)) {
        // "FILE:LINE: what is wrong", one line (it goes to stderr as is).
        CHECK(err.compare(0, path.size() + 1, path + ":") == 0);
        CHECK(err.find('\n') == std::string::npos);
        return 0;
    }
    CHECK(err.empty());
    CHECK(cfg.port >= 0 && cfg.port <= 65535);
    CHECK(cfg.maxBody >= 0 && cfg.maxBody <= 1LL << 30);
    CHECK(cfg.keepaliveTimeout >= 1 && cfg.cgiTimeout >= 1);
    CHECK(cfg.fastcgiTimeout >= 1 && cfg.shutdownTimeout >= 1);
    CHECK(cfg.keepaliveRequests >= 1);
    CHECK(cfg.workerThreads >= 1 && cfg.workerThreads <= 256);
    CHECK(cfg.ioThreads >= 0 && cfg.ioThreads <= 256);
    CHECK(cfg.index.find('/') == std::string::npos && !cfg.index.empty());
    return 0;
}
