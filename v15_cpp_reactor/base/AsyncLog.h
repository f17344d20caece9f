/// AsyncLog: the logs' back end, double buffering in the muduo tradition.
/// Any thread appends a whole line to a buffer in memory under a mutex; one
/// background thread swaps the full buffers out and writes them with
/// write(2), so no caller ever waits for the disk. Two streams, the error
/// log and the access log, share the thread.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/NonCopyable.h"

class LogFile;

class AsyncLog : NonCopyable
{
  public:
    enum Stream { kErrors, kAccess, kStreams };
    /// How the back end reports on itself ("N lines dropped", a failed
    /// reopen): a message for the error log, called on the back end's
    /// thread with no lock held, so it may append().
    using Notice = std::function<void(const std::string &message)>;

    /// The files must outlive the AsyncLog.
    AsyncLog(LogFile &errors, LogFile &access, Notice notice);
    ~AsyncLog();

    /// Starts the back-end thread. Until then, and after stop(), append()
    /// writes at once.
    void start();
    /// Writes everything still buffered, then ends the thread.
    void stop();

    /// Appends one whole line (with its newline). Any thread; never blocks
    /// on the disk. Past kMaxQueuedBytes waiting, the line is dropped and
    /// counted.
    void append(Stream stream, std::string_view line);

    /// Reopens both files on the back end's thread, between two writes:
    /// what was appended before goes to the old files, and every line
    /// appended after done has run (it runs there, next) to the new ones.
    /// Any thread.
    void reopen(std::function<void()> done);

  private:
    /// One stream's buffers. The front end appends to current; a full one
    /// joins the queue; spare holds emptied buffers for reuse.
    struct Buffers {
        std::string current;
        std::vector<std::string> queued;
        std::vector<std::string> spare;
        long long dropped = 0;
    };

    struct Batch;

    void run();
    bool hasWork() const;
    std::string freshBuffer(Buffers &b);
    void take(Batch &batch);
    void process(Batch &batch);
    void recycle(Batch &batch);
    std::vector<std::string> reopenFiles();

    LogFile *files_[kStreams];
    Notice notice_;

    std::mutex mutex_;
    std::condition_variable wake_; // lines came, a reopen, or stop
    Buffers buffers_[kStreams];    // guarded by mutex_
    bool running_ = false;         // guarded by mutex_
    bool stopping_ = false;        // guarded by mutex_
    std::vector<std::function<void()>> reopens_; // guarded by mutex_
    std::thread thread_;
};
