/// LogFile: one log file, appended to and reopened by name. Only the
/// AsyncLog back end writes to it (or a caller holding its lock while no
/// back end runs), so it needs no lock of its own.
#pragma once

#include <string>

#include "base/Fd.h"
#include "base/NonCopyable.h"

class LogFile : NonCopyable
{
  public:
    /// Opens path to append to; a relative path is made absolute first, so
    /// a daemon, which runs in "/", reopens the same file. Returns true, or
    /// false with "log PATH: reason" in err.
    bool open(const std::string &path, std::string &err);
    bool isOpen() const
    {
        return fd_.valid();
    }

    /// From now on the file is fd 2 as well, so that what child processes
    /// (CGI scripts) write to stderr lands in it. Returns false with err.
    bool becomeStderr(std::string &err);

    /// Writes all of data at the end of the file. A file never opened
    /// writes to fd 2: the error log when none is configured.
    void append(const char *data, size_t len);

    /// Opens the path again (after logrotate renamed the file): the lines
    /// appended from now on go to a new file. Returns false with err.
    bool reopen(std::string &err);

  private:
    bool replaceStderr(std::string &err);

    std::string path_;
    Fd fd_;
    bool isStderr_ = false;
};
