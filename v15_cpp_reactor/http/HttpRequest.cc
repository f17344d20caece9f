/// HttpRequest: looking things up in a parsed request head. Header names
/// and connection options are case-insensitive (RFC 9110 5.1, 7.6.1).
#include "http/HttpRequest.h"

#include <utility>

namespace
{

char lowerAscii(char c)
{
    return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c;
}

std::string_view trimWhiteSpace(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

/// Whether the comma-separated list in value holds token, in any case.
bool listHasToken(std::string_view value, std::string_view token)
{
    while (!value.empty()) {
        size_t comma = value.find(',');
        if (equalsIgnoreCase(trimWhiteSpace(value.substr(0, comma)), token))
            return true;
        if (comma == std::string_view::npos)
            break;
        value.remove_prefix(comma + 1);
    }
    return false;
}

} // namespace

bool hasControl(std::string_view s)
{
    for (char c : s) {
        unsigned char u = static_cast<unsigned char>(c);
        if ((u < ' ' && u != '\t') || u == 0x7f)
            return true;
    }
    return false;
}

int hexValue(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

// Spelled out rather than strncasecmp: that one follows the locale.
bool equalsIgnoreCase(std::string_view a, std::string_view b)
{
    if (a.size() != b.size())
        return false;
    for (size_t i = 0; i < a.size(); i++)
        if (lowerAscii(a[i]) != lowerAscii(b[i]))
            return false;
    return true;
}

const std::string_view *HttpRequest::header(std::string_view name) const
{
    for (const HttpHeader &h : headers)
        if (equalsIgnoreCase(h.name, name))
            return &h.value;
    return nullptr;
}

// Every Connection line counts: a client may send the option list split
// over several fields (RFC 9110 5.3).
bool HttpRequest::keepAlive() const
{
    bool close = false;
    bool keepAliveAsked = false;
    for (const HttpHeader &h : headers) {
        if (!equalsIgnoreCase(h.name, "Connection"))
            continue;
        close = close || listHasToken(h.value, "close");
        keepAliveAsked = keepAliveAsked || listHasToken(h.value, "keep-alive");
    }
    return !close && (minorVersion == 1 || keepAliveAsked);
}

// Keeps the header array's memory: the next request on the connection will
// most likely need as much.
void HttpRequest::clear()
{
    std::vector<HttpHeader> kept = std::move(headers);
    kept.clear();
    *this = HttpRequest();
    headers = std::move(kept);
}
