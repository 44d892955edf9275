"""kzvote: election forensics for polling-station results."""

__version__ = "0.1.0"

#: Version of the JSON report layout; bumped on any renamed or removed key.
SCHEMA_VERSION = "1.2"  # 1.1: stations, stations_summary; 1.2: the regional fingerprint

#: The environment variables that set the BLAS thread count; kzvote sets each to 1
#: unless the user did (see kzvote.cli.main): its matrices are small, and OpenBLAS's
#: extra threads only spun, doubling a fit's CPU time and making ``calibrate --jobs 2``
#: 2.6x slower (sample national file, 20 twins: 134 s with them, 51 s without).
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

#: Set to 1 in ``kzvote calibrate``'s worker processes and in the test suite, where
#: the processes already fill the cores: the BLAS variables, and numba's thread count
#: for the compiled Klimek kernel (which the CLI otherwise runs on every core).
WORKER_THREAD_VARIABLES = BLAS_THREAD_VARIABLES + ("NUMBA_NUM_THREADS",)
