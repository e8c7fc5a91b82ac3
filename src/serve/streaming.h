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
  std::function<std::string(GenerationJob& job)> end;         // the bytes sent after the last piece
};

// Makes res stream the job (the handler returns at once; an HTTP thread sends as text arrives).
void respond_stream(httplib::Response& res, std::shared_ptr<GenerationJob> job, StreamFormat format,
                    const std::atomic<bool>& stopping);
// Sends the whole response once the job has ended: body(job, text) gives its bytes. Meanwhile the connection
// is watched, and a client that goes away cancels the generation. The status is 200 from the start, so a
// generation that fails once started (a device error) is reported in the body only.
void respond_whole(httplib::Response& res, std::shared_ptr<GenerationJob> job, const std::string& content_type,
                   std::function<std::string(GenerationJob& job, const std::string& text)> body,
                   const std::atomic<bool>& stopping);

// "eog"/"stop" -> "stop", "length"/"context" -> "length"; others as they are.
std::string finish_reason(const std::string& stop_reason);

}  // namespace hearth::serve
