// Matmul micro-benchmark: GB/s of weights streamed and GFLOP/s for the TinyLlama shapes, at 1 and 512 tokens,
// 1 and 2 threads, at the best ISA level (and scalar-free AVX2 with --isa avx2). Decode is reported against a
// read-bandwidth probe measured in the same run (the decode limit).
//   bench_matmul [--types q4_0,q8_0,...] [--isa avx2|avx512] [--tokens 1,512] [--threads 1,2] [--min-time 0.3]
//                [--packed 0|1]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <sstream>
#include <string>
#include <vector>

#include "backend/cpu/kernels.h"
#include "backend/cpu/matmul.h"
#include "backend/cpu/packed.h"
#include "backend/cpu/thread_pool.h"
#include "quant/quant.h"

using namespace hearth;
using Clock = std::chrono::steady_clock;

namespace {

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) out.push_back(item);
  return out;
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// CPU time of the whole process (all threads), seconds.
double cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// Read bandwidth (GB/s) over a buffer much larger than the caches, on all pool threads.
double read_bandwidth(ThreadPool& pool, size_t bytes) {
  std::vector<uint64_t> buf(bytes / 8, 1);
  std::vector<uint64_t> sums(pool.size());
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    auto t0 = Clock::now();
    pool.parallel_for(static_cast<int64_t>(buf.size()), [&](int64_t b, int64_t e, int ith) {
      uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (int64_t i = b; i + 4 <= e; i += 4) s0 += buf[i], s1 += buf[i + 1], s2 += buf[i + 2], s3 += buf[i + 3];
      sums[ith] = s0 + s1 + s2 + s3;
    });
    best = std::max(best, bytes / seconds_since(t0) / 1e9);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> types = {"f16", "q8_0", "q6_K", "q4_K", "q4_0", "q2_K"};
  std::vector<int> tokens = {1, 512}, threads = {1, 2};
  double min_time = 0.3;
  bool packed = true;  // the layout the CPU backend uses at load (--packed 0: the file's layout)
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--types") types = split(v);
    else if (a == "--tokens") { tokens.clear(); for (auto& s : split(v)) tokens.push_back(std::stoi(s)); }
    else if (a == "--threads") { threads.clear(); for (auto& s : split(v)) threads.push_back(std::stoi(s)); }
    else if (a == "--min-time") min_time = std::stod(v);
    else if (a == "--packed") packed = v != "0";
    else if (a == "--isa") cpu::set_isa(v == "avx2" ? cpu::Isa::Avx2 : v == "scalar" ? cpu::Isa::Scalar : cpu::Isa::Avx512);
  }
  struct Shape { int64_t rows, cols; };
  const Shape shapes[] = {{2048, 2048}, {5632, 2048}, {2048, 5632}, {32000, 2048}};
  std::printf("isa %s\n", cpu::isa_name(cpu::active_isa()));
  for (int nth : threads) {
    ThreadPool bw_pool(nth);
    std::printf("threads %d: read bandwidth %.1f GB/s\n", nth, read_bandwidth(bw_pool, size_t(1) << 30));
  }
  std::printf("%-6s %-12s %6s %3s %10s %9s %9s %11s\n", "type", "shape", "tokens", "thr", "ms", "GB/s", "GFLOP/s",
              "GFLOP/cpu-s");
  for (const std::string& tn : types) {
    DType t;
    if (!dtype_from_name(tn, &t)) {
      std::fprintf(stderr, "unknown type %s\n", tn.c_str());
      return 1;
    }
    for (const Shape& s : shapes) {
      // One quantized random row replicated: distinct memory, realistic values, fast setup.
      const size_t rb = row_bytes(t, s.cols);
      std::vector<float> row(s.cols);
      uint32_t seed = 1;
      for (auto& v : row) seed = seed * 1664525u + 1013904223u, v = static_cast<float>(int(seed >> 9) % 2001 - 1000) / 1000.0f;
      std::vector<uint8_t> wq(rb * s.rows);
      quantize_row_ref(t, row.data(), wq.data(), s.cols);
      for (int64_t r = 1; r < s.rows; ++r) std::memcpy(wq.data() + r * rb, wq.data(), rb);
      Weight w;
      w.type = t;
      w.ne[0] = s.cols;
      w.ne[1] = s.rows;
      w.data = wq.data();
      w.nbytes = wq.size();
      std::vector<uint8_t> wp;
      if (packed && cpu::packable(t)) {
        wp.resize(cpu::packed_bytes(t, s.rows, s.cols));
        for (int64_t g = 0; g * cpu::kPackRows < s.rows; ++g)
          cpu::pack_group(t, wq.data(), s.rows, s.cols, g, wp.data() + g * cpu::packed_group_bytes(t, s.cols));
        w.packed = wp.data();
      }
      for (int nt : tokens) {
        std::vector<float> x(static_cast<size_t>(nt) * s.cols), y(static_cast<size_t>(nt) * s.rows);
        for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 17) / 17.0f - 0.5f;
        for (int nth : threads) {
          ThreadPool pool(nth);
          cpu::MatmulScratch scratch;
          cpu::matmul(w, x.data(), y.data(), nt, pool, scratch);  // warm-up
          int reps = 0;
          auto t0 = Clock::now();
          const double c0 = cpu_seconds();
          do {
            cpu::matmul(w, x.data(), y.data(), nt, pool, scratch);
            ++reps;
          } while (seconds_since(t0) < min_time);
          double sec = seconds_since(t0) / reps;
          // CPU time per thread: robust to other programs on a shared machine (wall time is not).
          const double cpu_sec = (cpu_seconds() - c0) / reps / nth;
          char shape[32];
          std::snprintf(shape, sizeof shape, "%lldx%lld", static_cast<long long>(s.rows), static_cast<long long>(s.cols));
          std::printf("%-6s %-12s %6d %3d %10.3f %9.1f %9.1f %11.1f\n", tn.c_str(), shape, nt, nth, sec * 1e3,
                      wq.size() / sec / 1e9, 2.0 * s.rows * s.cols * nt / sec / 1e9,
                      2.0 * s.rows * s.cols * nt / cpu_sec / 1e9 / nth);
          std::fflush(stdout);
        }
      }
    }
  }
  return 0;
}
