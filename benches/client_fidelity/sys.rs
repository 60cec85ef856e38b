//! The few system calls both sides need: the shared clock, CPU time and pinning.

use std::time::Duration;

/// CLOCK_MONOTONIC in nanoseconds: the clock of `std::time::Instant` on Linux (and of Python's
/// `time.monotonic_ns`), shared by every process of the machine.
pub fn mono_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec to write to; CLOCK_MONOTONIC is always supported.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// CPU time of this whole process (all threads).
pub fn process_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: as above; CLOCK_PROCESS_CPUTIME_ID is always supported on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The CPUs of a list such as `0-7,12`.
pub fn cpu_list(list: &str) -> Vec<usize> {
    let number = |x: &str| x.trim().parse::<usize>().expect("--*-cpus: a CPU list such as 0-7,12");
    list.split(',')
        .flat_map(|part| {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            number(a)..=number(b)
        })
        .collect()
}

/// Restricts this process (and the threads and processes it creates from now on) to `cpus`.
pub fn pin(cpus: &[usize]) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes within it for indices
    // below CPU_SETSIZE, which is checked; sched_setaffinity reads the set it is given.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &cpu in cpus {
            assert!(cpu < libc::CPU_SETSIZE as usize, "CPU {cpu} out of range");
            libc::CPU_SET(cpu, &mut set);
        }
        assert_eq!(
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set),
            0,
            "sched_setaffinity({cpus:?})"
        );
    }
}
