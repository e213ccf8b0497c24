// WsClient (harness.h): the only test source that compiles Boost.Beast.
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "harness.h"

namespace arsenal::api::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

struct WsClient::Impl {
  Impl() : ws(io) {}

  // Runs the io_context until `done` or `timeout`; on timeout the socket is cancelled and the
  // connection given up.
  bool RunUntil(const bool& done, std::chrono::milliseconds timeout) {
    io.restart();
    io.run_for(timeout);
    if (done) return true;
    boost::system::error_code ignored;
    ws.next_layer().cancel(ignored);
    io.restart();
    io.run_for(std::chrono::seconds(1));
    broken = true;
    return false;
  }

  asio::io_context io;
  websocket::stream<tcp::socket> ws;
  websocket::response_type response;
  boost::system::error_code handshake_ec;
  bool broken = false;
};

WsClient::WsClient(const std::string& endpoint, const std::string& key)
    : impl_(std::make_unique<Impl>()) {
  const size_t colon = endpoint.rfind(':');
  tcp::resolver resolver(impl_->io);
  boost::system::error_code ec;
  asio::connect(impl_->ws.next_layer(),
                resolver.resolve(endpoint.substr(0, colon), endpoint.substr(colon + 1)), ec);
  if (ec) {
    impl_->handshake_ec = ec;
    return;
  }
  impl_->ws.set_option(websocket::stream_base::decorator([key](websocket::request_type& req) {
    if (!key.empty()) req.set(beast::http::field::authorization, "Bearer " + key);
  }));
  impl_->ws.handshake(impl_->response, endpoint, "/api/v1/stream", impl_->handshake_ec);
}

WsClient::~WsClient() {
  boost::system::error_code ignored;
  impl_->ws.next_layer().close(ignored);
}

bool WsClient::ok() const { return !impl_->handshake_ec; }

int WsClient::status() const { return impl_->response.result_int(); }

void WsClient::Send(const Json& msg) {
  boost::system::error_code ec;
  impl_->ws.write(asio::buffer(msg.dump()), ec);
  EXPECT_FALSE(ec) << "websocket write: " << ec.message();
}

Json WsClient::Read(std::chrono::milliseconds timeout) {
  if (impl_->broken || !ok()) return Json();
  beast::flat_buffer buf;
  bool done = false;
  boost::system::error_code ec;
  impl_->ws.async_read(buf, [&](boost::system::error_code e, size_t) {
    ec = e;
    done = true;
  });
  if (!impl_->RunUntil(done, timeout) || ec) return Json();
  Json message = Json::parse(beast::buffers_to_string(buf.data()), nullptr, false);
  return message.is_discarded() ? Json() : message;
}

Json WsClient::ReadType(const std::string& type, int max) {
  for (int i = 0; i < max; ++i) {
    Json m = Read();
    if (m.is_null()) break;
    if (m.is_object() && m["type"] == type) return m;
  }
  return Json();
}

void WsClient::Close() {
  if (impl_->broken || !ok()) return;
  bool done = false;
  impl_->ws.async_close(websocket::close_code::normal,
                        [&](boost::system::error_code) { done = true; });
  impl_->RunUntil(done, std::chrono::seconds(5));
}

}  // namespace arsenal::api::testing
