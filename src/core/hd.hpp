// KASMINA_HD marks functions usable from both host code and CUDA kernels (CPU twins share them);
// KASMINA_UNROLL is `#pragma unroll` for nvcc and nothing for the host compilers (which warn on
// the unknown pragma).
#pragma once
#if defined(__CUDACC__)
#define KASMINA_HD __host__ __device__ __forceinline__
#define KASMINA_UNROLL _Pragma("unroll")
#else
#define KASMINA_HD inline
#define KASMINA_UNROLL
#endif
