// AsyncLogTest: the back end writes every line once and whole, at a stop
// and around a reopen; it is not woken per line, but a full buffer or the
// flush period gets lines out; and past its bound it drops and counts.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/AsyncLog.h"
#include "base/LogFile.h"
#include "tests/Check.h"

namespace
{

using namespace std::chrono_literals;

// A period longer than any test: only the first line after a quiet spell,
// a full buffer, a reopen or a stop gets lines out.
constexpr auto kLong = std::chrono::milliseconds(10'000);

std::string g_dir; // a fresh directory for the test's files

std::string path(const std::string &name)
{
    return g_dir + "/" + name;
}

std::vector<std::string> lines(const std::string &file)
{
    std::vector<std::string> out;
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);)
        out.push_back(line);
    return out;
}

/// Waits up to 2 s for file to have at least n lines; returns its count.
size_t waitLines(const std::string &file, size_t n)
{
    auto deadline = std::chrono::steady_clock::now() + 2s;
    size_t count = lines(file).size();
    while (count < n && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(5ms);
        count = lines(file).size();
    }
    return count;
}

/// An AsyncLog over two files in g_dir, the access log named name.
struct Logs {
    LogFile errors;
    LogFile access;
    std::mutex noticesMutex;
    std::vector<std::string> notices;
    AsyncLog log;

    Logs(const std::string &name, std::chrono::milliseconds period)
        : log(errors, access, recorder(), period)
    {
        std::string err;
        CHECK(errors.open(path(name + ".errors"), err));
        CHECK(access.open(path(name), err));
    }

    AsyncLog::Notice recorder()
    {
        return [this](const std::string &message) {
            std::lock_guard<std::mutex> lock(noticesMutex);
            notices.push_back(message);
        };
    }

    void line(const std::string &text)
    {
        log.append(AsyncLog::kAccess, text + "\n");
    }
};

void stopWritesEveryLineOnce()
{
    Logs logs("stop.log", kLong);
    logs.log.start();
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; t++)
        threads.emplace_back([&logs, t] {
            for (int i = 0; i < 5000; i++)
                logs.line(std::to_string(t) + " " + std::to_string(i));
        });
    for (auto &thread : threads)
        thread.join();
    logs.log.stop(); // at once: what is buffered must not wait a period
    std::vector<std::string> got = lines(path("stop.log"));
    CHECK_EQ(got.size(), size_t(20000));
    std::set<std::string> unique(got.begin(), got.end());
    CHECK_EQ(unique.size(), size_t(20000));
    int next[4] = {};
    bool inOrder = true;
    for (const std::string &line : got) {
        int t = line[0] - '0';
        inOrder = inOrder &&
                  line == std::to_string(t) + " " + std::to_string(next[t]++);
    }
    CHECK(inOrder); // each thread's lines in the order it logged them
}

void noWakeUpPerLine()
{
    Logs logs("quiet.log", kLong);
    logs.log.start();
    logs.line("first"); // the back end sleeps: the first line wakes it
    CHECK_EQ(waitLines(path("quiet.log"), 1), size_t(1));
    for (int i = 0; i < 100; i++)
        logs.line("more " + std::to_string(i));
    std::this_thread::sleep_for(300ms);
    // Woken per line, the back end would have written them by now.
    CHECK_EQ(lines(path("quiet.log")).size(), size_t(1));
    logs.log.stop();
    CHECK_EQ(lines(path("quiet.log")).size(), size_t(101));
}

void aFullBufferIsWrittenWithoutWaitingForThePeriod()
{
    Logs logs("full.log", kLong);
    logs.log.start();
    logs.line("first");
    CHECK_EQ(waitLines(path("full.log"), 1), size_t(1));
    std::string filler(1000, 'x');
    for (int i = 0; i < 1100; i++) // 1.1 MB: past one 1 MiB buffer
        logs.line(filler);
    CHECK(waitLines(path("full.log"), 2) > 1);
    logs.log.stop();
    CHECK_EQ(lines(path("full.log")).size(), size_t(1101));
}

void thePeriodWritesWhatCame()
{
    Logs logs("period.log", 50ms);
    logs.log.start();
    logs.line("first");
    CHECK_EQ(waitLines(path("period.log"), 1), size_t(1));
    logs.line("second"); // the back end is awake: no wake-up for this one
    CHECK_EQ(waitLines(path("period.log"), 2), size_t(2));
    std::this_thread::sleep_for(200ms); // quiet periods: it sleeps again
    logs.line("third"); // ...and this line wakes it
    CHECK_EQ(waitLines(path("period.log"), 3), size_t(3));
    logs.log.stop();
}

/// Lines logged while a reopen happens: the ones before reopen() is called
/// in the old file, those after done has run in the new one, each once,
/// and the old file holds a prefix of them, the new one the rest.
void reopenSplitsTheLinesBetweenTheFiles()
{
    Logs logs("rotate.log", kLong);
    logs.log.start();
    std::atomic<bool> reopened{false};
    std::atomic<bool> stop{false};
    std::atomic<int> firstAfterDone{-1};
    std::atomic<int> written{0};
    std::thread writer([&] {
        for (int n = 0; !stop; n++) {
            if (reopened && firstAfterDone < 0)
                firstAfterDone = n;
            logs.line(std::to_string(n));
            written = n + 1;
        }
    });
    while (written < 1000)
        std::this_thread::sleep_for(1ms);
    logs.log.append(AsyncLog::kErrors, "before\n");
    for (std::string name : {"rotate.log", "rotate.log.errors"})
        CHECK(rename(path(name).c_str(), path(name + ".1").c_str()) == 0);
    logs.log.reopen([&] { reopened = true; });
    while (!reopened)
        std::this_thread::sleep_for(1ms);
    logs.log.append(AsyncLog::kErrors, "after\n");
    while (firstAfterDone < 0 || written < firstAfterDone + 1000)
        std::this_thread::sleep_for(1ms);
    stop = true;
    writer.join();
    logs.log.stop();

    std::vector<std::string> old = lines(path("rotate.log.1"));
    std::vector<std::string> fresh = lines(path("rotate.log"));
    CHECK(old.size() >= 1000);
    CHECK(fresh.size() >= 1000);
    std::vector<std::string> all = old;
    all.insert(all.end(), fresh.begin(), fresh.end());
    bool consecutive = true; // none lost, none doubled, the order kept
    for (size_t i = 0; i < all.size(); i++)
        consecutive = consecutive && all[i] == std::to_string(i);
    CHECK(consecutive);
    if (!fresh.empty())
        CHECK(std::stoi(fresh.front()) <= firstAfterDone);
    using Lines = std::vector<std::string>;
    CHECK(lines(path("rotate.log.errors.1")) == Lines{"before"});
    CHECK(lines(path("rotate.log.errors")) == Lines{"after"});
}

/// A pipe nobody reads stands for a disk that stalls: the back end blocks
/// in write(2), the front end queues 64 buffers, then drops and counts, and
/// what is written plus what is counted is every line.
///
/// How many lines must come for a drop, whenever the back end runs: before
/// it blocks it writes at most the pipe's 64 KiB, then the batch it blocks
/// in (at most 64 queued buffers and the current one); behind that, 64
/// more wait and one fills. So 131 buffers of 1 MiB may pass undropped; 160
/// are sure to overflow, even when the back end is slow to take its first
/// batch (a busy machine), which 80 were not.
void aStalledDiskDropsAndCounts()
{
    std::string fifo = path("stalled");
    CHECK(mkfifo(fifo.c_str(), 0600) == 0);
    int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
    CHECK(reader >= 0);
    const int kLines = 160 * 1024; // 160 MiB of 1 KiB lines
    long long received = 0;
    std::vector<std::string> notices;
    std::thread drain;
    {
        LogFile errors, access;
        std::string err;
        CHECK(access.open(fifo, err));
        AsyncLog log(
            errors, access,
            [&notices](const std::string &m) { notices.push_back(m); }, kLong);
        log.start();
        std::string line(1023, 'x');
        line += '\n';
        for (int i = 0; i < kLines; i++)
            log.append(AsyncLog::kAccess, line);
        fcntl(reader, F_SETFL, 0); // blocking: read until the writer closes
        drain = std::thread([&] {
            char buf[1 << 16];
            ssize_t n;
            while ((n = read(reader, buf, sizeof buf)) > 0)
                received += n;
        });
        log.stop(); // notice runs on the back end's thread, before this
        // Leaving the block closes the pipe's writing end: the reader sees
        // the end.
    }
    drain.join();
    close(reader);
    // "access log: N lines dropped: the disk is slower than the server",
    // once for each batch that found drops: usually one, but a back end
    // slow to take its first batch (the queue already full) reports that
    // batch's drops and then those made while it was blocked in its write.
    // A batch with drops holds 64 buffers and so blocks until the drain:
    // no third report can come.
    const std::string kPrefix = "access log: ";
    CHECK(!notices.empty() && notices.size() <= 2);
    long long dropped = 0;
    for (const std::string &notice : notices)
        if (CHECK(notice.rfind(kPrefix, 0) == 0))
            dropped += std::atoll(notice.c_str() + kPrefix.size());
    CHECK(dropped > 0);
    CHECK_EQ(received / 1024 + dropped, static_cast<long long>(kLines));
    CHECK_EQ(received % 1024, 0LL);
}

} // namespace

int main()
{
    char dir[] = "/tmp/asynclogtest.XXXXXX";
    if (mkdtemp(dir) == nullptr) {
        perror("mkdtemp");
        return 1;
    }
    g_dir = dir;
    for (auto test :
         {stopWritesEveryLineOnce, noWakeUpPerLine,
          aFullBufferIsWrittenWithoutWaitingForThePeriod,
          thePeriodWritesWhatCame, reopenSplitsTheLinesBetweenTheFiles,
          aStalledDiskDropsAndCounts})
        test();
    std::filesystem::remove_all(g_dir);
    return check::result("AsyncLogTest");
}
