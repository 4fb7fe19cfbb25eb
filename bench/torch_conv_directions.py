# Times each direction of the ResNet's convolutions (configs/fmnist_resnet.yaml, batch 128) in
# PyTorch on the same GPU: cuDNN with benchmark mode (it times its algorithms), channels-last,
# TF32 and bf16, deterministic algorithms or not. Eager: each call carries PyTorch's launch
# overhead (~15 us), so small convolutions read high. Used in bench/RESULTS.md (issue 17).
#   python3 bench/torch_conv_directions.py
import torch
torch.backends.cuda.matmul.allow_tf32 = True
N = 128
shapes = [  # cin, cout, hw, k, stride, pad, count in the ResNet
    (1, 32, 28, 3, 1, 1, 1), (32, 32, 28, 3, 1, 1, 4), (32, 64, 28, 3, 2, 1, 1), (32, 64, 28, 1, 2, 0, 1),
    (64, 64, 14, 3, 1, 1, 3), (64, 128, 14, 3, 2, 1, 1), (64, 128, 14, 1, 2, 0, 1), (128, 128, 7, 3, 1, 1, 3)]
def timeit(fn, reps=50):
    for _ in range(5): fn()
    s = torch.cuda.Event(enable_timing=True); e = torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize(); s.record()
    for _ in range(reps): fn()
    e.record(); torch.cuda.synchronize(); return s.elapsed_time(e) / reps * 1000
for dtype, det in [(torch.float32, True), (torch.float32, False), (torch.bfloat16, True), (torch.bfloat16, False)]:
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.deterministic = det
    torch.backends.cudnn.allow_tf32 = True
    tot = [0, 0, 0]
    for cin, cout, hw, k, st, pad, cnt in shapes:
        x = torch.randn(N, cin, hw, hw, device='cuda', dtype=dtype).to(memory_format=torch.channels_last)
        w = torch.randn(cout, cin, k, k, device='cuda', dtype=dtype).to(memory_format=torch.channels_last)
        y = torch.nn.functional.conv2d(x, w, None, st, pad)
        dy = torch.randn_like(y)
        f = lambda: torch.nn.functional.conv2d(x, w, None, st, pad)
        bw = lambda m: torch.ops.aten.convolution_backward(dy, x, w, None, [st, st], [pad, pad], [1, 1], False, [0, 0], 1, m)
        tf = timeit(f); td = timeit(lambda: bw([True, False, False])); tw = timeit(lambda: bw([False, True, False]))
        tot[0] += tf * cnt; tot[1] += td * cnt; tot[2] += tw * cnt
        print(f"{str(dtype):15s} det={det} cin={cin:3d} cout={cout:3d} hw={hw} k={k} s={st}: fwd {tf:6.1f} dgrad {td:6.1f} wgrad {tw:6.1f} us (x{cnt})")
    print(f"TOTAL {dtype} det={det}: fwd {tot[0]:.0f} dgrad {tot[1]:.0f} wgrad {tot[2]:.0f} us per step")
