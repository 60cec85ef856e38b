//! The machine a run happened on. Anything the OS will not tell is absent.

use serde::{Deserialize, Serialize};
use sysinfo::System;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub os: Option<String>,
    pub os_version: Option<String>,
    pub kernel: Option<String>,
    pub arch: String,
    pub cpu_model: Option<String>,
    pub physical_cores: Option<usize>,
    pub logical_cores: usize,
    pub memory_bytes: Option<u64>,
}

pub fn machine() -> Machine {
    let sys = System::new().ok().map(|mut sys| {
        sys.refresh_cpu_all();
        sys.refresh_memory();
        sys
    });
    Machine {
        os: System::name().ok(),
        os_version: System::long_os_version().ok(),
        kernel: System::kernel_version().ok(),
        arch: std::env::consts::ARCH.into(),
        cpu_model: sys.as_ref().and_then(|s| s.cpus().first()).map(|c| c.brand().trim().to_owned()).filter(|b| !b.is_empty()),
        physical_cores: System::physical_core_count().ok(),
        logical_cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        memory_bytes: sys.as_ref().map(|s| s.total_memory()),
    }
}
