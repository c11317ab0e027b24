// JSON text as Toxiproxy's Go encoder writes it, numbers in their shortest
// plain form (0.5, not Boost.JSON's 5E-1): the API's answers and the drill's
// report.json.
#pragma once

#include <boost/json/value.hpp>
#include <string>

namespace brownout::control {

std::string dump(const boost::json::value& v);

}  // namespace brownout::control
