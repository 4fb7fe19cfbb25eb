// The last-block pattern of kasmina's one-launch split reductions and of the optimizer's counter
// update (namespace kasmina::kernels): every block writes its partial results (or reads what the
// last block will change), then takes a ticket; the block that takes the last one reads every
// block's partials and finishes the reduction (or makes the change).
//
// last_block(ticket, arrivals) is called by every thread of the block after the block's writes
// and returns, in every thread, whether this block took the last of `arrivals` tickets. One
// thread per block synchronises with the other blocks (the pattern of cooperative groups' grid
// sync): the barrier orders the block's writes before thread 0's ticket, an atom.acq_rel at GPU
// scope that releases them and, in the last block, acquires everyone else's; the barrier after
// it orders the last block's reads after the acquire. Replaces a __threadfence() in every thread
// before and after the ticket, which compiles (sm_90) to MEMBAR.SC.GPU + ERRBAR + CCTL.IVALL in
// every warp: 32 sequentially consistent GPU-wide fences and L1 invalidations per 1024-thread
// block. The caller resets the ticket (a plain store by one thread of the last block) once it
// has no more use for it; the kernel's end orders that store before the next launch.
#pragma once

namespace kasmina::kernels {

__device__ __forceinline__ bool last_block(unsigned int* ticket, unsigned int arrivals) {
  __shared__ bool last;
  __syncthreads();
  if (threadIdx.x == 0) {
    unsigned int before = 0;
    asm volatile("atom.acq_rel.gpu.global.add.u32 %0, [%1], 1;"
                 : "=r"(before)
                 : "l"(ticket)
                 : "memory");
    last = before == arrivals - 1;
  }
  __syncthreads();
  return last;
}

}  // namespace kasmina::kernels
