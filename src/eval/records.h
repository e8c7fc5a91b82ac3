// Every request an evaluation made, and its CSV and JSON forms.
#pragma once
#include <string>
#include <vector>

#include "eval/target.h"

namespace hearth::eval {

struct RequestRecord {
  std::string config;  // configuration label (target and temperature)
  std::string target;  // "hearth" or "endpoint"
  std::string model;   // model file or served model name
  std::string prompt_id;
  int rep = 0;  // repetition, from 1
  Measurement m;
  double temperature = 0;
  int n_gpu_layers = -1;  // -1: unknown
  std::string device;
  std::string energy_source;  // "rapl:package-0 (counter)", "estimate:65W (estimate)", "" when none
  double mean_power_w = kUnknown;
  double energy_j = kUnknown;     // energy of the whole request (prompt and generation)
  double j_per_token = kUnknown;  // energy_j / generated tokens
  double wh_per_token = kUnknown;
  double usd_per_mtok = kUnknown;  // electricity per 1M generated tokens
};

// One header line, then one line per record (RFC 4180 quoting; unknown values are empty).
std::string records_csv(const std::vector<RequestRecord>& records);
// An array of objects with the CSV's fields (unknown values are null).
std::string records_json(const std::vector<RequestRecord>& records);

}  // namespace hearth::eval
