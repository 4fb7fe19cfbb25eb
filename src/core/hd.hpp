// KASMINA_HD marks functions usable from both host code and CUDA kernels (CPU twins share them).
#pragma once
#if defined(__CUDACC__)
#define KASMINA_HD __host__ __device__ __forceinline__
#else
#define KASMINA_HD inline
#endif
