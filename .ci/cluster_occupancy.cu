// How many thread-block clusters of 1, 2, 4, 8 and 16 CTAs an sm_90 GPU holds at once when each
// CTA takes a whole SM (the v2 part1 kernel's shape: 384 threads, ~221 KB of shared memory).
// A count for the design of merging split partials inside a cluster (lib/kernels/NOTES.md,
// "Nineteenth session", Next): a plan of C clusters of size k is one wave only if C does not
// exceed the count printed for k. No library code; the kernel below does nothing.
//
//   nvcc -arch=sm_90a -o /tmp/cluster_occupancy .ci/cluster_occupancy.cu && /tmp/cluster_occupancy
#include <cuda_runtime.h>

#include <cstdio>

__global__ void __launch_bounds__(384, 1) whole_sm_kernel(int* sink) {
  extern __shared__ int smem[];
  if (sink != nullptr && threadIdx.x == 0) sink[blockIdx.x] = smem[0];
}

int main() {
  int dev = 0, sms = 0;
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, dev) != cudaSuccess) {
    std::printf("no CUDA device\n");
    return 1;
  }
  sms = prop.multiProcessorCount;
  const size_t smem = 221 * 1024;
  cudaFuncSetAttribute(whole_sm_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
  cudaFuncSetAttribute(whole_sm_kernel, cudaFuncAttributeNonPortableClusterSizeAllowed, 1);
  std::printf("%s: %d SMs; CTA = 384 threads, %zu bytes of dynamic shared memory\n", prop.name, sms, smem);
  for (int k : {1, 2, 4, 8, 16}) {
    cudaLaunchConfig_t cfg{};
    cfg.gridDim = dim3(static_cast<unsigned>(k * 64));
    cfg.blockDim = dim3(384);
    cfg.dynamicSmemBytes = smem;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeClusterDimension;
    attr[0].val.clusterDim.x = static_cast<unsigned>(k);
    attr[0].val.clusterDim.y = 1;
    attr[0].val.clusterDim.z = 1;
    cfg.attrs = attr;
    cfg.numAttrs = 1;
    int clusters = -1;
    const cudaError_t e = cudaOccupancyMaxActiveClusters(&clusters, whole_sm_kernel, &cfg);
    if (e != cudaSuccess) {
      std::printf("cluster size %2d: %s\n", k, cudaGetErrorString(e));
      cudaGetLastError();
      continue;
    }
    std::printf("cluster size %2d: %3d clusters at once = %3d CTAs (of %d SMs)\n", k, clusters,
                clusters * k, sms);
  }
  return 0;
}
