// The interconnect between the system's initiators (the host's debug port, the accelerator's
// DMA) and its memory, in the shape of the TLM-2.0 lt examples' SimpleBusLT: one target socket
// the initiators bind to, one initiator socket to the memory. The memory map has one target, so
// every transaction goes to the memory unchanged (it answers addresses outside itself with
// TLM_ADDRESS_ERROR_RESPONSE) and costs no time in the interconnect.
#pragma once

#include <systemc>
#include <tlm>
#include <tlm_utils/multi_passthrough_target_socket.h>
#include <tlm_utils/simple_initiator_socket.h>

namespace lbfp::arch {

class Bus : public sc_core::sc_module {
 public:
  tlm_utils::multi_passthrough_target_socket<Bus> target_socket;  // from the initiators
  tlm_utils::simple_initiator_socket<Bus> initiator_socket;       // to the memory

  explicit Bus(sc_core::sc_module_name name);

 private:
  void b_transport(int id, tlm::tlm_generic_payload& payload, sc_core::sc_time& delay);
  unsigned int transport_dbg(int id, tlm::tlm_generic_payload& payload);
  bool get_direct_mem_ptr(int id, tlm::tlm_generic_payload& payload, tlm::tlm_dmi& dmi);
  void invalidate_direct_mem_ptr(sc_dt::uint64 start, sc_dt::uint64 end);
};

}  // namespace lbfp::arch
