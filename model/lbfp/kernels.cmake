# Fast bit-exact GEMM and convolution (issue 3), on top of the golden arithmetic. Included from
# model/lbfp/CMakeLists.txt. The vector kernels select their instruction sets with function
# target attributes and a run-time CPU check, so the library runs on any x86-64.
add_library(lbfp_kernels
  ${CMAKE_CURRENT_LIST_DIR}/src/gemm.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/gemm_kernels.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/conv.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/float_encoder.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/scaled_gemm.cpp
)
add_library(lbfp::kernels ALIAS lbfp_kernels)
target_include_directories(lbfp_kernels PUBLIC ${CMAKE_CURRENT_LIST_DIR}/include)
target_link_libraries(lbfp_kernels PUBLIC lbfp_golden Threads::Threads PRIVATE lbfp_warnings)
