// The agent runs as real processes over real folders and CPU-bound inference: one test at a time keeps timings sane.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
