import COpenBLAS

extension ThreadPool {
    /// OpenBLAS runs single-threaded once any pool exists: the host pool (and plugins, through `parallel_for`)
    /// parallelise matrix products themselves, so two sets of threads never compete for the cores (OpenBLAS's
    /// spinning workers cost more than half the CPU time of a training step when they did). Evaluated once.
    static let openBLASSingleThreaded: Void = { openblas_set_num_threads(1) }()
}
