// The few NVML declarations hearth uses, written out so that nothing needs NVIDIA's headers or links
// libnvidia-ml: the library is opened with dlopen at run time (see nvml.cpp).
// Reference: https://docs.nvidia.com/deploy/nvml-api/
#pragma once

extern "C" {
typedef int nvmlReturn_t;                    // NVML_SUCCESS = 0, else an error code
typedef struct nvmlDevice_st* nvmlDevice_t;  // opaque handle
typedef nvmlReturn_t (*nvmlInit_v2_fn)(void);
typedef nvmlReturn_t (*nvmlShutdown_fn)(void);
typedef nvmlReturn_t (*nvmlDeviceGetCount_v2_fn)(unsigned int* count);
typedef nvmlReturn_t (*nvmlDeviceGetHandleByIndex_v2_fn)(unsigned int index, nvmlDevice_t* device);
typedef nvmlReturn_t (*nvmlDeviceGetName_fn)(nvmlDevice_t device, char* name, unsigned int length);
typedef nvmlReturn_t (*nvmlDeviceGetPowerUsage_fn)(nvmlDevice_t device, unsigned int* milliwatts);
typedef nvmlReturn_t (*nvmlDeviceGetTotalEnergyConsumption_fn)(nvmlDevice_t device,
                                                                 unsigned long long* millijoules);
typedef const char* (*nvmlErrorString_fn)(nvmlReturn_t result);
}

namespace hearth::telemetry {
constexpr nvmlReturn_t kNvmlSuccess = 0;
constexpr unsigned int kNvmlDeviceNameBufferSize = 96;  // NVML_DEVICE_NAME_V2_BUFFER_SIZE
}  // namespace hearth::telemetry
