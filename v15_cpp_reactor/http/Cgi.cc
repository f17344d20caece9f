// Cgi: which requests name a script, whether it can run, and the
// meta-variables it gets (RFC 3875 section 4.1). The work itself is a
// ScriptTask: CgiProcess for a child process, FastCgi for php-fpm.
#include "http/Cgi.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "base/Logger.h"
#include "http/CgiProcess.h"
#include "http/FastCgi.h"
#include "http/ScriptQueue.h"
#include "http/StaticFiles.h"

/// The script a request names, in the decoded, normalised path.
struct Cgi::Script {
    std::string relative; // "cgi-bin/env.sh/a/b"
    size_t length = 0; // of its script part: "cgi-bin/env.sh"
    bool php = false;
    std::string name() const
    {
        return relative.substr(0, length);
    }
    std::string pathInfo() const
    {
        return relative.substr(length);
    }
};

namespace
{

/// A handle for the connection: destroying it abandons the task.
class JobHandle : public CgiJob
{
  public:
    explicit JobHandle(std::shared_ptr<ScriptTask> task)
        : task_(std::move(task))
    {
    }
    ~JobHandle() override
    {
        task_->abandon();
    }

  private:
    std::shared_ptr<ScriptTask> task_;
};

/// The length of the script's part of relative: through the segment after
/// "cgi-bin/", or through the first segment ending in ".php". 0 when no
/// script is named.
size_t scriptLength(std::string_view relative, bool &php)
{
    php = false;
    if (relative.compare(0, 8, "cgi-bin/") == 0)
        return std::min(relative.find('/', 8), relative.size());
    for (size_t p = relative.find(".php"); p != std::string_view::npos;
         p = relative.find(".php", p + 4))
        if (p + 4 == relative.size() || relative[p + 4] == '/') {
            php = true;
            return p + 4;
        }
    return 0;
}

/// What a decoded request path names, into relative; a directory's path
/// names its index, so that an index naming a script (index = index.php)
/// runs it, as nginx's "index index.php" does: StaticFiles would serve its
/// source. False when StaticFiles will refuse the path.
bool scriptPath(const DecodedPath &path, const std::string &index,
                std::string &relative)
{
    if (!path.valid)
        return false;
    relative = path.relative;
    if (path.namesDirectory()) {
        if (relative == ".")
            relative = index;
        else
            relative.append("/").append(index);
    }
    return true;
}

/// The host part of an authority: "example.com" of "example.com:8080",
/// "[::1]" of "[::1]:8080".
std::string_view hostName(std::string_view host)
{
    size_t from = !host.empty() && host[0] == '[' ? host.find(']') : 0;
    size_t colon = from == std::string_view::npos ? from : host.find(':', from);
    return host.substr(0, colon);
}

/// "X-Forwarded-For" as "HTTP_X_FORWARDED_FOR".
std::string headerVariable(std::string_view name)
{
    std::string var = "HTTP_";
    for (char c : name)
        var += c == '-'                 ? '_'
               : (c >= 'a' && c <= 'z') ? char(c - 'a' + 'A')
                                        : c;
    return var;
}

/// The values of every header named like req.headers[i], joined with ", "
/// as RFC 3875 section 4.1.18 asks. False if an earlier header had the
/// name: that one made the variable already.
bool joinValues(const HttpRequest &req, size_t i, std::string &out)
{
    std::string_view name = req.headers[i].name;
    for (size_t j = 0; j < i; j++)
        if (equalsIgnoreCase(req.headers[j].name, name))
            return false;
    out.clear();
    for (size_t j = i; j < req.headers.size(); j++) {
        if (!equalsIgnoreCase(req.headers[j].name, name))
            continue;
        if (!out.empty())
            out += ", ";
        out += req.headers[j].value;
    }
    return true;
}

/// Request headers become HTTP_* variables (RFC 3875 section 4.1.18).
/// Skipped: the two that have their own variables; Transfer-Encoding, as the
/// script reads the body decoded, CONTENT_LENGTH bytes long; Host, whose
/// HTTP_HOST is the host the request names (buildEnv); names with '_', which
/// would collide with the '-' spelling; and Proxy, which would become
/// HTTP_PROXY, a variable many HTTP libraries obey ("httpoxy").
void addHeaderVariables(const HttpRequest &req, std::vector<std::string> &env)
{
    std::string value;
    for (size_t i = 0; i < req.headers.size(); i++) {
        std::string_view name = req.headers[i].name;
        if (equalsIgnoreCase(name, "Content-Type") ||
            equalsIgnoreCase(name, "Content-Length") ||
            equalsIgnoreCase(name, "Transfer-Encoding") ||
            equalsIgnoreCase(name, "Host") || equalsIgnoreCase(name, "Proxy") ||
            name.find('_') != std::string_view::npos ||
            !joinValues(req, i, value))
            continue;
        env.push_back(headerVariable(name) + "=" + value);
    }
}

/// "NAME=value", from views.
std::string joined(std::string_view name, std::string_view value)
{
    std::string var(name);
    var += '=';
    var += value;
    return var;
}

} // namespace

Cgi::Cgi(const CgiSettings &settings, std::string phpCgiPath)
    : settings_(settings), phpCgi_(std::move(phpCgiPath))
{
    ScriptQueue::setLimits(settings.workerThreads, settings.maxQueuedScripts);
}

std::string Cgi::findProgram(const std::string &name)
{
    if (name.find('/') != std::string::npos) {
        // Absolute, so that it still runs after a daemon's chdir("/").
        char *full = access(name.c_str(), X_OK) == 0
                         ? realpath(name.c_str(), nullptr)
                         : nullptr;
        std::string found = full ? full : "";
        free(full);
        return found;
    }
    const char *path = getenv("PATH");
    std::string_view dirs = path ? path : "/usr/bin:/bin";
    while (!dirs.empty()) {
        size_t colon = std::min(dirs.find(':'), dirs.size());
        std::string candidate = std::string(dirs.substr(0, colon)) + "/" + name;
        if (colon > 0 && access(candidate.c_str(), X_OK) == 0)
            return candidate;
        dirs.remove_prefix(std::min(colon + 1, dirs.size()));
    }
    return "";
}

bool Cgi::namesScript(std::string_view path, const std::string &index)
{
    DecodedPath decoded;
    decoded.decode(path);
    return namesScript(decoded, index);
}

bool Cgi::namesScript(const DecodedPath &path, const std::string &index)
{
    // Asked of every request: each loop's thread keeps this one's memory.
    thread_local std::string relative;
    bool php;
    return scriptPath(path, index, relative) && scriptLength(relative, php) > 0;
}

void Cgi::stopQueue()
{
    ScriptQueue::stop();
}

int Cgi::runningScripts()
{
    return ScriptQueue::running();
}

bool Cgi::wants(const DecodedPath &path) const
{
    return namesScript(path, settings_.index);
}

bool Cgi::readsBody(const HttpRequest &req, const DecodedPath &path,
                    StaticFiles &files) const
{
    Script script;
    return locate(path, script) && refusal(req, script, files) == 0;
}

/// Fills script from a request's decoded path; false when it names none
/// (or is a path StaticFiles will refuse).
bool Cgi::locate(const DecodedPath &path, Script &script) const
{
    if (!scriptPath(path, settings_.index, script.relative))
        return false;
    script.length = scriptLength(script.relative, script.php);
    return script.length > 0;
}

/// 0 when the script can run, else the status to answer: 404 for none, 403
/// for a directory or a file in /cgi-bin/ without execute permission.
int Cgi::check(const Script &script, StaticFiles &files) const
{
    mode_t mode = 0;
    int status = files.statScript(script.name(), mode);
    if (status == 0 && !script.php && !(mode & (S_IXUSR | S_IXGRP | S_IXOTH)))
        return 403;
    return status;
}

std::vector<std::string> Cgi::buildEnv(const HttpRequest &req,
                                       const Script &script) const
{
    const std::string_view *type = req.header("Content-Type");
    std::vector<std::string> env = {
        "GATEWAY_INTERFACE=CGI/1.1",
        "SERVER_SOFTWARE=reactor-course",
        "SERVER_PROTOCOL=HTTP/1." + std::to_string(req.minorVersion),
        // The host the request names: an absolute-form target's authority
        // takes Host's place (RFC 9112 3.2.2).
        joined("SERVER_NAME",
               req.host.empty() ? "localhost" : hostName(req.host)),
        "SERVER_PORT=" + std::to_string(settings_.port),
        joined("REQUEST_METHOD", req.method),
        joined("REQUEST_URI", req.target),
        joined("QUERY_STRING", req.query),
        "SCRIPT_NAME=/" + script.name(),
        "SCRIPT_FILENAME=" + settings_.root + "/" + script.name(),
        "PATH_INFO=" + script.pathInfo(),
        "DOCUMENT_ROOT=" + settings_.root,
        joined("REMOTE_ADDR", req.remoteAddr),
        // php-cgi refuses to run without this, a guard against being
        // called directly as a CGI program (its cgi.force_redirect).
        "REDIRECT_STATUS=200",
        "PATH=/usr/local/bin:/usr/bin:/bin",
    };
    if (req.contentLength > 0)
        env.push_back("CONTENT_LENGTH=" + std::to_string(req.contentLength));
    if (type != nullptr)
        env.push_back(joined("CONTENT_TYPE", *type));
    if (!req.host.empty())
        env.push_back(joined("HTTP_HOST", req.host));
    addHeaderVariables(req, env);
    return env;
}

/// 0 when the script may run, else the status to answer.
int Cgi::refusal(const HttpRequest &req, const Script &script,
                 StaticFiles &files) const
{
    if (!req.methodIs("GET") && !req.methodIs("HEAD") && !req.methodIs("POST"))
        return 405;
    int status = check(script, files);
    if (status == 0 && script.php && settings_.fastcgiPass.empty() &&
        phpCgi_.empty()) {
        Log::error("cgi /%s: php-cgi was not found", script.name().c_str());
        return 502;
    }
    return status;
}

std::unique_ptr<CgiJob> Cgi::start(EventLoop *loop, StaticFiles &files,
                                   FastCgiPool &fastcgi, const HttpRequest &req,
                                   const DecodedPath &path,
                                   ResponseCallback done)
{
    Script script;
    // wants() said yes, so only a request changed since then is not found.
    int status = locate(path, script) ? refusal(req, script, files) : 404;
    if (status != 0) {
        HttpResponse resp;
        resp.setError(status);
        if (status == 405)
            resp.addHeader("Allow", "GET, HEAD, POST");
        resp.headOnly = req.methodIs("HEAD");
        done(std::move(resp));
        return nullptr;
    }
    std::shared_ptr<ScriptTask> task =
        makeTask(loop, files, fastcgi, req, script, done);
    task->submit();
    if (task->finished())
        return nullptr; // answered at once: a failed start, or 503
    return std::make_unique<JobHandle>(std::move(task));
}

/// A task for script, with its own copy of what it needs of req.
std::shared_ptr<ScriptTask> Cgi::makeTask(EventLoop *loop, StaticFiles &files,
                                          FastCgiPool &fastcgi,
                                          const HttpRequest &req,
                                          const Script &script,
                                          ResponseCallback &done) const
{
    ScriptRequest copy;
    copy.path = std::string(req.path);
    copy.filename = settings_.root + "/" + script.name();
    copy.env = buildEnv(req, script);
    copy.body = std::string(req.body);
    copy.head = req.methodIs("HEAD");
    copy.idempotent = copy.head || req.methodIs("GET");
    if (script.php && !settings_.fastcgiPass.empty())
        return std::make_shared<FastCgi>(loop, settings_, files, fastcgi,
                                         std::move(copy), std::move(done));
    // php-cgi finds the script in SCRIPT_FILENAME; anything else is run
    // itself.
    std::string program = script.php ? phpCgi_ : copy.filename;
    return std::make_shared<CgiProcess>(loop, settings_, files, std::move(copy),
                                        std::move(done), std::move(program));
}
