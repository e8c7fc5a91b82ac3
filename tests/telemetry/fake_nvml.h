/* A stand-in for libnvidia-ml for telemetry_test: the NVML entry points hearth uses, answering from a state
   the test sets through fake_nvml_state() (found with dlsym in the same loaded library). */
#ifndef HEARTH_FAKE_NVML_H
#define HEARTH_FAKE_NVML_H

#define FAKE_NVML_MAX_GPUS 4

struct FakeNvmlState {
  int init_rc;                                    /* what nvmlInit_v2 returns */
  unsigned int count;                             /* GPUs */
  int has_energy[FAKE_NVML_MAX_GPUS];             /* nvmlDeviceGetTotalEnergyConsumption answers */
  unsigned long long energy_mj[FAKE_NVML_MAX_GPUS];
  unsigned int power_mw[FAKE_NVML_MAX_GPUS];
  int power_rc[FAKE_NVML_MAX_GPUS];               /* what nvmlDeviceGetPowerUsage returns */
  int init_calls, shutdown_calls;
};

typedef struct FakeNvmlState* (*fake_nvml_state_fn)(void);

#endif
