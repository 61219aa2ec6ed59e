//! Matrix products on one thread for a span of code, whatever `--threads` says.
//!
//! MKL, which libtorch's CPU matrix products call, splits a product over its threads as it sees
//! fit, and a split that cuts the sum of a dot product changes its rounding: the same run at 1
//! and 2 threads could then differ, and so could two runs at 2 threads on a busy machine. Tasks
//! whose products are too small to gain from threads (classic control: about 20 products of 32
//! to 128 rows per update, where each parallel region costs more than the work) keep MKL on the
//! calling thread alone while they compute, through MKL's thread-local setting; libtorch's own
//! elementwise kernels, whose results no split changes, keep their threads.

/// While alive, MKL runs on one thread on this thread (a no-op where libtorch has no MKL).
pub struct OneBlasThread {
    restore: Option<(SetLocalThreads, i32)>,
}

/// `MKL_Set_Num_Threads_Local`: sets this thread's MKL thread count (0: back to the global
/// one) and returns the previous one.
type SetLocalThreads = unsafe extern "C" fn(i32) -> i32;

impl OneBlasThread {
    pub fn new() -> Self {
        let restore = set_local_threads().map(|set| {
            // SAFETY: MKL's documented C entry point, called with a thread count.
            (set, unsafe { set(1) })
        });
        OneBlasThread { restore }
    }
}

impl Default for OneBlasThread {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for OneBlasThread {
    fn drop(&mut self) {
        if let Some((set, previous)) = self.restore {
            // SAFETY: as in `new`.
            unsafe { set(previous) };
        }
    }
}

/// MKL's thread-local setter, looked up once among the loaded libraries (libtorch's CPU
/// library exports it when it is built with MKL). The C name: the lower-case one is the
/// Fortran binding, which takes a pointer.
fn set_local_threads() -> Option<SetLocalThreads> {
    static SETTER: std::sync::OnceLock<Option<SetLocalThreads>> = std::sync::OnceLock::new();
    *SETTER.get_or_init(|| {
        #[cfg(unix)]
        {
            // SAFETY: dlsym with a NUL-terminated name; a non-null result is the function of
            // that name, whose C signature is `int MKL_Set_Num_Threads_Local(int)`.
            let symbol = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"MKL_Set_Num_Threads_Local".as_ptr()) };
            (!symbol.is_null()).then(|| unsafe { std::mem::transmute::<*mut libc::c_void, SetLocalThreads>(symbol) })
        }
        #[cfg(not(unix))]
        {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    fn libtorchs_mkl_is_found_and_the_guard_restores_the_thread_count() {
        // Load libtorch's CPU library (and MKL in it) before looking the setter up.
        let _ = tch::Tensor::ones([2, 2], (tch::Kind::Float, tch::Device::Cpu)).matmul(&tch::Tensor::ones([2, 2], (tch::Kind::Float, tch::Device::Cpu)));
        let set = set_local_threads().expect("libtorch's x86-64 CPU build exports MKL_Set_Num_Threads_Local; without it classic control's products may split over threads");
        // SAFETY (all calls): MKL's C entry point with a thread count.
        let before = unsafe { set(3) };
        {
            let _one = OneBlasThread::new();
            assert_eq!(unsafe { set(1) }, 1, "the guard sets one thread");
        }
        assert_eq!(unsafe { set(before) }, 3, "the guard put back the count it found");
    }
}
