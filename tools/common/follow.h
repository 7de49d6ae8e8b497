// How `log --follow` waits for new events, on every path.
#pragma once

#include <chrono>

namespace taskledger::tools {

// How often a follower looks for new events: the server for each `follow` stream, an
// embedded `log --follow` on its secondary, and a remote one to notice it was
// interrupted. One interval, so that an event shows as soon through a server as without.
// Short enough to feel live; each look is one seek past the last seq.
inline constexpr std::chrono::milliseconds kFollowPollInterval{50};

}  // namespace taskledger::tools
