// The JSON API of `taskledger serve --http` (docs/http.md): every verb as a request under
// /v1/, with the field names of the CLI's --json output. Commands take the server's one
// command path (the GroupCommitter, as over RPC); reads go to the server's ledger through
// the same code the CLI's verbs use (tools/cli/audit_queries.h). Lives in the event loop's
// thread; the HTTP plumbing (limits, streams, headers) is http_service.cc's.
#pragma once

#include <kj/async.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ledger/ledger.h"
#include "tools/cli/backend.h"

namespace taskledger::server {

// How commands reach the ledger: validated and committed by the server's one path,
// each with its own outcome, in order.
using SubmitCommands = std::function<kj::Promise<std::vector<Outcome>>(std::vector<Command>)>;

// One request, its body read whole. Path segments and query values are percent-decoded.
struct ApiRequest {
  bool post = false;  // else GET (or HEAD)
  std::vector<std::string> path;  // "/v1/tasks/etl" → {"v1", "tasks", "etl"}
  std::vector<std::pair<std::string, std::string>> query;
  std::string body;
};

struct ApiReply {
  ApiReply(unsigned code_in, std::string body_in, std::string type_in = "application/json")
      : code(code_in), body(std::move(body_in)), type(std::move(type_in)) {}
  unsigned code = 200;
  std::string body;
  std::string type = "application/json";
  std::string allow;  // 405: the methods the path takes
};

class HttpApi {
 public:
  // `ledger` must outlive the API; `title` names the ledger in pages (the timeline).
  HttpApi(Ledger* ledger, SubmitCommands submit, std::string title);

  kj::Promise<ApiReply> Handle(const ApiRequest& request);

  // For GET /v1/events/stream: the query's start and task, checked (an error reply if bad).
  struct StreamStart {
    uint64_t from_seq = 1;
    std::string task_id;
  };
  static Result<StreamStart> ReadStreamQuery(const ApiRequest& request);
  // The events with seq >= from_seq (of one task if task_id is set), at most `limit`, as
  // JSON Lines; *next_seq is where the next read starts.
  Status EventLines(uint64_t from_seq, const std::string& task_id, size_t limit, std::string* lines,
                    uint64_t* next_seq);

  // A JSON error body {"error", "code"} and its HTTP status.
  static ApiReply Error(const Status& status);
  static ApiReply Error(unsigned code, const std::string& class_name, const std::string& message);

 private:
  kj::Promise<ApiReply> Submit(std::vector<Command> commands, bool batch);
  ApiReply Read(const ApiRequest& request);

  Ledger* ledger_;
  std::unique_ptr<cli::Backend> reads_;
  SubmitCommands submit_;
  std::string title_;
};

}  // namespace taskledger::server
