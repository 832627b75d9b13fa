namespace LlmCpu.Kernels.Threading;

/// <summary>
/// A unit of parallel work: the pool calls <see cref="Execute"/> once per worker with a
/// contiguous half-open range of work items. Implementations are reused objects, so a dispatch allocates nothing.
/// </summary>
public interface IRangeJob
{
    void Execute(int begin, int end);
}
