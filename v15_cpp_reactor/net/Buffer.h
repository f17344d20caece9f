/// Buffer: a byte queue for one direction of one connection.
///
///   +-------------------+------------------+------------------+
///   | prependable bytes |  readable bytes  |  writable bytes  |
///   |                   |    (content)     |                  |
///   +-------------------+------------------+------------------+
///   0      <=      readerIndex   <=   writerIndex    <=     size
///
/// Reading from a socket goes with readv into the writable part plus a
/// 64 KiB area on the stack, so one system call takes whatever has arrived
/// while a quiet connection keeps a small buffer (or none: release()).
#pragma once

#include <sys/types.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>

class Buffer
{
  public:
    size_t readableBytes() const
    {
        return writerIndex_ - readerIndex_;
    }
    size_t capacity() const
    {
        return capacity_;
    }
    size_t writableBytes() const
    {
        return capacity_ - writerIndex_;
    }
    const char *peek() const
    {
        return storage_.get() + readerIndex_;
    }
    std::string_view view() const
    {
        return {peek(), readableBytes()};
    }
    /// The content, to change in place (a chunked body is decoded there).
    char *content()
    {
        return storage_.get() + readerIndex_;
    }

    /// Drops n bytes from the front.
    void retrieve(size_t n)
    {
        if (n < readableBytes())
            readerIndex_ += n;
        else
            retrieveAll();
    }
    void retrieveAll()
    {
        readerIndex_ = writerIndex_ = 0;
    }
    /// Drops n bytes from the end.
    void unwrite(size_t n)
    {
        writerIndex_ -= std::min(n, readableBytes());
    }

    void append(const char *data, size_t n)
    {
        // memcpy's pointers must not be null even for 0 bytes, and both
        // may be: an empty body's view, a buffer with no storage yet.
        if (n == 0)
            return;
        ensureWritable(n);
        std::memcpy(storage_.get() + writerIndex_, data, n);
        writerIndex_ += n;
    }
    void append(std::string_view s)
    {
        append(s.data(), s.size());
    }

    /// Room for n more bytes at the end; moves the content to the front
    /// first when that is enough.
    void ensureWritable(size_t n);
    char *beginWrite()
    {
        return storage_.get() + writerIndex_;
    }
    void hasWritten(size_t n)
    {
        writerIndex_ += n;
    }

    /// Gives the memory back when the buffer is empty: an idle keep-alive
    /// connection then holds no buffer at all.
    void releaseIfEmpty();

    /// Reads what the socket has (one readv). Returns the byte count, 0 at
    /// end of file, -1 with errno set. Never reads more than limit bytes
    /// into the buffer beyond what it holds, so a peer cannot grow it
    /// without bound.
    ssize_t readFd(int fd, size_t limit);

  private:
    std::unique_ptr<char[]> storage_; // not a vector: growing need not zero it
    size_t capacity_ = 0;
    size_t readerIndex_ = 0;
    size_t writerIndex_ = 0;
};
