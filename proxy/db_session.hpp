// A link on a `protocol = "postgres"` or `"redis"` proxy: reads both sides,
// runs the bytes through the protocol's codec (proxy/pg_codec, resp_codec)
// and carries out what it answers: forward, forge, hold, close.
#pragma once

#include <memory>

#include "faults/db.hpp"
#include "proxy/http_session.hpp"

namespace brownout::proxy {

Task<> run_db_session(std::shared_ptr<HttpHost> host, faults::db::Protocol protocol, bool pass_tls);

}  // namespace brownout::proxy
