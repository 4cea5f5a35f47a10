#include "lbfp/arch/bus.h"

namespace lbfp::arch {

Bus::Bus(sc_core::sc_module_name name)
    : sc_module(name), target_socket("target_socket"), initiator_socket("initiator_socket") {
  target_socket.register_b_transport(this, &Bus::b_transport);
  target_socket.register_transport_dbg(this, &Bus::transport_dbg);
  target_socket.register_get_direct_mem_ptr(this, &Bus::get_direct_mem_ptr);
  initiator_socket.register_invalidate_direct_mem_ptr(this, &Bus::invalidate_direct_mem_ptr);
}

void Bus::b_transport(int /*id*/, tlm::tlm_generic_payload& payload, sc_core::sc_time& delay) {
  initiator_socket->b_transport(payload, delay);
}

unsigned int Bus::transport_dbg(int /*id*/, tlm::tlm_generic_payload& payload) {
  return initiator_socket->transport_dbg(payload);
}

bool Bus::get_direct_mem_ptr(int /*id*/, tlm::tlm_generic_payload& payload, tlm::tlm_dmi& dmi) {
  return initiator_socket->get_direct_mem_ptr(payload, dmi);
}

void Bus::invalidate_direct_mem_ptr(sc_dt::uint64 start, sc_dt::uint64 end) {
  for (unsigned int i = 0; i < target_socket.size(); ++i) {
    target_socket[static_cast<int>(i)]->invalidate_direct_mem_ptr(start, end);
  }
}

}  // namespace lbfp::arch
