/// Fd: owns one file descriptor and closes it exactly once. Move-only, so a
/// descriptor has one owner at a time and no path forgets to close it.
#pragma once

#include <unistd.h>

#include <utility>

class Fd
{
  public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(Fd &&other) noexcept : fd_(other.release()) {}
    Fd &operator=(Fd &&other) noexcept
    {
        reset(other.release());
        return *this;
    }
    Fd(const Fd &) = delete;
    Fd &operator=(const Fd &) = delete;
    ~Fd()
    {
        reset();
    }

    int get() const
    {
        return fd_;
    }
    bool valid() const
    {
        return fd_ >= 0;
    }
    explicit operator bool() const
    {
        return valid();
    }

    /// Gives the descriptor up without closing it.
    int release()
    {
        return std::exchange(fd_, -1);
    }

    /// Closes the descriptor held, if any, and holds fd instead.
    void reset(int fd = -1)
    {
        if (fd_ >= 0)
            ::close(fd_); // close(2) NOTES: never retry, even on EINTR
        fd_ = fd;
    }

  private:
    int fd_ = -1;
};
