// CgiResponse: the header block of RFC 3875 section 6, lines up to an empty
// line, each "name: value"; bare LF accepted as in requests. Status picks
// the status, Location redirects, the rest is passed on to the client.
#include "http/CgiResponse.h"

#include <string_view>

#include "http/Cgi.h"
#include "http/HttpRequest.h"
#include "http/StaticFiles.h"

namespace
{

/// What the header block said, besides the headers passed on.
struct CgiHead {
    size_t length = 0; // of the block, through its empty line
    bool hasStatus = false;
    bool hasType = false;
    bool hasLocation = false;
    std::string location;
};

/// "Status: 404 Not Found": three digits, a final status (200-599), -1 for
/// anything else.
int parseStatus(std::string_view value)
{
    if (value.size() < 3 || (value.size() > 3 && value[3] != ' '))
        return -1;
    int status = 0;
    for (int i = 0; i < 3; i++) {
        if (value[i] < '0' || value[i] > '9')
            return -1;
        status = status * 10 + (value[i] - '0');
    }
    return status >= 200 && status <= 599 ? status : -1;
}

/// A header the script may send on: a name of visible characters, a value
/// without control characters (a CR could split our response in two). The
/// name is not held to a request's token rule: v08 to v14 pass on any
/// visible name too.
bool validHeader(std::string_view name, std::string_view value)
{
    for (char c : name)
        if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f)
            return false;
    return !hasControl(value);
}

/// One header line, passed on or acted upon. False for a bad Status.
bool takeHeader(std::string_view name, std::string_view value,
                HttpResponse &resp, CgiHead &head)
{
    if (equalsIgnoreCase(name, "Status")) {
        resp.status = parseStatus(value);
        head.hasStatus = true;
        return resp.status > 0;
    }
    if (equalsIgnoreCase(name, "Content-Length") ||
        equalsIgnoreCase(name, "Connection") ||
        equalsIgnoreCase(name, "Transfer-Encoding"))
        return true; // framing is ours to decide
    if (equalsIgnoreCase(name, "Content-Type")) {
        resp.contentType = std::string(value);
        head.hasType = true;
        return true;
    }
    if (equalsIgnoreCase(name, "Location")) {
        head.location = std::string(value);
        head.hasLocation = true;
    }
    resp.addHeader(name, value);
    return true;
}

/// Reads the header block into resp and head. False if output is not a CGI
/// response: a line without a colon, no empty line, or none of
/// Content-Type, Status and Location (section 6.2: one is required).
bool parseHead(std::string_view output, HttpResponse &resp, CgiHead &head)
{
    size_t pos = 0;
    for (;;) {
        size_t lf = output.find('\n', pos);
        if (lf == std::string_view::npos)
            return false;
        std::string_view line = output.substr(pos, lf - pos);
        pos = lf + 1;
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        if (line.empty())
            break;
        size_t colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0)
            return false;
        std::string_view name = line.substr(0, colon);
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() &&
               (value.front() == ' ' || value.front() == '\t'))
            value.remove_prefix(1);
        if (!validHeader(name, value) || !takeHeader(name, value, resp, head))
            return false;
    }
    head.length = pos;
    return head.hasType || head.hasStatus || head.hasLocation;
}

/// A local redirect: the server answers with the file at location itself,
/// from the loop's StaticFiles and its cache, as any file. Only GET of the
/// resource is meant (section 6.2.2), whatever the method of the script's
/// own request.
void serveLocal(const std::string &location, StaticFiles &files,
                HttpResponse &resp)
{
    HttpRequest local;
    local.method = "GET";
    local.target = location;
    size_t query = location.find('?');
    local.path = std::string_view(location).substr(0, query);
    if (query != std::string::npos)
        local.query = std::string_view(location).substr(query + 1);
    files.serve(local, resp);
    // The body may be a view into the cache, good only until the loop uses
    // the cache again; the answer still has the task's callback to go
    // through, so the response keeps a copy instead.
    if (!resp.bodyView.empty()) {
        resp.body.assign(resp.bodyView);
        resp.bodyView = {};
    }
}

} // namespace

bool makeCgiResponse(std::string &output, StaticFiles &files,
                     const std::string &index, HttpResponse &resp)
{
    HttpResponse made;
    CgiHead head;
    if (!parseHead(output, made, head))
        return false;
    std::string_view path =
        std::string_view(head.location).substr(0, head.location.find('?'));
    // A local path that names a script goes back to the client as a
    // redirect: running a second script from the first is a loop waiting
    // to happen, and serving it as a file would show its source.
    if (!head.location.empty() && head.location[0] == '/' && !head.hasStatus &&
        !Cgi::namesScript(path, index)) {
        serveLocal(head.location, files, resp);
        return true;
    }
    if (head.hasLocation && !head.hasStatus)
        made.status = 302;
    output.erase(0, head.length);
    made.body = std::move(output);
    resp = std::move(made);
    return true;
}
