/// AsyncLog: the back-end thread. A line costs the front end a lock and a
/// copy, and no system call: the back end is woken only for a full buffer,
/// a reopen, a stop, or the first line after a quiet spell, and otherwise
/// comes back by itself once a period. Buffers are reused, so the steady
/// state allocates nothing.
#include "base/AsyncLog.h"

#include <pthread.h>
#include <signal.h>

#include <utility>

#include "base/LogFile.h"

namespace
{

constexpr size_t kBufferBytes = 1 << 20;
// Bounded memory: a disk slower than the server must not let the logs eat
// the memory. At most 64 full buffers (64 MiB) wait per stream, besides
// the ones the back end is writing; past that the front end drops lines
// and counts them, as muduo does, rather than stall an event loop, and the
// back end reports the count in the error log.
constexpr size_t kMaxQueuedBuffers = 64;
constexpr size_t kSpareBuffers = 2; // per stream: double buffering

const char *const kStreamNames[] = {"error log", "access log"};

} // namespace

AsyncLog::AsyncLog(LogFile &errors, LogFile &access, Notice notice,
                   std::chrono::milliseconds period)
    : files_{&errors, &access}, notice_(std::move(notice)), period_(period)
{
}

AsyncLog::~AsyncLog()
{
    stop();
}

void AsyncLog::start()
{
    std::lock_guard<std::mutex> lock(mutex_);
    running_ = true;
    stopping_ = false;
    // A thread starts with its creator's signal mask (pthread_create(3)).
    // Made with every signal blocked, this one never takes the SIGTERM or
    // SIGHUP meant for the thread that waits for them.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    thread_ = std::thread(&AsyncLog::run, this);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

void AsyncLog::stop()
{
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_one();
    if (thread_.joinable())
        thread_.join();
}

std::string AsyncLog::freshBuffer(Buffers &b)
{
    if (!b.spare.empty()) {
        std::string buffer = std::move(b.spare.back());
        b.spare.pop_back();
        return buffer;
    }
    std::string buffer;
    buffer.reserve(kBufferBytes);
    return buffer;
}

void AsyncLog::append(Stream stream, std::string_view line)
{
    std::lock_guard<std::mutex> lock(mutex_);
    if (!running_) {
        files_[stream]->append(line.data(), line.size());
        return;
    }
    Buffers &b = buffers_[stream];
    if (!b.current.empty() && b.current.size() + line.size() > kBufferBytes) {
        if (b.queued.size() >= kMaxQueuedBuffers) {
            b.dropped++;
            return;
        }
        b.queued.push_back(std::move(b.current));
        b.current = freshBuffer(b);
        wake_.notify_one(); // a full buffer is worth a wake-up
    }
    b.current.append(line);
    // Any other line finds the back end due back within a period: waking
    // it per line would cost a system call or two for each.
    if (asleep_) {
        asleep_ = false;
        wake_.notify_one();
    }
}

void AsyncLog::reopen(std::function<void()> done)
{
    std::unique_lock<std::mutex> lock(mutex_);
    if (running_) {
        reopens_.push_back(std::move(done));
        wake_.notify_one();
        return;
    }
    std::vector<std::string> failures = reopenFiles();
    lock.unlock();
    for (const std::string &failure : failures)
        notice_(failure);
    done();
}

std::vector<std::string> AsyncLog::reopenFiles()
{
    std::vector<std::string> failures;
    for (LogFile *file : files_) {
        std::string err;
        if (!file->reopen(err))
            failures.push_back(err);
    }
    return failures;
}

bool AsyncLog::hasWork() const
{
    for (const Buffers &b : buffers_)
        if (!b.current.empty() || !b.queued.empty() || b.dropped > 0)
            return true;
    return !reopens_.empty();
}

/// What ends a wait before its period: a full buffer, a reopen, a stop.
bool AsyncLog::urgent() const
{
    for (const Buffers &b : buffers_)
        if (!b.queued.empty())
            return true;
    return !reopens_.empty() || stopping_;
}

/// What one turn of the back end takes from the front end, under the lock.
struct AsyncLog::Batch {
    std::vector<std::string> buffers[kStreams];
    long long dropped[kStreams] = {};
    std::vector<std::function<void()>> reopens;
};

/// Takes every buffer with lines in it, the partly filled ones too: after
/// a period, a reopen or a stop, all of them are due. Returns whether any
/// line was taken.
bool AsyncLog::take(Batch &batch)
{
    bool lines = false;
    for (int i = 0; i < kStreams; i++) {
        Buffers &b = buffers_[i];
        std::swap(batch.buffers[i], b.queued);
        if (!b.current.empty()) {
            batch.buffers[i].push_back(std::move(b.current));
            b.current = freshBuffer(b);
        }
        batch.dropped[i] = std::exchange(b.dropped, 0);
        lines = lines || !batch.buffers[i].empty();
    }
    std::swap(batch.reopens, reopens_);
    return lines;
}

void AsyncLog::recycle(Batch &batch)
{
    for (int i = 0; i < kStreams; i++) {
        for (std::string &buffer : batch.buffers[i]) {
            if (buffers_[i].spare.size() >= kSpareBuffers)
                break;
            buffer.clear(); // keeps its capacity
            buffers_[i].spare.push_back(std::move(buffer));
        }
        batch.buffers[i].clear();
    }
    batch.reopens.clear();
}

/// Writes a batch, then reopens if asked: the lines taken before the
/// request reach the old files, and nothing waits in between.
void AsyncLog::process(Batch &batch)
{
    for (int i = 0; i < kStreams; i++) {
        for (const std::string &buffer : batch.buffers[i])
            files_[i]->append(buffer.data(), buffer.size());
        if (batch.dropped[i] > 0)
            notice_(std::string(kStreamNames[i]) + ": " +
                    std::to_string(batch.dropped[i]) +
                    " lines dropped: the disk is slower than the server");
    }
    if (batch.reopens.empty())
        return;
    for (const std::string &failure : reopenFiles())
        notice_(failure);
    for (auto &done : batch.reopens)
        done();
}

/// Sleeps until there is something to write. While lines come, that is a
/// full buffer, or one period after the last turn at the latest. After a
/// turn that found no line, only a line (or a reopen, or a stop) ends the
/// sleep: an idle server does not wake the thread every period.
void AsyncLog::waitForWork(std::unique_lock<std::mutex> &lock, bool quiet)
{
    if (!quiet) {
        wake_.wait_for(lock, period_, [this] { return urgent(); });
        return;
    }
    asleep_ = true;
    wake_.wait(lock, [this] { return hasWork() || stopping_; });
    asleep_ = false;
}

void AsyncLog::run()
{
    Batch batch;
    bool quiet = true; // the last turn took no line
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        waitForWork(lock, quiet);
        if (stopping_ && !hasWork()) {
            running_ = false; // from now on append() writes at once
            return;
        }
        quiet = !take(batch);
        lock.unlock();
        process(batch);
        lock.lock();
        recycle(batch);
    }
}
