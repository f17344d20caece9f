// CgiProcess: spawn, feed, read, reap. posix_spawn(3) rather than fork: in
// a threaded server the child of a fork may only make async-signal-safe
// calls, and glibc's posix_spawn does the dup2s, the chdir and the execve
// for us in a vfork-like child, reporting a failed exec back.
#include "http/CgiProcess.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "base/Logger.h"
#include "base/NonCopyable.h"
#include "net/Channel.h"
#include "net/EventLoop.h"

namespace
{

/// argv and envp for execve, pointing into strings that outlive the call.
/// execve(2) does not write to them; its prototype predates const.
std::vector<char *> pointers(const std::vector<std::string> &strings)
{
    std::vector<char *> p;
    for (const std::string &s : strings)
        p.push_back(const_cast<char *>(s.c_str()));
    p.push_back(nullptr);
    return p;
}

/// What posix_spawn does in the child before execve: stdin and stdout
/// onto the pipes, chdir to the script's directory, a process group of its
/// own (pgroup 0: the child's pid) so that a timeout can kill whatever the
/// script started too, and the signal mask and SIGPIPE's disposition reset,
/// since both survive execve and a script expects the defaults.
struct SpawnSettings : NonCopyable {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;

    SpawnSettings(int in, int out, const std::string &dir)
    {
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, in, STDIN_FILENO);
        posix_spawn_file_actions_adddup2(&actions, out, STDOUT_FILENO);
        posix_spawn_file_actions_addchdir_np(&actions, dir.c_str());
        sigset_t none, sigpipe;
        sigemptyset(&none);
        sigemptyset(&sigpipe);
        sigaddset(&sigpipe, SIGPIPE);
        posix_spawnattr_init(&attr);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
                                            POSIX_SPAWN_SETSIGMASK |
                                            POSIX_SPAWN_SETSIGDEF);
        posix_spawnattr_setpgroup(&attr, 0);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &sigpipe);
    }
    ~SpawnSettings()
    {
        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attr);
    }
};

std::string directoryOf(const std::string &filename)
{
    return filename.substr(0, filename.rfind('/'));
}

} // namespace

CgiProcess::CgiProcess(EventLoop *loop, const CgiSettings &settings,
                       StaticFiles &files, ScriptRequest req,
                       ResponseCallback done, std::string program)
    : ScriptTask(loop, settings, files, std::move(req), std::move(done)),
      program_(std::move(program))
{
}

CgiProcess::~CgiProcess()
{
    // Normally removed already; a loop torn down at exit may leave them.
    for (Channel *channel : {stdin_.get(), stdout_.get(), exit_.get()})
        if (channel != nullptr)
            channel->remove();
}

void CgiProcess::run()
{
    if (!spawn()) {
        answerError(502);
        return;
    }
    watch();
    std::weak_ptr<ScriptTask> weak = weak_from_this();
    deadline_ = loop_->runAfter(settings_.cgiTimeout * 1000LL, [this, weak] {
        if (std::shared_ptr<ScriptTask> self = weak.lock())
            endOutput(504);
    });
}

/// Starts the child with stdin and stdout on pipes. The pipes are
/// close-on-exec: only the dup2 copies, 0 and 1, reach this child, and
/// nothing of ours reaches another script started meanwhile.
bool CgiProcess::spawn()
{
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) < 0) {
        Log::error("cgi %s: pipe: %s", req_.filename.c_str(), strerror(errno));
        return false;
    }
    Fd childIn(in[0]);
    toChild_.reset(in[1]);
    if (pipe2(out, O_CLOEXEC) < 0) {
        Log::error("cgi %s: pipe: %s", req_.filename.c_str(), strerror(errno));
        return false;
    }
    Fd childOut(out[1]);
    fromChild_.reset(out[0]);

    SpawnSettings settings(childIn.get(), childOut.get(),
                           directoryOf(req_.filename));
    std::vector<std::string> args = {program_};
    std::vector<char *> argv = pointers(args);
    std::vector<char *> envp = pointers(req_.env);
    int err = posix_spawn(&pid_, program_.c_str(), &settings.actions,
                          &settings.attr, argv.data(), envp.data());
    if (err != 0) {
        pid_ = -1;
        Log::error("cgi %s: %s", req_.filename.c_str(), strerror(err));
        return false;
    }
    // Only our ends: the child's stay blocking, as a script expects.
    fcntl(toChild_.get(), F_SETFL, O_NONBLOCK);
    fcntl(fromChild_.get(), F_SETFL, O_NONBLOCK);
    return openPidfd();
}

/// A pidfd turns readable when the child exits (pidfd_open(2)); until it
/// is reaped the pid cannot be reused, so the descriptor names our child.
bool CgiProcess::openPidfd()
{
    pidfd_.reset(static_cast<int>(syscall(SYS_pidfd_open, pid_, 0)));
    if (pidfd_)
        return true;
    Log::error("cgi %s: pidfd_open: %s", req_.filename.c_str(),
               strerror(errno));
    // Without a pidfd there is nothing to wait on in the loop: kill it
    // and reap it now, which SIGKILL makes quick.
    kill(-pid_, SIGKILL);
    while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR)
        continue;
    pid_ = -1;
    return false;
}

/// Puts the pipes and the pidfd in the loop, tied to this task so that a
/// callback that ends it does not destroy its own channel mid-dispatch.
void CgiProcess::watch()
{
    std::shared_ptr<ScriptTask> self = shared_from_this();
    stdin_ = std::make_unique<Channel>(loop_, toChild_.get());
    stdout_ = std::make_unique<Channel>(loop_, fromChild_.get());
    exit_ = std::make_unique<Channel>(loop_, pidfd_.get());
    for (Channel *channel : {stdin_.get(), stdout_.get(), exit_.get()})
        channel->tie(self);
    // A write end hears of a closed read end as EPOLLERR (then write()
    // fails with EPIPE); EPOLLHUP alone would go to the close callback.
    stdin_->setWriteCallback([this] { writeBody(); });
    stdin_->setCloseCallback([this] { writeBody(); });
    // A pipe whose writers all closed reports EPOLLHUP alone: that is the
    // end of the output too, which read() then confirms.
    stdout_->setReadCallback([this] { readOutput(); });
    stdout_->setCloseCallback([this] { readOutput(); });
    exit_->setReadCallback([this] { childExited(); });
    exit_->setCloseCallback([this] { childExited(); });
    stdout_->enableReading();
    exit_->enableReading();
    if (req_.body.empty())
        closeStdin();
    else
        stdin_->enableWriting();
}

/// Writes the body as the pipe takes it, while the output is read in the
/// same loop: a script that prints before it has read all its input would
/// otherwise deadlock with us, both blocked on a full pipe.
void CgiProcess::writeBody()
{
    ssize_t n = write(toChild_.get(), req_.body.data() + sent_,
                      req_.body.size() - sent_);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n > 0)
        sent_ += static_cast<size_t>(n);
    // An error is EPIPE: the script stopped reading. Its output still
    // counts; stop writing.
    if (n < 0 || sent_ == req_.body.size())
        closeStdin();
}

/// The script's stdin reaches end of file.
void CgiProcess::closeStdin()
{
    stdin_->remove();
    toChild_.reset();
}

void CgiProcess::readOutput()
{
    char chunk[kReadChunk];
    ssize_t n = read(fromChild_.get(), chunk, sizeof chunk);
    if (n > 0) {
        const char *problem = appendOutput(output_, {chunk, size_t(n)});
        if (problem != nullptr) {
            Log::error("cgi %s: %s", req_.filename.c_str(), problem);
            endOutput(502);
        }
    } else if (n == 0) {
        endOutput(0);
    } else if (errno != EAGAIN && errno != EINTR) {
        Log::error("cgi %s: read: %s", req_.filename.c_str(), strerror(errno));
        endOutput(502);
    }
}

/// The output is over (end of file, an error, the deadline): closes the
/// pipes and kills the child's process group, since its output is all we
/// wanted and a forgotten background job must not outlive the request.
void CgiProcess::endOutput(int outcome)
{
    if (outputEnded_)
        return;
    outputEnded_ = true;
    outcome_ = outcome;
    loop_->cancel(deadline_);
    if (toChild_)
        closeStdin();
    stdout_->remove();
    fromChild_.reset();
    // Before the reap, never after: until then the group's id is ours.
    if (pid_ > 0)
        kill(-pid_, SIGKILL);
    reapWhenDone();
}

/// The pidfd stays readable: stop watching it until the output is over.
void CgiProcess::childExited()
{
    exited_ = true;
    exit_->disableAll();
    reapWhenDone();
}

/// Once both the output has ended and the child has exited: reaps it,
/// gives the slot back, answers.
void CgiProcess::reapWhenDone()
{
    if (!outputEnded_ || !exited_)
        return;
    int wstatus = reap();
    releaseSlot();
    if (!abandoned())
        report(wstatus);
    else
        keepUntilReaped_.reset(); // may destroy this: nothing after it
}

/// Collects the exit status of a child that has exited; it is not ours to
/// watch any more.
int CgiProcess::reap()
{
    int wstatus = 0;
    // The pidfd said the child exited: it is a zombie, and WNOHANG finds it
    // without waiting.
    while (waitpid(pid_, &wstatus, WNOHANG) < 0 && errno == EINTR)
        continue;
    pid_ = -1;
    exit_->remove();
    pidfd_.reset();
    return wstatus;
}

void CgiProcess::report(int wstatus)
{
    const char *script = req_.filename.c_str();
    if (outcome_ == 504)
        Log::error("cgi %s: no answer within %d s", script,
                   settings_.cgiTimeout);
    else if (outcome_ == 0 && output_.empty()) {
        Log::error("cgi %s: no output (exit status %d)", script,
                   WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1);
        outcome_ = 502;
    }
    if (outcome_ != 0)
        answerError(outcome_);
    else
        answerOutput(output_);
}

// The group has had its SIGKILL, which cannot be caught: the pidfd turns
// readable in a moment and the loop reaps the child then, as any other,
// without a blocking wait. Nobody owns the task any more (its connection
// has gone), so it holds itself until then; its slot stays taken, since
// the process still exists. A stopping server waits for that
// (Cgi::runningScripts) before its loops end.
void CgiProcess::cancel()
{
    endOutput(0);
    if (pid_ > 0)
        keepUntilReaped_ = shared_from_this();
}
