/// AsyncLog: the logs' back end, double buffering in the muduo tradition.
/// Any thread appends a whole line to a buffer in memory under a mutex; one
/// background thread swaps the buffers out and writes them with write(2),
/// so no caller ever waits for the disk. Two streams, the error log and the
/// access log, share the thread.
///
/// The back end does not wake per line. It wakes when a buffer fills, when
/// a reopen or a stop is asked, or when a flush period has passed. After a
/// whole period with no line it sleeps until the next line comes, and
/// writes that one at once: an idle server never wakes it, and on a quiet
/// server a line shows at once.
#pragma once

#include <chrono>
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

    /// The longest a line waits in memory while others keep coming: how
    /// late `tail -f` shows it, and what a crash (SIGKILL) can lose. Four
    /// wake-ups a second cost nothing next to 100,000 requests; muduo
    /// waits 3 s.
    static constexpr std::chrono::milliseconds kFlushPeriod{250};

    /// The files must outlive the AsyncLog. A test may pass another period.
    AsyncLog(LogFile &errors, LogFile &access, Notice notice,
             std::chrono::milliseconds period = kFlushPeriod);
    ~AsyncLog();

    /// Starts the back-end thread. Until then, and after stop(), append()
    /// writes at once.
    void start();
    /// Writes everything still buffered, then ends the thread.
    void stop();

    /// Appends one whole line (with its newline): a copy into memory under
    /// the lock. Any thread; never blocks on the disk. When a stream has
    /// kMaxQueuedBuffers full buffers waiting (the back end is behind),
    /// the line is dropped and counted.
    void append(Stream stream, std::string_view line);

    /// Reopens both files on the back end's thread. Every line appended
    /// before the back end takes the request (so every line appended
    /// before reopen() is called) goes to the old files; every line
    /// appended after it, and so after done has run, to the new ones.
    /// Any thread.
    void reopen(std::function<void()> done);

  private:
    /// One stream's buffers. The front end appends to current; a full one
    /// joins queued; spare holds emptied buffers for reuse.
    struct Buffers {
        std::string current;
        std::vector<std::string> queued;
        std::vector<std::string> spare;
        long long dropped = 0;
    };

    struct Batch;

    void run();
    void waitForWork(std::unique_lock<std::mutex> &lock, bool quiet);
    bool hasWork() const;
    bool urgent() const;
    std::string freshBuffer(Buffers &b);
    bool take(Batch &batch);
    void process(Batch &batch);
    void recycle(Batch &batch);
    std::vector<std::string> reopenFiles();

    LogFile *files_[kStreams];
    Notice notice_;
    const std::chrono::milliseconds period_;

    std::mutex mutex_;
    std::condition_variable wake_; // a full buffer, a reopen, stop, a line
    Buffers buffers_[kStreams]; // guarded by mutex_
    bool running_ = false; // guarded by mutex_
    bool stopping_ = false; // guarded by mutex_
    bool asleep_ = false; // guarded by mutex_: the next line must wake it
    std::vector<std::function<void()>> reopens_; // guarded by mutex_
    std::thread thread_;
};
