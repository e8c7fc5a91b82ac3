#include "serve/streaming.h"

#include <httplib.h>

namespace hearth::serve {

using namespace std::chrono_literals;

namespace {

// httplib calls content providers outside its handler's try/catch: an exception from one (a formatter, an
// allocation) would end the process. It ends this response instead: the generation is cancelled and the
// connection closed, which the client sees as a cut-off response.
template <class F>
auto guarded_provider(std::shared_ptr<GenerationJob> job, F f) {
  return [job, f = std::move(f)](size_t offset, httplib::DataSink& sink) {
    try {
      return f(offset, sink);
    } catch (...) {
      job->cancel();
      return false;
    }
  };
}

}  // namespace

void respond_stream(httplib::Response& res, std::shared_ptr<GenerationJob> job, StreamFormat format,
                    const std::atomic<bool>& stopping) {
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  auto fmt = std::make_shared<StreamFormat>(std::move(format));
  res.set_chunked_content_provider(
      fmt->content_type,
      guarded_provider(job, [job, fmt, &stopping](size_t, httplib::DataSink& sink) {
        std::string text;
        for (;;) {
          if (stopping) job->cancel();
          switch (job->next(text, 100ms)) {
            case GenerationJob::Poll::Text: {
              const std::string bytes = fmt->piece(text);
              if (!sink.write(bytes.data(), bytes.size())) {
                job->cancel();  // the client went away
                return false;
              }
              break;
            }
            case GenerationJob::Poll::Done: {
              const std::string bytes = fmt->end(*job);
              if (!bytes.empty()) sink.write(bytes.data(), bytes.size());
              sink.done();
              return true;
            }
            case GenerationJob::Poll::Idle:
              if (!sink.is_writable()) {
                job->cancel();
                return false;
              }
              break;
          }
        }
      }),
      [job](bool success) {
        if (!success) job->cancel();
      });
}

void respond_whole(httplib::Response& res, std::shared_ptr<GenerationJob> job, const std::string& content_type,
                   std::function<std::string(GenerationJob& job, const std::string& text)> body,
                   const std::atomic<bool>& stopping) {
  auto make = std::make_shared<decltype(body)>(std::move(body));
  res.set_chunked_content_provider(
      content_type,
      guarded_provider(job, [job, make, &stopping](size_t, httplib::DataSink& sink) {
        std::string all, text;
        auto checked = std::chrono::steady_clock::now();
        for (;;) {
          if (stopping) job->cancel();
          const auto poll = job->next(text, 50ms);
          if (poll == GenerationJob::Poll::Text) all += text;
          if (poll == GenerationJob::Poll::Done) break;
          // is_writable() also sees a peer that has closed, without writing anything.
          const auto now = std::chrono::steady_clock::now();
          if (now - checked >= 50ms) {
            checked = now;
            if (!sink.is_writable()) {
              job->cancel();
              return false;
            }
          }
        }
        const std::string bytes = (*make)(*job, all);
        sink.write(bytes.data(), bytes.size());
        sink.done();
        return true;
      }),
      [job](bool success) {
        if (!success) job->cancel();
      });
}

std::string finish_reason(const std::string& r) {
  if (r == "eog" || r == "stop") return "stop";
  if (r == "length" || r == "context") return "length";
  return r;
}

}  // namespace hearth::serve
