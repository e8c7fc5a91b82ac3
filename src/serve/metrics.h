// GET /metrics: the server's counters in the Prometheus text format (llama.cpp's server has the same endpoint),
// for the monitoring a service is run with. Behind the API key like every other route but /health.
#pragma once

namespace httplib {
class Server;
}

namespace hearth::serve {

struct ServeState;
void add_metrics_route(httplib::Server& http, ServeState& state);

}  // namespace hearth::serve
