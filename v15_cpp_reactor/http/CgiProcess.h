/// CgiProcess: one CGI script run as a child process (RFC 3875), without
/// blocking its loop. The request body goes to the child's stdin and its
/// output comes from stdout through non-blocking pipes; its exit is a
/// pidfd. All three are channels in the connection's loop, and the time
/// limit is one of the loop's timers.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "base/Fd.h"
#include "http/ScriptTask.h"
#include "net/TimerId.h"

class Channel;

class CgiProcess : public ScriptTask
{
  public:
    /// program: what to execve, php-cgi or the script itself.
    CgiProcess(EventLoop *loop, const CgiSettings &settings, StaticFiles &files,
               ScriptRequest req, ResponseCallback done, std::string program);
    ~CgiProcess() override;

  private:
    void run() override;
    void cancel() override;

    bool spawn();
    bool openPidfd();
    void watch();
    void writeBody();
    void closeStdin();
    void readOutput();
    void endOutput(int outcome);
    void childExited();
    void reapWhenDone();
    int reap();
    void report(int wstatus);

    const std::string program_;
    pid_t pid_ = -1; // until reaped
    Fd toChild_; // the parent's ends of the pipes, non-blocking
    Fd fromChild_;
    Fd pidfd_; // readable once the child has exited
    std::unique_ptr<Channel> stdin_;
    std::unique_ptr<Channel> stdout_;
    std::unique_ptr<Channel> exit_;
    TimerId deadline_;
    size_t sent_ = 0; // of the body, to stdin
    std::string output_;
    bool outputEnded_ = false;
    int outcome_ = 0; // once the output ended: 0, or 502 or 504 to answer
    bool exited_ = false;
    // Set while an abandoned child is killed but not yet reaped: the task
    // is its own owner until the pidfd reports the exit.
    std::shared_ptr<ScriptTask> keepUntilReaped_;
};
