// The live dashboard served at `GET /` of the HTTP listener: one self-contained page
// (HTML, CSS and JS inline, no external resources), tools/server/dashboard/dashboard.html,
// embedded into the binary at build time by embed.cmake.
#pragma once

#include <string_view>

namespace taskledger::server {

// The page's bytes (text/html; charset=utf-8). Static storage: valid for the program's life.
std::string_view DashboardPage();

}  // namespace taskledger::server
