// Sending a generation to the client: streamed (SSE or NDJSON, chunk by chunk as the scheduler produces
// text; a client that goes away cancels its generation) or whole.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "serve/generation_job.h"

namespace httplib {
struct Response;
}

namespace hearth::serve {

struct StreamFormat {
  std::string content_type;                                   // "text/event-stream", "application/x-ndjson"
  std::function<std::string(const std::string& text)> piece;  // the bytes sent for new text
  std::function<std::string(const GenerationJob& job)> end;   // the bytes sent after the last piece
};

// Makes res stream the job (the handler returns at once; an HTTP thread sends as text arrives).
void respond_stream(httplib::Response& res, std::shared_ptr<GenerationJob> job, StreamFormat format,
                    const std::atomic<bool>& stopping);
// Waits for the whole text (the server stopping cancels the generation).
std::string collect(GenerationJob& job, const std::atomic<bool>& stopping);

// "eog"/"stop" -> "stop", "length"/"context" -> "length"; others as they are.
std::string finish_reason(const std::string& stop_reason);

}  // namespace hearth::serve
