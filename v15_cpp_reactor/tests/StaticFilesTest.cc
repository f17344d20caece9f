/// StaticFilesTest: the path decoder on its own, so that its refusals do
/// not lean on the kernel's RESOLVE_BENEATH ("..", "%2e%2e", "%2f" that
/// decodes to a separator, NUL, bad escapes), and StaticFiles::serve over a
/// scratch root: each file's Content-Type, and the statuses of paths that
/// try to leave the root.
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "http/HttpRequest.h"
#include "http/HttpResponse.h"
#include "http/StaticFiles.h"
#include "tests/Check.h"

namespace fs = std::filesystem;

namespace
{

bool decodes(std::string_view path, std::string_view wantDecoded,
             std::string_view wantRelative)
{
    std::string decoded, relative;
    bool ok = StaticFiles::decodePath(path, decoded, relative);
    return CHECK_EQ(std::string(ok ? "decoded" : "refused"), "decoded") &&
           CHECK_EQ(decoded, wantDecoded) && CHECK_EQ(relative, wantRelative);
}

bool refuses(std::string_view path)
{
    std::string decoded, relative;
    bool refused = !StaticFiles::decodePath(path, decoded, relative);
    if (!refused)
        std::fprintf(stderr, "%s was decoded to %s\n",
                     check::quoted(path).c_str(),
                     check::quoted(relative).c_str());
    return CHECK(refused);
}

void testDecodePath()
{
    decodes("/a%20b/c%2Fd", "/a b/c/d", "a b/c/d"); // %2f: just a separator
    decodes("/%2fetc/passwd", "//etc/passwd", "etc/passwd");
    decodes("/..a/a..b/.../", "/..a/a..b/.../", "..a/a..b/..."); // names
    decodes("/./a/.", "/./a/.", "a");
    decodes("/%25", "/%", "%"); // decoded once
    for (const char *path :
         {"/..", "/../", "/a/..", "/a/../b", "/%2e%2e/etc", "/%2E%2E/etc",
          "/.%2e/etc", "/%2e./etc", "/a%2f..%2fb", "/a/%2e%2e%2f%2e%2e/x",
          "/a%00b", "/%00", "/a%2", "/%", "/%zz", "/%4g", "/%g4", "/a%"})
        refuses(path);
    refuses("/" + std::string(5000, 'a')); // past PATH_MAX
}

struct Root {
    fs::path dir;
    int fd = -1;
};

Root makeRoot()
{
    char name[] = "/tmp/staticfilestest.XXXXXX";
    Root root;
    if (mkdtemp(name) == nullptr)
        return root;
    root.dir = name;
    for (const char *file :
         {"page.html", "old.HTM", "style.css", "app.js", "data.json",
          "notes.txt", "icon.svg", "pic.png", "photo.JPEG", "a.jpg", "b.gif",
          "c.ico", "d.webp", "e.wasm", "f.pdf", "blob.bin", "README",
          "d.x/file", "index.html"})
        fs::create_directories((root.dir / file).parent_path()),
            std::ofstream(root.dir / file) << "content";
    fs::create_symlink("/etc", root.dir / "out");
    std::string err;
    root.fd = StaticFiles::openRoot(root.dir.string(), err);
    return root;
}

HttpResponse get(StaticFiles &files, std::string_view path)
{
    HttpRequest req;
    req.method = "GET";
    req.target = path;
    req.path = path;
    HttpResponse resp;
    files.serve(req, resp);
    return resp;
}

void testContentTypes(StaticFiles &files)
{
    const std::pair<const char *, const char *> types[] = {
        {"/page.html", "text/html; charset=utf-8"},
        {"/old.HTM", "text/html; charset=utf-8"},
        {"/style.css", "text/css; charset=utf-8"},
        {"/app.js", "text/javascript; charset=utf-8"},
        {"/data.json", "application/json"},
        {"/notes.txt", "text/plain; charset=utf-8"},
        {"/icon.svg", "image/svg+xml"},
        {"/pic.png", "image/png"},
        {"/photo.JPEG", "image/jpeg"},
        {"/a.jpg", "image/jpeg"},
        {"/b.gif", "image/gif"},
        {"/c.ico", "image/x-icon"},
        {"/d.webp", "image/webp"},
        {"/e.wasm", "application/wasm"},
        {"/f.pdf", "application/pdf"},
        {"/blob.bin", "application/octet-stream"},
        {"/README", "application/octet-stream"},
        {"/d.x/file", "application/octet-stream"}, // a dot, but not its own
        {"/", "text/html; charset=utf-8"}, // the index
    };
    for (const auto &[path, type] : types) {
        HttpResponse resp = get(files, path);
        if (!CHECK_EQ(resp.status, 200) || !CHECK_EQ(resp.contentType, type))
            std::fprintf(stderr, "    for %s\n", path);
    }
}

void testWaysOut(StaticFiles &files)
{
    CHECK_EQ(get(files, "/../etc/passwd").status, 400);
    CHECK_EQ(get(files, "/%2e%2e/etc/passwd").status, 400);
    CHECK_EQ(get(files, "/d.x%2f..%2f..%2fetc/passwd").status, 400);
    CHECK_EQ(get(files, "/out/passwd").status, 403); // a symlink out
    CHECK_EQ(get(files, "/missing.html").status, 404);
    CHECK_EQ(get(files, "/d.x").status, 301); // a directory without '/'
}

} // namespace

int main()
{
    testDecodePath();
    Root root = makeRoot();
    if (CHECK(root.fd >= 0)) {
        StaticFiles files(root.fd, "index.html");
        testContentTypes(files);
        testWaysOut(files);
        close(root.fd);
    }
    if (!root.dir.empty())
        fs::remove_all(root.dir);
    return check::result("StaticFilesTest");
}
