// KASMINA_HD marks functions usable from both host code and CUDA kernels (CPU twins share them);
// KASMINA_UNROLL is `#pragma unroll` in nvcc's device passes and nothing in host passes (the host
// compiler, nvcc's host pass of a .cu file included, ignores the pragma with a warning).
#pragma once
#if defined(__CUDACC__)
#define KASMINA_HD __host__ __device__ __forceinline__
#else
#define KASMINA_HD inline
#endif
#if defined(__CUDA_ARCH__)
#define KASMINA_UNROLL _Pragma("unroll")
#else
#define KASMINA_UNROLL
#endif
