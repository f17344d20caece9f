/// LogFile: a descriptor opened O_APPEND, so that every write(2) lands at
/// the end of the file as a whole, even when CGI scripts share fd 2 with
/// us; and reopened by name on SIGHUP, as logrotate expects.
#include "base/LogFile.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <memory>

#include "base/Failure.h"

namespace
{

/// Close-on-exec: a CGI script must not inherit, and write to or hold
/// open, a log. Only fd 2 is meant for scripts (becomeStderr).
///
/// open(2) of a FIFO for writing waits until some process opens it for
/// reading: a log that names a FIFO nobody reads would hang the server at
/// startup, deaf to SIGTERM, or the log's thread at a reopen. With
/// O_NONBLOCK that open fails at once with ENXIO instead (fifo(7)).
/// F_SETFL then keeps O_APPEND alone, so that a write waits for a slow
/// reader rather than failing. On a regular file O_NONBLOCK changes nothing.
int openLog(const std::string &path)
{
    int fd =
        ::open(path.c_str(),
               O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NONBLOCK, 0644);
    if (fd >= 0)
        fcntl(fd, F_SETFL, O_APPEND); // cannot fail on an open descriptor
    return fd;
}

/// Why openLog failed, in failure()'s form. ENXIO's own text, "No such
/// device or address", would not say.
std::string openFailure(const std::string &what)
{
    if (errno == ENXIO)
        return what + ": a FIFO that no process reads";
    return failure(what);
}

std::string absolute(const std::string &path)
{
    std::unique_ptr<char, decltype(&free)> cwd(getcwd(nullptr, 0), free);
    if (path.empty() || path[0] == '/' || !cwd)
        return path;
    return std::string(cwd.get()) + "/" + path;
}

} // namespace

bool LogFile::open(const std::string &path, std::string &err)
{
    path_ = absolute(path);
    fd_.reset(openLog(path_));
    if (!fd_)
        err = openFailure("log " + path_);
    return fd_.valid();
}

/// dup3, not dup2: it swaps the file behind fd 2 in one step (a script
/// writing at that moment writes to the old file or the new one), and its
/// flags argument says plainly that fd 2 keeps no close-on-exec.
bool LogFile::replaceStderr(std::string &err)
{
    if (dup3(fd_.get(), STDERR_FILENO, 0) < 0) {
        err = failure("reopen " + path_);
        return false;
    }
    return true;
}

bool LogFile::becomeStderr(std::string &err)
{
    isStderr_ = true;
    return replaceStderr(err);
}

bool LogFile::reopen(std::string &err)
{
    if (path_.empty())
        return true;
    Fd fresh(openLog(path_));
    if (!fresh) {
        err = openFailure("reopen " + path_);
        return false; // keep writing to the old file rather than nowhere
    }
    fd_ = std::move(fresh);
    return !isStderr_ || replaceStderr(err);
}

void LogFile::append(const char *data, size_t len)
{
    int fd = fd_.valid() ? fd_.get() : STDERR_FILENO;
    while (len > 0) {
        ssize_t n = ::write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; // a full disk: nowhere left to report it
        data += n;
        len -= static_cast<size_t>(n);
    }
}
