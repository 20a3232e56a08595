namespace EdgeMed.Tests;

/// <summary>The exact-zero allocation checks run with no other test of their assembly beside them (see ThreadAllocations).</summary>
[CollectionDefinition(ThreadAllocations.Collection, DisableParallelization = true)]
public sealed class AllocationChecks;

/// <summary>
/// Bytes an action allocates on the calling thread, counted inside a no-GC region. GC.GetAllocatedBytesForCurrentThread
/// is exact only while no collection runs: one set off by another thread re-accounts this thread's allocation context,
/// and a window that allocated nothing can read a few KB (1,672 bytes in CI twice, 2026-12-03, the second time with
/// tiered compilation off; reproduced with a second thread allocating: 1 of 300 empty windows read 7,904 bytes, none
/// inside a no-GC region). Linked into each test project that checks allocations.
/// </summary>
internal static class ThreadAllocations
{
    public const string Collection = "allocation checks";

    // Room for what the test runner's own threads allocate meanwhile; tests in this collection run alone.
    private const long Budget = 64L << 20;

    public static long Of(Action action)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        if (!GC.TryStartNoGCRegion(Budget))
        {
            throw new InvalidOperationException("The runtime refused a no-GC region; allocations cannot be counted exactly.");
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        try
        {
            action();
            return GC.GetAllocatedBytesForCurrentThread() - before;
        }
        finally
        {
            // Throws when a collection ran after all (more than Budget allocated meanwhile): the count is then not exact,
            // and the test fails saying so rather than on a number.
            GC.EndNoGCRegion();
        }
    }
}
