#pragma once
// The dashboard's files (web/, issue 26), embedded in the binary at build time so that the server
// needs no network and no files beside it: index.html at "/", every other file under "/ui/". The
// generated dashboard_files.cpp (cmake/embed_site.cmake) defines dashboard_files(); the HTTP API serves
// whatever list its settings name (none in builds without the dashboard, e.g. the fuzzing targets).
#include <span>
#include <string_view>

namespace avtrain::service {

struct SiteFile {
  std::string_view path;          // "/", "/ui/app.js", "/ui/vendor/uPlot.esm.js"
  std::string_view content_type;  // "text/html; charset=utf-8", "text/javascript; charset=utf-8", ...
  std::string_view bytes;
};

std::span<const SiteFile> dashboard_files();

}  // namespace avtrain::service
