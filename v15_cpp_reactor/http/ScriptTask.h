/// ScriptTask: what a CGI script and a FastCGI exchange have in common. It
/// waits in the ScriptQueue for a slot, runs on its connection's loop, and
/// ends by answering exactly once, or by being abandoned when the
/// connection goes away. Shared ownership only so that queued work and
/// channel callbacks can hold weak references; loop thread only.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/NonCopyable.h"
#include "http/Cgi.h"

class StaticFiles;

/// What a script may print, headers and body: past it the answer is 502.
/// All scripts' output held at once has the same bound, a budget the tasks
/// share: each endless script would otherwise hold a cap of its own.
constexpr size_t kMaxScriptOutput = 64 * 1024 * 1024;

/// What a task keeps of its request: the request's views die when
/// Cgi::start returns, so everything is copied.
struct ScriptRequest {
    std::string path; // the request's path as sent, for logs
    std::string filename; // the script's absolute file name
    std::vector<std::string> env; // the meta-variables, "NAME=value"
    std::string body;
    bool head = false; // HEAD: the answer goes without its body
    bool idempotent = false; // GET or HEAD (RFC 9110 section 9.2.2)
};

class ScriptTask : public std::enable_shared_from_this<ScriptTask>, NonCopyable
{
  public:
    /// files: the loop's, which answers a local redirect (owned by
    /// HttpServer, for as long as the connection that started the task).
    ScriptTask(EventLoop *loop, const CgiSettings &settings, StaticFiles &files,
               ScriptRequest req, ResponseCallback done);
    virtual ~ScriptTask();

    EventLoop *loop() const
    {
        return loop_;
    }

    /// Runs the task now if a slot is free, else leaves it waiting.
    void submit();
    /// The queue hands this task a slot.
    void resume();
    /// The queue stopped before this task could run: answers status.
    void refuse(int status);
    /// The connection went away: stops the work, never answers.
    void abandon();
    /// Whether the answer has gone, or never will (abandoned).
    bool finished() const
    {
        return state_ >= kAnswered;
    }

  protected:
    /// What one read of a script's output takes, into a buffer on the
    /// loop's stack: a pipe's default capacity (pipe(7)), so that one read
    /// empties a full pipe, and about one FastCGI record (at most 65535
    /// bytes of content and 8 of header).
    static constexpr size_t kReadChunk = 64 * 1024;

    /// Starts the work; the task holds a slot now.
    virtual void run() = 0;
    /// Stops the work of a running task that was abandoned.
    virtual void cancel() = 0;

    bool abandoned() const
    {
        return state_ == kAbandoned;
    }
    /// Gives the slot back once the work is over (idempotent).
    void releaseSlot();
    /// Appends data to output, the task's one output buffer. Returns what
    /// is wrong when that would pass kMaxScriptOutput or the budget (its
    /// growth is taken from it first), else nullptr. The task gives its
    /// share of the budget back when it is destroyed, with the buffer.
    const char *appendOutput(std::string &output, std::string_view data);
    /// Answers with the CGI response in output (RFC 3875 section 6), or
    /// 502 if it is not one. this may be destroyed on return.
    void answerOutput(std::string &output);
    /// Answers with an error page. this may be destroyed on return.
    void answerError(int status);

    EventLoop *const loop_;
    const CgiSettings &settings_;
    const ScriptRequest req_;

  private:
    enum State { kNew, kWaiting, kRunning, kAnswered, kAbandoned };

    void begin();
    void answer(HttpResponse &&resp);

    // Used only to answer, which a task does only while its connection,
    // and so the HttpServer that owns files, is there.
    StaticFiles &files_;
    ResponseCallback done_;
    State state_ = kNew;
    bool holdsSlot_ = false;
    size_t outputBudget_ = 0; // bytes of the budget this task has taken
};
