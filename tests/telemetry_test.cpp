// Power readers against fakes: RAPL against sysfs trees written to a temp dir, NVML against a stand-in
// libnvidia-ml (tests/telemetry/fake_nvml.c, opened with dlopen as hearth opens the real one), and the
// sampler against a constant-power source.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "telemetry/fake_nvml.h"
#include "telemetry/power.h"
#include "telemetry/power_integrator.h"

namespace fs = std::filesystem;
using namespace hearth::telemetry;
using namespace std::chrono_literals;

namespace {

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream f(p, std::ios::trunc);  // in place: the same file, as sysfs
  f << text << "\n";
}

class Rapl : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root_ = fs::path(HEARTH_TEST_TMP) / (std::string("rapl-") + info->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(root_ / "intel-rapl:0" / "energy_uj", fs::perms::owner_all, ec);
    fs::remove_all(root_, ec);
  }
  // A zone directory as the kernel lays it out.
  fs::path zone(const std::string& dir, const std::string& name, uint64_t energy, uint64_t max) {
    const fs::path d = root_ / dir;
    fs::create_directories(d);
    write_file(d / "name", name);
    write_file(d / "energy_uj", std::to_string(energy));
    write_file(d / "max_energy_range_uj", std::to_string(max));
    return d;
  }
  fs::path root_;
};

}  // namespace

TEST_F(Rapl, ReadsPackageZonesOnly) {
  const auto p0 = zone("intel-rapl:0", "package-0", 1'000'000, 262'143'328'850);
  zone("intel-rapl:0/intel-rapl:0:0", "core", 5'000, 262'143'328'850);  // a subzone, nested as in sysfs
  zone("intel-rapl:0:1", "uncore", 5'000, 262'143'328'850);             // a subzone name at the top
  zone("intel-rapl:1", "psys", 7'000, 262'143'328'850);                 // platform, not a package
  zone("intel-rapl-mmio:0", "package-0", 9'000, 262'143'328'850);       // the same package again
  const auto p1 = zone("intel-rapl:2", "package-1", 0, 262'143'328'850);
  std::string why;
  auto srcs = open_rapl(root_.string(), &why);
  ASSERT_EQ(srcs.size(), 2u) << why;
  EXPECT_EQ(srcs[0]->name(), "rapl:package-0");
  EXPECT_EQ(srcs[1]->name(), "rapl:package-1");
  EXPECT_EQ(srcs[0]->method(), "counter");
  EXPECT_DOUBLE_EQ(srcs[0]->energy_j(), 0);  // the origin is the reading at open

  const auto t0 = Clock::now();
  write_file(p0 / "energy_uj", "3500000");
  write_file(p1 / "energy_uj", "250000");
  for (auto& s : srcs) s->sample(t0 + 1s);
  EXPECT_DOUBLE_EQ(srcs[0]->energy_j(), 2.5);   // (3,500,000 - 1,000,000) uJ
  EXPECT_DOUBLE_EQ(srcs[1]->energy_j(), 0.25);
  write_file(p0 / "energy_uj", "5500000");
  srcs[0]->sample(t0 + 2s);
  EXPECT_DOUBLE_EQ(srcs[0]->energy_j(), 4.5);
  EXPECT_NEAR(srcs[0]->power_w(), 2.0, 1e-9);  // 2 J in the last second
}

TEST_F(Rapl, CounterWraparound) {
  const auto d = zone("intel-rapl:0", "package-0", 9'000'000, 10'000'000);
  std::string why;
  auto srcs = open_rapl(root_.string(), &why);
  ASSERT_EQ(srcs.size(), 1u) << why;
  write_file(d / "energy_uj", "500000");  // wrapped: 10,000,000 - 9,000,000 + 500,000 = 1,500,000 uJ
  srcs[0]->sample(Clock::now());
  EXPECT_DOUBLE_EQ(srcs[0]->energy_j(), 1.5);
  write_file(d / "energy_uj", "1500000");  // +1,000,000 uJ
  srcs[0]->sample(Clock::now());
  EXPECT_DOUBLE_EQ(srcs[0]->energy_j(), 2.5);
}

TEST_F(Rapl, FailedReadingIsNegativeThenRecovers) {
  const auto d = zone("intel-rapl:0", "package-0", 0, 10'000'000);
  auto srcs = open_rapl(root_.string(), nullptr);
  ASSERT_EQ(srcs.size(), 1u);
  fs::remove(d / "energy_uj");
  srcs[0]->sample(Clock::now());
  EXPECT_LT(srcs[0]->energy_j(), 0);
  write_file(d / "energy_uj", "2000000");
  srcs[0]->sample(Clock::now());
  EXPECT_DOUBLE_EQ(srcs[0]->energy_j(), 2.0);
}

TEST_F(Rapl, UnreadableEnergyFileGivesReason) {
  const auto d = zone("intel-rapl:0", "package-0", 1000, 10'000'000);
  fs::permissions(d / "energy_uj", fs::perms::none);
  if (std::ifstream(d / "energy_uj").good()) GTEST_SKIP() << "running as root: mode 000 is still readable";
  std::string why;
  EXPECT_TRUE(open_rapl(root_.string(), &why).empty());
  EXPECT_NE(why.find("energy_uj"), std::string::npos) << why;
  EXPECT_NE(why.find("Permission denied"), std::string::npos) << why;
}

TEST_F(Rapl, EnergyFileThatCannotBeReadGivesReason) {
  // As root, mode bits do not stop a read; a directory in the file's place fails for everyone (EISDIR).
  const auto d = zone("intel-rapl:0", "package-0", 1000, 10'000'000);
  fs::remove(d / "energy_uj");
  fs::create_directory(d / "energy_uj");
  std::string why;
  EXPECT_TRUE(open_rapl(root_.string(), &why).empty());
  EXPECT_NE(why.find("intel-rapl:0/energy_uj"), std::string::npos) << why;
}

TEST_F(Rapl, NoZonesGiveReason) {
  std::string why;
  EXPECT_TRUE(open_rapl(root_.string(), &why).empty());
  EXPECT_NE(why.find("no RAPL zones"), std::string::npos) << why;
  why.clear();
  EXPECT_TRUE(open_rapl((root_ / "absent").string(), &why).empty());
  EXPECT_FALSE(why.empty());
}

namespace {

class Nvml : public ::testing::Test {
 protected:
  void SetUp() override {
    // The same loaded object that open_nvml() opens (dlopen counts references), so the state is shared.
    lib_ = dlopen(FAKE_NVML_PATH, RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(lib_, nullptr) << dlerror();
    auto fn = reinterpret_cast<fake_nvml_state_fn>(dlsym(lib_, "fake_nvml_state"));
    ASSERT_NE(fn, nullptr);
    st_ = fn();
    *st_ = FakeNvmlState{};
    st_->count = 1;
  }
  void TearDown() override {
    if (lib_) dlclose(lib_);
  }
  void* lib_ = nullptr;
  FakeNvmlState* st_ = nullptr;
};

}  // namespace

TEST_F(Nvml, EnergyCounterPreferred) {
  st_->count = 2;
  st_->has_energy[0] = st_->has_energy[1] = 1;
  st_->energy_mj[0] = 1000;
  st_->energy_mj[1] = 5000;
  st_->power_mw[0] = 300'000;
  std::string why;
  {
    auto srcs = open_nvml(FAKE_NVML_PATH, &why);
    ASSERT_EQ(srcs.size(), 2u) << why;
    EXPECT_EQ(srcs[0]->name(), "nvml:0 Fake GPU 0");
    EXPECT_EQ(srcs[1]->name(), "nvml:1 Fake GPU 1");
    EXPECT_EQ(srcs[0]->method(), "counter");
    EXPECT_DOUBLE_EQ(srcs[0]->energy_j(), 0);
    st_->energy_mj[0] = 4000;  // +3000 mJ
    for (auto& s : srcs) s->sample(Clock::now());
    EXPECT_DOUBLE_EQ(srcs[0]->energy_j(), 3.0);
    EXPECT_DOUBLE_EQ(srcs[1]->energy_j(), 0.0);
    EXPECT_DOUBLE_EQ(srcs[0]->power_w(), 300.0);
    EXPECT_EQ(st_->init_calls, 1);
    EXPECT_EQ(st_->shutdown_calls, 0);
  }
  EXPECT_EQ(st_->shutdown_calls, 1);  // once, after the last source
}

TEST_F(Nvml, PowerIntegratedWithoutCounter) {
  st_->power_mw[0] = 200'000;  // 200 W, no energy counter
  std::string why;
  auto srcs = open_nvml(FAKE_NVML_PATH, &why);
  ASSERT_EQ(srcs.size(), 1u) << why;
  auto& s = *srcs[0];
  EXPECT_EQ(s.method(), "power");
  const auto t1 = Clock::now();  // the first sample was taken at open, a moment before t1
  s.sample(t1 + 2s);
  const double e1 = s.energy_j();
  EXPECT_GE(e1, 400.0);          // 200 W x (2 s + the moment)
  EXPECT_LT(e1, 400.0 + 200.0);  // the moment is far below 1 s
  st_->power_mw[0] = 100'000;
  s.sample(t1 + 4s);             // trapezoid: (200 + 100) / 2 W x 2 s = 300 J
  EXPECT_NEAR(s.energy_j() - e1, 300.0, 1e-9);
  EXPECT_DOUBLE_EQ(s.power_w(), 100.0);
  st_->power_rc[0] = 15;  // a failed reading
  s.sample(t1 + 5s);
  EXPECT_LT(s.energy_j(), 0);
}

TEST_F(Nvml, MixedGpus) {
  st_->count = 2;
  st_->has_energy[0] = 1;
  st_->power_mw[1] = 50'000;
  auto srcs = open_nvml(FAKE_NVML_PATH, nullptr);
  ASSERT_EQ(srcs.size(), 2u);
  EXPECT_EQ(srcs[0]->method(), "counter");
  EXPECT_EQ(srcs[1]->method(), "power");
}

TEST_F(Nvml, GpuWithoutReadingsIsSkippedWithReason) {
  st_->count = 2;
  st_->has_energy[0] = 1;
  st_->power_rc[1] = 3;  // neither counter nor power on GPU 1
  std::string why;
  auto srcs = open_nvml(FAKE_NVML_PATH, &why);
  ASSERT_EQ(srcs.size(), 1u);
  EXPECT_NE(why.find("GPU 1"), std::string::npos) << why;
}

TEST_F(Nvml, InitFailureGivesReason) {
  st_->init_rc = 9;  // NVML_ERROR_DRIVER_NOT_LOADED
  std::string why;
  EXPECT_TRUE(open_nvml(FAKE_NVML_PATH, &why).empty());
  EXPECT_NE(why.find("nvmlInit_v2"), std::string::npos) << why;
  EXPECT_EQ(st_->shutdown_calls, 0);  // init failed: nothing to shut down
}

TEST_F(Nvml, NoGpuGivesReason) {
  st_->count = 0;
  std::string why;
  EXPECT_TRUE(open_nvml(FAKE_NVML_PATH, &why).empty());
  EXPECT_NE(why.find("no GPU"), std::string::npos) << why;
  EXPECT_EQ(st_->shutdown_calls, 1);
}

TEST(NvmlMissing, LibraryAbsentGivesReason) {
  std::string why;
  EXPECT_TRUE(open_nvml("/nonexistent/libnvidia-ml.so.1", &why).empty());
  EXPECT_NE(why.find("NVML not available"), std::string::npos) << why;
  EXPECT_NE(why.find("/nonexistent/libnvidia-ml.so.1"), std::string::npos) << why;
}

TEST(NvmlMissing, LibraryWithoutNvmlGivesReason) {
  std::string why;
  EXPECT_TRUE(open_nvml("libm.so.6", &why).empty());
  EXPECT_NE(why.find("nvmlInit_v2"), std::string::npos) << why;
}

namespace {

// Constant power, integrated by the source as NVML's "power" method does; counts its samples and checks
// that they arrive in time order.
class ConstantPower : public EnergySource {
 public:
  ConstantPower(double watts, std::atomic<int>* samples, std::atomic<bool>* out_of_order)
      : watts_(watts), samples_(samples), out_of_order_(out_of_order) {}
  std::string name() const override { return "fake"; }
  std::string method() const override { return "power"; }
  void sample(Clock::time_point now) override {
    if (++*samples_ > 1 && now < last_) *out_of_order_ = true;
    last_ = now;
    integ_.add(now, watts_);
  }
  double energy_j() const override { return integ_.joules(); }
  double power_w() const override { return watts_; }

 private:
  double watts_;
  std::atomic<int>* samples_;
  std::atomic<bool>* out_of_order_;
  Clock::time_point last_{};
  PowerIntegrator integ_;
};

}  // namespace

TEST(PowerSampler, IntegratesConstantPower) {
  std::atomic<int> samples{0};
  std::atomic<bool> out_of_order{false};
  std::vector<std::unique_ptr<EnergySource>> v;
  v.push_back(std::make_unique<ConstantPower>(50.0, &samples, &out_of_order));
  v.push_back(make_estimate(65));
  PowerSampler ps(std::move(v), 10ms);
  ASSERT_EQ(ps.size(), 2u);
  EXPECT_EQ(ps.names(), (std::vector<std::string>{"fake", "estimate:65W"}));
  EXPECT_EQ(ps.methods(), (std::vector<std::string>{"power", "estimate"}));

  // Each snapshot samples at a moment between the clock readings around it, so the energy between two
  // snapshots is bounded by the inner and outer intervals.
  const auto b0 = Clock::now();
  const auto e0 = ps.snapshot();
  const auto a0 = Clock::now();
  std::this_thread::sleep_for(300ms);
  const auto b1 = Clock::now();
  const auto e1 = ps.snapshot();
  const auto a1 = Clock::now();
  const double inner = std::chrono::duration<double>(b1 - a0).count();
  const double outer = std::chrono::duration<double>(a1 - b0).count();
  for (auto [i, w] : {std::pair{0, 50.0}, std::pair{1, 65.0}}) {
    const double e = e1[i] - e0[i];
    EXPECT_GE(e, w * inner - 1e-9) << i;
    EXPECT_LE(e, w * outer + 1e-9) << i;
    EXPECT_GT(e, w * 0.29) << i;  // slept 300 ms
  }
  EXPECT_GE(samples.load(), 5);  // the thread sampled meanwhile (every 10 ms; few on a loaded machine)
  EXPECT_FALSE(out_of_order.load());
}

TEST(PowerSampler, MarkSamplesNowFromManyThreads) {
  std::atomic<int> samples{0};
  std::atomic<bool> out_of_order{false};
  std::vector<std::unique_ptr<EnergySource>> v;
  v.push_back(std::make_unique<ConstantPower>(10.0, &samples, &out_of_order));
  PowerSampler ps(std::move(v), 100ms);
  const int before = samples.load();
  ps.mark();
  ps.mark();
  ps.mark();
  EXPECT_GE(samples.load(), before + 3);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) ps.mark();
    });
  for (auto& t : threads) t.join();
  EXPECT_GE(samples.load(), before + 3 + 800);
  EXPECT_FALSE(out_of_order.load());
}

TEST(PowerSampler, DestructorStopsPromptly) {
  const auto t0 = Clock::now();
  {
    std::vector<std::unique_ptr<EnergySource>> v;
    v.push_back(make_estimate(1));
    PowerSampler ps(std::move(v), 100ms);
  }
  // Woken by the destructor rather than waiting out its period; generous for a loaded machine.
  EXPECT_LT(Clock::now() - t0, 90ms);
}

TEST(Estimate, ConstantWattsOverTime) {
  auto s = make_estimate(65);
  EXPECT_EQ(s->name(), "estimate:65W");
  EXPECT_EQ(s->method(), "estimate");
  EXPECT_DOUBLE_EQ(s->power_w(), 65);
  const auto t = Clock::now();
  s->sample(t + 1s);
  const double e1 = s->energy_j();
  s->sample(t + 3s);
  EXPECT_NEAR(s->energy_j() - e1, 130.0, 1e-9);  // 65 W x 2 s
}
