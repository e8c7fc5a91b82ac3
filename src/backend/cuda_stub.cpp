// Builds without the CUDA toolkit: no CUDA devices.
#ifndef HEARTH_HAVE_CUDA
#include "backend/backend.h"
#include "hearth/error.h"

namespace hearth {
int cuda_device_count() { return 0; }
std::vector<DeviceInfo> cuda_devices() { return {}; }
std::string cuda_unavailable_reason() { return "this hearth was built without CUDA support"; }
std::unique_ptr<Backend> make_cuda_backend(int) { throw Error("this hearth was built without CUDA support"); }
}  // namespace hearth
#endif
