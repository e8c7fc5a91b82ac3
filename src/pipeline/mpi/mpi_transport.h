// Messages between pipeline ranks over MPI, with a deadline on every wait.
//
// No blocking MPI call is made: sends are MPI_Isend kept until complete, receives are MPI_Improbe + MPI_Imrecv,
// and every wait polls with MPI_Test until a deadline, so a rank that died or stopped answering turns into an
// error instead of a hang. MPI_ERRORS_RETURN on MPI_COMM_WORLD makes MPI failures errors too.
#pragma once
#include <mpi.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/wire.h"

namespace hearth::pipeline {

// Tags: the data path (micro-batches, logits, clear, stop: ordered per pair of ranks) and control (setup, ping,
// errors), so that a ping overtakes queued micro-batches.
constexpr int kTagData = 1;
constexpr int kTagControl = 2;

struct Received {
  int source = -1;
  int tag = 0;
  Message msg;
};

class MpiTransport {
 public:
  // Initializes MPI (unless the program already did) and finalizes it on destruction when it did.
  MpiTransport();
  ~MpiTransport();
  MpiTransport(const MpiTransport&) = delete;
  MpiTransport& operator=(const MpiTransport&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  const std::string& host() const { return host_; }

  // Queues msg for dest (MPI_Isend); the bytes stay owned here until the send completes.
  void send(int dest, int tag, const Message& msg);
  // Takes a complete message from source (any source: -1) with tag, if one is there. Never waits.
  std::optional<Received> poll(int source, int tag);
  // Waits for a message up to timeout_s; nullopt on the deadline. `idle` runs between polls (answering pings,
  // watching for errors) and may throw.
  std::optional<Received> recv(int source, int tag, double timeout_s, const std::function<void()>& idle = {});
  // Waits until every queued send has completed; false on the deadline (the peer is not receiving).
  bool flush(double timeout_s, const std::function<void()>& idle = {});
  // Completes what can be completed of the queued sends, without waiting.
  void progress();
  // The rank a queued send waits on longest (-1 when none).
  int oldest_pending_dest() const { return pending_.empty() ? -1 : pending_.front().dest; }

  uint64_t bytes_sent() const { return bytes_sent_; }
  uint64_t bytes_received() const { return bytes_received_; }
  uint64_t data_bytes_sent() const { return data_bytes_sent_; }

  // Ends every rank of the job (MPI_Abort): after an error on one rank, the others may be waiting on it.
  [[noreturn]] void abort(int code);

 private:
  struct Pending {
    int dest;
    MPI_Request request;
    std::vector<uint8_t> bytes;
  };
  bool owns_mpi_ = false;
  int rank_ = 0, size_ = 1;
  std::string host_;
  std::deque<Pending> pending_;
  uint64_t bytes_sent_ = 0, bytes_received_ = 0, data_bytes_sent_ = 0;
};

// The MPI world this process was started in, from the launcher's environment (OpenMPI, PMIx, MPICH/Hydra,
// Slurm): size 1 when not started by mpirun.
int launcher_world_size();
int launcher_world_rank();

}  // namespace hearth::pipeline
