#include "pipeline/mpi/mpi_transport.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "hearth/error.h"

namespace hearth::pipeline {
namespace {

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw Error(std::string("MPI ") + what + ": " + std::string(text, len));
}

// Polling backoff: yield for the first 100 us (a message that is about to arrive is taken at once), then sleep
// 20 us, doubling up to 250 us: a waiting rank leaves the cores to the rank that computes (ranks may share cores),
// and a message waits at most ~250 us to be noticed.
class Backoff {
 public:
  void pause() {
    if (std::chrono::steady_clock::now() - start_ < std::chrono::microseconds(100)) {
      std::this_thread::yield();
      return;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(sleep_us_));
    if (sleep_us_ < 250) sleep_us_ = std::min(250, 2 * sleep_us_);
  }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  int sleep_us_ = 20;
};

using Clock = std::chrono::steady_clock;

Clock::time_point deadline_after(double s) {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

int env_int(const char* const* names, int fallback) {
  for (const char* const* n = names; *n; ++n)
    if (const char* v = std::getenv(*n)) return std::atoi(v);
  return fallback;
}

}  // namespace

int launcher_world_size() {
  static const char* const names[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE", "SLURM_NTASKS", nullptr};
  return env_int(names, 1);
}

int launcher_world_rank() {
  static const char* const names[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID", nullptr};
  return env_int(names, 0);
}

MpiTransport::MpiTransport() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    // Only the thread that constructs the transport calls MPI (stages may compute on their own threads).
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "init");
    owns_mpi_ = true;
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "comm_rank");
  check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "comm_size");
  char name[MPI_MAX_PROCESSOR_NAME];
  int len = 0;
  if (MPI_Get_processor_name(name, &len) == MPI_SUCCESS) host_.assign(name, len);
}

MpiTransport::~MpiTransport() {
  // Sends still queued are cancelled: the peers are done (or gone) when a transport is destroyed.
  for (Pending& p : pending_) {
    MPI_Cancel(&p.request);
    MPI_Request_free(&p.request);
  }
  pending_.clear();
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (owns_mpi_ && !finalized) MPI_Finalize();
}

void MpiTransport::send(int dest, int tag, const Message& msg) {
  if (dest < 0 || dest >= size_) throw Error("pipeline: no rank " + std::to_string(dest));
  Pending p{dest, MPI_REQUEST_NULL, encode_message(msg)};
  if (p.bytes.size() > static_cast<size_t>(INT32_MAX))
    throw Error("pipeline: message of " + std::to_string(p.bytes.size()) + " bytes is over MPI's 2 GiB count");
  check(MPI_Isend(p.bytes.data(), static_cast<int>(p.bytes.size()), MPI_BYTE, dest, tag, MPI_COMM_WORLD, &p.request),
        "isend");
  bytes_sent_ += p.bytes.size();
  if (tag == kTagData) data_bytes_sent_ += p.bytes.size();
  pending_.push_back(std::move(p));
  progress();
}

void MpiTransport::progress() {
  while (!pending_.empty()) {
    int done = 0;
    check(MPI_Test(&pending_.front().request, &done, MPI_STATUS_IGNORE), "test (send)");
    if (!done) break;  // sends to one peer complete in order; others wait for the next call
    pending_.pop_front();
  }
}

bool MpiTransport::flush(double timeout_s, const std::function<void()>& idle) {
  const auto deadline = deadline_after(timeout_s);
  Backoff backoff;
  for (progress(); !pending_.empty(); progress()) {
    if (Clock::now() > deadline) return false;
    if (idle) idle();
    backoff.pause();
  }
  return true;
}

std::optional<Received> MpiTransport::poll(int source, int tag) {
  int found = 0;
  MPI_Message handle;
  MPI_Status status;
  check(MPI_Improbe(source < 0 ? MPI_ANY_SOURCE : source, tag, MPI_COMM_WORLD, &found, &handle, &status), "improbe");
  if (!found) return std::nullopt;
  int count = 0;
  check(MPI_Get_count(&status, MPI_BYTE, &count), "get_count");
  std::vector<uint8_t> bytes(count);
  MPI_Request req;
  check(MPI_Imrecv(bytes.data(), count, MPI_BYTE, &handle, &req), "imrecv");
  // The message was matched and is arriving: its completion is waited on without a deadline of its own beyond
  // a generous one, as the sender already handed it over.
  const auto deadline = deadline_after(600);
  Backoff backoff;
  for (int done = 0;;) {
    check(MPI_Test(&req, &done, MPI_STATUS_IGNORE), "test (receive)");
    if (done) break;
    if (Clock::now() > deadline) {
      MPI_Cancel(&req);
      throw Error("pipeline: a message from rank " + std::to_string(status.MPI_SOURCE) +
                  " started arriving but did not complete within 600 s");
    }
    backoff.pause();
  }
  bytes_received_ += bytes.size();
  Received r;
  r.source = status.MPI_SOURCE;
  r.tag = status.MPI_TAG;
  try {
    r.msg = decode_message(bytes.data(), bytes.size());
  } catch (const Error& e) {
    throw Error(std::string("from rank ") + std::to_string(r.source) + ": " + e.what());
  }
  return r;
}

std::optional<Received> MpiTransport::recv(int source, int tag, double timeout_s, const std::function<void()>& idle) {
  const auto deadline = deadline_after(timeout_s);
  Backoff backoff;
  for (;;) {
    progress();
    if (auto r = poll(source, tag)) return r;
    if (Clock::now() > deadline) return std::nullopt;
    if (idle) idle();
    backoff.pause();
  }
}

void MpiTransport::abort(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);  // MPI_Abort does not return; this is for a broken MPI
}

}  // namespace hearth::pipeline
