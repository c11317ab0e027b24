// The data plane's Asio types, shared by the engine and the HTTP codec.
// Every object is bound to its worker's io_context by a concrete executor
// type: a type-erased any_io_executor would cost tens of bytes in every
// socket, timer and pending operation, which idle links pay for.
#pragma once

#include <boost/asio.hpp>

#include "faults/plan.hpp"

namespace brownout::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using faults::Clock;

using Executor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<tcp, Executor>;
using Acceptor = asio::basic_socket_acceptor<tcp, Executor>;
using Timer = asio::basic_waitable_timer<Clock, asio::wait_traits<Clock>, Executor>;
using Resolver = asio::ip::basic_resolver<tcp, Executor>;
template <class T = void>
using Task = asio::awaitable<T, Executor>;
inline constexpr asio::use_awaitable_t<Executor> use_task;
inline constexpr auto nothrow = asio::as_tuple(asio::use_awaitable_t<Executor>{});

}  // namespace brownout::proxy
