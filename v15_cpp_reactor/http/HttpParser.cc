/// HttpParser: the request-head parser as a state machine over offsets.
/// Each call resumes where the last one stopped (scanned_), so a head that
/// arrives in pieces costs one scan in total, and every prefix of the input
/// gets the answer a parse of that prefix from scratch would give.
#include "http/HttpParser.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cassert>
#include <cstring>
#include <string>
#include <string_view>

namespace
{

constexpr std::string_view kKnownMethods[] = {
    "GET",     "HEAD",    "POST",  "PUT",   "DELETE",
    "CONNECT", "OPTIONS", "TRACE", "PATCH",
};

/// The characters of a method or header name: tchar, RFC 9110 5.6.2.
/// Spelled out: isalnum() would follow the locale.
bool isTchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z') ||
           (c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
}

bool isToken(std::string_view s)
{
    if (s.empty())
        return false;
    for (char c : s)
        if (!isTchar(static_cast<unsigned char>(c)))
            return false;
    return true;
}

bool isWhiteSpace(char c)
{
    return c == ' ' || c == '\t';
}

/// The characters of a name or an IPv4 address in a host (reg-name, RFC
/// 3986 3.2.2): unreserved, percent-encoded and sub-delims.
bool isRegNameChar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z') ||
           (c != '\0' && std::strchr("-._~%!$&'()*+,;=", c) != nullptr);
}

/// The text between the brackets of "[::1]": an IPv6 address, as
/// inet_pton reads one.
bool isIpv6Literal(std::string_view text)
{
    in6_addr addr;
    return text.size() < INET6_ADDRSTRLEN &&
           inet_pton(AF_INET6, std::string(text).c_str(), &addr) == 1;
}

/// host [":" port], the value of Host and the authority of an
/// absolute-form target alike (RFC 9112 3.2, RFC 3986 3.2.2): a name, an
/// IPv4 address or a bracketed IPv6 one, never empty, and a port of digits
/// only. No "user@" before the host: an http URI has none (RFC 9110
/// 4.2.4). RFC 9112 3.2 requires 400 for any other value, such as "a b".
bool validAuthority(std::string_view value)
{
    size_t hostEnd = 0;
    if (!value.empty() && value[0] == '[') {
        size_t bracket = value.find(']');
        if (bracket == std::string_view::npos ||
            !isIpv6Literal(value.substr(1, bracket - 1)))
            return false;
        hostEnd = bracket + 1;
    } else {
        while (hostEnd < value.size() &&
               isRegNameChar(static_cast<unsigned char>(value[hostEnd])))
            hostEnd++;
        if (hostEnd == 0)
            return false;
    }
    std::string_view port = value.substr(hostEnd);
    if (port.empty())
        return true;
    return port[0] == ':' &&
           port.find_first_not_of("0123456789", 1) == std::string_view::npos;
}

/// ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), a scheme (RFC 3986 3.1).
bool isSchemeChar(char c, bool first)
{
    bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    return letter || (!first && ((c >= '0' && c <= '9') || c == '+' ||
                                 c == '-' || c == '.'));
}

/// Whether the target starts with a scheme, "name:": then it is in
/// absolute form, not a path.
bool hasScheme(std::string_view target)
{
    size_t i = 0;
    while (i < target.size() && isSchemeChar(target[i], i == 0))
        i++;
    return i > 0 && i < target.size() && target[i] == ':';
}

/// A server must accept the absolute form "http://host/path?query" too (RFC
/// 9112 3.2.2), and then use its authority, not Host, as the host. Splits
/// target into authority (empty for the origin form) and what follows it.
/// False for a scheme other than http or https (any case) or an authority
/// Host could not be.
bool splitAbsoluteForm(std::string_view &target, std::string_view &authority)
{
    if (!hasScheme(target))
        return true;
    for (std::string_view scheme : {"http://", "https://"}) {
        if (!equalsIgnoreCase(target.substr(0, scheme.size()), scheme))
            continue;
        target.remove_prefix(scheme.size());
        size_t pathStart = std::min(target.find_first_of("/?"), target.size());
        authority = target.substr(0, pathStart);
        target.remove_prefix(pathStart);
        return validAuthority(authority);
    }
    return false;
}

/// Digits only, and small enough: "+5", "0x10", " 5", "" are all refused.
bool parseLength(std::string_view s, long long &out)
{
    if (s.empty() || s.size() > 15)
        return false;
    long long n = 0;
    for (char c : s) {
        if (c < '0' || c > '9')
            return false;
        n = n * 10 + (c - '0');
    }
    out = n;
    return true;
}

} // namespace

HttpParser::Result HttpParser::parse(const char *data, size_t len,
                                     HttpRequest &req)
{
    assert(len >= scanned_); // the same request, never fewer bytes
    if (state_ == kLeadingLines)
        skipLeadingLines(data, len);
    if (state_ == kRequestLine)
        scanRequestLine(data, len);
    if (state_ == kHeaderLine)
        scanHeaderLines(data, len);
    if (state_ == kDone || state_ == kFailed) {
        fill(data, req);
        req.status = status_;
        return state_ == kDone ? kComplete : kError;
    }
    return kNeedMore;
}

void HttpParser::reset()
{
    std::vector<Field> kept = std::move(fields_);
    kept.clear();
    *this = HttpParser();
    fields_ = std::move(kept);
}

/// Empty lines before the request line are ignored (RFC 9112 2.2), but only
/// within the head's limit.
void HttpParser::skipLeadingLines(const char *data, size_t len)
{
    while (scanned_ < len && scanned_ < kMaxHeadBytes &&
           (data[scanned_] == '\r' || data[scanned_] == '\n'))
        scanned_++;
    if (scanned_ < len || scanned_ == kMaxHeadBytes) {
        lineStart_ = scanned_;
        state_ = kRequestLine;
    }
}

void HttpParser::scanRequestLine(const char *data, size_t len)
{
    size_t lf;
    if (!findLineFeed(data, len, lf)) {
        if (len - lineStart_ > kMaxRequestLine)
            failWith(414);
        else if (len > kMaxHeadBytes)
            failWith(431);
        return;
    }
    size_t end = contentEnd(data, lf);
    int status =
        end - lineStart_ > kMaxRequestLine ? 414 : parseRequestLine(data, end);
    if (status != 0) {
        failWith(status);
        return;
    }
    lineStart_ = lf + 1;
    state_ = kHeaderLine;
}

/// Takes every complete header line, up to the empty line that ends the
/// head. The head must end within kMaxHeadBytes, its last LF included.
void HttpParser::scanHeaderLines(const char *data, size_t len)
{
    size_t lf;
    while (state_ == kHeaderLine && findLineFeed(data, len, lf)) {
        size_t end = contentEnd(data, lf);
        int status;
        if (lf + 1 > kMaxHeadBytes) {
            status = 431;
        } else if (end == lineStart_) {
            headLength_ = lf + 1;
            state_ = kDone;
            status = checkFraming(data);
        } else {
            status = parseHeaderLine(data, end);
        }
        if (status != 0)
            failWith(status);
        lineStart_ = lf + 1;
    }
    if (state_ == kHeaderLine && len > kMaxHeadBytes)
        failWith(431);
}

/// Looks for the LF that ends the current line, in the bytes not yet
/// scanned. Not memchr on an empty range: the first call may have no
/// buffer at all (nullptr), and memchr's arguments must be valid even for
/// length 0.
bool HttpParser::findLineFeed(const char *data, size_t len, size_t &lf)
{
    const void *found = scanned_ < len
                            ? std::memchr(data + scanned_, '\n', len - scanned_)
                            : nullptr;
    if (found == nullptr) {
        scanned_ = len;
        return false;
    }
    lf = size_t(static_cast<const char *>(found) - data);
    scanned_ = lf + 1;
    return true;
}

/// Where the line ends before CR LF, or before a bare LF (accepted as a
/// line ending, RFC 9112 2.2).
size_t HttpParser::contentEnd(const char *data, size_t lf) const
{
    return lf > lineStart_ && data[lf - 1] == '\r' ? lf - 1 : lf;
}

/// method SP request-target SP HTTP-version (RFC 9112 3), one space each.
/// Returns 0 or the status to answer.
int HttpParser::parseRequestLine(const char *data, size_t end)
{
    std::string_view line(data + lineStart_, end - lineStart_);
    size_t sp1 = line.find(' ');
    if (sp1 == std::string_view::npos || !isToken(line.substr(0, sp1)))
        return 400;
    size_t sp2 = line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || sp2 == sp1 + 1)
        return 400;
    std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    for (char c : target)
        if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f)
            return 400;
    std::string_view v = line.substr(sp2 + 1);
    if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || v[5] < '0' ||
        v[5] > '9' || v[6] != '.' || v[7] < '0' || v[7] > '9')
        return 400;
    if (v[5] != '1')
        return 505;

    auto spanOf = [data](std::string_view s) {
        return Span{uint32_t(s.data() - data),
                    uint32_t(s.data() + s.size() - data)};
    };
    method_ = spanOf(line.substr(0, sp1));
    target_ = spanOf(target);
    minorVersion_ = v[7] == '0' ? 0 : 1; // 1.2 and later read as 1.1
    std::string_view origin = target;
    std::string_view authority;
    if (!splitAbsoluteForm(origin, authority))
        return 400;
    host_ = spanOf(authority);
    size_t q = origin.find('?');
    path_ = spanOf(origin.substr(0, q));
    if (q != std::string_view::npos)
        query_ = spanOf(origin.substr(q + 1));
    for (std::string_view known : kKnownMethods)
        if (line.substr(0, sp1) == known)
            return 0;
    return 501;
}

/// field-name ":" OWS field-value OWS (RFC 9112 5). Returns 0 or a status.
int HttpParser::parseHeaderLine(const char *data, size_t end)
{
    std::string_view line(data + lineStart_, end - lineStart_);
    // A line starting with white space continues the previous one
    // (obs-fold, RFC 9112 5.2): refused rather than guessed at.
    if (isWhiteSpace(line[0]))
        return 400;
    // No white space between name and colon (RFC 9112 5.1): a proxy and a
    // server could disagree about such a header's name.
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || !isToken(line.substr(0, colon)))
        return 400;
    size_t v = colon + 1;
    size_t vEnd = line.size();
    while (v < vEnd && isWhiteSpace(line[v]))
        v++;
    while (vEnd > v && isWhiteSpace(line[vEnd - 1]))
        vEnd--;
    if (hasControl(line.substr(v, vEnd - v)))
        return 400;
    if (fields_.size() == kMaxHeaders)
        return 431;
    uint32_t base = uint32_t(lineStart_);
    fields_.push_back(Field{Span{base, uint32_t(base + colon)},
                            Span{uint32_t(base + v), uint32_t(base + vEnd)}});
    return 0;
}

/// How the body is framed, once all headers are in. Returns 0 or a status.
int HttpParser::checkFraming(const char *data)
{
    int hosts = 0;
    int lengths = 0;
    bool expects = false;
    for (const Field &f : fields_) {
        std::string_view name = viewOf(data, f.name);
        long long n;
        if (equalsIgnoreCase(name, "Host")) {
            if (!validAuthority(viewOf(data, f.value)))
                return 400;
            if (host_.begin == host_.end) // no absolute-form target named one
                host_ = f.value;
            hosts++;
        } else if (equalsIgnoreCase(name, "Transfer-Encoding")) {
            int status = addCodings(viewOf(data, f.value));
            if (status != 0)
                return status;
        } else if (equalsIgnoreCase(name, "Content-Length")) {
            // Two different lengths are how request smuggling starts
            // (RFC 9112 6.3): refuse, do not pick one.
            if (!parseLength(viewOf(data, f.value), n) ||
                (lengths++ > 0 && n != contentLength_))
                return 400;
            contentLength_ = n;
        } else if (equalsIgnoreCase(name, "Expect") && minorVersion_ == 1) {
            // 100-continue is the one expectation there is; an HTTP/1.0
            // request's Expect is ignored (RFC 9110 10.1.1).
            if (!equalsIgnoreCase(viewOf(data, f.value), "100-continue"))
                return 417;
            expects = true;
        }
    }
    // HTTP/1.1 requires exactly one Host (RFC 9112 3.2).
    if (hosts > 1 || (hosts == 0 && minorVersion_ == 1))
        return 400;
    // Both framings at once is how request smuggling starts (RFC 9112
    // 6.1), and HTTP/1.0 has no chunked coding: 400, as nginx answers.
    if (chunked_ && (lengths > 0 || minorVersion_ == 0))
        return 400;
    // Without a body there is nothing to wait for: no 100 is owed.
    expectsContinue_ = expects && (contentLength_ > 0 || chunked_);
    return 0;
}

/// Transfer-Encoding is a list of codings, applied in order, over one or
/// more fields. Only chunked is decoded here: any other coding is 501 (RFC
/// 9112 6.1; 6.3 also allows 400 when chunked is not last, and either
/// way the connection closes), and chunked applied twice is 400 (6.1 says
/// a sender must not). Returns 0 or the status.
int HttpParser::addCodings(std::string_view list)
{
    while (!list.empty()) {
        size_t comma = list.find(',');
        std::string_view coding = list.substr(0, comma);
        list.remove_prefix(comma == std::string_view::npos ? list.size()
                                                           : comma + 1);
        while (!coding.empty() && isWhiteSpace(coding.front()))
            coding.remove_prefix(1);
        while (!coding.empty() && isWhiteSpace(coding.back()))
            coding.remove_suffix(1);
        if (coding.empty())
            continue; // empty list elements are allowed (RFC 9110 5.6.1)
        if (!equalsIgnoreCase(coding, "chunked"))
            return 501;
        if (chunked_)
            return 400;
        chunked_ = true;
    }
    return chunked_ ? 0 : 400;
}

void HttpParser::failWith(int status)
{
    status_ = status;
    state_ = kFailed;
}

/// Points req into data at what has been parsed: all of it after the head
/// is complete, the part before the error otherwise (for the access log).
void HttpParser::fill(const char *data, HttpRequest &req) const
{
    req.method = viewOf(data, method_);
    req.target = viewOf(data, target_);
    bool parsed = !req.method.empty();
    req.path = parsed && path_.begin == path_.end ? "/" : viewOf(data, path_);
    req.query = viewOf(data, query_);
    req.host = viewOf(data, host_);
    req.minorVersion = minorVersion_;
    req.headers.clear();
    for (const Field &f : fields_)
        req.headers.push_back(
            HttpHeader{viewOf(data, f.name), viewOf(data, f.value)});
    req.contentLength = contentLength_;
    req.expectsContinue = expectsContinue_;
    req.chunked = chunked_;
    req.body = {};
}
