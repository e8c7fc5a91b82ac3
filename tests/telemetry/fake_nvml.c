/* See fake_nvml.h. Built as a shared library by tests/CMakeLists.txt; never linked into anything. */
#include "fake_nvml.h"

#include <stdint.h>
#include <stdio.h>

#define EXPORT __attribute__((visibility("default")))

static struct FakeNvmlState state = {0, 1, {0}, {0}, {0}, {0}, 0, 0};

EXPORT struct FakeNvmlState* fake_nvml_state(void) { return &state; }

/* Device handles are 1-based indices, so that no handle is NULL. */
static int device_index(void* dev) { return (int)((uintptr_t)dev - 1); }

EXPORT int nvmlInit_v2(void) {
  state.init_calls++;
  return state.init_rc;
}

EXPORT int nvmlShutdown(void) {
  state.shutdown_calls++;
  return 0;
}

EXPORT int nvmlDeviceGetCount_v2(unsigned int* count) {
  *count = state.count;
  return 0;
}

EXPORT int nvmlDeviceGetHandleByIndex_v2(unsigned int index, void** device) {
  if (index >= state.count || index >= FAKE_NVML_MAX_GPUS) return 2; /* NVML_ERROR_INVALID_ARGUMENT */
  *device = (void*)(uintptr_t)(index + 1);
  return 0;
}

EXPORT int nvmlDeviceGetName(void* device, char* name, unsigned int length) {
  snprintf(name, length, "Fake GPU %d", device_index(device));
  return 0;
}

EXPORT int nvmlDeviceGetPowerUsage(void* device, unsigned int* milliwatts) {
  int i = device_index(device);
  if (state.power_rc[i] != 0) return state.power_rc[i];
  *milliwatts = state.power_mw[i];
  return 0;
}

EXPORT int nvmlDeviceGetTotalEnergyConsumption(void* device, unsigned long long* millijoules) {
  int i = device_index(device);
  if (!state.has_energy[i]) return 3; /* NVML_ERROR_NOT_SUPPORTED */
  *millijoules = state.energy_mj[i];
  return 0;
}

EXPORT const char* nvmlErrorString(int result) {
  return result == 0 ? "Success" : result == 3 ? "Not Supported" : "Fake error";
}
